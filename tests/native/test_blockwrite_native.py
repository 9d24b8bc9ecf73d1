"""jovay/_native/_blockwrite.pyx against its pure twins (jovay/storage/records.py, and
jovay.codec.blocks.pure_encode_receipt): the same LMDB records for random tree nodes and leaf writes,
the same receipt RLP for random receipts with logs, the same errors; and a chain written by the
native path stores exactly the bytes that a JOVAY_PURE=1 process stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import blockwrite_impl
from jovay.codec.blocks import (
    Log,
    Receipt,
    decode_receipt,
    logs_bloom,
    pure_encode_bytes_list,
    pure_encode_receipt,
)
from jovay.stf.block import ExecutedTx
from jovay.stf.transaction import TxOutcome
from jovay.storage import records
from jovay.storage.chain import decode_receipts
from jovay.storage.store import history_records

ROOT = Path(__file__).resolve().parents[2]
native = blockwrite_impl()
pytestmark = pytest.mark.skipif(native is None, reason="the native extension is not built or JOVAY_PURE=1")

field = st.integers(min_value=0, max_value=2**256 - 1)
nodes_strategy = st.dictionaries(field, st.tuples(st.sampled_from((0, 1)), field, field), max_size=300)
u64 = st.integers(min_value=0, max_value=2**64 - 1)


def test_the_twins_are_the_pure_functions() -> None:
    assert native is not None and native is not records
    names = ("node_records", "leaf_records", "joined_keys", "tx_locations", "encode_receipts", "drop_keys")
    for name in names:
        assert getattr(records, name).__module__ == "jovay.storage.records"
    assert records.select() is native


@settings(max_examples=200, deadline=None)
@given(nodes_strategy)
def test_node_records_match(nodes: dict[int, tuple]) -> None:
    assert native is not None
    pairs = native.node_records(nodes.items())
    assert pairs == records.node_records(list(nodes.items()))
    assert [key for key, _ in pairs] == sorted(key for key, _ in pairs)
    assert all(len(record) == 65 for _, record in pairs)


@pytest.mark.parametrize(
    ("node", "error"),
    [
        ((2, 1, 1), ValueError),
        ((0, 2**256, 1), OverflowError),
        ((1, 1, -1), OverflowError),
        ((0, 1), ValueError),
    ],
)
def test_bad_nodes_are_refused_by_both(node: tuple, error: type[Exception]) -> None:
    assert native is not None
    for build in (native.node_records, records.node_records):
        with pytest.raises(error):
            build([(5, node)])
    for build in (native.node_records, records.node_records):
        with pytest.raises(OverflowError):
            build([(2**256, (0, 1, 1))])


def test_batches_cover_every_item_once() -> None:
    mapping = {i: i * i for i in range(10)}
    assert [len(b) for b in records.batches(mapping, 4)] == [4, 4, 2]
    assert [item for batch in records.batches(mapping, 4) for item in batch] == list(mapping.items())
    assert list(records.batches({}, 4)) == []


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(field, st.one_of(st.just(0), field), max_size=300))
def test_leaf_records_match(writes: dict[int, int]) -> None:
    assert native is not None
    puts, deletes = native.leaf_records(writes.items())
    assert (puts, deletes) == records.leaf_records(list(writes.items()))
    assert len(puts) + len(deletes) == len(writes)


@settings(max_examples=100, deadline=None)
@given(st.lists(field, max_size=300), st.lists(st.binary(min_size=32, max_size=32), max_size=50), u64)
def test_stale_lists_and_tx_index_match(hashes: list[int], tx_hashes: list[bytes], number: int) -> None:
    assert native is not None
    assert native.joined_keys(hashes) == records.joined_keys(hashes) == records.joined_keys(iter(hashes))
    assert native.joined_keys(iter(hashes)) == records.joined_keys(hashes)
    joined = native.joined_keys(hashes)
    keys = [joined[i : i + 32] for i in range(0, len(joined), 32)]
    assert keys == sorted(h.to_bytes(32, "big") for h in hashes)  # in key order, as the store takes them
    assert native.tx_locations(tx_hashes, number) == records.tx_locations(tx_hashes, number)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=60), st.data())
def test_history_records_match(keys: list[bytes], data: st.DataObject) -> None:
    """The dropped nodes' move into a block's history: each key `pop` finds (some twice in the list: the
    second time it is gone), as (block key, key + node), in order, the same in both twins."""
    assert native is not None
    stored = {key: data.draw(st.binary(min_size=65, max_size=65)) for key in keys if data.draw(st.booleans())}
    joined = b"".join(keys + keys[:3])
    number_key, results = b"\x00" * 7 + b"\x05", []
    for impl in (native.history_records, history_records):
        left = dict(stored)
        results.append(impl(lambda key, left=left: left.pop(key, None), joined, number_key))
    assert results[0] == results[1]
    assert results[0] == [(number_key, key + stored[key]) for key in dict.fromkeys(keys) if key in stored]
    for impl in (native.history_records, history_records):
        with pytest.raises(ValueError, match="not 32-byte keys"):
            impl(stored.get, joined + b"\x01", b"")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=2), st.binary(max_size=60), st.binary(min_size=250, max_size=300)))
)
def test_raw_transaction_lists_match(items: list[bytes]) -> None:
    assert native is not None
    encoded = native.encode_bytes_list(items)
    assert encoded == pure_encode_bytes_list(items) == rlp.encode(items)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.integers(0, 50), st.integers()), st.lists(st.integers(0, 80)))
def test_drop_keys_matches(mapping: dict[int, int], keys: list[int]) -> None:
    assert native is not None
    here, there = dict(mapping), dict(mapping)
    native.drop_keys(here, keys)
    records.drop_keys(there, iter(keys))
    assert here == there == {k: v for k, v in mapping.items() if k not in keys}


logs_strategy = st.lists(
    st.builds(
        Log,
        st.binary(min_size=20, max_size=20),
        st.lists(st.binary(min_size=32, max_size=32), max_size=4),
        st.one_of(st.binary(max_size=60), st.binary(min_size=256, max_size=300)),  # 1- and 2-byte lengths
    ),
    max_size=3,
)


@st.composite
def block_receipts(draw: st.DrawFn) -> tuple[list[ExecutedTx], list[Receipt]]:
    executed, receipts, cumulative = [], [], 0
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        logs = draw(logs_strategy)
        gas = draw(st.integers(min_value=0, max_value=2**40))
        cumulative += gas
        outcome = TxOutcome(
            status=draw(st.sampled_from((0, 1))),
            gas_used=gas,
            effective_gas_price=draw(st.one_of(st.integers(0, 255), field)),
            logs=logs,
            return_data=draw(st.one_of(st.binary(max_size=3), st.binary(min_size=50, max_size=70))),
        )
        tx_type = draw(st.sampled_from((0, 1, 2, 0x7E)))
        executed.append(ExecutedTx(b"", bytes(32), bytes(20), None, outcome))  # type: ignore[arg-type]
        receipts.append(Receipt(tx_type, outcome.status, cumulative, logs, logs_bloom(logs)))
    return executed, receipts


@settings(max_examples=100, deadline=None)
@given(block_receipts())
def test_stored_receipts_match_and_round_trip(block: tuple[list[ExecutedTx], list[Receipt]]) -> None:
    assert native is not None
    executed, receipts = block
    data = native.encode_receipts(executed, receipts)
    assert data == records.encode_receipts(executed, receipts)
    assert len(rlp.decode(data)) == len(receipts)  # standard RLP, read by the reference package
    decoded = decode_receipts(data)
    assert [d.receipt for d in decoded] == receipts
    assert [d.return_data for d in decoded] == [item.outcome.return_data for item in executed]


@settings(max_examples=100, deadline=None)
@given(block_receipts())
def test_consensus_receipts_match_and_round_trip(block: tuple[list[ExecutedTx], list[Receipt]]) -> None:
    assert native is not None
    for receipt in block[1]:
        encoded = native.encode_receipt(receipt)
        assert encoded == pure_encode_receipt(receipt)
        assert decode_receipt(encoded) == receipt


def test_a_full_block_of_receipts_matches() -> None:
    """20,000 receipts: the outer list's length takes 3 bytes."""
    assert native is not None
    log = Log(b"\x01" * 20, [b"\x02" * 32], b"\x03" * 64)
    executed, receipts = [], []
    for i in range(20_000):
        logs = [log] if i % 3 == 0 else []
        outcome = TxOutcome(i % 2, 21_000, 10**9 + i, logs, b"")
        executed.append(ExecutedTx(b"", bytes(32), bytes(20), None, outcome))  # type: ignore[arg-type]
        receipts.append(Receipt(2, i % 2, 21_000 * (i + 1), logs, logs_bloom(logs)))
    assert native.encode_receipts(executed, receipts) == records.encode_receipts(executed, receipts)


def test_bad_receipts_are_refused_by_both() -> None:
    assert native is not None
    outcome = TxOutcome(1, 21_000, 7)
    item = ExecutedTx(b"", bytes(32), bytes(20), None, outcome)  # type: ignore[arg-type]
    receipt = Receipt(2, 1, 21_000)
    for encode in (native.encode_receipts, records.encode_receipts):
        with pytest.raises(ValueError, match="1 executed transactions but 2 receipts"):
            encode([item], [receipt, receipt])
        with pytest.raises(ValueError, match="negative"):
            encode([item], [Receipt(2, 1, -1)])
    for encode_one in (native.encode_receipt, pure_encode_receipt):
        with pytest.raises(ValueError):
            encode_one(Receipt(256, 1, 21_000))


STORE_DUMP = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.native.test_blockwrite_native import write_chain_and_dump
print(json.dumps(write_chain_and_dump(Path({data!r}))))
"""


def write_chain_and_dump(data_dir: Path) -> dict[str, list[list[str]]]:
    """Seal a few blocks (transfers, leaf deletions, a pruned window) and dump every LMDB table."""
    from jovay.stf.genesis import Genesis
    from jovay.storage.chain import Chain, StateRetention
    from tests.helpers import ADDRESSES, ETH, KEYS, signed_tx

    genesis = Genesis(identity_admin=ADDRESSES[0], timestamp=1_700_000_000, alloc={ADDRESSES[0]: 10 * ETH})
    chain = Chain(data_dir, genesis, StateRetention(blocks=2), node_cache_size=64)
    for number in range(1, 6):
        execution = chain.new_execution(chain.head.timestamp + 1)
        execution.add_transaction(signed_tx(KEYS[0], nonce=number - 1, to=ADDRESSES[1], value=number))
        for key in range(number * 7, number * 7 + 20):  # leaves written, then deleted by the next block
            execution.state.set(key, 0 if key % 2 else key * number)
        chain.seal(execution)
    env = chain.store.env
    dump: dict[str, list[list[str]]] = {}
    with env.begin() as txn:
        for name in ("meta", "blocks", "receipts", "hashes", "txs", "leaves", "nodes", "history"):
            db = env.open_db(name.encode(), txn=txn, create=False)
            dump[name] = [[key.hex(), value.hex()] for key, value in txn.cursor(db=db)]
    chain.close()
    return dump


def test_native_and_pure_write_the_same_bytes(tmp_path: Path) -> None:
    here = write_chain_and_dump(tmp_path / "native")
    script = STORE_DUMP.format(root=str(ROOT), data=str(tmp_path / "pure"))
    out = subprocess.run(
        [sys.executable, "-c", script], env=os.environ | {"JOVAY_PURE": "1"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    pure = json.loads(out.stdout)
    assert here["nodes"] and here["history"] and here["receipts"]  # the dump holds every kind of record
    assert here == pure


def test_records_written_in_small_batches_are_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bulk block's records go in sorted batches: batches of 3 store what one batch stores."""
    whole = write_chain_and_dump(tmp_path / "whole")
    monkeypatch.setattr(records, "SORT_BATCH", 3)
    assert write_chain_and_dump(tmp_path / "batched") == whole
