"""Transaction codec: eth_account parity, every rejection message, and fuzzing of the decoder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import rlp
from eth_account import Account
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jovay.codec.transactions import (
    AccessListTx,
    DepositTx,
    DynamicFeeTx,
    LegacyTx,
    SignedTx,
    check_intrinsic_gas,
    data_gas,
    decode_deposit,
    decode_transaction,
    encode_transaction,
    intrinsic_gas,
    sign_transaction,
    signing_hash,
)
from jovay.crypto.keccak import keccak256
from jovay.crypto.secp256k1 import SECP256K1_N, address_of
from jovay.errors import InvalidTransaction
from jovay.params import MAX_TX_SIZE

CHAIN = 202611
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
ACCOUNT = Account.from_key(KEY)
SENDER = address_of(KEY)
TO = bytes.fromhex("4a6f766179000000000000000000000000000002")
TRANSFER = bytes.fromhex("a9059cbb" + "00" * 12 + "22" * 20 + "00" * 31 + "64")
ACCESS = ((bytes.fromhex("ab" * 20), (bytes(32), bytes.fromhex("01" * 32))), (TO, ()))
SECP256K1_P = 2**256 - 2**32 - 977


def _dict_access_list(access_list: Any) -> list[dict[str, Any]]:
    return [
        {"address": "0x" + a.hex(), "storageKeys": ["0x" + k.hex() for k in keys]} for a, keys in access_list
    ]


def to_eth_account_dict(tx: LegacyTx | AccessListTx | DynamicFeeTx) -> dict[str, Any]:
    """The same transaction as eth_account's input dict."""
    d: dict[str, Any] = {
        "chainId": tx.chain_id,
        "nonce": tx.nonce,
        "gas": tx.gas_limit,
        "to": tx.to if tx.to is not None else b"",
        "value": tx.value,
        "data": tx.data,
    }
    if isinstance(tx, LegacyTx):
        d["gasPrice"] = tx.gas_price
    elif isinstance(tx, AccessListTx):
        d.update(type=1, gasPrice=tx.gas_price, accessList=_dict_access_list(tx.access_list))
    else:
        d.update(
            type=2,
            maxFeePerGas=tx.max_fee_per_gas,
            maxPriorityFeePerGas=tx.max_priority_fee_per_gas,
            accessList=_dict_access_list(tx.access_list),
        )
    return d


LEGACY = LegacyTx(nonce=7, gas_price=10**9, gas_limit=60_000, to=TO, value=5, data=TRANSFER, chain_id=CHAIN)
ACCESS_LIST_TX = AccessListTx(
    chain_id=CHAIN,
    nonce=1,
    gas_price=2 * 10**9,
    gas_limit=90_000,
    to=TO,
    value=0,
    data=b"",
    access_list=ACCESS,
)
DYNAMIC = DynamicFeeTx(
    chain_id=CHAIN,
    nonce=3,
    max_priority_fee_per_gas=10**6,
    max_fee_per_gas=10**9,
    gas_limit=60_000,
    to=TO,
    value=10**18,
    data=TRANSFER,
)
DYNAMIC_WITH_ACCESS = DynamicFeeTx(
    chain_id=CHAIN,
    nonce=0,
    max_priority_fee_per_gas=0,
    max_fee_per_gas=0,
    gas_limit=21_000,
    to=TO,
    value=0,
    data=b"\x00" * 70,
    access_list=ACCESS,
)
EXAMPLES = [LEGACY, ACCESS_LIST_TX, DYNAMIC, DYNAMIC_WITH_ACCESS]
RAW_DYNAMIC = sign_transaction(DYNAMIC, KEY)
RAW_LEGACY = sign_transaction(LEGACY, KEY)


def decode(raw: bytes) -> SignedTx:
    return decode_transaction(raw, expected_chain_id=CHAIN)


def rejects(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidTransaction) as info:
        decode(raw)
    assert info.value.message == message
    assert str(info.value) == message


# --- parity with eth_account ------------------------------------------------------------------------


@pytest.mark.parametrize("tx", EXAMPLES, ids=["legacy", "eip2930", "eip1559", "eip1559-access-list"])
def test_sign_matches_eth_account_byte_for_byte(tx: Any) -> None:
    expected = ACCOUNT.sign_transaction(to_eth_account_dict(tx))
    raw = sign_transaction(tx, KEY)
    assert raw == bytes(expected.raw_transaction)
    signed = decode(raw)
    assert signed.hash == bytes(expected.hash)
    assert signed.sender == SENDER == bytes.fromhex(Account.recover_transaction(raw)[2:])
    assert (signed.tx.r, signed.tx.s, signed.tx.v) == (expected.r, expected.s, expected.v)


@pytest.mark.parametrize("tx", EXAMPLES, ids=["legacy", "eip2930", "eip1559", "eip1559-access-list"])
def test_round_trip(tx: Any) -> None:
    raw = sign_transaction(tx, KEY)
    signed = decode(raw)
    assert encode_transaction(signed.tx) == raw
    assert signed.raw == raw and signed.size == len(raw) and signed.hash == keccak256(raw)
    assert signed.tx_type == tx.tx_type
    assert _fields(signed.tx) == _fields(tx), "every non-signature field survives the round trip"
    assert signing_hash(tx) == signing_hash(signed.tx)


def _fields(tx: Any) -> dict[str, Any]:
    return {f: getattr(tx, f) for f in tx.__slots__ if f not in ("r", "s", "y_parity")}


def test_common_properties() -> None:
    assert LEGACY.tx_type == 0 and ACCESS_LIST_TX.tx_type == 1 and DYNAMIC.tx_type == 2
    assert LEGACY.max_fee_per_gas == LEGACY.max_priority_fee_per_gas == LEGACY.gas_price
    assert ACCESS_LIST_TX.max_fee_per_gas == ACCESS_LIST_TX.max_priority_fee_per_gas == 2 * 10**9
    assert LEGACY.access_list == () and ACCESS_LIST_TX.access_list == ACCESS
    signed = decode(RAW_LEGACY)
    assert signed.tx.v == CHAIN * 2 + 35 + signed.tx.y_parity
    deposit = DepositTx(queue_index=4, sender=SENDER, to=TO, value=10)
    assert (deposit.tx_type, deposit.nonce, deposit.gas_limit, deposit.data) == (0x7E, 0, 0, b"")
    assert (deposit.max_fee_per_gas, deposit.max_priority_fee_per_gas, deposit.access_list) == (0, 0, ())
    assert deposit.chain_id is None


def test_contract_creation_decodes_with_to_none() -> None:
    raw = sign_transaction(DynamicFeeTx(CHAIN, 0, 1, 1, 100_000, None, 0, b"\x60\x00"), KEY)
    signed = decode(raw)
    assert signed.tx.to is None
    assert raw == bytes(ACCOUNT.sign_transaction(to_eth_account_dict(signed.tx)).raw_transaction)


uint64 = st.integers(min_value=0, max_value=2**64 - 2)
uint256 = st.integers(min_value=0, max_value=2**256 - 1)
addresses = st.binary(min_size=20, max_size=20)
access_lists = st.lists(
    st.tuples(addresses, st.lists(st.binary(min_size=32, max_size=32), max_size=3).map(tuple)), max_size=3
).map(tuple)


@st.composite
def transactions(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["legacy", "eip2930", "eip1559"]))
    common = dict(
        nonce=draw(uint64),
        gas_limit=draw(st.integers(min_value=21_000, max_value=2**63)),
        to=draw(addresses),
        value=draw(uint256),
        data=draw(st.binary(max_size=300)),
        chain_id=draw(st.sampled_from([CHAIN, 1, 2**64])),
    )
    if kind == "legacy":
        return LegacyTx(gas_price=draw(uint256), **common)
    if kind == "eip2930":
        return AccessListTx(gas_price=draw(uint256), access_list=draw(access_lists), **common)
    fee = draw(uint256)
    tip = draw(st.integers(min_value=0, max_value=fee))
    return DynamicFeeTx(
        max_priority_fee_per_gas=tip, max_fee_per_gas=fee, access_list=draw(access_lists), **common
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    transactions(), st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
)
def test_random_transactions_match_eth_account(tx: Any, key: bytes) -> None:
    expected = Account.from_key(key).sign_transaction(to_eth_account_dict(tx))
    raw = sign_transaction(tx, key)
    assert raw == bytes(expected.raw_transaction)
    signed = decode_transaction(raw, expected_chain_id=tx.chain_id)
    assert signed.hash == bytes(expected.hash)
    assert signed.sender == address_of(key) == bytes.fromhex(Account.recover_transaction(raw)[2:])
    assert encode_transaction(signed.tx) == raw


def test_tampered_payload_recovers_another_sender() -> None:
    """A valid signature over other bytes is not an error: it authenticates someone else."""
    tampered = sign_transaction(DYNAMIC, KEY).replace(TRANSFER[-1:] + b"\xc0", b"\x65\xc0")
    signed = decode(tampered)
    assert signed.sender != SENDER
    assert signed.sender == bytes.fromhex(Account.recover_transaction(tampered)[2:])


# --- rejections -------------------------------------------------------------------------------------


def rlp_list(encoded_items: list[bytes]) -> bytes:
    """A list header over already-encoded items, built independently of the codec under test."""
    payload = b"".join(encoded_items)
    if len(payload) < 56:
        return bytes([0xC0 + len(payload)]) + payload
    size = len(payload).to_bytes((len(payload).bit_length() + 7) // 8, "big")
    return bytes([0xF7 + len(size)]) + size + payload


DYNAMIC_FIELDS: list[Any] = rlp.decode(RAW_DYNAMIC[1:])
LEGACY_FIELDS: list[Any] = rlp.decode(RAW_LEGACY)


def dynamic_with(index: int, value: Any) -> bytes:
    fields = list(DYNAMIC_FIELDS)
    fields[index] = value
    return b"\x02" + rlp.encode(fields)


def dynamic_with_raw_field(index: int, encoded: bytes) -> bytes:
    items = [rlp.encode(f) for f in DYNAMIC_FIELDS]
    items[index] = encoded
    return b"\x02" + rlp_list(items)


def signed_variant(tx: Any, **changes: Any) -> bytes:
    return sign_transaction(tx.__class__(**(_fields(tx) | changes)), KEY)


def resigned_with(tx: Any, y_parity: int, r: int, s: int) -> bytes:
    """`tx` with explicit signature values (valid or not)."""
    return encode_transaction(tx.__class__(**(_fields(tx) | {"y_parity": y_parity, "r": r, "s": s})))


def _r_not_on_curve() -> int:
    x = 1
    while pow((x**3 + 7) % SECP256K1_P, (SECP256K1_P - 1) // 2, SECP256K1_P) == 1:
        x += 1
    return x


def test_oversized_is_checked_before_decoding() -> None:
    rejects(
        b"\x02" + bytes(MAX_TX_SIZE),
        f"oversized data: transaction size {MAX_TX_SIZE + 1}, limit {MAX_TX_SIZE}",
    )
    rejects(
        b"\xff" * (MAX_TX_SIZE + 5),
        f"oversized data: transaction size {MAX_TX_SIZE + 5}, limit {MAX_TX_SIZE}",
    )


def test_size_limit_is_inclusive() -> None:
    data = b"\x01" * (MAX_TX_SIZE - 200)
    raw = signed_variant(DYNAMIC, data=data, gas_limit=10**7)
    raw = signed_variant(DYNAMIC, data=data + b"\x01" * (MAX_TX_SIZE - len(raw)), gas_limit=10**7)
    assert len(raw) == MAX_TX_SIZE
    assert decode(raw).sender == SENDER


CASES: list[tuple[str, Callable[[], bytes], str]] = [
    ("empty", lambda: b"", "typed transaction too short"),
    ("type byte only", lambda: b"\x02", "typed transaction too short"),
    ("type 3", lambda: b"\x03" + RAW_DYNAMIC[1:], "transaction type not supported"),
    ("type 0", lambda: b"\x00" + RAW_DYNAMIC[1:], "transaction type not supported"),
    ("type 0x7f", lambda: b"\x7f\xc0", "transaction type not supported"),
    (
        "deposit",
        lambda: encode_transaction(DepositTx(queue_index=0, sender=SENDER, to=TO, value=1)),
        "transaction type not supported",
    ),
    ("legacy not a list", lambda: b"\x85hello", "rlp: expected input list for types.LegacyTx"),
    ("typed not a list", lambda: b"\x02\x80", "rlp: expected input list for types.DynamicFeeTx"),
    ("type 1 not a list", lambda: b"\x01\x05", "rlp: expected input list for types.AccessListTx"),
    ("typed trailing byte", lambda: RAW_DYNAMIC + b"\x00", "rlp: input contains more than one value"),
    ("legacy trailing item", lambda: RAW_LEGACY + b"\x80", "rlp: input contains more than one value"),
    ("truncated", lambda: RAW_DYNAMIC[:-1], "rlp: value size exceeds available input length"),
    ("truncated header", lambda: b"\x02\xf9\x01", "rlp: value size exceeds available input length"),
    ("element larger than list", lambda: b"\x02\xc1\x83", "rlp: element is larger than containing list"),
    (
        "too few fields",
        lambda: b"\x02" + rlp.encode(DYNAMIC_FIELDS[:11]),
        "rlp: too few elements for types.DynamicFeeTx",
    ),
    (
        "too many fields",
        lambda: b"\x02" + rlp.encode([*DYNAMIC_FIELDS, b""]),
        "rlp: input list has too many elements for types.DynamicFeeTx",
    ),
    (
        "legacy too few fields",
        lambda: rlp.encode(LEGACY_FIELDS[:8]),
        "rlp: too few elements for types.LegacyTx",
    ),
    (
        "legacy too many fields",
        lambda: rlp.encode([*LEGACY_FIELDS, b""]),
        "rlp: input list has too many elements for types.LegacyTx",
    ),
    (
        "nonce leading zero",
        lambda: dynamic_with(1, b"\x00\x03"),
        "rlp: non-canonical integer (leading zero bytes) for uint64",
    ),
    (
        "nonce zero byte",
        lambda: dynamic_with(1, b"\x00"),
        "rlp: non-canonical integer (leading zero bytes) for uint64",
    ),
    (
        "value leading zero",
        lambda: dynamic_with(6, b"\x00\x01"),
        "rlp: non-canonical integer (leading zero bytes) for *big.Int",
    ),
    (
        "single byte wrapped",
        lambda: dynamic_with_raw_field(1, b"\x81\x03"),
        "rlp: non-canonical size information for types.DynamicFeeTx",
    ),
    (
        "long form for short string",
        lambda: dynamic_with_raw_field(7, b"\xb8\x03abc"),
        "rlp: non-canonical size information for types.DynamicFeeTx",
    ),
    (
        "length with leading zero",
        lambda: dynamic_with_raw_field(7, b"\xb9\x00\x40" + b"a" * 64),
        "rlp: non-canonical size information for types.DynamicFeeTx",
    ),
    (
        "long list form for short list",
        lambda: b"\x02\xf8\x03\x01\x02\x03",
        "rlp: non-canonical size information for types.DynamicFeeTx",
    ),
    ("nonce 9 bytes", lambda: dynamic_with(1, b"\x01" * 9), "rlp: input string too long for uint64"),
    ("gas 9 bytes", lambda: dynamic_with(4, b"\x01" * 9), "rlp: input string too long for uint64"),
    ("nonce is a list", lambda: dynamic_with(1, []), "rlp: expected input string or byte for uint64"),
    ("to 19 bytes", lambda: dynamic_with(5, b"\x01" * 19), "rlp: input string too short for common.Address"),
    ("to 21 bytes", lambda: dynamic_with(5, b"\x01" * 21), "rlp: input string too long for common.Address"),
    ("to is a list", lambda: dynamic_with(5, []), "rlp: expected input string or byte for common.Address"),
    ("data is a list", lambda: dynamic_with(7, [b"a"]), "rlp: expected input string or byte for []uint8"),
    ("access list not a list", lambda: dynamic_with(8, b""), "rlp: expected input list for types.AccessList"),
    (
        "access tuple not a list",
        lambda: dynamic_with(8, [b"x"]),
        "rlp: expected input list for types.AccessTuple",
    ),
    (
        "access tuple too short",
        lambda: dynamic_with(8, [[TO]]),
        "rlp: too few elements for types.AccessTuple",
    ),
    (
        "access tuple too long",
        lambda: dynamic_with(8, [[TO, [], b""]]),
        "rlp: input list has too many elements for types.AccessTuple",
    ),
    (
        "access address short",
        lambda: dynamic_with(8, [[TO[1:], []]]),
        "rlp: input string too short for common.Address",
    ),
    (
        "storage keys not a list",
        lambda: dynamic_with(8, [[TO, b""]]),
        "rlp: expected input list for []common.Hash",
    ),
    (
        "storage key short",
        lambda: dynamic_with(8, [[TO, [b"\x01" * 31]]]),
        "rlp: input string too short for common.Hash",
    ),
    ("v is a list", lambda: dynamic_with(9, []), "rlp: expected input string or byte for *big.Int"),
    (
        "nonce max",
        lambda: signed_variant(DYNAMIC, nonce=2**64 - 1),
        "nonce has max value: nonce 18446744073709551615",
    ),
    (
        "fee cap beyond uint256",
        lambda: signed_variant(DYNAMIC, max_fee_per_gas=2**256),
        "max fee per gas higher than 2^256-1",
    ),
    (
        "tip beyond uint256",
        lambda: signed_variant(DYNAMIC, max_fee_per_gas=2**256 - 1, max_priority_fee_per_gas=2**256),
        "max priority fee per gas higher than 2^256-1",
    ),
    (
        "tip above fee cap",
        lambda: signed_variant(DYNAMIC, max_fee_per_gas=10, max_priority_fee_per_gas=11),
        "max priority fee per gas higher than max fee per gas",
    ),
    (
        "legacy gas price beyond uint256",
        lambda: signed_variant(LEGACY, gas_price=2**256),
        "max fee per gas higher than 2^256-1",
    ),
    ("value beyond uint256", lambda: signed_variant(DYNAMIC, value=2**256), "value higher than 2^256-1"),
    (
        "typed wrong chain",
        lambda: signed_variant(DYNAMIC, chain_id=1),
        f"invalid chain id for signer: have 1 want {CHAIN}",
    ),
    (
        "eip2930 wrong chain",
        lambda: signed_variant(ACCESS_LIST_TX, chain_id=5),
        f"invalid chain id for signer: have 5 want {CHAIN}",
    ),
    (
        "legacy wrong chain",
        lambda: signed_variant(LEGACY, chain_id=1),
        f"invalid chain id for signer: have 1 want {CHAIN}",
    ),
    (
        "pre-EIP-155",
        lambda: bytes(
            ACCOUNT.sign_transaction(
                {k: v for k, v in to_eth_account_dict(LEGACY).items() if k != "chainId"}
            )["raw_transaction"]
        ),
        "only replay-protected (EIP-155) transactions allowed over RPC",
    ),
    (
        "legacy v=0",
        lambda: rlp.encode([*LEGACY_FIELDS[:6], b"", *LEGACY_FIELDS[7:]]),
        "only replay-protected (EIP-155) transactions allowed over RPC",
    ),
    (
        "legacy v=30",
        lambda: rlp.encode([*LEGACY_FIELDS[:6], b"\x1e", *LEGACY_FIELDS[7:]]),
        "invalid transaction v, r, s values",
    ),
    (
        "typed y parity 2",
        lambda: resigned_with(DYNAMIC, 2, decode(RAW_DYNAMIC).tx.r, decode(RAW_DYNAMIC).tx.s),
        "invalid transaction v, r, s values",
    ),
    (
        "high s",
        lambda: resigned_with(
            DYNAMIC,
            1 - decode(RAW_DYNAMIC).tx.y_parity,
            decode(RAW_DYNAMIC).tx.r,
            SECP256K1_N - decode(RAW_DYNAMIC).tx.s,
        ),
        "invalid transaction v, r, s values",
    ),
    (
        "legacy high s",
        lambda: resigned_with(
            LEGACY,
            1 - decode(RAW_LEGACY).tx.y_parity,
            decode(RAW_LEGACY).tx.r,
            SECP256K1_N - decode(RAW_LEGACY).tx.s,
        ),
        "invalid transaction v, r, s values",
    ),
    ("r zero", lambda: resigned_with(DYNAMIC, 0, 0, 1), "invalid transaction v, r, s values"),
    ("s zero", lambda: resigned_with(DYNAMIC, 0, 1, 0), "invalid transaction v, r, s values"),
    ("r = n", lambda: resigned_with(DYNAMIC, 0, SECP256K1_N, 1), "invalid transaction v, r, s values"),
    ("unsigned", lambda: encode_transaction(DYNAMIC), "invalid transaction v, r, s values"),
    ("r not on curve", lambda: resigned_with(DYNAMIC, 0, _r_not_on_curve(), 1), "invalid sender"),
]


@pytest.mark.parametrize(("raw_factory", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejection_messages(raw_factory: Callable[[], bytes], message: str) -> None:
    rejects(raw_factory(), message)


def test_rejections_default_to_rpc_code_32000() -> None:
    with pytest.raises(InvalidTransaction) as info:
        decode(b"\x03\xc0")
    assert info.value.rpc_code == -32000


def _nested(depth: int) -> bytes:
    """`depth` lists, each holding the next: built inside-out in linear time."""
    out = [b"\xc0"]
    size = 1
    for _ in range(depth):
        if size < 56:
            header = bytes([0xC0 + size])
        else:
            n = size.to_bytes((size.bit_length() + 7) // 8, "big")
            header = bytes([0xF7 + len(n)]) + n
        out.append(header)
        size += len(header)
    return b"".join(reversed(out))


@pytest.mark.parametrize("depth", [17, 100, 30_000])
def test_deep_nesting_is_rejected_without_recursion_error(depth: int) -> None:
    with pytest.raises(InvalidTransaction, match=r"^rlp: nesting deeper than 16 lists"):
        decode(b"\x02" + rlp_list([_nested(depth)]))


# --- deposits ---------------------------------------------------------------------------------------


def test_deposit_round_trip_and_hash() -> None:
    deposit = DepositTx(queue_index=12, sender=SENDER, to=TO, value=10**18)
    raw = encode_transaction(deposit)
    assert raw == b"\x7e" + rlp.encode([12, SENDER, TO, 10**18])
    assert decode_deposit(raw) == deposit
    assert intrinsic_gas(deposit) == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "typed transaction too short"),
        (b"\x7e", "typed transaction too short"),
        (b"\x02\xc0", "not a deposit transaction: type 0x2"),
        (b"\x7e\x80", "rlp: expected input list for types.DepositTx"),
        (b"\x7e" + rlp.encode([1, SENDER, TO]), "rlp: too few elements for types.DepositTx"),
        (b"\x7e" + rlp.encode([1, SENDER[1:], TO, 1]), "rlp: input string too short for common.Address"),
        (b"\x7e" + rlp.encode([1, SENDER, TO, b"\x01" * 33]), "rlp: input string too long for uint256"),
        (
            b"\x7e" + rlp.encode([b"\x00", SENDER, TO, 1]),
            "rlp: non-canonical integer (leading zero bytes) for uint64",
        ),
    ],
)
def test_deposit_rejections(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidTransaction) as info:
        decode_deposit(raw)
    assert info.value.message == message


# --- intrinsic gas ----------------------------------------------------------------------------------


def test_intrinsic_gas() -> None:
    tx = DynamicFeeTx(CHAIN, 0, 0, 0, 0, TO, 0, b"\x00\x00\x01\xff\x00", access_list=ACCESS)
    assert data_gas(tx.data) == 3 * 4 + 2 * 16
    assert intrinsic_gas(tx) == 21_000 + 3 * 4 + 2 * 16 + 2 * 2_400 + 2 * 1_900
    assert intrinsic_gas(LEGACY) == 21_000 + TRANSFER.count(0) * 4 + (len(TRANSFER) - TRANSFER.count(0)) * 16
    with pytest.raises(InvalidTransaction) as info:
        check_intrinsic_gas(tx)
    assert info.value.message == f"intrinsic gas too low: gas 0, minimum needed {intrinsic_gas(tx)}"
    ok = DynamicFeeTx(CHAIN, 0, 0, 0, 21_000, TO, 0, b"")
    assert check_intrinsic_gas(ok) == 21_000


# --- fuzzing ----------------------------------------------------------------------------------------


def decode_or_reject(raw: bytes, chain_id: int = CHAIN) -> SignedTx | None:
    """Decode; the only acceptable failure is InvalidTransaction, and any success is canonical."""
    try:
        signed = decode_transaction(raw, expected_chain_id=chain_id)
    except InvalidTransaction:
        return None
    assert encode_transaction(signed.tx) == raw
    assert signed.hash == keccak256(raw)
    return signed


type_prefixes = st.sampled_from([b"", b"\x01", b"\x02", b"\x7e", b"\x00", b"\x03"])


@settings(max_examples=1500, deadline=None)
@given(type_prefixes, st.binary(max_size=300))
def test_fuzz_random_bytes(prefix: bytes, body: bytes) -> None:
    decode_or_reject(prefix + body)


rlp_structures = st.recursive(
    st.binary(max_size=40) | st.integers(min_value=0, max_value=2**300),
    lambda children: st.lists(children, max_size=14),
    max_leaves=60,
)


@settings(max_examples=400, deadline=None)
@given(type_prefixes, rlp_structures)
def test_fuzz_random_rlp_structures(prefix: bytes, structure: Any) -> None:
    decode_or_reject(prefix + rlp.encode(structure))


small_ints = st.integers(min_value=0, max_value=2**70) | st.sampled_from([0, 1, 27, 28, 35, 36, 2**64 - 1])
byte_fields = st.sampled_from([TO, TO, TO, b"", b"\x01" * 19, b"\x01" * 21])


@st.composite
def shaped_transactions(draw: st.DrawFn) -> bytes:
    """Well-shaped field lists with random contents: reaches the range, chain and signature checks."""
    kind = draw(st.sampled_from([0, 1, 2]))
    ints = st.one_of(small_ints, st.integers(min_value=1, max_value=SECP256K1_N + 5))
    chain = draw(st.sampled_from([CHAIN, 1]) | small_ints)
    access = draw(st.sampled_from([[], [[TO, []]], [[TO, [bytes(32)]]], [b"x"]]))
    if kind == 0:
        v = draw(st.sampled_from([CHAIN * 2 + 35, CHAIN * 2 + 36, 27]) | small_ints)
        fields: list[Any] = [draw(small_ints), draw(small_ints), draw(small_ints), draw(byte_fields)]
        fields += [draw(small_ints), draw(st.binary(max_size=64)), v, draw(ints), draw(ints)]
        return rlp.encode(fields)
    fees = [draw(small_ints)] if kind == 1 else [draw(small_ints), draw(small_ints)]
    fields = [chain, draw(small_ints), *fees, draw(small_ints), draw(byte_fields), draw(small_ints)]
    fields += [
        draw(st.binary(max_size=64)),
        access,
        draw(st.sampled_from([0, 1]) | small_ints),
        draw(ints),
        draw(ints),
    ]
    return bytes([kind]) + rlp.encode(fields)


@settings(max_examples=800, deadline=None)
@given(shaped_transactions())
def test_fuzz_shaped_transactions(raw: bytes) -> None:
    signed = decode_or_reject(raw)
    if signed is not None:
        assert signed.sender == bytes.fromhex(Account.recover_transaction(raw)[2:])


@settings(max_examples=1500, deadline=None)
@given(
    st.sampled_from([RAW_DYNAMIC, RAW_LEGACY, sign_transaction(ACCESS_LIST_TX, KEY)]),
    st.integers(min_value=0),
    st.integers(min_value=0, max_value=255),
    st.sampled_from(["replace", "insert", "delete", "truncate"]),
)
def test_fuzz_mutated_valid_transactions(raw: bytes, where: int, byte: int, how: str) -> None:
    i = where % len(raw)
    if how == "replace":
        mutated = raw[:i] + bytes([byte]) + raw[i + 1 :]
    elif how == "insert":
        mutated = raw[:i] + bytes([byte]) + raw[i:]
    elif how == "delete":
        mutated = raw[:i] + raw[i + 1 :]
    else:
        mutated = raw[:i]
    assume(mutated != raw)
    decode_or_reject(mutated)
