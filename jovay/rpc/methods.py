"""The `eth_`, `net_`, `web3_` and `debug_` methods over a node's chain and sequencer."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from jovay import CLIENT_VERSION
from jovay.codec.abi import decode_error
from jovay.codec.blocks import Header, block_hash
from jovay.codec.transactions import DepositTx, SignedTx, data_gas
from jovay.crypto.keccak import keccak256
from jovay.errors import InvalidTransaction
from jovay.params import SUGGESTED_PRIORITY_FEE, TX_BASE_GAS
from jovay.rpc import params as p
from jovay.rpc.errors import EXECUTION_REVERTED, SERVER_ERROR, RpcError, invalid_argument
from jovay.rpc.format import decode_stored_tx, format_header, format_receipt, format_transaction
from jovay.rpc.server import BatchedMethod
from jovay.sequencer.sequencer import Sequencer
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import BalanceOverflow, get_account
from jovay.stf.block import child_env
from jovay.stf.results import Revert
from jovay.stf.system import SYSTEM_CODE, call_system_contract, is_system_contract
from jovay.storage.chain import Chain, StoredReceipt

MAX_FEE_HISTORY_BLOCKS = 1024
BLOCK_CACHE_ENTRIES = 128
BLOCK_CACHE_BYTES = 16 * 2**20  # of memory, as `LoadedBlock.footprint` estimates it
# Python memory per transaction of a cached block, beyond its stored bytes (measured with tracemalloc on
# blocks of ETH transfers, tests/rpc/test_block_cache.py holds the estimate above the measurement): the
# raw transaction's bytes object and list slot, and its hash (114 B); decoded, a transaction (640 B) and
# a receipt (580 B, plus each log's address, topics and data objects).
LOADED_TX_BYTES = 128
DECODED_TX_BYTES = 700
DECODED_RECEIPT_BYTES = 640
DECODED_LOG_BYTES = 400


class HeadTracker(Protocol):
    """Where the node's safe and finalized heads come from (the L1 watcher)."""

    def safe_block(self) -> int: ...
    def finalized_block(self) -> int: ...


@dataclass
class LoadedBlock:
    """A stored block as RPC serves it. Its transactions and receipts are decoded on first use: the
    header and the transaction hashes (newHeads clients, block explorers, load watchers) are asked for
    far more often, and decoding thousands of receipts costs more than serving the rest."""

    header: Header
    hash: bytes
    raw_txs: list[bytes]
    tx_hashes: list[bytes]
    size: int
    chain_id: int
    read_receipts: Callable[[], list[StoredReceipt]]

    @functools.cached_property
    def txs(self) -> list[SignedTx | DepositTx]:
        return [decode_stored_tx(raw, self.chain_id) for raw in self.raw_txs]

    @functools.cached_property
    def receipts(self) -> list[StoredReceipt]:
        return self.read_receipts()

    def footprint(self) -> int:
        """Estimated bytes of memory this block takes now: its stored bytes and per-transaction objects,
        more once its transactions or receipts are decoded (`txs`, `receipts`, on first use)."""
        count = len(self.raw_txs)
        total = self.size + count * LOADED_TX_BYTES
        if "txs" in self.__dict__:
            total += count * DECODED_TX_BYTES
        if "receipts" in self.__dict__:
            total += count * DECODED_RECEIPT_BYTES + self._log_count * DECODED_LOG_BYTES
        return total

    @functools.cached_property
    def _log_count(self) -> int:
        return sum(len(stored.receipt.logs) for stored in self.receipts)

    def receipt_json(self, index: int, first_log_index: int) -> dict[str, Any]:
        """Receipt `index` as RPC serves it; `first_log_index` counts the logs of earlier receipts."""
        return format_receipt(
            self.receipts[index],
            self.txs[index],
            self.tx_hashes[index],
            block_hash_=self.hash,
            number=self.header.number,
            index=index,
            first_log_index=first_log_index,
        )


class BlockCache:
    """Recently served blocks, least recently used out first, bounded by count AND by the memory they
    take (`LoadedBlock.footprint`): a count alone lets memory follow block size (128 blocks of 10,000
    transfers are ~300 MB decoded, and every poll of "latest" on a busy chain caches another one), and
    their stored size alone undercounts it (loaded, a block takes twice its stored size; with its
    transactions and receipts decoded, about twelve times). A block decoded after it was cached weighs
    more from the next insertion on, which evicts down to the bound again. Thread-safe (RPC handlers
    run on threads); a block is loaded outside the lock, so two threads may load the same one once each."""

    def __init__(
        self,
        load: Callable[[int, bytes], LoadedBlock | None],
        max_entries: int = BLOCK_CACHE_ENTRIES,
        max_bytes: int = BLOCK_CACHE_BYTES,
    ) -> None:
        self._load = load
        self._entries: OrderedDict[tuple[int, bytes], LoadedBlock] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self.bytes = 0  # estimated memory of the cached blocks, as of the last insertion
        self._lock = threading.Lock()

    def get(self, number: int, head_hash: bytes) -> LoadedBlock | None:
        key = (number, head_hash)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        block = self._load(number, head_hash)
        if block is not None and block.footprint() <= self._max_bytes:
            with self._lock:
                if key not in self._entries:
                    self._entries[key] = block
                    self._evict()
        return block

    def _evict(self) -> None:
        """Drop the least recently used blocks until both bounds hold (the caller holds the lock)."""
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        sizes = [block.footprint() for block in self._entries.values()]
        total = sum(sizes)
        dropped = 0
        while total > self._max_bytes:
            self._entries.popitem(last=False)
            total -= sizes[dropped]
            dropped += 1
        self.bytes = total

    def __len__(self) -> int:
        return len(self._entries)


class EthApi:
    def __init__(self, chain: Chain, sequencer: Sequencer | None, heads: HeadTracker | None = None) -> None:
        self.chain = chain
        self.sequencer = sequencer
        self.heads = heads
        self.chain_id = chain.genesis.chain_id
        self.blocks = BlockCache(self._load_block)

    def methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        names = [n for n in dir(self) if n.startswith(("eth_", "net_", "web3_", "debug_"))]
        methods: dict[str, Callable[[list[Any]], Any]] = {name: getattr(self, name) for name in names}
        methods["eth_sendRawTransaction"] = BatchedMethod(
            self.eth_sendRawTransaction, self.send_raw_transactions
        )
        return methods

    # --- blocks ----------------------------------------------------------------------------------
    def _load_block(self, number: int, head_hash: bytes) -> LoadedBlock | None:
        """Decoded block `number`; `head_hash` keys the cache so a new head never sees stale data."""
        found = self.chain.block(number)
        if found is None:
            return None
        header, raw_txs = found
        raw = self.chain.store.block_rlp(number) or b""
        hashes = [keccak256(raw_tx) for raw_tx in raw_txs]
        receipts = functools.partial(self.chain.receipts, number)
        return LoadedBlock(header, block_hash(header), raw_txs, hashes, len(raw), self.chain_id, receipts)

    def load_block(self, number: int) -> LoadedBlock | None:
        if number > self.chain.head.number or number < 0:
            return None
        return self.blocks.get(number, b"" if number < self.chain.head.number else self.chain.head_hash)

    def block_number_of(self, tag: Any, index: int = 0) -> int:
        """Resolve a block tag, number or EIP-1898 object to a stored block number."""
        if isinstance(tag, dict):
            if "blockHash" in tag:
                number = self.chain.store.number_of_hash(p.hash32(tag["blockHash"], index))
                if number is None:
                    raise RpcError(SERVER_ERROR, "header for hash not found")
                return number
            tag = tag.get("blockNumber", "latest")
        head = self.chain.head.number
        if tag in ("latest", "pending", None):
            return head
        if tag == "earliest":
            return 0
        if tag == "safe":
            return min(self.heads.safe_block(), head) if self.heads else 0
        if tag == "finalized":
            return min(self.heads.finalized_block(), head) if self.heads else 0
        number = p.quantity(tag, index)
        if number > head:
            raise RpcError(SERVER_ERROR, "header not found")
        return number

    def _block_json(self, block: LoadedBlock | None, full: bool) -> dict[str, Any] | None:
        if block is None:
            return None
        result = format_header(block.header, block.hash, block.size)
        if full:
            result["transactions"] = [
                format_transaction(
                    tx,
                    block.tx_hashes[i],
                    block_hash_=block.hash,
                    number=block.header.number,
                    index=i,
                    base_fee=block.header.base_fee_per_gas,
                )
                for i, tx in enumerate(block.txs)
            ]
        else:
            result["transactions"] = [p.hex_bytes(h) for h in block.tx_hashes]
        return result

    def eth_blockNumber(self, params: list[Any]) -> str:
        return p.hex_int(self.chain.head.number)

    def eth_getBlockByNumber(self, params: list[Any]) -> dict[str, Any] | None:
        tag = p.param(params, 0)
        full = p.boolean(p.param(params, 1, False), 1)
        try:
            number = self.block_number_of(tag)
        except RpcError as exc:
            if exc.code == SERVER_ERROR:
                return None
            raise
        return self._block_json(self.load_block(number), full)

    def eth_getBlockByHash(self, params: list[Any]) -> dict[str, Any] | None:
        number = self.chain.store.number_of_hash(p.hash32(p.param(params, 0), 0))
        full = p.boolean(p.param(params, 1, False), 1)
        return None if number is None else self._block_json(self.load_block(number), full)

    # --- transactions and receipts ---------------------------------------------------------------
    def _locate(self, tx_hash: bytes) -> tuple[LoadedBlock, int] | None:
        location = self.chain.store.tx_location(tx_hash)
        if location is None:
            return None
        block = self.load_block(location[0])
        return None if block is None else (block, location[1])

    def eth_getTransactionByHash(self, params: list[Any]) -> dict[str, Any] | None:
        tx_hash = p.hash32(p.param(params, 0), 0)
        found = self._locate(tx_hash)
        if found is not None:
            block, index = found
            return format_transaction(
                block.txs[index],
                tx_hash,
                block_hash_=block.hash,
                number=block.header.number,
                index=index,
                base_fee=block.header.base_fee_per_gas,
            )
        pooled = self.sequencer.mempool.get(tx_hash) if self.sequencer else None
        if pooled is None:
            return None
        return format_transaction(pooled, tx_hash, block_hash_=None, number=None, index=None, base_fee=None)

    def eth_getTransactionReceipt(self, params: list[Any]) -> dict[str, Any] | None:
        found = self._locate(p.hash32(p.param(params, 0), 0))
        if found is None:
            return None
        block, index = found
        first_log = sum(len(r.receipt.logs) for r in block.receipts[:index])
        return block.receipt_json(index, first_log)

    def eth_sendRawTransaction(self, params: list[Any]) -> str:
        if self.sequencer is None:
            raise _replica_error()
        raw = p.data(p.param(params, 0), 0)
        return p.hex_bytes(self.sequencer.submit(raw))

    def send_raw_transactions(self, params_list: list[list[Any]]) -> list[str | Exception]:
        """eth_sendRawTransaction for a run of calls: each one's hash or the error it alone would raise.
        The well-formed transactions go to `Sequencer.submit_many` at once (decoded on both cores,
        then admitted one by one in order), so the answers are those of the calls one after another."""
        if self.sequencer is None:
            return [_replica_error() for _ in params_list]
        outcomes: list[str | Exception] = []
        raws: list[bytes] = []
        positions: list[int] = []
        for params in params_list:
            try:
                raws.append(p.data_param0(params))
            except RpcError as exc:
                outcomes.append(exc)
            else:
                positions.append(len(outcomes))
                outcomes.append("")
        if len(positions) == len(outcomes):  # (the usual case: every call's parameter parsed)
            return [
                submitted if isinstance(submitted, Exception) else "0x" + submitted.hex()
                for submitted in self.sequencer.submit_many(raws)
            ]
        for position, submitted in zip(positions, self.sequencer.submit_many(raws), strict=True):
            outcomes[position] = submitted if isinstance(submitted, Exception) else p.hex_bytes(submitted)
        return outcomes

    # --- accounts and state ----------------------------------------------------------------------
    def _state(self, tag: Any, index: int) -> StateOverlay:
        return StateOverlay(self.chain.state_reader(self.block_number_of(tag, index)))

    def eth_getBalance(self, params: list[Any]) -> str:
        address = p.address(p.param(params, 0), 0)
        return p.hex_int(get_account(self._state(p.param(params, 1, "latest"), 1), address)[1])

    def eth_getTransactionCount(self, params: list[Any]) -> str:
        address = p.address(p.param(params, 0), 0)
        tag = p.param(params, 1, "latest")
        if tag == "pending" and self.sequencer is not None:
            return p.hex_int(self.sequencer.pending_nonce(address))
        return p.hex_int(get_account(self._state(tag, 1), address)[0])

    def eth_getCode(self, params: list[Any]) -> str:
        address = p.address(p.param(params, 0), 0)
        state = self._state(p.param(params, 1, "latest"), 1)
        return p.hex_bytes(SYSTEM_CODE if is_system_contract(state, address) else b"")

    def eth_getStorageAt(self, params: list[Any]) -> str:
        p.address(p.param(params, 0), 0)
        return p.hex_bytes(bytes(32))

    def _run_call(self, params: list[Any]) -> tuple[int, bytes]:
        """Execute a call object against a block's state: (gas used, return data); raises on revert."""
        call = p.obj(p.param(params, 0), 0)
        number = self.block_number_of(p.param(params, 1, "latest"), 1)
        head = self.chain.head
        found = None if number == head.number else self.chain.block(number)
        parent = found[0] if found else head
        state = StateOverlay(self.chain.state_reader(number))
        env = child_env(parent, parent.timestamp, self.chain_id)  # as if in the next block, at its time
        sender = p.address(call["from"], 0) if call.get("from") else bytes(20)
        if call.get("to") is None:
            raise RpcError(
                SERVER_ERROR, "contract creation is not supported: Jovay runs system contracts only"
            )
        to = p.address(call["to"], 0)
        data = p.data(call.get("input") or call.get("data") or "0x", 0)
        value = p.quantity(call["value"], 0) if call.get("value") else 0
        gas = TX_BASE_GAS + data_gas(data)
        if value > get_account(state, sender)[1]:
            raise RpcError(SERVER_ERROR, "insufficient funds for transfer")
        if not is_system_contract(state, to):
            if data:
                raise RpcError(SERVER_ERROR, f"calldata to 0x{to.hex()} rejected: not a system contract")
            return gas, b""
        try:
            result = call_system_contract(state, sender, to, data, env, value)
        except Revert as revert:
            raise _reverted(revert.data) from None
        except BalanceOverflow as overflow:
            raise _reverted(Revert(str(overflow), 0).data) from None
        return gas + result.gas, result.return_data

    def eth_call(self, params: list[Any]) -> str:
        return p.hex_bytes(self._run_call(params)[1])

    def eth_estimateGas(self, params: list[Any]) -> str:
        return p.hex_int(self._run_call(params)[0])

    # --- fees ------------------------------------------------------------------------------------
    def _next_base_fee(self) -> int:
        head = self.chain.head
        return child_env(head, head.timestamp, self.chain_id).base_fee

    def eth_gasPrice(self, params: list[Any]) -> str:
        return p.hex_int(self._next_base_fee() + SUGGESTED_PRIORITY_FEE)

    def eth_maxPriorityFeePerGas(self, params: list[Any]) -> str:
        return p.hex_int(SUGGESTED_PRIORITY_FEE)

    def eth_feeHistory(self, params: list[Any]) -> dict[str, Any]:
        count_param = p.param(params, 0)
        count = (
            count_param
            if isinstance(count_param, int) and not isinstance(count_param, bool)
            else p.quantity(count_param, 0)
        )
        newest = self.block_number_of(p.param(params, 1), 1)
        percentiles = p.param(params, 2, [])
        if (
            not isinstance(percentiles, list)
            or any(
                not isinstance(x, (int, float)) or isinstance(x, bool) or not 0 <= x <= 100
                for x in percentiles
            )
            or percentiles != sorted(percentiles)
        ):
            raise invalid_argument(2, "reward percentiles must be ascending numbers in [0, 100]")
        count = max(0, min(count, MAX_FEE_HISTORY_BLOCKS, newest + 1))
        oldest = newest - count + 1
        blocks = [self.load_block(n) for n in range(oldest, newest + 1)]
        base_fees = [p.hex_int(b.header.base_fee_per_gas) for b in blocks if b]
        if blocks and blocks[-1]:
            last = blocks[-1].header
            base_fees.append(p.hex_int(child_env(last, last.timestamp, self.chain_id).base_fee))
        result: dict[str, Any] = {
            "oldestBlock": p.hex_int(oldest),
            "baseFeePerGas": base_fees,
            "gasUsedRatio": [b.header.gas_used / b.header.gas_limit for b in blocks if b],
        }
        if percentiles:
            result["reward"] = [_rewards(b, percentiles) for b in blocks if b]
        return result

    # --- chain identity --------------------------------------------------------------------------
    def eth_chainId(self, params: list[Any]) -> str:
        return p.hex_int(self.chain_id)

    def net_version(self, params: list[Any]) -> str:
        return str(self.chain_id)

    def web3_clientVersion(self, params: list[Any]) -> str:
        return CLIENT_VERSION

    def eth_syncing(self, params: list[Any]) -> bool:
        return False

    def eth_accounts(self, params: list[Any]) -> list[str]:
        return []

    def debug_getRawBlock(self, params: list[Any]) -> str:
        raw = self.chain.store.block_rlp(self.block_number_of(p.param(params, 0)))
        if raw is None:
            raise RpcError(SERVER_ERROR, "block not found")
        return p.hex_bytes(raw)


def _replica_error() -> RpcError:
    return RpcError(SERVER_ERROR, "this node is a replica: send transactions to the sequencer")


def _reverted(data: bytes) -> RpcError:
    reason = decode_error(data)
    message = f"execution reverted: {reason}" if reason is not None else "execution reverted"
    return RpcError(EXECUTION_REVERTED, message, p.hex_bytes(data))


def _rewards(block: LoadedBlock, percentiles: list[float]) -> list[str]:
    """Tips at the given gas-weighted percentiles of a block's transactions, as geth computes them."""
    base_fee = block.header.base_fee_per_gas
    tips = sorted(
        (stored.effective_gas_price - base_fee, stored.gas_used)
        for tx, stored in zip(block.txs, block.receipts, strict=True)
        if not isinstance(tx, DepositTx)
    )
    if not tips:
        return ["0x0" for _ in percentiles]
    total = sum(gas for _, gas in tips)
    out, index, cumulative = [], 0, tips[0][1]
    for percentile in percentiles:
        threshold = total * percentile / 100
        while cumulative < threshold and index < len(tips) - 1:
            index += 1
            cumulative += tips[index][1]
        out.append(p.hex_int(tips[index][0]))
    return out


__all__ = ["EthApi", "InvalidTransaction"]
