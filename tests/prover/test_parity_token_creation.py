"""Parity of createToken and tokenizeAsset: the Python state machine and OneStepProof (through
OneStepProofAssets) give the same post-state root, for well-formed and malformed calldata alike.

Both calls take `string` arguments, which the STF decodes with eth_abi's strict decoder as raw bytes
(registry.py `decode_token_strings`): any refusal there (an offset inside the head or past the data, a
length past the data, dirty padding, decimals beyond uint8) is a dispatch failure (DISPATCH_GAS). Then
`_checked_string` wants 1 to 30 bytes, then valid UTF-8 (the operation's gas on failure). The fixed cases
cover each rule both ways; the hypothesis tests draw random states and random, mostly malformed, calldata.
Tampered witnesses (a lying token count, a claimed auditor attestation, a missing leaf) revert on L1.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jovay.codec.abi import encode_values
from jovay.codec.abi import selector as abi_selector
from jovay.codec.batch import ITEM_TRANSACTION, BatchItem
from jovay.codec.transactions import DynamicFeeTx, sign_transaction
from jovay.params import ASSET_REGISTRY, DISPATCH_GAS, TOKEN_ADDRESS_PREFIX
from jovay.state.keys import account_key, pack_account, pack_string, system_field_key, token_field_key
from jovay.state.overlay import StateOverlay
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.stf.assets import F_ISSUER, F_STATUS, F_TOKEN, asset_field_key, token_asset_key
from jovay.stf.attestations import auditor_attestations_key
from jovay.stf.results import Revert
from jovay.stf.system import call_system_contract
from prover.fault.execution import StepWitness, step_witness
from tests.prover.parity import BASE_FEE, CHAIN_ID, KEYS, RULES, SENDERS, check_parity, execute_on_l1

CREATE_TOKEN = abi_selector("createToken(string,string,uint8)")
TOKENIZE_ASSET = abi_selector("tokenizeAsset(uint256,string,string,uint8)")
ISSUER, OTHER = SENDERS[0], SENDERS[1]
NOW = 1_700_000_000
STRUCTURED, TOKENIZED = 1, 2
STATUS = 3 << 8 | 1 << 17  # asset class 3, paused: both must survive tokenization


def _token(token_id: int) -> bytes:
    return TOKEN_ADDRESS_PREFIX + token_id.to_bytes(14, "big")


def _state(*, tokens: int = 2, stage: int = STRUCTURED, audits: int = 1, assets: int = 1) -> dict[int, int]:
    """Funded senders, `tokens` tokens created, asset 1 of ISSUER at `stage` with `audits` auditor
    attestations (assets beyond 1 exist but have no fields)."""
    leaves = {account_key(s): pack_account(0, 10**18) for s in SENDERS} | {
        system_field_key(1): tokens,
        asset_field_key(0, 0): assets,
        asset_field_key(1, F_ISSUER): int.from_bytes(ISSUER, "big"),
        asset_field_key(1, F_STATUS): stage | STATUS,
        auditor_attestations_key(1): audits,
    }
    return {k: v for k, v in leaves.items() if v}


def _item(data: bytes, key: bytes = KEYS[0], gas: int = 400_000) -> BatchItem:
    raw = sign_transaction(DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, gas, ASSET_REGISTRY, 0, data), key)
    return BatchItem(ITEM_TRANSACTION, 1, NOW, BASE_FEE, raw)


def _w(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _create(name: bytes = b"Bond", symbol: bytes = b"BND", decimals: int = 6) -> bytes:
    """Canonical createToken calldata (strings given as their raw bytes, UTF-8 or not)."""
    return CREATE_TOKEN + encode_values(["bytes", "bytes", "uint8"], [name, symbol, decimals])


def _tokenize(
    asset_id: int = 1, name: bytes = b"Solar A", symbol: bytes = b"SOLA", decimals: int = 0
) -> bytes:
    return TOKENIZE_ASSET + encode_values(
        ["uint256", "bytes", "bytes", "uint8"], [asset_id, name, symbol, decimals]
    )


def _patched(data: bytes, at: int, word: bytes) -> bytes:
    """`data` with the 32 bytes at argument byte `at` replaced."""
    start = 4 + at
    return data[:start] + word + data[start + 32 :]


def _string_tail(text: bytes) -> bytes:
    return _w(len(text)) + text.ljust(-(-len(text) // 32) * 32, b"\0")


# Non-canonical but valid encodings, and the ways eth_abi's strict decoder refuses calldata.
GAP = CREATE_TOKEN + _w(0x80) + _w(0xC0) + _w(6) + bytes(32) + _string_tail(b"Bond") + _string_tail(b"BND")
SAME = CREATE_TOKEN + _w(0x60) + _w(0x60) + _w(6) + _string_tail(b"Bond")  # both strings at one place
UNALIGNED = CREATE_TOKEN + _w(0x61) + _w(0x61) + _w(6) + b"\0" + _string_tail(b"Bond")
MALFORMED = {
    "offset into the head": _patched(_create(), 0, _w(0x40)),
    "offset at the end": _patched(_create(), 0, _w(len(_create()) - 4)),
    "offset far past the end": _patched(_create(), 32, _w(2**255)),
    "length word cut short": CREATE_TOKEN + _w(0x60) + _w(0x60) + _w(6) + bytes(31),
    "length beyond the data": _patched(_create(), 0x60, _w(0x41)),
    "length 2^256 - 1": _patched(_create(), 0x60, _w(2**256 - 1)),
    "padding missing": _create()[:-1],
    "dirty padding": _create()[:-1] + b"\x01",
    "dirty padding of a 30-byte name": _create(b"n" * 30)[: 4 + 0x9F]
    + b"\x01"
    + _create(b"n" * 30)[4 + 0xA0 :],
    "decimals beyond uint8": _patched(_create(), 0x40, _w(256)),
    "head only": _create()[:100],
    "selector only": CREATE_TOKEN,
}


CREATED, REFUSED, MALFORMED_ABI = "created", "refused", "malformed"  # the last two: op gas, DISPATCH_GAS
CREATE_CASES: dict[str, tuple[bytes, str]] = {
    "canonical": (_create(), CREATED),
    "30-byte name and symbol, decimals 255": (_create(b"n" * 30, b"s" * 30, 255), CREATED),
    "31-byte name": (_create(b"n" * 31), REFUSED),  # too long for one field element
    "32-byte name": (_create(b"n" * 32), REFUSED),
    "33-byte symbol": (_create(symbol=b"s" * 33), REFUSED),
    "empty name": (_create(b""), REFUSED),
    "empty symbol": (_create(symbol=b""), REFUSED),
    "two-, three- and four-byte UTF-8": (_create("Évian ☀ 𝄞".encode()), CREATED),
    "NUL inside": (_create(b"a\x00b"), CREATED),
    "0xff": (_create(b"\xff"), REFUSED),
    "overlong NUL": (_create(b"\xc0\x80"), REFUSED),
    "overlong three-byte form": (_create(b"\xe0\x9f\xbf"), REFUSED),
    "UTF-16 surrogate": (_create(b"\xed\xa0\x80"), REFUSED),
    "past U+10FFFF": (_create(b"\xf4\x90\x80\x80"), REFUSED),
    "overlong four-byte form": (_create(b"\xf0\x8f\xbf\xbf"), REFUSED),
    "truncated sequence at the end": (_create(b"ok\xe2\x82"), REFUSED),
    "lone continuation byte": (_create(symbol=b"\x80"), REFUSED),
    "the last code point": (_create(symbol="\U0010ffff".encode()), CREATED),
    "64 bytes, not UTF-8": (_create(b"\xff" * 64), REFUSED),  # refused for its length, never decoded
    "gap after the head": (GAP, CREATED),
    "both strings at one place": (SAME, CREATED),
    "unaligned offsets": (UNALIGNED, CREATED),
    "trailing bytes": (_create() + b"\x01" * 7, CREATED),
} | {name: (data, MALFORMED_ABI) for name, data in MALFORMED.items()}


def _call_outcome(leaves: dict[int, int], sender: bytes, data: bytes) -> str:
    """What the STF's call does on its own: creates a token, or fails with the operation's gas or
    DISPATCH_GAS."""
    state = StateOverlay(lambda key: leaves.get(key, 0))
    try:
        call_system_contract(state, sender, ASSET_REGISTRY, data)
    except Revert as failure:
        return MALFORMED_ABI if failure.gas == DISPATCH_GAS else REFUSED
    return CREATED


@pytest.mark.parametrize(("data", "outcome"), CREATE_CASES.values(), ids=CREATE_CASES.keys())
def test_create_token_cases_agree(l1: Any, data: bytes, outcome: str) -> None:
    leaves = _state()
    item = _item(data)
    assert _call_outcome(leaves, ISSUER, data) == outcome
    after = _after(leaves, item)
    assert after.get(system_field_key(1)) == (3 if outcome == CREATED else 2)
    if outcome == CREATED:
        assert after.get(token_field_key(_token(3), 0)) == int.from_bytes(ISSUER, "big")
    check_parity(l1, leaves, item, record=False)


def test_created_token_fields(l1: Any) -> None:
    """Every field new_token writes, for a token whose number has a high byte set."""
    leaves = _state(tokens=0x1234_5678)
    item = _item(_create("Énergie".encode(), b"NRG", 18))
    after = _after(leaves, item)
    token_address = _token(0x1234_5679)
    assert after.get(token_field_key(token_address, 1)) == pack_string("Énergie".encode())
    assert after.get(token_field_key(token_address, 2)) == pack_string(b"NRG")
    assert after.get(token_field_key(token_address, 3)) == 18
    check_parity(l1, leaves, item, record=False)


def test_create_token_out_of_gas_agrees(l1: Any) -> None:
    """Gas for the transaction but not for the call: the call's writes are undone, all gas paid."""
    leaves = _state()
    item = _item(_create(), gas=60_000)
    assert _after(leaves, item).get(system_field_key(1)) == 2
    check_parity(l1, leaves, item, record=False)


TOKENIZE_CASES: dict[str, tuple[dict[int, int], bytes, bytes, str]] = {
    "issuer, Structured, audited": (_state(), _tokenize(), ISSUER, CREATED),
    "30-byte name, decimals 255": (_state(), _tokenize(name=b"n" * 30, decimals=255), ISSUER, CREATED),
    "not the issuer": (_state(), _tokenize(), OTHER, REFUSED),
    "Registered": (_state(stage=0), _tokenize(), ISSUER, REFUSED),
    "already Tokenized": (_state(stage=TOKENIZED), _tokenize(), ISSUER, REFUSED),
    "no auditor attestation": (_state(audits=0), _tokenize(), ISSUER, REFUSED),
    "no such asset": (_state(), _tokenize(asset_id=2), ISSUER, REFUSED),
    "another's asset": (_state(assets=2), _tokenize(asset_id=2), ISSUER, REFUSED),
    "asset 0": (_state(), _tokenize(asset_id=0), ISSUER, REFUSED),
    "asset id past 2^255": (_state(), _tokenize(asset_id=2**255 + 1), ISSUER, REFUSED),
    "31-byte name": (_state(), _tokenize(name=b"n" * 31), ISSUER, REFUSED),
    "empty symbol": (_state(), _tokenize(symbol=b""), ISSUER, REFUSED),
    "surrogate symbol": (_state(), _tokenize(symbol=b"\xed\xbf\xbf"), ISSUER, REFUSED),
    "no audit and an empty name": (_state(audits=0), _tokenize(name=b""), ISSUER, REFUSED),
    "name offset into the head": (_state(), _patched(_tokenize(), 0x20, _w(0x60)), ISSUER, MALFORMED_ABI),
    "decimals beyond uint8": (_state(), _patched(_tokenize(), 0x60, _w(2**8)), ISSUER, MALFORMED_ABI),
    "dirty padding": (_state(), _tokenize()[:-1] + b"\x01", ISSUER, MALFORMED_ABI),
    "symbol bytes cut off": (_state(), _tokenize()[:-32], ISSUER, MALFORMED_ABI),
    "malformed and not the issuer": (_state(), _tokenize()[:-32], OTHER, MALFORMED_ABI),
}


@pytest.mark.parametrize(
    ("leaves", "data", "sender", "outcome"), TOKENIZE_CASES.values(), ids=TOKENIZE_CASES.keys()
)
def test_tokenize_asset_cases_agree(
    l1: Any, leaves: dict[int, int], data: bytes, sender: bytes, outcome: str
) -> None:
    assert _call_outcome(leaves, sender, data) == outcome
    item = _item(data, KEYS[SENDERS.index(sender)])
    after = _after(leaves, item)
    assert after.get(system_field_key(1)) == (3 if outcome == CREATED else 2)
    if outcome == CREATED:
        assert after.get(asset_field_key(1, F_TOKEN)) == int.from_bytes(_token(3), "big")
        assert after.get(token_asset_key(_token(3))) == 1
        assert after.get(asset_field_key(1, F_STATUS)) == TOKENIZED | STATUS
    else:
        assert after.get(asset_field_key(1, F_STATUS)) == leaves[asset_field_key(1, F_STATUS)]
    check_parity(l1, leaves, item, record=False)


# --- random states and calldata ---------------------------------------------------------------------

utf8_names = st.text(min_size=1, max_size=7).map(str.encode)
names = st.one_of(
    utf8_names,
    utf8_names,
    st.binary(max_size=34),
    st.sampled_from([b"", b"n" * 30, b"n" * 31, "€".encode() * 10, b"\xed\xa0\x80", b"\xf4\x8f\xbf\xbf"]),
)


@st.composite
def token_calldata(draw: st.DrawFn) -> bytes:
    """createToken or tokenizeAsset with random strings, then maybe one corruption of the encoding."""
    tokenize = draw(st.booleans())
    decimals = draw(st.sampled_from([0, 6, 18, 255, 256]))
    strings = [draw(names), draw(names)]
    if tokenize:
        asset_id = draw(st.sampled_from([1, 1, 1, 1, 0, 2, 2**128 + 1]))
        data = TOKENIZE_ASSET + encode_values(
            ["uint256", "bytes", "bytes", "uint256"], [asset_id, *strings, decimals]
        )
    else:
        data = CREATE_TOKEN + encode_values(["bytes", "bytes", "uint256"], [*strings, decimals])
    corruption = draw(st.sampled_from(["none"] * 6 + ["offset", "length", "byte", "cut", "extend"]))
    size = len(data) - 4
    if corruption == "offset":
        word = draw(st.integers(0, 3 if tokenize else 2))
        value = draw(st.one_of(st.integers(0, size + 40), st.sampled_from([2**64, 2**256 - 1])))
        data = _patched(data, 32 * word, _w(value))
    elif corruption == "length":
        at = draw(st.sampled_from([i for i in range(0, size - 31, 32)]))
        data = _patched(data, at, _w(draw(st.integers(0, 80))))
    elif corruption == "byte":
        i = draw(st.integers(4, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    elif corruption == "cut":
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif corruption == "extend":
        data += draw(st.binary(min_size=1, max_size=40))
    return data


@st.composite
def token_states(draw: st.DrawFn) -> dict[int, int]:
    leaves = _state(
        tokens=draw(st.sampled_from([0, 1, 2, 2**40])),
        stage=draw(st.sampled_from([STRUCTURED, STRUCTURED, STRUCTURED, 0, TOKENIZED])),
        audits=draw(st.sampled_from([0, 1, 1, 3])),
        assets=draw(st.sampled_from([1, 1, 2])),
    )
    if draw(st.booleans()):  # the next token's fields already hold values (they are overwritten)
        leaves[token_field_key(_token(leaves.get(system_field_key(1), 0) + 1), 3)] = 7
    return leaves


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token_states(), token_calldata(), st.sampled_from([KEYS[0], KEYS[0], KEYS[1]]))
def test_token_creation_calls_agree(l1: Any, leaves: dict[int, int], data: bytes, key: bytes) -> None:
    function = {CREATE_TOKEN: "createToken", TOKENIZE_ASSET: "tokenizeAsset"}.get(data[:4], "no selector")
    event(f"{function} {_call_outcome(leaves, SENDERS[KEYS.index(key)], data)}")
    check_parity(l1, leaves, _item(data, key), record=False)


# --- tampered witnesses -----------------------------------------------------------------------------


def _after(leaves: dict[int, int], item: BatchItem) -> SparseMerkleTree:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    return SparseMerkleTree(store, step_witness(store, pre, [item], 0, RULES.apply).post_root)


def _witness(leaves: dict[int, int], item: BatchItem) -> tuple[int, StepWitness]:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    return pre, step_witness(store, pre, [item], 0, RULES.apply)


def _lying(witness: StepWitness, key: int, value: int) -> StepWitness:
    leaves = [dataclasses.replace(leaf, value=value) if leaf.key == key else leaf for leaf in witness.leaves]
    assert leaves != witness.leaves
    return dataclasses.replace(witness, leaves=leaves)


def test_token_count_tampering_fails(l1: Any) -> None:
    """createToken numbers the token from the token count: a witness that claims another count (token 1
    overwritten instead of token 3 created) or leaves the count out does not pass."""
    pre, witness = _witness(_state(), _item(_create()))
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, _lying(witness, system_field_key(1), 0))
    missing = [leaf for leaf in witness.leaves if leaf.key != system_field_key(1)]
    with pytest.raises(Exception, match="missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=missing))


def test_auditor_attestation_tampering_fails(l1: Any) -> None:
    """tokenizeAsset of an asset no auditor attested is refused; a witness that claims an attestation (the
    token then created) does not pass against the real pre-state root."""
    pre, witness = _witness(_state(audits=0), _item(_tokenize()))
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    assert witness.post_root != pre  # fees paid
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, _lying(witness, auditor_attestations_key(1), 1))


def test_asset_stage_tampering_fails(l1: Any) -> None:
    """A witness that shows an already Tokenized asset as Structured does not pass."""
    pre, witness = _witness(_state(stage=TOKENIZED), _item(_tokenize()))
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, _lying(witness, asset_field_key(1, F_STATUS), STRUCTURED | STATUS))
