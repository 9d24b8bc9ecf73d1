"""The native transaction decoder (jovay/_native/_txcodec.pyx) equals the pure one on valid, mutated
and malformed inputs: the same SignedTx, or the same error type and message."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import TXCODEC_AVAILABLE
from jovay.codec.transactions import pure_decode_transaction
from jovay.errors import InvalidTransaction as InvalidTransactionType
from tests.helpers import CHAIN_ID, KEYS, raw_tx

needs_native = pytest.mark.skipif(not TXCODEC_AVAILABLE, reason="jovay._native._txcodec is not built")


@pytest.fixture(scope="module")
def native() -> ModuleType:
    return importlib.import_module("jovay._native._txcodec")


def outcome(fn: Callable[..., Any], raw: Any, chain_id: int = CHAIN_ID) -> tuple[Any, Any]:
    try:
        return "ok", fn(raw, expected_chain_id=chain_id)
    except Exception as exc:  # noqa: BLE001 - comparing whatever each side raises
        return type(exc), str(exc)


VALID = [
    raw_tx(KEYS[0], nonce=0, to=bytes(20), value=1),
    raw_tx(KEYS[1], nonce=2**40, to=b"\x11" * 20, value=10**30, data=b"\x01" * 100, gas=10**6),
    raw_tx(KEYS[2], nonce=7, to=b"\x22" * 20, data=b"\x00\x7f", tx_type=0),
    raw_tx(KEYS[3], nonce=1, to=b"\x33" * 20, value=127, tx_type=0, data=b"\x80" * 60),
    raw_tx(
        KEYS[4],
        nonce=0,
        to=b"\x44" * 20,
        tx_type=1,
        access_list=[{"address": "0x" + "55" * 20, "storageKeys": ["0x" + "00" * 32]}],
    ),
    raw_tx(KEYS[5], nonce=3, to=None, data=b"\x60\x00"),
    raw_tx(KEYS[6], nonce=0, to=b"\x66" * 20, value=5, chain_id=CHAIN_ID + 1),
]


@needs_native
@pytest.mark.parametrize("raw", VALID)
def test_known_transactions_decode_identically(native: ModuleType, raw: bytes) -> None:
    assert outcome(native.decode_transaction, raw) == outcome(pure_decode_transaction, raw)
    assert outcome(native.decode_transaction, raw, CHAIN_ID + 1) == outcome(
        pure_decode_transaction, raw, CHAIN_ID + 1
    )


@needs_native
def test_plain_transfers_take_the_native_path(native: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    """The common shapes must not just fall back to the pure decoder (that would hide a slow path)."""
    from jovay.codec import transactions

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fell back to the pure decoder")

    monkeypatch.setattr(transactions, "pure_decode_transaction", refuse)
    for raw in VALID[:4]:
        assert native.decode_transaction(raw, expected_chain_id=CHAIN_ID).raw == raw


@needs_native
def test_non_bytes_and_empty_inputs(native: ModuleType) -> None:
    for raw in (
        b"",
        bytearray(VALID[0]),
        memoryview(VALID[2]),
        b"\x02",
        b"\xc0",
        b"\x01\xc0",
        b"\x7e\xc1\x80",
    ):
        assert outcome(native.decode_transaction, raw) == outcome(pure_decode_transaction, raw)


mutations = st.tuples(
    st.sampled_from(VALID),
    st.lists(
        st.tuples(
            st.sampled_from(["flip", "set", "cut", "insert"]), st.integers(0, 400), st.integers(0, 255)
        ),
        min_size=1,
        max_size=3,
    ),
)


def mutate(raw: bytes, edits: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(raw)
    for op, where, byte in edits:
        at = where % (len(data) + 1)
        if op == "flip" and at < len(data):
            data[at] ^= 1 << (byte % 8)
        elif op == "set" and at < len(data):
            data[at] = byte
        elif op == "cut":
            del data[at : at + 1 + byte % 3]
        elif op == "insert":
            data[at:at] = bytes((byte,))
    return bytes(data)


@needs_native
@settings(max_examples=400, deadline=None)
@given(case=mutations)
def test_mutated_transactions_agree(
    native: ModuleType, case: tuple[bytes, list[tuple[str, int, int]]]
) -> None:
    raw = mutate(*case)
    assert outcome(native.decode_transaction, raw) == outcome(pure_decode_transaction, raw)


@needs_native
@settings(max_examples=300, deadline=None)
@given(raw=st.binary(max_size=200))
def test_random_bytes_agree(native: ModuleType, raw: bytes) -> None:
    for prefix in (b"", b"\x02", b"\xf8"):
        assert outcome(native.decode_transaction, prefix + raw) == outcome(
            pure_decode_transaction, prefix + raw
        )


def test_remembered_decodes_still_check_the_chain_id() -> None:
    """decode_transaction remembers recent results; the same bytes for another chain still fail."""
    from jovay.codec.transactions import decode_transaction
    from jovay.errors import InvalidTransaction

    raw = raw_tx(KEYS[7], nonce=9, to=b"\x77" * 20, value=3)
    first = decode_transaction(raw, expected_chain_id=CHAIN_ID)
    assert decode_transaction(raw, expected_chain_id=CHAIN_ID) is first
    assert first == pure_decode_transaction(raw, expected_chain_id=CHAIN_ID)
    with pytest.raises(InvalidTransaction, match="invalid chain id"):
        decode_transaction(raw, expected_chain_id=CHAIN_ID + 1)


def batch_outcomes(results: list[Any]) -> list[Any]:
    return [(type(r), str(r)) if isinstance(r, Exception) else ("ok", r) for r in results]


@needs_native
@settings(max_examples=200, deadline=None)
@given(
    cases=st.lists(mutations, min_size=1, max_size=12), originals=st.lists(st.sampled_from(VALID), max_size=4)
)
def test_batch_decoding_agrees_with_the_pure_twin(
    native: ModuleType, cases: list[tuple[bytes, list[tuple[str, int, int]]]], originals: list[bytes]
) -> None:
    """decode_many (senders recovered without the GIL) gives, in order, what decoding each one gives:
    the same SignedTx or the same error, also for tampered signatures, bodies and chain ids."""
    from jovay.codec.transactions import pure_decode_many

    raws = [mutate(*case) for case in cases] + originals
    for chain_id in (CHAIN_ID, CHAIN_ID + 1):
        assert batch_outcomes(native.decode_many(raws, chain_id)) == batch_outcomes(
            pure_decode_many(raws, chain_id)
        )
        assert batch_outcomes(native.decode_many(raws, chain_id)) == [
            outcome(pure_decode_transaction, raw, chain_id) for raw in raws
        ]


@needs_native
def test_batch_decoding_handles_odd_inputs(native: ModuleType) -> None:
    from jovay.codec.transactions import pure_decode_many

    raws: list[Any] = [b"", b"\x02", b"\xc0", bytearray(VALID[0]), VALID[1], b"\x01\xc0", VALID[1]]
    assert batch_outcomes(native.decode_many(raws, CHAIN_ID)) == batch_outcomes(
        pure_decode_many(raws, CHAIN_ID)
    )
    assert native.decode_many([], CHAIN_ID) == []
    for chain_id in (-1, 2**64, 2**300):  # no chain id the native checks can hold: the pure path decides
        assert batch_outcomes(native.decode_many(VALID, chain_id)) == batch_outcomes(
            pure_decode_many(VALID, chain_id)
        )


@needs_native
def test_batch_decoding_recovers_plain_transfers_natively(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Legacy and type-2 transfers are decoded and their senders recovered in the native batch path
    (a fallback to the pure decoder would hide a slow, GIL-bound path); a flipped bit of s there is
    another valid signature, of another sender, recovered as the pure decoder recovers it."""
    from jovay.codec import transactions
    from jovay.crypto.secp256k1 import address_of

    tampered = VALID[0][:-5] + bytes((VALID[0][-5] ^ 1,)) + VALID[0][-4:]
    expected = pure_decode_transaction(tampered, expected_chain_id=CHAIN_ID)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("fell back to the pure decoder")

    monkeypatch.setattr(transactions, "pure_decode_transaction", refuse)
    decoded = native.decode_many([*VALID[:4], tampered], CHAIN_ID)
    assert [signed.sender for signed in decoded[:4]] == [address_of(key) for key in KEYS[:4]]
    assert decoded[4] == expected and expected.sender != address_of(KEYS[0])


def test_decode_many_remembers_like_decode_transaction() -> None:
    from jovay.codec.transactions import decode_many, decode_transaction

    raw = raw_tx(KEYS[7], nonce=4, to=b"\x78" * 20, value=2)
    [first, refused] = decode_many([raw, b"\x02"], CHAIN_ID)
    assert decode_transaction(raw, expected_chain_id=CHAIN_ID) is first
    assert decode_many([raw], CHAIN_ID)[0] is first
    assert isinstance(refused, InvalidTransactionType)
    [other_chain] = decode_many([raw], CHAIN_ID + 1)
    assert isinstance(other_chain, InvalidTransactionType) and "invalid chain id" in str(other_chain)


@needs_native
@pytest.mark.parametrize("raw", VALID[:4])
def test_natively_built_transactions_are_plain_frozen_dataclasses(native: ModuleType, raw: bytes) -> None:
    """The native decoder sets the fields without calling the classes and leaves the objects out of the
    cyclic GC (they hold no containers that could close a cycle): they must still be equal, hash alike,
    stay frozen and copy with `dataclasses.replace`."""
    import dataclasses
    import gc

    signed = native.decode_transaction(raw, expected_chain_id=CHAIN_ID)
    pure = pure_decode_transaction(raw, expected_chain_id=CHAIN_ID)
    assert signed == pure and hash(signed) == hash(pure) and type(signed.tx) is type(pure.tx)
    assert repr(signed) == repr(pure)
    assert not gc.is_tracked(signed) and not gc.is_tracked(signed.tx)
    with pytest.raises(dataclasses.FrozenInstanceError):
        signed.tx.nonce = 1  # type: ignore[misc]
    assert dataclasses.replace(signed.tx, nonce=9) == dataclasses.replace(pure.tx, nonce=9)
