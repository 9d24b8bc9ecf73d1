"""Derivation: a replica rebuilds the L2 chain from L1 data alone and checks every posted root.

For each committed batch it fetches the calldata, checks it against the committed data hash and
transaction-list commitment, re-executes every block with the deposits the L1 queue holds, and
requires the resulting state root to equal the batch's post-state root. A mismatch halts the replica
(`CriticalError`): it would rather stop than serve state that L1 contradicts.
"""

from __future__ import annotations

import logging
import threading

from hexbytes import HexBytes
from web3 import Web3

from jovay.codec.batch import BatchBlock, decode_batch, tx_list_commitment
from jovay.codec.transactions import DepositTx, decode_transaction, encode_transaction
from jovay.crypto.keccak import keccak256
from jovay.errors import CriticalError, InvalidBatch, InvalidBlock, InvalidTransaction, TemporaryError
from jovay.l1.contracts import L1Deployment
from jovay.l1.watcher import CommittedBatch, L1Watcher
from jovay.state.overlay import StateOverlay
from jovay.stf.block import apply_block
from jovay.stf.transaction import next_l1_message_index
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
        tx = self.w3.eth.get_transaction(HexBytes(batch.l1_tx_hash))
        _, args = self.rollup.decode_function_input(tx["input"])
        data = bytes(args["data"])
        if keccak256(data) != batch.data_hash:
            raise InvalidBatch(f"batch {batch.index}: calldata does not match the committed data hash")
        return data

    def apply_batch(self, batch: CommittedBatch) -> None:
        """Derive every block of one batch and check the batch's commitments and post-state root."""
        if self.chain.head.state_root != batch.pre_state_root:
            raise CriticalError(f"batch {batch.index}: pre-state root differs from the replica's head root")
        blocks = decode_batch(self.batch_data(batch))
        deposits = self._deposits_for(blocks)
        encoded = []
        for block, block_deposits in zip(blocks, deposits, strict=True):
            encoded += [encode_transaction(d) for d in block_deposits] + list(block.raw_txs)
        if tx_list_commitment(encoded) != batch.tx_list_commitment:
            raise InvalidBatch(f"batch {batch.index}: transaction-list commitment does not match its data")
        for block, block_deposits in zip(blocks, deposits, strict=True):
            self._apply_block(block, block_deposits)
        if (
            self.chain.head.number != batch.last_l2_block
            or self.chain.head.state_root != batch.post_state_root
        ):
            raise CriticalError(
                f"batch {batch.index}: derived block {self.chain.head.number} root "
                f"0x{self.chain.head.state_root.hex()}, L1 says block {batch.last_l2_block} root "
                f"0x{batch.post_state_root.hex()}"
            )
        log.info("derived batch %d up to L2 block %d", batch.index, batch.last_l2_block)

    def _deposits_for(self, blocks: list[BatchBlock]) -> list[list[DepositTx]]:
        """Each block's deposits, taken in order from the L1 queue after the replica's position."""
        position = next_l1_message_index(StateOverlay(self.chain.store.leaf))
        out = []
        for block in blocks:
            taken = self.watcher.deposits(position, block.l1_message_count)
            if len(taken) != block.l1_message_count:
                raise TemporaryError(f"L2 block {block.number} needs deposits the watcher has not read yet")
            out.append(taken)
            position += len(taken)
        return out

    def _apply_block(self, block: BatchBlock, deposits: list[DepositTx]) -> None:
        if block.number != self.chain.head.number + 1:
            raise InvalidBatch(f"batch block {block.number} does not follow head {self.chain.head.number}")
        try:
            txs = [
                decode_transaction(raw, expected_chain_id=self.chain.genesis.chain_id)
                for raw in block.raw_txs
            ]
            empty = self.chain.new_execution(block.timestamp)
            execution = apply_block(empty.state, empty.env, deposits, txs)
        except (InvalidTransaction, InvalidBlock) as exc:
            raise InvalidBatch(f"L2 block {block.number}: {exc}") from exc
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
