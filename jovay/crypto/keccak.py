"""Keccak-256 (Ethereum's pre-standard SHA-3), as fast as pure Python can call it.

jovay/_native's C implementation serves when it is built (and JOVAY_PURE=1 is not set). Otherwise:
pycryptodome's `keccak.new(...)` costs ~13 µs per call, almost all of it Python-side object set-up.
Calling the same C library directly with one reusable state per thread costs ~3 µs, which matters
on the sequencer's hot path (every transaction is hashed twice and its sender's key once).
If the library cannot be loaded this way, the public pycryptodome API is used instead.
"""

from __future__ import annotations

import ctypes
import importlib.machinery
import os
import threading
from collections.abc import Callable
from typing import cast

from Crypto.Hash import keccak as _pycryptodome_keccak

__all__ = ["keccak256"]

_RATE_CAPACITY_BYTES = 64  # capacity = 2 * 32-byte digest
_ROUNDS = 24
_KECCAK_PADDING = 0x01  # original Keccak padding, not SHA3's 0x06


def _slow_keccak256(data: bytes) -> bytes:
    """The public-API fallback; identical output."""
    return _pycryptodome_keccak.new(data=data, digest_bits=256).digest()


def _load_raw_lib() -> ctypes.CDLL | None:
    """Open pycryptodome's `_keccak` shared object with our own typed function pointers."""
    folder = os.path.dirname(_pycryptodome_keccak.__file__)
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "_keccak" + suffix)
        if os.path.isfile(path):
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            lib.keccak_init.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t, ctypes.c_ubyte]
            lib.keccak_init.restype = ctypes.c_int
            lib.keccak_reset.argtypes = [ctypes.c_void_p]
            lib.keccak_reset.restype = ctypes.c_int
            lib.keccak_absorb.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
            lib.keccak_absorb.restype = ctypes.c_int
            lib.keccak_digest.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_ubyte]
            lib.keccak_digest.restype = ctypes.c_int
            lib.keccak_destroy.argtypes = [ctypes.c_void_p]
            lib.keccak_destroy.restype = ctypes.c_int
            return lib
    return None


class _State:
    """One C keccak state, reused by one thread (ctypes releases the GIL during calls)."""

    __slots__ = ("ptr", "_destroy")

    def __init__(self, lib: ctypes.CDLL) -> None:
        ptr = ctypes.c_void_p()
        if lib.keccak_init(ctypes.byref(ptr), _RATE_CAPACITY_BYTES, _ROUNDS) != 0:
            raise OSError("keccak_init failed")
        self.ptr = ptr.value
        self._destroy = lib.keccak_destroy

    def __del__(self) -> None:
        if self.ptr:
            self._destroy(self.ptr)
            self.ptr = None


def _make_fast(lib: ctypes.CDLL) -> Callable[[bytes], bytes]:
    """Build the direct-call keccak256 over `lib`."""
    reset, absorb, digest = lib.keccak_reset, lib.keccak_absorb, lib.keccak_digest
    create_buffer = ctypes.create_string_buffer
    local = threading.local()

    def fast_keccak256(data: bytes) -> bytes:
        """keccak256 of `data` (any bytes-like object)."""
        try:
            ptr, out = local.ctx
        except AttributeError:
            local.state = _State(lib)  # owns the C state; freed with the thread's locals
            local.ctx = ptr, out = local.state.ptr, create_buffer(32)
        if type(data) is not bytes:
            data = bytes(data)
        reset(ptr)
        absorb(ptr, data, len(data))
        digest(ptr, out, 32, _KECCAK_PADDING)
        return out.raw

    return fast_keccak256


def _select() -> Callable[[bytes], bytes]:
    """Use the direct path only if it loads and agrees with pycryptodome on a known input."""
    lib = _load_raw_lib()
    if lib is None:
        return _slow_keccak256
    try:
        fast = _make_fast(lib)
        if fast(b"jovay") != _slow_keccak256(b"jovay"):
            return _slow_keccak256
    except (OSError, AttributeError, ctypes.ArgumentError):
        return _slow_keccak256
    return fast


def _select_native() -> Callable[[bytes], bytes] | None:
    """jovay/_native's C keccak (no ctypes call, no GIL hand-off per hash) unless JOVAY_PURE=1 or it is
    not built; checked against pycryptodome like the direct path."""
    from jovay._native import blockroots_impl

    native = blockroots_impl()
    if native is None or native.keccak256(b"jovay") != _slow_keccak256(b"jovay"):
        return None
    return cast(Callable[[bytes], bytes], native.keccak256)


keccak256: Callable[[bytes], bytes] = _select_native() or _select()
keccak256.__doc__ = "Keccak-256 digest (32 bytes) of `data`."
