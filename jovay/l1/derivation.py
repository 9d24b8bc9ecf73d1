"""Derivation: a replica rebuilds the L2 chain from L1 data alone.

For each committed batch it fetches the calldata, checks it against the committed data hash and item
commitment, and re-executes every block in the environment the batch gives it, with the deposits the L1
queue holds. The result is defined for any batch data (docs/architecture.md, "Fraud proofs"): an item
that may not execute (a badly signed transaction, a wrong nonce, a deposit out of order...) is skipped,
exactly as the one-step proof on L1 and prover/fault decide it. The state roots in outputs are claims
that the challenger disputes; the replica serves what the data says. Data that does not match its L1
commitments halts the replica (`InvalidBatch`): it would rather stop than serve state L1 contradicts.
"""

from __future__ import annotations

import logging
import threading

from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract

from jovay.codec.batch import BatchBlock, batch_items, decode_batch, items_commitment
from jovay.codec.transactions import DepositTx, SignedTx, decode_transaction
from jovay.crypto.keccak import keccak256
from jovay.errors import CriticalError, InvalidBatch, InvalidTransaction, TemporaryError
from jovay.l1.contracts import L1Deployment
from jovay.l1.watcher import CommittedBatch, L1Watcher
from jovay.state.overlay import StateOverlay
from jovay.stf.block import BlockExecution, ExecutedTx
from jovay.stf.transaction import BlockEnv, process_transaction
from jovay.storage.chain import Chain

log = logging.getLogger(__name__)


class Deriver:
    def __init__(self, chain: Chain, watcher: L1Watcher, w3: Web3, deployment: L1Deployment) -> None:
        self.chain = chain
        self.watcher = watcher
        self.w3 = w3
        self.rollup = deployment.rollup(w3)
        self._stop = threading.Event()
        self.halted: str | None = None

    def next_batch(self) -> CommittedBatch | None:
        head = self.chain.head.number
        for batch in self.watcher.batches:
            if batch.last_l2_block > head:
                return batch
        return None

    def batch_data(self, batch: CommittedBatch) -> bytes:
        return fetch_batch_data(self.w3, self.rollup, batch)

    def apply_batch(self, batch: CommittedBatch) -> None:
        """Derive every block of one batch after checking the batch's item commitment."""
        blocks = decode_batch(self.batch_data(batch))
        deposits = batch_deposits(self.watcher, batch, blocks)
        items = batch_items(blocks, deposits)
        if items_commitment(items) != batch.tx_list_commitment or len(items) != batch.item_count:
            raise InvalidBatch(f"batch {batch.index}: item commitment does not match its data")
        for block, block_deposits in zip(blocks, deposits, strict=True):
            self._apply_block(block, block_deposits)
        if self.chain.head.number != batch.last_l2_block:
            raise InvalidBatch(
                f"batch {batch.index}: ends at L2 block {self.chain.head.number}, "
                f"L1 says {batch.last_l2_block}"
            )
        log.info("derived batch %d up to L2 block %d", batch.index, batch.last_l2_block)

    def _apply_block(self, block: BatchBlock, deposits: list[DepositTx]) -> None:
        if block.number != self.chain.head.number + 1:
            raise InvalidBatch(f"batch block {block.number} does not follow head {self.chain.head.number}")
        genesis = self.chain.genesis
        env = BlockEnv(
            block.number,
            block.timestamp,
            block.base_fee,
            genesis.gas_limit,
            genesis.chain_id,
            self.chain.head.coinbase,
        )
        execution = BlockExecution(StateOverlay(self.chain.store.leaf), env)
        for deposit in deposits:
            try:
                execution.add_deposit(deposit)
            except InvalidTransaction as exc:
                log.warning("L2 block %d: deposit %d skipped: %s", block.number, deposit.queue_index, exc)
        for raw in block.raw_txs:
            try:
                add_transaction_or_skip(
                    execution, decode_transaction(raw, expected_chain_id=genesis.chain_id)
                )
            except InvalidTransaction as exc:
                log.warning("L2 block %d: transaction skipped: %s", block.number, exc)
        self.chain.seal(execution)

    def step(self) -> bool:
        batch = self.next_batch()
        if batch is None:
            return False
        self.apply_batch(batch)
        return True

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.step():
                    pass
            except TemporaryError as exc:
                log.debug("derivation waits: %s", exc)
            except (CriticalError, InvalidBatch) as exc:
                self.halted = str(exc)
                log.critical("derivation halted: %s", exc)
                return
            except Exception:
                log.exception("derivation failed; retrying")
            self._stop.wait(0.2)

    def start(self) -> None:
        threading.Thread(target=self.run, name="derivation", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()


def add_transaction_or_skip(execution: BlockExecution, signed: SignedTx) -> None:
    """Execute one transaction as the fault proof does (prover/fault/execution.py): against the block's
    gas limit alone, not what the block used before it; InvalidTransaction leaves the state unchanged."""
    state = execution.state
    snapshot = state.snapshot()
    try:
        outcome = process_transaction(state, execution.env, signed, execution.env.gas_limit)
    except InvalidTransaction:
        state.revert(snapshot)
        raise
    execution.gas_used += outcome.gas_used
    execution.executed.append(ExecutedTx(signed.raw, signed.hash, signed.sender, signed, outcome))


def fetch_batch_data(w3: Web3, rollup: Contract, batch: CommittedBatch) -> bytes:
    """The batch's data from its commit transaction's calldata, checked against the committed hash."""
    tx = w3.eth.get_transaction(HexBytes(batch.l1_tx_hash))
    _, args = rollup.decode_function_input(tx["input"])
    data = bytes(args["data"])
    if keccak256(data) != batch.data_hash:
        raise InvalidBatch(f"batch {batch.index}: calldata does not match the committed data hash")
    return data


def batch_deposits(
    watcher: L1Watcher, batch: CommittedBatch, blocks: list[BatchBlock]
) -> list[list[DepositTx]]:
    """Each block's deposits, in order from the L1 queue where the previous batch left it."""
    position = watcher.batches[batch.index - 1].l1_message_queue_position if batch.index else 0
    out = []
    for block in blocks:
        taken = watcher.deposits(position, block.l1_message_count)
        if len(taken) != block.l1_message_count:
            raise TemporaryError(f"L2 block {block.number} needs deposits the watcher has not read yet")
        out.append(taken)
        position += len(taken)
    return out
