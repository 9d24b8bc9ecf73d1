"""The internal strict RLP codec against the reference `rlp` package."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.codec._rlp import (
    MAX_DEPTH,
    RLPError,
    decode,
    decode_list,
    encode_bytes,
    encode_list,
    encode_uint,
    encoded_bytes_length,
)

structures = st.recursive(
    st.binary(max_size=70),
    lambda children: st.lists(children, max_size=8),
    max_leaves=40,
)


def encode_any(item: Any) -> bytes:
    return encode_list(map(encode_any, item)) if isinstance(item, list) else encode_bytes(item)


def depth(item: Any) -> int:
    return 1 + max(map(depth, item), default=0) if isinstance(item, list) else 0


@settings(max_examples=500, deadline=None)
@given(structures)
def test_encode_matches_reference_and_round_trips(item: Any) -> None:
    encoded = encode_any(item)
    assert encoded == rlp.encode(item)
    assert decode(encoded) == item
    if isinstance(item, bytes):
        assert encoded_bytes_length(item) == len(encoded)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**300))
def test_encode_uint_matches_reference(value: int) -> None:
    assert encode_uint(value) == rlp.encode(value)


def test_encode_uint_rejects_negative() -> None:
    with pytest.raises(ValueError):
        encode_uint(-1)


@settings(max_examples=1000, deadline=None)
@given(
    st.binary(max_size=80)
    | structures.map(rlp.encode).flatmap(lambda b: st.sampled_from([b, b[:-1], b + b"\x00"]))
)
def test_accepts_exactly_what_strict_reference_accepts(data: bytes) -> None:
    try:
        expected = rlp.decode(data, strict=True)
    except rlp.DecodingError:
        expected = None
    try:
        got = decode(data)
    except RLPError:
        got = None
    if expected is not None and depth(expected) > MAX_DEPTH + 1:
        assert got is None
    else:
        assert got == expected


def test_decode_list_requires_a_list() -> None:
    with pytest.raises(RLPError, match="^rlp: expected input list for T$"):
        decode_list(b"\x83abc", "T")
    assert decode_list(b"\xc0", "T") == []
