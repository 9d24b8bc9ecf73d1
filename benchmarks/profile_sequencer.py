"""Profile of the in-process sequencer: where admitting and sealing signed transfers spends its time.

Same workload as benchmarks/sequencer_tps.py (one pre-signed transfer per funded account), under
cProfile: all admitted, then sealed back to back in blocks of the node's default size (20,000);
prints the top entries by own time, then the phases (cumulative time of the function that does each:
admission, fill, receipts, tree update, roots, block write) per transaction, for comparing the ETH and
token workloads. `JOVAY_PURE=1` profiles the pure-Python path.

    .venv/bin/python benchmarks/profile_sequencer.py [--accounts 100000] [--kind eth|token] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sequencer_tps as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--kind", choices=("eth", "token"), default="eth")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument(
        "--timer",
        choices=("wall", "thread"),
        default="wall",
        help="thread: this thread's CPU time (shared machine)",
    )
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    with tempfile.TemporaryDirectory() as tmp:
        seq = bench.new_sequencer(Path(tmp), keys)
        if args.kind == "token":
            bench.setup_token(seq, keys)
        raws = bench.workload(seq, keys, args.kind)
        profile = cProfile.Profile(time.thread_time) if args.timer == "thread" else cProfile.Profile()
        profile.enable()
        for raw in raws:
            seq.submit(raw)
        bench.drain(seq)
        profile.disable()
        seq.chain.close()
    stats = pstats.Stats(profile)
    stats.sort_stats(args.sort).print_stats(args.top)
    print_phases(stats, len(raws))


# Phase -> (Python functions whose cumulative time it is, functions inside them counted elsewhere). Compiled
# functions are invisible to cProfile, so each phase is named by the Python function around it.
PHASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "decode + sender recovery (_decoded)": (("_decoded",), ()),
    "admission checks (_admit - mempool add)": (("_admit",), ("add",)),
    "mempool add": (("add",), ()),
    "fill/execution (_fill)": (("_fill",), ()),
    "tree update (update_many)": (("update_many",), ()),
    "receipts, bloom, tx/receipt roots (seal_block - tree)": (("seal_block",), ("update_many",)),
    "block write (_store_block)": (("_store_block",), ()),
    "mempool snapshot + remove": (("snapshot_by_sender", "remove"), ()),
}


def _cumulative(table: dict, names: tuple[str, ...], path_part: str = "") -> float:
    """Cumulative seconds of the Python functions called `names` (outermost calls only)."""
    total = 0.0
    for (path, _, name), (_, _, _, cumulative, callers) in table.items():
        if name in names and path_part in path and not any(c[2] in names for c in callers):
            total += cumulative
    return total


def print_phases(stats: pstats.Stats, txs: int) -> None:
    """Seconds and microseconds per transaction of each phase."""
    table = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, callers)
    print(f"{'phase':56s} {'s':>7s} {'us/tx':>7s}")
    for phase, (names, inner) in PHASES.items():
        where = "mempool" if names == ("add",) or "snapshot_by_sender" in names else ""
        seconds = _cumulative(table, names, where) - (_cumulative(table, inner, "") if inner else 0.0)
        print(f"{phase:56s} {seconds:7.2f} {seconds / txs * 1e6:7.1f}")


if __name__ == "__main__":
    main()
