"""The state tree's batched update: the native walk (jovay/_native/_smt.pyx) against the Python walk.

Builds a tree of `--leaves` accounts (keys from jovay.state.keys.account_key, values packed nonce and
balance) in a MemoryNodeStore, then times `update_many` of `--writes` writes to random existing
accounts (a sealed block's account updates), each run on a fresh copy of the same store, the two
paths in turn. The figures are medians over runs: wall time and CPU time of the process (all threads:
the batch hashing runs on several). JOVAY_HASH_THREADS=1 hashes on one thread (steadier on a shared
machine). Writes benchmarks/results/smt_update.json.

    .venv/bin/python benchmarks/smt_update.py [--leaves 100000] [--writes 20000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jovay._native import smt_impl  # noqa: E402
from jovay.state.keys import account_key, pack_account  # noqa: E402
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def base_tree(leaves: int, seed: int) -> tuple[MemoryNodeStore, int, list[int]]:
    rng = random.Random(seed)
    keys = [account_key(rng.randbytes(20)) for _ in range(leaves)]
    store = MemoryNodeStore()
    root = SparseMerkleTree(store).update_many({key: pack_account(0, 10**18) for key in keys})
    return store, root, keys


def block_writes(keys: list[int], writes: int, seed: int) -> dict[int, int]:
    rng = random.Random(seed)
    return {
        key: pack_account(rng.randrange(1, 100), rng.randrange(10**18)) for key in rng.sample(keys, writes)
    }


def time_update(
    store: MemoryNodeStore, root: int, writes: dict[int, int], native: bool
) -> tuple[float, float, int]:
    """(wall s, CPU s, new root) of one update on a copy of store."""
    copy = MemoryNodeStore()
    copy.nodes = dict(store.nodes)
    tree = SparseMerkleTree(copy, root)
    update = tree.update_many if native else tree.pure_update_many
    wall, cpu = time.perf_counter(), time.process_time()
    new_root = update(writes)
    return time.perf_counter() - wall, time.process_time() - cpu, new_root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leaves", type=int, default=100_000)
    parser.add_argument("--writes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    store, root, keys = base_tree(args.leaves, seed=2611)
    writes = block_writes(keys, args.writes, seed=3)
    paths = ["pure", "native"] if smt_impl() is not None else ["pure"]
    if len(paths) == 1:
        print("jovay._native._smt not built (or JOVAY_PURE=1): pure figures only")
    results: dict[str, dict[str, float]] = {}
    runs: dict[str, list[tuple[float, float, int]]] = {path: [] for path in paths}
    for _ in range(args.repeats):  # interleaved, so that a shared machine's load drifts over both alike
        for path in paths:
            runs[path].append(time_update(store, root, writes, path == "native"))
    roots = {new_root for path in paths for _, _, new_root in runs[path]}
    for path in paths:
        wall = statistics.median(run[0] for run in runs[path])
        cpu = statistics.median(run[1] for run in runs[path])
        per_write = cpu / args.writes * 1e6
        results[path] = {"wall_ms": wall * 1e3, "cpu_ms": cpu * 1e3, "cpu_us_per_write": per_write}
        print(f"{path:6s} wall {wall * 1e3:8.1f} ms  cpu {cpu * 1e3:8.1f} ms  ({per_write:6.1f} µs/write)")
    if len(roots) != 1:
        raise SystemExit(f"the paths disagree on the new root: {roots}")
    if "native" in results:
        speedup = results["pure"]["wall_ms"] / results["native"]["wall_ms"]
        cpu_speedup = results["pure"]["cpu_ms"] / results["native"]["cpu_ms"]
        print(f"native: {speedup:.2f}x (wall), {cpu_speedup:.2f}x (CPU); {len(store)} nodes in the base tree")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "smt_update.json").write_text(
        json.dumps(
            {
                "leaves": args.leaves,
                "writes": args.writes,
                "repeats": args.repeats,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "results": results,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
