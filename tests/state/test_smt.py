"""The state tree equals circomlibjs's SMT: roots after every write, find() results, proofs."""

from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.crypto.poseidon import FIELD_MODULUS, poseidon
from jovay.errors import CriticalError
from jovay.state.smt import (
    LEAF,
    MemoryNodeStore,
    SmtProof,
    SparseMerkleTree,
    decode_node,
    encode_node,
    inner_hash,
    leaf_hash,
    root_to_bytes,
    verify_proof,
)

ROOT = Path(__file__).resolve().parents[2]
VECTOR_SCRIPT = ROOT / "tests" / "vectors" / "gen_circomlib_vectors.mjs"
P = FIELD_MODULUS

needs_circomlibjs = pytest.mark.skipif(
    not (ROOT / "node_modules" / "circomlibjs").is_dir() or shutil.which("node") is None,
    reason="circomlibjs reference vectors need node and node_modules/circomlibjs (run `npm ci`)",
)


@cache
def circomlib_smt() -> dict[str, Any]:
    out = subprocess.run(
        ["node", str(VECTOR_SCRIPT)], cwd=ROOT, check=True, capture_output=True, text=True, timeout=120
    )
    return json.loads(out.stdout)["smt"]


def step_write(step: dict[str, str]) -> tuple[int, int]:
    return int(step["key"]), 0 if step["op"] == "delete" else int(step["value"])


def tree_of(items: dict[int, int]) -> SparseMerkleTree:
    tree = SparseMerkleTree(MemoryNodeStore())
    tree.update_many(items)
    return tree


# --- circomlibjs vectors ---------------------------------------------------------------------------


@needs_circomlibjs
def test_root_after_every_write_equals_circomlibjs() -> None:
    steps = circomlib_smt()["steps"]
    assert {s["op"] for s in steps} == {"insert", "update", "delete"}
    tree = SparseMerkleTree(MemoryNodeStore())
    for step in steps:
        tree.set(*step_write(step))
        assert tree.root == int(step["root"]), step


@needs_circomlibjs
@pytest.mark.parametrize("chunk", [2, 5, 13, 1000])
def test_update_many_in_chunks_equals_circomlibjs(chunk: int) -> None:
    steps = circomlib_smt()["steps"]
    tree = SparseMerkleTree(MemoryNodeStore())
    for start in range(0, len(steps), chunk):
        part = steps[start : start + chunk]
        writes = dict(step_write(s) for s in part)  # later writes of a key win, as in a block
        assert tree.update_many(writes) == int(part[-1]["root"])


@needs_circomlibjs
def test_final_map_in_a_fresh_tree_equals_circomlibjs() -> None:
    smt = circomlib_smt()
    final = {int(k): int(v) for k, v in smt["final"]}
    assert tree_of(final).root == int(smt["root"])
    assert tree_of(dict(reversed(list(final.items())))).root == int(smt["root"])


@needs_circomlibjs
def test_proofs_equal_circomlibjs_find_and_verify() -> None:
    smt = circomlib_smt()
    tree = tree_of({int(k): int(v) for k, v in smt["final"]})
    finds = smt["finds"]
    assert {(f["found"], f["isOld0"]) for f in finds} == {(True, False), (False, False), (False, True)}
    for found in finds:
        key = int(found["key"])
        expected = SmtProof(
            siblings=tuple(int(s) for s in found["siblings"]),
            found=found["found"],
            found_value=int(found["foundValue"]),
            not_found_key=int(found["notFoundKey"]),
            not_found_value=int(found["notFoundValue"]),
            is_old0=found["isOld0"],
        )
        proof = tree.prove(key)
        assert proof == expected, key
        value = tree.get(key)
        assert value == expected.found_value
        assert verify_proof(tree.root, key, value, proof)


# --- proofs that must fail --------------------------------------------------------------------------

PREFIX_KEYS = [5, 5 + (1 << 20), 5 + (1 << 40), 9, 1 << 100, 7 + (1 << 3), P - 1, 0]


@pytest.fixture(scope="module")
def sample_tree() -> SparseMerkleTree:
    return tree_of({k: 1000 + i for i, k in enumerate(PREFIX_KEYS)})


def test_tampered_sibling_fails(sample_tree: SparseMerkleTree) -> None:
    for key in PREFIX_KEYS:
        proof = sample_tree.prove(key)
        assert verify_proof(sample_tree.root, key, sample_tree.get(key), proof)
        depth = len(proof.siblings)
        for i in sorted({0, depth // 2, depth - 1}) if depth else []:
            siblings = list(proof.siblings)
            siblings[i] = (siblings[i] + 1) % P
            forged = dataclasses.replace(proof, siblings=tuple(siblings))
            assert not verify_proof(sample_tree.root, key, sample_tree.get(key), forged)
        # dropping or adding a level fails too
        if proof.siblings:
            shallower = dataclasses.replace(proof, siblings=proof.siblings[:-1])
            assert not verify_proof(sample_tree.root, key, sample_tree.get(key), shallower)
        deeper = dataclasses.replace(proof, siblings=(*proof.siblings, 0))
        assert not verify_proof(sample_tree.root, key, sample_tree.get(key), deeper)


def test_wrong_root_or_value_fails(sample_tree: SparseMerkleTree) -> None:
    key = PREFIX_KEYS[1]
    proof = sample_tree.prove(key)
    value = sample_tree.get(key)
    assert verify_proof(sample_tree.root, key, value, proof)
    assert not verify_proof((sample_tree.root + 1) % P, key, value, proof)
    assert not verify_proof(0, key, value, proof)
    assert not verify_proof(sample_tree.root, key, value + 1, proof)
    assert not verify_proof(sample_tree.root, PREFIX_KEYS[0], value, proof)
    assert not verify_proof(sample_tree.root, key, P + value, proof)


def test_present_key_has_no_non_membership_proof(sample_tree: SparseMerkleTree) -> None:
    root = sample_tree.root
    for key in PREFIX_KEYS:
        proof = sample_tree.prove(key)
        value = sample_tree.get(key)
        assert proof.found and value
        assert not verify_proof(root, key, 0, proof)
        as_absent = dataclasses.replace(proof, found=False, found_value=0)
        assert not verify_proof(root, key, 0, as_absent)
        assert not verify_proof(root, key, 0, dataclasses.replace(as_absent, is_old0=True))
        own_leaf = dataclasses.replace(as_absent, not_found_key=key, not_found_value=value)
        assert not verify_proof(root, key, 0, own_leaf)


def test_absent_key_has_no_membership_proof(sample_tree: SparseMerkleTree) -> None:
    root = sample_tree.root
    for key in [5 + (1 << 21), 5 + (1 << 60), 6, 3, 1 << 101]:
        proof = sample_tree.prove(key)
        assert not proof.found
        assert verify_proof(root, key, 0, proof)
        assert not verify_proof(root, key, 1, proof)
        assert not verify_proof(root, key, 1, dataclasses.replace(proof, found=True, found_value=1))
        if not proof.is_old0:  # the leaf met on the path is another key's
            assert not verify_proof(root, proof.not_found_key, 0, proof)
            assert not verify_proof(root, key, 0, dataclasses.replace(proof, not_found_value=1))
            assert not verify_proof(root, key, 0, dataclasses.replace(proof, is_old0=True))


def test_non_membership_via_a_leaf_off_the_path_fails(sample_tree: SparseMerkleTree) -> None:
    # A real leaf's proof, claimed for an absent key whose path it is not on.
    leaf = PREFIX_KEYS[3]
    proof = sample_tree.prove(leaf)
    forged = SmtProof(proof.siblings, False, not_found_key=leaf, not_found_value=sample_tree.get(leaf))
    assert not verify_proof(sample_tree.root, leaf + 1, 0, forged)


# --- order independence, history, storage ------------------------------------------------------------

key_pool = st.sampled_from(
    [0, 1, 2, 3, 6, 1 << 20, 1 + (1 << 20), 1 + (1 << 40), 3 + (1 << 200), P - 1, P - 2, 12345, 12345 << 30]
) | st.integers(min_value=0, max_value=P - 1)
value_st = st.sampled_from([0, 0, 1, P - 1]) | st.integers(min_value=0, max_value=P - 1)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(key_pool, value_st), max_size=25),
    st.lists(st.tuples(key_pool, value_st), max_size=25),
    st.randoms(use_true_random=False),
)
def test_update_many_equals_sequential_sets_and_fresh_build(
    first: list[tuple[int, int]], second: list[tuple[int, int]], rng: random.Random
) -> None:
    sequential = SparseMerkleTree(MemoryNodeStore())
    for key, value in first + second:
        sequential.set(key, value)

    batched = SparseMerkleTree(MemoryNodeStore())
    batched.update_many(dict(first))
    batched.update_many(dict(second))
    assert batched.root == sequential.root

    final = {k: v for k, v in dict(first + second).items() if v}
    shuffled = list(final.items())
    rng.shuffle(shuffled)
    fresh = tree_of(dict(shuffled))
    assert fresh.root == sequential.root
    for key in {k for k, _ in first + second}:
        assert sequential.get(key) == final.get(key, 0)
        assert verify_proof(fresh.root, key, final.get(key, 0), fresh.prove(key))


def test_historical_roots_stay_readable() -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    history = []
    state: dict[int, int] = {}
    for block in range(6):
        writes = {k: (block * 31 + k) % 5 for k in PREFIX_KEYS}  # includes deletes (value 0)
        tree.update_many(writes)
        state.update(writes)
        history.append((tree.root, dict(state)))
    for root, snapshot in history:
        old = SparseMerkleTree(store, root)
        for key, value in snapshot.items():
            assert old.get(key) == value
            assert verify_proof(root, key, value, old.prove(key))
        assert old.root == tree_of(snapshot).root


def test_empty_tree() -> None:
    tree = SparseMerkleTree(MemoryNodeStore())
    assert tree.root == 0
    assert tree.get(5) == 0
    proof = tree.prove(5)
    assert proof == SmtProof((), False, not_found_key=5, is_old0=True)
    assert verify_proof(0, 5, 0, proof)
    assert tree.set(5, 0) == 0
    assert tree.update_many({}) == 0


def test_single_leaf_is_the_root_and_delete_empties() -> None:
    tree = SparseMerkleTree(MemoryNodeStore())
    assert tree.set(7, 9) == poseidon([7, 9, 1])
    tree.set(7 + (1 << 50), 1)
    assert tree.set(7 + (1 << 50), 0) == poseidon([7, 9, 1])  # the deep leaf collapses back up
    assert tree.set(7, 0) == 0


def test_unchanged_value_writes_no_nodes() -> None:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    tree.update_many({k: 1 for k in PREFIX_KEYS})
    before, count = tree.root, len(store)
    assert tree.update_many({PREFIX_KEYS[2]: 1, 424242: 0}) == before
    assert len(store) == count


def test_node_encoding_roundtrip() -> None:
    tree = tree_of({k: P - 1 - i for i, k in enumerate(PREFIX_KEYS)})
    nodes = tree._store.nodes  # type: ignore[attr-defined]
    assert {node[0] for node in nodes.values()} == {0, 1}
    for node in nodes.values():
        encoded = encode_node(node)
        assert len(encoded) == 65
        assert decode_node(encoded) == node
    assert encode_node((1, 2, 3)) == b"\x01" + (2).to_bytes(32, "big") + (3).to_bytes(32, "big")
    for bad in [b"", b"\x02" + bytes(64), bytes(64), bytes(66)]:
        with pytest.raises(ValueError):
            decode_node(bad)
    with pytest.raises(ValueError):
        encode_node((2, 0, 0))


def test_root_to_bytes() -> None:
    assert root_to_bytes(0) == bytes(32)
    assert root_to_bytes(P - 1) == (P - 1).to_bytes(32, "big")


def test_out_of_range_writes_and_reads_are_rejected() -> None:
    tree = SparseMerkleTree(MemoryNodeStore())
    for bad in [P, -1]:
        with pytest.raises(ValueError):
            tree.set(bad, 1)
        with pytest.raises(ValueError):
            tree.set(1, bad)
        with pytest.raises(ValueError):
            tree.get(bad)
        with pytest.raises(ValueError):
            tree.prove(bad)
        with pytest.raises(ValueError):
            SparseMerkleTree(MemoryNodeStore(), bad)
    assert tree.root == 0


def test_missing_node_is_critical() -> None:
    tree = SparseMerkleTree(MemoryNodeStore(), root=12345)
    with pytest.raises(CriticalError):
        tree.get(1)
    with pytest.raises(CriticalError):
        tree.set(1, 1)


@settings(max_examples=20, deadline=None)
@given(
    batches=st.lists(
        st.dictionaries(st.integers(0, 200), st.one_of(st.just(0), st.integers(1, 5)), max_size=40),
        min_size=1,
        max_size=6,
    )
)
def test_batched_hashing_stores_true_nodes_and_agrees_across_paths(batches: list[dict[int, int]]) -> None:
    """Every node a batched update stores hashes to its key (deletions included), and the JOVAY_PURE=1
    twins of the batch hashes give the same roots."""
    roots = []
    for pure_path in (False, True):
        with pytest.MonkeyPatch.context() as patch:
            if pure_path:
                patch.setenv("JOVAY_PURE", "1")
            store = MemoryNodeStore()
            tree = SparseMerkleTree(store)
            roots.append([tree.update_many(batch) for batch in batches])
            for h, (tag, a, b) in store.nodes.items():
                assert h == (leaf_hash(a, b) if tag == LEAF else inner_hash(a, b))
    assert roots[0] == roots[1]
