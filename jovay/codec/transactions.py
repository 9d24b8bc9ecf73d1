"""Ethereum transactions as bytes: legacy (EIP-155), EIP-2930, EIP-1559, and Jovay deposits (0x7e).

`decode_transaction` is the sequencer's entry point for untrusted bytes: it checks size, structure,
field ranges, chain id and signature, recovers the sender and hashes, and raises only
`InvalidTransaction`, with geth's messages where geth has one. Policy that needs state or the node's
rules (nonce order, balance, fee floor, contract creation, calldata targets) is the caller's.
Deposits carry no signature and are only ever built from L1 events, so they are decoded by the
separate `decode_deposit` and refused by `decode_transaction`.
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from jovay.codec._rlp import (
    Item,
    RLPError,
    decode_list,
    encode_bytes,
    encode_list,
    encode_uint,
    encoded_bytes_length,
    fixed_bytes,
    list_of,
    string,
    uint,
)
from jovay.crypto.keccak import keccak256
from jovay.crypto.secp256k1 import recover_address, sign
from jovay.errors import InvalidTransaction
from jovay.params import (
    ACCESS_LIST_ADDRESS_GAS,
    ACCESS_LIST_STORAGE_KEY_GAS,
    MAX_NONCE,
    MAX_TX_SIZE,
    MAX_UINT256,
    TX_BASE_GAS,
    TX_DATA_NONZERO_GAS,
    TX_DATA_ZERO_GAS,
)

__all__ = [
    "LEGACY_TX_TYPE",
    "ACCESS_LIST_TX_TYPE",
    "DYNAMIC_FEE_TX_TYPE",
    "DEPOSIT_TX_TYPE",
    "AccessList",
    "LegacyTx",
    "AccessListTx",
    "DynamicFeeTx",
    "DepositTx",
    "Transaction",
    "SignableTx",
    "SignedTx",
    "decode_transaction",
    "pure_decode_transaction",
    "decode_many",
    "pure_decode_many",
    "decode_deposit",
    "encode_transaction",
    "signing_hash",
    "sign_transaction",
    "data_gas",
    "intrinsic_gas",
    "check_intrinsic_gas",
]

LEGACY_TX_TYPE = 0
ACCESS_LIST_TX_TYPE = 1
DYNAMIC_FEE_TX_TYPE = 2
DEPOSIT_TX_TYPE = 0x7E

AccessList = tuple[tuple[bytes, tuple[bytes, ...]], ...]
"""((address, (storage_key, ...)), ...): 20-byte addresses, 32-byte keys."""

_BIG = "*big.Int"
_NAME_LEGACY = "types.LegacyTx"
_NAME_ACCESS_LIST = "types.AccessListTx"
_NAME_DYNAMIC_FEE = "types.DynamicFeeTx"
_NAME_DEPOSIT = "types.DepositTx"


# --- transaction types ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegacyTx:
    """EIP-155 legacy transaction; `v` on the wire is `chain_id * 2 + 35 + y_parity`."""

    nonce: int
    gas_price: int
    gas_limit: int
    to: bytes | None
    value: int
    data: bytes
    chain_id: int
    y_parity: int = 0
    r: int = 0
    s: int = 0

    @property
    def tx_type(self) -> int:
        return LEGACY_TX_TYPE

    @property
    def max_fee_per_gas(self) -> int:
        return self.gas_price

    @property
    def max_priority_fee_per_gas(self) -> int:
        return self.gas_price

    @property
    def access_list(self) -> AccessList:
        return ()

    @property
    def v(self) -> int:
        return self.chain_id * 2 + 35 + self.y_parity


@dataclass(frozen=True, slots=True)
class AccessListTx:
    """EIP-2930 transaction (type 1)."""

    chain_id: int
    nonce: int
    gas_price: int
    gas_limit: int
    to: bytes | None
    value: int
    data: bytes
    access_list: AccessList = ()
    y_parity: int = 0
    r: int = 0
    s: int = 0

    @property
    def tx_type(self) -> int:
        return ACCESS_LIST_TX_TYPE

    @property
    def max_fee_per_gas(self) -> int:
        return self.gas_price

    @property
    def max_priority_fee_per_gas(self) -> int:
        return self.gas_price

    @property
    def v(self) -> int:
        return self.y_parity


@dataclass(frozen=True, slots=True)
class DynamicFeeTx:
    """EIP-1559 transaction (type 2)."""

    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas_limit: int
    to: bytes | None
    value: int
    data: bytes
    access_list: AccessList = ()
    y_parity: int = 0
    r: int = 0
    s: int = 0

    @property
    def tx_type(self) -> int:
        return DYNAMIC_FEE_TX_TYPE

    @property
    def v(self) -> int:
        return self.y_parity


@dataclass(frozen=True, slots=True)
class DepositTx:
    """L1 deposit (type 0x7e): credits `value` wei to `to`; no signature, nonce, gas or fee."""

    queue_index: int
    sender: bytes
    to: bytes
    value: int

    @property
    def tx_type(self) -> int:
        return DEPOSIT_TX_TYPE

    @property
    def nonce(self) -> int:
        return 0

    @property
    def gas_limit(self) -> int:
        return 0

    @property
    def data(self) -> bytes:
        return b""

    @property
    def max_fee_per_gas(self) -> int:
        return 0

    @property
    def max_priority_fee_per_gas(self) -> int:
        return 0

    @property
    def access_list(self) -> AccessList:
        return ()

    @property
    def chain_id(self) -> int | None:
        return None


Transaction = LegacyTx | AccessListTx | DynamicFeeTx | DepositTx
SignableTx = LegacyTx | AccessListTx | DynamicFeeTx


@dataclass(frozen=True, slots=True)
class SignedTx:
    """An authenticated user transaction: sender recovered, hash = keccak256(raw)."""

    tx: SignableTx
    sender: bytes
    hash: bytes
    raw: bytes

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def tx_type(self) -> int:
        return self.tx.tx_type


# --- encoding ---------------------------------------------------------------------------------------


def _encode_to(to: bytes | None) -> bytes:
    return b"\x80" if to is None else encode_bytes(to)


def _encode_access_list(access_list: AccessList) -> bytes:
    return encode_list(
        encode_list((encode_bytes(address), encode_list(map(encode_bytes, keys))))
        for address, keys in access_list
    )


def _legacy_fields(tx: LegacyTx) -> list[bytes]:
    return [
        encode_uint(tx.nonce),
        encode_uint(tx.gas_price),
        encode_uint(tx.gas_limit),
        _encode_to(tx.to),
        encode_uint(tx.value),
        encode_bytes(tx.data),
    ]


def _typed_fields(tx: AccessListTx | DynamicFeeTx) -> list[bytes]:
    if type(tx) is AccessListTx:
        fees = [encode_uint(tx.gas_price)]
    else:
        fees = [encode_uint(tx.max_priority_fee_per_gas), encode_uint(tx.max_fee_per_gas)]
    return [
        encode_uint(tx.chain_id),
        encode_uint(tx.nonce),
        *fees,
        encode_uint(tx.gas_limit),
        _encode_to(tx.to),
        encode_uint(tx.value),
        encode_bytes(tx.data),
        _encode_access_list(tx.access_list),
    ]


def encode_transaction(tx: Transaction) -> bytes:
    """Wire encoding (what `eth_sendRawTransaction` carries and the tx hash is taken over)."""
    if type(tx) is LegacyTx:
        sig = [encode_uint(tx.v), encode_uint(tx.r), encode_uint(tx.s)]
        return encode_list(_legacy_fields(tx) + sig)
    if type(tx) is AccessListTx or type(tx) is DynamicFeeTx:
        sig = [encode_uint(tx.y_parity), encode_uint(tx.r), encode_uint(tx.s)]
        return bytes((tx.tx_type,)) + encode_list(_typed_fields(tx) + sig)
    if type(tx) is DepositTx:
        fields = [encode_uint(tx.queue_index), encode_bytes(tx.sender), encode_bytes(tx.to)]
        return bytes((DEPOSIT_TX_TYPE,)) + encode_list([*fields, encode_uint(tx.value)])
    raise TypeError(f"not a transaction: {type(tx).__name__}")


def signing_hash(tx: SignableTx) -> bytes:
    """The hash the sender signs (EIP-155 for legacy, `keccak(type || rlp(fields))` for typed)."""
    if type(tx) is LegacyTx:
        eip155 = [encode_uint(tx.chain_id), b"\x80", b"\x80"]
        return keccak256(encode_list(_legacy_fields(tx) + eip155))
    if type(tx) is AccessListTx or type(tx) is DynamicFeeTx:
        return keccak256(bytes((tx.tx_type,)) + encode_list(_typed_fields(tx)))
    raise TypeError(f"not a signable transaction: {type(tx).__name__}")


def sign_transaction(tx_unsigned: SignableTx, private_key: bytes) -> bytes:
    """Sign and encode; byte-identical to eth_account's `Account.sign_transaction` (tests, benches)."""
    y_parity, r, s = sign(signing_hash(tx_unsigned), private_key)
    return encode_transaction(dataclasses.replace(tx_unsigned, y_parity=y_parity, r=r, s=s))


# --- decoding ---------------------------------------------------------------------------------------


def _list_header_length(first_byte: int) -> int:
    """Bytes taken by a (valid) list header starting with `first_byte`."""
    return 1 if first_byte < 0xF8 else 1 + first_byte - 0xF7


def _signature_length(v: Item, r: Item, s: Item) -> int:
    """Encoded length of the trailing v, r, s items (already checked to be canonical strings)."""
    return encoded_bytes_length(v) + encoded_bytes_length(r) + encoded_bytes_length(s)  # type: ignore[arg-type]


def _to(item: Item) -> bytes | None:
    """Recipient: empty string means contract creation (geth's `rlp:"nil"`)."""
    if item == b"":
        return None
    return fixed_bytes(item, 20, "common.Address")


def _access_list(item: Item) -> AccessList:
    entries = list_of(item, "types.AccessList")
    if not entries:
        return ()
    out = []
    for entry in entries:
        address, keys = list_of(entry, "types.AccessTuple", 2)
        keys_list = list_of(keys, "[]common.Hash")
        out.append(
            (
                fixed_bytes(address, 20, "common.Address"),
                tuple(fixed_bytes(key, 32, "common.Hash") for key in keys_list),
            )
        )
    return tuple(out)


def _check_fields(typename: str, fields: list[Item], count: int) -> None:
    if len(fields) != count:
        which = "too few elements" if len(fields) < count else "input list has too many elements"
        raise RLPError(f"rlp: {which} for {typename}")


def _check_common(nonce: int, fee_cap: int, tip: int, value: int) -> None:
    """Stateless range checks, geth's texts (`nonce has max value`, fee caps beyond uint256...)."""
    if nonce > MAX_NONCE:
        raise InvalidTransaction(f"nonce has max value: nonce {nonce}")
    if fee_cap > MAX_UINT256:
        raise InvalidTransaction("max fee per gas higher than 2^256-1")
    if tip > MAX_UINT256:
        raise InvalidTransaction("max priority fee per gas higher than 2^256-1")
    if tip > fee_cap:
        raise InvalidTransaction("max priority fee per gas higher than max fee per gas")
    if value > MAX_UINT256:
        raise InvalidTransaction("value higher than 2^256-1")


def _check_chain_id(have: int, want: int) -> None:
    if have != want:
        raise InvalidTransaction(f"invalid chain id for signer: have {have} want {want}")


def _decode_legacy(raw: bytes, expected_chain_id: int) -> SignedTx:
    fields = decode_list(raw, _NAME_LEGACY)
    _check_fields(_NAME_LEGACY, fields, 9)
    nonce = uint(fields[0])
    gas_price = uint(fields[1], _BIG, None)
    gas_limit = uint(fields[2])
    to = _to(fields[3])
    value = uint(fields[4], _BIG, None)
    data = string(fields[5])
    v = uint(fields[6], _BIG, None)
    r = uint(fields[7], _BIG, None)
    s = uint(fields[8], _BIG, None)
    _check_common(nonce, gas_price, gas_price, value)
    if v in (0, 1, 27, 28):
        raise InvalidTransaction("only replay-protected (EIP-155) transactions allowed over RPC")
    if v < 35:
        raise InvalidTransaction("invalid transaction v, r, s values")
    chain_id, y_parity = divmod(v - 35, 2)
    _check_chain_id(chain_id, expected_chain_id)
    # The signed payload is the first six fields followed by (chain_id, 0, 0): slice, don't re-encode.
    body = raw[_list_header_length(raw[0]) : len(raw) - _signature_length(fields[6], fields[7], fields[8])]
    tail = encode_uint(chain_id) + b"\x80\x80"
    sender = recover_address(keccak256(encode_list((body, tail))), y_parity, r, s)
    tx = LegacyTx(nonce, gas_price, gas_limit, to, value, data, chain_id, y_parity, r, s)
    return SignedTx(tx, sender, keccak256(raw), raw)


def _decode_typed(raw: bytes, expected_chain_id: int) -> SignedTx:
    tx_type = raw[0]
    dynamic = tx_type == DYNAMIC_FEE_TX_TYPE
    typename = _NAME_DYNAMIC_FEE if dynamic else _NAME_ACCESS_LIST
    payload = raw[1:]
    fields = decode_list(payload, typename)
    _check_fields(typename, fields, 12 if dynamic else 11)
    chain_id = uint(fields[0], _BIG, None)
    nonce = uint(fields[1])
    if dynamic:
        tip = uint(fields[2], _BIG, None)
        fee_cap = uint(fields[3], _BIG, None)
        i = 4
    else:
        tip = fee_cap = uint(fields[2], _BIG, None)
        i = 3
    gas_limit = uint(fields[i])
    to = _to(fields[i + 1])
    value = uint(fields[i + 2], _BIG, None)
    data = string(fields[i + 3])
    access_list = _access_list(fields[i + 4])
    y_parity = uint(fields[i + 5], _BIG, None)
    r = uint(fields[i + 6], _BIG, None)
    s = uint(fields[i + 7], _BIG, None)
    _check_common(nonce, fee_cap, tip, value)
    _check_chain_id(chain_id, expected_chain_id)
    sig_len = _signature_length(fields[i + 5], fields[i + 6], fields[i + 7])
    body = payload[_list_header_length(payload[0]) : len(payload) - sig_len]
    sender = recover_address(keccak256(raw[:1] + encode_list((body,))), y_parity, r, s)
    tx: AccessListTx | DynamicFeeTx
    if dynamic:
        tx = DynamicFeeTx(
            chain_id, nonce, tip, fee_cap, gas_limit, to, value, data, access_list, y_parity, r, s
        )
    else:
        tx = AccessListTx(chain_id, nonce, fee_cap, gas_limit, to, value, data, access_list, y_parity, r, s)
    return SignedTx(tx, sender, keccak256(raw), raw)


def pure_decode_transaction(raw: bytes, *, expected_chain_id: int) -> SignedTx:
    """Decode and authenticate untrusted wire bytes (legacy EIP-155, type 1, type 2).

    Raises InvalidTransaction for anything malformed, oversized, unsupported (deposits included),
    for another chain, or not validly signed.
    """
    size = len(raw)
    if size > MAX_TX_SIZE:
        raise InvalidTransaction(f"oversized data: transaction size {size}, limit {MAX_TX_SIZE}")
    if type(raw) is not bytes:
        raw = bytes(raw)
    try:
        if size and raw[0] > 0x7F:
            return _decode_legacy(raw, expected_chain_id)
        if size <= 1:
            raise InvalidTransaction("typed transaction too short")
        if raw[0] == DYNAMIC_FEE_TX_TYPE or raw[0] == ACCESS_LIST_TX_TYPE:
            return _decode_typed(raw, expected_chain_id)
        raise InvalidTransaction("transaction type not supported")
    except RLPError as exc:
        raise InvalidTransaction(str(exc)) from None


def _select_decoder() -> Callable[..., SignedTx]:
    """The native twin (jovay/_native/_txcodec.pyx) when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import txcodec_impl

    native = txcodec_impl()
    return pure_decode_transaction if native is None else native.decode_transaction


_decode_uncached: Callable[..., SignedTx] = _select_decoder()

RECENT_DECODES = 1 << 16  # ~40 MiB at most: a few blocks' worth at full load
_recent: dict[bytes, SignedTx] = {}
_recent_lock = threading.Lock()


def decode_transaction(raw: bytes, *, expected_chain_id: int) -> SignedTx:
    """Decode and authenticate untrusted wire bytes (legacy EIP-155, type 1, type 2).

    Raises InvalidTransaction for anything malformed, oversized, unsupported (deposits included),
    for another chain, or not validly signed. The same bytes are decoded again and again (admitted,
    then read back with their block for RPC and the batcher), so recently decoded transactions are
    remembered: decoding is a pure function of the bytes and the chain id, and a SignedTx is frozen.
    """
    if type(raw) is bytes:
        known = _recent.get(raw)
        if known is not None and known.tx.chain_id == expected_chain_id:
            return known
    signed = _decode_uncached(raw, expected_chain_id=expected_chain_id)
    if type(raw) is bytes:
        with _recent_lock:
            _remember(raw, signed)
    return signed


def pure_decode_many(raws: Sequence[bytes], expected_chain_id: int) -> list[SignedTx | InvalidTransaction]:
    """Each raw transaction decoded, or the InvalidTransaction decoding it raises (in order).

    The pure twin of jovay/_native/_txcodec.pyx's `decode_many`, which recovers the senders with the
    GIL released so that a batch decoded on a pool thread overlaps the sequencer's work."""
    out: list[SignedTx | InvalidTransaction] = []
    for raw in raws:
        try:
            out.append(pure_decode_transaction(raw, expected_chain_id=expected_chain_id))
        except InvalidTransaction as exc:
            out.append(exc)
    return out


def _select_batch_decoder() -> Callable[[Sequence[bytes], int], list[SignedTx | InvalidTransaction]]:
    from jovay._native import txcodec_impl

    native = txcodec_impl()
    return pure_decode_many if native is None else native.decode_many


_decode_many_uncached = _select_batch_decoder()


def decode_many(raws: Sequence[bytes], expected_chain_id: int) -> list[SignedTx | InvalidTransaction]:
    """`decode_transaction` of each raw transaction, or the InvalidTransaction it raises, in order;
    recently decoded ones come from the same memory, and the new ones are remembered."""
    out: list[SignedTx | InvalidTransaction | None] = []
    todo: list[bytes] = []
    for raw in raws:
        known = _recent.get(raw) if type(raw) is bytes else None
        if known is not None and known.tx.chain_id == expected_chain_id:
            out.append(known)
        else:
            out.append(None)
            todo.append(raw)
    if not todo:
        return out  # type: ignore[return-value]  # (every slot is filled)
    decoded = iter(_decode_many_uncached(todo, expected_chain_id))
    with _recent_lock:
        for i, slot in enumerate(out):
            if slot is None:
                result = next(decoded)
                out[i] = result
                if type(result) is SignedTx:
                    _remember(result.raw, result)
    return out  # type: ignore[return-value]


def _remember(raw: bytes, signed: SignedTx) -> None:
    """Keep a decoded transaction (the caller holds `_recent_lock`)."""
    if len(_recent) >= RECENT_DECODES:  # drop the oldest quarter (dicts keep insertion order)
        for old in list(itertools.islice(_recent, RECENT_DECODES // 4)):
            del _recent[old]
    _recent[raw] = signed


def decode_deposit(raw: bytes) -> DepositTx:
    """Decode a 0x7e deposit the node built itself from an L1 event (nothing to authenticate).

    Its hash is `keccak256(raw)`; its sender is the `sender` field.
    """
    if type(raw) is not bytes:
        raw = bytes(raw)
    if len(raw) <= 1:
        raise InvalidTransaction("typed transaction too short")
    if raw[0] != DEPOSIT_TX_TYPE:
        raise InvalidTransaction(f"not a deposit transaction: type {raw[0]:#x}")
    try:
        fields = decode_list(raw[1:], _NAME_DEPOSIT)
        _check_fields(_NAME_DEPOSIT, fields, 4)
        return DepositTx(
            queue_index=uint(fields[0]),
            sender=fixed_bytes(fields[1], 20, "common.Address"),
            to=fixed_bytes(fields[2], 20, "common.Address"),
            value=uint(fields[3], "uint256", 32),
        )
    except RLPError as exc:
        raise InvalidTransaction(str(exc)) from None


# --- gas --------------------------------------------------------------------------------------------


def data_gas(data: bytes) -> int:
    """Calldata cost: 4 gas per zero byte, 16 per other byte."""
    zeros = data.count(0)
    return zeros * TX_DATA_ZERO_GAS + (len(data) - zeros) * TX_DATA_NONZERO_GAS


def intrinsic_gas(tx: Transaction) -> int:
    """Gas charged before execution: base + calldata + access list (deposits: 0).

    Contract creation has no surcharge here because Jovay rejects creation outright.
    """
    if type(tx) is DepositTx:
        return 0
    gas = TX_BASE_GAS + data_gas(tx.data)
    for _address, keys in tx.access_list:
        gas += ACCESS_LIST_ADDRESS_GAS + len(keys) * ACCESS_LIST_STORAGE_KEY_GAS
    return gas


def check_intrinsic_gas(tx: Transaction) -> int:
    """Intrinsic gas, or geth's "intrinsic gas too low" if the gas limit cannot cover it."""
    needed = intrinsic_gas(tx)
    if tx.gas_limit < needed:
        raise InvalidTransaction(f"intrinsic gas too low: gas {tx.gas_limit}, minimum needed {needed}")
    return needed
