"""jovay/_native/_blockroots.pyx (C keccak and the indexed Merkle-Patricia root) against the pure code:
the same digests and the same transactionsRoot / receiptsRoot for any list of values, and the same
error for an empty value."""

from __future__ import annotations

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import blockroots_impl
from jovay.codec.blocks import pure_indexed_root, receipts_root, transactions_root

native = blockroots_impl()


def keccak256(data: bytes) -> bytes:
    """The reference: pycryptodome's public API (jovay.crypto.keccak itself uses the native one)."""
    return pycryptodome_keccak.new(data=data, digest_bits=256).digest()


pytestmark = pytest.mark.skipif(native is None, reason="the native extension is not built or JOVAY_PURE=1")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_keccak_matches_pycryptodome(data: bytes) -> None:
    assert native is not None and native.keccak256(data) == keccak256(data)


@pytest.mark.parametrize("length", [0, 1, 31, 32, 135, 136, 137, 271, 272, 273, 1000])
def test_keccak_at_the_rate_boundaries(length: int) -> None:
    data = bytes(range(256)) * 4
    assert native is not None and native.keccak256(data[:length]) == keccak256(data[:length])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=120), max_size=300))
def test_indexed_root_matches_the_pure_trie(values: list[bytes]) -> None:
    assert native is not None and native.indexed_root(values) == pure_indexed_root(values)


@pytest.mark.parametrize("count", [0, 1, 2, 16, 17, 127, 128, 129, 255, 256, 257, 4_097, 20_000])
def test_indexed_root_at_key_length_boundaries(count: int) -> None:
    """rlp(i) keys change length at 128 and 256 (and inline nodes appear for short values)."""
    values = [i.to_bytes(2, "big")[: 1 + i % 2] or b"\x00" for i in range(count)]
    assert native is not None and native.indexed_root(values) == pure_indexed_root(values)
    assert transactions_root(values) == receipts_root(values) == pure_indexed_root(values)


def test_empty_value_is_refused_like_the_pure_trie() -> None:
    assert native is not None
    for root in (native.indexed_root, pure_indexed_root):
        with pytest.raises(ValueError, match="empty trie value"):
            root([b"\x01", b""])
