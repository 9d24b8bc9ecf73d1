"""Native (Cython/C) hot paths, each with a pure-Python twin of the same signature (jovay/_native/pure.py).

`poseidon_impl()` answers the native module when it is built and `JOVAY_PURE=1` is not set, else the
pure twins. This package imports nothing from the rest of jovay at import time, so
jovay/crypto/poseidon.py can consult it while it is itself being imported.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from types import ModuleType
from typing import Protocol, cast


def _load_native(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"jovay._native.{name}")
    except ImportError:  # not built (no compiler or Cython at install time): the pure twins serve
        return None


_native_poseidon = _load_native("_poseidon")
_native_txcodec = _load_native("_txcodec")
_native_blockroots = _load_native("_blockroots")
_native_transfers = _load_native("_transfers")
_native_blockwrite = _load_native("_blockwrite")


_native_smt = _load_native("_smt")

NATIVE_AVAILABLE: bool = _native_poseidon is not None
TXCODEC_AVAILABLE: bool = _native_txcodec is not None
BLOCKROOTS_AVAILABLE: bool = _native_blockroots is not None


class PoseidonImpl(Protocol):
    """What both implementations provide (jovay/crypto/poseidon.py's signatures, plus the batch hashes)."""

    def poseidon(self, inputs: Sequence[int]) -> int: ...

    def poseidon2(self, a: int, b: int) -> int: ...

    def poseidon3(self, a: int, b: int, c: int) -> int: ...

    def hash_pairs(self, lefts: Sequence[int], rights: Sequence[int]) -> list[int]: ...

    def hash_leaves(self, keys: Sequence[int], values: Sequence[int]) -> list[int]: ...


def pure_forced() -> bool:
    """JOVAY_PURE=1 forces the pure-Python implementations (debugging, differential checks)."""
    return os.environ.get("JOVAY_PURE") == "1"


def use_native() -> bool:
    return NATIVE_AVAILABLE and not pure_forced()


def poseidon_impl() -> PoseidonImpl:
    """The native Poseidon module, or the pure twins when it is missing or JOVAY_PURE=1."""
    if use_native():
        return cast(PoseidonImpl, _native_poseidon)
    from jovay._native import pure  # lazily: it imports jovay.crypto.poseidon

    return cast(PoseidonImpl, pure)


def txcodec_impl() -> ModuleType | None:
    """The native transaction decoder module, or None when it is missing or JOVAY_PURE=1 (the pure
    `jovay.codec.transactions.pure_decode_transaction` serves then)."""
    if _native_txcodec is None or pure_forced():
        return None
    return _native_txcodec


def blockroots_impl() -> ModuleType | None:
    """The native block-root module (`indexed_root`, `keccak256`), or None when it is missing or
    JOVAY_PURE=1 (jovay.codec.blocks' pure `pure_indexed_root` serves then)."""
    if _native_blockroots is None or pure_forced():
        return None
    return _native_blockroots


def transfers_impl() -> ModuleType | None:
    """The native transfer fast path (`apply_transfer`), or None when it is missing or JOVAY_PURE=1
    (jovay.stf.transfers' pure `apply_transfer` serves then)."""
    if _native_transfers is None or pure_forced():
        return None
    return _native_transfers


def blockwrite_impl() -> ModuleType | None:
    """The native block-write records (`node_records`, `encode_receipts`, ...), or None when it is
    missing or JOVAY_PURE=1 (jovay.storage.records' pure twins serve then)."""
    if _native_blockwrite is None or pure_forced():
        return None
    return _native_blockwrite


def smt_impl() -> ModuleType | None:
    """The native batched state-tree update (`update_many(store, root, items)`, `NotMirrored`), or None
    when it is missing or JOVAY_PURE=1 (jovay.state.smt's `SparseMerkleTree.pure_update_many` serves then)."""
    if _native_smt is None or pure_forced():
        return None
    return _native_smt
