"""contracts/Poseidon.sol and contracts/SparseMerkle.sol on a real anvil, against jovay.crypto.poseidon
and jovay.state.smt (the consensus tree): same hashes, same roots, and forged proofs fail."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.contract import Contract

from jovay.crypto.poseidon import FIELD_MODULUS, poseidon
from jovay.l1.poseidon import PoseidonHashers, circomlibjs_artifacts, poseidon_artifacts
from jovay.l1.poseidon_evm import GENERATED_INPUTS, MAX_CODE_SIZE, runtime_code
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree, leaf_hash
from jovay.state.smt_proofs import L1SmtProof, l1_proof

P = FIELD_MODULUS
field = st.integers(0, P - 1)
nonzero_field = st.integers(1, P - 1)
# Keys sharing their low 40 bits: their leaves sit deep, and inserting one splits over many levels.
deep_keys = st.integers(0, 2**200).map(lambda r: r << 40 | 0xABCDE12345)
keys = st.one_of(field, deep_keys, st.integers(0, 64))
SETTINGS: Any = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def harness(
    w3: Web3, anvil: Any, hashers: PoseidonHashers, test_artifacts: dict[str, CompiledContract]
) -> Contract:
    art = test_artifacts["SparseMerkleHarness"]
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    txm = L1TxManager(w3, anvil.dev_keys[9])
    receipt = txm.send({"data": factory.constructor(*hashers.as_args(), hashers.p5).data_in_transaction})
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


def _tree(items: dict[int, int]) -> SparseMerkleTree:
    tree = SparseMerkleTree(MemoryNodeStore())
    tree.update_many(items)
    return tree


def _proof(tree: SparseMerkleTree, key: int) -> L1SmtProof:
    return l1_proof(tree._store, tree.root, key)  # noqa: SLF001 - the test's own tree


# --- Poseidon -------------------------------------------------------------------------------------------


@SETTINGS
@given(inputs=st.lists(field, min_size=2, max_size=5))
def test_poseidon_matches_python(harness: Contract, inputs: list[int]) -> None:
    f = harness.functions
    fn = {2: f.hash2, 3: f.hash3, 4: f.hash4, 5: f.hash5}[len(inputs)]
    assert fn(*inputs).call() == poseidon(inputs)


def _hasher(w3: Web3, address: str, n: int, kind: str = "uint256") -> Any:
    abi = [
        {
            "type": "function",
            "name": "poseidon",
            "stateMutability": "pure",
            "inputs": [{"name": "input", "type": f"{kind}[{n}]"}],
            "outputs": [{"name": "", "type": kind}],
        }
    ]
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi).functions.poseidon


@pytest.fixture(scope="module")
def circomlibjs_hashers(w3: Web3, anvil: Any) -> dict[int, str]:
    """circomlibjs's own contracts, the reference the generated hashers must equal."""
    txm = L1TxManager(w3, anvil.dev_keys[9])
    return {
        n: txm.send({"data": art.bytecode})["contractAddress"] for n, art in circomlibjs_artifacts().items()
    }


@SETTINGS
@given(n=st.sampled_from(GENERATED_INPUTS), data=st.data())
def test_generated_hashers_equal_circomlibjs_contracts(
    w3: Web3, hashers: PoseidonHashers, circomlibjs_hashers: dict[int, str], n: int, data: st.DataObject
) -> None:
    """Any 256-bit inputs (both reduce mod p), through either ABI signature."""
    inputs = data.draw(st.lists(st.one_of(field, st.integers(0, 2**256 - 1)), min_size=n, max_size=n))
    ours = {2: hashers.p2, 3: hashers.p3}[n]
    expected = _hasher(w3, circomlibjs_hashers[n], n)(inputs).call()
    assert _hasher(w3, ours, n)(inputs).call() == expected == poseidon([x % P for x in inputs])
    as_bytes = [x.to_bytes(32, "big") for x in inputs]
    assert _hasher(w3, ours, n, "bytes32")(as_bytes).call() == expected.to_bytes(32, "big")


def test_generated_hashers_refuse_bad_calls(w3: Web3, hashers: PoseidonHashers) -> None:
    for data in (
        "0x",
        "0x12345678" + "00" * 64,
        _hasher(w3, hashers.p2, 2)([1, 2])._encode_transaction_data()[:-2],
    ):
        with pytest.raises(Exception, match="revert"):
            w3.eth.call({"to": hashers.p2, "data": data})


def test_generated_code_fits_and_is_what_is_deployed(w3: Web3, hashers: PoseidonHashers) -> None:
    for n, address in ((2, hashers.p2), (3, hashers.p3)):
        assert len(runtime_code(n)) <= MAX_CODE_SIZE
        assert w3.eth.get_code(address) == runtime_code(n)
    assert poseidon_artifacts()[4].bytecode == circomlibjs_artifacts()[4].bytecode
    with pytest.raises(ValueError, match="inputs"):
        runtime_code(4)


def test_poseidon_known_vector(harness: Contract) -> None:
    """circomlib's published test vector for poseidon([1, 2])."""
    expected = 0x115CC0F5E7D690413DF64C6B9662E9CF2A3617F2743245519E19607A4417189A
    assert harness.functions.hash2(1, 2).call() == expected == poseidon([1, 2])


# --- parity with the Python tree ----------------------------------------------------------------------


@st.composite
def tree_and_ops(draw: st.DrawFn) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """A random tree and writes to it: inserts, updates, deletes of present and absent keys."""
    items = draw(st.dictionaries(keys, nonzero_field, max_size=12))
    present = sorted(items)
    ops = []
    for _ in range(draw(st.integers(1, 6))):
        key = draw(st.sampled_from(present) if present and draw(st.booleans()) else keys)
        value = draw(st.one_of(st.just(0), nonzero_field, st.integers(1, 3)))
        ops.append((key, value))
    return items, ops


@SETTINGS
@given(case=tree_and_ops())
def test_update_matches_python_tree(
    harness: Contract, case: tuple[dict[int, int], list[tuple[int, int]]]
) -> None:
    items, ops = case
    tree = _tree(items)
    for key, value in ops:
        old_value = tree.get(key)
        proof = _proof(tree, key)
        root = tree.root
        assert harness.functions.read(root, key, proof.as_abi()).call() == old_value
        assert harness.functions.verify(root, key, old_value, proof.as_abi()).call()
        assert not harness.functions.verify(root, key, old_value + 1, proof.as_abi()).call()
        new_root = harness.functions.update(root, key, old_value, value, proof.as_abi()).call()
        assert new_root == tree.set(key, value), (hex(key), old_value, value)


def test_delete_moves_lone_leaf_up_and_empties_tree(harness: Contract) -> None:
    """Keys 0b0001, 0b0011 share their first bit; 0b0000 sits apart: deleting 0b0011 lifts 0b0001 up."""
    tree = _tree({1: 10, 3: 30, 0: 5})
    for key in (3, 1, 0):
        proof = _proof(tree, key)
        new_root = harness.functions.update(tree.root, key, tree.get(key), 0, proof.as_abi()).call()
        assert new_root == tree.set(key, 0)
    assert tree.root == 0


def test_deep_split_insert(harness: Contract) -> None:
    """Two keys agreeing on 200 bits: inserting the second builds 200 levels of one-sided inner nodes."""
    a, b = 5, 5 | 1 << 200
    tree = _tree({a: 1})
    proof = _proof(tree, b)
    assert harness.functions.update(tree.root, b, 0, 7, proof.as_abi()).call() == tree.set(b, 7)
    assert len(_proof(tree, b).siblings) == 201


# --- forged proofs ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> SparseMerkleTree:
    return _tree({k: k * 7 + 1 for k in (1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 1 << 100 | 1)})


def test_tampered_sibling_fails(harness: Contract, sample: SparseMerkleTree) -> None:
    key = 13
    proof = _proof(sample, key)
    siblings = list(proof.siblings)
    siblings[0] ^= 1
    bad = replace(proof, siblings=tuple(siblings)).as_abi()
    assert not harness.functions.verify(sample.root, key, sample.get(key), bad).call()
    with pytest.raises(Exception, match="SparseMerkle: proof does not match root"):
        harness.functions.read(sample.root, key, bad).call()
    with pytest.raises(Exception, match="SparseMerkle: proof does not match root"):
        harness.functions.update(sample.root, key, sample.get(key), 1, bad).call()


def test_wrong_root_fails(harness: Contract, sample: SparseMerkleTree) -> None:
    proof = _proof(sample, 21).as_abi()
    assert not harness.functions.verify(sample.root + 1, 21, sample.get(21), proof).call()
    with pytest.raises(Exception, match="SparseMerkle: proof does not match root"):
        harness.functions.update(sample.root + 1, 21, sample.get(21), 3, proof).call()


def test_wrong_old_value_fails(harness: Contract, sample: SparseMerkleTree) -> None:
    proof = _proof(sample, 8).as_abi()
    with pytest.raises(Exception, match="SparseMerkle: wrong old value"):
        harness.functions.update(sample.root, 8, sample.get(8) + 1, 3, proof).call()
    with pytest.raises(Exception, match="SparseMerkle: wrong old value"):
        harness.functions.update(sample.root, 8, 0, 3, proof).call()
    absent = _proof(sample, 4).as_abi()
    with pytest.raises(Exception, match="SparseMerkle: wrong old value"):
        harness.functions.update(sample.root, 4, 9, 3, absent).call()


def test_forged_non_membership_fails(harness: Contract, sample: SparseMerkleTree) -> None:
    key = 34
    real = _proof(sample, key)
    # claim the path ends empty, or that another leaf ends it
    empty_end = replace(real, leaf_key=0, leaf_value=0).as_abi()
    other = _proof(sample, 2)
    other_leaf = replace(real, leaf_key=2, leaf_value=sample.get(2)).as_abi()
    shorter = replace(real, siblings=real.siblings[:-1], leaf_key=0, leaf_value=0).as_abi()
    for forged in (empty_end, other_leaf, shorter, replace(other, leaf_key=0, leaf_value=0).as_abi()):
        assert not harness.functions.verify(sample.root, key, 0, forged).call()
        with pytest.raises(Exception, match="SparseMerkle: (proof does not match root|malformed proof)"):
            harness.functions.update(sample.root, key, 0, 5, forged).call()


def test_leaf_off_the_key_path_is_malformed(harness: Contract, sample: SparseMerkleTree) -> None:
    """A leaf whose key disagrees with the path bits cannot end that path."""
    absent = 4  # ends at some other key's leaf or empty: force a leaf of another branch
    proof = _proof(sample, absent)
    off_path = replace(proof, leaf_key=1, leaf_value=sample.get(1))
    if proof.siblings and (1 ^ absent) & ((1 << len(proof.siblings)) - 1):
        with pytest.raises(Exception, match="SparseMerkle: malformed proof"):
            harness.functions.read(sample.root, absent, off_path.as_abi()).call()
    assert not harness.functions.verify(sample.root, absent, 0, off_path.as_abi()).call()


def test_out_of_field_inputs_fail(harness: Contract, sample: SparseMerkleTree) -> None:
    """The hashers reduce mod p, so key + p would hash like key: the library refuses such inputs."""
    proof = _proof(sample, 5)
    value = sample.get(5)
    assert not harness.functions.verify(sample.root, 5 + P, value, proof.as_abi()).call()
    assert not harness.functions.verify(sample.root, 5, value + P, proof.as_abi()).call()
    lifted = replace(proof, leaf_key=5 + P)
    assert not harness.functions.verify(sample.root, 5, value, lifted.as_abi()).call()
    siblings = (proof.siblings[0] + P, *proof.siblings[1:])
    with pytest.raises(Exception, match="SparseMerkle: sibling out of field"):
        harness.functions.read(sample.root, 5, replace(proof, siblings=siblings).as_abi()).call()
    with pytest.raises(Exception, match="SparseMerkle: value out of field"):
        harness.functions.update(sample.root, 5, value, P, proof.as_abi()).call()


def test_wrong_sibling_opening_fails_on_delete(harness: Contract) -> None:
    tree = _tree({1: 10, 3: 30, 0: 5})  # 3's last sibling is leaf 1
    proof = _proof(tree, 3)
    assert proof.sibling_is_leaf and (proof.sibling_left, proof.sibling_right) == (1, 10)
    assert proof.siblings[-1] == leaf_hash(1, 10)
    for forged in (
        replace(proof, sibling_is_leaf=False),  # claim inner: the leaf would not move up
        replace(proof, sibling_right=11),
    ):
        with pytest.raises(Exception, match="SparseMerkle: wrong sibling opening"):
            harness.functions.update(tree.root, 3, 30, 0, forged.as_abi()).call()
    tree2 = _tree({0: 1, 2: 2, 1: 3})  # 1's sibling (keys 0 and 2 under bit 0 = 0) is inner
    inner = _proof(tree2, 1)
    assert not inner.sibling_is_leaf
    with pytest.raises(Exception, match="SparseMerkle: wrong sibling opening"):
        harness.functions.update(tree2.root, 1, 3, 0, replace(inner, sibling_is_leaf=True).as_abi()).call()
    assert harness.functions.update(tree2.root, 1, 3, 0, inner.as_abi()).call() == tree2.set(1, 0)
