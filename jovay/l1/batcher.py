"""The batcher: packs sealed L2 blocks into zstd batches and commits them to the L1 Rollup contract.

It is its own process: it reads blocks from the node over JSON-RPC (`debug_getRawBlock`) and learns
where to resume from the Rollup contract itself, so a restarted batcher neither skips nor repeats.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from web3 import Web3

from jovay.codec.batch import BatchBlock, batch_items, encode_batch, items_commitment
from jovay.codec.blocks import Header, decode_block
from jovay.codec.transactions import DepositTx, decode_deposit
from jovay.errors import TemporaryError
from jovay.l1.contracts import L1Deployment
from jovay.l1.txmanager import L1TxManager

log = logging.getLogger(__name__)

DEPOSIT_TYPE_BYTE = 0x7E
MAX_BATCH_RAW_BYTES = 1024 * 1024  # before compression: bounds one commit's memory and L1 gas
CALLDATA_FLOOR_GAS_PER_BYTE = 40  # EIP-7623 (Prague): 10 gas per token, 4 tokens per non-zero byte
COMMIT_EXECUTION_GAS = 1_000_000  # commitBatch besides its calldata: storage, hashing, memory


def batch_byte_budget(l1_block_gas_limit: int, gas_margin: float) -> int:
    """The most transaction bytes one batch may carry so that its commit, priced at the calldata floor
    (compressed data is mostly non-zero bytes and zstd never shrinks signatures much: the raw size
    bounds it) and padded by the transaction manager's gas margin, fits in one L1 block. A bigger
    commit is refused by L1 ("intrinsic gas too high") and would be retried forever."""
    usable = l1_block_gas_limit / (1 + gas_margin) - COMMIT_EXECUTION_GAS
    return max(0, min(MAX_BATCH_RAW_BYTES, int(usable // CALLDATA_FLOOR_GAS_PER_BYTE)))


@dataclass(frozen=True, slots=True)
class BatcherConfig:
    interval_s: float = 2.0
    max_blocks_per_batch: int = 2_000


class L2Client:
    """The few node RPC calls the batcher needs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(timeout=30)

    def call(self, method: str, params: list) -> object:
        response = self.http.post(
            self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        )
        body = response.json()
        if "error" in body:
            raise TemporaryError(f"{method}: {body['error']}")
        return body["result"]

    def head(self) -> int:
        return int(str(self.call("eth_blockNumber", [])), 16)

    def block(self, number: int) -> tuple[Header, list[bytes]]:
        raw = bytes.fromhex(str(self.call("debug_getRawBlock", [hex(number)]))[2:])
        return decode_block(raw)


def batch_block(header: Header, raw_txs: list[bytes]) -> BatchBlock:
    """A block as batch data: its environment, its L2 transactions, and how many deposits it took."""
    deposits = sum(1 for raw in raw_txs if raw[0] == DEPOSIT_TYPE_BYTE)
    l2_txs = [raw for raw in raw_txs if raw[0] != DEPOSIT_TYPE_BYTE]
    return BatchBlock(header.number, header.timestamp, header.base_fee_per_gas, deposits, l2_txs)


def block_deposits(raw_txs: list[bytes]) -> list[DepositTx]:
    return [decode_deposit(raw) for raw in raw_txs if raw[0] == DEPOSIT_TYPE_BYTE]


BatchTamper = Callable[[list[BatchBlock]], list[BatchBlock]]
"""Devnet fault injection only (prover/fault/faulty.py): rewrites a batch's blocks before posting."""


class Batcher:
    def __init__(
        self,
        w3: Web3,
        deployment: L1Deployment,
        txm: L1TxManager,
        l2: L2Client,
        config: BatcherConfig | None = None,
        tamper: BatchTamper | None = None,
    ) -> None:
        self.rollup = deployment.rollup(w3)
        self.tamper = tamper
        self.txm = txm
        self.l2 = l2
        self.config = config or BatcherConfig()
        self.backlog = False  # whether the last batch stopped short of the L2 head it saw
        l1_gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
        self.max_batch_bytes = batch_byte_budget(l1_gas_limit, txm.gas_margin)
        self._last_committed: Header | None = None  # the last block of the batch this batcher committed
        self._stop = threading.Event()

    def submit_next(self) -> int | None:
        """Commit the next batch of sealed blocks, if any; returns the batch index committed."""
        first = int(self.rollup.functions.lastCommittedL2Block().call()) + 1
        head = self.l2.head()
        last = min(head, first + self.config.max_blocks_per_batch - 1)
        if last < first:
            self.backlog = False
            return None
        batch_index = int(self.rollup.functions.nextBatchIndex().call())
        queue_position = int(self.rollup.functions.lastL1MessageQueuePosition().call())
        parent_header = self._parent_header(first)
        blocks, deposits, header = self._collect(first, last)
        if self.tamper is not None:
            blocks = self.tamper(blocks)
        items = batch_items(blocks, deposits)
        data = encode_batch(blocks)
        queue_position += sum(b.l1_message_count for b in blocks)
        call = self.rollup.functions.commitBatch(
            batch_index,
            data,
            items_commitment(items),
            len(items),
            parent_header.state_root,
            header.state_root,
            header.number,
            queue_position,
        )
        # As bytes: web3 and eth-account check a hex string with a regex over its whole length (~1 MB).
        calldata = bytes.fromhex(call._encode_transaction_data().removeprefix("0x"))
        self.txm.send({"to": self.rollup.address, "data": calldata})
        self._last_committed = header
        self.backlog = header.number < head  # cut short by size or block count: more is waiting
        log.info(
            "batch %d: L2 blocks %d..%d, %d items, %d bytes",
            batch_index,
            first,
            header.number,
            len(items),
            len(data),
        )
        return batch_index

    def _parent_header(self, first: int) -> Header:
        """The header of block `first - 1`: the last block this batcher committed when it is that one
        (no need to fetch and decode the whole block again), else the node's."""
        last = self._last_committed
        if last is not None and last.number == first - 1:
            return last
        return self.l2.block(first - 1)[0]

    def _collect(self, first: int, last: int) -> tuple[list[BatchBlock], list[list[DepositTx]], Header]:
        """Blocks first..last (with their deposits), cut short before their transactions pass the
        batch's byte budget (a first block over it alone still goes, alone, and L1 says why not)."""
        header, raw_txs = self.l2.block(first)
        blocks, deposits = [batch_block(header, raw_txs)], [block_deposits(raw_txs)]
        size = sum(map(len, raw_txs))
        if size > self.max_batch_bytes:
            log.error(
                "L2 block %d alone carries %d transaction bytes, over the %d an L1 commit can take",
                first,
                size,
                self.max_batch_bytes,
            )
        for number in range(first + 1, last + 1):
            next_header, raw_txs = self.l2.block(number)
            size += sum(map(len, raw_txs))
            if size > self.max_batch_bytes:
                break
            header = next_header
            blocks.append(batch_block(header, raw_txs))
            deposits.append(block_deposits(raw_txs))
        return blocks, deposits, header

    def submit_due(self) -> int:
        """Commit what is sealed now: one batch, more only while batches are cut short (a backlog).
        Blocks sealed while a commit was mined wait for the next interval, so a chain that seals
        faster than L1 mines does not turn the batcher into a loop of one-block batches."""
        committed = 0
        while not self._stop.is_set() and self.submit_next() is not None:
            committed += 1
            if not self.backlog:
                break
        return committed

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.submit_due()
            except TemporaryError as exc:
                log.warning("batcher: %s", exc)
            except Exception:
                log.exception("batcher failed; retrying")
            self._stop.wait(self.config.interval_s)

    def stop(self) -> None:
        self._stop.set()
