"""In-process sequencer throughput as the chain ages: the same ETH workload run several times on one chain.

benchmarks/sequencer_tps.py measures one run per workload. This script runs `--runs` back-to-back runs of
one signed ETH transfer per funded account on the same chain (same measurement as sequencer_tps.measure)
and prints, per run, TPS, CPU µs per transaction, and the sealing thread's CPU seconds and minor page
faults in the tree update (`SparseMerkleTree.update_many`) and the LMDB write (`ChainStore.write_block`),
so a slowdown as the store grows shows where it comes from. The write is split into its parts (block,
transaction index and receipts; leaves; tree nodes; history and pruning; the commit with its fsync, in
wall time too; the release of the mapped pages), and each run ends with the size of each LMDB table
and of the data file in use. Writes benchmarks/results/sequencer_aging.json.

    .venv/bin/python benchmarks/sequencer_aging.py [--accounts 100000] [--runs 4]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sequencer_tps as bench  # noqa: E402

from jovay.state.smt import SparseMerkleTree  # noqa: E402
from jovay.storage.store import ChainStore  # noqa: E402

PHASES: list[tuple[type, str]] = [(SparseMerkleTree, "update_many"), (ChainStore, "write_block")]
# The parts of write_block, in the order it runs them; those missing in this store version are skipped.
WRITE_PARTS = ("_put_block", "_put_leaves", "_put_nodes", "_put_history", "_prune", "_commit", "_release")


def instrument(spent: Counter[str]) -> None:
    """Wrap each phase so that its thread CPU time and minor faults add up in `spent`."""
    phases = PHASES + [(ChainStore, part) for part in WRITE_PARTS if hasattr(ChainStore, part)]
    for cls, name in phases:
        original: Callable[..., Any] = getattr(cls, name)

        def timed(
            *args: Any, _original: Callable[..., Any] = original, _name: str = name, **kwargs: Any
        ) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
            try:
                return _original(*args, **kwargs)
            finally:
                spent[f"{_name}_cpu_s"] += time.thread_time() - cpu
                faults_after = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
                spent[f"{_name}_minor_faults"] += faults_after - faults
                if _name in ("write_block", "_commit"):  # the fsync waits: wall time, not CPU
                    spent[f"{_name}_wall_s"] += time.perf_counter() - wall

        setattr(cls, name, timed)


def figure(name: str, value: float) -> str:
    return f"{name} {value:,.2f}" if name.endswith("_s") else f"{name} {value:,.0f}"


def store_pages(store: ChainStore) -> dict[str, int]:
    """Pages of each LMDB table, and of the data file in use (the rest of it is LMDB's free list)."""
    pages = {name: stat["pages"] for name, stat in store.table_stats().items()}
    pages["file"] = store.env.info()["last_pgno"] + 1
    return pages


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    spent: Counter[str] = Counter()
    instrument(spent)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        seq = bench.new_sequencer(Path(tmp), keys)
        try:
            for number in range(args.runs):
                raws = bench.workload(seq, keys, "eth")
                spent.clear()
                run = bench.measure(seq, raws, "eth", 600.0)
                tables = store_pages(seq.chain.store)
                row = {
                    "run": number,
                    "tps": run.tps,
                    "cpu_us_per_tx": run.cpu_s / run.txs * 1e6,
                    "blocks": run.blocks,
                    **spent,
                    "pages": tables,
                }
                rows.append(row)
                print(
                    f"run {number}: {run.tps:,.0f} tx/s, {row['cpu_us_per_tx']:.0f} µs CPU per tx, "
                    f"{run.blocks} blocks; "
                    + ", ".join(figure(k, v) for k, v in spent.items())
                    + "\n  pages: "
                    + ", ".join(f"{k} {v:,}" for k, v in tables.items()),
                    flush=True,
                )
        finally:
            seq.chain.close()
    bench.RESULTS.mkdir(exist_ok=True)
    out = bench.RESULTS / "sequencer_aging.json"
    out.write_text(json.dumps({"accounts": args.accounts, "runs": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
