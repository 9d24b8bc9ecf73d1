"""What every parity test of the one-step proof shares: the chain's rules, the keys that sign, and the
check that runs one item through the Python state machine and through OneStepProof on anvil."""

from __future__ import annotations

from typing import Any

from hypothesis import event

from jovay.codec.batch import BatchItem, item_leaf
from jovay.crypto.secp256k1 import address_of
from jovay.params import BLOCK_GAS_LIMIT, DEFAULT_L2_CHAIN_ID, TOKEN_ADDRESS_PREFIX
from jovay.state.keys import token_balance_key
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from prover.fault.execution import ItemRules, StepWitness, step_witness

CHAIN_ID = DEFAULT_L2_CHAIN_ID
RULES = ItemRules(CHAIN_ID, BLOCK_GAS_LIMIT)
KEYS = [bytes([i + 1]) * 32 for i in range(3)]
SENDERS = [address_of(k) for k in KEYS]
BASE_FEE = 10**7
TOKEN_1 = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
DEPOSITS = [(7, 10**18), (8, 5), (9, 2**126)]  # (recipient byte, value) queued on the Bridge


def check_parity(l1: Any, leaves: dict[int, int], item: BatchItem, record: bool = True) -> None:
    """The root after `item` over the state `leaves` is the same from jovay/stf (through
    prover.fault.execution) and from OneStepProof.execute on anvil, given the same witness."""
    w3, dep, _ = l1
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    if record:
        event(_outcome(store, pre, witness))
    assert execute_on_l1(l1, pre, witness) == witness.post_root


def _outcome(store: MemoryNodeStore, pre: int, witness: StepWitness) -> str:
    """A label for hypothesis' statistics: did tokens move, did anything change, or was the item skipped."""
    tokens_moved = any(
        leaf.key == token_balance_key(TOKEN_1, holder)
        and SparseMerkleTree(store, witness.post_root).get(leaf.key) != leaf.value
        for leaf in witness.leaves
        for holder in [*SENDERS, b"\x11" * 20]
    )
    if tokens_moved:
        return "tokens moved"
    return "state changed" if witness.post_root != pre else "item skipped"


def execute_on_l1(l1: Any, pre: int, witness: StepWitness) -> int:
    """The post-state root OneStepProof.execute computes on anvil for a witness of item 0 (reverts raise)."""
    w3, dep, _ = l1
    call = dep.one_step_proof(w3).functions.execute(
        pre.to_bytes(32, "big"), item_leaf(witness.item), 1, 0, witness.encode()
    )
    return int.from_bytes(call.call(), "big")
