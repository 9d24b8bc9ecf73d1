"""The block write path alone: what `Chain.seal` spends after the state root is known.

A chain with `--accounts` funded accounts executes `--blocks` blocks of `--txs` signed ETH transfers
(pre-signed, outside the timing); for each block it times, separately, the tree update with the
header (`seal_block`: state root, receipts root) and the write (`Chain._store_block`: node records,
receipts encoding, the one LMDB write transaction), in wall and CPU time, and reports the node
cache's misses (nodes read from LMDB; the tree finds the others in the cache without a `get` call).
`--profile` runs the write under cProfile and prints its top entries.
`JOVAY_PURE=1` measures the pure-Python path.

    .venv/bin/python benchmarks/seal_write.py [--accounts 100000] [--txs 19000] [--blocks 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sequencer_tps as bench  # noqa: E402

from jovay._native import use_native  # noqa: E402
from jovay.codec.transactions import SignedTx, decode_transaction  # noqa: E402
from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.stf.block import BlockExecution, seal_block  # noqa: E402
from jovay.stf.genesis import Genesis  # noqa: E402
from jovay.storage.chain import NODE_CACHE_SIZE, Chain  # noqa: E402


def signed_block(keys: list[bytes], addresses: list[bytes], first: int, count: int) -> list[SignedTx]:
    """`count` transfers of 1 wei, each from a different account (nonce 0) to the next account."""
    out = []
    for i in range(first, first + count):
        raw = bench.sign(keys[i], 0, addresses[(i + 1) % len(keys)], value=1)
        out.append(cast(SignedTx, decode_transaction(raw, expected_chain_id=bench.CHAIN_ID)))
    return out


def execute(chain: Chain, txs: list[SignedTx]) -> BlockExecution:
    execution = chain.new_execution(chain.head.timestamp + 1)
    for signed in txs:
        execution.add_transaction(signed)
    return execution


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--txs", type=int, default=19_000)  # 400M gas: 19,047 transfers
    parser.add_argument("--blocks", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cache-size", type=int, default=NODE_CACHE_SIZE, help="decoded tree nodes cached")
    args = parser.parse_args()
    if args.txs * args.blocks > args.accounts:
        parser.error("each transfer needs its own sender: --txs x --blocks must be at most --accounts")
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    addresses = [address_of(k) for k in keys]
    print(f"{'native' if use_native() else 'pure Python'} path, {args.accounts} accounts", flush=True)
    profile = cProfile.Profile() if args.profile else None
    with tempfile.TemporaryDirectory() as tmp:
        genesis = Genesis(
            identity_admin=addresses[0],
            timestamp=int(time.time()) - 1,
            alloc=dict.fromkeys(addresses, 10**21),
        )
        chain = Chain(Path(tmp), genesis, node_cache_size=args.cache_size)
        inner, leaf = chain.store.count_nodes()
        print(f"genesis: {inner} inner and {leaf} leaf nodes; node cache of {args.cache_size}", flush=True)
        totals = [0.0, 0.0, 0.0]
        for block in range(args.blocks):
            txs = signed_block(keys, addresses, block * args.txs, args.txs)
            execution = execute(chain, txs)
            reads_before = chain.nodes.lmdb_reads
            root_start = time.perf_counter()
            header, receipts = seal_block(chain.head_hash, execution, chain.tree)
            root_s = time.perf_counter() - root_start
            reads = chain.nodes.lmdb_reads - reads_before
            wall, cpu = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            chain._store_block(header, execution.executed, receipts, execution.state.writes())
            if profile is not None:
                profile.disable()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            totals[0] += root_s
            totals[1] += wall
            totals[2] += cpu
            print(
                f"block {header.number}: {len(txs)} txs; tree+header {root_s:.2f} s "
                f"({reads} node cache misses read from LMDB); write {wall * 1e3:.0f} ms wall, "
                f"{cpu / len(txs) * 1e6:.1f} us CPU/tx",
                flush=True,
            )
        chain.close()
    n = args.txs * args.blocks
    print(
        f"total: tree+header {totals[0] / n * 1e6:.1f} us/tx; write {totals[1] / n * 1e6:.1f} us/tx wall, "
        f"{totals[2] / n * 1e6:.1f} us/tx CPU"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
