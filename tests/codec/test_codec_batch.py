"""Batch data (zstd + RLP) and the transaction-list commitment with its membership proofs."""

from __future__ import annotations

import os

import pytest
import rlp
import zstandard
from Crypto.Hash import keccak as pycryptodome_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.codec.batch import (
    MAX_DECOMPRESSED_BATCH_SIZE,
    BatchBlock,
    decode_batch,
    encode_batch,
    tx_list_commitment,
    tx_list_proof,
    verify_tx_list_proof,
)
from jovay.errors import InvalidBatch


def k(data: bytes) -> bytes:
    return pycryptodome_keccak.new(data=data, digest_bits=256).digest()


def sample_blocks() -> list[BatchBlock]:
    return [
        BatchBlock(
            number=10, timestamp=1_700_000_000, l1_message_count=2, raw_txs=[b"\x02" + os.urandom(120)]
        ),
        BatchBlock(number=11, timestamp=1_700_000_000, l1_message_count=0, raw_txs=[]),
        BatchBlock(
            number=12,
            timestamp=1_700_000_001,
            l1_message_count=0,
            raw_txs=[b"\x02" + os.urandom(110), rlp.encode([b"legacy"]), b"\x01" + os.urandom(90)],
        ),
    ]


# --- batch data -------------------------------------------------------------------------------------


def test_round_trip_and_format() -> None:
    blocks = sample_blocks()
    data = encode_batch(blocks)
    assert decode_batch(data) == blocks
    payload = zstandard.ZstdDecompressor().decompress(data)
    expected = rlp.encode([1, [[b.number, b.timestamp, b.l1_message_count, list(b.raw_txs)] for b in blocks]])
    assert payload == expected
    assert data == zstandard.ZstdCompressor(level=3).compress(expected)


@settings(max_examples=50, deadline=None)
@given(
    st.integers(min_value=0, max_value=2**64 - 10),
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=2**64 - 1),
            st.integers(min_value=0, max_value=50),
            st.lists(st.binary(min_size=1, max_size=200), max_size=5),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_round_trip_random(first: int, specs: list[tuple[int, int, list[bytes]]]) -> None:
    blocks = [BatchBlock(first + i, ts, count, txs) for i, (ts, count, txs) in enumerate(specs)]
    assert decode_batch(encode_batch(blocks)) == blocks


def test_encode_rejects_non_consecutive_or_empty() -> None:
    with pytest.raises(ValueError, match="no blocks"):
        encode_batch([])
    with pytest.raises(ValueError, match="not consecutive: 12 follows 10"):
        encode_batch([BatchBlock(10, 0, 0, []), BatchBlock(12, 0, 0, [])])


def z(payload: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(payload)


GOOD = encode_batch(sample_blocks())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "batch is empty"),
        (b"not zstd at all", "batch is not valid zstd"),
        (GOOD[:-1], "batch zstd frame is truncated"),
        (GOOD[: len(GOOD) // 2], "batch zstd frame is truncated"),
        (GOOD[:4], "batch zstd frame is truncated"),
        (GOOD + b"\x00", "batch has trailing bytes after its zstd frame"),
        (GOOD + GOOD, "batch has trailing bytes after its zstd frame"),
        (GOOD + b"\x00" * 500, "batch has trailing bytes after its zstd frame"),
        (z(b""), "batch rlp: value size exceeds available input length"),
        (z(b"\x80"), "batch rlp: expected input list for batch"),
        (z(rlp.encode([1])), "batch rlp: too few elements for batch"),
        (z(rlp.encode([2, [[1, 0, 0, []]]])), "unsupported batch version: have 2 want 1"),
        (z(rlp.encode([b"\x00\x01", [[1, 0, 0, []]]])), "batch rlp: non-canonical integer"),
        (z(rlp.encode([1, []])), "batch has no blocks"),
        (z(rlp.encode([1, b""])), "batch rlp: expected input list for \\[\\]batch block"),
        (z(rlp.encode([1, [[1, 0, 0]]])), "batch rlp: too few elements for batch block"),
        (
            z(rlp.encode([1, [[1, 0, 0, [], b""]]])),
            "batch rlp: input list has too many elements for batch block",
        ),
        (z(rlp.encode([1, [[1, 0, 0, b"tx"]]])), "batch rlp: expected input list for \\[\\]rawTx"),
        (z(rlp.encode([1, [[1, 0, 0, [[b"tx"]]]]])), "batch rlp: expected input string or byte for rawTx"),
        (z(rlp.encode([1, [[b"\x01" * 9, 0, 0, []]]])), "batch rlp: input string too long for uint64"),
        (z(rlp.encode([1, [[1, 0, 0, []], [3, 0, 0, []]]])), "batch blocks not consecutive: 3 follows 1"),
        (z(rlp.encode([1, [[1, 0, 0, []]]]) + b"\x00"), "batch rlp: input contains more than one value"),
    ],
)
def test_decode_rejects(data: bytes, message: str) -> None:
    with pytest.raises(InvalidBatch, match=f"^{message}"):
        decode_batch(data)


def test_decompression_is_bounded() -> None:
    bomb = zstandard.ZstdCompressor(level=3).compress(b"\xc0" * (MAX_DECOMPRESSED_BATCH_SIZE + 1))
    with pytest.raises(InvalidBatch, match="decompresses to more than"):
        decode_batch(bomb)
    unsized = zstandard.ZstdCompressor(level=3, write_content_size=False)
    with pytest.raises(InvalidBatch, match="decompresses to more than"):
        decode_batch(unsized.compress(b"\x00" * (MAX_DECOMPRESSED_BATCH_SIZE + 1)))


def test_frames_without_content_size_are_accepted() -> None:
    blocks = sample_blocks()
    payload = zstandard.ZstdDecompressor().decompress(encode_batch(blocks))
    assert (
        decode_batch(zstandard.ZstdCompressor(level=9, write_content_size=False).compress(payload)) == blocks
    )


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.integers(min_value=0, max_value=255))
def test_tampered_zstd_only_raises_invalid_batch(where: int, byte: int) -> None:
    i = where % len(GOOD)
    tampered = GOOD[:i] + bytes([byte]) + GOOD[i + 1 :]
    try:
        decode_batch(tampered)
    except InvalidBatch:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_raise_invalid_batch(data: bytes) -> None:
    for candidate in (data, z(data), b"\x28\xb5\x2f\xfd" + data):
        try:
            decode_batch(candidate)
        except InvalidBatch:
            pass


# --- transaction-list commitment --------------------------------------------------------------------


def test_commitment_small_cases_by_hand() -> None:
    txs = [b"a", b"bb", b"ccc"]
    zero = bytes(32)
    assert tx_list_commitment([]) == zero
    assert tx_list_commitment(txs[:1]) == k(b"a")
    assert tx_list_commitment(txs[:2]) == k(k(b"a") + k(b"bb"))
    assert tx_list_commitment(txs) == k(k(k(b"a") + k(b"bb")) + k(k(b"ccc") + zero))
    five = [bytes([i]) for i in range(5)]
    leaves = [k(t) for t in five]
    level1 = [k(leaves[0] + leaves[1]), k(leaves[2] + leaves[3]), k(leaves[4] + zero)]
    level2 = [k(level1[0] + level1[1]), k(level1[2] + zero)]
    assert tx_list_commitment(five) == k(level2[0] + level2[1])


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 33])
def test_every_proof_verifies(count: int) -> None:
    txs = [os.urandom(50 + i) for i in range(count)]
    root = tx_list_commitment(txs)
    for index, tx in enumerate(txs):
        proof = tx_list_proof(txs, index)
        assert len(proof) == (count - 1).bit_length()
        assert verify_tx_list_proof(root, tx, index, proof)


def test_tampered_proofs_fail() -> None:
    txs = [os.urandom(60) for _ in range(6)]
    root = tx_list_commitment(txs)
    index = 4
    proof = tx_list_proof(txs, index)
    assert verify_tx_list_proof(root, txs[index], index, proof)
    assert not verify_tx_list_proof(root, txs[index], 5, proof), "wrong index"
    assert not verify_tx_list_proof(root, txs[index], index + 8, proof), "index beyond proof depth"
    assert not verify_tx_list_proof(root, txs[index], -1, proof), "negative index"
    assert not verify_tx_list_proof(root, txs[3], index, proof), "wrong tx"
    assert not verify_tx_list_proof(root, txs[index] + b"\x00", index, proof), "extended tx"
    assert not verify_tx_list_proof(k(root), txs[index], index, proof), "wrong root"
    assert not verify_tx_list_proof(root, txs[index], index, proof[:-1]), "short proof"
    assert not verify_tx_list_proof(root, txs[index], index, [*proof, bytes(32)]), "long proof"
    for level in range(len(proof)):
        for bit in (0, 7, 255):
            flipped = list(proof)
            sibling = bytearray(flipped[level])
            sibling[bit // 8] ^= 1 << (bit % 8)
            flipped[level] = bytes(sibling)
            assert not verify_tx_list_proof(root, txs[index], index, flipped), f"flipped sibling {level}"
    assert not verify_tx_list_proof(root, txs[index], index, [proof[0][:31], *proof[1:]]), "short sibling"


def test_single_transaction_proof_is_empty() -> None:
    assert tx_list_proof([b"only"], 0) == []
    assert verify_tx_list_proof(k(b"only"), b"only", 0, [])
    assert not verify_tx_list_proof(k(b"only"), b"only", 1, [])


def test_proof_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        tx_list_proof([b"a", b"b"], 2)
    with pytest.raises(IndexError):
        tx_list_proof([], 0)
