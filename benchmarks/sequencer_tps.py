"""In-process sequencer throughput at the node's block cadence: signed ETH and RWA token transfers.

A chain with `--accounts` funded accounts (100,000 by default; every one also an allowlisted holder
of one RWA token, set up through the STF before the timing) runs its sequencer thread with the
node's default configuration (a block every 250 ms, state root per block, LMDB write per block, the
node's GC policy: jovay/sequencer/gc_policy.py).
Each run pre-signs one transfer per account (outside the timing), then the main thread submits them
in batches of 250 through `Sequencer.submit_many` (decode and sender recovery on a 2-thread pool,
then checks and pool in order, as the RPC server admits a JSON-RPC batch) while the sequencer thread
seals blocks. TPS = transactions / (first submission -> the block that seals the last one). Prints
each run (also the CPU time per transaction, all threads: steadier than
wall time on a shared machine) and the medians; writes benchmarks/results/sequencer_tps.{json,png}.

    .venv/bin/python benchmarks/sequencer_tps.py [--accounts 100000] [--repeats 2]

JOVAY_PURE=1 measures the pure-Python path.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_abi import encode  # noqa: E402
from eth_utils import keccak  # noqa: E402

from jovay._native import use_native  # noqa: E402
from jovay.codec.blocks import Header  # noqa: E402
from jovay.codec.transactions import DynamicFeeTx, sign_transaction  # noqa: E402
from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.errors import InvalidTransaction  # noqa: E402
from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, TOKEN_ADDRESS_PREFIX  # noqa: E402
from jovay.sequencer.gc_policy import apply_gc_policy  # noqa: E402
from jovay.sequencer.mempool import MempoolLimits  # noqa: E402
from jovay.sequencer.sequencer import Sequencer, SequencerConfig  # noqa: E402
from jovay.stf.block import ExecutedTx  # noqa: E402
from jovay.stf.genesis import Genesis  # noqa: E402
from jovay.storage.chain import Chain  # noqa: E402

CHAIN_ID = 202611
MAX_FEE = 1000 * MIN_BASE_FEE  # full blocks raise the base fee 12.5% each: 10x was passed in ~20 blocks
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
SUBMIT_BATCH = 250
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Run:
    workload: str
    txs: int
    blocks: int
    admit_s: float  # first submission -> last submission returned
    seal_s: float  # last submission returned -> the last transaction sealed
    cpu_s: float  # CPU time of the whole process (all threads) over the run: steadier on a shared machine
    full_gcs: int  # full (generation 2) garbage collections during the run
    young_gcs: int  # generation 0 and 1 collections during the run
    gc_cpu_s: list[float]  # CPU time in collections of generation 0, 1 and 2 (gc.callbacks)
    thread_cpu_s: dict[str, float]  # CPU time per thread (main: admission; decode; sequencer; other)
    timeline: list[tuple[float, int]]  # (seconds since the first submission, txs sealed) per block

    @property
    def tps(self) -> float:
        return self.txs / (self.admit_s + self.seal_s)


def selector_call(signature: str, types: list[str], args: list[object]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, args)


def sign(key: bytes, nonce: int, to: bytes, data: bytes = b"", value: int = 0, gas: int = 21_000) -> bytes:
    tx = DynamicFeeTx(
        chain_id=CHAIN_ID,
        nonce=nonce,
        max_priority_fee_per_gas=1,
        max_fee_per_gas=MAX_FEE,
        gas_limit=gas,
        to=to,
        value=value,
        data=data,
    )
    return sign_transaction(tx, key)


def new_sequencer(data_dir: Path, keys: list[bytes]) -> Sequencer:
    """A sequencer with the node's default block cadence and its start-up GC policy (jovay/node.py);
    the pool holds a whole run at once."""
    admin = address_of(keys[0])
    alloc = {address_of(k): 10**21 for k in keys}
    chain = Chain(data_dir, Genesis(identity_admin=admin, timestamp=int(time.time()) - 1, alloc=alloc))
    # Room for the setup's 2 txs per account from one admin; the cadence is the default one.
    limits = MempoolLimits(
        max_nonce_gap=4 * len(keys) + 8, max_per_sender=4 * len(keys) + 8, max_total=4 * len(keys) + 8
    )
    sequencer = Sequencer(chain, dataclasses.replace(SequencerConfig(), mempool=limits))
    apply_gc_policy()
    return sequencer


def drain(seq: Sequencer) -> int:
    blocks = 0
    while len(seq.mempool):
        seq.produce_block()
        blocks += 1
    return blocks


def setup_token(seq: Sequencer, keys: list[bytes]) -> None:
    """Create a token, allowlist every account and give each some units (not timed)."""
    admin = keys[0]
    create = selector_call(
        "createToken(string,string,uint8)", ["string", "string", "uint8"], ["Bench", "BNC", 0]
    )
    seq.submit(sign(admin, 0, ASSET_REGISTRY, create, gas=300_000))
    drain(seq)  # the token address accepts calls once its creation is sealed
    nonce = 1
    for key in keys:
        allow = selector_call("setAllowed(address,bool)", ["address", "bool"], [address_of(key), True])
        seq.submit(sign(admin, nonce, IDENTITY_REGISTRY, allow, gas=100_000))
        mint = selector_call("mint(address,uint256)", ["address", "uint256"], [address_of(key), 10**6])
        seq.submit(sign(admin, nonce + 1, TOKEN, mint, gas=100_000))
        nonce += 2
    drain(seq)


def workload(seq: Sequencer, keys: list[bytes], kind: str) -> list[bytes]:
    chain = seq.chain
    from jovay.state.overlay import StateOverlay
    from jovay.stf.accounts import get_account

    state = StateOverlay(chain.store.leaf)
    raws = []
    for i, key in enumerate(keys):
        nonce = get_account(state, address_of(key))[0]
        to = address_of(keys[(i + 1) % len(keys)])
        if kind == "eth":
            raws.append(sign(key, nonce, to, value=1))
        else:
            data = selector_call("transfer(address,uint256)", ["address", "uint256"], [to, 1])
            raws.append(sign(key, nonce, TOKEN, data, gas=80_000))
    return raws


class InclusionCounter:
    """A chain listener: how many of the run's transactions are sealed, and when the last one was."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self.blocks = 0
        self.done = threading.Event()
        self.finished_at = 0.0
        self.timeline: list[tuple[float, int]] = []

    def __call__(self, header: Header, executed: list[ExecutedTx]) -> None:
        if not executed:
            return
        self.count += len(executed)
        self.blocks += 1
        now = time.perf_counter()
        self.timeline.append((now, len(executed)))
        if self.count >= self.target:
            self.finished_at = now
            self.done.set()


def measure(seq: Sequencer, raws: list[bytes], kind: str, timeout_s: float) -> Run:
    """Submit every transaction while the sequencer thread seals blocks at its cadence."""
    counter = InclusionCounter(len(raws))
    seq.chain.listeners.append(counter)
    seq.start()
    try:
        threads = ThreadClocks()
        gc_clock = GcClock()
        start, cpu_start, gcs_start = time.perf_counter(), time.process_time(), _full_collections()
        young_start = _young_collections()
        refused: Counter[str] = Counter()
        for i in range(0, len(raws), SUBMIT_BATCH):  # as the RPC server admits a JSON-RPC batch
            results = seq.submit_many(raws[i : i + SUBMIT_BATCH])
            refused.update(str(r) for r in results if isinstance(r, InvalidTransaction))
        admitted = time.perf_counter()
        if refused:
            print(f"{kind}: {sum(refused.values())} refused at admission: {dict(refused.most_common(3))}")
        if not counter.done.wait(timeout_s):  # bounded: a stuck run reports what it got
            print(
                f"{kind}: only {counter.count} of {len(raws)} sealed within {timeout_s} s"
                f" ({len(seq.mempool)} pooled, base fee {seq.chain.head.base_fee_per_gas})",
                flush=True,
            )
            counter.finished_at = time.perf_counter()
        cpu_s = time.process_time() - cpu_start
        full_gcs = _full_collections() - gcs_start
        young_gcs = _young_collections() - young_start
        thread_cpu = threads.elapsed(cpu_s)
        gc_clock.stop()
    finally:
        seq.stop()
        seq.chain.listeners.remove(counter)
    timeline = [(round(t - start, 4), n) for t, n in counter.timeline]
    return Run(
        kind,
        counter.count,
        counter.blocks,
        admitted - start,
        counter.finished_at - admitted,
        cpu_s,
        full_gcs,
        young_gcs,
        gc_clock.seconds,
        thread_cpu,
        timeline,
    )


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def _young_collections() -> int:
    return sum(int(stats["collections"]) for stats in gc.get_stats()[:2])


class GcClock:
    """CPU time (of the collecting thread) spent in garbage collections, per generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self._started = 0.0
        gc.callbacks.append(self)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds[info["generation"]] += time.thread_time() - self._started

    def stop(self) -> None:
        gc.callbacks.remove(self)


class ThreadClocks:
    """CPU time of each Python thread of the run (main: admission; decode: decoding and recovery;
    sequencer: block production), from the threads' own CPU clocks; the rest of the process (Poseidon's
    C threads, threads that ended) is "other". Threads started after this are measured from zero."""

    def __init__(self) -> None:
        self.start = {name: seconds for name, seconds in self._now().items()}

    @staticmethod
    def _now() -> dict[str, float]:
        out: dict[str, float] = {}
        for thread in threading.enumerate():
            if thread.ident is None:
                continue
            try:
                clock = time.pthread_getcpuclockid(thread.ident)
                seconds = time.clock_gettime(clock)
            except (OSError, OverflowError):  # ended meanwhile
                continue
            name = thread.name.split("_")[0] if thread.name.startswith("decode") else thread.name
            name = "main" if thread is threading.main_thread() else name
            out[f"{name}#{thread.ident}"] = seconds
        return out

    def elapsed(self, process_s: float) -> dict[str, float]:
        """Seconds per thread kind since the start, and "other" (the process total minus those)."""
        out: dict[str, float] = {}
        for key, seconds in self._now().items():
            kind = key.split("#")[0]
            out[kind] = out.get(kind, 0.0) + seconds - self.start.get(key, 0.0)
        out["other"] = process_s - sum(out.values())
        return out


def plot(runs: list[Run], summary: dict[str, dict[str, float]], path: Path) -> None:
    """Left: transactions sealed over time per run. Right: median end-to-end TPS per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (curve, bars) = plt.subplots(1, 2, figsize=(11, 4.2))
    for run in runs:
        total, xs, ys = 0, [0.0], [0]
        for t, n in run.timeline:
            total += n
            xs.append(t)
            ys.append(total)
        curve.step(xs, ys, where="post", label=f"{run.workload}: {run.tps:,.0f} tx/s")
    curve.set_xlabel("seconds since the first submission")
    curve.set_ylabel("transactions sealed")
    curve.legend(fontsize=8)
    kinds = list(summary)
    bars.bar(kinds, [summary[k]["median_tps"] for k in kinds], color=["tab:blue", "tab:orange"])
    bars.axhline(10_000, color="tab:red", linestyle="--", label="target 10,000 tx/s")
    bars.set_ylabel("median tx/s, submit -> sealed with state root")
    bars.legend()
    path_kind = "native" if use_native() else "pure Python"
    fig.suptitle(f"Jovay in-process sequencer ({path_kind}), {runs[0].txs:,} signed transfers per run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a run may take at most")
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        prepared = time.perf_counter()
        seq = new_sequencer(Path(tmp), keys)
        setup_token(seq, keys)
        print(
            f"setup: {args.accounts} funded token holders in {time.perf_counter() - prepared:.0f} s",
            flush=True,
        )
        for _ in range(args.repeats):
            for kind in ("eth", "token"):
                run = measure(seq, workload(seq, keys, kind), kind, args.timeout)
                runs.append(run)
                print(
                    f"{kind:5s} {run.txs} txs in {run.blocks} blocks: submitted in {run.admit_s:.1f} s "
                    f"({run.txs / run.admit_s:.0f} tx/s), all sealed {run.seal_s:.1f} s later: "
                    f"{run.tps:.0f} tx/s end to end; {run.cpu_s / run.txs * 1e6:.0f} us CPU per tx, "
                    f"{run.full_gcs} full GC passes, {run.young_gcs} young; GC CPU per tx by generation "
                    f"{' / '.join(f'{seconds / run.txs * 1e6:.1f}' for seconds in run.gc_cpu_s)} us",
                    flush=True,
                )
                per_thread = ", ".join(
                    f"{name} {seconds / run.txs * 1e6:.0f}"
                    for name, seconds in sorted(run.thread_cpu_s.items())
                )
                print(f"      us CPU per tx by thread: {per_thread}", flush=True)
        seq.chain.close()
    summary = {}
    for kind in ("eth", "token"):
        mine = [r for r in runs if r.workload == kind]
        summary[kind] = {
            "median_tps": statistics.median(r.tps for r in mine),
            "median_submit_tps": statistics.median(r.txs / r.admit_s for r in mine),
            "median_cpu_us_per_tx": statistics.median(r.cpu_s / r.txs * 1e6 for r in mine),
            "txs_per_run": mine[0].txs,
        }
        print(
            f"median {kind}: {summary[kind]['median_tps']:.0f} tx/s end to end (state root included), "
            f"{summary[kind]['median_cpu_us_per_tx']:.0f} us CPU per tx (all threads)"
        )
    RESULTS.mkdir(exist_ok=True)
    plot(runs, summary, RESULTS / "sequencer_tps.png")
    result = {
        "accounts": args.accounts,
        "native": use_native(),
        "block_time_s": SequencerConfig().block_time_s,
        "runs": [dataclasses.asdict(r) | {"tps": r.tps} for r in runs],
        "summary": summary,
    }
    (RESULTS / "sequencer_tps.json").write_text(json.dumps(result, indent=2))
    print(f"wrote {RESULTS / 'sequencer_tps.json'} and {RESULTS / 'sequencer_tps.png'}")


if __name__ == "__main__":
    main()
