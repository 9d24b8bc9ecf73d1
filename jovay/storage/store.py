"""LMDB chain store: blocks, receipts, the transaction index, state leaves and tree nodes.

Everything a block changes is written in one LMDB write transaction (`write_block`), so a crash, even
`kill -9`, leaves the store at the previous block or the new one, never in between.

Tree nodes are content-addressed and kept in two tables. `nodes` holds exactly the nodes of the head's
tree, by hash. Each block moves the nodes its root no longer references (its stale list) out of
`nodes` into `history`, under the block's number and sorted by hash, then inserts its new nodes. The
state of a block n >= `oldest_state()` is readable: its nodes are in `nodes` or in the history of one
of the blocks n+1..head (a node that state n has and the head has not left the tree at one of them).
Moving that bound forward to N drops the history of the blocks up to N, a block at a time. Pruning
runs inside the block's write transaction, so a crash mid-prune leaves the previous block with its
whole window, or the new one with the smaller window. An archive node (no pruning) keeps every node
in `nodes` and writes no history.

Why two tables: node hashes are random, so a block's node writes land all over a table keyed by hash,
and LMDB copies each page it changes. When old states' nodes stayed in that table until pruned (layout
2), it held the history too (2^20 nodes by default, several times the live tree), every block rewrote
pages in proportion to it and pruned it one random key at a time, so the write grew as the chain aged.
Now the random writes touch the live tree only; the history is written in key order at the end of
its table and dropped whole. Reading an old state costs more lookups (`node_at`): rare (RPC at a past
block, withdrawal proofs at the finalized block) next to the writes every block makes.

The write is not overlapped with the execution of the next block, although py-lmdb releases the GIL
inside each put and the commit: the next block would have to read this block's state before it is
durable, while RPC must not (the head, the leaf cache and the listeners would need a second, "sealed
but not durable" head), and on two cores the released time already goes to admission's signature
recovery.

Durability: each commit is synced (LMDB's defaults: the data, then the meta page), so a block is on
disk when `write_block` returns, even across an OS crash. Skipping the meta page's sync (MDB_NOMETASYNC)
measured no faster (50-70 ms per commit of 30,000 random nodes either way, within the noise), so the
safe default stays and there is no option to relax it.
"""

from __future__ import annotations

import ctypes
import itertools
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import lmdb

from jovay._native import blockwrite_impl
from jovay.errors import CriticalError

_U64 = struct.Struct(">Q")
TX_LOCATION = struct.Struct(">QI")  # a transaction's block number and position in it

HEAD_KEY = b"head"
SAFE_KEY = b"safe"
FINALIZED_KEY = b"finalized"
STATE_FROM_KEY = b"state-from"  # oldest block whose state tree is still stored
FORMAT_KEY = b"format"
STORE_FORMAT = b"3"  # 3: the live tree's nodes, and per block the nodes it dropped (2: stamped nodes)
HASH_SIZE = 32
NODE_SIZE = 65  # smt.encode_node: a tag byte, then two 32-byte field elements
HISTORY_PER_PAGE = 4096 // (HASH_SIZE + NODE_SIZE)  # history records per 4 KiB page (fixed-size duplicates)
WRITE_CHUNK = 1 << 14  # nodes per putmulti call, so that mapped pages are released within a big block
MAP_SIZE = 1 << 38  # 256 GiB of address space; the file only grows as it is used
# Latest leaf values kept in memory (~140 bytes each, ~150 MiB full): a block's working set. With 100k
# token holders (~300k leaves: account, allowlist entry, balance) 2^18 missed 400k of 900k reads in
# benchmarks/token_phases.py and the token fill cost 66 us/tx; 2^20: 100k misses, 34 us/tx.
LEAF_CACHE_SIZE = 1 << 20

Pairs = list[tuple[bytes, bytes]]  # (LMDB key, value) pairs of one table


def u64(n: int) -> bytes:
    return _U64.pack(n)


def key32(n: int) -> bytes:
    return n.to_bytes(32, "big")


@dataclass(frozen=True, slots=True)
class BlockWrite:
    """Everything one block adds to the store, as the records of each table
    (jovay/storage/records.py builds them)."""

    number: int
    block_hash: bytes
    block_rlp: bytes  # encode_block(header, raw txs)
    receipts_rlp: bytes
    tx_index: Pairs  # tx hash -> TX_LOCATION
    state_writes: Mapping[int, int]  # leaf key -> value (0 = deleted): the leaf cache's update
    # key32(leaf key) -> key32(value) for the non-zero writes, and key32(leaf key) of the zeros, in
    # batches (may be a generator: a bulk block's records are built as they are written)
    leaf_records: Iterable[tuple[Pairs, Sequence[bytes]]]
    node_records: Iterable[Pairs]  # key32(node hash) -> encode_node(node), in batches
    # key32 of each node the parent's root referenced and this block's does not, end to end, in key order
    stale_keys: bytes = b""
    state_from: int | None = None  # oldest block whose state stays stored; None: keep every state


def history_records(pop: Callable[[bytes], bytes | None], stale_keys: bytes, number_key: bytes) -> Pairs:
    """[(number_key, key + pop(key))] for each 32-byte key of `stale_keys` that `pop` finds, in order: the
    history records of a block's dropped nodes (the pure twin of jovay/_native/_blockwrite.pyx's)."""
    if len(stale_keys) % HASH_SIZE:
        raise ValueError(f"stale keys of {len(stale_keys)} bytes are not 32-byte keys end to end")
    moved = []
    for start in range(0, len(stale_keys), HASH_SIZE):
        key = stale_keys[start : start + HASH_SIZE]
        node = pop(key)
        if node is not None:
            moved.append((number_key, key + bytes(node)))
    return moved


def _select_history_records() -> Callable[[Callable[[bytes], bytes | None], bytes, bytes], Pairs]:
    """The native twin when it is built and JOVAY_PURE=1 is not set."""
    native = blockwrite_impl()
    return history_records if native is None else cast(Callable, native.history_records)


_history_records = _select_history_records()


class MappedFile:
    """The pages of a file that this process has mapped (LMDB's data file), released when too many.

    Tree nodes are keyed by hash, so every block reads pages all over the node table; each page read
    stays mapped, so the process's RSS would grow to the whole file although the pages are only the
    kernel's page cache. Releasing the mapping (madvise MADV_DONTNEED on the shared, file-backed map:
    nothing is lost, a later access maps the page again from the page cache) keeps the RSS bounded:
    `trim` releases it when the process's resident file pages have grown by more than
    `RESIDENT_LIMIT` since the store opened. The writer trims after each block, and `touched` every
    `CHECK_EVERY` pages read or written (a bulk block reads and rewrites most of the node table).
    Releasing only when over the limit, not after every block, keeps the pages that every block
    writes again (the live tree's, the leaves') mapped: each release costs a fault per page on the
    next access. The limit sits above the pages a block works on at 100,000 accounts with a token
    (~300,000 leaves: the node table alone is ~130 MiB, the file ~550 MiB): at 128 MiB the whole map
    was released ~8 times per block and faulted back (56 faults per token transfer, 18 at 512 MiB,
    benchmarks/seal_scale.py). A no-op where /proc or madvise is missing.
    """

    MADV_DONTNEED = 4
    RESIDENT_LIMIT = 1 << 17  # pages (of 4 KiB): at most ~512 MiB of the file mapped, checked every:
    CHECK_EVERY = 1 << 12  # pages counted by `touched` (reads of /proc/self/statm are ~10 us each)

    def __init__(self, path: Path) -> None:
        self._ranges = self._find_ranges(str(path.resolve()))
        self._madvise = self._libc_madvise() if self._ranges else None
        self._touched = 0
        self._baseline = self._resident_file_pages()  # the libraries' pages, mapped before the store

    def touched(self, pages: int = 1) -> None:
        """Count pages mapped since the last check (approximate across threads: it only paces)."""
        self._touched += pages
        if self._touched >= self.CHECK_EVERY:
            self.trim()

    def trim(self) -> None:
        """Release the mapping if the process's resident file pages grew by more than the limit."""
        self._touched = 0
        if self._resident_file_pages() - self._baseline > self.RESIDENT_LIMIT:
            self.release()

    @staticmethod
    def _resident_file_pages() -> int:
        """Resident pages of the process's file mappings (and shared memory): statm's third field."""
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[2])
        except (OSError, IndexError, ValueError):
            return 0

    @staticmethod
    def _find_ranges(path: str) -> list[tuple[int, int]]:
        try:
            with open("/proc/self/maps") as maps:
                lines = maps.read().splitlines()
        except OSError:
            return []
        ranges = []
        for line in lines:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5] == path and fields[1].startswith("r") and fields[1][3] == "s":
                start, end = (int(x, 16) for x in fields[0].split("-"))
                ranges.append((start, end))
        return ranges

    @staticmethod
    def _libc_madvise() -> Callable[[int, int, int], int] | None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            madvise = libc.madvise
        except (OSError, AttributeError):
            return None
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        madvise.restype = ctypes.c_int
        return cast(Callable[[int, int, int], int], madvise)

    def release(self) -> None:
        self._touched = 0
        if self._madvise is None:
            return
        for start, end in self._ranges:
            self._madvise(start, end - start, self.MADV_DONTNEED)


class LeafCache:
    """The latest values of recently used state leaves, consistent with what LMDB holds at the head.

    Readers fill it and the writer updates it after each commit. A reader may only insert a value it
    read under the generation it started with: if a block was committed meanwhile, its value may be
    the old one, and it is not cached (the writer's own update is the one that counts).
    """

    def __init__(self, size: int = LEAF_CACHE_SIZE) -> None:
        self._values: dict[int, int] = {}
        self._size = size
        self._lock = threading.Lock()
        self.generation = 0

    def get(self, key: int) -> int | None:
        return self._values.get(key)

    def fill(self, key: int, value: int, generation: int) -> None:
        with self._lock:
            if generation == self.generation:
                self._insert(key, value)

    def committed(self, writes: Mapping[int, int]) -> None:
        """A block's leaf writes are in LMDB: cache their new values and retire older reads."""
        with self._lock:
            self.generation += 1
            values = self._values
            values.update(writes)  # one C-level call for the block's writes
            excess = len(values) - self._size
            if excess > 0:  # drop the oldest entries, down to three quarters of the size
                for old in list(itertools.islice(values, excess + self._size // 4)):
                    del values[old]

    def _insert(self, key: int, value: int) -> None:
        values = self._values
        if key not in values and len(values) >= self._size:  # drop the oldest quarter
            for old in list(itertools.islice(values, self._size // 4)):
                del values[old]
        values[key] = value


class ChainStore:
    """The node's LMDB environment; thread-safe for one writer and many readers."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.leaves = LeafCache()
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(
            str(path),
            map_size=MAP_SIZE,
            max_dbs=8,
            readonly=readonly,
            lock=True,
            # Dirty pages written in place in the map: a block that rewrites most of the node table
            # would otherwise also hold a private (malloc'd) copy of each page it touches, and LMDB
            # keeps those buffers for reuse, so the process's private memory stays at its largest
            # block. (The data file is then as large as map_size, sparse: `du` shows its real size.)
            writemap=True,
            max_readers=256,
            # Tree nodes and leaves are read at random: read-ahead would only map (and count in
            # the process's RSS) pages around each one that are never used.
            readahead=False,
        )
        self._meta = self.env.open_db(b"meta")
        self._blocks = self.env.open_db(b"blocks")
        self._receipts = self.env.open_db(b"receipts")
        self._hashes = self.env.open_db(b"hashes")
        self._txs = self.env.open_db(b"txs")
        self._leaves = self.env.open_db(b"leaves")
        self._nodes = self.env.open_db(b"nodes")
        # block number -> key32(hash) + encode_node(node) of each node its root dropped, sorted: fixed-size
        # duplicates of one key, packed in their pages and dropped in one call
        self._history = self.env.open_db(b"history", dupsort=True, dupfixed=True)
        if not readonly:
            self._check_format()
        self._mapped = MappedFile(path / "data.mdb")

    def _check_format(self) -> None:
        """Stamp a new store with its layout; refuse one written in another layout (before node
        stamps, a node record was 65 bytes; layout 2 kept old states' nodes among the live ones, with
        stamps: read in this layout they would decode wrongly or never be pruned)."""
        with self.env.begin(write=True) as txn:
            found = txn.get(FORMAT_KEY, db=self._meta)
            if found is None and txn.get(HEAD_KEY, db=self._meta) is None:
                txn.put(FORMAT_KEY, STORE_FORMAT, db=self._meta)
                return
        if found != STORE_FORMAT:
            self.env.close()
            raise CriticalError(
                f"the chain store is in layout {found!r}, this node writes {STORE_FORMAT!r}: "
                "sync a new data directory"
            )

    def close(self) -> None:
        self.env.close()

    def write_block(self, block: BlockWrite, meta: Mapping[bytes, bytes] | None = None) -> None:
        """Store one block and its state changes atomically, and make it the head."""
        txn = self.env.begin(write=True)
        try:
            self._put_block(txn, block)
            self._put_leaves(txn, block.leaf_records)
            if block.state_from is not None:  # before the new nodes: a dropped node written again stays
                self._put_history(txn, block.number, block.stale_keys, keep=block.state_from < block.number)
            self._put_nodes(txn, block.node_records)
            if block.state_from is not None:
                self._prune(txn, block.state_from)
            txn.put(HEAD_KEY, u64(block.number), db=self._meta)
            for meta_key, meta_value in (meta or {}).items():
                txn.put(meta_key, meta_value, db=self._meta)
        except BaseException:
            txn.abort()
            raise
        self._commit(txn)
        self.leaves.committed(block.state_writes)
        self._release()

    def _put_block(self, txn: lmdb.Transaction, block: BlockWrite) -> None:
        """The block, its receipts, its hash and its transactions' index entries."""
        number_key = u64(block.number)
        txn.put(number_key, block.block_rlp, db=self._blocks)
        txn.put(number_key, block.receipts_rlp, db=self._receipts)
        txn.put(block.block_hash, number_key, db=self._hashes)
        # Many entries per table: one putmulti call each instead of a Python-level put per entry.
        txn.cursor(db=self._txs).putmulti(block.tx_index)
        self._mapped.touched(2 * len(block.tx_index))

    def _put_leaves(
        self, txn: lmdb.Transaction, leaf_records: Iterable[tuple[Pairs, Sequence[bytes]]]
    ) -> None:
        leaves = txn.cursor(db=self._leaves)
        for puts, deletes in leaf_records:
            leaves.putmulti(puts)
            for key in deletes:
                txn.delete(key, db=self._leaves)
            self._mapped.touched(2 * (len(puts) + len(deletes)))

    def _put_nodes(self, txn: lmdb.Transaction, node_records: Iterable[Pairs]) -> None:
        nodes = txn.cursor(db=self._nodes)
        for records in node_records:
            for start in range(0, len(records), WRITE_CHUNK):
                chunk = records[start : start + WRITE_CHUNK]
                nodes.putmulti(chunk)
                self._mapped.touched(2 * len(chunk))  # each put may read one page and write a copy

    def _put_history(self, txn: lmdb.Transaction, number: int, stale_keys: bytes, keep: bool) -> None:
        """Move the nodes the block's root dropped out of the live table, into the block's history
        (kept while state number-1 is: `keep`). A key that is not stored was written and dropped
        within the block: no kept state has it."""
        # bytes: the transaction is not opened with buffers
        take = cast(Callable[[bytes], bytes | None], txn.cursor(db=self._nodes).pop)
        history = txn.cursor(db=self._history)
        number_key = u64(number)
        step = WRITE_CHUNK * HASH_SIZE
        for chunk_start in range(0, len(stale_keys), step):
            keys = stale_keys[chunk_start : chunk_start + step]
            moved = _history_records(take, keys, number_key)
            self._mapped.touched(2 * len(keys) // HASH_SIZE)  # each delete may read one page, write a copy
            if keep and moved:
                # Sorted and past every earlier block's history: appended, each page written once.
                added = history.putmulti(moved, dupdata=True, append=True)[1]
                if added != len(moved):
                    raise CriticalError(f"block {number}: {added} of {len(moved)} history nodes appended")
                self._mapped.touched(len(moved) // HISTORY_PER_PAGE + 1)

    def _commit(self, txn: lmdb.Transaction) -> None:
        """Commit the block's write transaction (and with it LMDB's fsync of the data file)."""
        txn.commit()

    def _release(self) -> None:
        """Release the mapped pages if too many are resident (`MappedFile.trim`)."""
        self._mapped.trim()

    def _prune(self, txn: lmdb.Transaction, state_from: int) -> None:
        """Forget the states of blocks below `state_from`: drop the history only they need."""
        raw = txn.get(STATE_FROM_KEY, db=self._meta)
        old_from = 0 if raw is None else _U64.unpack(raw)[0]
        if state_from <= old_from:
            return
        # Block n's history holds nodes of state n-1 that state n lost: dropped once n-1 is gone.
        history = txn.cursor(db=self._history)
        last = u64(state_from)
        while history.first() and bytes(history.key()) <= last:
            history.delete(dupdata=True)  # the block's whole history: its pages are freed, not read
        txn.put(STATE_FROM_KEY, last, db=self._meta)

    def stale_sizes(self) -> dict[int, int]:
        """Block -> how many nodes its history holds (the nodes of its parent's state that its own state
        lost), for the blocks whose history is kept (the window)."""
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self._history)
            return {
                _U64.unpack(key)[0]: cursor.count() for key in cursor.iternext_nodup(keys=True, values=False)
            }

    def oldest_state(self) -> int:
        """The oldest block whose state is still stored (0 when nothing was pruned)."""
        raw = self.get_meta(STATE_FROM_KEY)
        return 0 if raw is None else _U64.unpack(raw)[0]

    def set_meta(self, key: bytes, value: bytes) -> None:
        with self.env.begin(write=True) as txn:
            txn.put(key, value, db=self._meta)

    def get_meta(self, key: bytes) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(key, db=self._meta)

    def head_number(self) -> int | None:
        raw = self.get_meta(HEAD_KEY)
        return None if raw is None else _U64.unpack(raw)[0]

    def block_rlp(self, number: int) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(u64(number), db=self._blocks)

    def receipts_rlp(self, number: int) -> bytes | None:
        with self.env.begin() as txn:
            return txn.get(u64(number), db=self._receipts)

    def number_of_hash(self, block_hash: bytes) -> int | None:
        with self.env.begin() as txn:
            raw = txn.get(block_hash, db=self._hashes)
        return None if raw is None else _U64.unpack(raw)[0]

    def tx_location(self, tx_hash: bytes) -> tuple[int, int] | None:
        with self.env.begin() as txn:
            raw = txn.get(tx_hash, db=self._txs)
        return None if raw is None else TX_LOCATION.unpack(raw)

    def leaf(self, key: int) -> int:
        """The latest value of a state leaf (0 when absent)."""
        cached = self.leaves.get(key)
        if cached is not None:
            return cached
        generation = self.leaves.generation
        with self.env.begin() as txn:
            raw = txn.get(key32(key), db=self._leaves)
        self._mapped.touched()
        value = 0 if raw is None else int.from_bytes(raw, "big")
        self.leaves.fill(key, value, generation)
        return value

    def iter_leaves(self) -> Iterator[tuple[int, int]]:
        """Every state leaf at the head, in key order (state export, consistency checks)."""
        with self.env.begin() as txn:
            for key, value in txn.cursor(db=self._leaves):
                yield int.from_bytes(key, "big"), int.from_bytes(value, "big")

    def node(self, node_hash: int) -> bytes | None:
        """A node of the head's tree: its encoding (smt.encode_node), None when the head has no such node."""
        with self.env.begin() as txn:
            return self.node_in(txn, node_hash)

    def node_in(self, txn: lmdb.Transaction, node_hash: int) -> bytes | None:
        """`node` within a read transaction the caller holds (`reader`): a block's tree update reads its
        cache misses in one transaction, instead of beginning one per node (~1.5 us each)."""
        node = cast(bytes | None, txn.get(key32(node_hash), db=self._nodes))  # not opened with buffers
        self._mapped.touched()
        return node

    def node_at(self, node_hash: int, number: int) -> bytes | None:
        """A node of block `number`'s tree, None when it is not stored (not a node of that tree, or the
        state was pruned). One read transaction: the head and the window do not move meanwhile."""
        key = key32(node_hash)
        with self.env.begin() as txn:
            node = txn.get(key, db=self._nodes)
            if node is None:
                node = self._dropped_node(txn, key, number)
        self._mapped.touched()
        return node

    def _dropped_node(self, txn: lmdb.Transaction, key: bytes, number: int) -> bytes | None:
        """A node of state `number` that the head no longer has: in the history of the block that
        dropped it, one of number+1..head."""
        raw_from, raw_head = txn.get(STATE_FROM_KEY, db=self._meta), txn.get(HEAD_KEY, db=self._meta)
        if raw_head is None or (raw_from is not None and number < _U64.unpack(raw_from)[0]):
            return None
        history = txn.cursor(db=self._history)
        for later in range(number + 1, _U64.unpack(raw_head)[0] + 1):
            if history.set_range_dup(u64(later), key):  # the first record at or after the hash
                record = bytes(history.value())  # bytes: the transaction is not opened with buffers
                if record[:HASH_SIZE] == key:
                    return record[HASH_SIZE:]
        return None

    def table_stats(self) -> dict[str, dict[str, int]]:
        """Entries and pages per table (memory and disk accounting: benchmarks/state_memory.py)."""
        tables = {
            "meta": self._meta,
            "blocks": self._blocks,
            "receipts": self._receipts,
            "hashes": self._hashes,
            "txs": self._txs,
            "leaves": self._leaves,
            "nodes": self._nodes,
            "history": self._history,
        }
        out = {}
        with self.env.begin() as txn:
            for name, db in tables.items():
                stat = txn.stat(db)
                pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"]
                if db is self._history:
                    # LMDB (0.9) does not take a key's pages off its table's count when all its
                    # duplicates are deleted at once, although it frees them: count full pages instead.
                    pages = -(-stat["entries"] // HISTORY_PER_PAGE)
                out[name] = {"entries": stat["entries"], "pages": pages, "bytes": pages * stat["psize"]}
        return out

    def node_hashes(self) -> Iterator[int]:
        """Every stored tree node's hash, the head's and the history's (a node dropped, then written again,
        twice): consistency checks, stored == reachable from kept roots."""
        with self.env.begin() as txn:
            for key in txn.cursor(db=self._nodes).iternext(keys=True, values=False):
                yield int.from_bytes(key, "big")
            for record in txn.cursor(db=self._history).iternext(keys=False, values=True):
                yield int.from_bytes(record[:HASH_SIZE], "big")

    def count_nodes(self) -> tuple[int, int]:
        """(inner nodes, leaf nodes) of the head's tree (the history's size: `stale_sizes`)."""
        inner = leaf = 0
        with self.env.begin() as txn:
            for raw in txn.cursor(db=self._nodes).iternext(keys=False, values=True):
                if raw[0]:
                    leaf += 1
                else:
                    inner += 1
        return inner, leaf

    @contextmanager
    def reader(self) -> Iterator[lmdb.Transaction]:
        """One read transaction for many lookups (cheaper than one each)."""
        with self.env.begin() as txn:
            yield txn
