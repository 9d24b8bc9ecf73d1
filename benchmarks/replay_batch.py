"""The fault replay's cost per transaction: a tree update per item against one pass per batch.

Builds a state of `--accounts` funded accounts, signs `--txs` ETH transfers (each from its own sender
among them, to a random account), and times three ways to get the root after the batch
(prover/fault/execution.py), each on a fresh copy of the state's node store and with the decode memory
emptied first (the proposer and challenger see the batch's bytes for the first time, from L1):

- `per_item`: `item_roots` (the old output root: a tree update after every item);
- `one_pass`: `post_root` (one overlay, one tree update), decoding item by item;
- `one_pass_predecode`: `post_root` with `ItemRules.predecode` (the native `decode_many`);
- `one_pass_mirror`: the same, reading through a `LeafMirror` of the pre-batch state (what
  prover/fault/replay.py does batch after batch) instead of a tree walk per leaf read; the mirror's
  move to the post root is timed, its copy is not.

And the parts alone: `execute_walk` / `execute_mirror` (the items over one overlay, decoded beforehand,
reads by tree walk or through the mirror) and `update_many` (the one tree update of the batch's writes).
Also measures the mirror's memory per leaf (tracemalloc: dict entry, key and value ints).

Also times decoding alone, one by one against `decode_many`. Figures are medians over `--repeats`
interleaved runs of the process's CPU time (all threads: batch hashing may run on several), per
transaction. All three must give the same root. The process runs under the GC policy of the batcher
process the proposer lives in (jovay/sequencer/gc_policy.py; `--python-gc` keeps CPython's default).
It also prints the tree nodes one batch update writes per transaction: what the update's cost follows
(each costs a Poseidon hash and a stored node), and what differs between tree shapes (a batch of 2,000
transfers over 100,000 accounts writes ~14 per transaction; the sequencer's blocks over 3,000, ~5).
Writes benchmarks/results/replay_batch.json.

    .venv/bin/python benchmarks/replay_batch.py [--txs 2000] [--accounts 100000] [--repeats 3] [--python-gc]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jovay._native import smt_impl, txcodec_impl  # noqa: E402
from jovay.codec import transactions  # noqa: E402
from jovay.codec.batch import ITEM_TRANSACTION, BatchItem  # noqa: E402
from jovay.codec.transactions import DynamicFeeTx, decode_many, decode_transaction, sign_transaction  # noqa: E402
from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.params import BLOCK_GAS_LIMIT, DEFAULT_L2_CHAIN_ID, MIN_BASE_FEE  # noqa: E402
from jovay.sequencer.gc_policy import apply_gc_policy  # noqa: E402
from jovay.state.keys import account_key, pack_account  # noqa: E402
from jovay.state.overlay import StateOverlay  # noqa: E402
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree  # noqa: E402
from prover.fault.execution import ItemRules, LeafMirror, item_roots, post_root  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
RULES = ItemRules(DEFAULT_L2_CHAIN_ID, BLOCK_GAS_LIMIT)
ETH = 10**18


State = tuple[MemoryNodeStore, int, dict[int, int], list[BatchItem]]


def build_state(accounts: int, txs: int, seed: int) -> State:
    """The pre-batch state (node store, root, leaves) and a batch of `txs` signed transfers over it."""
    rng = random.Random(seed)
    keys = [(i + 1).to_bytes(32, "big") for i in range(txs)]
    senders = [address_of(key) for key in keys]
    others = [rng.randbytes(20) for _ in range(max(accounts - txs, 0))]
    everyone = senders + others
    store = MemoryNodeStore()
    leaves = {account_key(a): pack_account(0, 100 * ETH) for a in everyone}
    root = SparseMerkleTree(store).update_many(leaves)
    items = []
    for i, key in enumerate(keys):
        tx = DynamicFeeTx(
            DEFAULT_L2_CHAIN_ID, 0, 1_000, 2 * MIN_BASE_FEE, 21_000, rng.choice(everyone), 1 + i, b""
        )
        items.append(
            BatchItem(
                ITEM_TRANSACTION, 1 + i // 500, 1_000 + i // 500, MIN_BASE_FEE, sign_transaction(tx, key)
            )
        )
    return store, root, leaves, items


Way = Callable[[], Callable[[], int]]
"""Prepares a fresh copy of what a run changes (not timed), and returns the timed run."""


def cold_cpu(way: Way) -> tuple[float, int]:
    """(CPU seconds, result) of `way`'s run with the decode memory emptied before its preparation."""
    transactions._recent.clear()  # what a replay of L1 data meets: bytes it has not decoded
    run = way()
    cpu = time.process_time()
    result = run()
    return time.process_time() - cpu, result


def replay_ways(state: State) -> dict[str, Way]:
    store, root, leaves, items = state

    def fresh() -> MemoryNodeStore:
        copy = MemoryNodeStore()
        copy.nodes = dict(store.nodes)
        return copy

    def per_item() -> Callable[[], int]:
        tree_store = fresh()
        return lambda: item_roots(tree_store, root, items, RULES.apply)[-1]

    def one_pass(predecode: bool, mirrored: bool) -> Way:
        def prepare() -> Callable[[], int]:
            tree_store = fresh()
            mirror = LeafMirror(root, leaves.items()) if mirrored else None
            decode = RULES.predecode if predecode else None
            return lambda: post_root(tree_store, root, items, RULES.apply, decode, mirror)

        return prepare

    def execute_only(mirrored: bool) -> Way:
        """The items executed over one overlay, nothing else: decoded beforehand (not timed), no tree
        update; the reads walk the tree or go through the mirror."""

        def prepare() -> Callable[[], int]:
            RULES.predecode(items)
            read = LeafMirror(root, leaves.items()).leaves.__getitem__ if mirrored else None

            def run() -> int:
                state = StateOverlay(read or SparseMerkleTree(store, root).get)
                for item in items:
                    RULES.apply(state, item)
                return len(state.writes())

            return run

        return prepare

    def update_only() -> Callable[[], int]:
        state = StateOverlay(SparseMerkleTree(store, root).get)
        RULES.predecode(items)
        for item in items:
            RULES.apply(state, item)
        tree = SparseMerkleTree(fresh(), root)
        return lambda: tree.update_many(state.writes())

    return {
        "execute_walk": execute_only(mirrored=False),
        "execute_mirror": execute_only(mirrored=True),
        "update_many": update_only,
        "per_item": per_item,
        "one_pass": one_pass(predecode=False, mirrored=False),
        "one_pass_predecode": one_pass(predecode=True, mirrored=False),
        "one_pass_mirror": one_pass(predecode=True, mirrored=True),
    }


def nodes_per_tx(state: State) -> float:
    """Tree nodes the batch's one update writes, per transaction."""
    store, root, _, items = state
    overlay = StateOverlay(SparseMerkleTree(store, root).get)
    for item in items:
        RULES.apply(overlay, item)
    copy = MemoryNodeStore()
    copy.nodes = dict(store.nodes)
    SparseMerkleTree(copy, root).update_many(overlay.writes())
    return (len(copy) - len(store)) / len(items)


def mirror_bytes_per_leaf(leaves: dict[int, int]) -> float:
    """Memory a LeafMirror holds per leaf: its dict entry and its own key and value ints."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    mirror = LeafMirror(0, ((int(str(k)), int(str(v))) for k, v in leaves.items()))
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / max(len(mirror.leaves), 1)


def decode_ways(items: list[BatchItem]) -> dict[str, Way]:
    payloads = [item.payload for item in items]

    def one_by_one() -> int:
        return len([decode_transaction(raw, expected_chain_id=RULES.chain_id) for raw in payloads])

    return {
        "decode_one_by_one": lambda: one_by_one,
        "decode_many": lambda: lambda: len(decode_many(payloads, RULES.chain_id)),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--txs", type=int, default=2_000)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--python-gc", action="store_true", help="CPython's GC thresholds, not the node's")
    args = parser.parse_args()
    if smt_impl() is None or txcodec_impl() is None:
        print("native tree or codec not built (or JOVAY_PURE=1): pure-path figures")
    started = time.perf_counter()
    state = build_state(args.accounts, args.txs, seed=2611)
    print(
        f"state of {args.accounts} accounts, {args.txs} signed transfers: "
        f"{time.perf_counter() - started:.1f} s to build"
    )
    if not args.python_gc:
        apply_gc_policy()
    ways = replay_ways(state) | decode_ways(state[3])
    runs: dict[str, list[tuple[float, int]]] = {name: [] for name in ways}
    for _ in range(args.repeats):  # interleaved, so that a shared machine's load drifts over all alike
        for name, run in ways.items():
            runs[name].append(cold_cpu(run))
    root_ways = [name for name in replay_ways(state) if not name.startswith("execute_")]
    roots = {result for name in root_ways for _, result in runs[name]}
    if len(roots) != 1:
        raise SystemExit(f"the ways disagree on the post root: {sorted(hex(r) for r in roots)}")
    results = {}
    for name, name_runs in runs.items():
        per_tx = statistics.median(cpu for cpu, _ in name_runs) / args.txs * 1e6
        results[name] = {"cpu_us_per_tx": round(per_tx, 1)}
        print(f"{name:20s} {per_tx:8.1f} µs CPU per transaction")
    speedup = results["per_item"]["cpu_us_per_tx"] / results["one_pass_mirror"]["cpu_us_per_tx"]
    print(
        f"one pass with batch decoding and mirrored reads: {speedup:.1f}x less CPU per transaction "
        "than a tree update per item"
    )
    per_leaf = mirror_bytes_per_leaf(state[2])
    print(f"leaf mirror: {per_leaf:.0f} bytes per leaf")
    written = nodes_per_tx(state)
    print(f"tree nodes written by the batch's update: {written:.1f} per transaction")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "replay_batch.json").write_text(
        json.dumps(
            {
                "txs": args.txs,
                "accounts": args.accounts,
                "repeats": args.repeats,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "results": results,
                "speedup_per_item_over_one_pass": round(speedup, 2),
                "mirror_bytes_per_leaf": round(per_leaf),
                "tree_nodes_per_tx": round(written, 2),
                "gc": "python" if args.python_gc else "node policy",
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
