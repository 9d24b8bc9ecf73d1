"""The native Poseidon (jovay/_native/_poseidon.pyx + poseidon.c) equals its pure twins: results,
errors, and the JOVAY_PURE=1 switch; its batch path gives the same results with the AVX-512 IFMA kernel
on and off (JOVAY_POSEIDON_SIMD, `set_simd`)."""

from __future__ import annotations

import importlib
import itertools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import NATIVE_AVAILABLE, pure
from jovay.crypto.poseidon import FIELD_MODULUS
from tests.crypto.test_poseidon import circomlib_vectors, needs_circomlibjs

ROOT = Path(__file__).resolve().parents[2]
P = FIELD_MODULUS
EDGES = (0, 1, P - 1)
BAD_INPUTS = (P, P + 1, -1, 1 << 256, (1 << 300) + 5, -(1 << 300))
KNOWN_1_2 = 7853200120776062878684798364095072458815029376092732009249414926327459813530

needs_native = pytest.mark.skipif(
    not NATIVE_AVAILABLE,
    reason="jovay._native._poseidon is not built: `pip install -e .` builds it (needs Cython and gcc)",
)

field = st.integers(min_value=0, max_value=P - 1)
field_or_edge = st.one_of(field, st.sampled_from(EDGES))


@pytest.fixture(scope="module")
def native() -> ModuleType:
    return importlib.import_module("jovay._native._poseidon")


def ifma_available() -> bool:
    return NATIVE_AVAILABLE and bool(importlib.import_module("jovay._native._poseidon").simd_available())


needs_ifma = pytest.mark.skipif(
    not ifma_available(), reason="this CPU (or build) has no AVX-512 IFMA: the vector kernel cannot run here"
)
# The batch path's two kernels: each test taking `kernel` runs once per kernel (the vector one skips
# without IFMA).
KERNELS = [pytest.param(False, id="scalar"), pytest.param(True, id="ifma", marks=needs_ifma)]


@pytest.fixture(params=KERNELS)
def kernel(request: pytest.FixtureRequest, native: ModuleType) -> Iterator[bool]:
    """Batches run on the scalar loop or the IFMA kernel for the test, as the parameter says."""
    before = native.simd_enabled()
    assert native.set_simd(request.param) == request.param
    yield request.param
    native.set_simd(before)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, Any]:
    """A call's result, or its exception's type and message: what must be identical on both sides."""
    try:
        return "ok", fn(*args)
    except Exception as exc:  # noqa: BLE001 - comparing whatever each side raises
        return type(exc), str(exc)


# --- results ----------------------------------------------------------------------------------------


@needs_native
def test_circomlib_vector(native: ModuleType) -> None:
    assert native.poseidon([1, 2]) == native.poseidon2(1, 2) == KNOWN_1_2
    assert pure.poseidon2(1, 2) == KNOWN_1_2


@needs_native
@settings(max_examples=60, deadline=None)
@given(st.lists(field_or_edge, min_size=1, max_size=5))
def test_poseidon_equals_pure_every_arity(native: ModuleType, inputs: list[int]) -> None:
    assert native.poseidon(inputs) == pure.poseidon(inputs)


@needs_native
@pytest.mark.parametrize("n", range(1, 6))
def test_poseidon_edge_values(native: ModuleType, n: int) -> None:
    combos = list(itertools.product(EDGES, repeat=n)) if n <= 3 else [(e,) * n for e in EDGES]
    combos += [tuple(EDGES[(i + j) % 3] for j in range(n)) for i in range(3)]
    for inputs in combos:
        assert native.poseidon(list(inputs)) == pure.poseidon(list(inputs)), inputs
        assert native.poseidon(inputs) == native.poseidon(list(inputs))  # any sequence


@needs_native
@settings(max_examples=60, deadline=None)
@given(field_or_edge, field_or_edge, field_or_edge)
def test_fixed_arities_equal_pure(native: ModuleType, a: int, b: int, c: int) -> None:
    assert native.poseidon2(a, b) == pure.poseidon2(a, b)
    assert native.poseidon3(a, b, c) == pure.poseidon3(a, b, c)


@needs_native
@pytest.mark.parametrize("a,b,c", list(itertools.product(EDGES, repeat=3)))
def test_fixed_arities_edge_values(native: ModuleType, a: int, b: int, c: int) -> None:
    assert native.poseidon2(a, b) == pure.poseidon2(a, b)
    assert native.poseidon3(a, b, c) == pure.poseidon3(a, b, c)


@needs_native
@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(field_or_edge, field_or_edge), max_size=8))
def test_hash_pairs_equals_poseidon2_map(native: ModuleType, pairs: list[tuple[int, int]]) -> None:
    lefts, rights = [a for a, _ in pairs], [b for _, b in pairs]
    expected = [pure.poseidon2(a, b) for a, b in pairs]
    assert native.hash_pairs(lefts, rights) == expected
    assert pure.hash_pairs(lefts, rights) == expected


@needs_native
def test_hash_pairs_bulk(native: ModuleType) -> None:
    # Many random pairs in one batch (an odd count): every product path, including the unreduced
    # values inside the S-box, sees a spread of magnitudes.
    rng = random.Random(7)
    lefts = [rng.randrange(P) for _ in range(201)]
    rights = [rng.randrange(P) for _ in range(201)]
    assert native.hash_pairs(lefts, rights) == [
        pure.poseidon2(a, b) for a, b in zip(lefts, rights, strict=True)
    ]


# --- the batch path: scalar loop and IFMA kernel ---------------------------------------------------------

# Values whose 4 x 64-bit or 5 x 52-bit limbs sit at a boundary, besides 0, 1 and p - 1.
LIMB_EDGES = tuple(
    sorted(
        {
            *EDGES,
            *(v + d for k in (52, 64, 104, 128, 156, 192, 208, 253) for v in (1 << k,) for d in (-1, 0, 1)),
            P - (1 << 52),
            P - (1 << 64),
            P - 2,
            (1 << 254) % P,
            (1 << 260) % P,
        }
    )
)
assert all(0 <= v < P for v in LIMB_EDGES)
field_or_limb_edge = st.one_of(field, st.sampled_from(LIMB_EDGES))
# Pure hashes are ~1 ms: reference results are computed once per distinct row.
_pure_results: dict[tuple[int, ...], int] = {}


def pure_hash(row: tuple[int, ...]) -> int:
    if row not in _pure_results:
        _pure_results[row] = pure.poseidon(list(row))
    return _pure_results[row]


def random_rows(arity: int, n: int, seed: int) -> list[tuple[int, ...]]:
    """n rows mixing random elements and limb-boundary values."""
    rng = random.Random(seed)
    return [
        tuple(rng.choice(LIMB_EDGES) if rng.random() < 0.3 else rng.randrange(P) for _ in range(arity))
        for _ in range(n)
    ]


@needs_native
@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5).flatmap(lambda k: st.lists(st.tuples(*[field_or_limb_edge] * k), max_size=40)))
def test_batches_equal_pure_on_both_kernels(native: ModuleType, rows: list[tuple[int, ...]]) -> None:
    expected = [pure_hash(row) for row in rows]
    before = native.simd_enabled()
    try:
        for simd in (False, True) if native.simd_available() else (False,):
            native.set_simd(simd)
            assert native.hash_many(rows) == expected, f"simd={simd}"
    finally:
        native.set_simd(before)


@needs_native
@pytest.mark.parametrize("arity", range(1, 6))
def test_every_batch_length_equals_pure(native: ModuleType, kernel: bool, arity: int) -> None:
    # 0..40 hashes: whole 8-lane blocks plus every tail length (tails run on the scalar loop or as a
    # padded block), each result checked against the pure reference.
    rows = random_rows(arity, 40, seed=arity)
    expected = [pure_hash(row) for row in rows]
    for n in range(41):
        assert native.hash_many(rows[:n]) == expected[:n], (arity, n)


@needs_native
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("n", [128, 131, 203, 1000])
def test_threaded_batches_equal_single_hashes(native: ModuleType, kernel: bool, threads: int, n: int) -> None:
    # Large batches are split over threads (in whole 8-lane blocks when the kernel runs); every share
    # must land in its place. Checked against one-at-a-time native hashes (equal to pure above).
    rng = random.Random(n * 10 + threads)
    lefts = [rng.choice(LIMB_EDGES) if i % 7 == 0 else rng.randrange(P) for i in range(n)]
    rights = [rng.randrange(P) for _ in range(n)]
    before = native.hash_threads()
    native.set_hash_threads(threads)
    try:
        pairs = list(zip(lefts, rights, strict=True))
        assert native.hash_pairs(lefts, rights) == [native.poseidon2(a, b) for a, b in pairs]
        assert native.hash_leaves(lefts, rights) == [native.poseidon3(a, b, 1) for a, b in pairs]
        rows = [(a, b, a, b, 7) for a, b in pairs]
        assert native.hash_many(rows) == [native.poseidon(list(row)) for row in rows]
    finally:
        native.set_hash_threads(before)


@needs_native
def test_known_value_through_every_batch_path(native: ModuleType, kernel: bool) -> None:
    for n in (1, 5, 8, 9, 16, 300):
        assert native.hash_pairs([1] * n, [2] * n) == [KNOWN_1_2] * n
        assert native.hash_many([(1, 2)] * n) == [KNOWN_1_2] * n


@needs_native
@needs_circomlibjs
def test_circomlibjs_vectors_through_batches(native: ModuleType, kernel: bool) -> None:
    vectors = circomlib_vectors()["poseidon"]
    for arity in range(1, 6):
        cases = [
            ([int(x) for x in v["inputs"]], int(v["output"])) for v in vectors if len(v["inputs"]) == arity
        ]
        assert cases, arity
        rows = [inputs for inputs, _ in cases] * 9  # at least one whole 8-lane block
        assert native.hash_many(rows) == [output for _, output in cases] * 9


@needs_native
def test_hash_many_rejects_bad_rows(native: ModuleType) -> None:
    with pytest.raises(ValueError, match="rows of one length"):
        native.hash_many([(1, 2), (1, 2, 3)])
    with pytest.raises(ValueError, match="1..5 inputs"):
        native.hash_many([(1,) * 6])
    with pytest.raises(ValueError, match="out of field range"):
        native.hash_many([(1, 2)] * 9 + [(1, P)])
    with pytest.raises(ValueError, match="at least 1"):
        native.set_hash_threads(0)
    assert native.hash_many([]) == []


@needs_native
def test_simd_switch(native: ModuleType) -> None:
    before = native.simd_enabled()
    try:
        assert native.set_simd(False) is False and native.simd_enabled() is False
        assert native.set_simd(True) is native.simd_available() is native.simd_enabled()
    finally:
        native.set_simd(before)


@needs_native
@pytest.mark.parametrize("env, expected", [("0", False), ("1", None), (None, None)])
def test_simd_environment_switch(env: str | None, expected: bool | None) -> None:
    # JOVAY_POSEIDON_SIMD=0 keeps batches on the scalar loop; otherwise the kernel runs where available.
    code = "from jovay._native import _poseidon as n; print(n.simd_enabled(), n.simd_available())"
    environ = {k: v for k, v in os.environ.items() if k != "JOVAY_POSEIDON_SIMD"}
    if env is not None:
        environ["JOVAY_POSEIDON_SIMD"] = env
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environ, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    enabled, available = done.stdout.split()
    assert enabled == str(available == "True" if expected is None else expected)


def test_pure_twins_are_python_functions() -> None:
    # jovay.crypto.poseidon may rebind its names to the native functions; the twins must stay pure.
    for fn in (pure.poseidon, pure.poseidon2, pure.poseidon3):
        assert fn.__module__ == "jovay.crypto.poseidon"


# --- errors -----------------------------------------------------------------------------------------


@needs_native
@pytest.mark.parametrize("bad", [*BAD_INPUTS, "1", None])
def test_bad_inputs_raise_identically(native: ModuleType, bad: Any) -> None:
    for n in range(1, 6):
        for pos in range(n):
            inputs = [1] * n
            inputs[pos] = bad
            assert outcome(native.poseidon, inputs) == outcome(pure.poseidon, inputs)
    for a, b in ((bad, 1), (1, bad)):
        assert outcome(native.poseidon2, a, b) == outcome(pure.poseidon2, a, b)
    for a, b, c in ((bad, 1, 1), (1, bad, 1), (1, 1, bad)):
        assert outcome(native.poseidon3, a, b, c) == outcome(pure.poseidon3, a, b, c)
    for lefts, rights in (([1, bad], [2, 3]), ([1, 2], [bad, 3]), ([bad], [P])):  # first bad one wins
        assert outcome(native.hash_pairs, lefts, rights) == outcome(pure.hash_pairs, lefts, rights)
    if isinstance(bad, int):
        assert outcome(native.poseidon2, bad, 0)[0] is ValueError


@needs_native
@pytest.mark.parametrize("n", [0, 6, 16])
def test_bad_arity_raises_identically(native: ModuleType, n: int) -> None:
    kind, message = outcome(native.poseidon, [1] * n)
    assert (kind, message) == outcome(pure.poseidon, [1] * n)
    assert kind is ValueError and f"got {n}" in message


@needs_native
def test_hash_pairs_length_mismatch(native: ModuleType) -> None:
    for lefts, rights in (([1, 2], [3]), ([], [1]), ([P], [])):  # lengths are checked before values
        kind, message = outcome(native.hash_pairs, lefts, rights)
        assert (kind, message) == outcome(pure.hash_pairs, lefts, rights)
        assert kind is ValueError
    assert native.hash_pairs([], []) == pure.hash_pairs([], []) == []


@needs_native
def test_bool_inputs_hash_as_ints(native: ModuleType) -> None:
    assert native.poseidon2(True, False) == pure.poseidon2(True, False) == pure.poseidon2(1, 0)


# --- concurrency and selection ----------------------------------------------------------------------


def longest_pause_during(call: Callable[[], object]) -> tuple[float, float]:
    """Runs call() in a worker while this thread ticks; returns (longest gap between ticks during the
    call, the call's duration)."""
    span: list[float] = []

    def work() -> None:
        start = time.perf_counter()
        call()
        span.extend((start, time.perf_counter()))

    worker = threading.Thread(target=work)
    worker.start()
    ticks = []
    while worker.is_alive():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = span
    points = [start, *(t for t in ticks if start < t < end), end]
    return max(b - a for a, b in zip(points, points[1:], strict=False)), end - start


@needs_native
def test_hashing_releases_the_gil(native: ModuleType) -> None:
    # This thread keeps ticking while a worker hashes a big batch. Were the GIL held through the C
    # call, the ticks would stop for the whole call (as long as the call alone); released, they pause
    # only when the OS schedules something else. Best of 3 attempts: a loaded machine can pause us.
    # The scalar loop: with the IFMA kernel the hashing (nogil) is as short as the int conversions
    # around it (GIL held), so the pauses would not tell the two apart. Both run in the same nogil block.
    n = 6000
    lefts, rights = list(range(n)), list(range(n))
    attempts = []
    before = native.simd_enabled()
    native.set_simd(False)
    try:
        for _ in range(3):
            alone = time.perf_counter()
            native.hash_pairs(lefts, rights)
            alone = time.perf_counter() - alone
            pause, _ = longest_pause_during(lambda: native.hash_pairs(lefts, rights))
            attempts.append((pause, alone))
            if pause < alone / 3:
                return
    finally:
        native.set_simd(before)
    raise AssertionError(f"this thread stalled through the native call: (pause, call alone) = {attempts}")


def run_python(code: str, pure_env: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JOVAY_PURE"}
    if pure_env is not None:
        env["JOVAY_PURE"] = pure_env
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


SELECTED = "from jovay._native import poseidon_impl; print(poseidon_impl().__name__)"


def test_jovay_pure_selects_the_pure_twins() -> None:
    assert run_python(SELECTED, "1") == "jovay._native.pure"


@needs_native
def test_native_is_selected_by_default() -> None:
    assert run_python(SELECTED, None) == "jovay._native._poseidon"
    assert run_python(SELECTED, "0") == "jovay._native._poseidon"


@pytest.mark.parametrize("pure_env", ["1", None])
@pytest.mark.parametrize(
    "first_import", ["jovay._native.pure", "jovay.crypto.poseidon", "jovay._native", "jovay.state.smt"]
)
def test_any_import_order_gives_pure_twins_and_working_hashes(
    first_import: str, pure_env: str | None
) -> None:
    # jovay.crypto.poseidon and jovay._native import each other's modules lazily; none may see the
    # other half-built, whichever is imported first.
    code = (
        f"import {first_import}\n"
        "from jovay._native import poseidon_impl, pure\n"
        "from jovay.crypto import poseidon\n"
        "assert all(f.__module__ == 'jovay.crypto.poseidon' for f in (pure.poseidon, pure.poseidon2))\n"
        f"assert poseidon.poseidon2(1, 2) == poseidon_impl().poseidon2(1, 2) == {KNOWN_1_2}\n"
        "print('ok')\n"
    )
    assert run_python(code, pure_env) == "ok"
