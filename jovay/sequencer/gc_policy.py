"""The garbage collector's settings for a node process that admits and seals thousands of tx/s.

Why: a full (generation 2) collection walks every tracked object the process holds: the modules'
objects, the decode cache's 2^16 transactions, the pool, the state-key caches. At 100,000 accounts one
took 0.2-0.5 s of CPU with the GIL held, and CPython starts one whenever the objects promoted to the
oldest generation since the last grow by a quarter, which the pool's churn (each admitted transaction
lives a few blocks) did every ~9,000 transactions: ~38 µs of CPU per transaction (11 passes per
100,000; perf shows them as gc_collect_main, visit_decref, visit_reachable). With this policy: 0 passes,
and 380 instead of 444 µs CPU per tx, runs interleaved on one chain (benchmarks/sequencer_tps.py).

So the node (1) freezes what exists once it has started (imported modules, genesis, the open store:
nothing there becomes garbage, and full collections then skip it), and (2) considers a full
collection only after 1,000 young-generation passes instead of 10. Young collections run as before
and still free cyclic garbage that dies young (an exception with its traceback); only a cycle that
outlived two young passes waits longer. Reference counting frees everything else at once, frozen or not.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 700  # CPython's default: larger young generations cost more per object
MIDDLE_THRESHOLD: Final = 10  # CPython's default
OLD_THRESHOLD: Final = 1_000  # CPython's default is 10: a full collection ~100x less often
GC_THRESHOLDS: Final = (YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)


def apply_gc_policy() -> None:
    """Freeze the objects that exist now and space out full collections (call once, at start-up)."""
    gc.collect()  # garbage made while starting is freed, not frozen
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
