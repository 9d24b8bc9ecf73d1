"""Re-derivation of every batch's outputs, and per-item roots when a game needs them, from L1 data alone
(batch calldata, the deposit queue).

Both sides of a game use it: the challenger with the honest rule, to find and fight a wrong output; the
proposer to compute the outputs it posts and the midpoint roots it claims. Proposing and checking an
output needs only the root after a batch, which one tree update gives (`post_root`); the root after
every item (a tree update each) is computed only for a batch a game is played on (`roots`, `witness`),
starting from the previous batch's post root. The state lives in memory, in a node store that keeps
every version of the tree computed since the last finalized output, so any step of a batch that can
still be disputed has its witness. Memory stays bounded: `forget_finalized` drops the roots and items
of finalized batches (no game can open on them), and once the store has doubled since it was last
pruned, it keeps only the trees the unfinalized batches still need (their post roots, and the per-item
roots of those in a game).

Reads of the state a batch starts from go through a `LeafMirror` of the latest post root computed in
order (one dict entry per live leaf, no history) rather than a tree walk each; a batch computed over
any other root (after a reset, a recomputation from the base) walks the tree, and the mirror waits
for the chain of post roots to come back to its root.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from web3 import Web3

from jovay.codec.batch import BatchItem, batch_items, decode_batch
from jovay.errors import CriticalError, TemporaryError
from jovay.l1.contracts import L1Deployment
from jovay.l1.derivation import batch_deposits, fetch_batch_data
from jovay.l1.watcher import L1Watcher
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.stf.genesis import Genesis
from prover.fault.execution import (
    Executor,
    ItemRules,
    LeafMirror,
    StepWitness,
    item_roots,
    post_root,
    step_witness,
)

MIN_PRUNE_NODES = 50_000
"""Below this many nodes the store is not pruned (copying the live trees would cost more than it saves)."""


class BatchReplay(ABC):
    """Post roots and per-item roots of batches, computed on demand over the state after the last
    finalized batch; where the items come from is the subclass's business."""

    def __init__(
        self,
        genesis: Genesis,
        execute: Executor | None = None,
        min_prune_nodes: int = MIN_PRUNE_NODES,
    ) -> None:
        self.rules = ItemRules(genesis.chain_id, genesis.gas_limit)
        self.execute = execute or self.rules.apply
        self.store = MemoryNodeStore()
        writes = genesis.state_writes()
        self.genesis_root = SparseMerkleTree(self.store).update_many(writes)
        self.mirror = LeafMirror(self.genesis_root, writes.items())  # the tree started empty: complete
        self.base_index = 0  # batches below it are finalized: their roots and items are gone
        self.base_root = self.genesis_root  # the state after batch base_index - 1
        self.min_prune_nodes = min_prune_nodes
        self._prune_above = min_prune_nodes
        self._items: dict[int, list[BatchItem]] = {}
        self._posts: dict[int, int] = {}  # batch index -> root after its last item
        self._roots: dict[int, list[int]] = {}  # per-item roots, only of batches a game asked for

    @abstractmethod
    def load_items(self, index: int) -> list[BatchItem]:
        """Batch `index`'s items, from wherever the data lives (L1 for the services)."""

    def reset(self, execute: Executor | None = None) -> None:
        """Forget the computed roots (the items stay: they are L1 data), e.g. after a rule change."""
        if execute is not None:
            self.execute = execute
        self._posts.clear()
        self._roots.clear()

    def items(self, index: int) -> list[BatchItem]:
        self._check_not_finalized(index)
        if index not in self._items:
            self._items[index] = self.load_items(index)
        return self._items[index]

    def output_root(self, index: int) -> int:
        """The root after batch `index`'s last item (what a proposal claims), one tree update per batch
        for it and any batch before it not computed yet."""
        self._check_not_finalized(index)
        known = next((i for i in range(index, self.base_index - 1, -1) if i in self._posts), None)
        pre = self.base_root if known is None else self._posts[known]
        for i in range(self.base_index if known is None else known + 1, index + 1):
            pre = post_root(self.store, pre, self.items(i), self.execute, self.rules.predecode, self.mirror)
            self._posts[i] = pre
        return self._posts[index]

    def pre_root(self, index: int) -> int:
        """The root before batch `index`: the previous batch's post root (the base for the first)."""
        self._check_not_finalized(index)
        return self.base_root if index == self.base_index else self.output_root(index - 1)

    def roots(self, index: int) -> list[int]:
        """[root before the batch, after item 0, ..., after its last item] for batch `index` (a tree
        update per item: only bisection and witnesses need them)."""
        if index not in self._roots:
            post = self.output_root(index)  # first: it moves the leaf mirror along the chain of posts
            roots = item_roots(self.store, self.pre_root(index), self.items(index), self.execute)
            if post != roots[-1]:
                raise CriticalError(
                    f"batch {index}: the root after its last item is 0x{roots[-1]:064x}, "
                    f"its one-pass post root 0x{post:064x}"
                )
            self._roots[index] = roots
        return self._roots[index]

    def witness(self, index: int, step: int) -> StepWitness:
        """The honest witness of item `step` of batch `index` over this replay's root before it."""
        return step_witness(self.store, self.roots(index)[step], self.items(index), step, self.rules.apply)

    def forget_finalized(self, finalized_count: int) -> None:
        """Batches below `finalized_count` have finalized outputs: keep only the state after the last
        of them, and prune the node store once it has doubled since it was last pruned."""
        if finalized_count <= self.base_index:
            return
        self.base_root = self.output_root(finalized_count - 1)
        for cache in (self._posts, self._roots, self._items):
            for index in [i for i in cache if i < finalized_count]:
                del cache[index]
        self.base_index = finalized_count
        if len(self.store) > self._prune_above:
            live = [
                self.base_root,
                *self._posts.values(),
                *(root for roots in self._roots.values() for root in roots),
            ]
            self.store = self.store.pruned(live)
            self._prune_above = max(2 * len(self.store), self.min_prune_nodes)

    def _check_not_finalized(self, index: int) -> None:
        if index < self.base_index:
            raise ValueError(f"batch {index} is finalized (below {self.base_index}): its roots are forgotten")


class Replayer(BatchReplay):
    """BatchReplay of the batches committed on L1, as the watcher has seen them."""

    def __init__(
        self,
        w3: Web3,
        deployment: L1Deployment,
        watcher: L1Watcher,
        genesis: Genesis,
        execute: Executor | None = None,
        min_prune_nodes: int = MIN_PRUNE_NODES,
    ) -> None:
        super().__init__(genesis, execute, min_prune_nodes)
        self.w3 = w3
        self.rollup = deployment.rollup(w3)
        self.watcher = watcher

    def load_items(self, index: int) -> list[BatchItem]:
        if index >= len(self.watcher.batches):
            raise TemporaryError(f"batch {index} is not known from L1 yet")
        batch = self.watcher.batches[index]
        blocks = decode_batch(fetch_batch_data(self.w3, self.rollup, batch))
        return batch_items(blocks, batch_deposits(self.watcher, batch, blocks))
