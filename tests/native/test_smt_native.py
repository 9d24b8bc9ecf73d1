"""The native batched tree update (jovay/_native/_smt.pyx) against the Python walk
(`SparseMerkleTree.pure_update_many`): over random sequences of update batches, both give the same
roots and make the same store calls in the same order (every `get`, every `put` with its hash and
(tag, a, b) tuple, every `drop` list), and the same errors; input the native walk does not mirror
falls back to the Python walk and still ends the same."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import smt_impl
from jovay.crypto.poseidon import FIELD_MODULUS
from jovay.errors import CriticalError
from jovay.state import smt
from jovay.state.smt import INNER, LEAF, MemoryNodeStore, SparseMerkleTree
from jovay.storage.chain import Chain, LmdbNodeStore
from jovay.storage.store import ChainStore
from tests.storage.test_chain import make_genesis
from tests.storage.test_pruning import seal_writes

P = FIELD_MODULUS
native = smt_impl()
pytestmark = pytest.mark.skipif(
    native is None, reason="jovay._native._smt is not built (or JOVAY_PURE=1): nothing to compare"
)

Call = tuple[Any, ...]
Batch = dict[int, int]


class RecordingStore(MemoryNodeStore):
    """A MemoryNodeStore that logs every call the tree makes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []

    def get(self, h: int) -> tuple | None:
        self.calls.append(("get", h))
        return super().get(h)

    def put(self, h: int, node: tuple) -> None:
        self.calls.append(("put", h, node))
        super().put(h, node)

    def drop(self, hashes: list[int]) -> None:
        self.calls.append(("drop", list(hashes)))

    def take_calls(self) -> list[Call]:
        calls, self.calls = self.calls, []
        return calls


def outcome(update: Callable[[Batch], int], batch: Batch) -> tuple[str, Any]:
    try:
        return "root", update(batch)
    except (ValueError, CriticalError) as exc:
        return type(exc).__name__, str(exc)


def run_both(batches: list[Batch], pure_store: RecordingStore, native_store: RecordingStore) -> None:
    """Each batch on each path (the native one without fallback): same outcome and calls each time."""
    assert native is not None
    pure_tree, native_tree = SparseMerkleTree(pure_store), SparseMerkleTree(native_store)
    for number, batch in enumerate(batches):
        expected = outcome(pure_tree.pure_update_many, batch)

        def native_only(items: Batch) -> int:
            root = native.update_many(native_store, native_tree.root, items)
            native_tree._root = root  # what the dispatcher does
            return root

        got = outcome(native_only, batch)
        assert got == expected, f"batch {number}"
        assert native_store.take_calls() == pure_store.take_calls(), f"batch {number}"
        assert native_store.nodes == pure_store.nodes
        assert native_tree.root == pure_tree.root


# --- strategies ------------------------------------------------------------------------------------

field = st.integers(min_value=0, max_value=P - 1)
values = st.one_of(st.just(0), st.just(0), st.integers(1, 5), st.just(P - 1), field)


@st.composite
def key_pools(draw: st.DrawFn) -> list[int]:
    """Keys that share long path prefixes (low bits) with each other, plus edges and random keys."""
    pool = draw(st.lists(field, min_size=1, max_size=6))
    for _ in range(draw(st.integers(0, 4))):
        shared = draw(st.integers(1, 253))  # this many low bits in common
        base = draw(field) & ((1 << shared) - 1)
        for _ in range(draw(st.integers(2, 4))):
            high = draw(st.integers(0, (P - 1) >> shared))
            pool.append(base | (high << shared))
    pool += draw(st.lists(st.sampled_from([0, 1, 2, 3, P - 1, 1 << 253]), max_size=3))
    return [key for key in pool if key < P]


@st.composite
def batch_sequences(draw: st.DrawFn) -> list[Batch]:
    pool = draw(key_pools())
    keys = st.sampled_from(pool)
    batches = draw(st.lists(st.dictionaries(keys, values, max_size=24), min_size=1, max_size=6))
    if draw(st.booleans()):  # delete everything written so far
        batches.append({key: 0 for batch in batches for key in batch})
    return batches


# --- differential tests ----------------------------------------------------------------------------


def test_node_format_constants_agree() -> None:
    assert native is not None
    assert (native.LEAF, native.INNER, native.MAX_DEPTH) == (LEAF, INNER, smt.MAX_DEPTH)


@settings(max_examples=150, deadline=None)
@given(batch_sequences())
def test_random_batches_same_roots_nodes_and_store_calls(batches: list[Batch]) -> None:
    run_both(batches, RecordingStore(), RecordingStore())


@pytest.mark.parametrize(
    "batches",
    [
        pytest.param([{}], id="nothing"),
        pytest.param([{5: 0, 9: 0}], id="deletes-on-empty-tree"),
        pytest.param([{7: 3}], id="single-leaf"),
        pytest.param([{7: 3}, {7: 3}], id="same-value-again"),
        pytest.param([{7: 3}, {7: 4}, {7: 0}], id="update-then-delete-the-only-leaf"),
        pytest.param([{7: 3}, {7 | 1 << 200: 1}], id="leaf-pushed-down-200-levels"),
        pytest.param([{7: 3, 7 | 1 << 200: 1}, {7 | 1 << 200: 0}], id="leaf-moves-back-up"),
        pytest.param([{k: k + 1 for k in range(64)}, {k: 0 for k in range(0, 64, 2)}], id="half-deleted"),
        pytest.param([{k: k + 1 for k in range(64)}, {k: 0 for k in range(64)}], id="all-deleted"),
        pytest.param([{1: 1, 3: 1}, {3: 0, 5: 2}], id="delete-and-insert-at-one-node"),
        pytest.param([{0: 1, P - 1: 2}, {0: 0}, {P - 1: 0}], id="edge-keys"),
    ],
)
def test_edge_cases_same_roots_nodes_and_store_calls(batches: list[Batch]) -> None:
    run_both(batches, RecordingStore(), RecordingStore())


def test_large_batch_on_a_large_tree() -> None:
    """Enough writes for the batch hashing to split over threads; every kind of write at once."""
    keys = [(i * 0x9E3779B97F4A7C15 * 0x100000001B3 + i) % P for i in range(3000)]
    first = {key: i + 1 for i, key in enumerate(keys)}
    second = {key: (0 if i % 3 == 0 else i + 7 if i % 3 == 1 else i + 1) for i, key in enumerate(keys)}
    second.update({(key ^ 1 << 100) % P: 5 for key in keys[:500]})
    run_both([first, second], RecordingStore(), RecordingStore())


def test_dispatcher_uses_native_and_keeps_the_tree_consistent() -> None:
    pure_tree, tree = SparseMerkleTree(MemoryNodeStore()), SparseMerkleTree(MemoryNodeStore())
    for batch in ({1: 2, 3: 4, 5: 6}, {3: 0, 9: 9}, {1: 0, 5: 0, 9: 0}):
        assert tree.update_many(batch) == pure_tree.pure_update_many(batch)
        assert tree.root == pure_tree.root
        assert all(tree.get(key) == value for key, value in batch.items())
    assert tree.root == 0


# --- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batch",
    [
        {-1: 1},
        {P: 1},
        {1 << 256: 1},
        {1: P},
        {1: -5},
        {1: 1 << 300},
        {2: 3, P + 7: 1, 4: -1},  # the first bad entry in the mapping's order is reported
        {2: -3, P + 7: 1},
    ],
)
def test_out_of_range_writes_same_value_error(batch: Batch) -> None:
    stores = RecordingStore(), RecordingStore()
    run_both([{2: 1, 6: 1}, batch], *stores)
    with pytest.raises(ValueError, match="out of field range"):
        SparseMerkleTree(MemoryNodeStore()).update_many(batch)


def missing_node_trees() -> Iterator[tuple[RecordingStore, RecordingStore, int]]:
    """Pairs of stores holding the same tree, each with one of its nodes removed."""
    batch = {k * 7919 % P: k for k in range(1, 40)}
    reference = MemoryNodeStore()
    root = SparseMerkleTree(reference).pure_update_many(batch)
    for h in sorted(reference.nodes):
        stores = RecordingStore(), RecordingStore()
        for store in stores:
            store.nodes = {k: v for k, v in reference.nodes.items() if k != h}
        yield stores[0], stores[1], root


@pytest.mark.parametrize("writes", [{7919 * 3 % P: 0}, {k * 7919 % P: 0 for k in range(1, 40)}, {12345: 1}])
def test_missing_node_same_critical_error(writes: Batch) -> None:
    raised = 0
    for pure_store, native_store, root in missing_node_trees():
        assert native is not None
        expected = outcome(SparseMerkleTree(pure_store, root).pure_update_many, writes)
        got = outcome(partial(native.update_many, native_store, root), writes)
        assert got == expected
        assert native_store.take_calls() == pure_store.take_calls()
        raised += got[0] == "CriticalError"
    assert raised  # the removed nodes include ones on the written paths


def test_missing_node_message_is_the_pure_one() -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    tree.update_many({1: 1, 2: 2})
    store.nodes.pop(tree.root)
    with pytest.raises(CriticalError, match=f"state tree node {tree.root:#066x} is missing"):
        tree.update_many({3: 3})


# --- what falls back to the Python walk ------------------------------------------------------------


def corrupt_child_store() -> tuple[MemoryNodeStore, int]:
    """A tree whose root's left child hash is replaced by one out of the field."""
    store = MemoryNodeStore()
    root = SparseMerkleTree(store).pure_update_many({2: 1, 4: 1, 1: 1})
    tag, left, right = store.nodes[root]
    store.nodes[root] = (tag, P + 1, right)
    store.nodes[P + 1] = store.nodes[left]
    return store, root


@pytest.mark.parametrize(
    "case",
    ["bool-key", "int-subclass-value", "corrupt-child-hash", "leaf-value-out-of-field", "list-node"],
)
def test_unmirrored_input_falls_back_to_the_python_walk(case: str) -> None:
    class Wide(int):
        pass

    store = MemoryNodeStore()
    root = SparseMerkleTree(store).pure_update_many({2: 1, 4: 1, 1: 1})
    batch: dict[Any, Any] = {3: 5}
    if case == "bool-key":
        batch = {True: 5, 8: 1}
    elif case == "int-subclass-value":
        batch = {8: Wide(5)}
    elif case == "corrupt-child-hash":
        store, root = corrupt_child_store()
        batch = {1: 7}  # rewrites the right side only: the corrupt left hash goes into the new root
    elif case == "leaf-value-out-of-field":
        leaf = next(h for h, node in store.nodes.items() if node == (LEAF, 1, 1))
        store.nodes[leaf] = (LEAF, 1, P + 3)
        batch = {1 | 1 << 9: 2}
    else:
        store.nodes[root] = list(store.nodes[root])  # type: ignore[assignment]
    assert native is not None
    with pytest.raises(native.NotMirrored):
        native.update_many(store, root, batch)
    clone = MemoryNodeStore()
    clone.nodes = dict(store.nodes)
    expected = outcome(SparseMerkleTree(clone, root).pure_update_many, batch)
    got = outcome(SparseMerkleTree(store, root).update_many, batch)
    assert got == expected
    assert store.nodes == clone.nodes


def test_corrupt_child_hash_gives_the_pure_error() -> None:
    store, root = corrupt_child_store()
    with pytest.raises(ValueError, match="poseidon input out of field range"):
        SparseMerkleTree(store, root).update_many({1: 7})


# --- on the node's LMDB store ----------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(batch_sequences())
def test_lmdb_node_store_same_pending_and_stale(
    tmp_path_factory: pytest.TempPathFactory, batches: list[Batch]
) -> None:
    """Drops of nodes written earlier in the same block remove them from the pending writes: the
    block's written nodes and stale list come out the same (order included)."""
    results = []
    for update in ("pure_update_many", "update_many"):
        path: Path = tmp_path_factory.mktemp("lmdb")
        chain_store = ChainStore(path)
        try:
            nodes = LmdbNodeStore(chain_store)
            tree = SparseMerkleTree(nodes)
            roots = [getattr(tree, update)(batch) for batch in batches]
            pending, stale = nodes.take_pending()
            results.append((roots, list(pending.items()), stale))
        finally:
            chain_store.close()
    assert results[0] == results[1]


class PureWalkTree(SparseMerkleTree):
    """The tree with the Python walk, which calls the store's `get` and `put` for every node."""

    __slots__ = ()

    def update_many(self, items: Mapping[int, int]) -> int:
        return self.pure_update_many(items)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.dictionaries(st.integers(1, 64), st.integers(0, 3)), min_size=2, max_size=8))
def test_cache_hits_without_get_leave_the_cache_as_the_python_walk(
    tmp_path_factory: pytest.TempPathFactory, blocks: list[Batch]
) -> None:
    """The native walk finds cached nodes in LmdbNodeStore's dicts itself (`cached_nodes`) and inserts
    the new ones there without a `put` call: over sealed blocks with a cache small enough to start new
    generations, the cache's contents, its LMDB reads and the headers are those of the Python walk,
    which calls `get` and `put` for every node."""
    results = []
    for tree_type in (PureWalkTree, SparseMerkleTree):
        chain = Chain(tmp_path_factory.mktemp("chain"), make_genesis(), node_cache_size=16)
        try:
            chain.tree = tree_type(chain.nodes, chain.tree.root)
            seen = []
            for writes in blocks:
                seal_writes(chain, writes)
                nodes = chain.nodes
                seen.append((chain.head, dict(nodes._young), dict(nodes._old), nodes.lmdb_reads))
            results.append(seen)
        finally:
            chain.close()
    assert results[0] == results[1]
