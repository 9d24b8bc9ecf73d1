"""The L1 form of state proofs (jovay/state/smt_proofs.py): every kind of path end, the last sibling's
opening, JSON round trips, and the Python check that mirrors `SparseMerkle.verify`."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.crypto.poseidon import FIELD_MODULUS
from jovay.errors import CriticalError
from jovay.state.smt import LEAF, MemoryNodeStore, SparseMerkleTree, inner_hash, leaf_hash
from jovay.state.smt_proofs import L1SmtProof, l1_proof, verify_l1_proof

keys = st.one_of(st.integers(0, FIELD_MODULUS - 1), st.integers(0, 64))


def _tree(items: dict[int, int]) -> tuple[MemoryNodeStore, SparseMerkleTree]:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    tree.update_many(items)
    return store, tree


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(keys, st.integers(1, FIELD_MODULUS - 1), max_size=10), keys)
def test_proofs_show_the_tree_value(items: dict[int, int], key: int) -> None:
    store, tree = _tree(items)
    proof = l1_proof(store, tree.root, key)
    value = tree.get(key)
    assert verify_l1_proof(tree.root, key, value, proof)
    assert not verify_l1_proof(tree.root, key, value + 1, proof)
    assert L1SmtProof.from_json(proof.to_json()) == proof
    if proof.siblings:  # the opening is the last sibling's node
        opened = (
            leaf_hash(proof.sibling_left, proof.sibling_right)
            if proof.sibling_is_leaf
            else inner_hash(proof.sibling_left, proof.sibling_right)
        )
        assert opened == proof.siblings[-1]


def test_path_ends() -> None:
    store, tree = _tree({1: 10, 3: 30, 0: 5})
    own = l1_proof(store, tree.root, 3)
    assert (own.leaf_key, own.leaf_value, own.sibling_is_leaf) == (3, 30, True)
    assert store.get(own.siblings[-1]) == (LEAF, 1, 10)
    other = l1_proof(store, tree.root, 7)  # 7 = 0b111 follows 3's path to its leaf
    assert (other.leaf_key, other.leaf_value) == (3, 30)
    assert verify_l1_proof(tree.root, 7, 0, other)
    empty = l1_proof(store, 0, 5)
    assert empty == L1SmtProof(())
    assert verify_l1_proof(0, 5, 0, empty) and not verify_l1_proof(0, 5, 1, empty)


def test_forged_non_membership_fails() -> None:
    store, tree = _tree({1: 10, 3: 30, 0: 5, 8: 80})
    real = l1_proof(store, tree.root, 3)
    assert not verify_l1_proof(tree.root, 3, 0, replace(real, leaf_key=0, leaf_value=0))
    assert not verify_l1_proof(tree.root, 3, 0, replace(real, leaf_key=11))
    assert not verify_l1_proof(tree.root + 1, 3, 30, real)


def test_missing_node_is_critical() -> None:
    store, tree = _tree({1: 10, 3: 30})
    other = MemoryNodeStore()
    for h, node in store.nodes.items():
        if node[0] != LEAF:
            other.put(h, node)
    with pytest.raises(CriticalError, match="missing"):
        l1_proof(other, tree.root, 3)
