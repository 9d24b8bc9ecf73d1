"""Batch data (zstd + RLP) and the item commitment with its membership proofs."""

from __future__ import annotations

import os

import pytest
import rlp
import zstandard
from Crypto.Hash import keccak as pycryptodome_keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.codec.batch import (
    ITEM_DEPOSIT,
    ITEM_TRANSACTION,
    MAX_DECOMPRESSED_BATCH_SIZE,
    BatchBlock,
    BatchItem,
    batch_items,
    decode_batch,
    decode_deposit_payload,
    deposit_payload,
    encode_batch,
    item_leaf,
    item_proof,
    items_commitment,
    verify_item_proof,
)
from jovay.codec.transactions import DepositTx
from jovay.errors import InvalidBatch


def k(data: bytes) -> bytes:
    return pycryptodome_keccak.new(data=data, digest_bits=256).digest()


def sample_blocks() -> list[BatchBlock]:
    return [
        BatchBlock(
            number=10,
            timestamp=1_700_000_000,
            base_fee=10**7,
            l1_message_count=2,
            raw_txs=[b"\x02" + os.urandom(120)],
        ),
        BatchBlock(number=11, timestamp=1_700_000_000, base_fee=10**7, l1_message_count=0, raw_txs=[]),
        BatchBlock(
            number=12,
            timestamp=1_700_000_001,
            base_fee=2**200,
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
    expected = rlp.encode(
        [2, [[b.number, b.timestamp, b.base_fee, b.l1_message_count, list(b.raw_txs)] for b in blocks]]
    )
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
    blocks = [BatchBlock(first + i, ts, ts * 7, count, txs) for i, (ts, count, txs) in enumerate(specs)]
    assert decode_batch(encode_batch(blocks)) == blocks


def test_encode_rejects_non_consecutive_or_empty() -> None:
    with pytest.raises(ValueError, match="no blocks"):
        encode_batch([])
    with pytest.raises(ValueError, match="not consecutive: 12 follows 10"):
        encode_batch([BatchBlock(10, 0, 0, 0, []), BatchBlock(12, 0, 0, 0, [])])


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
        (z(rlp.encode([2])), "batch rlp: too few elements for batch"),
        (z(rlp.encode([1, [[1, 0, 0, 0, []]]])), "unsupported batch version: have 1 want 2"),
        (z(rlp.encode([b"\x00\x02", [[1, 0, 0, 0, []]]])), "batch rlp: non-canonical integer"),
        (z(rlp.encode([2, []])), "batch has no blocks"),
        (z(rlp.encode([2, b""])), "batch rlp: expected input list for \\[\\]batch block"),
        (z(rlp.encode([2, [[1, 0, 0, 0]]])), "batch rlp: too few elements for batch block"),
        (
            z(rlp.encode([2, [[1, 0, 0, 0, [], b""]]])),
            "batch rlp: input list has too many elements for batch block",
        ),
        (z(rlp.encode([2, [[1, 0, 0, 0, b"tx"]]])), "batch rlp: expected input list for \\[\\]rawTx"),
        (z(rlp.encode([2, [[1, 0, 0, 0, [[b"tx"]]]]])), "batch rlp: expected input string or byte for rawTx"),
        (z(rlp.encode([2, [[b"\x01" * 9, 0, 0, 0, []]]])), "batch rlp: input string too long for uint64"),
        (z(rlp.encode([2, [[1, 0, b"\x01" * 33, 0, []]]])), "batch rlp: input string too long for baseFee"),
        (
            z(rlp.encode([2, [[1, 0, 0, 0, []], [3, 0, 0, 0, []]]])),
            "batch blocks not consecutive: 3 follows 1",
        ),
        (z(rlp.encode([2, [[1, 0, 0, 0, []]]]) + b"\x00"), "batch rlp: input contains more than one value"),
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


# --- item commitment --------------------------------------------------------------------------------


def tx_item(payload: bytes, number: int = 1) -> BatchItem:
    return BatchItem(ITEM_TRANSACTION, number, 1_700_000_000, 10**7, payload)


def test_leaf_is_the_abi_encoding_l1_hashes() -> None:
    item = BatchItem(ITEM_DEPOSIT, 7, 9, 11, b"payload")
    words = b"".join(x.to_bytes(32, "big") for x in (ITEM_DEPOSIT, 7, 9, 11))
    assert item_leaf(item) == k(words + k(b"payload"))


def test_commitment_small_cases_by_hand() -> None:
    items = [tx_item(b"a"), tx_item(b"bb"), tx_item(b"ccc")]
    leaves = [item_leaf(i) for i in items]
    zero = bytes(32)
    assert items_commitment([]) == zero
    assert items_commitment(items[:1]) == leaves[0]
    assert items_commitment(items[:2]) == k(leaves[0] + leaves[1])
    assert items_commitment(items) == k(k(leaves[0] + leaves[1]) + k(leaves[2] + zero))


def test_items_are_deposits_then_transactions_per_block() -> None:
    blocks = sample_blocks()
    d = [DepositTx(5, b"\x01" * 20, b"\x02" * 20, 3), DepositTx(6, b"\x03" * 20, b"\x04" * 20, 4)]
    items = batch_items(blocks, [d, [], []])
    assert [(i.kind, i.number) for i in items] == [
        (ITEM_DEPOSIT, 10),
        (ITEM_DEPOSIT, 10),
        (ITEM_TRANSACTION, 10),
        (ITEM_TRANSACTION, 12),
        (ITEM_TRANSACTION, 12),
        (ITEM_TRANSACTION, 12),
    ]
    assert items[0].payload == deposit_payload(5, b"\x01" * 20, b"\x02" * 20, 3)
    assert decode_deposit_payload(items[1].payload) == d[1]
    assert items[5].base_fee == 2**200 and items[5].payload == blocks[2].raw_txs[2]
    with pytest.raises(ValueError, match="takes 2 deposits, 1 given"):
        batch_items(blocks, [d[:1], [], []])
    assert decode_deposit_payload(b"\x00" * 127) is None
    assert decode_deposit_payload(b"\x01" * 128) is None  # addresses wider than 160 bits


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 33])
def test_every_proof_verifies(count: int) -> None:
    items = [tx_item(os.urandom(50 + i), i) for i in range(count)]
    root = items_commitment(items)
    for index, item in enumerate(items):
        proof = item_proof(items, index)
        assert len(proof) == (count - 1).bit_length()
        assert verify_item_proof(root, item, index, count, proof)


def test_tampered_proofs_fail() -> None:
    items = [tx_item(os.urandom(60)) for _ in range(6)]
    root = items_commitment(items)
    index, item = 4, items[4]
    proof = item_proof(items, index)
    assert verify_item_proof(root, item, index, 6, proof)
    assert not verify_item_proof(root, item, 5, 6, proof), "wrong index"
    assert not verify_item_proof(root, item, index + 8, 16, proof), "index beyond proof depth"
    assert not verify_item_proof(root, item, -1, 6, proof), "negative index"
    assert not verify_item_proof(root, item, index, 4, proof), "index past the count"
    assert not verify_item_proof(root, item, index, 9, proof), "count with another depth"
    assert not verify_item_proof(root, items[3], index, 6, proof), "wrong item"
    assert not verify_item_proof(root, tx_item(item.payload + b"\x00"), index, 6, proof), "extended tx"
    assert not verify_item_proof(root, tx_item(item.payload, 2), index, 6, proof), "other block number"
    deposit = BatchItem(ITEM_DEPOSIT, item.number, item.timestamp, item.base_fee, item.payload)
    assert not verify_item_proof(root, deposit, index, 6, proof), "other kind"
    assert not verify_item_proof(k(root), item, index, 6, proof), "wrong root"
    assert not verify_item_proof(root, item, index, 6, proof[:-1]), "short proof"
    assert not verify_item_proof(root, item, index, 6, [*proof, bytes(32)]), "long proof"
    for level in range(len(proof)):
        for bit in (0, 7, 255):
            flipped = list(proof)
            sibling = bytearray(flipped[level])
            sibling[bit // 8] ^= 1 << (bit % 8)
            flipped[level] = bytes(sibling)
            assert not verify_item_proof(root, item, index, 6, flipped), f"flipped sibling {level}"
    assert not verify_item_proof(root, item, index, 6, [proof[0][:31], *proof[1:]]), "short sibling"


def test_single_item_proof_is_empty() -> None:
    only = tx_item(b"only")
    assert item_proof([only], 0) == []
    assert verify_item_proof(item_leaf(only), only, 0, 1, [])
    assert not verify_item_proof(item_leaf(only), only, 1, 1, [])


def test_proof_index_out_of_range() -> None:
    with pytest.raises(IndexError):
        item_proof([tx_item(b"a"), tx_item(b"b")], 2)
    with pytest.raises(IndexError):
        item_proof([], 0)
