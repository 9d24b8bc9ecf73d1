"""The client-side account proof verifier: valid eth_getProof answers pass, every forgery fails."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jovay.crypto.poseidon import FIELD_MODULUS
from jovay.params import MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.methods import EthApi
from jovay.rpc.rollup import RollupApi
from jovay.sdk import AccountState, ProofError, verify_account_proof
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, address_hex, raw_tx

ALICE, BOB = ADDRESSES[:2]
FUNDED = ADDRESSES[:6]


@dataclass
class Proofs:
    root: bytes
    get: Any  # address -> eth_getProof answer at the head

    def of(self, address: bytes) -> dict[str, Any]:
        return copy.deepcopy(self.get(address))


@pytest.fixture(scope="module")
def proofs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proofs]:
    """A chain with several accounts (so paths have siblings) and one sent transaction (a nonce)."""
    alloc = {address: (i + 1) * ETH for i, address in enumerate(FUNDED)}
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc=alloc)
    chain = Chain(tmp_path_factory.mktemp("sdk"), genesis)
    sequencer = Sequencer(chain)
    raw = raw_tx(KEYS[0], nonce=0, to=BOB, value=7, max_fee=4 * MIN_BASE_FEE, tip=SUGGESTED_PRIORITY_FEE)
    sequencer.submit(raw)
    sequencer.produce_block()
    eth = EthApi(chain, sequencer)
    rollup = RollupApi(chain, None, eth)
    cache: dict[bytes, dict[str, Any]] = {}

    def get(address: bytes) -> dict[str, Any]:
        if address not in cache:
            cache[address] = rollup.eth_getProof([address_hex(address), [], "latest"])
        return cache[address]

    yield Proofs(chain.head.state_root, get)
    chain.close()


def absent_proofs(proofs: Proofs) -> tuple[dict[str, Any], dict[str, Any]]:
    """Non-membership proofs of both kinds: the path ends at another leaf, and it ends empty."""
    other_leaf = empty = None
    for i in range(1, 200):
        proof = proofs.of(bytes([0xAB]) + i.to_bytes(19, "big"))
        if proof["smtProof"]["isOld0"]:
            empty = empty or proof
        else:
            other_leaf = other_leaf or proof
        if other_leaf and empty:
            return other_leaf, empty
    raise AssertionError("no non-membership proofs of both kinds among 200 addresses")


def rejects(proofs: Proofs, proof: dict[str, Any], root: bytes | None = None) -> str:
    with pytest.raises(ProofError) as info:
        verify_account_proof(proofs.root if root is None else root, proof)
    return str(info.value)


def set_sibling(proof: dict[str, Any], index: int, value: str) -> None:
    proof["smtProof"]["siblings"][index] = value
    proof["accountProof"][index] = value


# --- valid proofs --------------------------------------------------------------------------------------


def test_membership_proofs_verify(proofs: Proofs) -> None:
    alice = verify_account_proof(proofs.root, proofs.of(ALICE))
    assert alice == AccountState(ALICE, 1, alice.balance, True) and 0 < alice.balance < ETH
    assert verify_account_proof(proofs.root, proofs.of(BOB)) == AccountState(BOB, 0, 2 * ETH + 7, True)
    for address in FUNDED:
        assert len(proofs.of(address)["smtProof"]["siblings"]) > 0


def test_non_membership_proofs_of_both_kinds_verify(proofs: Proofs) -> None:
    for proof in absent_proofs(proofs):
        address = bytes.fromhex(proof["address"][2:])
        assert verify_account_proof(proofs.root, proof) == AccountState(address, 0, 0, False)


def test_account_proof_list_is_optional(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    del proof["accountProof"], proof["stateRoot"]
    assert verify_account_proof(proofs.root, proof).balance == 2 * ETH + 7


# --- forgeries -----------------------------------------------------------------------------------------


def test_tampered_sibling_fails(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    sibling = int(proof["smtProof"]["siblings"][0], 16)
    set_sibling(proof, 0, hex((sibling + 1) % FIELD_MODULUS))
    assert "does not lead to root" in rejects(proofs, proof)


def test_sibling_list_that_disagrees_with_the_smt_proof_fails(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    proof["accountProof"][0] = "0x" + "00" * 32
    assert "accountProof differs" in rejects(proofs, proof)


def test_dropped_or_added_sibling_fails(proofs: Proofs) -> None:
    shorter, longer = proofs.of(BOB), proofs.of(BOB)
    shorter["smtProof"]["siblings"].pop()
    shorter["accountProof"].pop()
    longer["smtProof"]["siblings"].append("0x0")
    longer["accountProof"].append("0x0")
    rejects(proofs, shorter)
    rejects(proofs, longer)


def test_wrong_root_fails(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    wrong = (int.from_bytes(proofs.root, "big") ^ 1).to_bytes(32, "big")
    assert "expected" in rejects(proofs, proof, wrong)  # the answer names another root
    del proof["stateRoot"]
    assert "does not lead to root" in rejects(proofs, proof, wrong)
    rejects(proofs, proof, b"\xff" * 32)  # not a field element
    rejects(proofs, proof, proofs.root[:31])


def test_wrong_balance_or_nonce_fails(proofs: Proofs) -> None:
    for name, value in (("balance", hex(2 * ETH + 8)), ("nonce", "0x1"), ("balance", "0x0")):
        proof = proofs.of(BOB)
        proof[name] = value
        assert "does not match the claimed nonce and balance" in rejects(proofs, proof)


def test_wrong_balance_with_a_matching_leaf_value_fails_on_the_path(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    proof["balance"] = hex(2 * ETH + 8)
    proof["smtProof"]["value"] = hex(2 * ETH + 8)
    assert "does not lead to root" in rejects(proofs, proof)


def test_wrong_address_fails(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    proof["address"] = address_hex(ADDRESSES[7])
    assert "not the account key" in rejects(proofs, proof)


def test_proof_of_a_different_account_fails(proofs: Proofs) -> None:
    """Bob's path offered as Alice's: her claimed state, his leaf and siblings."""
    alice, bob = proofs.of(ALICE), proofs.of(BOB)
    alice["smtProof"], alice["accountProof"] = bob["smtProof"], bob["accountProof"]
    rejects(proofs, alice)
    alice["smtProof"]["key"] = proofs.of(ALICE)["smtProof"]["key"]
    alice["smtProof"]["value"] = proofs.of(ALICE)["smtProof"]["value"]
    assert "does not lead to root" in rejects(proofs, alice)


def test_non_membership_claimed_as_membership_fails(proofs: Proofs) -> None:
    for absent in absent_proofs(proofs):
        claimed = copy.deepcopy(absent)
        claimed["balance"] = hex(ETH)
        rejects(proofs, claimed)
        claimed["smtProof"]["value"] = hex(ETH)
        rejects(proofs, claimed)
        claimed["smtProof"]["found"] = True
        assert "does not lead to root" in rejects(proofs, claimed)
        flipped = copy.deepcopy(absent)
        flipped["smtProof"]["found"] = True
        assert "contradicts" in rejects(proofs, flipped)


def test_membership_claimed_as_absence_fails(proofs: Proofs) -> None:
    proof = proofs.of(BOB)
    proof["balance"], proof["smtProof"]["value"], proof["smtProof"]["found"] = "0x0", "0x0", False
    rejects(proofs, proof)
    proof["smtProof"]["isOld0"] = True
    rejects(proofs, proof)


def test_non_membership_with_a_forged_neighbour_leaf_fails(proofs: Proofs) -> None:
    other_leaf, empty = absent_proofs(proofs)
    forged = copy.deepcopy(other_leaf)
    forged["smtProof"]["notFoundValue"] = hex(int(forged["smtProof"]["notFoundValue"], 16) + 1)
    rejects(proofs, forged)
    forged = copy.deepcopy(other_leaf)
    forged["smtProof"]["notFoundKey"] = forged["smtProof"]["key"]  # "the leaf on my path is myself"
    rejects(proofs, forged)
    forged = copy.deepcopy(empty)
    forged["smtProof"]["isOld0"] = False
    rejects(proofs, forged)


def test_malformed_proofs_fail_with_proof_error(proofs: Proofs) -> None:
    cases: list[tuple[str, Any]] = [
        ("address", "0x1234"),
        ("address", 5),
        ("nonce", "12"),
        ("nonce", hex(1 << 64)),
        ("balance", hex(1 << 128)),
        ("balance", "0x" + "f" * 65),
        ("smtProof", []),
        ("accountProof", "0x00"),
    ]
    for name, value in cases:
        proof = proofs.of(BOB)
        proof[name] = value
        rejects(proofs, proof)
    for name, value in [
        ("siblings", ["0xzz"]),
        ("siblings", ["0x0"] * 257),
        ("key", hex(FIELD_MODULUS)),
        ("found", "true"),
        ("isOld0", 1),
    ]:
        proof = proofs.of(BOB)
        proof["smtProof"][name] = value
        rejects(proofs, proof)
    for name in ("address", "nonce", "balance", "smtProof"):
        proof = proofs.of(BOB)
        del proof[name]
        assert repr(name) in rejects(proofs, proof)
    rejects(proofs, [])  # type: ignore[arg-type]


# --- properties ----------------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.just("0x0"),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(index=st.integers(min_value=0), value=st.integers(min_value=0, max_value=FIELD_MODULUS - 1))
def test_any_changed_sibling_fails(proofs: Proofs, index: int, value: int) -> None:
    proof = proofs.of(FUNDED[index % len(FUNDED)])
    siblings = proof["smtProof"]["siblings"]
    index %= len(siblings)
    if int(siblings[index], 16) == value:
        return
    set_sibling(proof, index, hex(value))
    rejects(proofs, proof)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(
        [
            "address",
            "nonce",
            "balance",
            "smtProof",
            "accountProof",
            "stateRoot",
            "smtProof.key",
            "smtProof.value",
            "smtProof.siblings",
            "smtProof.found",
            "smtProof.notFoundKey",
            "smtProof.notFoundValue",
            "smtProof.isOld0",
        ]
    ),
    junk=JSON,
)
def test_junk_in_any_field_is_a_proof_error_or_harmless(proofs: Proofs, path: str, junk: Any) -> None:
    """Whatever a hostile node sends, the verifier answers ProofError, never another exception."""
    proof = proofs.of(BOB)
    target = proof["smtProof"] if path.startswith("smtProof.") else proof
    target[path.removeprefix("smtProof.")] = junk
    try:
        account = verify_account_proof(proofs.root, proof)
    except ProofError:
        return
    assert account == AccountState(BOB, 0, 2 * ETH + 7, True)  # only an equivalent spelling may pass
