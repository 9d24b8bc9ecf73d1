"""End-to-end JSON-RPC throughput, Jovay devnet against anvil, with the same load and the same counting.

For each side a spawned load process (benchmarks/load.py) offers pre-signed EIP-1559 ETH transfers
(many distinct senders, funded first by transfers from the dev keys; signed once and cached) as JSON-RPC
batches of `eth_sendRawTransaction` over keep-alive connections: at `--rate` tx/s, or with `--rate 0`
back to back, `--connections` requests in flight. The parent watches `newHeads` and counts the load
transactions in each sealed block. Included tx/s is the load transactions in the blocks from the first
holding one to the last, over those blocks' time (from the arrival of the block before the first to
the arrival of the last). Sides: (a) a Jovay devnet (anvil L1, contracts, sequencer node with RPC,
batcher; block time 250 ms), (b) anvil with `--block-time 1` and the block gas limit set to Jovay's.
Prints each repeat (with the rate the load process offered and its CPU per transaction), the medians
and the ratio jovay/anvil; writes benchmarks/results/rpc_vs_anvil.{json,png}.

    .venv/bin/python benchmarks/rpc_vs_anvil.py [--txs 10000] [--senders 1000] [--batch-size 250]
        [--rate 0] [--connections 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import load  # noqa: E402
from load import (  # noqa: E402
    BlockWatcher,
    InMemory,
    LoadProcess,
    Rpc,
    TransferStream,
    cpu_seconds,
    current_fees,
    fund_accounts,
    funding_amount,
    nonces_of,
    tx_hash,
    watch_until_included,
    window_rate,
)

from jovay.l1.anvil import Anvil  # noqa: E402
from jovay.params import BLOCK_GAS_LIMIT  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SIDES = ("jovay", "anvil")
# anvil's default block gas limit (30M) holds 1,428 transfers: give it Jovay's limit instead. Its pool has
# no size or per-sender limit to raise; the body limit (2 MB) is lifted to match Jovay's 8 MiB so that
# larger --batch-size values fit on both sides.
ANVIL_ARGS = ("--gas-limit", str(BLOCK_GAS_LIMIT), "--no-request-size-limit")


@dataclass
class Repeat:
    side: str
    sent: int
    rejected: int
    included: int
    tps: float  # included load txs over the blocks holding them
    window_txs: int
    window_s: float
    end_to_end_tps: float  # included load txs / (last inclusion - go)
    offered_tps: float  # the rate the load process started its requests at
    load_cpu_us_per_tx: float  # the load process's CPU per transaction sent
    server_cpu_us_per_tx: float  # the server process's CPU (all threads) per load transaction included
    blocks: int
    curve: list[tuple[float, int]]  # (seconds since go, load txs included so far) per block
    errors: list[str]


def run_repeat(
    side: str, rpc: Rpc, server_pid: int, raws: list[bytes], first: int, args: argparse.Namespace
) -> Repeat:
    """One load run: align to a block, start the load process, count until all are sealed."""
    tracked = {tx_hash(raw): first + i for i, raw in enumerate(raws)}
    watcher = BlockWatcher(rpc, tracked).start()
    source = InMemory(raws, first)
    load = LoadProcess(rpc.url, source, args.batch_size, args.rate, args.connections, args.limit_s)
    try:
        load.start()
        watcher.wait_for_block()
        server_cpu = cpu_seconds(server_pid)
        go = load.go()
        log = watch_until_included(watcher, load, len(raws), args.limit_s + 60)
        server_cpu = cpu_seconds(server_pid) - server_cpu
    finally:
        load.stop()
        watcher.stop()
    tps, window_txs, window_s = window_rate(watcher.blocks, go)
    last = max(watcher.included.values(), default=go)
    loaded = [b for b in watcher.blocks if b.load_count]
    curve, total = [], 0
    for block in loaded:
        total += block.load_count
        curve.append((block.arrival - go, total))
    return Repeat(
        side=side,
        sent=log.sent,
        rejected=log.rejected,
        included=len(watcher.included),
        tps=tps,
        window_txs=window_txs,
        window_s=window_s,
        end_to_end_tps=len(watcher.included) / (last - go) if last > go else 0.0,
        offered_tps=log.offered_tps,
        load_cpu_us_per_tx=log.cpu_us_per_tx,
        server_cpu_us_per_tx=1e6 * server_cpu / len(watcher.included) if watcher.included else 0.0,
        blocks=len(loaded),
        curve=curve,
        errors=log.error_samples,
    )


def run_side(
    side: str, url: str, server_pid: int, funder_keys: list[str], args: argparse.Namespace
) -> list[Repeat]:
    """Fund the load senders once, then run `args.repeats` loads against the same chain."""
    rpc = Rpc(url)
    stream = TransferStream("jovay-bench", args.senders, current_fees(rpc))
    stream.ensure(args.txs * args.repeats)
    addresses = stream.addresses()
    started = time.monotonic()
    amount = funding_amount(stream.fees, math.ceil(args.txs * args.repeats / args.senders))
    fund_accounts(rpc, funder_keys, addresses, amount)
    print(f"{side}: funded {len(addresses)} senders in {time.monotonic() - started:.1f} s", flush=True)
    repeats = []
    try:
        for number in range(args.repeats):
            first = number * args.txs
            if nonces_of(rpc, addresses) != stream.nonces_after(first):
                print(f"  warning: the senders' nonces are not where {first} stream transactions leave them")
            run = run_repeat(side, rpc, server_pid, stream.read(first, args.txs), first, args)
            repeats.append(run)
            print(
                f"{side} #{number + 1}: {run.window_txs} txs in {run.blocks} blocks "
                f"over {run.window_s:.2f} s: "
                f"{run.tps:7.0f} tx/s included (end to end {run.end_to_end_tps:.0f} tx/s, "
                f"offered {run.offered_tps:.0f} tx/s at {run.load_cpu_us_per_tx:.0f} us CPU/tx, "
                f"{run.rejected} rejected, {run.sent - run.rejected - run.included} missing; "
                f"server {run.server_cpu_us_per_tx:.0f} us CPU per included tx)",
                flush=True,
            )
            if run.errors:
                print(f"  rejections, first ones: {run.errors}", flush=True)
    finally:
        rpc.close()
    return repeats


def run_jovay(args: argparse.Namespace) -> list[Repeat]:
    with load.jovay_devnet(args.block_time_ms, "jovay-bench-") as devnet:
        return run_side("jovay", devnet.url, devnet.node_pid, devnet.dev_keys, args)


def run_anvil(args: argparse.Namespace) -> tuple[list[Repeat], str]:
    anvil = Anvil(block_time=args.anvil_block_time, extra_args=ANVIL_ARGS)
    try:
        anvil.start()
        assert anvil.process is not None
        command = " ".join(str(a) for a in anvil.process.args)  # type: ignore[union-attr]
        print(f"anvil command: {command}", flush=True)
        return run_side("anvil", anvil.url, anvil.process.pid, list(anvil.dev_keys), args), command
    finally:
        anvil.stop()


def summarize(runs: dict[str, list[Repeat]]) -> dict[str, float]:
    summary = {f"{side}_median_tps": statistics.median(r.tps for r in runs[side]) for side in SIDES}
    for side in SIDES:
        summary[f"{side}_median_end_to_end_tps"] = statistics.median(r.end_to_end_tps for r in runs[side])
        summary[f"{side}_median_offered_tps"] = statistics.median(r.offered_tps for r in runs[side])
        cpu = statistics.median(r.server_cpu_us_per_tx for r in runs[side])
        summary[f"{side}_median_server_cpu_us_per_tx"] = cpu
    anvil = summary["anvil_median_tps"]
    summary["ratio_jovay_over_anvil"] = summary["jovay_median_tps"] / anvil if anvil else 0.0
    return summary


def plot(runs: dict[str, list[Repeat]], summary: dict[str, float], path: Path) -> None:
    """Left: median included tx/s per side with each repeat as a dot. Right: inclusion over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (bars, curves) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"jovay": "tab:blue", "anvil": "tab:orange"}
    for i, side in enumerate(SIDES):
        bars.bar(i, summary[f"{side}_median_tps"], color=colors[side], alpha=0.7)
        bars.plot([i] * len(runs[side]), [r.tps for r in runs[side]], "k.", markersize=8)
        for n, run in enumerate(runs[side]):
            xs = [0.0] + [t for t, _ in run.curve]
            ys = [0] + [c for _, c in run.curve]
            curves.step(xs, ys, where="post", color=colors[side], label=side if n == 0 else None)
    bars.set_xticks(range(len(SIDES)), ["Jovay devnet (250 ms blocks)", "anvil (1 s blocks)"])
    bars.set_ylabel("included tx/s (median; dots: repeats)")
    bars.set_title(f"ratio jovay/anvil = {summary['ratio_jovay_over_anvil']:.2f}")
    curves.set_xlabel("seconds since the load process started")
    curves.set_ylabel("load transactions sealed")
    curves.set_title("inclusion per block, every repeat")
    curves.legend()
    fig.suptitle("Batched eth_sendRawTransaction of signed ETH transfers, counted in sealed blocks")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--txs", type=int, default=10_000, help="load transactions per side and repeat")
    parser.add_argument("--senders", type=int, default=1_000, help="distinct funded senders")
    parser.add_argument("--batch-size", type=int, default=250, help="requests per JSON-RPC batch")
    parser.add_argument("--rate", type=float, default=0.0, help="offered tx/s (0: back to back)")
    parser.add_argument("--connections", type=int, default=2, help="requests in flight at most")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--block-time-ms", type=int, default=250, help="Jovay block time")
    parser.add_argument("--anvil-block-time", type=float, default=1.0, help="anvil --block-time (s)")
    parser.add_argument("--limit-s", type=float, default=120.0, help="time limit of one repeat")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    started = time.monotonic()
    runs = {"jovay": run_jovay(args)}
    runs["anvil"], anvil_command = run_anvil(args)
    summary = summarize(runs)
    print(
        f"median included tx/s: jovay {summary['jovay_median_tps']:.0f}, "
        f"anvil {summary['anvil_median_tps']:.0f}, "
        f"ratio jovay/anvil {summary['ratio_jovay_over_anvil']:.2f}; server CPU per included tx: "
        f"jovay node {summary['jovay_median_server_cpu_us_per_tx']:.0f} us, "
        f"anvil {summary['anvil_median_server_cpu_us_per_tx']:.0f} us "
        f"(offered {summary['jovay_median_offered_tps']:.0f} and {summary['anvil_median_offered_tps']:.0f}; "
        f"{args.txs} txs x {args.repeats} repeats per side, batches of {args.batch_size}, "
        f"{args.senders} senders; {time.monotonic() - started:.0f} s in all)"
    )
    RESULTS.mkdir(exist_ok=True)
    plot(runs, summary, RESULTS / "rpc_vs_anvil.png")
    result = {
        "config": vars(args),
        "anvil_command": anvil_command,
        "summary": summary,
        "runs": {side: [asdict(r) for r in runs[side]] for side in SIDES},
    }
    (RESULTS / "rpc_vs_anvil.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'rpc_vs_anvil.json'} and {RESULTS / 'rpc_vs_anvil.png'}")


if __name__ == "__main__":
    main()
