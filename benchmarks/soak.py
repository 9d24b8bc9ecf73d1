"""Soak: a Jovay devnet under a steady load for minutes; memory must stay flat and no transaction may be lost.

A spawned load process signs EIP-1559 ETH transfers as it goes (round-robin over `--senders` funded
keys) and sends `--rate` tx/s in one JSON-RPC batch per tick for `--duration` s, then stops by
itself. Meanwhile the parent samples the node process's RSS and the chain head. At the end it waits
(bounded) until the chain has caught up and checks, sender by sender, that the on-chain nonce equals
the number of that sender's transactions the node accepted: a difference is a lost transaction.
Memory growth is the RSS slope over the second half of the run (the first half includes warm-up:
caches filling up to their bounds). Writes benchmarks/results/soak.{json,png}.

    .venv/bin/python benchmarks/soak.py [--rate 5000] [--duration 600 | --minutes 10] [--senders 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx  # noqa: E402
from load import (  # noqa: E402
    Fees,
    LoadProcess,
    Rpc,
    current_fees,
    fund_accounts,
    funding_amount,
    load_keys,
    nonces_of,
    sign_transfer,
)

from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.devnet import Devnet, DevnetConfig  # noqa: E402
from jovay.l1.anvil import free_port  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_S = 5.0
MAX_BATCH = 500


def signing_load(
    url: str,
    keys: list[bytes],
    fees: Fees,
    rate: float,
    duration_s: float,
    tick_s: float,
    ready: Any,
    go: Any,
    out: Any,
) -> None:
    """Load process body: sign and send at `rate` tx/s for `duration_s`, then report per-sender counts.

    A sender whose transaction is rejected stops there (its later nonces could never be included).
    """
    addresses = [address_of(k) for k in keys]
    nonces = [0] * len(keys)  # next nonce to sign, per sender (fresh keys start at 0)
    accepted = [0] * len(keys)  # accepted run of nonces from 0, per sender
    stopped = [False] * len(keys)
    sent = rejected = 0
    errors: list[str] = []
    turn = 0
    with httpx.Client(timeout=30) as client:
        client.post(url, json={"jsonrpc": "2.0", "id": 0, "method": "eth_chainId", "params": []})
        ready.set()
        go.wait(60)
        start = time.monotonic()
        while (now := time.monotonic()) < start + duration_s and not all(stopped):
            due = int((now - start) * rate) - sent
            if due <= 0:
                time.sleep(tick_s)
                continue
            batch: list[tuple[int, int]] = []  # (sender, nonce)
            while len(batch) < min(due, MAX_BATCH):
                i = turn % len(keys)
                turn += 1
                if not stopped[i]:
                    batch.append((i, nonces[i]))
                    nonces[i] += 1
            raws = [sign_transfer(keys[i], fees, n, addresses[(i + 1) % len(keys)], 1) for i, n in batch]
            body = [
                {"jsonrpc": "2.0", "id": k, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
                for k, raw in enumerate(raws)
            ]
            answers = client.post(url, json=body).json()
            for (i, nonce), answer in zip(batch, answers, strict=True):
                if "error" in answer:
                    rejected += 1
                    stopped[i] = True
                    if len(errors) < 5:
                        errors.append(str(answer["error"].get("message")))
                elif not stopped[i]:
                    accepted[i] = nonce + 1
            sent += len(batch)
    out.put(
        {
            "sent": sent,
            "rejected": rejected,
            "accepted": accepted,
            "errors": errors,
            "send_s": time.monotonic() - start,
        }
    )


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


def slope_mib_per_min(samples: list[tuple[float, int, int, int]], column: int = 1) -> float:
    """Least-squares slope of a memory column over the second half of the samples, in MiB per minute."""
    half = samples[len(samples) // 2 :]
    if len(half) < 2:
        return 0.0
    xs = [sample[0] for sample in half]
    ys = [sample[column] / 2**20 for sample in half]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var if var else 0.0


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = result["samples"]
    fig, (mem, rate) = plt.subplots(1, 2, figsize=(11, 4))
    mem.plot([s[0] for s in samples], [s[1] / 2**20 for s in samples], label="RSS")
    mem.plot(
        [s[0] for s in samples], [s[3] / 2**20 for s in samples], label="private (RSS less mapped files)"
    )
    mem.legend()
    mem.set_xlabel("seconds")
    mem.set_ylabel("node RSS (MiB)")
    mem.set_title(f"RSS slope, second half: {result['rss_slope_mib_per_min']:+.1f} MiB/min")
    times = [s[0] for s in samples]
    txs = [s[2] for s in samples]
    rates = [(txs[i] - txs[i - 1]) / (times[i] - times[i - 1]) for i in range(1, len(samples))]
    rate.plot(times[1:], rates)
    rate.axhline(result["target_rate"], color="tab:red", linestyle="--", label="target")
    rate.set_xlabel("seconds")
    rate.set_ylabel("load tx/s sealed")
    rate.legend()
    fig.suptitle(
        f"Jovay soak: {result['duration_s']:.0f} s at {result['target_rate']:.0f} tx/s target, "
        f"lost {result['lost']}"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--minutes", type=float, help="minutes of load (instead of --duration)")
    parser.add_argument("--senders", type=int, default=2_000)
    parser.add_argument("--tick-ms", type=float, default=20.0)
    parser.add_argument("--block-time-ms", type=int, default=250)
    args = parser.parse_args()
    if args.minutes is not None:
        args.duration = 60 * args.minutes
    keys = load_keys(args.senders, seed="jovay-soak")
    with tempfile.TemporaryDirectory(prefix="jovay-soak-") as tmp:
        config = DevnetConfig(
            data_dir=Path(tmp), rpc_port=free_port(), l1_port=free_port(), block_time_ms=args.block_time_ms
        )
        devnet = Devnet(config)
        try:
            info = devnet.start()
            node_pid = devnet.processes["node"].pid
            rpc = Rpc(str(info["rpcUrl"]))
            fees = current_fees(rpc)
            per_sender = int(args.rate * args.duration / args.senders) + 2
            dev_keys = [str(a["privateKey"]) for a in info["devAccounts"]]  # type: ignore[attr-defined]
            fund_accounts(rpc, dev_keys, [address_of(k) for k in keys], funding_amount(fees, per_sender))
            addresses = [address_of(k) for k in keys]
            base_nonces = nonces_of(rpc, addresses)
            load = LoadProcess(
                signing_load, rpc.url, keys, fees, args.rate, args.duration, args.tick_ms / 1000
            )
            samples: list[tuple[float, int, int, int]] = []  # (s, RSS, load txs sealed, private)
            try:
                load.start()
                go = load.go()
                while not load.done():
                    included = sum(nonces_of(rpc, addresses)) - sum(base_nonces)
                    rss, private = rss_of(node_pid)
                    samples.append((time.monotonic() - go, rss, included, private))
                    time.sleep(SAMPLE_S)
                report = load.result()
            finally:
                load.stop()
            expected = [b + a for b, a in zip(base_nonces, report["accepted"], strict=True)]
            deadline = time.monotonic() + 120  # bounded catch-up
            while (final := nonces_of(rpc, addresses)) != expected and time.monotonic() < deadline:
                time.sleep(1)
            rss, private = rss_of(node_pid)
            samples.append((time.monotonic() - go, rss, sum(final) - sum(base_nonces), private))
            rpc.close()
        finally:
            devnet.stop()
    accepted = sum(report["accepted"])
    included = sum(final) - sum(base_nonces)
    result = {
        "target_rate": args.rate,
        "duration_s": args.duration,
        "senders": args.senders,
        "sent": report["sent"],
        "sent_tps": report["sent"] / report["send_s"],
        "accepted": accepted,
        "rejected": report["rejected"],
        "rejection_samples": report["errors"],
        "included": included,
        "included_tps": included / max(s[0] for s in samples),
        "lost": accepted - included,
        "rss_start_bytes": samples[0][1],
        "rss_end_bytes": samples[-1][1],
        "rss_max_bytes": max(s[1] for s in samples),
        "rss_slope_mib_per_min": slope_mib_per_min(samples),
        "private_start_bytes": samples[0][3],
        "private_end_bytes": samples[-1][3],
        "private_slope_mib_per_min": slope_mib_per_min(samples, column=3),
        "samples": samples,
    }
    print(
        f"soak {args.duration:.0f} s at target {args.rate:.0f} tx/s: sent {result['sent_tps']:.0f} tx/s, "
        f"included {result['included_tps']:.0f} tx/s; accepted {accepted}, included {included}, "
        f"lost {result['lost']}, rejected {result['rejected']} {report['errors'][:2]}"
    )
    print(
        f"node RSS: start {result['rss_start_bytes'] / 2**20:.0f} MiB, "
        f"end {result['rss_end_bytes'] / 2**20:.0f} MiB, max {result['rss_max_bytes'] / 2**20:.0f} MiB, "
        "slope over the second half "
        f"{result['rss_slope_mib_per_min']:+.2f} MiB/min; private memory "
        f"{result['private_start_bytes'] / 2**20:.0f} -> {result['private_end_bytes'] / 2**20:.0f} MiB, "
        f"slope {result['private_slope_mib_per_min']:+.2f} MiB/min"
    )
    RESULTS.mkdir(exist_ok=True)
    plot(result, RESULTS / "soak.png")
    (RESULTS / "soak.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'soak.json'} and {RESULTS / 'soak.png'}")


if __name__ == "__main__":
    main()
