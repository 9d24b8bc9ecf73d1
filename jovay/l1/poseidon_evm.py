"""circomlib's Poseidon as hand-scheduled EVM code, generated from the Python reference's optimized form.

circomlibjs's generated hashers (`poseidonContract.createCode`) run every round with the dense MDS
matrix: t^2 multiplications per round, about 29k gas for two inputs and 45k for three. The same
function in the optimized form that jovay.crypto.poseidon evaluates (Poseidon paper, appendix B:
partial-round constants folded into one scalar, partial-round mixes factored into sparse matrices)
needs 2t - 1 multiplications per partial round, which is most rounds. This module emits that schedule
as straight-line EVM code over a symbolic stack model (every DUP/SWAP depth is computed from the model,
never written by hand), with the constants inline (PUSH32) and additions left unreduced where they
cannot overflow (`mulmod` takes any 256-bit operands). Solidity/Yul output of the same schedule is both
larger (the contract must stay under the 24,576-byte code limit) and slower.

Code size is what limits it: three inputs (t = 4) fit with the MDS matrix read from memory, four
inputs (t = 5) would not fit, so `jovay.l1.poseidon` uses circomlibjs's contract for four inputs (state
keys only; the tree hashes two and three inputs).

The hashers keep circomlibjs's ABI (`poseidon(uint256[n])` and `poseidon(bytes32[n])`, returning the
hash; inputs reduced mod p), so `contracts/Poseidon.sol` calls either implementation alike. They are
tested against the Python function and against circomlibjs's own contract (tests/l1/test_l1_smt.py).
"""

from __future__ import annotations

from collections.abc import Callable

from eth_utils import keccak

from jovay.crypto.poseidon import FIELD_MODULUS, _schedule

MAX_CODE_SIZE = 24_576  # EIP-170
GENERATED_INPUTS: tuple[int, ...] = (2, 3)

_ADD, _ADDMOD, _MULMOD, _LT, _EQ, _ISZERO, _AND, _OR, _SHR = (
    0x01,
    0x08,
    0x09,
    0x10,
    0x14,
    0x15,
    0x16,
    0x17,
    0x1C,
)
_CALLDATALOAD, _CALLDATASIZE, _CODECOPY = 0x35, 0x36, 0x39
_POP, _MLOAD, _MSTORE, _JUMPI, _JUMPDEST, _PUSH0 = 0x50, 0x51, 0x52, 0x57, 0x5B, 0x5F
_RETURN, _REVERT = 0xF3, 0xFD

Loader = Callable[[], None]
"""Pushes one constant (inline or from memory)."""


class _Asm:
    """EVM code plus a model of the stack (names, top last): DUPs and SWAPs are derived from it."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.stack: list[str] = []
        self._fresh = 0

    def fresh(self, prefix: str) -> str:
        self._fresh += 1
        return f"{prefix}#{self._fresh}"

    def depth(self, name: str) -> int:
        """1 for the top of the stack."""
        return len(self.stack) - self.stack.index(name)

    def push(self, value: int, name: str) -> None:
        if value == 0:
            self.code.append(_PUSH0)
        else:
            raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
            self.code += bytes((0x5F + len(raw),)) + raw
        self.stack.append(name)

    def op(self, opcode: int, n_in: int, out: str | None) -> None:
        self.code.append(opcode)
        if n_in:
            del self.stack[-n_in:]
        if out is not None:
            self.stack.append(out)

    def dup(self, name: str, as_name: str | None = None) -> str:
        d = self.depth(name)
        if d > 16:
            raise ValueError(f"stack too deep for DUP of {name}: {d}")
        self.code.append(0x7F + d)
        copy = as_name or self.fresh(name)
        self.stack.append(copy)
        return copy

    def swap(self, d: int) -> None:
        if not 1 <= d <= 16:
            raise ValueError(f"bad SWAP depth {d}")
        self.code.append(0x8F + d)
        self.stack[-1], self.stack[-1 - d] = self.stack[-1 - d], self.stack[-1]

    def pop(self) -> None:
        self.op(_POP, 1, None)

    def replace(self, name: str) -> None:
        """The top value takes `name`'s slot (and name); the old value is dropped."""
        top = self.stack[-1]
        d = self.depth(name)
        if d > 1:
            self.swap(d - 1)
            self.pop()
        self.stack[self.stack.index(top)] = name

    def drop(self, name: str) -> None:
        d = self.depth(name)
        if d > 1:
            self.swap(d - 1)
        self.pop()

    def rename(self, old: str, new: str) -> None:
        self.stack[self.stack.index(old)] = new


class _Poseidon:
    """Emits one hasher's runtime: state s0..s{t-1} and q live on the stack throughout."""

    def __init__(self, n_inputs: int, mds_in_memory: bool) -> None:
        self.t = n_inputs + 1
        self.n = n_inputs
        self.schedule = _schedule(self.t)
        self.mds_in_memory = mds_in_memory
        self.a = _Asm()

    def constant(self, value: int, name: str) -> None:
        self.a.push(value, name)

    def mds_entry(self, i: int, j: int) -> None:
        if self.mds_in_memory:
            self.a.push(32 * (i * self.t + j), "offset")
            self.a.op(_MLOAD, 1, "m")
        else:
            self.constant(self.schedule.mds[i][j], "m")

    def mul_term(self, load_factor: Loader, operand: str) -> str:
        """factor * operand mod q on top; `load_factor()` pushes the factor."""
        a = self.a
        a.dup("q")
        a.dup(operand)
        load_factor()
        out = a.fresh("term")
        a.op(_MULMOD, 3, out)
        return out

    def dot(self, factors: list[Loader], operands: list[str]) -> str:
        """sum factor_j * operand_j mod q on top: up to four reduced products add without overflow."""
        a = self.a
        acc = self.mul_term(factors[0], operands[0])
        for factor, operand in zip(factors[1:-1], operands[1:-1], strict=True):
            self.mul_term(factor, operand)
            acc = a.fresh("acc")
            a.op(_ADD, 2, acc)
        a.dup("q")
        a.swap(1)  # [acc, q]
        self.mul_term(factors[-1], operands[-1])
        out = a.fresh("dot")
        a.op(_ADDMOD, 3, out)
        return out

    def sbox_top(self) -> str:
        """x^5 mod q of the top value, in its place."""
        a = self.a
        x = a.stack[-1]
        a.dup("q")
        a.dup(x)
        a.dup(x)
        y = a.fresh("y")
        a.op(_MULMOD, 3, y)  # [y, x]
        a.dup("q")
        a.swap(1)
        a.dup(y)
        y2 = a.fresh("y2")
        a.op(_MULMOD, 3, y2)  # [y2, x]
        a.dup("q")
        a.swap(2)  # [x, y2, q]
        out = a.fresh("x5")
        a.op(_MULMOD, 3, out)
        return out

    def add_constant(self, i: int, c: int, reduce: bool) -> None:
        """s_i + c on top (reduced mod q for the raw inputs of the first round)."""
        a = self.a
        if reduce:
            a.dup("q")
            a.dup(f"s{i}")
            self.constant(c, "c")
            a.op(_ADDMOD, 3, "x")
        else:
            a.dup(f"s{i}")
            self.constant(c, "c")
            a.op(_ADD, 2, "x")

    def full_round(self, consts: tuple[int, ...], mix: str | None, first: bool = False) -> None:
        """Constants and S-box on every element, then the dense mix (`mix` "mds" or "pre")."""
        a = self.a
        for i, c in enumerate(consts):
            self.add_constant(i, c, reduce=first)
            self.sbox_top()
            a.replace(f"s{i}")
        if mix is None:
            return
        state = [f"s{j}" for j in range(self.t)]
        for i in reversed(range(self.t)):  # s0's row last: it ends on top
            factors = [self._mix_factor(mix, i, j) for j in range(self.t)]
            new = self.dot(factors, state)
            a.rename(new, f"n{i}")
        for i in range(self.t):
            a.drop(f"s{i}")
            a.rename(f"n{i}", f"s{i}")

    def _mix_factor(self, mix: str, i: int, j: int) -> Loader:
        if mix == "mds":
            return lambda: self.mds_entry(i, j)
        value = self.schedule.pre_mix[i][j]
        return lambda: self.constant(value, "m")

    def partial_round(self, rnd: tuple[int, ...]) -> None:
        """s0 += k, S-box s0; s0' = row . s; s_i += col_i * s0 (after its S-box)."""
        a, t = self.a, self.t
        k, row, col = rnd[0], rnd[1 : t + 1], rnd[t + 1 :]
        if a.stack[-1] == "s0":  # in place
            self.constant(k, "c")
            a.op(_ADD, 2, "x")
            a.rename(self.sbox_top(), "s0")
        else:
            self.add_constant(0, k, reduce=False)
            self.sbox_top()
            a.replace("s0")
        state = [f"s{j}" for j in range(t)]
        new0 = self.dot([self._const_factor(r) for r in row], state)
        for i, w in enumerate(col, start=1):
            a.dup("q")
            a.dup(f"s{i}")
            self.mul_term(self._const_factor(w), "s0")
            a.op(_ADDMOD, 3, "si")
            a.replace(f"s{i}")
        a.drop("s0")
        a.rename(new0, "s0")

    def _const_factor(self, value: int) -> Loader:
        return lambda: self.constant(value, "k")

    def runtime(self) -> bytes:
        a, n, t = self.a, self.n, self.t
        # selector is poseidon(uint256[n]) or poseidon(bytes32[n]), and the inputs are all there
        a.push(0, "zero")
        a.op(_CALLDATALOAD, 1, "word")
        a.push(224, "shift")
        a.op(_SHR, 2, "sel")
        a.dup("sel")
        a.push(int.from_bytes(keccak(text=f"poseidon(uint256[{n}])")[:4], "big"), "s1")
        a.op(_EQ, 2, "eq1")
        a.swap(1)
        a.push(int.from_bytes(keccak(text=f"poseidon(bytes32[{n}])")[:4], "big"), "s2")
        a.op(_EQ, 2, "eq2")
        a.op(_OR, 2, "ok")
        a.push(4 + 32 * n, "size")
        a.op(_CALLDATASIZE, 0, "cds")
        a.op(_LT, 2, "short")
        a.op(_ISZERO, 1, "long")
        a.op(_AND, 2, "go")
        jump_at = len(a.code)
        a.push(0xFFFF, "dest")  # patched below
        a.op(_JUMPI, 2, None)
        a.push(0, "z")
        a.push(0, "z2")
        a.op(_REVERT, 2, None)
        start = len(a.code)
        a.code[jump_at + 1 : jump_at + 3] = start.to_bytes(2, "big")
        a.op(_JUMPDEST, 0, None)
        if self.mds_in_memory:
            for i in range(t):
                for j in range(t):
                    a.push(self.schedule.mds[i][j], "v")
                    a.push(32 * (i * t + j), "off")
                    a.op(_MSTORE, 2, None)
        a.push(FIELD_MODULUS, "q")
        for i in reversed(range(1, t)):
            a.push(4 + 32 * (i - 1), "at")
            a.op(_CALLDATALOAD, 1, f"s{i}")
        a.push(0, "s0")
        schedule = self.schedule
        last_full1 = len(schedule.full1) - 1
        for r, consts in enumerate(schedule.full1):
            self.full_round(consts, "pre" if r == last_full1 else "mds", first=r == 0)
        for rnd in schedule.partial:
            self.partial_round(rnd)
        for consts in schedule.full2[:-1]:
            self.full_round(consts, "mds")
        self.full_round(schedule.full2[-1], None)
        out = self.dot([self._mix_factor("mds", 0, j) for j in range(t)], [f"s{j}" for j in range(t)])
        a.rename(out, "out")
        a.push(0, "zero")
        a.op(_MSTORE, 2, None)
        a.push(32, "len")
        a.push(0, "zero")
        a.op(_RETURN, 2, None)
        return bytes(a.code)


def runtime_code(n_inputs: int) -> bytes:
    """The hasher's deployed code for n_inputs (2 or 3)."""
    if n_inputs not in GENERATED_INPUTS:
        raise ValueError(f"generated Poseidon hashers take {GENERATED_INPUTS} inputs, not {n_inputs}")
    code = _Poseidon(n_inputs, mds_in_memory=n_inputs >= 3).runtime()
    if len(code) > MAX_CODE_SIZE:
        raise ValueError(f"Poseidon{n_inputs} runtime is {len(code)} bytes, over the {MAX_CODE_SIZE} limit")
    return code


def init_code(n_inputs: int) -> bytes:
    """Deployment code: copies the runtime that follows it into memory and returns it."""
    runtime = runtime_code(n_inputs)
    size = len(runtime).to_bytes(2, "big")
    # PUSH2 size, DUP1, PUSH1 10 (this header's length), PUSH0, CODECOPY, PUSH0, RETURN
    return bytes((0x61, *size, 0x80, 0x60, 10, _PUSH0, _CODECOPY, _PUSH0, _RETURN)) + runtime
