"""Per-phase CPU time per transaction of the in-process sequencer, ETH vs RWA token transfers, serially.

Same chain and workload as benchmarks/sequencer_tps.py (every account a funded, allowlisted holder of
one token; one pre-signed transfer per account). Each run decodes and admits every transaction on this
thread (decode, admission checks, pool), then seals blocks back to back until the pool is empty, and
times each phase with thin wrappers around the functions that do it: CPU time of this thread (the
serial path holds the GIL except inside libsecp256k1, keccak roots and LMDB calls) and of the whole
process (Poseidon's hashing threads too), plus the time in garbage collection (gc.callbacks). No
profiler is attached, so Python-heavy phases are not inflated as they are under cProfile. Runs of the
two workloads are interleaved (A/B) on one chain.

    .venv/bin/python benchmarks/token_phases.py [--accounts 20000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sequencer_tps as bench  # noqa: E402

from jovay.codec.transactions import SignedTx, decode_many  # noqa: E402
from jovay.sequencer import admission as admission_module  # noqa: E402
from jovay.sequencer import sequencer as sequencer_module  # noqa: E402
from jovay.sequencer.sequencer import Sequencer  # noqa: E402
from jovay.state.overlay import StateOverlay  # noqa: E402
from jovay.state.smt import SparseMerkleTree  # noqa: E402
from jovay.stf import block as block_module  # noqa: E402
from jovay.storage import chain as chain_module  # noqa: E402

Times = dict[str, list[float]]  # phase -> [thread CPU s, process CPU s]


class Clock:
    """Accumulates CPU time per phase; nested phases are subtracted from their parent (per thread)."""

    def __init__(self) -> None:
        self.times: Times = defaultdict(lambda: [0.0, 0.0])
        self._local = threading.local()

    @property
    def _stack(self) -> list[tuple[str, float, float]]:
        stack = getattr(self._local, "stack", None)
        if stack is None:
            stack = self._local.stack = []
        return stack

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self.start(phase)
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop()

        return timed

    def start(self, phase: str) -> None:
        self._stack.append((phase, time.thread_time(), time.process_time()))

    def stop(self) -> None:
        phase, thread0, process0 = self._stack.pop()
        thread, process = time.thread_time() - thread0, time.process_time() - process0
        self.times[phase][0] += thread
        self.times[phase][1] += process
        if self._stack:  # the parent's own time excludes this phase
            parent = self._stack[-1][0]
            self.times[parent][0] -= thread
            self.times[parent][1] -= process


class GcTimer:
    """Process CPU time spent in garbage collection passes (all generations), and their count."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.passes = 0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.thread_time()
        else:
            self.seconds += time.thread_time() - self._started
            self.passes += 1


def instrument(seq: Sequencer, clock: Clock) -> None:
    """Wrap the functions of each phase where their callers look them up."""
    chain = seq.chain
    block_module.build_receipts = clock.wrap("receipts + blooms", block_module.build_receipts)
    block_module.combined_bloom = clock.wrap("header bloom", block_module.combined_bloom)
    block_module.encode_receipt = clock.wrap("receipt RLP (for the root)", block_module.encode_receipt)
    block_module.receipts_root = clock.wrap("receipts root", block_module.receipts_root)
    block_module.transactions_root = clock.wrap("transactions root", block_module.transactions_root)
    chain_module.seal_block = clock.wrap("seal_block, rest", chain_module.seal_block)
    sequencer_module.fill_from_queues = clock.wrap("fill", sequencer_module.fill_from_queues)
    SparseMerkleTree.update_many = clock.wrap("tree update", _ORIGINAL_UPDATE)  # type: ignore[method-assign]
    chain._store_block = clock.wrap("block write", chain._store_block)  # type: ignore[method-assign]
    seq.mempool.snapshot_by_sender = clock.wrap(  # type: ignore[method-assign]
        "pool snapshot", seq.mempool.snapshot_by_sender
    )
    seq.mempool.remove = clock.wrap("pool remove", seq.mempool.remove)  # type: ignore[method-assign]
    seq.mempool.add = clock.wrap("pool add", seq.mempool.add)  # type: ignore[method-assign]
    admission_module.check_admission = clock.wrap("admission checks", admission_module.check_admission)
    seq.produce_block = clock.wrap("produce_block, rest", seq.produce_block)  # type: ignore[method-assign]
    seq.submit_many = clock.wrap("submit_many, rest", seq.submit_many)  # type: ignore[method-assign]


def run(seq: Sequencer, raws: list[bytes], clock: Clock) -> tuple[int, int]:
    """Admit every transaction serially, then seal until the pool is empty; (txs sealed, blocks)."""
    chain_id = seq.chain.genesis.chain_id
    env = seq._admission_env()
    blocks = 0
    for i in range(0, len(raws), bench.SUBMIT_BATCH):
        clock.start("decode + recovery")
        decoded = decode_many(raws[i : i + bench.SUBMIT_BATCH], chain_id)
        clock.stop()
        state = StateOverlay(seq.chain.store.leaf)
        for signed in decoded:
            assert type(signed) is SignedTx, signed
            nonce = admission_module.check_admission(state, env, signed)
            seq.mempool.add(signed, nonce)
    while len(seq.mempool):
        before = seq.chain.head.number
        seq.produce_block()
        blocks += seq.chain.head.number - before
    return len(raws), blocks


def run_threaded(seq: Sequencer, raws: list[bytes]) -> tuple[int, int]:
    """sequencer_tps.py's measurement: submit_many batches while the sequencer thread seals."""
    result = bench.measure(seq, raws, "x", timeout_s=600)
    return result.txs, result.blocks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--kinds", default="eth,token", help="comma-separated, run in this order")
    parser.add_argument(
        "--threaded",
        action="store_true",
        help="sequencer_tps.py's threaded path (thread CPU per phase; decoding then runs on the pool)",
    )
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    kinds = args.kinds.split(",")
    per_kind: dict[str, list[dict[str, tuple[float, float]]]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        seq = bench.new_sequencer(Path(tmp), keys)
        bench.setup_token(seq, keys)
        for _ in range(args.repeats):
            for kind in kinds:
                raws = bench.workload(seq, keys, kind)
                clock, gc_timer = Clock(), GcTimer()
                instrument(seq, clock)
                gc.callbacks.append(gc_timer)
                thread0, process0 = time.thread_time(), time.process_time()
                txs, blocks = run_threaded(seq, raws) if args.threaded else run(seq, raws, clock)
                thread, process = time.thread_time() - thread0, time.process_time() - process0
                gc.callbacks.remove(gc_timer)
                uninstrument(seq)
                row = {phase: (t / txs * 1e6, p / txs * 1e6) for phase, (t, p) in clock.times.items()}
                row["GC (inside the phases above)"] = (gc_timer.seconds / txs * 1e6, 0.0)
                row["TOTAL"] = (thread / txs * 1e6, process / txs * 1e6)
                per_kind[kind].append(row)
                print(
                    f"{kind}: {txs} txs in {blocks} blocks, {gc_timer.passes} GC passes; "
                    f"{thread / txs * 1e6:.1f} us main-thread CPU per tx, {process / txs * 1e6:.1f} process",
                    flush=True,
                )
        seq.chain.close()
    phases = list(dict.fromkeys(p for rows in per_kind.values() for row in rows for p in row))
    header = "".join(f"{kind + ' thr':>11s}{kind + ' proc':>11s}" for kind in kinds)
    print(f"\nmedian us per tx over {args.repeats} run(s), {args.accounts} accounts\n{'phase':32s}{header}")
    for phase in phases:
        cells = ""
        for kind in kinds:
            rows = per_kind[kind]
            thread = statistics.median(row.get(phase, (0.0, 0.0))[0] for row in rows)
            process = statistics.median(row.get(phase, (0.0, 0.0))[1] for row in rows)
            cells += f"{thread:11.1f}{process:11.1f}"
        print(f"{phase:32s}{cells}")


_ORIGINALS: dict[str, Any] = {}
_ORIGINAL_UPDATE = SparseMerkleTree.update_many


def uninstrument(seq: Sequencer) -> None:
    """Back to the unwrapped functions (each run wraps them afresh)."""
    for module, name in _WRAPPED:
        setattr(module, name, _ORIGINALS[f"{module.__name__}.{name}"])
    SparseMerkleTree.update_many = _ORIGINAL_UPDATE  # type: ignore[method-assign]
    for obj in (seq.chain, seq.mempool, seq):
        for name in ("_store_block", "snapshot_by_sender", "remove", "add", "produce_block", "submit_many"):
            vars(obj).pop(name, None)


_WRAPPED = [
    (block_module, "build_receipts"),
    (block_module, "combined_bloom"),
    (block_module, "encode_receipt"),
    (block_module, "receipts_root"),
    (block_module, "transactions_root"),
    (chain_module, "seal_block"),
    (sequencer_module, "fill_from_queues"),
    (admission_module, "check_admission"),
]
for _module, _name in _WRAPPED:
    _ORIGINALS[f"{_module.__name__}.{_name}"] = getattr(_module, _name)


if __name__ == "__main__":
    main()
