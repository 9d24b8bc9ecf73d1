"""Pure-Python twins of the native Poseidon functions (jovay/_native/_poseidon.pyx), same signatures.

`poseidon`, `poseidon2` and `poseidon3` are jovay/crypto/poseidon.py's own functions. That module
rebinds its public names to the native ones when the extension is used, and keeps the pure functions
as `pure_poseidon`, `pure_poseidon2`, `pure_poseidon3`; they are taken from there when present, and
checked to be Python functions, so a twin can never silently be the native code it is compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from jovay.crypto import poseidon as _reference


def _pure(name: str) -> Callable[..., int]:
    """The reference module's pure function `name` (its `pure_` alias once the native code is wired)."""
    fn: Any = getattr(_reference, f"pure_{name}", None) or getattr(_reference, name)
    if getattr(fn, "__module__", None) != _reference.__name__:
        raise ImportError(f"jovay.crypto.poseidon.{name} is {fn!r}, not the pure-Python function")
    return fn


poseidon: Callable[[Sequence[int]], int] = _pure("poseidon")
poseidon2: Callable[[int, int], int] = _pure("poseidon2")
poseidon3: Callable[[int, int, int], int] = _pure("poseidon3")


def hash_pairs(lefts: Sequence[int], rights: Sequence[int]) -> list[int]:
    """[poseidon2(a, b) for a, b in zip(lefts, rights)]: a tree level's inner nodes in one call."""
    if len(rights) != len(lefts):
        raise ValueError(
            f"hash_pairs needs as many rights as lefts, got {len(lefts)} lefts and {len(rights)} rights"
        )
    return [poseidon2(a, b) for a, b in zip(lefts, rights, strict=True)]


def hash_leaves(keys: Sequence[int], values: Sequence[int]) -> list[int]:
    """[poseidon3(k, v, 1) for k, v in zip(keys, values)]: tree leaves in one call."""
    if len(values) != len(keys):
        raise ValueError(
            f"hash_leaves needs as many values as keys, got {len(keys)} keys and {len(values)} values"
        )
    return [poseidon3(k, v, 1) for k, v in zip(keys, values, strict=True)]
