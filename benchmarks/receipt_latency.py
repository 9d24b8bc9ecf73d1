"""Receipt latency on a Jovay devnet under a steady load: send to the first moment a receipt exists.

A spawned load process (benchmarks/load.py) offers pre-signed EIP-1559 ETH transfers (many distinct
senders, funded first by transfers from the dev keys; signed once and cached) at `--rate` tx/s, one
JSON-RPC batch per tick over keep-alive connections (up to `--connections` requests in flight, so a
slow answer does not hold back the next tick), for `--duration` s. The
parent subscribes to `newHeads` and, when a block arrives, marks all of its transactions included at
that moment: the node announces a block only after committing it with its receipts, so that moment is
when `eth_getTransactionReceipt` starts returning them (checked for one transaction every 8 blocks).
Latency = inclusion - start of the HTTP request that carried the transaction (also reported from the
moment the pacing made it due, which counts any wait for a free connection). Prints p50/p99, the rate
actually offered and included, the block interval, and whether p50 <= block time + 50 ms; writes
benchmarks/results/receipt_latency.{json,png}.

    .venv/bin/python benchmarks/receipt_latency.py [--rate 500] [--duration 20] [--senders 1000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
from load import (  # noqa: E402
    BlockWatcher,
    InMemory,
    LoadProcess,
    Rpc,
    SendLog,
    TransferStream,
    cpu_seconds,
    current_fees,
    fund_accounts,
    funding_amount,
    mean_interval,
    percentile,
    tx_hash,
    watch_until_included,
    window_rate,
)

RESULTS = Path(__file__).resolve().parent / "results"
SLACK_S = 0.050  # the target: p50 <= block time + 50 ms


def measure(rpc: Rpc, devnet: load.JovayDevnet, args: argparse.Namespace) -> dict[str, Any]:
    """Fund the senders, run the steady load once, and return latencies and rates."""
    total = round(args.rate * args.duration)
    stream = TransferStream("jovay-bench", args.senders, current_fees(rpc))
    stream.ensure(total)
    amount = funding_amount(stream.fees, math.ceil(total / args.senders))
    fund_accounts(rpc, devnet.dev_keys, stream.addresses(), amount)
    raws = stream.read(0, total)
    watcher = BlockWatcher(rpc, {tx_hash(raw): i for i, raw in enumerate(raws)}, check_receipts=True).start()
    batch_size = max(1, round(args.rate * args.tick_ms / 1000))
    send_limit_s = args.duration + 60  # a server slower than the rate gets a minute more
    load = LoadProcess(rpc.url, InMemory(raws), batch_size, args.rate, args.connections, send_limit_s)
    try:
        load.start()
        watcher.wait_for_block()
        node_cpu = cpu_seconds(devnet.node_pid)
        go = load.go()
        log = watch_until_included(watcher, load, total, send_limit_s + 60)
        node_cpu = cpu_seconds(devnet.node_pid) - node_cpu
    finally:
        load.stop()
        watcher.stop()
    result = figures(watcher, log, go, args)
    result["node_cpu_us_per_tx"] = 1e6 * node_cpu / max(1, len(watcher.included))
    return result


def figures(watcher: BlockWatcher, log: SendLog, go: float, args: argparse.Namespace) -> dict[str, Any]:
    sent_at = log.send_times()
    points = sorted((sent_at[i] - go, watcher.included[i] - sent_at[i]) for i in watcher.included)
    if not points:
        raise RuntimeError(f"no load transaction was sealed; rejections: {log.error_samples}")
    latencies = [latency for _, latency in points]
    first_start = min(r[0] for r in log.requests)
    from_due = [watcher.included[i] - (first_start + i / args.rate) for i in watcher.included]
    included_tps, _, _ = window_rate(watcher.blocks, go)
    last = max(watcher.included.values(), default=go)
    during = [b for b in watcher.blocks if go <= b.arrival <= last]
    block_time_s = args.block_time_ms / 1000
    p50 = percentile(latencies, 50)
    return {
        "target_rate": args.rate,
        "sent": log.sent,
        "rejected": log.rejected,
        "included": len(watcher.included),
        "offered_tps": log.offered_tps,
        "load_cpu_us_per_tx": log.cpu_us_per_tx,
        "included_tps": included_tps,
        "p50_s": p50,
        "p99_s": percentile(latencies, 99),
        "max_s": max(latencies),
        "p50_from_due_s": percentile(from_due, 50),
        "p99_from_due_s": percentile(from_due, 99),
        "block_time_s": block_time_s,
        "measured_block_interval_s": mean_interval(during),
        "block_log": [(b.number, round(b.arrival - go, 4), b.load_count) for b in during],
        "blocks": len(during),
        "p50_within_block_time_plus_50ms": p50 <= block_time_s + SLACK_S,
        "receipt_misses": watcher.receipt_misses,
        "receipt_probes": watcher.receipt_probes,
        "error_samples": log.error_samples,
        "points": [(round(t, 4), round(latency, 4)) for t, latency in points],
    }


def plot(result: dict[str, Any], path: Path) -> None:
    """Left: each transaction's latency against when it was sent. Right: the latency distribution."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sent = [p[0] for p in result["points"]]
    latency_ms = [p[1] * 1000 for p in result["points"]]
    target_ms = (result["block_time_s"] + SLACK_S) * 1000
    fig, (scatter, cdf) = plt.subplots(1, 2, figsize=(11, 4.2))
    scatter.plot(sent, latency_ms, ".", markersize=4, alpha=0.3)
    scatter.axhline(target_ms, color="tab:red", linestyle="--", label="block time + 50 ms")
    scatter.set_xlabel("sent at (s since start)")
    scatter.set_ylabel("send -> receipt (ms)")
    scatter.legend()
    ordered = sorted(latency_ms)
    cdf.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))])
    for q in ("p50", "p99"):
        cdf.axvline(result[f"{q}_s"] * 1000, color="gray", linestyle=":")
        cdf.text(result[f"{q}_s"] * 1000, 0.05, f" {q} {result[f'{q}_s'] * 1000:.0f} ms", rotation=90)
    cdf.axvline(target_ms, color="tab:red", linestyle="--")
    cdf.set_xlabel("send -> receipt (ms)")
    cdf.set_ylabel("fraction of transactions")
    fig.suptitle(
        f"Jovay devnet receipt latency: target {result['target_rate']:.0f} tx/s, "
        f"offered {result['offered_tps']:.0f} tx/s, block time {result['block_time_s'] * 1000:.0f} ms"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(result: dict[str, Any]) -> None:
    ms = 1000
    print(
        f"rate: target {result['target_rate']:.0f} tx/s, offered {result['offered_tps']:.0f} tx/s "
        f"({result['load_cpu_us_per_tx']:.1f} us load-process CPU per tx, "
        f"{result['node_cpu_us_per_tx']:.0f} us node CPU per included tx), "
        f"included {result['included_tps']:.0f} tx/s ({result['included']}/{result['sent']} sealed, "
        f"{result['rejected']} rejected)"
    )
    print(
        f"latency send -> receipt: p50 {result['p50_s'] * ms:.0f} ms, p99 {result['p99_s'] * ms:.0f} ms, "
        f"max {result['max_s'] * ms:.0f} ms; from the moment each was due: p50 "
        f"{result['p50_from_due_s'] * ms:.0f} ms, p99 {result['p99_from_due_s'] * ms:.0f} ms"
    )
    print(
        f"block interval: configured {result['block_time_s'] * ms:.0f} ms, "
        f"measured mean {result['measured_block_interval_s'] * ms:.0f} ms over {result['blocks']} blocks"
    )
    verdict = "yes" if result["p50_within_block_time_plus_50ms"] else "NO"
    print(f"p50 <= block time + 50 ms ({(result['block_time_s'] + SLACK_S) * ms:.0f} ms): {verdict}")
    print(
        f"receipts readable at the block's announcement: {result['receipt_probes']} probes, "
        f"{result['receipt_misses']} misses"
    )
    if result["error_samples"]:
        print(f"rejections, first ones: {result['error_samples']}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=500.0, help="target tx/s")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--senders", type=int, default=1_000, help="distinct funded senders")
    parser.add_argument("--tick-ms", type=float, default=20.0, help="one JSON-RPC batch per tick")
    parser.add_argument("--connections", type=int, default=4, help="requests in flight at most")
    parser.add_argument("--block-time-ms", type=int, default=250, help="Jovay block time")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    with load.jovay_devnet(args.block_time_ms, "jovay-latency-") as devnet:
        rpc = Rpc(devnet.url)
        try:
            result = measure(rpc, devnet, args)
        finally:
            rpc.close()
    report(result)
    RESULTS.mkdir(exist_ok=True)
    plot(result, RESULTS / "receipt_latency.png")
    result["config"] = vars(args)
    (RESULTS / "receipt_latency.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'receipt_latency.json'} and {RESULTS / 'receipt_latency.png'}")


if __name__ == "__main__":
    main()
