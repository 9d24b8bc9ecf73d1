"""Follows the L1 contracts: the deposit queue, committed batches and finalized outputs.

One poller serves both node roles: the sequencer takes deposits from it and learns which of its blocks
are safe (in a batch on L1); a replica takes batches and deposits from it to derive the chain.
Reorgs are out of scope on the devnet (anvil does not reorg); logs are read up to the L1 head.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from web3 import Web3

from jovay.codec.transactions import DepositTx
from jovay.errors import TemporaryError
from jovay.l1.contracts import L1Deployment
from jovay.l1.messages import rolling_hash

log = logging.getLogger(__name__)

MAX_LOG_RANGE = 2_000


@dataclass(frozen=True, slots=True)
class CommittedBatch:
    """A batch as committed. `tx_list_commitment` is the item commitment over `item_count` items; the
    state roots are the batcher's informational view (outputs are proposed and disputed separately)."""

    index: int
    data_hash: bytes
    tx_list_commitment: bytes
    pre_state_root: bytes
    post_state_root: bytes
    last_l2_block: int
    l1_message_queue_position: int
    l1_block: int
    l1_tx_hash: bytes
    item_count: int = 0


class L1Watcher:
    """Polls L1 logs into in-memory lists; thread-safe readers."""

    def __init__(self, w3: Web3, deployment: L1Deployment, poll_interval_s: float = 0.5) -> None:
        self.w3 = w3
        self.bridge = deployment.bridge(w3)
        self.rollup = deployment.rollup(w3)
        self.poll_interval_s = poll_interval_s
        self._next_block = deployment.deploy_block
        self._lock = threading.Lock()
        self._deposits: list[DepositTx] = []
        self._rolling_hashes: list[bytes] = []
        self.batches: list[CommittedBatch] = []
        self.l1_head = 0
        self.l1_finalized = 0
        self.finalized_outputs = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- reading ---------------------------------------------------------------------------------
    def deposits(self, next_index: int, max_count: int) -> list[DepositTx]:
        """Known deposits from queue index `next_index` on, in order."""
        with self._lock:
            return self._deposits[next_index : next_index + max_count]

    def deposit_count(self) -> int:
        return len(self._deposits)

    def safe_block(self) -> int:
        """The last L2 block inside a batch committed on L1."""
        with self._lock:
            return self.batches[-1].last_l2_block if self.batches else 0

    def finalized_block(self) -> int:
        """The last L2 block of the last batch whose output finalized on L1 (its challenge window passed
        without a lost game)."""
        with self._lock:
            count = min(self.finalized_outputs, len(self.batches))
            return self.batches[count - 1].last_l2_block if count else 0

    # --- polling ---------------------------------------------------------------------------------
    def poll(self) -> bool:
        """Read new logs up to the L1 head; True when anything new arrived. An unchanged head costs one
        request: nothing on L1 (logs, finalized outputs) changes without a new block."""
        try:
            head = self.w3.eth.block_number
            if head == self.l1_head and self._next_block > head:
                return False
            finalized = self.w3.eth.get_block("finalized")["number"]
            finalized_outputs = int(self.rollup.functions.finalizedOutputCount().call())
        except Exception as exc:  # any transport error is worth a retry
            raise TemporaryError(f"L1 unreachable: {exc}") from exc
        self.l1_head, self.l1_finalized = head, finalized
        self.finalized_outputs = finalized_outputs
        changed = False
        while self._next_block <= head:
            to_block = min(head, self._next_block + MAX_LOG_RANGE - 1)
            changed |= self._read_range(self._next_block, to_block)
            self._next_block = to_block + 1
        return changed

    def _read_range(self, from_block: int, to_block: int) -> bool:
        deposits = self.bridge.events.DepositQueued.get_logs(from_block=from_block, to_block=to_block)
        batches = self.rollup.events.BatchCommitted.get_logs(from_block=from_block, to_block=to_block)
        with self._lock:
            for event in deposits:
                self._add_deposit(event)
            for event in batches:
                self._add_batch(event)
        return bool(deposits or batches)

    def _add_deposit(self, event: dict) -> None:
        args = event["args"]
        index = int(args["queueIndex"])
        if index != len(self._deposits):
            raise TemporaryError(f"deposit queue gap: got index {index}, expected {len(self._deposits)}")
        sender = bytes.fromhex(args["from"][2:])
        to = bytes.fromhex(args["to"][2:])
        value = int(args["value"])
        previous = self._rolling_hashes[-1] if self._rolling_hashes else bytes(32)
        expected = rolling_hash(previous, index, sender, to, value)
        if expected != bytes(args["rollingHash"]):
            raise TemporaryError(f"deposit {index}: rolling hash mismatch")
        self._deposits.append(DepositTx(index, sender, to, value))
        self._rolling_hashes.append(expected)

    def _add_batch(self, event: dict) -> None:
        args = event["args"]
        self.batches.append(
            CommittedBatch(
                index=int(args["batchIndex"]),
                data_hash=bytes(args["dataHash"]),
                tx_list_commitment=bytes(args["txListCommitment"]),
                pre_state_root=bytes(args["preStateRoot"]),
                post_state_root=bytes(args["postStateRoot"]),
                last_l2_block=int(args["lastL2Block"]),
                l1_message_queue_position=int(args["l1MessageQueuePosition"]),
                l1_block=int(event["blockNumber"]),
                l1_tx_hash=bytes(event["transactionHash"]),
                item_count=int(args["itemCount"]),
            )
        )

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except TemporaryError as exc:
                log.warning("L1 watcher: %s", exc)
            except Exception:
                log.exception("L1 watcher failed to poll")
            self._stop.wait(self.poll_interval_s)

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="l1-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
