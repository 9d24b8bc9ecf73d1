"""Poseidon: the pure-Python reference against the native extension, on the same inputs.

Times poseidon2 (tree inner node), poseidon3 (tree leaf) and hash_pairs (a batch of poseidon2, per
pair) in each implementation: every run hashes the same seeded random field elements, the figure is
the median over runs in µs per hash. Prints pure vs native and the ratio; writes
benchmarks/results/poseidon_native.json.

    .venv/bin/python benchmarks/poseidon_native.py [--inputs 200] [--repeats 7]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    inputs = random_inputs(args.inputs, seed=2611)
    native: Any = importlib.import_module("jovay._native._poseidon") if NATIVE_AVAILABLE else None
    if native is None:
        print("native extension not built: pure-Python figures only (pip install -e . builds it)")

    results: dict[str, dict[str, float | None]] = {}
    for name, workload in WORKLOADS.items():
        pure_us = median_us(workload, pure, inputs, args.repeats, 1)
        native_us = median_us(workload, native, inputs, args.repeats, NATIVE_PASSES) if native else None
        ratio = pure_us / native_us if native_us else None
        results[name] = {"pure_us": pure_us, "native_us": native_us, "speedup": ratio}
        native_text = f"native {native_us:7.2f} µs  ({ratio:5.1f}x)" if native_us and ratio else "native -"
        print(f"{name:10s} pure {pure_us:7.1f} µs  {native_text}  per hash", flush=True)

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
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
