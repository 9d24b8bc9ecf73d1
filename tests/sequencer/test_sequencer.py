"""Block production: ordering, fees, dropping what became invalid, full blocks, the timer."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from jovay.codec.blocks import block_hash
from jovay.codec.transactions import DepositTx
from jovay.errors import InvalidTransaction
from jovay.params import MIN_BASE_FEE
from jovay.sequencer.sequencer import Sequencer, SequencerConfig
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import get_account
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, raw_tx

ALICE, BOB, CAROL = ADDRESSES[:3]


@pytest.fixture
def sequencer(tmp_path: Path):
    genesis = Genesis(
        identity_admin=ALICE, timestamp=int(time.time()) - 10, alloc={ALICE: 10 * ETH, BOB: 10 * ETH}
    )
    chain = Chain(tmp_path, genesis)
    seq = Sequencer(chain, SequencerConfig(block_time_s=0.05))
    yield seq
    seq.stop()
    chain.close()


def transfer(key: bytes, nonce: int, *, tip: int = 1_000, value: int = 1, gas: int = 21_000) -> bytes:
    return raw_tx(key, nonce=nonce, to=CAROL, value=value, tip=tip, max_fee=MIN_BASE_FEE * 4, gas=gas)


def balance(seq: Sequencer, address: bytes) -> int:
    return get_account(StateOverlay(seq.chain.store.leaf), address)[1]


def block_senders(seq: Sequencer, number: int) -> list[tuple[int, int]]:
    from jovay.codec.transactions import decode_transaction

    found = seq.chain.block(number)
    assert found is not None
    txs = [decode_transaction(raw, expected_chain_id=seq.chain.genesis.chain_id) for raw in found[1]]
    return [(ADDRESSES.index(t.sender), t.tx.nonce) for t in txs]


def test_nonce_order_per_sender_and_tip_order_across_senders(sequencer: Sequencer) -> None:
    for nonce in (2, 0, 1):
        sequencer.submit(transfer(KEYS[0], nonce, tip=1_000))
    sequencer.submit(transfer(KEYS[1], 0, tip=50_000))
    header = sequencer.produce_block()
    assert header.number == 1
    assert block_senders(sequencer, 1) == [(1, 0), (0, 0), (0, 1), (0, 2)]
    assert len(sequencer.mempool) == 0
    assert balance(sequencer, CAROL) == 4


def test_pending_nonce_and_gapped_transaction_waits(sequencer: Sequencer) -> None:
    sequencer.submit(transfer(KEYS[0], 0))
    sequencer.submit(transfer(KEYS[0], 2))
    assert sequencer.pending_nonce(ALICE) == 1
    sequencer.produce_block()
    assert block_senders(sequencer, 1) == [(0, 0)]
    assert len(sequencer.mempool) == 1  # nonce 2 waits for nonce 1
    sequencer.submit(transfer(KEYS[0], 1))
    sequencer.produce_block()
    assert block_senders(sequencer, 2) == [(0, 1), (0, 2)]


def test_transaction_that_became_unaffordable_is_dropped_not_sealed(sequencer: Sequencer) -> None:
    fee_reserve = 21_000 * MIN_BASE_FEE * 4
    sequencer.submit(transfer(KEYS[0], 0, value=6 * ETH))
    sequencer.submit(transfer(KEYS[0], 1, value=6 * ETH - fee_reserve))  # each alone is affordable
    sequencer.produce_block()
    assert block_senders(sequencer, 1) == [(0, 0)]
    assert len(sequencer.mempool) == 0
    assert balance(sequencer, CAROL) == 6 * ETH


def test_submit_rejects_with_geth_messages(sequencer: Sequencer) -> None:
    with pytest.raises(InvalidTransaction, match="insufficient funds"):
        sequencer.submit(transfer(KEYS[2], 0))
    with pytest.raises(InvalidTransaction, match="invalid chain id for signer"):
        sequencer.submit(raw_tx(KEYS[0], nonce=0, to=CAROL, chain_id=1, max_fee=MIN_BASE_FEE * 4))
    sequencer.submit(transfer(KEYS[0], 0))
    sequencer.produce_block()
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        sequencer.submit(transfer(KEYS[0], 0, value=2))


def test_full_block_leaves_the_rest_for_the_next(tmp_path: Path) -> None:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 10, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    seq = Sequencer(chain, SequencerConfig(max_txs_per_block=3))
    for nonce in range(5):
        seq.submit(transfer(KEYS[0], nonce))
    seq.produce_block()
    seq.produce_block()
    assert [len(chain.block(n)[1]) for n in (1, 2)] == [3, 2]  # type: ignore[index]
    chain.close()


def test_deposits_come_first_in_queue_order(tmp_path: Path) -> None:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 10, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    queue = [DepositTx(i, BOB, CAROL, 10 + i) for i in range(3)]
    seq = Sequencer(chain, deposits=lambda start, count: queue[start : start + count])
    seq.submit(transfer(KEYS[0], 0))
    seq.produce_block()
    found = chain.block(1)
    assert found is not None and [raw[0] for raw in found[1]] == [0x7E, 0x7E, 0x7E, 0x02]
    assert balance(seq, CAROL) == 10 + 11 + 12 + 1
    seq.produce_block()  # nothing new: no deposit is applied twice
    assert balance(seq, CAROL) == 34
    chain.close()


def test_timer_seals_blocks_on_its_own(sequencer: Sequencer) -> None:
    sequencer.start()
    sequencer.submit(transfer(KEYS[0], 0))
    deadline = time.monotonic() + 10
    while sequencer.chain.head.number < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sequencer.chain.head.number >= 3
    assert balance(sequencer, CAROL) == 1


def test_a_full_block_is_followed_at_once(tmp_path: Path) -> None:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 10, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    seq = Sequencer(chain, SequencerConfig(block_time_s=30, max_txs_per_block=2))
    for nonce in range(6):
        seq.submit(transfer(KEYS[0], nonce))
    seq.start()  # with a 30 s block time, only "full block -> next block now" empties the pool quickly
    deadline = time.monotonic() + 10
    while len(seq.mempool) and time.monotonic() < deadline:
        time.sleep(0.02)
    seq.stop()
    assert len(seq.mempool) == 0 and chain.head.number >= 3
    chain.close()


def test_submit_many_answers_as_a_loop_of_submit(tmp_path: Path) -> None:
    """Decoding ahead on a thread pool (in chunks, senders recovered without the GIL) and reading each
    account once per batch change no answer: same hashes, same errors, same pool, in order; and the
    blocks sealed from the two pools are the same blocks."""
    raws = [transfer(KEYS[0], n) for n in range(40)] + [transfer(KEYS[1], n) for n in range(30)]
    raws += [raws[3], transfer(KEYS[0], 0, tip=2_000), b"\x02\xc0", raws[5][:-1] + b"\x00"]
    raws += [transfer(KEYS[2], 0), transfer(KEYS[1], 500)]  # unfunded sender; nonce gap too large
    flip_r = transfer(KEYS[3], 0)
    flip_r = flip_r[:-40] + bytes((flip_r[-40] ^ 1,)) + flip_r[-39:]  # another (unfunded) sender
    raws += [
        flip_r,
        raw_tx(KEYS[0], nonce=40, to=CAROL, value=1, chain_id=CHAIN_ID + 1),  # another chain
        raw_tx(KEYS[0], nonce=40, to=CAROL, value=1, max_fee=MIN_BASE_FEE - 1, tip=1),  # below base fee
        raw_tx(KEYS[1], nonce=30, to=CAROL, value=1, tx_type=0, max_fee=MIN_BASE_FEE * 3),  # legacy
        raw_tx(KEYS[1], nonce=31, to=CAROL, value=100 * ETH),  # more than the balance
        raw_tx(KEYS[0], nonce=40, to=None, data=b"\x60\x00", gas=100_000),  # contract creation
        b"\x02\xc0",  # a refused raw twice
    ]
    answers = []
    for name, batched in (("loop", False), ("many", True)):
        alloc = {ALICE: 10 * ETH, BOB: 10 * ETH}
        genesis = Genesis(identity_admin=ALICE, timestamp=1_700_000_000, alloc=alloc)
        chain = Chain(tmp_path / name, genesis)
        seq = Sequencer(chain, clock=lambda: 1_700_000_001)
        try:
            if batched:
                seq.predecode(raws[60:])  # as the RPC server does: some arrive decoded already
                results = seq.submit_many(raws)
            else:
                results = []
                for raw in raws:
                    try:
                        results.append(seq.submit(raw))
                    except InvalidTransaction as exc:
                        results.append(exc)
            rendered = [r.hex() if isinstance(r, bytes) else f"{type(r).__name__}: {r}" for r in results]
            pooled = sorted(tx.hash for q in seq.mempool.snapshot_by_sender() for tx in q)
            sealed = [block_hash(seq.produce_block()) for _ in range(2)]
            answers.append((rendered, pooled, sealed, len(seq.mempool)))
        finally:
            seq.stop()
            chain.close()
    assert answers[0] == answers[1]
    rendered = answers[0][0]
    assert sum(r.startswith("InvalidTransaction") or "Error" in r for r in rendered) >= 9
    assert any("invalid chain id" in r for r in rendered) and any("insufficient funds" in r for r in rendered)
    assert any("less than block base fee" in r for r in rendered)


def test_no_deposit_after_a_transaction(sequencer: Sequencer) -> None:
    from jovay.codec.transactions import decode_transaction

    execution = sequencer.chain.new_execution(int(time.time()))
    execution.add_deposit(DepositTx(0, ALICE, CAROL, 5))
    signed = decode_transaction(transfer(KEYS[0], 0), expected_chain_id=sequencer.chain.genesis.chain_id)
    execution.add_transaction(signed)
    with pytest.raises(InvalidTransaction, match="deposits must come before"):
        execution.add_deposit(DepositTx(1, ALICE, CAROL, 5))
