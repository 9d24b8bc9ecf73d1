"""Logs, polled filters, by-index block lookups and the pool's view: geth's eth_ and txpool_ methods.

Filters are fed by the EventHub on the publisher's thread (sequencer or deriver), which only appends
a block reference or a transaction hash to each live filter's bounded buffer; log filters read and
match the buffered blocks' logs from the store when they are polled, on the RPC thread.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from eth_utils import to_checksum_address

from jovay.codec.blocks import block_hash
from jovay.codec.transactions import SignedTx
from jovay.crypto.keccak import keccak256
from jovay.rpc import params as p
from jovay.rpc.errors import INVALID_PARAMS, SERVER_ERROR, RpcError
from jovay.rpc.events import BlockEvent, EventHub
from jovay.rpc.format import decode_stored_tx, format_log, format_transaction
from jovay.rpc.logfilter import LogFilter, LogQuery, parse_log_query
from jovay.rpc.methods import EthApi
from jovay.sequencer.sequencer import Sequencer
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import get_account
from jovay.storage.chain import Chain

MAX_LOG_BLOCK_RANGE = 10_000  # blocks one eth_getLogs / eth_getFilterLogs may span
MAX_LOG_RESULTS = 10_000  # logs one eth_getLogs may return; also what one log-filter poll keeps
MAX_FILTER_CRITERIA = 1_000  # addresses, or topics in one position (geth's limit)
MAX_FILTERS = 1_000  # live filters, all kinds together
MAX_FILTER_ITEMS = 10_000  # buffered blocks or hashes per filter; the oldest go first (as Erigon)
FILTER_TIMEOUT_S = 300.0  # geth's deadline: a filter not polled for this long is removed
LIMIT_EXCEEDED = -32005  # EIP-1474 "limit exceeded", the code Infura gives with this message
TAGS = ("latest", "pending", "earliest", "safe", "finalized")


@dataclass(frozen=True, slots=True)
class LogsLimits:
    max_block_range: int = MAX_LOG_BLOCK_RANGE
    max_results: int = MAX_LOG_RESULTS
    max_filters: int = MAX_FILTERS
    max_filter_items: int = MAX_FILTER_ITEMS
    filter_timeout_s: float = FILTER_TIMEOUT_S


class FilterKind(Enum):
    LOGS = "logs"
    BLOCKS = "blocks"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class BlockRef:
    """What a filter keeps of a new block: enough to skip it by bloom and to read it back."""

    number: int
    hash: bytes
    bloom: bytes


@dataclass(slots=True)
class Filter:
    kind: FilterKind
    deadline: float
    blocks: deque[BlockRef]
    tx_hashes: deque[bytes]
    query: LogQuery | None = None
    low: int = 0  # block bounds of a log filter, from explicit fromBlock / toBlock numbers
    high: float = float("inf")
    full_tx: bool = False


@dataclass(slots=True)
class PoolSplit:
    """The pool by sender, split as geth's txpool: executable now in nonce sequence, or waiting."""

    pending: dict[bytes, list[SignedTx]] = field(default_factory=dict)
    queued: dict[bytes, list[SignedTx]] = field(default_factory=dict)


def new_filter_id() -> str:
    """A random 128-bit id in geth's rpc.NewID form: 0x-prefixed hex, leading zeros trimmed."""
    return "0x" + (secrets.token_bytes(16).hex().lstrip("0") or "0")


def filter_not_found() -> RpcError:
    return RpcError(SERVER_ERROR, "filter not found")


class LogsApi:
    def __init__(
        self,
        chain: Chain,
        sequencer: Sequencer | None,
        hub: EventHub,
        eth: EthApi,
        limits: LogsLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.chain = chain
        self.sequencer = sequencer
        self.eth = eth
        self.limits = limits or LogsLimits()
        self.clock = clock
        self._lock = threading.Lock()
        self._filters: dict[str, Filter] = {}
        self._unsubscribe = [hub.subscribe_blocks(self._on_block), hub.subscribe_pending(self._on_pending)]

    def methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        names = [n for n in dir(self) if n.startswith(("eth_", "txpool_"))]
        return {name: getattr(self, name) for name in names}

    def close(self) -> None:
        """Stop listening to the hub (the filters stop receiving anything)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()

    # --- eth_getLogs -----------------------------------------------------------------------------
    def eth_getLogs(self, params: list[Any]) -> list[dict[str, Any]]:
        return self._query_logs(self._parse_query(p.param(params, 0)))

    def _parse_query(self, value: Any) -> LogQuery:
        query = parse_log_query(value, 0)
        positions = [query.filter.addresses, *query.filter.topics]
        if any(wanted is not None and len(wanted) > MAX_FILTER_CRITERIA for wanted in positions):
            raise RpcError(INVALID_PARAMS, "exceed max addresses or topics per search position")
        return query

    def _query_logs(self, query: LogQuery) -> list[dict[str, Any]]:
        if query.block_hash is not None:
            number = self.chain.store.number_of_hash(query.block_hash)
            if number is None:
                raise RpcError(SERVER_ERROR, "unknown block")
            return self._block_logs(number, query.filter)
        start, end = self._block_range(query)
        out: list[dict[str, Any]] = []
        for number in range(start, end + 1):
            out.extend(self._block_logs(number, query.filter))
            if len(out) > self.limits.max_results:
                raise RpcError(LIMIT_EXCEEDED, f"query returned more than {self.limits.max_results} results")
        return out

    def _block_range(self, query: LogQuery) -> tuple[int, int]:
        """Resolved [start, end]; explicit numbers past the head are clamped to it, as geth reads them."""
        explicit_from, explicit_to = _explicit_number(query.from_block), _explicit_number(query.to_block)
        if explicit_from is not None and explicit_to is not None and explicit_from > explicit_to:
            raise RpcError(INVALID_PARAMS, "invalid block range params")
        head = self.chain.head.number
        start = explicit_from if explicit_from is not None else self.eth.block_number_of(query.from_block)
        end = min(explicit_to if explicit_to is not None else self.eth.block_number_of(query.to_block), head)
        if end - start + 1 > self.limits.max_block_range:
            raise RpcError(SERVER_ERROR, f"exceed maximum block range: {self.limits.max_block_range}")
        return start, end

    def _block_logs(self, number: int, wanted: LogFilter) -> list[dict[str, Any]]:
        """The logs of block `number` that match, with block-wide log indexes; skipped by bloom."""
        found = self.chain.block(number)
        if found is None or not wanted.may_match_bloom(found[0].logs_bloom):
            return []
        header, raw_txs = found
        hash_ = block_hash(header)
        out: list[dict[str, Any]] = []
        log_index = 0
        for tx_index, stored in enumerate(self.chain.receipts(number)):
            for log in stored.receipt.logs:
                if wanted.matches(log):
                    tx_hash = keccak256(raw_txs[tx_index])
                    out.append(
                        format_log(
                            log,
                            block_hash_=hash_,
                            number=number,
                            tx_hash=tx_hash,
                            tx_index=tx_index,
                            log_index=log_index,
                        )
                    )
                log_index += 1
        return out

    # --- filters: feeding (publisher's thread) ----------------------------------------------------
    def _on_block(self, event: BlockEvent) -> None:
        ref = BlockRef(event.header.number, event.hash, event.header.logs_bloom)
        with self._lock:
            self._expire_locked()
            for flt in self._filters.values():
                if flt.kind is not FilterKind.PENDING:
                    flt.blocks.append(ref)

    def _on_pending(self, tx_hash: bytes) -> None:
        with self._lock:
            for flt in self._filters.values():
                if flt.kind is FilterKind.PENDING:
                    flt.tx_hashes.append(tx_hash)

    def _expire_locked(self) -> None:
        now = self.clock()
        for filter_id in [i for i, f in self._filters.items() if f.deadline <= now]:
            del self._filters[filter_id]

    # --- filters: methods ------------------------------------------------------------------------
    def _install(self, flt: Filter) -> str:
        with self._lock:
            self._expire_locked()
            if len(self._filters) >= self.limits.max_filters:
                raise RpcError(SERVER_ERROR, "too many filters")
            filter_id = new_filter_id()
            while filter_id in self._filters:
                filter_id = new_filter_id()
            self._filters[filter_id] = flt
        return filter_id

    def _new(self, kind: FilterKind) -> Filter:
        size = self.limits.max_filter_items
        deadline = self.clock() + self.limits.filter_timeout_s
        return Filter(kind, deadline, deque(maxlen=size), deque(maxlen=size))

    def eth_newFilter(self, params: list[Any]) -> str:
        query = self._parse_query(p.param(params, 0))
        low, high = _explicit_number(query.from_block), _explicit_number(query.to_block)
        if low is not None and high is not None and low > high:
            raise RpcError(INVALID_PARAMS, "invalid block range params")
        flt = self._new(FilterKind.LOGS)
        flt.query, flt.low, flt.high = query, low or 0, float("inf") if high is None else high
        return self._install(flt)

    def eth_newBlockFilter(self, params: list[Any]) -> str:
        return self._install(self._new(FilterKind.BLOCKS))

    def eth_newPendingTransactionFilter(self, params: list[Any]) -> str:
        full = p.param(params, 0, None)
        flt = self._new(FilterKind.PENDING)
        flt.full_tx = full is not None and p.boolean(full, 0)
        return self._install(flt)

    def eth_uninstallFilter(self, params: list[Any]) -> bool:
        filter_id = _filter_id(params)
        with self._lock:
            return self._filters.pop(filter_id, None) is not None

    def _take(self, filter_id: str) -> tuple[Filter, list[BlockRef], list[bytes]]:
        """A live filter's buffered items, emptied, and its deadline pushed back (a poll)."""
        with self._lock:
            self._expire_locked()
            flt = self._filters.get(filter_id)
            if flt is None:
                raise filter_not_found()
            flt.deadline = self.clock() + self.limits.filter_timeout_s
            blocks, hashes = list(flt.blocks), list(flt.tx_hashes)
            flt.blocks.clear()
            flt.tx_hashes.clear()
        return flt, blocks, hashes

    def eth_getFilterChanges(self, params: list[Any]) -> list[Any]:
        flt, blocks, hashes = self._take(_filter_id(params))
        if flt.kind is FilterKind.BLOCKS:
            return [p.hex_bytes(ref.hash) for ref in blocks]
        if flt.kind is FilterKind.PENDING:
            return self._pending_changes(hashes, flt.full_tx)
        return self._new_logs(flt, blocks)

    def _new_logs(self, flt: Filter, blocks: Iterable[BlockRef]) -> list[dict[str, Any]]:
        """Matching logs of the blocks sealed since the last poll; at most the newest `max_results`."""
        assert flt.query is not None
        query = flt.query
        out: list[dict[str, Any]] = []
        for ref in blocks:
            if query.block_hash not in (None, ref.hash) or not flt.low <= ref.number <= flt.high:
                continue
            if query.filter.may_match_bloom(ref.bloom):
                out.extend(self._block_logs(ref.number, query.filter))
        return out[-self.limits.max_results :]

    def _pending_changes(self, hashes: list[bytes], full_tx: bool) -> list[Any]:
        if not full_tx:
            return [p.hex_bytes(h) for h in hashes]
        found = (self.eth.eth_getTransactionByHash([p.hex_bytes(h)]) for h in hashes)
        return [tx for tx in found if tx is not None]

    def eth_getFilterLogs(self, params: list[Any]) -> list[dict[str, Any]]:
        filter_id = _filter_id(params)
        with self._lock:
            self._expire_locked()
            flt = self._filters.get(filter_id)
        if flt is None or flt.query is None:
            raise filter_not_found()
        return self._query_logs(flt.query)

    # --- blocks by number or hash, transactions by index ---------------------------------------
    def _block_number(self, value: Any, index: int = 0) -> int | None:
        """A block tag, number, hash or EIP-1898 object as a stored block number; None when unknown."""
        if isinstance(value, str) and len(value) == 66:
            return self.chain.store.number_of_hash(p.hash32(value, index))
        try:
            return self.eth.block_number_of(value, index)
        except RpcError as exc:
            if exc.code == SERVER_ERROR:
                return None
            raise

    def _by_hash(self, params: list[Any]) -> int | None:
        return self.chain.store.number_of_hash(p.hash32(p.param(params, 0), 0))

    def eth_getBlockReceipts(self, params: list[Any]) -> list[dict[str, Any]] | None:
        number = self._block_number(p.param(params, 0))
        block = None if number is None else self.eth.load_block(number)
        if block is None:
            return None
        out, first_log = [], 0
        for index, stored in enumerate(block.receipts):
            out.append(block.receipt_json(index, first_log))
            first_log += len(stored.receipt.logs)
        return out

    def _tx_count(self, number: int | None) -> str | None:
        found = None if number is None else self.chain.block(number)
        return None if found is None else p.hex_int(len(found[1]))

    def eth_getBlockTransactionCountByNumber(self, params: list[Any]) -> str | None:
        return self._tx_count(self._block_number(p.param(params, 0)))

    def eth_getBlockTransactionCountByHash(self, params: list[Any]) -> str | None:
        return self._tx_count(self._by_hash(params))

    def _tx_at(self, number: int | None, index_param: Any) -> dict[str, Any] | None:
        index = p.quantity(index_param, 1)
        found = None if number is None else self.chain.block(number)
        if found is None or index >= len(found[1]):
            return None
        header, raw_txs = found
        tx = decode_stored_tx(raw_txs[index], self.chain.genesis.chain_id)
        return format_transaction(
            tx,
            keccak256(raw_txs[index]),
            block_hash_=block_hash(header),
            number=header.number,
            index=index,
            base_fee=header.base_fee_per_gas,
        )

    def eth_getTransactionByBlockNumberAndIndex(self, params: list[Any]) -> dict[str, Any] | None:
        return self._tx_at(self._block_number(p.param(params, 0)), p.param(params, 1))

    def eth_getTransactionByBlockHashAndIndex(self, params: list[Any]) -> dict[str, Any] | None:
        return self._tx_at(self._by_hash(params), p.param(params, 1))

    def _uncle_count(self, number: int | None) -> str | None:
        return None if number is None or self.chain.block(number) is None else "0x0"

    def eth_getUncleCountByBlockNumber(self, params: list[Any]) -> str | None:
        return self._uncle_count(self._block_number(p.param(params, 0)))

    def eth_getUncleCountByBlockHash(self, params: list[Any]) -> str | None:
        return self._uncle_count(self._by_hash(params))

    # --- txpool ----------------------------------------------------------------------------------
    def _pool(self) -> PoolSplit:
        """Split against the head's nonces; stale entries (nonce already used) are left out."""
        split = PoolSplit()
        if self.sequencer is None:
            return split
        state = StateOverlay(self.chain.store.leaf)
        for sender, txs in self.sequencer.mempool.content().items():
            nonce = get_account(state, sender)[0]
            for signed in txs:
                if signed.tx.nonce < nonce:
                    continue
                if signed.tx.nonce == nonce:
                    split.pending.setdefault(sender, []).append(signed)
                    nonce += 1
                else:
                    split.queued.setdefault(sender, []).append(signed)
        return split

    def txpool_status(self, params: list[Any]) -> dict[str, str]:
        split = self._pool()
        return {
            "pending": p.hex_int(sum(map(len, split.pending.values()))),
            "queued": p.hex_int(sum(map(len, split.queued.values()))),
        }

    def txpool_content(self, params: list[Any]) -> dict[str, dict[str, dict[str, Any]]]:
        split = self._pool()
        return {"pending": _content(split.pending), "queued": _content(split.queued)}


def _content(by_sender: dict[bytes, list[SignedTx]]) -> dict[str, dict[str, Any]]:
    """geth's shape: checksummed sender -> decimal nonce -> transaction with null block fields."""
    return {
        to_checksum_address(sender): {
            str(signed.tx.nonce): format_transaction(
                signed, signed.hash, block_hash_=None, number=None, index=None, base_fee=None
            )
            for signed in txs
        }
        for sender, txs in by_sender.items()
    }


def _explicit_number(tag: Any) -> int | None:
    """The block number a fromBlock / toBlock names outright; None for a tag."""
    return None if tag in TAGS else p.quantity(tag, 0)


def _filter_id(params: list[Any]) -> str:
    value = p.param(params, 0)
    if not isinstance(value, str):
        raise RpcError(INVALID_PARAMS, "invalid argument 0: filter id must be a string")
    return value
