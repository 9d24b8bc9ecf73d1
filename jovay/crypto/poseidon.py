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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import compress
from typing import Final

FIELD_MODULUS: Final = 21888242871839275222246405745257275088548364400416034343698204186575808495617

N_ROUNDS_F: Final = 8
# circomlib's partial rounds for t = 2..6 (its list goes on to t = 17; the state needs 5 inputs at most).
N_ROUNDS_P: Final = (56, 57, 56, 60, 60)
MAX_INPUTS: Final = len(N_ROUNDS_P)

_P = FIELD_MODULUS
_FIELD_BITS = 254

Matrix = list[list[int]]


# --- constants: the Poseidon reference's Grain LFSR ---------------------------------------------------


_TAPS = (62, 51, 38, 23, 13, 0)  # b[n + 80] = xor of b[n + tap]
_SPREAD = 16  # the recurrence also holds with every lag times 2^k (f(x)^(2^k) = f(x^(2^k)) over GF(2))
_TO_SELECTOR = bytes.maketrans(b"01", b"\0\1")


def _advance(window: int, spread: int) -> tuple[int, str]:
    """Next 18 * spread bits of the recurrence with lags times spread; window bit j = oldest + j."""
    width = 18 * spread  # 80 - 62: the newest bits depend only on bits already in the window
    new = 0
    for tap in _TAPS:
        new ^= window >> (tap * spread)
    new &= (1 << width) - 1
    return window >> width | new << (62 * spread), f"{new:0{width}b}"[::-1]


def _lfsr_blocks(init: str) -> Iterator[str]:
    """The LFSR's bits after its 80 initial ones, oldest first, as '0'/'1' strings: 18 at a time
    until 80 * _SPREAD bits exist, then 18 * _SPREAD at a time."""
    window, seq = int(init[::-1], 2), init
    while len(seq) < 80 * _SPREAD:
        window, block = _advance(window, 1)
        seq += block
    yield seq[80 : 80 * _SPREAD]
    window = int(seq[: 80 * _SPREAD][::-1], 2)
    while True:
        window, block = _advance(window, _SPREAD)
        yield block


class _Grain:
    """The Grain LFSR of the reference `generate_parameters_grain.sage`: 80 bits initialised from the
    parameters, 160 bits discarded, then self-shrinking (of each bit pair (a, b), b is output iff a)."""

    def __init__(self, t: int, rounds_f: int, rounds_p: int) -> None:
        # field = 1 (prime field), sbox = 0 (x^alpha), field size, t, R_F, R_P, then 30 ones.
        init = f"{1:02b}{0:04b}{_FIELD_BITS:012b}{t:012b}{rounds_f:010b}{rounds_p:010b}" + "1" * 30
        self._blocks = _lfsr_blocks(init)
        self._raw = next(self._blocks).encode()[160:]  # the first block holds 1200 bits
        self._out = b""

    def _refill(self) -> None:
        raw = self._raw + next(self._blocks).encode()
        even = len(raw) & ~1
        self._raw = raw[even:]
        self._out += bytes(compress(raw[1:even:2], raw[0:even:2].translate(_TO_SELECTOR)))

    def bits(self, n: int) -> int:
        """The next n output bits as an integer, most significant first."""
        while len(self._out) < n:
            self._refill()
        value = int(self._out[:n], 2)
        self._out = self._out[n:]
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
    """Poseidon of one width in optimized form; the same function as the reference.

    Every round is: add constants, S-box, mix. full1: the constants of the 4 first full rounds (mixes
    mds, mds, mds, pre_mix); partial: per partial round (k, row_0..row_{t-1}, col_1..col_{t-1}): add k
    to s0, S-box s0, then s0 = row . s and s_i += col_i * s0_old; full2: constants of the last 4 full
    rounds (mix mds).
    """

    t: int
    full1: tuple[tuple[int, ...], ...]
    pre_mix: tuple[tuple[int, ...], ...]
    partial: tuple[tuple[int, ...], ...]
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
        full1=tuple(tuple(c[r]) for r in range(half)),
        pre_mix=tuple(map(tuple, pre_mix)),
        partial=tuple((k, *s[0], *(row[0] for row in s[1:])) for k, s in zip(scalars, sparse, strict=True)),
        full2=tuple(tuple(c[r]) for r in range(half + rounds_p, N_ROUNDS_F + rounds_p)),
        mds=tuple(map(tuple, m)),
    )


# --- evaluation --------------------------------------------------------------------------------------


def _check_width(t: int) -> None:
    if not 2 <= t <= MAX_INPUTS + 1:
        raise ValueError(f"poseidon takes 1..{MAX_INPUTS} inputs, got {t - 1}")


def _check_input(x: int) -> None:
    if not 0 <= x < _P:
        raise ValueError(f"poseidon input out of field range [0, p): {x}")


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


def _sbox_mix(state: list[int], mix: tuple[tuple[int, ...], ...]) -> list[int]:
    p = _P
    sboxed = []
    for x in state:
        y = x * x % p
        sboxed.append(y * y * x % p)
    return [sum(m * x for m, x in zip(row, sboxed, strict=True)) % p for row in mix]


def _permute(s: _Schedule, state: list[int]) -> int:
    """Any width; returns state[0] after the permutation. Entries of s1.. are reduced lazily."""
    p = _P
    t = s.t
    for i, consts in enumerate(s.full1):
        mix = s.pre_mix if i == len(s.full1) - 1 else s.mds
        state = _sbox_mix([x + c for x, c in zip(state, consts, strict=True)], mix)
    for rnd in s.partial:
        x = state[0] + rnd[0]
        y = x * x % p
        x = y * y * x % p
        state[0] = x
        new0 = sum(r * v for r, v in zip(rnd[1 : t + 1], state, strict=True)) % p
        state = [new0] + [v + w * x for v, w in zip(state[1:], rnd[t + 1 :], strict=True)]
    for consts in s.full2[:-1]:
        state = _sbox_mix([x + c for x, c in zip(state, consts, strict=True)], s.mds)
    return _sbox_mix([x + c for x, c in zip(state, s.full2[-1], strict=True)], s.mds[:1])[0]


def _poseidon2(a: int, b: int) -> int:
    s = _schedule(3)
    p = _P
    mds = s.mds
    (m00, m01, m02), (m10, m11, m12), (m20, m21, m22) = mds
    x0, x1, x2 = 0, a, b
    for (c0, c1, c2), ((n00, n01, n02), (n10, n11, n12), (n20, n21, n22)) in zip(
        s.full1, (mds, mds, mds, s.pre_mix), strict=True
    ):
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
            (n00 * x0 + n01 * x1 + n02 * x2) % p,
            (n10 * x0 + n11 * x1 + n12 * x2) % p,
            (n20 * x0 + n21 * x1 + n22 * x2) % p,
        )
    for k, r0, r1, r2, w1, w2 in s.partial:
        x0 += k
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        x0, x1, x2 = (r0 * x0 + r1 * x1 + r2 * x2) % p, x1 + w1 * x0, x2 + w2 * x0
    for i, (c0, c1, c2) in enumerate(s.full2):
        x0 += c0
        x1 += c1
        x2 += c2
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        y = x1 * x1 % p
        x1 = y * y * x1 % p
        y = x2 * x2 % p
        x2 = y * y * x2 % p
        if i == 3:
            break
        x0, x1, x2 = (
            (m00 * x0 + m01 * x1 + m02 * x2) % p,
            (m10 * x0 + m11 * x1 + m12 * x2) % p,
            (m20 * x0 + m21 * x1 + m22 * x2) % p,
        )
    return (m00 * x0 + m01 * x1 + m02 * x2) % p


def _poseidon3(a: int, b: int, c: int) -> int:
    s = _schedule(4)
    p = _P
    mds = s.mds
    (m00, m01, m02, m03), (m10, m11, m12, m13), (m20, m21, m22, m23), (m30, m31, m32, m33) = mds
    x0, x1, x2, x3 = 0, a, b, c
    for (c0, c1, c2, c3), (
        (n00, n01, n02, n03),
        (n10, n11, n12, n13),
        (n20, n21, n22, n23),
        (n30, n31, n32, n33),
    ) in zip(s.full1, (mds, mds, mds, s.pre_mix), strict=True):
        x0 += c0
        x1 += c1
        x2 += c2
        x3 += c3
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        y = x1 * x1 % p
        x1 = y * y * x1 % p
        y = x2 * x2 % p
        x2 = y * y * x2 % p
        y = x3 * x3 % p
        x3 = y * y * x3 % p
        x0, x1, x2, x3 = (
            (n00 * x0 + n01 * x1 + n02 * x2 + n03 * x3) % p,
            (n10 * x0 + n11 * x1 + n12 * x2 + n13 * x3) % p,
            (n20 * x0 + n21 * x1 + n22 * x2 + n23 * x3) % p,
            (n30 * x0 + n31 * x1 + n32 * x2 + n33 * x3) % p,
        )
    for k, r0, r1, r2, r3, w1, w2, w3 in s.partial:
        x0 += k
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        x0, x1, x2, x3 = (
            (r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3) % p,
            x1 + w1 * x0,
            x2 + w2 * x0,
            x3 + w3 * x0,
        )
    for i, (c0, c1, c2, c3) in enumerate(s.full2):
        x0 += c0
        x1 += c1
        x2 += c2
        x3 += c3
        y = x0 * x0 % p
        x0 = y * y * x0 % p
        y = x1 * x1 % p
        x1 = y * y * x1 % p
        y = x2 * x2 % p
        x2 = y * y * x2 % p
        y = x3 * x3 % p
        x3 = y * y * x3 % p
        if i == 3:
            break
        x0, x1, x2, x3 = (
            (m00 * x0 + m01 * x1 + m02 * x2 + m03 * x3) % p,
            (m10 * x0 + m11 * x1 + m12 * x2 + m13 * x3) % p,
            (m20 * x0 + m21 * x1 + m22 * x2 + m23 * x3) % p,
            (m30 * x0 + m31 * x1 + m32 * x2 + m33 * x3) % p,
        )
    return (m00 * x0 + m01 * x1 + m02 * x2 + m03 * x3) % p


# --- native fast path: C twins from jovay/_native unless JOVAY_PURE=1 or the extension is not built ------
from jovay._native import poseidon_impl, use_native  # noqa: E402  (last: jovay/_native reads _schedule)

pure_poseidon, pure_poseidon2, pure_poseidon3 = poseidon, poseidon2, poseidon3  # jovay/_native/pure.py's
if use_native():
    _native = poseidon_impl()
    poseidon, poseidon2, poseidon3 = _native.poseidon, _native.poseidon2, _native.poseidon3
