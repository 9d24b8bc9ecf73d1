"""The sequencer's block filling (jovay.stf.block.fill_from_queues) in its native twin
(jovay/_native/_transfers.pyx, the transfer fast path inlined) against the pure one: over random pools
of mixed transactions (plain ETH and token transfers, calls that take the general path, nonce gaps and
reused nonces, short funds, fees below the base fee, too much gas), both include the same transactions
in the same order, drop the same ones with the same error, stop for the same reason, and leave the
same outcomes, state writes and journal; in blocks that fill up too (what is left in the pool then
waits, decided natively without the general path); and the receipts built from those blocks (log blooms
in C) are the pure ones."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import transfers_impl
from jovay.codec.blocks import BLOOM_CACHE_SIZE, EMPTY_BLOOM, Log, Receipt, logs_bloom
from jovay.codec.transactions import DynamicFeeTx, SignedTx
from jovay.errors import NonceTooLow
from jovay.params import MIN_BASE_FEE
from jovay.state.keys import account_key, allowlist_key, pack_account, token_balance_key
from jovay.state.overlay import StateOverlay
from jovay.stf import block
from jovay.stf.block import BlockExecution, ExecutedTx
from jovay.stf.transaction import BlockEnv, TxOutcome
from tests.native.test_transfers_fast_path import (
    ENV,
    NONCES,
    TOKEN,
    USERS,
    genesis_state,
    transactions,
    transfer_data,
)

native = transfers_impl()
needs_native = pytest.mark.skipif(
    native is None, reason="jovay._native._transfers is not built or JOVAY_PURE=1"
)


def outcome_fields(outcome: Any) -> tuple[Any, ...]:
    logs = [(log.address, list(log.topics), log.data) for log in outcome.logs]
    return outcome.status, outcome.gas_used, outcome.effective_gas_price, logs, outcome.return_data


# Room for two token transfers and a plain one: most pools fill it, and the rest of them must wait.
FULL_ENV = dataclasses.replace(ENV, gas_limit=2 * 80_000 + 21_000)


def fill_report(fill: Any, queues: list[list[SignedTx]], limit: int, env: BlockEnv = ENV) -> dict[str, Any]:
    """Everything a fill decides and leaves behind, comparable across the twins."""
    leaves = genesis_state()
    execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), env)
    included, dropped, stopped = fill(execution, queues, limit)
    return {
        "included": [id(signed) for signed in included],
        "dropped": [(id(signed), type(exc).__name__, str(exc)) for signed, exc in dropped],
        "stopped": stopped,
        "executed": [(id(item.tx), item.sender, outcome_fields(item.outcome)) for item in execution.executed],
        "gas_used": execution.gas_used,
        "has_transactions": execution.has_transactions,
        "writes": list(execution.state.writes().items()),  # insertion order too
        "journal": list(execution.state._journal),
        "receipts": receipts_report(block.pure_build_receipts, execution.executed),
    }


def receipts_report(build: Any, executed: list[ExecutedTx]) -> list[tuple[Any, ...]]:
    return [
        (
            r.tx_type,
            r.status,
            r.cumulative_gas_used,
            [(g.address, list(g.topics), g.data) for g in r.logs],
            r.bloom,
        )
        for r in build(executed)
    ]


@st.composite
def pools(draw: Any) -> list[list[SignedTx]]:
    """Per-sender queues in nonce order, as the mempool hands them over: nonces planned from the genesis
    state with gaps and repeats, every shape of transaction the fast-path test knows."""
    builds = draw(st.lists(transactions(), min_size=1, max_size=30))
    nonces = dict(zip(USERS, NONCES, strict=True))
    by_sender: dict[bytes, dict[int, SignedTx]] = {}
    for build in builds:
        sender = build(0).sender
        signed = build(nonces[sender])
        nonces[sender] = signed.tx.nonce + 1
        by_sender.setdefault(sender, {})[signed.tx.nonce] = signed
    return [[queue[n] for n in sorted(queue)] for queue in by_sender.values()]


@needs_native
@settings(max_examples=150, deadline=None)
@given(queues=pools(), limit=st.sampled_from([1, 3, 1_000]))
def test_native_fill_equals_pure_fill(queues: list[list[SignedTx]], limit: int) -> None:
    assert native is not None
    assert fill_report(native.fill_from_queues, queues, limit) == fill_report(
        block.pure_fill_from_queues, queues, limit
    )


@needs_native
@settings(max_examples=150, deadline=None)
@given(queues=pools(), limit=st.sampled_from([3, 1_000]))
def test_native_fill_equals_pure_fill_when_the_block_fills_up(
    queues: list[list[SignedTx]], limit: int
) -> None:
    """A block with room for a few transactions: the ones that no longer fit (and those below the base
    fee) wait, every other rule still drops what it drops, in both twins alike."""
    assert native is not None
    assert fill_report(native.fill_from_queues, queues, limit, FULL_ENV) == fill_report(
        block.pure_fill_from_queues, queues, limit, FULL_ENV
    )


def test_a_full_block_leaves_the_rest_waiting_and_still_drops_the_invalid() -> None:
    """Once the gas is spent, a transfer that no longer fits waits (not dropped, its sender's later ones
    not tried), a transaction below the base fee waits, and one past the block gas limit is still
    dropped; the fill then ran out of transactions, so it did not stop on a limit."""

    def token_tx(
        sender: int, nonce: int, tip: int, gas: int = 80_000, max_fee: int = 2 * MIN_BASE_FEE
    ) -> SignedTx:
        tx = DynamicFeeTx(1, nonce, tip, max_fee, gas, TOKEN, 0, transfer_data(USERS[1], 1))
        return SignedTx(tx, USERS[sender], b"", b"")

    first, second = token_tx(0, 0, 9), token_tx(1, 5, 8)
    no_room = [token_tx(2, 1, 7), token_tx(2, 2, 7)]
    too_cheap = token_tx(0, 0, 0, max_fee=MIN_BASE_FEE - 1)
    too_big = token_tx(1, 5, 1, gas=FULL_ENV.gas_limit + 1)
    queues = [[first], [second], no_room, [too_cheap], [too_big]]
    fills = [block.pure_fill_from_queues] + ([native.fill_from_queues] if native is not None else [])
    leaves = genesis_state()
    for fill in fills:
        execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), FULL_ENV)
        included, dropped, stopped = fill(execution, queues, 1_000)
        assert included == [first, second]
        assert [(signed, str(exc)) for signed, exc in dropped] == [
            (too_big, f"exceeds block gas limit: gas {FULL_ENV.gas_limit + 1}, limit {FULL_ENV.gas_limit}")
        ]
        assert stopped is False
        assert execution.gas_used == 2 * first_gas(execution)


def first_gas(execution: BlockExecution) -> int:
    return execution.executed[0].outcome.gas_used


@st.composite
def executed_blocks(draw: Any) -> list[ExecutedTx]:
    """Executed transactions with logs of any shape: none, token transfers, several, odd topic types."""
    words = st.binary(min_size=0, max_size=40)
    topic = st.one_of(words, words.map(memoryview))  # not bytes: left to the pure bloom
    log = st.builds(
        Log,
        st.one_of(st.binary(min_size=20, max_size=20), words.map(memoryview)),
        st.lists(topic, max_size=4),
        words,
    )
    items = []
    for _ in range(draw(st.integers(min_value=0, max_value=8))):
        logs = draw(st.lists(log, max_size=3))
        outcome = TxOutcome(draw(st.sampled_from([0, 1])), draw(st.integers(0, 10**6)), 7, logs)
        signed = SignedTx(DynamicFeeTx(1, 0, 1, 2, 21_000, USERS[0], 0, b""), USERS[0], b"", b"")
        items.append(ExecutedTx(b"", bytes(32), USERS[0], signed, outcome))
    return items


@needs_native
@settings(max_examples=200, deadline=None)
@given(executed=executed_blocks())
def test_native_receipts_and_blooms_equal_the_pure_ones(executed: list[ExecutedTx]) -> None:
    """build_receipts (blooms hashed in C; anything but plain bytes left to the pure bloom) and the
    header's combined bloom."""
    assert native is not None
    receipts = native.build_receipts(executed)
    assert receipts_report(native.build_receipts, executed) == receipts_report(
        block.pure_build_receipts, executed
    )
    assert native.combined_bloom(receipts) == block.pure_combined_bloom(receipts)


@contextmanager
def bloom_cache_slots(slots: int) -> Iterator[None]:
    """The native bloom-bits cache with `slots` slots meanwhile (fresh and empty), then a fresh one of
    the configured size."""
    assert native is not None
    native._set_bloom_cache_slots(slots)
    try:
        yield
    finally:
        native._set_bloom_cache_slots(BLOOM_CACHE_SIZE)


@needs_native
@settings(max_examples=100, deadline=None)
@given(executed=executed_blocks(), slots=st.sampled_from([1, 2, 8]))
def test_native_blooms_stay_exact_when_the_cache_evicts(executed: list[ExecutedTx], slots: int) -> None:
    """A bloom-bits cache of a few slots: values of every length (empty, address, topic, longer than a
    slot holds) keep colliding and evicting each other, and every bloom is still the pure one, built
    twice (the second time from what the first left cached)."""
    assert native is not None
    with bloom_cache_slots(slots):
        for _ in range(2):
            assert receipts_report(native.build_receipts, executed) == receipts_report(
                block.pure_build_receipts, executed
            )


@needs_native
def test_native_bloom_cache_hits_repeated_values() -> None:
    """A token transfer's address and topics come back: the second receipt is built from the cache."""
    assert native is not None
    token_log = Log(TOKEN, [bytes(32), bytes(12) + USERS[0], bytes(12) + USERS[1]], b"")
    signed = SignedTx(DynamicFeeTx(1, 0, 1, 2, 21_000, USERS[0], 0, b""), USERS[0], b"", b"")
    item = ExecutedTx(b"", bytes(32), USERS[0], signed, TxOutcome(1, 5, 7, [token_log]))
    with bloom_cache_slots(1 << 10):
        hits, misses = native._bloom_cache_stats()
        (first,) = native.build_receipts([item])
        (second,) = native.build_receipts([item])
        after_hits, after_misses = native._bloom_cache_stats()
    assert first.bloom == second.bloom == logs_bloom([token_log])
    assert after_hits - hits >= 4 and after_misses - misses <= 4
    with pytest.raises(ValueError, match="power of two"):
        native._set_bloom_cache_slots(3)


@needs_native
def test_native_combined_bloom_takes_odd_blooms_to_the_pure_one() -> None:
    """A receipt whose bloom is not 256 plain bytes: the pure function decides (its answer or error)."""
    assert native is not None
    token_log = Log(TOKEN, [bytes(32), bytes(12) + USERS[0]], b"")
    good = Receipt(2, 1, 5, [token_log], logs_bloom([token_log]))
    short = Receipt(2, 1, 5, [], b"\x01" * 8)
    as_bytearray = Receipt(2, 1, 5, [], bytearray(good.bloom))
    for receipts in ([good, short], [as_bytearray, good], [good, Receipt(0, 1, 5)], []):
        assert native.combined_bloom(receipts) == block.pure_combined_bloom(receipts)
    assert native.combined_bloom([Receipt(0, 1, 5)]) == EMPTY_BLOOM
    too_long = Receipt(2, 1, 5, [], b"\xff" * 300)
    with pytest.raises(OverflowError):
        block.pure_combined_bloom([too_long])
    with pytest.raises(OverflowError):
        native.combined_bloom([too_long])


def test_fill_orders_by_tip_and_nonce_and_drops_reused_nonces() -> None:
    """The policy itself (both twins): highest tip first, nonce order per sender, a used nonce dropped
    without holding back the sender's next one, a nonce gap waiting, the count limit stopping early."""

    def tx(sender: int, nonce: int, tip: int) -> SignedTx:
        return SignedTx(
            DynamicFeeTx(1, nonce, tip, 2 * MIN_BASE_FEE, 21_000, USERS[1], 1, b""), USERS[sender], b"", b""
        )

    rich_low_tip = [tx(0, 0, 1), tx(0, 1, 1)]
    reused_then_next = [tx(1, 4, 5), tx(1, 5, 5), tx(1, 7, 5)]  # 4 is used already; 7 leaves a gap
    token_tx = DynamicFeeTx(1, 1, 9, 2 * MIN_BASE_FEE, 80_000, TOKEN, 0, transfer_data(USERS[0], 1))
    token = SignedTx(token_tx, USERS[2], b"", b"")
    queues = [rich_low_tip, reused_then_next, [token]]
    fills = [block.pure_fill_from_queues] + ([native.fill_from_queues] if native is not None else [])
    leaves = genesis_state()
    for fill in fills:
        execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), ENV)
        included, dropped, stopped = fill(execution, queues, 1_000)
        assert included == [token, reused_then_next[1], rich_low_tip[0], rich_low_tip[1]]
        assert [(signed, type(exc)) for signed, exc in dropped] == [(reused_then_next[0], NonceTooLow)]
        assert stopped is False
        execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), ENV)
        included, _, stopped = fill(execution, queues, 2)
        assert included == [token, reused_then_next[1]] and stopped is True


@needs_native
def test_native_built_objects_are_the_dataclasses_themselves() -> None:
    """The outcome, log, executed transaction and receipt the native code builds without calling the
    classes are instances equal to the ones the classes build, frozen where the class is frozen."""
    assert native is not None
    leaves = genesis_state()
    execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), ENV)
    tx = DynamicFeeTx(1, 0, 3, 2 * MIN_BASE_FEE, 80_000, TOKEN, 0, transfer_data(USERS[1], 7))
    signed = SignedTx(tx, USERS[0], b"", b"")
    native.fill_from_queues(execution, [[signed]], 10)
    (item,) = execution.executed
    outcome = item.outcome
    (log,) = outcome.logs
    assert type(item) is ExecutedTx and type(outcome) is TxOutcome and type(log) is Log
    assert log == Log(
        TOKEN, [log.topics[0], bytes(12) + USERS[0], bytes(12) + USERS[1]], (7).to_bytes(32, "big")
    )
    assert outcome == TxOutcome(1, outcome.gas_used, outcome.effective_gas_price, [log], outcome.return_data)
    assert item == ExecutedTx(signed.raw, signed.hash, signed.sender, signed, outcome)
    (receipt,) = native.build_receipts(execution.executed)
    assert type(receipt) is Receipt
    assert receipt == Receipt(2, 1, outcome.gas_used, [log], logs_bloom([log]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.data = b""  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        receipt.status = 0  # type: ignore[misc]
    eth = SignedTx(DynamicFeeTx(1, 1, 3, 2 * MIN_BASE_FEE, 21_000, USERS[1], 5, b""), USERS[0], b"", b"")
    native.fill_from_queues(execution, [[eth]], 10)
    plain = execution.executed[-1].outcome
    assert plain == TxOutcome(1, 21_000, plain.effective_gas_price) and plain.logs is not outcome.logs


@contextmanager
def purging_every_heap() -> Iterator[None]:
    """The native fill purges waiting entries from a heap of any size (64 entries at least otherwise),
    so that the few senders of a hypothesis pool go through the purge and its `stopped` bookkeeping."""
    assert native is not None
    old = native._set_purge_min_heap(1)
    try:
        yield
    finally:
        native._set_purge_min_heap(old)


@needs_native
@settings(max_examples=300, deadline=None)
@given(queues=pools(), limit=st.sampled_from([1, 2, 3, 1_000]), full=st.booleans())
def test_native_fill_with_purges_equals_pure_fill(
    queues: list[list[SignedTx]], limit: int, full: bool
) -> None:
    """Every wait purges the heap of the entries that can only wait: the same transactions, drops,
    order, writes and `stopped` as popping each in turn (the pure twin), in roomy and in full blocks."""
    assert native is not None
    env = FULL_ENV if full else ENV
    with purging_every_heap():
        assert fill_report(native.fill_from_queues, queues, limit, env) == fill_report(
            block.pure_fill_from_queues, queues, limit, env
        )


def _eth(sender: int, nonce: int, tip: int, gas: int = 21_000, max_fee: int = 2 * MIN_BASE_FEE) -> SignedTx:
    tx = DynamicFeeTx(1, nonce, tip, max_fee, gas, USERS[1], 1, b"")
    return SignedTx(tx, USERS[sender], b"", b"")


@needs_native
@pytest.mark.parametrize(
    ("fitting_tip", "stopped"),
    [
        (1, False),  # popped after every set-aside entry: the plain loop drained the heap
        (8, True),  # popped before the set-aside tip-7 entry: the plain loop stops holding it
    ],
)
def test_purged_entries_count_for_stopped_as_the_plain_loop_would_hold_them(
    fitting_tip: int, stopped: bool
) -> None:
    """A count limit of 2: a plain transfer is included, then two entries wait for gas (the first wait
    purges the other), and the sender's next transfer, which fits, hits the limit. Whether the plain
    loop would still hold the purged entry then depends on the tips: `stopped` says so in both."""
    assert native is not None
    env = dataclasses.replace(ENV, gas_limit=60_000)
    waiting = [_eth(0, 0, 9, gas=50_000), _eth(2, 1, 7, gas=50_000)]  # 50,000 > the 39,000 left after
    first = _eth(1, 5, 10, gas=21_000)  # ... this one, included first
    fitting = _eth(1, 6, fitting_tip)
    queues = [[waiting[0]], [first, fitting], [waiting[1]]]
    leaves = genesis_state()
    with purging_every_heap():
        for fill in (native.fill_from_queues, block.pure_fill_from_queues):
            execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), env)
            included, dropped, got_stopped = fill(execution, queues, 2)
            assert (included, dropped, got_stopped) == ([first, fitting], [], stopped)


def _many_holders(count: int) -> tuple[list[bytes], dict[int, int]]:
    """`count` funded, allowlisted holders of TOKEN, as leaves."""
    holders = [(0x1000 + i).to_bytes(20, "big") for i in range(count)]
    leaves = genesis_state()
    for holder in holders:
        leaves[account_key(holder)] = pack_account(0, 10**21)
        leaves[allowlist_key(holder)] = 1
        leaves[token_balance_key(TOKEN, holder)] = 1_000
    return holders, leaves


@needs_native
@pytest.mark.parametrize("limit", [40, 1_000])
def test_a_full_token_block_over_a_large_pool_equals_the_pure_fill(limit: int) -> None:
    """The benchmark's shape at the default purge size: 300 holders each send a token transfer (some
    with a low fee, some sending a plain transfer after it), the block has room for 50 token
    transfers; the rest of the pool waits, purged natively, with the pure twin's results."""
    assert native is not None
    holders, leaves = _many_holders(300)
    env = dataclasses.replace(ENV, gas_limit=50 * 51_600)
    queues = []
    for i, holder in enumerate(holders):
        max_fee = MIN_BASE_FEE - 1 if i % 37 == 0 else 2 * MIN_BASE_FEE
        data = transfer_data(holders[(i + 1) % len(holders)], 1)
        token = DynamicFeeTx(1, 0, 1 + i % 7, max_fee, 80_000, TOKEN, 0, data)
        queue = [SignedTx(token, holder, b"", b"")]
        if i % 5 == 0:
            eth = DynamicFeeTx(1, 1, 3, 2 * MIN_BASE_FEE, 21_000, USERS[1], 1, b"")
            queue.append(SignedTx(eth, holder, b"", b""))
        queues.append(queue)
    reports = []
    for fill in (native.fill_from_queues, block.pure_fill_from_queues):
        execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), env)
        included, dropped, stopped = fill(execution, queues, limit)
        reports.append(
            (
                [id(s) for s in included],
                [(id(s), str(e)) for s, e in dropped],
                stopped,
                [outcome_fields(item.outcome) for item in execution.executed],
                list(execution.state.writes().items()),
            )
        )
    assert reports[0] == reports[1]
    included, dropped = reports[0][0], reports[0][1]
    assert len(included) >= 40 and len(included) + len(dropped) < 300  # filled up; most of the pool waits
