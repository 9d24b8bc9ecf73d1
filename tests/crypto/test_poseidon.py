"""Poseidon equals circomlibjs's: constants, outputs of every arity, and the fast paths."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.crypto import poseidon as poseidon_module
from jovay.crypto.poseidon import (
    FIELD_MODULUS,
    N_ROUNDS_F,
    N_ROUNDS_P,
    poseidon,
    poseidon2,
    poseidon3,
    reference_constants,
)

ROOT = Path(__file__).resolve().parents[2]
CIRCOMLIBJS = ROOT / "node_modules" / "circomlibjs"
VECTOR_SCRIPT = ROOT / "tests" / "vectors" / "gen_circomlib_vectors.mjs"
P = FIELD_MODULUS

needs_circomlibjs = pytest.mark.skipif(
    not CIRCOMLIBJS.is_dir() or shutil.which("node") is None,
    reason="circomlibjs reference vectors need node and node_modules/circomlibjs (run `npm ci`)",
)


@cache
def circomlib_vectors() -> dict[str, Any]:
    out = subprocess.run(
        ["node", str(VECTOR_SCRIPT)], cwd=ROOT, check=True, capture_output=True, text=True, timeout=120
    )
    return json.loads(out.stdout)


@cache
def cached_constants(t: int) -> tuple[list[int], list[list[int]]]:
    return reference_constants(t)


def plain_poseidon(inputs: list[int]) -> int:
    """The unoptimized reference (circomlibjs poseidon_reference.js), to check the optimized rounds."""
    t = len(inputs) + 1
    constants, mds = cached_constants(t)
    rounds_p = N_ROUNDS_P[t - 2]
    state = [0, *inputs]
    for r in range(N_ROUNDS_F + rounds_p):
        state = [(x + constants[r * t + i]) % P for i, x in enumerate(state)]
        if r < N_ROUNDS_F // 2 or r >= N_ROUNDS_F // 2 + rounds_p:
            state = [pow(x, 5, P) for x in state]
        else:
            state[0] = pow(state[0], 5, P)
        state = [sum(m * x for m, x in zip(row, state, strict=True)) % P for row in mds]
    return state[0]


def test_known_value_without_node() -> None:
    # circomlib's test vector for poseidon([1, 2]).
    assert poseidon([1, 2]) == 7853200120776062878684798364095072458815029376092732009249414926327459813530
    assert poseidon2(1, 2) == poseidon([1, 2])


@needs_circomlibjs
@pytest.mark.parametrize("t", range(2, 7))
def test_grain_constants_equal_circomlib_json(t: int) -> None:
    data = json.loads((CIRCOMLIBJS / "src" / "poseidon_constants.json").read_text())
    constants, mds = reference_constants(t)
    assert constants == [int(c, 16) for c in data["C"][t - 2]]
    assert mds == [[int(m, 16) for m in row] for row in data["M"][t - 2]]


@needs_circomlibjs
def test_outputs_equal_circomlibjs() -> None:
    vectors = circomlib_vectors()["poseidon"]
    assert {len(v["inputs"]) for v in vectors} == {1, 2, 3, 4, 5}
    for vector in vectors:
        inputs = [int(x) for x in vector["inputs"]]
        assert poseidon(inputs) == int(vector["output"]), inputs
        assert plain_poseidon(inputs) == int(vector["output"]), inputs


@needs_circomlibjs
def test_fast_paths_on_circomlibjs_vectors() -> None:
    for vector in circomlib_vectors()["poseidon"]:
        inputs = [int(x) for x in vector["inputs"]]
        if len(inputs) == 2:
            assert poseidon2(*inputs) == int(vector["output"])
        if len(inputs) == 3:
            assert poseidon3(*inputs) == int(vector["output"])


field = st.integers(min_value=0, max_value=P - 1)


@settings(max_examples=25, deadline=None)
@given(st.lists(field, min_size=1, max_size=5))
def test_optimized_rounds_equal_reference_rounds(inputs: list[int]) -> None:
    expected = plain_poseidon(inputs)
    assert poseidon(inputs) == expected
    schedule = poseidon_module._schedule(len(inputs) + 1)
    assert poseidon_module._permute(schedule, [0, *inputs]) == expected


@settings(max_examples=25, deadline=None)
@given(field, field, field)
def test_unrolled_widths_equal_generic(a: int, b: int, c: int) -> None:
    assert poseidon2(a, b) == poseidon_module._permute(poseidon_module._schedule(3), [0, a, b])
    assert poseidon3(a, b, c) == poseidon_module._permute(poseidon_module._schedule(4), [0, a, b, c])


@pytest.mark.parametrize("bad", [P, P + 1, -1, 1 << 256])
def test_out_of_range_inputs_are_rejected(bad: int) -> None:
    with pytest.raises(ValueError, match="field range"):
        poseidon([1, bad])
    with pytest.raises(ValueError, match="field range"):
        poseidon2(bad, 0)
    with pytest.raises(ValueError, match="field range"):
        poseidon3(0, 0, bad)
    with pytest.raises(ValueError, match="field range"):
        poseidon([bad, 0, 0, 0, 0])


@pytest.mark.parametrize("n", [0, 6, 16])
def test_bad_arity_is_rejected(n: int) -> None:
    with pytest.raises(ValueError, match="inputs"):
        poseidon([1] * n)
    with pytest.raises(ValueError):
        reference_constants(n + 1)
