"""State proofs in the form L1 takes them (`SparseMerkle.Proof` in contracts/SparseMerkle.sol).

`SparseMerkleTree.prove` answers circomlibjs's `find()`; the contract wants the node that ends the key's
path (its own leaf, another key's leaf, or nothing) and, to delete, the opening of the last sibling
(whether a lone leaf is left behind that must move up). `l1_proof` builds that from the node store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jovay.errors import CriticalError
from jovay.state.smt import LEAF, NodeStore, SmtProof, SparseMerkleTree, verify_proof


@dataclass(frozen=True, slots=True)
class L1SmtProof:
    """`SparseMerkle.Proof`: siblings root side first; the leaf that ends the path (`leaf_value` 0
    when the path ends empty); the last sibling opened (a leaf's key and value, or an inner node's
    children)."""

    siblings: tuple[int, ...]
    leaf_key: int = 0
    leaf_value: int = 0
    sibling_is_leaf: bool = False
    sibling_left: int = 0
    sibling_right: int = 0

    def as_abi(self) -> tuple[list[int], int, int, bool, int, int]:
        """The tuple web3 encodes for the Solidity struct."""
        return (
            list(self.siblings),
            self.leaf_key,
            self.leaf_value,
            self.sibling_is_leaf,
            self.sibling_left,
            self.sibling_right,
        )

    def to_json(self) -> dict[str, Any]:
        """Hex quantities, as JSON-RPC carries them."""
        return {
            "siblings": [hex(s) for s in self.siblings],
            "leafKey": hex(self.leaf_key),
            "leafValue": hex(self.leaf_value),
            "siblingIsLeaf": self.sibling_is_leaf,
            "siblingLeft": hex(self.sibling_left),
            "siblingRight": hex(self.sibling_right),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> L1SmtProof:
        return cls(
            tuple(int(s, 16) for s in d["siblings"]),
            int(d["leafKey"], 16),
            int(d["leafValue"], 16),
            bool(d["siblingIsLeaf"]),
            int(d["siblingLeft"], 16),
            int(d["siblingRight"], 16),
        )


def from_smt_proof(key: int, proof: SmtProof) -> L1SmtProof:
    """The contract's form of a `find()` proof, without the sibling opening (reading needs none)."""
    if proof.found:
        return L1SmtProof(proof.siblings, key, proof.found_value)
    if proof.is_old0:
        return L1SmtProof(proof.siblings)
    return L1SmtProof(proof.siblings, proof.not_found_key, proof.not_found_value)


def to_smt_proof(key: int, proof: L1SmtProof) -> SmtProof:
    """Back to the `find()` form (the sibling opening is dropped: reading does not need it)."""
    if proof.leaf_value and proof.leaf_key == key:
        return SmtProof(proof.siblings, True, found_value=proof.leaf_value)
    if not proof.leaf_value:
        return SmtProof(proof.siblings, False, not_found_key=key, is_old0=True)
    return SmtProof(proof.siblings, False, not_found_key=proof.leaf_key, not_found_value=proof.leaf_value)


def verify_l1_proof(root: int, key: int, value: int, proof: L1SmtProof) -> bool:
    """What `SparseMerkle.verify` answers, computed in Python: clients check before paying L1 gas."""
    return verify_proof(root, key, value, to_smt_proof(key, proof))


def l1_proof(store: NodeStore, root: int, key: int) -> L1SmtProof:
    """key's proof under root, with the last sibling opened so the contract can also delete the key."""
    proof = from_smt_proof(key, SparseMerkleTree(store, root).prove(key))
    if not proof.siblings:
        return proof
    last = proof.siblings[-1]
    node = store.get(last)
    if node is None:
        raise CriticalError(f"state tree node {last:#066x} is missing from the node store")
    tag, a, b = node
    return L1SmtProof(proof.siblings, proof.leaf_key, proof.leaf_value, tag == LEAF, a, b)
