"""How the seal's state part (tree update + LMDB write) scales with the state's size, without signing.

A chain is filled with `--accounts` synthetic accounts, each with `--leaves-per-account` state leaves
(3: an account, a token balance, an allowlist entry, as after benchmarks/sequencer_tps.py's setup),
written in bulk blocks. Then `--blocks` blocks of `--txs` synthetic transfers are sealed through
`Chain.seal` (no transactions: only their state writes, so the tree update and the store's write are
the real ones): an ETH transfer writes the sender's and the receiver's account leaves, a token
transfer the sender's account leaf and both token balances; each block also writes one fee leaf.
Per block it records the thread CPU of the tree update and of the write, the thread's page faults,
the node cache's misses, the LMDB records written, and the process's resident file pages before the
store's trim. Prints medians per tx and the LMDB tables' depth and size.

    .venv/bin/python benchmarks/seal_scale.py [--accounts 100000] [--kind token] [--txs 2000] [--blocks 20]
"""

from __future__ import annotations

import argparse
import contextlib
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jovay.state.overlay import StateOverlay  # noqa: E402
from jovay.state.smt import SparseMerkleTree  # noqa: E402
from jovay.stf.block import BlockExecution, child_env  # noqa: E402
from jovay.stf.genesis import Genesis  # noqa: E402
from jovay.storage import store as store_module  # noqa: E402
from jovay.storage.chain import NODE_CACHE_SIZE, Chain, LmdbNodeStore  # noqa: E402

KEY_BITS = 250  # below the field modulus: any such int is a valid key and value
FILL_BATCH = 50_000


def thread_faults() -> tuple[int, int]:
    usage = resource.getrusage(resource.RUSAGE_THREAD)
    return usage.ru_minflt, usage.ru_majflt


def resident_file_pages() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[2])


def seal_writes(chain: Chain, writes: dict[int, int]) -> None:
    execution = BlockExecution(
        StateOverlay(lambda key: 0), child_env(chain.head, chain.head.timestamp + 1, 1)
    )
    for key, value in writes.items():
        execution.state.set(key, value)
    chain.seal(execution)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--leaves-per-account", type=int, default=3)
    parser.add_argument("--kind", choices=["eth", "token"], default="token")
    parser.add_argument("--txs", type=int, default=2000, help="transfers per block")
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5, help="blocks sealed before the measured ones")
    parser.add_argument("--cache-size", type=int, default=NODE_CACHE_SIZE)
    parser.add_argument(
        "--perf-ctl", help="a `perf stat --control fifo:CTL` fifo: counted over the measured blocks only"
    )
    parser.add_argument("--one-txn-per-read", action="store_true", help="no read transaction per tree update")
    parser.add_argument(
        "--resident-limit", type=int, help="MappedFile.RESIDENT_LIMIT, pages (default: the store's)"
    )
    args = parser.parse_args()
    if args.resident_limit is not None:
        store_module.MappedFile.RESIDENT_LIMIT = args.resident_limit
    if args.one_txn_per_read:
        LmdbNodeStore.reading = lambda self: contextlib.nullcontext()  # type: ignore[method-assign]
    rng = random.Random(1)
    tables = [
        [rng.getrandbits(KEY_BITS) for _ in range(args.accounts)] for _ in range(args.leaves_per_account)
    ]
    accounts, balances = tables[0], tables[1 % len(tables)]
    fee_leaf = rng.getrandbits(KEY_BITS)
    with tempfile.TemporaryDirectory() as tmp:
        genesis = Genesis(identity_admin=bytes(20), timestamp=int(time.time()) - 10**6, alloc={})
        chain = Chain(Path(tmp), genesis, node_cache_size=args.cache_size)
        started = time.perf_counter()
        for table in tables:
            for start in range(0, len(table), FILL_BATCH):
                seal_writes(
                    chain, {key: rng.getrandbits(KEY_BITS) for key in table[start : start + FILL_BATCH]}
                )
        print(f"measuring from {time.time():.0f}", flush=True)
        print(
            f"filled {args.accounts} x {len(tables)} leaves in {time.perf_counter() - started:.0f} s",
            flush=True,
        )

        store = chain.store
        ops: dict[str, int] = defaultdict(int)
        releases = [0]
        original_release = store._mapped.release

        def counted_release() -> None:
            releases[0] += 1
            original_release()

        store._mapped.release = counted_release  # type: ignore[method-assign]
        update = SparseMerkleTree.update_many
        clock = {"tree": 0.0}

        def timed_update(tree: SparseMerkleTree, writes: dict[int, int]) -> None:
            t0 = time.thread_time()
            update(tree, writes)
            clock["tree"] += time.thread_time() - t0

        SparseMerkleTree.update_many = timed_update  # type: ignore[method-assign]
        store_block = chain._store_block

        def timed_store(header, executed, receipts, writes):  # type: ignore[no-untyped-def]
            nodes, stale = len(chain.nodes.pending), len(chain.nodes.stale)
            ops["node puts"] += nodes
            ops["stale (pops)"] += stale
            ops["leaf puts"] += len(writes)
            t0 = time.thread_time()
            store_block(header, executed, receipts, writes)
            clock["write"] = clock.get("write", 0.0) + time.thread_time() - t0

        chain._store_block = timed_store  # type: ignore[method-assign]
        trim = store._mapped.trim

        def sampled_trim() -> None:
            resident = resident_file_pages() - store._mapped._baseline
            ops["most resident pages at a trim"] = max(ops["most resident pages at a trim"], resident)
            ops["trims"] += 1
            trim()

        store._mapped.trim = sampled_trim  # type: ignore[method-assign]

        rows: dict[str, list[float]] = defaultdict(list)
        perf_ctl = open(args.perf_ctl, "w") if args.perf_ctl else None  # noqa: SIM115
        sender = 0
        for block in range(args.warmup + args.blocks):
            writes = {fee_leaf: rng.getrandbits(KEY_BITS)}
            for _ in range(args.txs):
                a, b = sender % args.accounts, (sender + 1 + rng.randrange(args.accounts - 1)) % args.accounts
                sender += 1
                writes[accounts[a]] = rng.getrandbits(KEY_BITS)
                if args.kind == "eth":
                    writes[accounts[b]] = rng.getrandbits(KEY_BITS)
                else:
                    writes[balances[a]] = rng.getrandbits(KEY_BITS)
                    writes[balances[b]] = rng.getrandbits(KEY_BITS)
            if perf_ctl is not None and block == args.warmup:
                perf_ctl.write("enable\n")
                perf_ctl.flush()
            clock.clear()
            clock["tree"] = 0.0
            ops.clear()
            releases[0] = 0
            reads = chain.nodes.lmdb_reads
            minflt, majflt = thread_faults()
            cpu0 = time.process_time()
            seal_writes(chain, writes)
            cpu = time.process_time() - cpu0
            minflt, majflt = thread_faults()[0] - minflt, thread_faults()[1] - majflt
            if block < args.warmup:
                continue
            n = args.txs
            rows["tree update us/tx (thread)"].append(clock["tree"] / n * 1e6)
            rows["block write us/tx (thread)"].append(clock["write"] / n * 1e6)
            rows["seal us/tx (process)"].append(cpu / n * 1e6)
            rows["minor faults/tx"].append(minflt / n)
            rows["major faults/tx"].append(majflt / n)
            rows["node cache misses/tx"].append((chain.nodes.lmdb_reads - reads) / n)
            rows["node puts/tx"].append(ops["node puts"] / n)
            rows["stale pops/tx"].append(ops["stale (pops)"] / n)
            rows["leaf puts/tx"].append(ops["leaf puts"] / n)
            rows["most resident file pages at a trim"].append(ops["most resident pages at a trim"])
            rows["trims per block"].append(ops["trims"])
            rows["releases per block"].append(releases[0])
        if perf_ctl is not None:
            perf_ctl.write("disable\n")
            perf_ctl.close()
        print(
            f"{args.kind}, {args.accounts} accounts x {len(tables)} leaves, {args.txs} txs/block, "
            f"{args.blocks} blocks, node cache {args.cache_size}, trim bound "
            f"{store_module.MappedFile.RESIDENT_LIMIT} pages; medians:"
        )
        for name, values in rows.items():
            print(
                f"  {name:32s} {statistics.median(values):10.1f}"
                f"   (min {min(values):.1f}, max {max(values):.1f})"
            )
        with store.env.begin() as txn:
            for name in ("nodes", "history", "leaves"):
                stat = txn.stat(getattr(store, f"_{name}"))
                print(
                    f"  table {name}: depth {stat['depth']}, {stat['entries']} entries, "
                    f"{stat['branch_pages']} branch + {stat['leaf_pages']} leaf pages"
                )
        info = store.env.info()
        print(f"  map: last page {info['last_pgno']} ({info['last_pgno'] * 4096 >> 20} MiB)")
        chain.close()


if __name__ == "__main__":
    main()
