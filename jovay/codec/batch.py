"""Batch data as posted to L1, and the item commitment that binds a batch's deposits and transactions.

Batch data is `zstd(rlp([2, [[number, timestamp, baseFee, l1MessageCount, [rawTx...]], ...]]))`. It
arrives from L1, so `decode_batch` treats it as hostile: bounded decompression, strict RLP, and every
failure is `InvalidBatch`.

A batch executes as a sequence of *items*: each block's deposits (taken from the L1 message queue), then
its transactions. The commitment is a plain keccak binary Merkle tree over one leaf per item, the leaf
carrying the block environment the item executes in, so that the L1 one-step proof can check one item's
membership and environment with a short proof (docs/architecture.md, "Fraud proofs").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import zstandard

from jovay.codec._rlp import (
    RLPError,
    decode_list,
    encode_bytes,
    encode_list,
    encode_uint,
    list_of,
    string,
    uint,
)
from jovay.codec.transactions import DepositTx
from jovay.crypto.keccak import keccak256
from jovay.errors import InvalidBatch

__all__ = [
    "BATCH_VERSION",
    "MAX_DECOMPRESSED_BATCH_SIZE",
    "ZSTD_LEVEL",
    "BatchBlock",
    "BatchItem",
    "ITEM_EMPTY",
    "ITEM_TRANSACTION",
    "ITEM_DEPOSIT",
    "encode_batch",
    "decode_batch",
    "batch_items",
    "decode_deposit_payload",
    "deposit_payload",
    "item_leaf",
    "items_commitment",
    "item_proof",
    "proof_depth",
    "verify_item_proof",
]

BATCH_VERSION = 2
ITEM_EMPTY = 0  # what a leaf of value bytes32(0) stands for: nothing to execute
ITEM_TRANSACTION = 1
ITEM_DEPOSIT = 2
ZSTD_LEVEL = 3
MAX_DECOMPRESSED_BATCH_SIZE = 64 * 1024 * 1024
_MAX_WINDOW_SIZE = 1 << 24  # level 3 uses at most 2 MiB windows; refuse frames asking for more memory
_FEED_BYTES = 64  # zstd expands at most ~32768x, so each feed adds at most ~2 MiB past the bound
_ZERO32 = bytes(32)


@dataclass(frozen=True, slots=True)
class BatchBlock:
    """One L2 block as a batch carries it: deposits are counted, not included."""

    number: int
    timestamp: int
    base_fee: int
    l1_message_count: int
    raw_txs: Sequence[bytes]


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One deposit or transaction with the environment of its block (a leaf of the commitment).

    `payload` is the raw signed transaction, or `deposit_payload(...)` for a deposit.
    """

    kind: int
    number: int
    timestamp: int
    base_fee: int
    payload: bytes


# --- encoding ---------------------------------------------------------------------------------------


def _check_consecutive(numbers: Sequence[int]) -> str | None:
    """Why `numbers` is not a non-empty run of consecutive block numbers, or None."""
    if not numbers:
        return "batch has no blocks"
    for prev, cur in zip(numbers, numbers[1:], strict=False):
        if cur != prev + 1:
            return f"batch blocks not consecutive: {cur} follows {prev}"
    return None


def _encode_block(block: BatchBlock) -> bytes:
    return encode_list(
        (
            encode_uint(block.number),
            encode_uint(block.timestamp),
            encode_uint(block.base_fee),
            encode_uint(block.l1_message_count),
            encode_list(map(encode_bytes, block.raw_txs)),
        )
    )


def encode_batch(blocks: Sequence[BatchBlock]) -> bytes:
    """Compressed batch data for L1; ValueError unless `blocks` is a consecutive, non-empty run."""
    problem = _check_consecutive([b.number for b in blocks])
    if problem:
        raise ValueError(problem)
    payload = encode_list((encode_uint(BATCH_VERSION), encode_list(map(_encode_block, blocks))))
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(payload)


# --- decoding ---------------------------------------------------------------------------------------


def _decompress(data: bytes) -> bytes:
    """One complete zstd frame, at most MAX_DECOMPRESSED_BATCH_SIZE bytes out, nothing after it."""
    dobj = zstandard.ZstdDecompressor(max_window_size=_MAX_WINDOW_SIZE).decompressobj()
    out: list[bytes] = []
    total = 0
    fed = 0
    try:
        while fed < len(data) and not dobj.eof:
            chunk = dobj.decompress(data[fed : fed + _FEED_BYTES])
            fed += _FEED_BYTES
            total += len(chunk)
            if total > MAX_DECOMPRESSED_BATCH_SIZE:
                raise InvalidBatch(f"batch decompresses to more than {MAX_DECOMPRESSED_BATCH_SIZE} bytes")
            out.append(chunk)
    except zstandard.ZstdError as exc:
        raise InvalidBatch(f"batch is not valid zstd: {exc}") from None
    if not dobj.eof:
        raise InvalidBatch("batch zstd frame is truncated")
    if dobj.unused_data or fed < len(data):
        raise InvalidBatch("batch has trailing bytes after its zstd frame")
    return b"".join(out)


def _decode_block(item: object) -> BatchBlock:
    number, timestamp, base_fee, count, txs = list_of(item, "batch block", 5)  # type: ignore[arg-type]
    return BatchBlock(
        number=uint(number),
        timestamp=uint(timestamp),
        base_fee=uint(base_fee, "baseFee", 32),
        l1_message_count=uint(count),
        raw_txs=[string(tx, "rawTx") for tx in list_of(txs, "[]rawTx")],
    )


def decode_batch(data: bytes) -> list[BatchBlock]:
    """Inverse of `encode_batch`; InvalidBatch on anything malformed."""
    if not data:
        raise InvalidBatch("batch is empty")
    payload = _decompress(bytes(data))
    try:
        version, blocks_item = list_of(decode_list(payload, "batch"), "batch", 2)
        version_number = uint(version, "batch version")
        if version_number != BATCH_VERSION:
            raise InvalidBatch(f"unsupported batch version: have {version_number} want {BATCH_VERSION}")
        blocks = [_decode_block(item) for item in list_of(blocks_item, "[]batch block")]
    except RLPError as exc:
        raise InvalidBatch(f"batch {exc}") from None
    problem = _check_consecutive([b.number for b in blocks])
    if problem:
        raise InvalidBatch(problem)
    return blocks


# --- item commitment --------------------------------------------------------------------------------


def deposit_payload(queue_index: int, sender: bytes, to: bytes, value: int) -> bytes:
    """A deposit as its item carries it: `abi.encode(queueIndex, from, to, value)` (what L1 hashes)."""
    words = (queue_index, int.from_bytes(sender, "big"), int.from_bytes(to, "big"), value)
    return b"".join(w.to_bytes(32, "big") for w in words)


def item_leaf(item: BatchItem) -> bytes:
    """keccak256(abi.encode(kind, number, timestamp, baseFee, keccak256(payload)))."""
    words = (item.kind, item.number, item.timestamp, item.base_fee)
    return keccak256(b"".join(w.to_bytes(32, "big") for w in words) + keccak256(item.payload))


def _parent_level(level: list[bytes]) -> list[bytes]:
    """Hash pairs; a last odd node is paired with bytes32(0)."""
    if len(level) & 1:
        level = [*level, _ZERO32]
    return [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]


def proof_depth(count: int) -> int:
    """Levels above the leaves of a tree of `count` leaves: ceil(log2(count)), 0 for one leaf."""
    return max(count - 1, 0).bit_length()


def items_commitment(items: Sequence[BatchItem]) -> bytes:
    """Keccak binary Merkle root over the item leaves; bytes32(0) for no items.

    A single item's root is its leaf (no pairing at the top). L1 stores the item count next to it, and
    a proof must have exactly `proof_depth(count)` siblings, so one index has one leaf.
    """
    if not items:
        return _ZERO32
    level = [item_leaf(item) for item in items]
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def item_proof(items: Sequence[BatchItem], index: int) -> list[bytes]:
    """Sibling hashes from leaf `index` up to the root (bytes32(0) where the sibling is padding)."""
    if not 0 <= index < len(items):
        raise IndexError(f"item index {index} out of range for {len(items)} items")
    level = [item_leaf(item) for item in items]
    proof: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        proof.append(level[sibling] if sibling < len(level) else _ZERO32)
        level = _parent_level(level)
        index >>= 1
    return proof


def verify_item_proof(root: bytes, item: BatchItem, index: int, count: int, proof: Sequence[bytes]) -> bool:
    """Whether `item` is item `index` of `count` under `root` (as contracts/OneStepProof.sol checks)."""
    if not 0 <= index < count or len(proof) != proof_depth(count):
        return False
    node = item_leaf(item)
    for sibling in proof:
        if len(sibling) != 32:
            return False
        node = keccak256(sibling + node) if index & 1 else keccak256(node + sibling)
        index >>= 1
    return node == root


def batch_items(blocks: Sequence[BatchBlock], deposits: Sequence[Sequence[DepositTx]]) -> list[BatchItem]:
    """The batch's items in execution order: each block's deposits (from the L1 queue), then its txs."""
    items: list[BatchItem] = []
    for block, block_deposits in zip(blocks, deposits, strict=True):
        if len(block_deposits) != block.l1_message_count:
            raise ValueError(
                f"block {block.number} takes {block.l1_message_count} deposits, {len(block_deposits)} given"
            )
        for d in block_deposits:
            payload = deposit_payload(d.queue_index, d.sender, d.to, d.value)
            items.append(BatchItem(ITEM_DEPOSIT, block.number, block.timestamp, block.base_fee, payload))
        for raw in block.raw_txs:
            items.append(
                BatchItem(ITEM_TRANSACTION, block.number, block.timestamp, block.base_fee, bytes(raw))
            )
    return items


def decode_deposit_payload(payload: bytes) -> DepositTx | None:
    """The deposit a deposit item carries, or None when its payload is not one (it is then skipped)."""
    if len(payload) != 128:
        return None
    q, sender, to, value = (int.from_bytes(payload[i : i + 32], "big") for i in range(0, 128, 32))
    if sender >> 160 or to >> 160:
        return None
    return DepositTx(q, sender.to_bytes(20, "big"), to.to_bytes(20, "big"), value)
