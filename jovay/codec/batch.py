"""Batch data as posted to L1, and the transaction-list commitment that binds a batch's transactions.

Batch data is `zstd(rlp([1, [[number, timestamp, l1MessageCount, [rawTx...]], ...]]))`. It arrives
from L1, so `decode_batch` treats it as hostile: bounded decompression, strict RLP, and every
failure is `InvalidBatch`. The commitment is a plain keccak binary Merkle tree so that the L1
contracts can verify one transaction's membership with a short proof (fraud proofs).
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
from jovay.crypto.keccak import keccak256
from jovay.errors import InvalidBatch

__all__ = [
    "BATCH_VERSION",
    "MAX_DECOMPRESSED_BATCH_SIZE",
    "ZSTD_LEVEL",
    "BatchBlock",
    "encode_batch",
    "decode_batch",
    "tx_list_commitment",
    "tx_list_proof",
    "verify_tx_list_proof",
]

BATCH_VERSION = 1
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
    l1_message_count: int
    raw_txs: Sequence[bytes]


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
    number, timestamp, count, txs = list_of(item, "batch block", 4)  # type: ignore[arg-type]
    return BatchBlock(
        number=uint(number),
        timestamp=uint(timestamp),
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


# --- transaction-list commitment --------------------------------------------------------------------


def _parent_level(level: list[bytes]) -> list[bytes]:
    """Hash pairs; a last odd node is paired with bytes32(0)."""
    if len(level) & 1:
        level = [*level, _ZERO32]
    return [keccak256(level[i] + level[i + 1]) for i in range(0, len(level), 2)]


def tx_list_commitment(encoded_txs: Sequence[bytes]) -> bytes:
    """Keccak binary Merkle root over keccak(encodedTx); bytes32(0) for no transactions.

    A single transaction's root is its leaf keccak(encodedTx) itself (no pairing at the top).
    """
    if not encoded_txs:
        return _ZERO32
    level = [keccak256(tx) for tx in encoded_txs]
    while len(level) > 1:
        level = _parent_level(level)
    return level[0]


def tx_list_proof(encoded_txs: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf `index` up to the root (bytes32(0) where the sibling is padding)."""
    if not 0 <= index < len(encoded_txs):
        raise IndexError(f"transaction index {index} out of range for {len(encoded_txs)} transactions")
    level = [keccak256(tx) for tx in encoded_txs]
    proof: list[bytes] = []
    while len(level) > 1:
        sibling = index ^ 1
        proof.append(level[sibling] if sibling < len(level) else _ZERO32)
        level = _parent_level(level)
        index >>= 1
    return proof


def verify_tx_list_proof(root: bytes, encoded_tx: bytes, index: int, proof: Sequence[bytes]) -> bool:
    """Whether `encoded_tx` is transaction `index` under `root` (the index must fit the proof depth)."""
    if index < 0 or index >> len(proof):
        return False
    node = keccak256(encoded_tx)
    for sibling in proof:
        if len(sibling) != 32:
            return False
        node = keccak256(sibling + node) if index & 1 else keccak256(node + sibling)
        index >>= 1
    return node == root
