"""The sequencer's block filling (jovay.stf.block.fill_from_queues) in its native twin
(jovay/_native/_transfers.pyx, the transfer fast path inlined) against the pure one: over random pools
of mixed transactions (plain ETH and token transfers, calls that take the general path, nonce gaps and
reused nonces, short funds, fees below the base fee, too much gas), both include the same transactions
in the same order, drop the same ones with the same error, stop for the same reason, and leave the
same outcomes, state writes and journal."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import transfers_impl
from jovay.codec.transactions import DynamicFeeTx, SignedTx
from jovay.errors import NonceTooLow
from jovay.params import MIN_BASE_FEE
from jovay.state.overlay import StateOverlay
from jovay.stf import block
from jovay.stf.block import BlockExecution
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


def fill_report(fill: Any, queues: list[list[SignedTx]], limit: int) -> dict[str, Any]:
    """Everything a fill decides and leaves behind, comparable across the twins."""
    leaves = genesis_state()
    execution = BlockExecution(StateOverlay(lambda key: leaves.get(key, 0)), ENV)
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
    }


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
