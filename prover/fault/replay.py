"""Re-derivation of every batch's per-item roots from L1 data alone (batch calldata, deposit queue).

Both sides of a game use it: the challenger with the honest rule, to find and fight a wrong output; the
proposer to compute the outputs it posts and the midpoint roots it claims. The state lives in memory:
a node store that keeps every version of the tree, so any step's witness can be built later.
"""

from __future__ import annotations

from web3 import Web3

from jovay.codec.batch import BatchItem, batch_items, decode_batch
from jovay.errors import TemporaryError
from jovay.l1.contracts import L1Deployment
from jovay.l1.derivation import batch_deposits, fetch_batch_data
from jovay.l1.watcher import L1Watcher
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.stf.genesis import Genesis
from prover.fault.execution import Executor, ItemRules, StepWitness, item_roots, step_witness


class Replayer:
    """Per-item roots of committed batches, computed on demand and cached."""

    def __init__(
        self,
        w3: Web3,
        deployment: L1Deployment,
        watcher: L1Watcher,
        genesis: Genesis,
        execute: Executor | None = None,
    ) -> None:
        self.w3 = w3
        self.rollup = deployment.rollup(w3)
        self.watcher = watcher
        self.rules = ItemRules(genesis.chain_id, genesis.gas_limit)
        self.execute = execute or self.rules.apply
        self.store = MemoryNodeStore()
        self.genesis_root = SparseMerkleTree(self.store).update_many(genesis.state_writes())
        self._items: dict[int, list[BatchItem]] = {}
        self._roots: dict[int, list[int]] = {}

    def reset(self, execute: Executor | None = None) -> None:
        """Forget the computed roots (the items stay: they are L1 data), e.g. after a rule change."""
        if execute is not None:
            self.execute = execute
        self._roots.clear()

    def items(self, index: int) -> list[BatchItem]:
        if index not in self._items:
            if index >= len(self.watcher.batches):
                raise TemporaryError(f"batch {index} is not known from L1 yet")
            batch = self.watcher.batches[index]
            blocks = decode_batch(fetch_batch_data(self.w3, self.rollup, batch))
            self._items[index] = batch_items(blocks, batch_deposits(self.watcher, batch, blocks))
        return self._items[index]

    def roots(self, index: int) -> list[int]:
        """[root before the batch, after item 0, ..., after its last item] for batch `index`."""
        first = next((i for i in range(index, -1, -1) if i in self._roots), -1)
        pre = self._roots[first][-1] if first >= 0 else self.genesis_root
        for i in range(first + 1, index + 1):
            self._roots[i] = item_roots(self.store, pre, self.items(i), self.execute)
            pre = self._roots[i][-1]
        return self._roots[index]

    def output_root(self, index: int) -> int:
        return self.roots(index)[-1]

    def witness(self, index: int, step: int) -> StepWitness:
        """The honest witness of item `step` of batch `index` over this replay's root before it."""
        return step_witness(self.store, self.roots(index)[step], self.items(index), step, self.rules.apply)
