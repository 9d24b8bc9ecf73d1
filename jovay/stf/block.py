"""apply_block: a block's deposits and transactions over its parent's state, and the sealed header.

The sequencer builds blocks one transaction at a time (dropping invalid ones) with `BlockExecution`;
a replica re-executes a block from L1 data with `apply_block`, where any invalid transaction makes the
whole block invalid. Both end in `seal_block`, so both compute the same header.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from jovay.codec.blocks import (
    EMPTY_BLOOM,
    EMPTY_OMMERS_HASH,
    Header,
    Receipt,
    encode_receipt,
    logs_bloom,
    receipts_root,
    transactions_root,
)
from jovay.codec.transactions import DepositTx, SignedTx, encode_transaction
from jovay.crypto.keccak import keccak256
from jovay.errors import InvalidBlock, InvalidTransaction, NonceTooLow, NotYetValid
from jovay.params import BASE_FEE_CHANGE_DENOMINATOR, ELASTICITY_MULTIPLIER, MIN_BASE_FEE, TX_BASE_GAS
from jovay.state.overlay import StateOverlay
from jovay.state.smt import SparseMerkleTree, root_to_bytes
from jovay.stf.transaction import BlockEnv, TxOutcome, process_deposit, process_transaction

DEPOSIT_TX_TYPE = 0x7E


def next_base_fee(parent_base_fee: int, parent_gas_used: int, parent_gas_limit: int) -> int:
    """EIP-1559's update rule, floored at MIN_BASE_FEE so an idle L2 keeps a sane price."""
    target = parent_gas_limit // ELASTICITY_MULTIPLIER
    if parent_gas_used == target:
        fee = parent_base_fee
    elif parent_gas_used > target:
        delta = max(parent_base_fee * (parent_gas_used - target) // target // BASE_FEE_CHANGE_DENOMINATOR, 1)
        fee = parent_base_fee + delta
    else:
        delta = parent_base_fee * (target - parent_gas_used) // target // BASE_FEE_CHANGE_DENOMINATOR
        fee = parent_base_fee - delta
    return max(fee, MIN_BASE_FEE)


def child_env(parent: Header, timestamp: int, chain_id: int) -> BlockEnv:
    """The environment of the block after `parent`; everything but the timestamp follows from it."""
    base_fee = next_base_fee(parent.base_fee_per_gas, parent.gas_used, parent.gas_limit)
    return BlockEnv(parent.number + 1, timestamp, base_fee, parent.gas_limit, chain_id, parent.coinbase)


@dataclass(slots=True)
class ExecutedTx:
    """A transaction as it landed: its encoding, hash, sender and what executing it did."""

    encoded: bytes
    tx_hash: bytes
    sender: bytes
    tx: SignedTx | DepositTx
    outcome: TxOutcome

    @property
    def tx_type(self) -> int:
        return DEPOSIT_TX_TYPE if isinstance(self.tx, DepositTx) else self.tx.tx.tx_type


@dataclass(slots=True)
class BlockExecution:
    """A block being executed: deposits first, then transactions, each against the running state."""

    state: StateOverlay
    env: BlockEnv
    executed: list[ExecutedTx] = field(default_factory=list)
    gas_used: int = 0
    has_transactions: bool = False  # a signed transaction is in: no deposit may follow

    def add_deposit(self, deposit: DepositTx) -> ExecutedTx:
        if self.has_transactions:
            raise InvalidTransaction("deposits must come before the block's transactions")
        outcome = process_deposit(self.state, deposit)
        encoded = encode_transaction(deposit)
        item = ExecutedTx(encoded, keccak256(encoded), deposit.sender, deposit, outcome)
        self.executed.append(item)
        return item

    def add_transaction(self, signed: SignedTx) -> ExecutedTx:
        """Execute one transaction; on `InvalidTransaction` the state is left as it was."""
        snapshot = self.state.snapshot()
        try:
            outcome = process_transaction(self.state, self.env, signed, self.env.gas_limit - self.gas_used)
        except InvalidTransaction:
            self.state.revert(snapshot)
            raise
        self.gas_used += outcome.gas_used
        self.has_transactions = True
        item = ExecutedTx(signed.raw, signed.hash, signed.sender, signed, outcome)
        self.executed.append(item)
        return item


def apply_block(
    state: StateOverlay, env: BlockEnv, deposits: list[DepositTx], txs: list[SignedTx]
) -> BlockExecution:
    """Re-execute a block strictly: a transaction that may not be in it makes the block invalid."""
    execution = BlockExecution(state, env)
    try:
        for deposit in deposits:
            execution.add_deposit(deposit)
        for index, signed in enumerate(txs):
            try:
                execution.add_transaction(signed)
            except InvalidTransaction as exc:
                raise InvalidBlock(f"block {env.number} transaction {index}: {exc}") from exc
    except InvalidTransaction as exc:
        raise InvalidBlock(f"block {env.number}: {exc}") from exc
    return execution


FillResult = tuple[list[SignedTx], list[tuple[SignedTx, InvalidTransaction]], bool]
"""(included, dropped with why, stopped by a limit rather than by running out of transactions)."""


def pure_fill_from_queues(execution: BlockExecution, queues: list[list[SignedTx]], limit: int) -> FillResult:
    """Add pooled transactions, highest tip first and nonce order per sender (`queues`: each sender's
    transactions in nonce order), until `limit` transactions or the gas limit; the sequencer's block
    building. A transaction that is not valid yet (a nonce gap, a fee below the base fee, no gas left
    for it) waits for a later block with the rest of its sender's; an invalid one is dropped, and its
    sender's later ones wait too unless its nonce was simply used already.

    The pure twin of jovay/_native/_transfers.pyx's `fill_from_queues` (same signature and results)."""
    base_fee = execution.env.base_fee
    heap = [(-_tip(queue[0], base_fee), i, 0) for i, queue in enumerate(queues)]
    heapq.heapify(heap)
    included: list[SignedTx] = []
    dropped: list[tuple[SignedTx, InvalidTransaction]] = []
    gas_limit = execution.env.gas_limit
    while heap and len(included) < limit and gas_limit - execution.gas_used >= TX_BASE_GAS:
        _, i, pos = heapq.heappop(heap)
        signed = queues[i][pos]
        try:
            execution.add_transaction(signed)
        except NotYetValid:
            continue
        except InvalidTransaction as exc:
            dropped.append((signed, exc))
            if not isinstance(exc, NonceTooLow):
                continue
        else:
            included.append(signed)
        if pos + 1 < len(queues[i]):
            heapq.heappush(heap, (-_tip(queues[i][pos + 1], base_fee), i, pos + 1))
    return included, dropped, bool(heap)


def _tip(signed: SignedTx, base_fee: int) -> int:
    tx = signed.tx
    return min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)


def _select_fill() -> Callable[[BlockExecution, list[list[SignedTx]], int], FillResult]:
    """The native twin (jovay/_native/_transfers.pyx) when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import transfers_impl

    native = transfers_impl()
    return pure_fill_from_queues if native is None else cast(Callable, native.fill_from_queues)


fill_from_queues = _select_fill()


def pure_build_receipts(executed: list[ExecutedTx]) -> list[Receipt]:
    """Each transaction's receipt: cumulative gas, logs and their bloom (the pure twin of
    jovay/_native/_transfers.pyx's `build_receipts`, which hashes the blooms in C)."""
    receipts, cumulative = [], 0
    for item in executed:
        outcome = item.outcome
        cumulative += outcome.gas_used
        logs = outcome.logs
        bloom = logs_bloom(logs) if logs else EMPTY_BLOOM  # (most transfers log nothing)
        receipts.append(Receipt(item.tx_type, outcome.status, cumulative, logs, bloom))
    return receipts


def seal_block(
    parent_hash: bytes, execution: BlockExecution, tree: SparseMerkleTree
) -> tuple[Header, list[Receipt]]:
    """Commit the block's writes to the tree and build its header."""
    tree.update_many(execution.state.writes())
    receipts = build_receipts(execution.executed)
    env = execution.env
    header = Header(
        parent_hash=parent_hash,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=env.coinbase,
        state_root=root_to_bytes(tree.root),
        transactions_root=transactions_root([item.encoded for item in execution.executed]),
        receipts_root=receipts_root([encode_receipt(r) for r in receipts]),
        logs_bloom=combined_bloom(receipts),
        difficulty=0,
        number=env.number,
        gas_limit=env.gas_limit,
        gas_used=execution.gas_used,
        timestamp=env.timestamp,
        extra_data=b"",
        mix_hash=bytes(32),
        nonce=bytes(8),
        base_fee_per_gas=env.base_fee,
    )
    return header, receipts


def pure_combined_bloom(receipts: list[Receipt]) -> bytes:
    """The header's logsBloom: the OR of the receipts' blooms (the pure twin of
    jovay/_native/_transfers.pyx's `combined_bloom`)."""
    bloom = 0
    for receipt in receipts:
        bloom |= int.from_bytes(receipt.bloom, "big")
    return bloom.to_bytes(256, "big")


def _select_receipts() -> tuple[
    Callable[[list[ExecutedTx]], list[Receipt]], Callable[[list[Receipt]], bytes]
]:
    """The native twins (jovay/_native/_transfers.pyx) when they are built and JOVAY_PURE=1 is not set."""
    from jovay._native import transfers_impl

    native = transfers_impl()
    if native is None:
        return pure_build_receipts, pure_combined_bloom
    return cast(Callable, native.build_receipts), cast(Callable, native.combined_bloom)


build_receipts, combined_bloom = _select_receipts()


def per_transaction_roots(
    tree: SparseMerkleTree, state: StateOverlay, env: BlockEnv, deposits: list[DepositTx], txs: list[SignedTx]
) -> list[int]:
    """The state root after every deposit and transaction of a block (fraud-proof bisection needs them).

    `tree` must be at the parent's root and `state` must read the parent's state; both are advanced.
    """
    execution = BlockExecution(state, env)
    roots = []
    items: list[DepositTx | SignedTx] = [*deposits, *txs]
    for item in items:
        snapshot = state.snapshot()
        if isinstance(item, DepositTx):
            execution.add_deposit(item)
        else:
            execution.add_transaction(item)
        tree.update_many(state.writes_since(snapshot))
        roots.append(tree.root)
    return roots
