"""Mempool admission: nonce gaps, replacement by fee, per-sender and total limits."""

from __future__ import annotations

import pytest

from jovay.errors import InvalidTransaction
from jovay.params import MIN_BASE_FEE
from jovay.sequencer.mempool import Mempool, MempoolLimits
from tests.helpers import ADDRESSES, KEYS, signed_tx

BOB = ADDRESSES[1]


def tx(
    nonce: int, *, key: bytes = KEYS[0], max_fee: int = 2 * MIN_BASE_FEE, tip: int = 1_000, value: int = 1
):
    return signed_tx(key, nonce=nonce, to=BOB, value=value, max_fee=max_fee, tip=tip)


def test_pending_nonce_counts_consecutive_transactions_only() -> None:
    pool = Mempool()
    for nonce in (0, 1, 3):
        pool.add(tx(nonce), account_nonce=0)
    assert pool.pending_nonce(ADDRESSES[0], 0) == 2
    assert pool.pending_nonce(ADDRESSES[1], 7) == 7


def test_duplicate_and_nonce_too_low_are_refused() -> None:
    pool = Mempool()
    first = tx(0)
    pool.add(first, 0)
    with pytest.raises(InvalidTransaction, match="already known"):
        pool.add(first, 0)
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        pool.add(tx(0, value=2), 1)


def test_nonce_gap_beyond_limit_is_refused() -> None:
    pool = Mempool(MempoolLimits(max_nonce_gap=4))
    pool.add(tx(4), 0)
    with pytest.raises(InvalidTransaction, match="nonce too high.*gap exceeds the mempool limit of 4"):
        pool.add(tx(5), 0)


def test_replacement_needs_ten_percent_more_in_both_fees() -> None:
    pool = Mempool()
    original = tx(0, max_fee=1_000_000_000, tip=1_000_000)
    pool.add(original, 0)
    with pytest.raises(InvalidTransaction, match="replacement transaction underpriced"):
        pool.add(tx(0, max_fee=1_099_999_999, tip=2_000_000), 0)
    with pytest.raises(InvalidTransaction, match="replacement transaction underpriced"):
        pool.add(tx(0, max_fee=2_000_000_000, tip=1_099_999), 0)
    better = tx(0, max_fee=1_100_000_000, tip=1_100_000)
    assert pool.add(better, 0) == original
    assert pool.get(original.hash) is None and pool.get(better.hash) == better
    assert len(pool) == 1


def test_per_sender_and_total_limits() -> None:
    pool = Mempool(MempoolLimits(max_nonce_gap=10, max_per_sender=2, max_total=3))
    pool.add(tx(0), 0)
    pool.add(tx(1), 0)
    with pytest.raises(InvalidTransaction, match="account limit exceeded"):
        pool.add(tx(2), 0)
    pool.add(tx(0, key=KEYS[1]), 0)
    with pytest.raises(InvalidTransaction, match="txpool is full"):
        pool.add(tx(0, key=KEYS[2]), 0)


def test_remove_and_content() -> None:
    pool = Mempool()
    txs = [tx(n) for n in range(3)]
    for item in txs:
        pool.add(item, 0)
    pool.remove(txs[:2])
    assert pool.content() == {ADDRESSES[0]: [txs[2]]}
    pool.remove_stale(ADDRESSES[0], 3)
    assert len(pool) == 0 and pool.content() == {}


def test_snapshot_follows_every_change_of_a_sender() -> None:
    """Snapshots reuse a sender's ordered list only while its queue is unchanged: adds, replacements
    and removals all show in the next snapshot, in nonce order, and refused adds leave no empty queue."""
    pool = Mempool(MempoolLimits(max_per_sender=3))
    first, second = tx(1), tx(0)
    pool.add(first, account_nonce=0)
    pool.add(second, account_nonce=0)
    assert pool.snapshot_by_sender() == [[second, first]]
    assert pool.snapshot_by_sender() == [[second, first]]
    other = tx(0, key=KEYS[1])
    pool.add(other, account_nonce=0)
    third = tx(2)
    pool.add(third, account_nonce=0)
    assert pool.snapshot_by_sender() == [[second, first, third], [other]]
    bumped = tx(1, max_fee=4 * MIN_BASE_FEE, tip=2_000)
    assert pool.add(bumped, account_nonce=0) == first
    with pytest.raises(InvalidTransaction, match="account limit"):
        pool.add(tx(3), account_nonce=0)
    assert pool.snapshot_by_sender() == [[second, bumped, third], [other]]
    pool.remove([second, other])
    assert pool.snapshot_by_sender() == [[bumped, third]]
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        pool.add(tx(0, key=KEYS[2]), account_nonce=1)
    assert pool.snapshot_by_sender() == [[bumped, third]]
