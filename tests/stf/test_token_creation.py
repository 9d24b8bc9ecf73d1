"""createToken's string rules through the STF: strict ABI decoding of the raw bytes (a dispatch failure),
then 1 to 30 bytes, then UTF-8 (each a revert with a reason at the operation's gas), in that order."""

from __future__ import annotations

import pytest
from eth_abi import decode, encode

from jovay.codec.abi import selector
from jovay.params import ASSET_REGISTRY, DISPATCH_GAS, OP_GAS
from jovay.state.overlay import StateOverlay
from jovay.stf.registry import token_address
from jovay.stf.results import Revert
from jovay.stf.system import call_system_contract

CREATE_TOKEN = selector("createToken(string,string,uint8)")
ISSUER = b"\x0a" * 20
GAS = OP_GAS["registry.createToken"]


def _create(name: bytes, symbol: bytes = b"BND", decimals: int = 6) -> bytes:
    return CREATE_TOKEN + encode(["bytes", "bytes", "uint8"], [name, symbol, decimals])


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _call(data: bytes) -> tuple[StateOverlay, bytes]:
    state = StateOverlay(lambda key: 0)
    return state, call_system_contract(state, ISSUER, ASSET_REGISTRY, data).return_data


def test_name_and_symbol_read_back_as_given() -> None:
    state, answer = _call(_create("Énergie ☀".encode(), b"NRG", 18))
    assert answer == bytes(12) + token_address(1)
    name = call_system_contract(state, ISSUER, token_address(1), selector("name()")).return_data
    assert decode(["string"], name) == ("Énergie ☀",)


def test_non_canonical_encoding_is_accepted() -> None:
    """Both offsets at one place, past a gap: eth_abi follows offsets wherever they point."""
    text = b"Bond".ljust(32, b"\0")
    data = CREATE_TOKEN + _word(0x80) + _word(0x80) + _word(0) + bytes(32) + _word(4) + text
    state, _ = _call(data)
    symbol = call_system_contract(state, ISSUER, token_address(1), selector("symbol()")).return_data
    assert decode(["string"], symbol) == ("Bond",)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_create(b""), "AssetRegistry: name must be 1 to 30 bytes"),
        (_create(b"n" * 31), "AssetRegistry: name must be 1 to 30 bytes"),
        (_create(b"\xff" * 64), "AssetRegistry: name must be 1 to 30 bytes"),  # length first
        (_create(b"\xed\xa0\x80"), "AssetRegistry: name is not valid UTF-8"),
        (_create(b"ok", b"\xc0\x80"), "AssetRegistry: symbol is not valid UTF-8"),
        (_create(b"\xff", b""), "AssetRegistry: name is not valid UTF-8"),  # the name first
    ],
)
def test_bad_strings_revert_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(Revert) as failure:
        _call(data)
    assert (failure.value.reason, failure.value.gas) == (reason, GAS)


@pytest.mark.parametrize(
    "data",
    [
        _create(b"Bond")[:-1] + b"\x01",  # dirty padding
        _create(b"Bond")[:-1],  # padding cut off
        CREATE_TOKEN
        + _word(0x40)
        + _word(0x60)
        + _word(6)
        + _word(1)
        + b"a".ljust(32, b"\0"),  # into the head
        CREATE_TOKEN + _word(0x60) + _word(0x60) + _word(6) + _word(33) + b"a".ljust(32, b"\0"),  # too long
        CREATE_TOKEN + _word(0x60) + _word(0x60) + _word(256) + _word(1) + b"a".ljust(32, b"\0"),  # decimals
    ],
)
def test_malformed_calldata_fails_at_dispatch(data: bytes) -> None:
    with pytest.raises(Revert) as failure:
        _call(data)
    assert (failure.value.reason, failure.value.gas) == (None, DISPATCH_GAS)
