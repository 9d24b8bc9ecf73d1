"""Peak memory of a node process holding 1,000,000 accounts in state.

Builds the state through the STF: L1 deposits credit `--accounts` distinct addresses, `--per-block`
deposits per sealed block (each block committed with its Poseidon state root and written to LMDB,
as the node does), then the sequencer admits and seals `--transfers` signed ETH transfers between
random funded accounts at its default cadence. Reports the process's peak RSS (ru_maxrss) against the
2 GiB target, the RSS the state added per account, and the LMDB size per account; writes
benchmarks/results/state_memory.{json,png}.

    .venv/bin/python benchmarks/state_memory.py [--accounts 1000000] [--per-block 50000]
"""

from __future__ import annotations

import argparse
import collections
import gc
import itertools
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jovay._native import use_native  # noqa: E402
from jovay.codec.transactions import DepositTx, DynamicFeeTx, sign_transaction  # noqa: E402
from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.params import MIN_BASE_FEE  # noqa: E402
from jovay.sequencer.sequencer import Sequencer  # noqa: E402
from jovay.stf.genesis import Genesis  # noqa: E402
from jovay.storage.chain import Chain  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
GIB = 1 << 30
CHAIN_ID = 202611
L1_SENDER = b"\x11" * 20


def memory() -> dict[str, int]:
    """This process's RSS now, its peak, and the RSS split into private memory and mapped file pages
    (LMDB's map: clean pages the kernel can drop, but counted in RSS)."""
    fields = {"VmRSS": "rss", "VmHWM": "peak", "RssAnon": "anon", "RssFile": "file"}
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in fields:
                out[fields[name]] = int(value.split()[0]) * 1024
    return out


def rss_bytes() -> int:
    return memory()["rss"]


def peak_rss_bytes() -> int:
    return max(memory()["peak"], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)


def account_address(i: int) -> bytes:
    return (0xA0000000 + i).to_bytes(20, "big")


def fill_state(chain: Chain, accounts: int, per_block: int, samples: list[tuple[int, int, int, int]]) -> None:
    """Credit `accounts` addresses by deposits, `per_block` to a block, each block sealed and stored."""
    queue_index = 0
    while queue_index < accounts:
        execution = chain.new_execution(chain.head.timestamp + 1)
        for i in range(queue_index, min(queue_index + per_block, accounts)):
            execution.add_deposit(DepositTx(i, L1_SENDER, account_address(i), 10**18))
        queue_index = min(queue_index + per_block, accounts)
        chain.seal(execution)
        now = memory()
        samples.append((queue_index, now["rss"], peak_rss_bytes(), now["anon"]))
        print(
            f"{queue_index:>9,} accounts: RSS {now['rss'] / 2**20:6.0f} MiB "
            f"(private {now['anon'] / 2**20:6.0f}, "
            f"LMDB pages {now['file'] / 2**20:6.0f}), peak {peak_rss_bytes() / 2**20:6.0f} MiB",
            flush=True,
        )


def run_transfers(chain: Chain, count: int, accounts: int) -> float:
    """Admit and seal `count` signed transfers from fresh keys funded in genesis; returns tx/s."""
    keys = [(i + 1).to_bytes(32, "big") for i in range(count)]
    rng = random.Random(7)
    raws = []
    for key in keys:
        to = account_address(rng.randrange(accounts))
        tx = DynamicFeeTx(CHAIN_ID, 0, 1, 10 * MIN_BASE_FEE, 21_000, to, 1, b"")
        raws.append(sign_transaction(tx, key))
    seq = Sequencer(chain)
    seq.start()
    start = time.perf_counter()
    for i in range(0, len(raws), 250):
        seq.submit_many(raws[i : i + 250])
    while len(seq.mempool):
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    seq.stop()
    return count / elapsed


def _sampled_bytes(cache: dict, sample: int = 2000) -> int:
    """Approximate bytes of a dict of int -> int-or-tuple (the dict's table, keys and values)."""
    items = list(itertools.islice(cache.items(), sample))
    if not items:
        return sys.getsizeof(cache)

    def size(value: object) -> int:
        if isinstance(value, tuple):
            return sys.getsizeof(value) + sum(sys.getsizeof(x) for x in value)
        return sys.getsizeof(value)

    per_item = sum(sys.getsizeof(k) + size(v) for k, v in items) / len(items)
    return int(sys.getsizeof(cache) + per_item * len(cache))


def breakdown(chain: Chain) -> dict[str, object]:
    """Where the bytes go: LMDB pages per table, tree nodes (inner vs leaf), caches, Python objects."""
    tables = chain.store.table_stats()
    inner, leaf = chain.store.count_nodes()
    node_generations = (chain.nodes._young, chain.nodes._old)  # noqa: SLF001 (measuring the cache is the point)
    leaf_cache = chain.store.leaves._values  # noqa: SLF001
    counts = collections.Counter(type(o).__name__ for o in gc.get_objects())
    history = chain.store.stale_sizes()
    out: dict[str, object] = {
        "retention": {
            "blocks": chain.retention.blocks,
            "max_history_nodes": chain.retention.max_history_nodes,
            "head": chain.head.number,
            "oldest_state": chain.store.oldest_state(),
            "history_nodes": sum(history.values()),
        },
        "lmdb_tables": tables,
        "tree_nodes": {"inner": inner, "leaf": leaf, "state_leaves": tables["leaves"]["entries"]},
        "node_cache": {
            "entries": sum(len(generation) for generation in node_generations),
            "approx_bytes": sum(_sampled_bytes(generation) for generation in node_generations),
        },
        "leaf_cache": {"entries": len(leaf_cache), "approx_bytes": _sampled_bytes(leaf_cache)},
        "gc_objects_top": counts.most_common(8),
        "python_allocated_blocks": sys.getallocatedblocks(),
    }
    print(f"where the bytes go: {out['retention']}")
    for name, stat in tables.items():
        print(f"  LMDB {name:<9} {stat['entries']:>10,} entries {stat['bytes'] / 2**20:8.1f} MiB")
    print(f"  tree nodes: {inner:,} inner, {leaf:,} leaf; live state leaves {tables['leaves']['entries']:,}")
    for name in ("node_cache", "leaf_cache"):
        cache = out[name]
        assert isinstance(cache, dict)
        print(f"  {name}: {cache['entries']:,} entries ~{cache['approx_bytes'] / 2**20:.0f} MiB")
    print(f"  gc-tracked objects (top): {counts.most_common(5)}")
    return out


def plot(samples: list[tuple[int, int, int, int]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [s[0] for s in samples]
    ax.plot(xs, [s[1] / GIB for s in samples], marker=".", label="RSS")
    ax.plot(xs, [s[2] / GIB for s in samples], marker=".", label="peak RSS")
    ax.plot(xs, [s[3] / GIB for s in samples], marker=".", label="private memory (RSS less LMDB pages)")
    ax.axhline(2, color="tab:red", linestyle="--", label="target 2 GiB")
    ax.set_xlabel("accounts in state")
    ax.set_ylabel("GiB")
    ax.set_title("Jovay node process memory while the state grows")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--per-block", type=int, default=50_000)
    parser.add_argument("--transfers", type=int, default=20_000)
    args = parser.parse_args()
    baseline = rss_bytes()
    samples: list[tuple[int, int, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp:
        senders = {address_of((i + 1).to_bytes(32, "big")): 10**21 for i in range(args.transfers)}
        genesis = Genesis(
            identity_admin=L1_SENDER, timestamp=int(time.time()) - 3600, chain_id=CHAIN_ID, alloc=senders
        )
        chain = Chain(Path(tmp), genesis)
        started = time.perf_counter()
        fill_state(chain, args.accounts, args.per_block, samples)
        fill_s = time.perf_counter() - started
        tps = run_transfers(chain, args.transfers, args.accounts)
        final = memory()
        after = final["rss"]
        samples.append((args.accounts, after, peak_rss_bytes(), final["anon"]))
        where = breakdown(chain)
        chain.store.env.sync()
        disk = sum(f.stat().st_blocks * 512 for f in (Path(tmp) / "chain").iterdir())  # sparse (writemap)
        chain.close()
    peak = peak_rss_bytes()
    result = {
        "accounts": args.accounts,
        "native": use_native(),
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak,
        "rss_after_bytes": after,
        "private_after_bytes": final["anon"],
        "lmdb_pages_after_bytes": final["file"],
        "peak_within_2_gib": peak <= 2 * GIB,
        "rss_bytes_per_account": (after - baseline) / args.accounts,
        "peak_bytes_per_account": (peak - baseline) / args.accounts,
        "lmdb_bytes": disk,
        "lmdb_bytes_per_account": disk / args.accounts,
        "fill_seconds": fill_s,
        "transfers_tps": tps,
        "breakdown": where,
        "samples": samples,
    }
    print(
        f"{args.accounts:,} accounts: peak RSS {peak / GIB:.2f} GiB (target 2 GiB: "
        f"{'yes' if result['peak_within_2_gib'] else 'NO'}), RSS after {after / GIB:.2f} GiB "
        f"(private {final['anon'] / GIB:.2f}, LMDB pages {final['file'] / GIB:.2f}), "
        f"{result['rss_bytes_per_account']:.0f} B/account in memory "
        f"(peak {result['peak_bytes_per_account']:.0f}), "
        f"LMDB {disk / GIB:.2f} GiB = {result['lmdb_bytes_per_account']:.0f} B/account; "
        f"filled in {fill_s:.0f} s; {args.transfers:,} transfers afterwards at {tps:.0f} tx/s"
    )
    RESULTS.mkdir(exist_ok=True)
    plot(samples, RESULTS / "state_memory.png")
    (RESULTS / "state_memory.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'state_memory.json'} and {RESULTS / 'state_memory.png'}")


if __name__ == "__main__":
    main()
