"""The native Poseidon (jovay/_native/_poseidon.pyx + poseidon.c) equals its pure twins: results,
errors, and the JOVAY_PURE=1 switch."""

from __future__ import annotations

import importlib
import itertools
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import NATIVE_AVAILABLE, pure
from jovay.crypto.poseidon import FIELD_MODULUS

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
    n = 6000
    lefts, rights = list(range(n)), list(range(n))
    attempts = []
    for _ in range(3):
        alone = time.perf_counter()
        native.hash_pairs(lefts, rights)
        alone = time.perf_counter() - alone
        pause, _ = longest_pause_during(lambda: native.hash_pairs(lefts, rights))
        attempts.append((pause, alone))
        if pause < alone / 3:
            return
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
