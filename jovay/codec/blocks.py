"""Block headers, receipts, log blooms and the keccak Merkle-Patricia roots headers commit to.

Everything here is Ethereum's London format bit for bit, so block explorers, web3 clients and
light-client code can check Jovay headers, receipts and proofs with standard tools.
The MPT roots are computed by a direct bottom-up construction instead of inserting into
`trie.HexaryTrie` one key at a time: same root (tests compare them), ~50x faster on blocks of
thousands of transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import cast

from jovay.codec._rlp import (
    RLPError,
    decode_list,
    encode_bytes,
    encode_list,
    encode_uint,
    fixed_bytes,
    list_of,
    string,
    uint,
)
from jovay.crypto.keccak import keccak256
from jovay.errors import InvalidBlock

__all__ = [
    "EMPTY_OMMERS_HASH",
    "EMPTY_TRIE_ROOT",
    "EMPTY_BLOOM",
    "BLOOM_BYTES",
    "Header",
    "Log",
    "Receipt",
    "encode_header",
    "decode_header",
    "block_hash",
    "encode_block",
    "decode_block",
    "encode_receipt",
    "decode_receipt",
    "make_receipt",
    "logs_bloom",
    "combine_blooms",
    "bloom_contains",
    "mpt_root",
    "transactions_root",
    "receipts_root",
]

EMPTY_OMMERS_HASH = keccak256(b"\xc0")  # keccak(rlp([])) = 0x1dcc4de8...
EMPTY_TRIE_ROOT = keccak256(b"\x80")  # keccak(rlp(b"")) = 0x56e81f17...
BLOOM_BYTES = 256
EMPTY_BLOOM = bytes(BLOOM_BYTES)
_HEADER_FIELDS = 16
# Bloom bits of recent addresses and topics kept: the native cache's slots (40 bytes each, 10 MiB;
# jovay/_native/_transfers.pyx), the pure twin's LRU entries. 2^16 missed most holder words with 100k
# token holders (each transfer logs two).
BLOOM_CACHE_SIZE = 1 << 18


# --- headers ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Header:
    """London header (16 fields); Jovay fixes difficulty 0, nonce 0, empty ommers."""

    parent_hash: bytes
    ommers_hash: bytes = EMPTY_OMMERS_HASH
    coinbase: bytes
    state_root: bytes
    transactions_root: bytes = EMPTY_TRIE_ROOT
    receipts_root: bytes = EMPTY_TRIE_ROOT
    logs_bloom: bytes = EMPTY_BLOOM
    difficulty: int = 0
    number: int
    gas_limit: int
    gas_used: int
    timestamp: int
    extra_data: bytes = b""
    mix_hash: bytes = bytes(32)
    nonce: bytes = bytes(8)
    base_fee_per_gas: int


def _header_items(h: Header) -> list[bytes]:
    return [
        encode_bytes(h.parent_hash),
        encode_bytes(h.ommers_hash),
        encode_bytes(h.coinbase),
        encode_bytes(h.state_root),
        encode_bytes(h.transactions_root),
        encode_bytes(h.receipts_root),
        encode_bytes(h.logs_bloom),
        encode_uint(h.difficulty),
        encode_uint(h.number),
        encode_uint(h.gas_limit),
        encode_uint(h.gas_used),
        encode_uint(h.timestamp),
        encode_bytes(h.extra_data),
        encode_bytes(h.mix_hash),
        encode_bytes(h.nonce),
        encode_uint(h.base_fee_per_gas),
    ]


def encode_header(h: Header) -> bytes:
    """`rlp(header)`, the preimage of the block hash."""
    return encode_list(_header_items(h))


def block_hash(h: Header) -> bytes:
    """`keccak(rlp(header))`."""
    return keccak256(encode_header(h))


def _header_from_items(items: list) -> Header:
    name = "types.Header"
    f = list_of(items, name, _HEADER_FIELDS)
    return Header(
        parent_hash=fixed_bytes(f[0], 32, "common.Hash"),
        ommers_hash=fixed_bytes(f[1], 32, "common.Hash"),
        coinbase=fixed_bytes(f[2], 20, "common.Address"),
        state_root=fixed_bytes(f[3], 32, "common.Hash"),
        transactions_root=fixed_bytes(f[4], 32, "common.Hash"),
        receipts_root=fixed_bytes(f[5], 32, "common.Hash"),
        logs_bloom=fixed_bytes(f[6], BLOOM_BYTES, "types.Bloom"),
        difficulty=uint(f[7], "*big.Int", 32),
        number=uint(f[8], "*big.Int", 8),
        gas_limit=uint(f[9]),
        gas_used=uint(f[10]),
        timestamp=uint(f[11]),
        extra_data=string(f[12]),
        mix_hash=fixed_bytes(f[13], 32, "common.Hash"),
        nonce=fixed_bytes(f[14], 8, "types.BlockNonce"),
        base_fee_per_gas=uint(f[15], "*big.Int", 32),
    )


def decode_header(data: bytes) -> Header:
    """Inverse of `encode_header`; InvalidBlock on any malformation."""
    try:
        return _header_from_items(decode_list(data, "types.Header"))
    except RLPError as exc:
        raise InvalidBlock(str(exc)) from None


def pure_encode_bytes_list(items: Iterable[bytes]) -> bytes:
    """RLP of a list of byte strings (the pure twin of jovay/_native/_blockwrite.pyx's)."""
    return encode_list(map(encode_bytes, items))


def _select_encode_bytes_list() -> Callable[[Iterable[bytes]], bytes]:
    """The native twin when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import blockwrite_impl

    native = blockwrite_impl()
    if native is None:
        return pure_encode_bytes_list
    return cast(Callable[[Iterable[bytes]], bytes], native.encode_bytes_list)


_encode_bytes_list: Callable[[Iterable[bytes]], bytes] = _select_encode_bytes_list()


def encode_block(header: Header, raw_txs: Sequence[bytes]) -> bytes:
    """`rlp([header, [rawTx...]])`, every tx an opaque byte string (storage, `debug_getRawBlock`)."""
    return encode_list((encode_header(header), _encode_bytes_list(raw_txs)))


def decode_block(data: bytes) -> tuple[Header, list[bytes]]:
    """Inverse of `encode_block`; transactions are returned raw, undecoded."""
    try:
        header_item, txs_item = list_of(decode_list(data, "types.Block"), "types.Block", 2)
        header = _header_from_items(header_item)  # type: ignore[arg-type]
        raw_txs = [string(tx, "rawTx") for tx in list_of(txs_item, "[]rawTx")]
    except RLPError as exc:
        raise InvalidBlock(str(exc)) from None
    return header, raw_txs


# --- logs, blooms, receipts -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Log:
    """An event: emitting address, up to four 32-byte topics, data."""

    address: bytes
    topics: Sequence[bytes]
    data: bytes


@dataclass(frozen=True, slots=True)
class Receipt:
    """EIP-658 receipt (status, not post-state); `bloom` covers exactly `logs`."""

    tx_type: int
    status: int
    cumulative_gas_used: int
    logs: Sequence[Log] = field(default_factory=list)
    bloom: bytes = EMPTY_BLOOM


@lru_cache(maxsize=BLOOM_CACHE_SIZE)
def _bloom_bits(value: bytes) -> int:
    """The three bloom bits of one address or topic, as an int with those bits set (cached: the same
    token addresses, event topics and holder words come back in every block)."""
    h = keccak256(value)
    return (
        (1 << (((h[0] << 8) | h[1]) & 2047))
        | (1 << (((h[2] << 8) | h[3]) & 2047))
        | (1 << (((h[4] << 8) | h[5]) & 2047))
    )


def logs_bloom(logs: Iterable[Log]) -> bytes:
    """The 2048-bit bloom over every log's address and topics (yellow paper M3:2048)."""
    if not logs:  # every plain transfer: an empty list or tuple (any other iterable takes the loop)
        return EMPTY_BLOOM
    bits = 0
    for log in logs:
        bits |= _bloom_bits(log.address)
        for topic in log.topics:
            bits |= _bloom_bits(topic)
    return bits.to_bytes(BLOOM_BYTES, "big")


def combine_blooms(blooms: Iterable[bytes]) -> bytes:
    """OR of blooms: a block's `logsBloom` from its receipts' blooms."""
    bits = 0
    for bloom in blooms:
        bits |= int.from_bytes(bloom, "big")
    return bits.to_bytes(BLOOM_BYTES, "big")


def bloom_contains(bloom: bytes, value: bytes) -> bool:
    """Whether `value` (an address or topic) may be in `bloom` (false positives possible)."""
    bits = _bloom_bits(value)
    return int.from_bytes(bloom, "big") & bits == bits


def make_receipt(tx_type: int, status: int, cumulative_gas_used: int, logs: Sequence[Log]) -> Receipt:
    """A receipt with its bloom computed from its logs."""
    return Receipt(tx_type, status, cumulative_gas_used, logs, logs_bloom(logs))


def _encode_log(log: Log) -> bytes:
    topics = encode_list(map(encode_bytes, log.topics))
    return encode_list((encode_bytes(log.address), topics, encode_bytes(log.data)))


_NO_LOGS_TAIL = encode_bytes(EMPTY_BLOOM) + encode_list(())  # the bloom and logs of a log-less receipt


def pure_encode_receipt(r: Receipt) -> bytes:
    """`type || rlp([status, cumulativeGasUsed, bloom, logs])`, no type byte for legacy (the pure twin
    of jovay/_native/_blockwrite.pyx's `encode_receipt`)."""
    if r.logs or r.bloom != EMPTY_BLOOM:
        tail = encode_bytes(r.bloom) + encode_list(map(_encode_log, r.logs))
    else:  # every plain transfer: the same 259 bytes, encoded once
        tail = _NO_LOGS_TAIL
    body = encode_list((encode_uint(r.status), encode_uint(r.cumulative_gas_used), tail))
    return body if r.tx_type == 0 else bytes((r.tx_type,)) + body


def _select_encode_receipt() -> Callable[[Receipt], bytes]:
    """The native twin when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import blockwrite_impl

    native = blockwrite_impl()
    return pure_encode_receipt if native is None else cast(Callable[[Receipt], bytes], native.encode_receipt)


encode_receipt: Callable[[Receipt], bytes] = _select_encode_receipt()


def _decode_log(item: object) -> Log:
    address, topics, data = list_of(item, "types.Log", 3)  # type: ignore[arg-type]
    return Log(
        fixed_bytes(address, 20, "common.Address"),
        [fixed_bytes(t, 32, "common.Hash") for t in list_of(topics, "[]common.Hash")],
        string(data),
    )


def decode_receipt(data: bytes) -> Receipt:
    """Inverse of `encode_receipt`; InvalidBlock on malformation."""
    if not data:
        raise InvalidBlock("receipt too short")
    tx_type, body = (0, data) if data[0] >= 0xC0 else (data[0], data[1:])
    if tx_type > 0x7F:
        raise InvalidBlock(f"receipt type not supported: {tx_type:#x}")
    try:
        status, gas, bloom, logs = list_of(decode_list(body, "types.Receipt"), "types.Receipt", 4)
        return Receipt(
            tx_type,
            uint(status),
            uint(gas),
            [_decode_log(log) for log in list_of(logs, "[]*types.Log")],
            fixed_bytes(bloom, BLOOM_BYTES, "types.Bloom"),
        )
    except RLPError as exc:
        raise InvalidBlock(str(exc)) from None


# --- Merkle-Patricia roots --------------------------------------------------------------------------


def _hex_prefix(nibbles: str, leaf: bool) -> bytes:
    """Compact (hex-prefix) encoding of a nibble path given as a hex string."""
    flag = (2 if leaf else 0) + (len(nibbles) & 1)
    return bytes.fromhex((f"{flag:x}" if len(nibbles) & 1 else f"{flag:x}0") + nibbles)


def _reference(node: bytes) -> bytes:
    """How a parent refers to a child: inline if its RLP is under 32 bytes, else by hash."""
    return node if len(node) < 32 else encode_bytes(keccak256(node))


def _common_prefix_length(a: str, b: str, start: int) -> int:
    limit = min(len(a), len(b))
    i = start
    while i < limit and a[i] == b[i]:
        i += 1
    return i - start


def _node(items: Sequence[tuple[str, bytes]], lo: int, hi: int, depth: int) -> bytes:
    """RLP of the trie node holding sorted items[lo:hi], whose keys agree on their first `depth` nibbles."""
    first_key, first_value = items[lo]
    if hi - lo == 1:
        return encode_list((encode_bytes(_hex_prefix(first_key[depth:], True)), encode_bytes(first_value)))
    shared = _common_prefix_length(first_key, items[hi - 1][0], depth)
    if shared:
        child = _node(items, lo, hi, depth + shared)
        path = encode_bytes(_hex_prefix(first_key[depth : depth + shared], False))
        return encode_list((path, _reference(child)))
    slots = [b"\x80"] * 17
    if len(first_key) == depth:  # a key ending here: its value sits in the branch (sorted first)
        slots[16] = encode_bytes(first_value)
        lo += 1
    while lo < hi:
        nibble = items[lo][0][depth]
        end = lo + 1
        while end < hi and items[end][0][depth] == nibble:
            end += 1
        slots[int(nibble, 16)] = _reference(_node(items, lo, end, depth + 1))
        lo = end
    return encode_list(slots)


def mpt_root(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """Root of the keccak Merkle-Patricia trie holding `pairs` (distinct keys, non-empty values)."""
    items = sorted((key.hex(), value) for key, value in pairs)
    if not items:
        return EMPTY_TRIE_ROOT
    if any(not value for _, value in items):
        raise ValueError("empty trie value (an MPT deletes the key instead)")
    for (a, _), (b, _) in zip(items, items[1:], strict=False):
        if a == b:
            raise ValueError(f"duplicate trie key 0x{a}")
    return keccak256(_node(items, 0, len(items), 0))


def pure_indexed_root(values: Sequence[bytes]) -> bytes:
    """MPT root of rlp(i) -> values[i]: the pure twin of jovay/_native/_blockroots.pyx's `indexed_root`."""
    return mpt_root((encode_uint(i), value) for i, value in enumerate(values))


def _select_indexed_root() -> Callable[[Sequence[bytes]], bytes]:
    """The native twin (C, GIL released) when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import blockroots_impl

    native = blockroots_impl()
    if native is None:
        return pure_indexed_root
    return cast(Callable[[Sequence[bytes]], bytes], native.indexed_root)


_indexed_root: Callable[[Sequence[bytes]], bytes] = _select_indexed_root()


def transactions_root(encoded_txs: Sequence[bytes]) -> bytes:
    """Header `transactionsRoot`: MPT of rlp(index) -> typed tx encoding."""
    return _indexed_root(encoded_txs)


def receipts_root(encoded_receipts: Sequence[bytes]) -> bytes:
    """Header `receiptsRoot`: MPT of rlp(index) -> typed receipt encoding."""
    return _indexed_root(encoded_receipts)
