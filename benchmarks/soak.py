"""Soak: a Jovay devnet under a steady load for minutes; memory must stay flat and no transaction may be lost.

A spawned load process (benchmarks/load.py) offers pre-signed EIP-1559 ETH transfers, round-robin over
`--senders` funded keys, at `--rate` tx/s in one JSON-RPC batch per tick over keep-alive connections
for `--duration` s, then stops by itself. The transfers are signed before the run into the cache
(`$JOVAY_CACHE_DIR/presigned/`, once: signing as it went cost the load process more CPU than the rate
allows on two cores) and read from there as the run goes. Meanwhile the parent samples the node
process's RSS and the chain head. At the end it waits (bounded) until the chain has caught up and
checks, sender by sender, that the on-chain nonce equals the run of that sender's transactions the node
accepted (up to its first refused one, if any): a difference is a lost transaction. Memory growth is
the RSS slope over the second half of the run (the first half includes warm-up: caches filling up to
their bounds). Each sample also records the head block (number, transactions, base fee) and the node's
CPU time, so that a run which falls behind shows where: blocks grow past the gas target (half the
limit), the base fee climbs, and the pre-signed fee caps stop being enough. The run passes when no
accepted transaction is lost, none is refused, the chain seals at least 95% of the target rate, and the
node's private memory grows by at most MAX_SLOPE_MIB_PER_MIN over the second half; it exits 1 otherwise.
The devnet runs without its challenger unless `--challenger` is given: the challenger re-derives and
re-executes every batch (signature recovery, STF, tree) to check the proposed outputs, so at 5,000 tx/s
it needs about as much CPU as the sequencer itself, and on a two-core machine it would measure the
machine rather than the node (a challenger runs on its own machine in any real deployment). The CPU
each devnet process spent is printed either way. Writes benchmarks/results/soak.{json,png}.

    .venv/bin/python benchmarks/soak.py [--rate 5000] [--duration 600 | --minutes 10] [--senders 2000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import (  # noqa: E402
    FromStream,
    LoadProcess,
    Rpc,
    SendLog,
    TransferStream,
    current_fees,
    fund_accounts,
    funding_amount,
    nonces_of,
)

from jovay.devnet import Devnet, DevnetConfig  # noqa: E402
from jovay.l1.anvil import free_port  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_S = 5.0
MAX_SLOPE_MIB_PER_MIN = 1.0  # "no memory growth": at most 5 MiB over the second half of a 10-minute run
MIN_INCLUDED_SHARE = 0.95  # of the target rate


@dataclass(frozen=True)
class Sample:
    """What the parent sees every SAMPLE_S seconds."""

    at_s: float  # since the load started
    rss: int
    private: int  # RSS less mapped files
    sealed: int  # load transactions in sealed blocks (sum of the load senders' nonces)
    head: int
    head_txs: int
    base_fee: int
    node_cpu_s: float  # user + system CPU of the node process so far


def sample(rpc: Rpc, pid: int, addresses: list[bytes], started: float) -> Sample:
    rss, private = rss_of(pid)
    head = rpc.call("eth_getBlockByNumber", ["latest", False])
    return Sample(
        at_s=time.monotonic() - started,
        rss=rss,
        private=private,
        sealed=sum(nonces_of(rpc, addresses)),
        head=int(head["number"], 16),
        head_txs=len(head["transactions"]),
        base_fee=int(head["baseFeePerGas"], 16),
        node_cpu_s=cpu_seconds_of(pid),
    )


def devnet_cpu(devnet: Devnet) -> dict[str, float]:
    """CPU seconds so far of each devnet process (anvil included)."""
    pids = {name: process.pid for name, process in devnet.processes.items()}
    if devnet.anvil is not None and devnet.anvil.process is not None:
        pids["anvil"] = devnet.anvil.process.pid
    return {name: cpu_seconds_of(pid) for name, pid in pids.items()}


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of a process (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node_vitals(log_path: Path) -> list[str]:
    """The node's periodic vitals lines (jovay/vitals.py: cadence, sealing CPU per tx, malloc in use
    and free) from its log, which goes away with the devnet's directory."""
    with open(log_path, errors="replace") as lines:
        return [line.strip() for line in lines if "vitals:" in line]


def accepted_runs(stream: TransferStream, log: SendLog) -> tuple[list[int], int]:
    """Per sender, the nonces the chain must reach: the sender's transactions sent, up to its first
    refused one. Also how many accepted transactions follow a refused one of their sender (they wait
    in the pool for a nonce that never comes: not lost, but never sealed)."""
    runs = stream.nonces_after(log.sent)  # the load process sends a prefix of the stream, in order
    stranded = 0
    for index in sorted(log.rejected_ids):
        sender, nonce = index % stream.senders, index // stream.senders
        if nonce < runs[sender]:
            stranded += runs[sender] - nonce - 1
            runs[sender] = nonce
    return runs, stranded


def rss_of(pid: int) -> tuple[int, int]:
    """(RSS, private part of it) of a process: the rest is mapped file pages, mostly LMDB's map, which
    grows with the chain and which the kernel can drop."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                found[name] = int(value.split()[0]) * 1024
    return found.get("VmRSS", 0), found.get("RssAnon", 0)


def slope_mib_per_min(samples: list[Sample], field: str = "rss") -> float:
    """Least-squares slope of a memory field over the second half of the samples, in MiB per minute."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return 0.0
    xs = [s.at_s for s in half]
    ys = [getattr(s, field) / 2**20 for s in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def rates_between(samples: list[Sample]) -> tuple[list[float], list[float]]:
    """(time, load transactions sealed per second) between consecutive samples."""
    pairs = list(itertools.pairwise(samples))
    return [b.at_s for _, b in pairs], [(b.sealed - a.sealed) / (b.at_s - a.at_s) for a, b in pairs]


def plot(result: dict[str, Any], samples: list[Sample], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = [s.at_s for s in samples]
    fig, (mem, rate, fee) = plt.subplots(1, 3, figsize=(15, 4))
    mem.plot(times, [s.rss / 2**20 for s in samples], label="RSS")
    mem.plot(times, [s.private / 2**20 for s in samples], label="private (RSS less mapped files)")
    mem.legend()
    mem.set_xlabel("seconds")
    mem.set_ylabel("node RSS (MiB)")
    mem.set_title(f"private slope, second half: {result['private_slope_mib_per_min']:+.1f} MiB/min")
    rate.plot(*rates_between(samples))
    rate.axhline(result["target_rate"], color="tab:red", linestyle="--", label="target")
    rate.set_xlabel("seconds")
    rate.set_ylabel("load tx/s sealed")
    rate.legend()
    fee.plot(times, [s.base_fee / 1e9 for s in samples], color="tab:purple")
    fee.axhline(result["fee_cap"] / 1e9, color="tab:red", linestyle="--", label="signed fee cap")
    fee.set_xlabel("seconds")
    fee.set_ylabel("base fee (gwei)")
    fee.legend()
    fig.suptitle(
        f"Jovay soak: {result['duration_s']:.0f} s at {result['target_rate']:.0f} tx/s target, "
        f"lost {result['lost']}, refused {result['rejected']}: {'PASS' if result['passed'] else 'FAIL'}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def verdict(result: dict[str, Any]) -> list[str]:
    """Why the run fails the soak criteria (empty: it passes)."""
    failures = []
    if result["lost"]:
        failures.append(f"{result['lost']} accepted transactions never sealed")
    if result["rejected"]:
        failures.append(f"{result['rejected']} transactions refused")
    if result["included_tps"] < MIN_INCLUDED_SHARE * result["target_rate"]:
        share = f"{MIN_INCLUDED_SHARE:.0%}"
        failures.append(f"sealed {result['included_tps']:.0f} tx/s, under {share} of the target")
    if result["private_slope_mib_per_min"] > MAX_SLOPE_MIB_PER_MIN:
        failures.append(f"private memory grew {result['private_slope_mib_per_min']:+.2f} MiB/min")
    return failures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--minutes", type=float, help="minutes of load (instead of --duration)")
    parser.add_argument("--senders", type=int, default=2_000)
    parser.add_argument("--tick-ms", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=4, help="requests in flight at most")
    parser.add_argument("--block-time-ms", type=int, default=250)
    parser.add_argument("--challenger", action="store_true", help="also run the re-executing challenger")
    args = parser.parse_args()
    if args.minutes is not None:
        args.duration = 60 * args.minutes
    total = round(args.rate * args.duration)
    with tempfile.TemporaryDirectory(prefix="jovay-soak-") as tmp:
        config = DevnetConfig(
            data_dir=Path(tmp),
            rpc_port=free_port(),
            l1_port=free_port(),
            block_time_ms=args.block_time_ms,
            challenger=args.challenger,
        )
        devnet = Devnet(config)
        try:
            info = devnet.start()
            node_pid = devnet.processes["node"].pid
            rpc = Rpc(str(info["rpcUrl"]))
            stream = TransferStream("jovay-soak", args.senders, current_fees(rpc))
            stream.ensure(total)
            addresses = stream.addresses()
            dev_keys = [str(a["privateKey"]) for a in info["devAccounts"]]  # type: ignore[attr-defined]
            per_sender = total // args.senders + 2
            fund_accounts(rpc, dev_keys, addresses, funding_amount(stream.fees, per_sender))
            if nonces_of(rpc, addresses) != stream.nonces_after(0):
                raise RuntimeError("the soak keys have sent transactions already: they must be fresh")
            batch_size = max(1, round(args.rate * args.tick_ms / 1000))
            source = FromStream(stream, 0, total)
            load = LoadProcess(rpc.url, source, batch_size, args.rate, args.connections, args.duration)
            samples: list[Sample] = []
            try:
                load.start()
                go = load.go()
                cpu_before = devnet_cpu(devnet)
                while not load.done():
                    samples.append(sample(rpc, node_pid, addresses, go))
                    time.sleep(SAMPLE_S)
                log = load.result()
            finally:
                load.stop()
            expected, stranded = accepted_runs(stream, log)
            deadline = time.monotonic() + 120  # bounded catch-up
            while (final := nonces_of(rpc, addresses)) != expected and time.monotonic() < deadline:
                time.sleep(1)
            samples.append(sample(rpc, node_pid, addresses, go))
            cpu_after = devnet_cpu(devnet)
            vitals = node_vitals(config.data_dir / "node.log")
            rpc.close()
        finally:
            devnet.stop()
    accepted = sum(expected)
    included = sum(final)
    result = {
        "target_rate": args.rate,
        "duration_s": args.duration,
        "senders": args.senders,
        "sent": log.sent,
        "offered_tps": log.offered_tps,
        "load_cpu_us_per_tx": log.cpu_us_per_tx,
        "accepted": accepted,
        "rejected": log.rejected,
        "stranded_after_a_rejection": stranded,
        "rejection_samples": log.error_samples,
        "included": included,
        "included_tps": included / samples[-1].at_s,
        "fee_cap": stream.fees.max_fee,
        "max_base_fee": max(s.base_fee for s in samples),
        "max_block_txs": max(s.head_txs for s in samples),
        "node_cpu_us_per_tx": 1e6 * (samples[-1].node_cpu_s - samples[0].node_cpu_s) / max(1, included),
        "lost": accepted - included,
        "challenger": args.challenger,
        "cores_by_process": {
            name: (cpu_after[name] - cpu_before[name]) / samples[-1].at_s for name in sorted(cpu_after)
        },
        "rss_start_bytes": samples[0].rss,
        "rss_end_bytes": samples[-1].rss,
        "rss_max_bytes": max(s.rss for s in samples),
        "rss_slope_mib_per_min": slope_mib_per_min(samples),
        "private_start_bytes": samples[0].private,
        "private_end_bytes": samples[-1].private,
        "private_slope_mib_per_min": slope_mib_per_min(samples, "private"),
        "node_vitals": vitals,
        "samples": [asdict(s) for s in samples],
    }
    print(
        f"soak {args.duration:.0f} s at target {args.rate:.0f} tx/s: "
        f"offered {result['offered_tps']:.0f} tx/s "
        f"({result['load_cpu_us_per_tx']:.1f} us load-process CPU per tx), "
        f"included {result['included_tps']:.0f} tx/s; accepted {accepted}, included {included}, "
        f"lost {result['lost']}, rejected {result['rejected']} {log.error_samples[:2]}"
    )
    print(
        f"node RSS: start {result['rss_start_bytes'] / 2**20:.0f} MiB, "
        f"end {result['rss_end_bytes'] / 2**20:.0f} MiB, max {result['rss_max_bytes'] / 2**20:.0f} MiB, "
        "slope over the second half "
        f"{result['rss_slope_mib_per_min']:+.2f} MiB/min; private memory "
        f"{result['private_start_bytes'] / 2**20:.0f} -> {result['private_end_bytes'] / 2**20:.0f} MiB, "
        f"slope {result['private_slope_mib_per_min']:+.2f} MiB/min"
    )
    print(
        f"node CPU {result['node_cpu_us_per_tx']:.0f} us per sealed tx; largest head block seen "
        f"{result['max_block_txs']} txs; base fee up to {result['max_base_fee']} "
        f"(fee cap {result['fee_cap']})"
    )
    print(
        "cores used per devnet process: "
        + ", ".join(f"{k} {v:.2f}" for k, v in result["cores_by_process"].items())
    )
    print("node vitals (every 30 s):\n  " + "\n  ".join(vitals))
    failures = verdict(result)
    result["passed"] = not failures
    result["failures"] = failures
    RESULTS.mkdir(exist_ok=True)
    plot(result, samples, RESULTS / "soak.png")
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'soak.json'} and {RESULTS / 'soak.png'}")
    print("PASS" if not failures else "FAIL: " + "; ".join(failures))
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
