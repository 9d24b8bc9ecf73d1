"""The state tree: a sparse Merkle tree exactly as circomlib's `smt` (circomlibjs `src/smt.js`).

The state root is a consensus value (docs/architecture.md, "State commitment"), so the tree has
circomlib's shape: a key's path is its bits, least significant first; a leaf hashes as
Poseidon(key, value, 1), an inner node as Poseidon(left, right), an empty subtree is 0, and a subtree
holding one leaf is that leaf. That shape depends only on the key/value map, which is why a block's
writes can be applied in one pass (`update_many`) and still give circomlib's root.

Nodes are content-addressed by their hash in a `NodeStore`. An update tells the store which nodes the
new root no longer references (`NodeStore.drop`): a store that keeps every version ignores it, the
node's LMDB store uses it to prune the nodes of states older than its retention window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Protocol

from jovay._native import poseidon_impl, smt_impl
from jovay.crypto.poseidon import FIELD_MODULUS, poseidon2, poseidon3
from jovay.errors import CriticalError

LEAF = 1
INNER = 0
MAX_DEPTH = 256  # circomlib splits keys into 256 bits; keys below p differ within the first 254

Node = tuple[int, int, int]  # (LEAF, key, value) or (INNER, left, right)
_Entry = tuple[int, int]  # (key, value)

_NODE_SIZE = 1 + 32 + 32


class NodeStore(Protocol):
    """Where tree nodes live, keyed by their hash. `get` answers None for an unknown hash.

    `drop` names nodes that the tree's previous root referenced and its new root does not (never a
    node the new root references): older roots may still need them, so a store may keep them.
    """

    def get(self, h: int, /) -> tuple | None: ...

    def put(self, h: int, node: tuple, /) -> None: ...

    def drop(self, hashes: list[int], /) -> None: ...


class MemoryNodeStore:
    """A NodeStore in a dict that keeps every version (tests, tools, the fault prover's replay)."""

    def __init__(self) -> None:
        self.nodes: dict[int, tuple] = {}

    def get(self, h: int) -> tuple | None:
        return self.nodes.get(h)

    def put(self, h: int, node: tuple) -> None:
        self.nodes[h] = node

    def drop(self, hashes: list[int]) -> None:
        """Kept: every old root stays provable (fraud-proof witnesses at any step)."""

    def __len__(self) -> int:
        return len(self.nodes)

    def pruned(self, roots: Iterable[int]) -> MemoryNodeStore:
        """A new store with only the nodes of the trees at `roots` (shared subtrees copied once): what a
        holder of many versions keeps when it no longer needs the others."""
        kept = MemoryNodeStore()
        stack = [root for root in roots if root]
        while stack:
            h = stack.pop()
            if h in kept.nodes:
                continue
            node = self.nodes.get(h)
            if node is None:
                raise CriticalError(f"state tree node {h:#066x} is missing from the node store")
            kept.nodes[h] = node
            if node[0] == INNER:
                stack.extend(child for child in node[1:] if child)
        return kept


def encode_node(node: tuple) -> bytes:
    """Tag byte (0 inner, 1 leaf), then two 32-byte big-endian field elements: 65 bytes."""
    tag, a, b = node
    if tag not in (INNER, LEAF):
        raise ValueError(f"unknown tree node tag {tag!r}")
    return bytes((tag,)) + a.to_bytes(32, "big") + b.to_bytes(32, "big")


def decode_node(data: bytes) -> Node:
    """Inverse of encode_node."""
    if len(data) != _NODE_SIZE or data[0] not in (INNER, LEAF):
        raise ValueError(f"not an encoded tree node: {bytes(data[:8]).hex()}... ({len(data)} bytes)")
    return data[0], int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:65], "big")


def root_to_bytes(root: int) -> bytes:
    """The root as the header's 32-byte big-endian `stateRoot`."""
    return root.to_bytes(32, "big")


def leaf_hash(key: int, value: int) -> int:
    return poseidon3(key, value, 1)


def inner_hash(left: int, right: int) -> int:
    return poseidon2(left, right)


def _check_field(what: str, x: int) -> None:
    if not 0 <= x < FIELD_MODULUS:
        raise ValueError(f"tree {what} out of field range [0, p): {x}")


@dataclass(frozen=True, slots=True)
class SmtProof:
    """What circomlibjs `find()` returns: siblings from the root down to where the key's path ends;
    found with its value, or else the leaf met on the path (`is_old0` when the path ends empty, and
    then not_found_key is the key itself, as circomlib)."""

    siblings: tuple[int, ...]
    found: bool
    found_value: int = 0
    not_found_key: int = 0
    not_found_value: int = 0
    is_old0: bool = False


class _PendingNodes:
    """Nodes of one update whose hashes are not computed yet, so that they can be hashed in batches.

    A pending node is referred to by a placeholder, `-(index + 1)`: negative, so it can never equal a
    real hash (those are in [0, p)) and is never 0 (the empty subtree). A node's height is one more
    than its highest pending child's (leaves 0, inner nodes at least 1), so hashing all nodes of
    height 0, then 1, ... always finds a node's children already hashed.
    """

    __slots__ = ("nodes", "heights")

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.heights: list[int] = []

    def add_leaf(self, key: int, value: int) -> int:
        self.nodes.append((LEAF, key, value))
        self.heights.append(0)
        return -len(self.nodes)

    def add_inner(self, left: int, right: int) -> int:
        heights = self.heights
        # At least 1 even over two known hashes (a deletion can leave such a node to rehash).
        height = 1 + max(heights[-left - 1] if left < 0 else 0, heights[-right - 1] if right < 0 else 0)
        self.nodes.append((INNER, left, right))
        heights.append(height)
        return -len(self.nodes)

    def hash_all(self, store: NodeStore) -> list[int]:
        """Every pending node's hash (by index), each level in one batch call; stores the nodes."""
        impl = poseidon_impl()
        nodes, hashes = self.nodes, [0] * len(self.nodes)
        levels: list[list[int]] = [[] for _ in range(max(self.heights, default=-1) + 1)]
        for index, height in enumerate(self.heights):
            levels[height].append(index)
        for height, members in enumerate(levels):
            firsts, seconds = [], []
            for index in members:
                _, a, b = nodes[index]
                firsts.append(hashes[-a - 1] if a < 0 else a)
                seconds.append(hashes[-b - 1] if b < 0 else b)
            batch = impl.hash_leaves if height == 0 else impl.hash_pairs
            for index, a, b, h in zip(members, firsts, seconds, batch(firsts, seconds), strict=True):
                hashes[index] = h
                store.put(h, (nodes[index][0], a, b))
        return hashes


class SparseMerkleTree:
    """circomlib's sparse Merkle tree over a NodeStore, at one root; writes move the root forward."""

    __slots__ = ("_store", "_root", "_pending", "_replaced")

    def __init__(self, store: NodeStore, root: int = 0) -> None:
        _check_field("root", root)
        self._store = store
        self._root = root
        self._pending = _PendingNodes()
        self._replaced: list[int] = []  # nodes of the old root the pass rewrote (see update_many)

    @property
    def root(self) -> int:
        return self._root

    @property
    def store(self) -> NodeStore:
        return self._store

    def _node(self, h: int) -> tuple:
        node = self._store.get(h)
        if node is None:
            raise CriticalError(f"state tree node {h:#066x} is missing from the node store")
        return node

    def get(self, key: int) -> int:
        """The value at key, 0 when absent."""
        _check_field("key", key)
        h = self._root
        path = key
        while h:
            tag, a, b = self._node(h)
            if tag == LEAF:
                return b if a == key else 0
            h = b if path & 1 else a
            path >>= 1
        return 0

    def prove(self, key: int) -> SmtProof:
        """Siblings along key's path and what ends it, as circomlibjs `find(key)`."""
        _check_field("key", key)
        siblings: list[int] = []
        h = self._root
        path = key
        while h:
            tag, a, b = self._node(h)
            if tag == LEAF:
                if a == key:
                    return SmtProof(tuple(siblings), True, found_value=b)
                return SmtProof(tuple(siblings), False, not_found_key=a, not_found_value=b)
            h, sibling = (b, a) if path & 1 else (a, b)
            siblings.append(sibling)
            path >>= 1
        return SmtProof(tuple(siblings), False, not_found_key=key, is_old0=True)

    def set(self, key: int, value: int) -> int:
        """Insert, update, or delete (value 0) one key; returns the new root."""
        return self.update_many({key: value})

    def update_many(self, items: Mapping[int, int]) -> int:
        """Apply many writes (value 0 deletes) in one pass; returns the new root.

        The result is the same as setting them one by one in any order (the shape depends only on the
        final map), but each touched node is hashed once. The native twin (jovay/_native/_smt.pyx) does
        it when built, with the same store calls; input it does not mirror exactly (not plain ints, a
        corrupt store) it hands to the Python walk before writing anything.
        """
        native = smt_impl()
        if native is not None:
            try:
                self._root = native.update_many(self._store, self._root, items)
                return self._root
            except native.NotMirrored:
                pass
        return self.pure_update_many(items)

    def pure_update_many(self, items: Mapping[int, int]) -> int:
        """update_many in Python: the reference the native twin is tested against."""
        writes: list[_Entry] = []
        for key, value in items.items():
            _check_field("key", key)
            _check_field("value", value)
            writes.append((key, value))
        if writes:
            self._pending, self._replaced = _PendingNodes(), []
            new_root = self._apply(self._root, 0, writes)[0]
            created: list[int] = []
            if new_root < 0:
                created = self._pending.hash_all(self._store)
                new_root = created[-new_root - 1]
            self._drop_replaced(set(created))
            self._pending = _PendingNodes()
            self._root = new_root
        return self._root

    def _drop_replaced(self, created: AbstractSet[int]) -> None:
        """Tell the store which old nodes the new root lost. A rewritten node can come back with the
        same hash (a leaf that moves to another depth), so those the pass created again stay."""
        gone = [h for h in self._replaced if h not in created]
        self._replaced = []
        if gone:
            self._store.drop(gone)

    # --- one pass over the touched subtrees ---------------------------------------------------------

    # Hashes of new nodes are placeholders (_PendingNodes) until the pass ends; the pass only asks
    # whether a hash is 0 or unchanged, which placeholders answer exactly as the real hashes would.

    def _apply(self, h: int, level: int, writes: list[_Entry]) -> tuple[int, bool]:
        """New (hash, is_leaf) of subtree h at depth level after writes (not empty, all below h)."""
        if not h:
            return self._build(level, [w for w in writes if w[1]])
        tag, a, b = self._node(h)
        if tag == LEAF:
            merged = self._merge_leaf(h, a, b, level, writes)
            if merged[0] != h:
                self._replaced.append(h)
            return merged
        bit = 1 << level
        left = [w for w in writes if not w[0] & bit]
        right = [w for w in writes if w[0] & bit]
        new_a, a_leaf = self._apply(a, level + 1, left) if left else (a, None)
        new_b, b_leaf = self._apply(b, level + 1, right) if right else (b, None)
        if new_a == a and new_b == b:
            return h, False
        self._replaced.append(h)
        if not new_a or not new_b:  # a subtree of one leaf is that leaf: it moves up
            only, only_leaf = (new_b, b_leaf) if not new_a else (new_a, a_leaf)
            if not only:
                return 0, False
            if only_leaf is None:  # the untouched side: look it up only now
                only_leaf = self._node(only)[0] == LEAF
            if only_leaf:
                return only, True
        return self._put_inner(new_a, new_b), False

    def _merge_leaf(self, h: int, key: int, value: int, level: int, writes: list[_Entry]) -> tuple[int, bool]:
        entries = [w for w in writes if w[1]]
        if all(w[0] != key for w in writes):
            if not entries:
                return h, True
            entries.append((key, value))
        elif entries == [(key, value)]:
            return h, True
        return self._build(level, entries)

    def _build(self, level: int, entries: list[_Entry]) -> tuple[int, bool]:
        """The canonical subtree at depth level holding exactly these (nonzero-valued) entries."""
        if not entries:
            return 0, False
        if len(entries) == 1:
            key, value = entries[0]
            return self._pending.add_leaf(key, value), True
        if level >= MAX_DEPTH:
            raise ValueError("tree keys collide on all 256 bits")
        bit = 1 << level
        left = self._build(level + 1, [e for e in entries if not e[0] & bit])[0]
        right = self._build(level + 1, [e for e in entries if e[0] & bit])[0]
        return self._put_inner(left, right), False

    def _put_inner(self, left: int, right: int) -> int:
        return self._pending.add_inner(left, right)


def verify_proof(root: int, key: int, value: int, proof: SmtProof) -> bool:
    """Whether proof shows key -> value under root; value 0 claims key is absent (non-membership)."""
    if not all(0 <= x < FIELD_MODULUS for x in (root, key, value, *proof.siblings)):
        return False
    depth = len(proof.siblings)
    if depth > MAX_DEPTH:
        return False
    if value:
        if not proof.found:
            return False
        h = leaf_hash(key, value)
    elif proof.found:
        return False
    elif proof.is_old0:
        h = 0
    else:
        other, other_value = proof.not_found_key, proof.not_found_value
        mask = (1 << depth) - 1
        if other == key or not other_value or (other ^ key) & mask or not 0 <= other < FIELD_MODULUS:
            return False
        if not 0 <= other_value < FIELD_MODULUS:
            return False
        h = leaf_hash(other, other_value)
    for level in range(depth - 1, -1, -1):
        sibling = proof.siblings[level]
        h = inner_hash(sibling, h) if key >> level & 1 else inner_hash(h, sibling)
    return h == root
