"""Poseidon: the pure-Python reference against the native extension, then the native batch throughput.

Part 1 times poseidon2 (tree inner node), poseidon3 (tree leaf) and hash_pairs (a batch of poseidon2,
per pair) in each implementation: every run hashes the same seeded random field elements, the figure
is the median over runs in µs per hash. Prints pure vs native and the ratio.

Part 2 times the native batch path per width (t = 3: hash_pairs, t = 4: hash_leaves), thread count
and kernel (the scalar loop, and the AVX-512 IFMA one where the CPU has it): median µs per hash of
wall time and of process CPU time (all threads; on a shared machine the CPU figure is the steadier
one), int conversions included. Writes benchmarks/results/poseidon_native.json.

    .venv/bin/python benchmarks/poseidon_native.py [--inputs 200] [--repeats 7] [--batch 4096]
                                                   [--threads 1 2] [--batch-only]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jovay._native import NATIVE_AVAILABLE, pure  # noqa: E402
from jovay.crypto.poseidon import FIELD_MODULUS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
NATIVE_PASSES = 20  # the native code is ~20x faster: more passes per run for a stable clock reading

Inputs = list[tuple[int, int, int]]
Workload = Callable[[Any, Inputs], None]


def hash2(impl: Any, inputs: Inputs) -> None:
    for a, b, _ in inputs:
        impl.poseidon2(a, b)


def hash3(impl: Any, inputs: Inputs) -> None:
    for a, b, c in inputs:
        impl.poseidon3(a, b, c)


def batch2(impl: Any, inputs: Inputs) -> None:
    impl.hash_pairs([a for a, _, _ in inputs], [b for _, b, _ in inputs])


WORKLOADS: dict[str, Workload] = {"poseidon2": hash2, "poseidon3": hash3, "hash_pairs": batch2}


def random_inputs(n: int, seed: int) -> Inputs:
    rng = random.Random(seed)
    return [
        (rng.randrange(FIELD_MODULUS), rng.randrange(FIELD_MODULUS), rng.randrange(FIELD_MODULUS))
        for _ in range(n)
    ]


def median_us(workload: Workload, impl: Any, inputs: Inputs, repeats: int, passes: int) -> float:
    """Median over runs of the time per hash (µs); a run hashes every input `passes` times."""
    per_hash = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(passes):
            workload(impl, inputs)
        per_hash.append((time.perf_counter() - start) / (passes * len(inputs)) * 1e6)
    return statistics.median(per_hash)


def batch_call(native: Any, width: int, inputs: Inputs) -> Callable[[], object]:
    """One batch of `width`-wide hashes over the inputs, as the state tree calls it."""
    firsts, seconds = [a for a, _, _ in inputs], [b for _, b, _ in inputs]
    if width == 3:
        return lambda: native.hash_pairs(firsts, seconds)
    return lambda: native.hash_leaves(firsts, seconds)


def batch_medians(call: Callable[[], object], n: int, repeats: int) -> dict[str, float]:
    """Median µs per hash over runs of one batch call: wall clock and process CPU time."""
    call()  # warm-up: builds the width's schedule
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append((time.perf_counter() - wall) / n * 1e6)
        cpus.append((time.process_time() - cpu) / n * 1e6)
    return {"wall_us": statistics.median(walls), "cpu_us": statistics.median(cpus)}


def batch_throughput(native: Any, n: int, repeats: int, thread_counts: list[int]) -> list[dict[str, Any]]:
    """Per width, thread count and kernel: µs per hash of one batch of n (see the module docstring)."""
    inputs = random_inputs(n, seed=2612)
    kernels = [False, True] if native.simd_available() else [False]
    before = (native.hash_threads(), native.simd_enabled())
    rows = []
    try:
        for width in (3, 4):
            call = batch_call(native, width, inputs)
            for threads in thread_counts:
                native.set_hash_threads(threads)
                for simd in kernels:
                    native.set_simd(simd)
                    figures = batch_medians(call, n, repeats)
                    kernel = "ifma" if simd else "scalar"
                    rows.append({"t": width, "threads": threads, "kernel": kernel, **figures})
                    print(
                        f"batch t={width} threads={threads} {kernel:6s} "
                        f"{figures['wall_us']:6.2f} µs/hash wall  {figures['cpu_us']:6.2f} µs/hash cpu",
                        flush=True,
                    )
    finally:
        native.set_hash_threads(before[0])
        native.set_simd(before[1])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4096, help="hashes per batch call (part 2)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (part 2)")
    parser.add_argument("--batch-only", action="store_true", help="skip part 1 (pure vs native)")
    args = parser.parse_args()
    inputs = random_inputs(args.inputs, seed=2611)
    native: Any = importlib.import_module("jovay._native._poseidon") if NATIVE_AVAILABLE else None
    if native is None:
        print("native extension not built: pure-Python figures only (pip install -e . builds it)")

    results: dict[str, dict[str, float | None]] = {}
    for name, workload in WORKLOADS.items() if not args.batch_only else ():
        pure_us = median_us(workload, pure, inputs, args.repeats, 1)
        native_us = median_us(workload, native, inputs, args.repeats, NATIVE_PASSES) if native else None
        ratio = pure_us / native_us if native_us else None
        results[name] = {"pure_us": pure_us, "native_us": native_us, "speedup": ratio}
        native_text = f"native {native_us:7.2f} µs  ({ratio:5.1f}x)" if native_us and ratio else "native -"
        print(f"{name:10s} pure {pure_us:7.1f} µs  {native_text}  per hash", flush=True)
    batches = batch_throughput(native, args.batch, args.repeats, args.threads) if native else []

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "poseidon_native.json").write_text(
        json.dumps(
            {
                "inputs": args.inputs,
                "repeats": args.repeats,
                "native_passes": NATIVE_PASSES,
                "machine": platform.machine(),
                "python": platform.python_version(),
                "native_available": NATIVE_AVAILABLE,
                "results_us_per_hash": results,
                "batch": args.batch,
                "simd_available": bool(native and native.simd_available()),
                "batch_us_per_hash": batches,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
