"""Headers, blocks, receipts, blooms and MPT roots against geth vectors, `rlp` and `trie.HexaryTrie`."""

from __future__ import annotations

import dataclasses
import os

import pytest
import rlp
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from jovay.codec.blocks import (
    EMPTY_BLOOM,
    EMPTY_OMMERS_HASH,
    EMPTY_TRIE_ROOT,
    Header,
    Log,
    Receipt,
    block_hash,
    bloom_contains,
    combine_blooms,
    decode_block,
    decode_header,
    decode_receipt,
    encode_block,
    encode_header,
    encode_receipt,
    logs_bloom,
    make_receipt,
    mpt_root,
    receipts_root,
    transactions_root,
)
from jovay.codec.transactions import decode_transaction
from jovay.errors import InvalidBlock, InvalidTransaction


def independent_keccak(data: bytes) -> bytes:
    return pycryptodome_keccak.new(data=data, digest_bits=256).digest()


ZERO_BLOOM_HEX = "00" * 256
# go-ethereum core/types/block_test.go TestEIP1559BlockEncoding: a London block whose hash geth asserts.
GETH_LONDON_BLOCK = bytes.fromhex(
    "f9030bf901fea083cafc574e1f51ba9dc0568fc617a08ea2429fb384059c972f13b19fa1c8dd55a01dcc4de8dec75d7aab85"
    "b567b6ccd41ad312451b948a7413f0a142fd40d49347948888f1f195afa192cfee860698584c030f4c9db1a0ef1552a40b71"
    "65c3cd773806b9e0c165b75356e0314bf0706f279c729f51e017a05fe50b260da6308036625b850b5d6ced6d0a9f814c0688"
    "bc91ffb7b7a3a54b67a0bc37d79753ad738a6dac4921e57392f145d8887476de3f783dfa7edae9283e52b90100"
    + ZERO_BLOOM_HEX
    + "8302000001832fefd8825208845506eb0780a0bd4472abb6659ebe3ee06ee4d7b72a00a9f4d001caca51342001075469aff4"
    "9888a13a5a8c8f2bb1c4843b9aca00f90106f85f800a82c35094095e7baea6a6c7c4c2dfeb977efac326af552d870a801ba0"
    "9bea4c4daac7c7c52e093e6a4c35dbbcf8856f1af7b059ba20253e70848d094fa08a8fae537ce25ed8cb5af9adac3f141af6"
    "9bd515bd2ba031522df09b97dd72b1b8a302f8a0018080843b9aca008301e24194095e7baea6a6c7c4c2dfeb977efac326af"
    "552d878080f838f7940000000000000000000000000000000000000001e1a000000000000000000000000000000000000000"
    "0000000000000000000000000080a0fe38ca4e44a30002ac54af7cf922a6ac2ba11b7d22f548e8ecb3f51f41cb31b0a06de6"
    "a5cbae13c0c856e33acf021b51819636cfc009d39eafb9f606d546e305a8c0"
)
GETH_LONDON_HASH = "c7252048cd273fe0dac09650027d07f0e3da4ee0675ebbb26627cea92729c372"


def sample_header(**changes: object) -> Header:
    header = Header(
        parent_hash=bytes(range(32)),
        coinbase=bytes.fromhex("4a6f7661790000000000000000000000000000fe"),
        state_root=b"\x11" * 32,
        transactions_root=b"\x22" * 32,
        receipts_root=b"\x33" * 32,
        logs_bloom=bytes([7]) * 256,
        number=1234,
        gas_limit=400_000_000,
        gas_used=21_000,
        timestamp=1_700_000_000,
        extra_data=b"jovay",
        base_fee_per_gas=10_000_000,
    )
    return dataclasses.replace(header, **changes)  # type: ignore[arg-type]


# --- headers ----------------------------------------------------------------------------------------


def test_constants() -> None:
    assert EMPTY_OMMERS_HASH.hex() == "1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
    assert EMPTY_TRIE_ROOT.hex() == "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    assert EMPTY_BLOOM == bytes(256)


def test_geth_london_header_hash() -> None:
    header_fields = rlp.decode(GETH_LONDON_BLOCK)[0]
    header = decode_header(rlp.encode(header_fields))
    assert block_hash(header).hex() == GETH_LONDON_HASH
    assert encode_header(header) == rlp.encode(header_fields)
    assert header.difficulty == 131072 and header.number == 1 and header.gas_limit == 3141592
    assert header.gas_used == 21000 and header.timestamp == 1426516743 and header.base_fee_per_gas == 10**9
    assert header.nonce.hex() == "a13a5a8c8f2bb1c4" and header.ommers_hash == EMPTY_OMMERS_HASH


def test_header_encoding_matches_field_by_field_rlp() -> None:
    h = sample_header()
    fields = [
        h.parent_hash,
        EMPTY_OMMERS_HASH,
        h.coinbase,
        h.state_root,
        h.transactions_root,
        h.receipts_root,
        h.logs_bloom,
        0,
        1234,
        400_000_000,
        21_000,
        1_700_000_000,
        b"jovay",
        bytes(32),
        bytes(8),
        10_000_000,
    ]
    assert encode_header(h) == rlp.encode(fields)
    assert block_hash(h) == independent_keccak(rlp.encode(fields))
    assert block_hash(h).hex() == block_hash(decode_header(encode_header(h))).hex()


def test_header_defaults_are_jovay_constants() -> None:
    h = sample_header()
    assert (h.difficulty, h.nonce, h.mix_hash, h.ommers_hash) == (0, bytes(8), bytes(32), EMPTY_OMMERS_HASH)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "rlp: value size exceeds available input length"),
        (b"\x80", "rlp: expected input list for types.Header"),
        (rlp.encode([b""] * 15), "rlp: too few elements for types.Header"),
        (rlp.encode([b""] * 17), "rlp: input list has too many elements for types.Header"),
        (rlp.encode([b"\x01" * 31] + [b""] * 15), "rlp: input string too short for common.Hash"),
    ],
)
def test_decode_header_rejects(data: bytes, message: str) -> None:
    with pytest.raises(InvalidBlock, match=f"^{message}$"):
        decode_header(data)


def test_decode_header_rejects_non_canonical_number() -> None:
    fields = rlp.decode(encode_header(sample_header()))
    fields[8] = b"\x00" + fields[8]
    with pytest.raises(InvalidBlock, match="non-canonical integer"):
        decode_header(rlp.encode(fields))


def test_block_round_trip() -> None:
    h = sample_header()
    txs = [b"\x02" + os.urandom(100), rlp.encode([b"legacy", b"tx"]), b"\x7e" + os.urandom(60)]
    data = encode_block(h, txs)
    assert data == rlp.encode([rlp.decode(encode_header(h)), txs])
    assert decode_block(data) == (h, txs)
    assert decode_block(encode_block(h, [])) == (h, [])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xc0",
        rlp.encode([b"x", []]),
        rlp.encode([[], []]),
        rlp.encode([rlp.decode(encode_header(sample_header())), [[b"nested"]]]),
        rlp.encode([rlp.decode(encode_header(sample_header())), []]) + b"\x00",
        rlp.encode([rlp.decode(encode_header(sample_header())), [], []]),
    ],
)
def test_decode_block_rejects(data: bytes) -> None:
    with pytest.raises(InvalidBlock):
        decode_block(data)


# --- blooms -----------------------------------------------------------------------------------------


def yellow_paper_bloom(values: list[bytes]) -> bytes:
    """M3:2048 written out byte by byte, as geth's `bloomValues` does."""
    bloom = bytearray(256)
    for value in values:
        h = independent_keccak(value)
        for i in (0, 2, 4):
            bit = ((h[i] << 8) | h[i + 1]) & 2047
            bloom[256 - 1 - bit // 8] |= 1 << (bit % 8)
    return bytes(bloom)


def test_geth_bloom_vector() -> None:
    """geth TestBloomExtensively: 100 values added, keccak of the bloom is fixed."""
    values = [f"xxxxxxxxxx data {i} yyyyyyyyyyyyyy".encode() for i in range(100)]
    bloom = logs_bloom([Log(value, [], b"") for value in values])
    assert (
        independent_keccak(bloom).hex() == "c8d3ca65cdb4874300a9e39475508f23ed6da09fdbc487f89a2dcf50b09eb263"
    )


def test_geth_bloom_membership() -> None:
    bloom = logs_bloom([Log(b"testtest", [b"test", b"hallo"], b""), Log(b"other", [], b"")])
    for value in (b"testtest", b"test", b"hallo", b"other"):
        assert bloom_contains(bloom, value)
    for value in (b"tes", b"lo"):
        assert not bloom_contains(bloom, value)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=20, max_size=20),
            st.lists(st.binary(min_size=32, max_size=32), max_size=4),
            st.binary(max_size=64),
        ),
        max_size=5,
    )
)
def test_bloom_matches_yellow_paper(raw_logs: list[tuple[bytes, list[bytes], bytes]]) -> None:
    logs = [Log(address, topics, data) for address, topics, data in raw_logs]
    bloom = logs_bloom(logs)
    assert bloom == yellow_paper_bloom([v for a, topics, _ in raw_logs for v in (a, *topics)])
    for address, topics, _ in raw_logs:
        assert bloom_contains(bloom, address)
        assert all(bloom_contains(bloom, t) for t in topics)
    assert logs_bloom([]) == EMPTY_BLOOM


def test_combine_blooms() -> None:
    a = logs_bloom([Log(b"\x01" * 20, [b"\x02" * 32], b"")])
    b = logs_bloom([Log(b"\x03" * 20, [], b"x")])
    combined = combine_blooms([a, b])
    assert combined == bytes(x | y for x, y in zip(a, b, strict=True))
    assert combine_blooms([]) == EMPTY_BLOOM


# --- receipts ---------------------------------------------------------------------------------------

LOGS = [
    Log(b"\xaa" * 20, [b"\x01" * 32, b"\x02" * 32], b"payload"),
    Log(b"\xbb" * 20, [], b""),
]


@pytest.mark.parametrize("tx_type", [0, 1, 2, 0x7E])
@pytest.mark.parametrize("status", [0, 1])
def test_receipt_encoding(tx_type: int, status: int) -> None:
    receipt = make_receipt(tx_type, status, 123_456, LOGS)
    assert receipt.bloom == logs_bloom(LOGS)
    body = rlp.encode(
        [
            b"" if status == 0 else b"\x01",
            123_456,
            receipt.bloom,
            [[log.address, list(log.topics), log.data] for log in LOGS],
        ]
    )
    expected = body if tx_type == 0 else bytes([tx_type]) + body
    assert encode_receipt(receipt) == expected
    assert decode_receipt(expected) == receipt


def test_receipt_defaults() -> None:
    r = Receipt(2, 1, 21_000)
    assert encode_receipt(r) == b"\x02" + rlp.encode([1, 21_000, bytes(256), []])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x80",
        b"\x02",
        b"\x02\x80",
        b"\x02" + rlp.encode([1, 2, bytes(255), []]),
        b"\x02" + rlp.encode([1, 2, bytes(256), [[b"\xaa" * 20, [], b"", b""]]]),
        rlp.encode([1, 2, bytes(256)]),
    ],
)
def test_decode_receipt_rejects(data: bytes) -> None:
    with pytest.raises(InvalidBlock):
        decode_receipt(data)


# --- MPT roots --------------------------------------------------------------------------------------


def hexary_indexed_root(values: list[bytes]) -> bytes:
    trie = HexaryTrie({})
    for i, value in enumerate(values):
        trie[rlp.encode(i)] = value
    return trie.root_hash


def test_empty_roots() -> None:
    assert (
        transactions_root([]) == receipts_root([]) == EMPTY_TRIE_ROOT == independent_keccak(rlp.encode(b""))
    )
    assert EMPTY_TRIE_ROOT == HexaryTrie({}).root_hash


@pytest.mark.parametrize("count", [1, 2, 3, 15, 16, 17, 127, 128, 129, 255, 256, 300])
def test_indexed_roots_match_hexary_trie(count: int) -> None:
    values = [os.urandom(1 + i % 90) for i in range(count)]  # short values exercise inline (<32 byte) nodes
    assert transactions_root(values) == receipts_root(values) == hexary_indexed_root(values)


def test_single_short_value_root() -> None:
    """One tiny item: the root node itself is under 32 bytes but is still hashed."""
    assert transactions_root([b"\x01"]) == hexary_indexed_root([b"\x01"])


def test_receipts_root_of_encoded_receipts() -> None:
    receipts = [
        encode_receipt(make_receipt(t, 1, 21_000 * (i + 1), LOGS[: i % 3]))
        for i, t in enumerate([0, 2, 1, 2])
    ]
    assert receipts_root(receipts) == hexary_indexed_root(receipts)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.binary(max_size=5), st.binary(min_size=1, max_size=50), max_size=40))
def test_mpt_root_matches_hexary_trie_for_any_keys(pairs: dict[bytes, bytes]) -> None:
    trie = HexaryTrie({})
    for key, value in pairs.items():
        trie[key] = value
    assert mpt_root(pairs.items()) == trie.root_hash


def test_mpt_root_rejects_duplicates_and_empty_values() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        mpt_root([(b"a", b"1"), (b"a", b"2")])
    with pytest.raises(ValueError, match="empty"):
        mpt_root([(b"a", b"")])


def test_geth_block_transactions_decode() -> None:
    """The block's EIP-1559 tx (chain 1) authenticates as eth_account says; its pre-EIP-155 tx is refused."""
    legacy_fields, typed_raw = rlp.decode(GETH_LONDON_BLOCK)[1]
    signed = decode_transaction(typed_raw, expected_chain_id=1)
    assert signed.sender == bytes.fromhex(Account.recover_transaction(typed_raw)[2:])
    assert signed.tx.gas_limit == 123457 and signed.tx.max_fee_per_gas == 10**9
    assert signed.tx.access_list == ((bytes.fromhex("00" * 19 + "01"), (bytes(32),)),)
    with pytest.raises(InvalidTransaction, match="only replay-protected"):
        decode_transaction(rlp.encode(legacy_fields), expected_chain_id=1)
