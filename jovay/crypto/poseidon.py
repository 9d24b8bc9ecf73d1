"""circomlib's Poseidon hash over the BN254 scalar field, in pure Python.

The state commitment (docs/architecture.md, "State commitment") must equal circomlib's, so this is
circomlib's Poseidon bit for bit: x^5 S-box, 8 full rounds, circomlib's partial rounds per width, and
the round constants and MDS matrices of the Poseidon reference script (Grain LFSR), regenerated here
instead of shipping a megabyte of constants. They match circomlibjs's `poseidon_constants.json`
(tests/crypto/test_poseidon.py checks that).

For speed the rounds are evaluated in the standard optimized form (Poseidon paper, appendix B; the
form circomlibjs's `poseidon_opt.js` uses): partial-round constants are folded into one scalar per
round and the partial-round MDS multiplications are factored into sparse matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Final

FIELD_MODULUS: Final = 21888242871839275222246405745257275088548364400416034343698204186575808495617

N_ROUNDS_F: Final = 8
# circomlib's partial rounds for t = 2, 3, ... (its list goes to t = 17; we support t <= 6).
N_ROUNDS_P: Final = (56, 57, 56, 60, 60, 63)
MAX_INPUTS: Final = len(N_ROUNDS_P) - 1

_P = FIELD_MODULUS
_FIELD_BITS = 254

Matrix = list[list[int]]


# --- constants: the Poseidon reference's Grain LFSR ---------------------------------------------------


class _Grain:
    """The 80-bit Grain LFSR of the reference `generate_parameters_grain.sage`, self-shrinking."""

    def __init__(self, t: int, rounds_f: int, rounds_p: int) -> None:
        # field = 1 (prime field), sbox = 0 (x^alpha), field size, t, R_F, R_P, then 30 ones.
        init = f"{1:02b}{0:04b}{_FIELD_BITS:012b}{t:012b}{rounds_f:010b}{rounds_p:010b}" + "1" * 30
        self._bits = [int(c) for c in init]
        self._pos = 0  # index of the oldest bit in the circular buffer
        for _ in range(160):
            self._step()

    def _step(self) -> int:
        s, i = self._bits, self._pos
        bit = s[(i + 62) % 80] ^ s[(i + 51) % 80] ^ s[(i + 38) % 80] ^ s[(i + 23) % 80] ^ s[(i + 13) % 80] ^ s[i]
        s[i] = bit  # the oldest bit drops out, the new one becomes the newest
        self._pos = (i + 1) % 80
        return bit

    def bits(self, n: int) -> int:
        """n output bits, most significant first (each output: a pair (1, b) gives b, (0, _) none)."""
        value = 0
        step = self._step
        for _ in range(n):
            while not step():
                step()
            value = (value << 1) | step()
        return value


def reference_constants(t: int) -> tuple[list[int], Matrix]:
    """Round constants (flat, (R_F + R_P) * t) and MDS matrix for width t, as circomlib's."""
    _check_width(t)
    rounds_p = N_ROUNDS_P[t - 2]
    grain = _Grain(t, N_ROUNDS_F, rounds_p)
    constants = []
    for _ in range((N_ROUNDS_F + rounds_p) * t):
        c = grain.bits(_FIELD_BITS)
        while c >= _P:  # rejection sampling, as the reference
            c = grain.bits(_FIELD_BITS)
        constants.append(c)
    while True:  # Cauchy matrix 1 / (x_i + y_j) over 2t distinct elements (reduced, not rejected)
        xy = [grain.bits(_FIELD_BITS) % _P for _ in range(2 * t)]
        xs, ys = xy[:t], xy[t:]
        if len(set(xy)) == 2 * t and all((x + y) % _P for x in xs for y in ys):
            return constants, [[pow(x + y, -1, _P) for y in ys] for x in xs]


# --- optimized round schedule ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Schedule:
    """Poseidon for one width, rewritten for fewer multiplications; same function as the reference.

    first: constants added to the input state (round 0); full1: for full rounds 0..2, the constants
    of the next round (added after this round's mix, so each round is sbox, mix, add); pre_mix: the
    dense mix of round 3; partial: per partial round (constant added to s0 before its S-box, then the
    sparse mix (m00, row[1:], col[1:])); full2_constants: constants of full rounds 4..7; mds: the mix.
    """

    t: int
    first: tuple[int, ...]
    full1: tuple[tuple[int, ...], ...]
    pre_mix: tuple[tuple[int, ...], ...]
    partial: tuple[tuple[int, tuple[int, ...], tuple[int, ...]], ...]
    full2: tuple[tuple[int, ...], ...]
    mds: tuple[tuple[int, ...], ...]


def _mat_vec(m: Matrix, v: Sequence[int]) -> list[int]:
    return [sum(a * b for a, b in zip(row, v, strict=True)) % _P for row in m]


def _mat_mul(a: Matrix, b: Matrix) -> Matrix:
    cols = list(zip(*b, strict=True))
    return [[sum(x * y for x, y in zip(row, col, strict=True)) % _P for col in cols] for row in a]


def _mat_inv(m: Matrix) -> Matrix:
    """Gauss-Jordan inverse mod p (the blocks inverted here are MDS submatrices: invertible)."""
    n = len(m)
    aug = [list(row) + [int(i == j) for j in range(n)] for i, row in enumerate(m)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if aug[r][col])
        aug[col], aug[pivot] = aug[pivot], aug[col]
        inv = pow(aug[col][col], -1, _P)
        aug[col] = [x * inv % _P for x in aug[col]]
        for r in range(n):
            if r != col and aug[r][col]:
                f = aug[r][col]
                aug[r] = [(x - f * y) % _P for x, y in zip(aug[r], aug[col], strict=True)]
    return [row[n:] for row in aug]


def _fold_partial_constants(c: list[list[int]], m: Matrix, first_p: int, rounds_p: int) -> list[int]:
    """Move partial-round constants of s1.. forward (they commute with the s0-only S-box) into the
    next round, through its mix; the last carry lands in the first full round after. In place on c;
    returns the scalar each partial round adds to s0."""
    scalars = []
    for r in range(first_p, first_p + rounds_p):
        scalars.append(c[r][0])
        carry = _mat_vec(m, [0, *c[r][1:]])
        c[r + 1] = [(x + y) % _P for x, y in zip(c[r + 1], carry, strict=True)]
    return scalars


def _factor_partial_mixes(m: Matrix, rounds_p: int) -> tuple[Matrix, list[Matrix]]:
    """Write each partial mix A as sparse S @ diag(1, Â) and push diag(1, Â) (it commutes with the
    s0-only S-box and constant) into the previous round's mix. Returns (dense mix of the last full
    round before the partial rounds, sparse mixes in round order)."""
    sparse: list[Matrix] = []
    a = m
    for _ in range(rounds_p):
        hat = [row[1:] for row in a[1:]]
        row0 = _mat_vec([list(col) for col in zip(*_mat_inv(hat), strict=True)], a[0][1:])
        n = len(a)
        s = [[a[0][0], *row0]] + [[a[i][0]] + [int(i == j) for j in range(1, n)] for i in range(1, n)]
        sparse.append(s)
        d = [[1] + [0] * (n - 1)] + [[0, *row] for row in hat]
        a = _mat_mul(d, m)
    sparse.reverse()
    return a, sparse


@cache
def _schedule(t: int) -> _Schedule:
    flat, m = reference_constants(t)
    rounds_p = N_ROUNDS_P[t - 2]
    half = N_ROUNDS_F // 2
    c = [flat[r * t : (r + 1) * t] for r in range(N_ROUNDS_F + rounds_p)]
    scalars = _fold_partial_constants(c, m, half, rounds_p)
    pre_mix, sparse = _factor_partial_mixes(m, rounds_p)
    return _Schedule(
        t=t,
        first=tuple(c[0]),
        full1=tuple(tuple(c[r]) for r in range(1, half)),
        pre_mix=tuple(map(tuple, pre_mix)),
        partial=tuple(
            (k, tuple(s[0]), tuple(row[0] for row in s[1:])) for k, s in zip(scalars, sparse, strict=True)
        ),
        full2=tuple(tuple(c[r]) for r in range(half + rounds_p, N_ROUNDS_F + rounds_p)),
        mds=tuple(map(tuple, m)),
    )


# --- evaluation --------------------------------------------------------------------------------------


def _check_width(t: int) -> None:
    if not 2 <= t <= len(N_ROUNDS_P) + 1:
        raise ValueError(f"poseidon takes 1..{MAX_INPUTS} inputs, got {t - 1}")


def _check_input(x: int) -> None:
    if not 0 <= x < _P:
        raise ValueError(f"poseidon input out of field range [0, p): {x}")


def _full_round(state: list[int], mix: tuple[tuple[int, ...], ...]) -> list[int]:
    p = _P
    sboxed = []
    for x in state:
        x2 = x * x % p
        sboxed.append(x2 * x2 * x % p)
    return [sum(a * b for a, b in zip(row, sboxed, strict=True)) % p for row in mix]


def _permute(s: _Schedule, state: list[int]) -> int:
    """Generic width; returns state[0] after the permutation."""
    p = _P
    state = [x + c for x, c in zip(state, s.first, strict=True)]
    for consts in s.full1:
        state = [x + c for x, c in zip(_full_round(state, s.mds), consts, strict=True)]
    state = _full_round(state, s.pre_mix)
    for k, row, col in s.partial:
        x = state[0] + k
        x2 = x * x % p
        x = x2 * x2 * x % p
        new0 = sum(a * b for a, b in zip(row, [x, *state[1:]], strict=False)) % p
        state = [new0] + [(y + c * x) % p for y, c in zip(state[1:], col, strict=True)]
    for consts in s.full2[:-1]:
        state = _full_round([x + c for x, c in zip(state, consts, strict=True)], s.mds)
    sboxed = []
    for x, c in zip(state, s.full2[-1], strict=True):
        x += c
        x2 = x * x % p
        sboxed.append(x2 * x2 * x % p)
    return sum(a * b for a, b in zip(s.mds[0], sboxed, strict=True)) % p


def poseidon(inputs: Sequence[int]) -> int:
    """circomlib `poseidon(inputs)` for 1..5 field elements (width t = len(inputs) + 1)."""
    n = len(inputs)
    _check_width(n + 1)
    for x in inputs:
        _check_input(x)
    if n == 2:
        return _poseidon2(inputs[0], inputs[1])
    if n == 3:
        return _poseidon3(inputs[0], inputs[1], inputs[2])
    return _permute(_schedule(n + 1), [0, *inputs])


def poseidon2(a: int, b: int) -> int:
    """poseidon([a, b]): the tree's inner-node hash, unrolled for speed."""
    _check_input(a)
    _check_input(b)
    return _poseidon2(a, b)


def poseidon3(a: int, b: int, c: int) -> int:
    """poseidon([a, b, c]): the tree's leaf hash, unrolled for speed."""
    _check_input(a)
    _check_input(b)
    _check_input(c)
    return _poseidon3(a, b, c)


def _poseidon2(a: int, b: int) -> int:
    s = _schedule(3)
    p = _P
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = s.mds
    c0, c1, c2 = s.first
    x0, x1, x2 = c0, a + c1, b + c2
    for c0, c1, c2 in s.full1:
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        y = x1 * x1 % p
        x1 = y * y * x1 % p
        y = x2 * x2 % p
        x2 = y * y * x2 % p
        x0, x1, x2 = (
            (m00 * x0 + m01 * x1 + m02 * x2) % p + c0,
            (m10 * x0 + m11 * x1 + m12 * x2) % p + c1,
            (m20 * x0 + m21 * x1 + m22 * x2) % p + c2,
        )
    y = x0 * x0 % p
    x0 = y * y * x0 % p
    y = x1 * x1 % p
    x1 = y * y * x1 % p
    y = x2 * x2 % p
    x2 = y * y * x2 % p
    (q00, q01, q02), (q10, q11, q12), (q20, q21, q22) = s.pre_mix
    x0, x1, x2 = (
        (q00 * x0 + q01 * x1 + q02 * x2) % p,
        (q10 * x0 + q11 * x1 + q12 * x2) % p,
        (q20 * x0 + q21 * x1 + q22 * x2) % p,
    )
    for k, (r0, r1, r2), (w1, w2) in s.partial:
        x0 += k
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        x0, x1, x2 = (r0 * x0 + r1 * x1 + r2 * x2) % p, (x1 + w1 * x0) % p, (x2 + w2 * x0) % p
    for c0, c1, c2 in s.full2:
        x0 += c0
        x1 += c1
        x2 += c2
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        y = x1 * x1 % p
        x1 = y * y * x1 % p
        y = x2 * x2 % p
        x2 = y * y * x2 % p
        x0, x1, x2 = (
            (m00 * x0 + m01 * x1 + m02 * x2) % p,
            (m10 * x0 + m11 * x1 + m12 * x2) % p,
            (m20 * x0 + m21 * x1 + m22 * x2) % p,
        )
    return x0


def _poseidon3(a: int, b: int, c: int) -> int:
    return _permute(_schedule(4), [0, a, b, c])
