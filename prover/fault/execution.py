"""One batch item over a state, a batch's post root, its per-item roots, and the witness of one step.

The honest result of a batch is defined for any batch data: items execute in order, and an item that
may not execute (an undecodable or badly signed transaction, another chain, a wrong nonce, too little
balance for its gas, over the gas limit, a deposit out of queue order...) is skipped, leaving the state
unchanged. A block's cumulative gas is not a validity rule here: the sequencer fills blocks within the
limit, but the state after an item depends only on the item, its block environment and the state
before it, which is what the one-step proof on L1 can check (contracts/OneStepProof.sol).

The root after a batch needs no root per item: the tree's shape depends only on its final key/value
map (jovay/state/smt.py), so executing every item over one overlay and updating the tree once with the
overlay's writes (`post_root`) gives the same root as a tree update per item (`item_roots`), which only
a dispute game needs (bisection, witnesses).

Reads of the state a batch starts from are a tree walk each (`SparseMerkleTree.get`), unless a
`LeafMirror` of exactly that root is passed: a flat key -> value map of every leaf, moved forward with
each batch's writes, so a replay that goes batch after batch reads through a dict instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from eth_abi import encode

from jovay.codec.batch import (
    ITEM_DEPOSIT,
    ITEM_TRANSACTION,
    BatchItem,
    decode_deposit_payload,
    item_proof,
)
from jovay.codec.transactions import decode_many, decode_transaction
from jovay.errors import InvalidTransaction
from jovay.params import FEE_VAULT
from jovay.state.overlay import StateOverlay
from jovay.state.smt import NodeStore, SparseMerkleTree
from jovay.state.smt_proofs import L1SmtProof, l1_proof
from jovay.stf.transaction import BlockEnv, process_deposit, process_transaction_general
from jovay.stf.transfers import select_apply_transfer

Executor = Callable[[StateOverlay, BatchItem], None]
"""Applies one item to a state (the honest `ItemRules.apply`, or a faulty variant for tests)."""

_apply_transfer = select_apply_transfer()
"""The STF's transfer fast path (native unless JOVAY_PURE=1): process_transaction's own first step."""

DECODE_CHUNK = 1024
"""Transactions decoded ahead in one `decode_many` call: far below the decode memory's size
(jovay.codec.transactions.RECENT_DECODES), so none is forgotten before its item executes."""


@dataclass(frozen=True, slots=True)
class ItemRules:
    """The chain constants an item executes under (genesis: chain id, gas limit; the fee vault)."""

    chain_id: int
    gas_limit: int
    coinbase: bytes = FEE_VAULT

    def env(self, item: BatchItem) -> BlockEnv:
        return self._env(item.number, item.timestamp, item.base_fee)

    @lru_cache(maxsize=64)  # noqa: B019  (frozen, hashable rules; a batch's items share a few blocks)
    def _env(self, number: int, timestamp: int, base_fee: int) -> BlockEnv:
        return BlockEnv(number, timestamp, base_fee, self.gas_limit, self.chain_id, self.coinbase)

    def apply(self, state: StateOverlay, item: BatchItem) -> None:
        """Execute `item`; an item that may not execute leaves `state` as it was.

        A transaction runs as `process_transaction` does: the transfer fast path first (it writes
        nothing unless it succeeds), then the general rules, reverted on `InvalidTransaction`."""
        if item.kind == ITEM_TRANSACTION:
            try:
                signed = decode_transaction(item.payload, expected_chain_id=self.chain_id)
            except InvalidTransaction:
                return
            env = self.env(item)
            if _apply_transfer(state, env, signed, env.gas_limit) is not None:
                return
            snapshot = state.snapshot()
            try:
                process_transaction_general(state, env, signed, env.gas_limit)
            except InvalidTransaction:
                state.revert(snapshot)
        elif item.kind == ITEM_DEPOSIT:
            deposit = decode_deposit_payload(item.payload)
            if deposit is None:
                return
            snapshot = state.snapshot()
            try:
                process_deposit(state, deposit)
            except InvalidTransaction:
                state.revert(snapshot)

    def predecode(self, items: Sequence[BatchItem]) -> None:
        """Decode the transaction items in one native batch call (senders recovered with the GIL
        released, ~5% less CPU than one by one: benchmarks/replay_batch.py); `decode_transaction` in
        `apply` then finds them in the decode memory. `decode_many` gives `decode_transaction`'s result
        per item and remembers only successes, so an item that fails to decode fails the same way in
        `apply` (decoded again there)."""
        payloads = [item.payload for item in items if item.kind == ITEM_TRANSACTION]
        if payloads:
            decode_many(payloads, self.chain_id)


class RecordingOverlay(StateOverlay):
    """A StateOverlay that remembers every key read or written, in first-touch order (the witness)."""

    __slots__ = ("touched",)

    def __init__(self, read: Callable[[int], int]) -> None:
        super().__init__(read)
        self.touched: dict[int, None] = {}

    def get(self, key: int) -> int:
        self.touched.setdefault(key, None)
        return super().get(key)

    def set(self, key: int, value: int) -> None:
        self.touched.setdefault(key, None)
        super().set(key, value)


class _Leaves(dict[int, int]):
    """Leaf values by key; an absent key reads 0, as in the tree (and is not added)."""

    def __missing__(self, key: int) -> int:
        return 0


class LeafMirror:
    """Every leaf of the tree at `root`, as a flat key -> value map: a read of that state without a
    tree walk. It serves only `root`'s state (`post_root` checks), and moves to a new root only with
    the writes that lead there (`advance`). Memory: one dict entry per live leaf (benchmarks/replay_batch.py
    measures it), the latest state only, no history."""

    __slots__ = ("root", "leaves")

    def __init__(self, root: int, leaves: Iterable[tuple[int, int]]) -> None:
        self.root = root
        self.leaves = _Leaves((key, value) for key, value in leaves if value)

    def read(self, root: int) -> Callable[[int], int] | None:
        """The reader of the state at `root`, or None where this mirror holds another state."""
        return self.leaves.__getitem__ if root == self.root else None

    def advance(self, writes: Mapping[int, int], root: int) -> None:
        """Take `writes` (0 = deleted), which lead from this mirror's state to the tree at `root`."""
        leaves = self.leaves
        for key, value in writes.items():
            if value:
                leaves[key] = value
            else:
                leaves.pop(key, None)
        self.root = root


def apply_item(tree: SparseMerkleTree, item: BatchItem, execute: Executor) -> int:
    """Advance `tree` over one item; returns the new root."""
    state = StateOverlay(tree.get)
    execute(state, item)
    return tree.update_many(state.writes())


def post_root(
    store: NodeStore,
    pre_root: int,
    items: Sequence[BatchItem],
    execute: Executor,
    predecode: Callable[[Sequence[BatchItem]], None] | None = None,
    mirror: LeafMirror | None = None,
) -> int:
    """The root after the last of `items` over `pre_root`, equal to `item_roots(...)[-1]`: the items
    execute in order over one overlay (each one's own snapshot/revert as in `execute`), then the tree
    takes the overlay's final writes in ONE update; only the post root's nodes go to `store`.
    `predecode` (e.g. `ItemRules.predecode`) is called on each chunk of items before they execute.
    A `mirror` at `pre_root` serves the reads and moves on to the post root; at any other root it is
    neither read nor changed (the reads walk the tree)."""
    tree = SparseMerkleTree(store, pre_root)
    mirror_read = None if mirror is None else mirror.read(pre_root)
    state = StateOverlay(tree.get if mirror_read is None else mirror_read)
    for start in range(0, len(items), DECODE_CHUNK):
        chunk = items[start : start + DECODE_CHUNK]
        if predecode is not None:
            predecode(chunk)
        for item in chunk:
            execute(state, item)
    root = tree.update_many(state.writes())
    if mirror_read is not None and mirror is not None:
        mirror.advance(state.writes(), root)
    return root


def item_roots(store: NodeStore, pre_root: int, items: Sequence[BatchItem], execute: Executor) -> list[int]:
    """[root before item 0, root after item 0, ..., root after the last item]; nodes go to `store`."""
    tree = SparseMerkleTree(store, pre_root)
    roots = [pre_root]
    for item in items:
        roots.append(apply_item(tree, item, execute))
    return roots


@dataclass(frozen=True, slots=True)
class StepLeaf:
    key: int
    value: int
    proof: L1SmtProof


@dataclass(frozen=True, slots=True)
class StepWitness:
    """What OneStepProof.execute needs for item `index` (besides the roots the game holds)."""

    index: int
    item: BatchItem
    item_proof: list[bytes]
    leaves: list[StepLeaf]
    post_root: int

    def encode(self) -> bytes:
        """abi.encode(Item, bytes32[] itemProof, Leaf[] leaves): the game's `step` argument."""
        item = self.item
        item_tuple = (item.kind, item.number, item.timestamp, item.base_fee, item.payload)
        leaves = [(leaf.key, leaf.value, leaf.proof.as_abi()) for leaf in self.leaves]
        types = [
            "(uint256,uint256,uint256,uint256,bytes)",
            "bytes32[]",
            "(uint256,uint256,(uint256[],uint256,uint256,bool,uint256,uint256))[]",
        ]
        return encode(types, [item_tuple, self.item_proof, leaves])


def step_witness(
    store: NodeStore, pre_root: int, items: Sequence[BatchItem], index: int, execute: Executor
) -> StepWitness:
    """The witness of item `index` over `pre_root`: every leaf the item touches, each proven against the
    root after the leaves before it took their new values (the order OneStepProof rewrites them in)."""
    item = items[index]
    state = RecordingOverlay(SparseMerkleTree(store, pre_root).get)
    execute(state, item)
    tree = SparseMerkleTree(store, pre_root)
    leaves = []
    for key in list(state.touched):
        leaves.append(StepLeaf(key, tree.get(key), l1_proof(store, tree.root, key)))
        tree.set(key, state.get(key))
    return StepWitness(index, item, item_proof(items, index), leaves, tree.root)
