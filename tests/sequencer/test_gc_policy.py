"""The node's GC policy: full collections spaced out, cyclic garbage still freed (that every role applies
it at start-up, right after the memory policy: tests/test_memory.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from jovay.sequencer.gc_policy import GC_THRESHOLDS, apply_gc_policy


@pytest.fixture
def restore_gc() -> Iterator[None]:
    """The policy changes process-wide settings: put back what the test process had."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_policy_freezes_startup_objects_and_spaces_out_full_collections(restore_gc: None) -> None:
    apply_gc_policy()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] > 10  # CPython's default full-collection threshold is 10
    assert gc.get_freeze_count() > 1_000  # the imported modules' objects at least
    assert gc.isenabled()


def test_cyclic_garbage_is_still_collected_without_explicit_collect(restore_gc: None) -> None:
    apply_gc_policy()
    made = 50_000
    alive = []
    for _ in range(made):
        alive.append(weakref.ref(Cycle()))  # each object is garbage at once, held only by its own cycle
    survivors = sum(1 for ref in alive if ref() is not None)
    # the young collections (every 700 allocations) free the cycles: only the last few wait
    assert survivors < made // 10, f"{survivors} of {made} garbage cycles still alive"
