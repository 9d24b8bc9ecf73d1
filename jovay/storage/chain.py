"""The chain: the store, the state tree at the head, and how a block becomes part of it.

`Chain` is the one writer. It hands out a `BlockExecution` over the head's state, seals it with the
Poseidon root and stores block, receipts, leaves and tree nodes in one LMDB transaction. Readers get
state at a stored block through `state_reader` / `state_tree`, which walk the tree from that block's
root. Tree nodes of states older than the retention window (`StateRetention`) are pruned, as geth keeps
its last 128 states; reading such a state raises StateUnavailable (JSON-RPC -32000, "missing trie
node"), never wrong data. Blocks, receipts and transactions are all kept.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import lmdb

from jovay.codec._rlp import decode as decode_rlp
from jovay.codec.blocks import Header, Log, Receipt, block_hash, decode_block, encode_block
from jovay.codec.transactions import DepositTx, SignedTx
from jovay.errors import CriticalError, InvalidBlock, StateUnavailable
from jovay.params import GENESIS_BASE_FEE
from jovay.state.overlay import StateOverlay
from jovay.state.smt import SparseMerkleTree, decode_node
from jovay.stf.block import BlockExecution, ExecutedTx, child_env, seal_block
from jovay.stf.genesis import Genesis
from jovay.stf.transaction import BlockEnv
from jovay.storage.records import batches, encode_receipts, select
from jovay.storage.store import BlockWrite, ChainStore

# Decoded nodes kept in memory: ~0.3 KiB each, so ~300 MiB at most. 100,000 token holders make a tree of
# ~730,000 nodes: 2^19 missed ~7 nodes per token transfer, 2^20 ~4 (benchmarks/seal_scale.py).
NODE_CACHE_SIZE = 1 << 20
DEFAULT_RETENTION_BLOCKS = 128  # recent states kept, as geth
DEFAULT_MAX_HISTORY_NODES = 1 << 20  # ~160 MiB of old tree nodes in LMDB at most (unless finalized)

_records = select()  # the native record builders, or their pure twins (JOVAY_PURE=1)


@dataclass(frozen=True)
class StateRetention:
    """Which block states keep their tree nodes.

    - `blocks`: the last `blocks` blocks (None: every block, an archive node);
    - `max_history_nodes`: but fewer when their history (the nodes older states need and the head's
      does not) would exceed this many nodes (~160 bytes each in LMDB, all of it in the process's
      RSS once read): a few huge blocks (a bulk of deposits) must not hold GiBs of old nodes;
    - `keep_from` (the node passes the last block of the last finalized batch, which withdrawals are
      proven against): the window ends there instead of at the head when that is older, and no budget
      prunes past it.
    """

    blocks: int | None = DEFAULT_RETENTION_BLOCKS
    max_history_nodes: int | None = DEFAULT_MAX_HISTORY_NODES
    keep_from: Callable[[], int] | None = None

    def __post_init__(self) -> None:
        if self.blocks is not None and self.blocks < 1:
            raise ValueError(f"state retention must keep at least 1 block, got {self.blocks}")
        if self.max_history_nodes is not None and self.max_history_nodes < 0:
            raise ValueError(f"history budget must be at least 0 nodes, got {self.max_history_nodes}")

    def oldest_kept(self, head: int, history: Mapping[int, int]) -> int | None:
        """The oldest block whose state stays readable with `head` the head (None: all), given
        `history`: block n -> how many nodes state n-1 needs that state n does not (its stale list)."""
        if self.blocks is None:
            return None
        end = head if self.keep_from is None else min(head, max(0, self.keep_from()))
        oldest = max(0, end - self.blocks + 1)
        if self.max_history_nodes is None:
            return oldest
        held, within_budget = 0, head  # keeping state n-1 as well costs block n's stale list
        for number in range(head, oldest, -1):
            held += history.get(number, 0)
            if held > self.max_history_nodes:
                break
            within_budget = number - 1
        return min(max(oldest, within_budget), end)


class LmdbNodeStore:
    """Tree nodes read from LMDB; new nodes wait in memory until their block is written.

    Nodes are content-addressed, so a decoded node never goes stale: a bounded cache of recently
    written and read nodes saves the LMDB read and decode on the paths every block walks again.
    The cache has two generations: a node is looked up in the young one, then the old one (and
    moved to the young one when found there); when the young one is full it becomes the old one and
    the previous old one is dropped whole. That keeps the nodes in use (LRU-like) at no per-insert cost.
    The nodes the tree drops wait with the new ones: their block's stale list, for pruning; the head
    no longer references them, so they leave the cache, which keeps it for the live tree.
    """

    def __init__(self, store: ChainStore, cache_size: int = NODE_CACHE_SIZE) -> None:
        self._store = store
        self.pending: dict[int, tuple] = {}
        self.stale: list[int] = []
        self._young: dict[int, tuple] = {}
        self._old: dict[int, tuple] = {}
        self._generation_size = max(1, cache_size // 2)
        self.lmdb_reads = 0  # nodes read from LMDB (cache misses): the cache's hit rate, measured
        self._txn: lmdb.Transaction | None = None  # the read transaction of `reading`, while open

    def get(self, node_hash: int) -> tuple | None:
        node = self.pending.get(node_hash) or self._young.get(node_hash)
        if node is not None:
            return node
        node = self._old.get(node_hash)
        if node is None:
            self.lmdb_reads += 1
            raw = self._read(node_hash)
            if raw is None:
                return None
            node = decode_node(raw)
        young = self._young
        young[node_hash] = node
        if len(young) >= self._generation_size:
            self._old, self._young = young, {}
        return node

    def cached_nodes(self) -> tuple[dict[int, tuple], dict[int, tuple]]:
        """Where `get` looks first, with no side effect (the pending nodes, then the young generation),
        and `put` is exactly an insert into the first: the native tree walk (jovay/_native/_smt.pyx)
        looks there and inserts there itself, without a Python call per node, and calls `get` only
        on a miss (after which it asks again: a miss may start a new generation)."""
        return self.pending, self._young

    def _read(self, node_hash: int) -> bytes | None:
        """A node of the head's tree from LMDB (the writer's tree is the head's)."""
        txn = self._txn
        return self._store.node(node_hash) if txn is None else self._store.node_in(txn, node_hash)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Read the misses of one tree update in a single LMDB read transaction. Only while the head
        does not move (the writer, between two of its commits): the transaction sees the head's nodes."""
        with self._store.reader() as txn:
            self._txn = txn
            try:
                yield
            finally:
                self._txn = None

    def put(self, node_hash: int, node: tuple) -> None:
        self.pending[node_hash] = node

    def drop(self, hashes: list[int]) -> None:
        """Nodes the new root lost: one written earlier in this block is not written at all."""
        _records.drop_keys(self.pending, hashes)  # one C-level call for the list
        self.stale.extend(hashes)

    def take_pending(self) -> tuple[dict[int, tuple], list[int]]:
        """The block's new nodes and its stale list; both start empty again. The new nodes join the
        cache and the stale ones leave it."""
        pending, self.pending = self.pending, {}
        stale, self.stale = self.stale, []
        young, old = self._young, self._old
        _records.drop_keys(young, stale)
        _records.drop_keys(old, stale)
        room = self._generation_size - len(young)
        if len(pending) < room:
            young.update(pending)  # one C-level call for the block's nodes
        else:  # a generation's worth at most (of a bulk block, its last nodes: the top of the tree)
            self._old = young
            self._young = dict(itertools.islice(reversed(pending.items()), self._generation_size))
        return pending, stale

    def cached(self) -> int:
        """How many decoded nodes the cache holds (both generations)."""
        return len(self._young) + len(self._old)


class HistoricalNodes(LmdbNodeStore):
    """Read-only nodes of one past block's state: a node pruned while it is being read (the window
    moved on) is an unavailable state, not a corrupt store."""

    def __init__(self, store: ChainStore, number: int) -> None:
        super().__init__(store, cache_size=1 << 12)
        self.number = number

    def _read(self, node_hash: int) -> bytes | None:
        return self._store.node_at(node_hash, self.number)

    def get(self, node_hash: int) -> tuple | None:
        node = super().get(node_hash)
        if node is None:
            raise StateUnavailable(missing_state_message(node_hash, self.number, self._store.oldest_state()))
        return node


def missing_state_message(node_hash: int, number: int, oldest: int) -> str:
    """geth's wording ("missing trie node") plus why: the block is older than the kept window."""
    return (
        f"missing trie node {node_hash:#066x}: historical state not available for block {number} "
        f"(this node keeps the state of blocks {oldest} and later)"
    )


@dataclass(frozen=True, slots=True)
class StoredReceipt:
    """A receipt as served over RPC: the consensus receipt plus what RPC adds."""

    receipt: Receipt
    gas_used: int
    effective_gas_price: int
    return_data: bytes


def decode_receipts(data: bytes) -> list[StoredReceipt]:
    out = []
    rows = cast(list[list[Any]], decode_rlp(data))  # our own encoding, written by encode_receipts
    for tx_type, status, cumulative, logs, bloom, gas_used, price, return_data in rows:
        parsed_logs = [Log(address, list(topics), log_data) for address, topics, log_data in logs]
        receipt = Receipt(_int(tx_type), _int(status), _int(cumulative), parsed_logs, bloom)
        out.append(StoredReceipt(receipt, _int(gas_used), _int(price), return_data))
    return out


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


BlockListener = Callable[[Header, list[ExecutedTx]], None]


class Chain:
    """Owns the store and the head; `seal` is the only way a block gets in."""

    def __init__(
        self,
        data_dir: Path,
        genesis: Genesis,
        retention: StateRetention | None = None,
        node_cache_size: int = NODE_CACHE_SIZE,
    ) -> None:
        self.genesis = genesis
        self.retention = retention or StateRetention()
        self.store = ChainStore(data_dir / "chain")
        self.nodes = LmdbNodeStore(self.store, node_cache_size)
        self._write_lock = threading.Lock()
        self.listeners: list[BlockListener] = []
        if self.store.head_number() is None:
            self._write_genesis()
        head_number = self.store.head_number()
        assert head_number is not None
        self.head, _ = self.block(head_number)  # type: ignore[misc]
        self.head_hash = block_hash(self.head)
        self.tree = SparseMerkleTree(self.nodes, int.from_bytes(self.head.state_root, "big"))

    # --- writing ---------------------------------------------------------------------------------
    def _write_genesis(self) -> None:
        tree = SparseMerkleTree(self.nodes, 0)
        state = StateOverlay(lambda key: 0)
        for key, value in self.genesis.state_writes().items():
            state.set(key, value)
        env = BlockEnv(
            0, self.genesis.timestamp, GENESIS_BASE_FEE, self.genesis.gas_limit, self.genesis.chain_id
        )
        header, receipts = seal_block(bytes(32), BlockExecution(state, env), tree)
        self._store_block(header, [], receipts, state.writes())

    def new_execution(self, timestamp: int) -> BlockExecution:
        """A block on top of the head, reading the head's state; time may not go backwards."""
        if timestamp < self.head.timestamp:
            raise InvalidBlock(f"block timestamp {timestamp} is before its parent's {self.head.timestamp}")
        env = child_env(self.head, timestamp, self.genesis.chain_id)
        return BlockExecution(StateOverlay(self.store.leaf), env)

    def seal(self, execution: BlockExecution) -> Header:
        """Commit an executed block: root, header, one LMDB write; then tell the listeners."""
        with self._write_lock:
            if execution.env.number != self.head.number + 1:
                raise CriticalError(f"sealing block {execution.env.number} on head {self.head.number}")
            with self.nodes.reading():
                header, receipts = seal_block(self.head_hash, execution, self.tree)
            self._store_block(header, execution.executed, receipts, execution.state.writes())
        for listener in self.listeners:
            listener(header, execution.executed)
        return header

    def _store_block(
        self, header: Header, executed: list[ExecutedTx], receipts: list[Receipt], writes: dict[int, int]
    ) -> None:
        hash_ = block_hash(header)
        nodes, stale = self.nodes.take_pending()
        history = self.store.stale_sizes()
        history[header.number] = len(stale)
        write = BlockWrite(
            number=header.number,
            block_hash=hash_,
            block_rlp=encode_block(header, [item.encoded for item in executed]),
            receipts_rlp=_records.encode_receipts(executed, receipts),
            tx_index=_records.tx_locations([item.tx_hash for item in executed], header.number),
            state_writes=writes,
            leaf_records=map(_records.leaf_records, batches(writes)),
            node_records=map(_records.node_records, batches(nodes)),
            stale_keys=_records.joined_keys(stale),
            state_from=self.retention.oldest_kept(header.number, history),
        )
        self.store.write_block(write)
        self.head, self.head_hash = header, hash_

    # --- reading ---------------------------------------------------------------------------------
    def block(self, number: int) -> tuple[Header, list[bytes]] | None:
        raw = self.store.block_rlp(number)
        return None if raw is None else decode_block(raw)

    def receipts(self, number: int) -> list[StoredReceipt]:
        raw = self.store.receipts_rlp(number)
        return [] if raw is None else decode_receipts(raw)

    def state_reader(self, number: int | None = None) -> Callable[[int], int]:
        """Leaf reads at block `number` (the head when None or when it is the head)."""
        if number is None or number == self.head.number:
            return self.store.leaf
        return self.state_tree(number).get

    def state_tree(self, number: int) -> SparseMerkleTree:
        """The state tree at block `number`, for reads and proofs; raises KeyError for an unknown
        block and StateUnavailable for one whose state was pruned."""
        found = self.block(number)
        if found is None:
            raise KeyError(number)
        root = int.from_bytes(found[0].state_root, "big")
        oldest = self.store.oldest_state()
        if number < oldest:
            raise StateUnavailable(missing_state_message(root, number, oldest))
        return SparseMerkleTree(HistoricalNodes(self.store, number), root)

    def close(self) -> None:
        self.store.close()


__all__ = ["Chain", "DepositTx", "SignedTx", "StoredReceipt", "decode_receipts", "encode_receipts"]
