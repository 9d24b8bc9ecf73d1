"""The LMDB chain: genesis, sealing, restart at the same head, crash safety, historical state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jovay.codec.blocks import block_hash
from jovay.state.overlay import StateOverlay
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree, root_to_bytes
from jovay.stf.accounts import get_account
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, signed_tx

ALICE, BOB = ADDRESSES[:2]


def make_genesis() -> Genesis:
    return Genesis(identity_admin=ADDRESSES[0], timestamp=1_700_000_000, alloc={ALICE: 10 * ETH})


def seal_transfer(chain: Chain, nonce: int, value: int) -> None:
    execution = chain.new_execution(chain.head.timestamp + 1)
    execution.add_transaction(signed_tx(KEYS[0], nonce=nonce, to=BOB, value=value))
    chain.seal(execution)


def root_of_leaves(chain: Chain) -> bytes:
    """The Poseidon root of every leaf in the store, rebuilt in a fresh in-memory tree."""
    tree = SparseMerkleTree(MemoryNodeStore())
    tree.update_many(dict(chain.store.iter_leaves()))
    return root_to_bytes(tree.root)


def test_genesis_root_is_the_tree_of_genesis_leaves(tmp_path: Path) -> None:
    genesis = make_genesis()
    chain = Chain(tmp_path, genesis)
    expected = SparseMerkleTree(MemoryNodeStore())
    expected.update_many(genesis.state_writes())
    assert chain.head.number == 0
    assert chain.head.state_root == root_to_bytes(expected.root)
    chain.close()


def test_restart_resumes_at_same_head_and_keeps_history(tmp_path: Path) -> None:
    chain = Chain(tmp_path, make_genesis())
    for nonce in range(3):
        seal_transfer(chain, nonce, 1_000 + nonce)
    head, head_hash = chain.head, chain.head_hash
    chain.close()

    reopened = Chain(tmp_path, make_genesis())
    assert reopened.head == head and reopened.head_hash == head_hash == block_hash(head)
    assert get_account(StateOverlay(reopened.state_reader()), BOB) == (0, 3_003)
    assert get_account(StateOverlay(reopened.state_reader(1)), BOB) == (0, 1_000)
    assert get_account(StateOverlay(reopened.state_reader(0)), BOB) == (0, 0)
    parent = reopened.block(2)
    assert parent is not None and reopened.head.parent_hash == block_hash(parent[0])
    seal_transfer(reopened, 3, 1)  # and it keeps building
    assert reopened.head.number == 4
    assert root_of_leaves(reopened) == reopened.head.state_root
    reopened.close()


CRASH_SCRIPT = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.storage.test_chain import make_genesis, seal_transfer
from jovay.storage.chain import Chain
chain = Chain(Path({data!r}), make_genesis())
nonce = chain.head.number
while True:
    seal_transfer(chain, nonce, 1)
    nonce += 1
    print(chain.head.number, flush=True)
"""


def test_kill_9_never_leaves_half_a_block(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    script = CRASH_SCRIPT.format(root=root, data=str(tmp_path))
    for _ in range(2):  # crash, recover, crash again on top of the recovered chain
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 5 and time.monotonic() < deadline:
            seen = int(proc.stdout.readline() or seen)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        chain = Chain(tmp_path, make_genesis())
        assert chain.head.number >= 5
        assert root_of_leaves(chain) == chain.head.state_root
        nonce, _ = get_account(StateOverlay(chain.state_reader()), ALICE)
        assert nonce == chain.head.number  # one transfer per block, none half-applied
        chain.close()


def test_receipt_records_round_trip_and_are_standard_rlp() -> None:
    import rlp

    from jovay.codec.blocks import Log, Receipt, logs_bloom
    from jovay.stf.block import ExecutedTx
    from jovay.stf.transaction import TxOutcome
    from jovay.storage.chain import decode_receipts, encode_receipts

    log = Log(ALICE, [bytes(31) + b"\x01", b"\x22" * 32], b"payload")
    receipts = [Receipt(2, 1, 51_000, [log], logs_bloom([log])), Receipt(0, 0, 72_000, [], logs_bloom([]))]
    outcomes = [TxOutcome(1, 51_000, 7, [log]), TxOutcome(0, 21_000, 0, [], b"\x08\xc3\x79\xa0")]
    executed = [ExecutedTx(b"", bytes(32), ALICE, None, o) for o in outcomes]  # type: ignore[arg-type]
    data = encode_receipts(executed, receipts)
    reference = rlp.decode(data)  # the `rlp` package reads what the fast encoder wrote
    assert [int.from_bytes(row[2], "big") for row in reference] == [51_000, 72_000]
    assert reference[1][7] == b"\x08\xc3\x79\xa0"
    decoded = decode_receipts(data)
    assert [d.receipt for d in decoded] == receipts
    assert [(d.gas_used, d.effective_gas_price, d.return_data) for d in decoded] == [
        (51_000, 7, b""),
        (21_000, 0, b"\x08\xc3\x79\xa0"),
    ]


def test_a_tiny_node_cache_gives_the_same_chain(tmp_path: Path) -> None:
    """Every node read past a cache of 4 comes from LMDB: same roots and blocks as the default cache."""
    chains = [
        Chain(tmp_path / "default", make_genesis()),
        Chain(tmp_path / "tiny", make_genesis(), node_cache_size=4),
    ]
    for chain in chains:
        for nonce in range(4):
            execution = chain.new_execution(chain.head.timestamp + 1)
            execution.add_transaction(signed_tx(KEYS[0], nonce=nonce, to=BOB, value=nonce + 1))
            for key in range(nonce * 5, nonce * 5 + 30):
                execution.state.set(key + 1, key * nonce)
            chain.seal(execution)
    assert chains[1].nodes.cached() <= 4
    assert chains[1].nodes.lmdb_reads > chains[0].nodes.lmdb_reads
    assert chains[0].head == chains[1].head
    assert chains[1].head.state_root == root_of_leaves(chains[1])
    for chain in chains:
        chain.close()


def test_a_seal_reads_its_cache_misses_in_one_read_transaction(tmp_path: Path, monkeypatch) -> None:
    """With a cache of 4 nodes, every node a seal reads from LMDB comes through one read transaction per
    block (not one per node), and the chain is the same as with the default cache."""
    reference = Chain(tmp_path / "default", make_genesis())
    chain = Chain(tmp_path / "tiny", make_genesis(), node_cache_size=4)
    transactions: list[list[object]] = []
    node_in = chain.store.node_in

    def recording_node_in(txn: object, node_hash: int) -> bytes | None:
        transactions[-1].append(txn)
        return node_in(txn, node_hash)  # type: ignore[arg-type]

    monkeypatch.setattr(chain.store, "node_in", recording_node_in)
    monkeypatch.setattr(chain.store, "node", lambda node_hash: pytest.fail("a node read outside the block's"))
    for nonce in range(3):
        for target in (reference, chain):
            execution = target.new_execution(target.head.timestamp + 1)
            execution.add_transaction(signed_tx(KEYS[0], nonce=nonce, to=BOB, value=nonce + 1))
            for key in range(nonce * 5, nonce * 5 + 30):
                execution.state.set(key + 1, key * nonce + 1)
            if target is chain:
                transactions.append([])
                reads = chain.nodes.lmdb_reads
            target.seal(execution)
        assert len(transactions[-1]) == chain.nodes.lmdb_reads - reads > 0
        assert len({id(txn) for txn in transactions[-1]}) == 1
    assert chain.head == reference.head
    assert chain.nodes._txn is None  # closed after each seal
    reference.close()
    chain.close()


def test_a_failed_seal_closes_its_read_transaction(tmp_path: Path) -> None:
    chain = Chain(tmp_path, make_genesis(), node_cache_size=4)
    with pytest.raises(RuntimeError, match="boom"):
        with chain.nodes.reading():
            assert chain.nodes._txn is not None
            raise RuntimeError("boom")
    assert chain.nodes._txn is None
    seal_transfer(chain, 0, 1)  # the writer goes on
    assert chain.head.number == 1
    chain.close()


def test_the_node_cache_is_bounded_and_forgets_stale_nodes(tmp_path: Path) -> None:
    """Balances and nonces only grow here, so no dropped node comes back: none may stay cached."""
    chain = Chain(tmp_path, make_genesis(), node_cache_size=40)
    stale: list[int] = []
    take = chain.nodes.take_pending

    def taking() -> tuple[dict[int, tuple], list[int]]:
        pending, dropped = take()
        stale.extend(dropped)
        return pending, dropped

    chain.nodes.take_pending = taking  # type: ignore[method-assign]
    for nonce in range(3):
        seal_transfer(chain, nonce, 1)
        assert chain.nodes.cached() <= 40
    live = set(chain.nodes._young) | set(chain.nodes._old)
    assert stale and not live & set(stale)
    chain.close()
