"""Bridge.finalizeWithdrawal on a real anvil: a withdrawal leaf of a finalized state root pays once;
wrong proofs, wrong claims, unfinalized batches and second claims revert with the bridge's reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from jovay.l1.anvil import Anvil
from jovay.l1.poseidon import PoseidonHashers
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager, TxReverted
from jovay.sdk.withdrawals import (
    BRIDGE_WITHDRAWAL_ABI,
    Withdrawal,
    WithdrawalProof,
    finalize_withdrawal_tx,
    is_claimed,
    submit_withdrawal,
)
from jovay.state.keys import account_key, pack_account, withdrawal_key, withdrawal_value
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.state.smt_proofs import l1_proof

pytestmark = pytest.mark.usefixtures("snapshot")
ETH = 10**18


@dataclass
class Setup:
    bridge: Contract
    outputs: Contract
    txm: Callable[[int], L1TxManager]


@dataclass
class L2State:
    """An L2 state with accounts and withdrawals 0..n-1, as the STF will write them."""

    tree: SparseMerkleTree
    withdrawals: list[Withdrawal]

    def prove(self, w: Withdrawal, batch_index: int = 0) -> WithdrawalProof:
        proof = l1_proof(self.tree._store, self.tree.root, withdrawal_key(w.index))  # noqa: SLF001
        return WithdrawalProof(w, batch_index, self.tree.root.to_bytes(32, "big"), proof)


def _deploy(txm: L1TxManager, w3: Web3, artifact: CompiledContract, *args: Any) -> Contract:
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    receipt = txm.send({"data": factory.constructor(*args).data_in_transaction})
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)


def _send(txm: L1TxManager, contract: Contract, fn: str, *args: Any, value: int = 0) -> Any:
    return txm.send({"to": contract.address, "data": contract.encode_abi(fn, list(args)), "value": value})


@pytest.fixture()
def setup(
    w3: Web3, anvil: Anvil, hashers: PoseidonHashers, test_artifacts: dict[str, CompiledContract]
) -> Setup:
    managers: dict[int, L1TxManager] = {}

    def txm(i: int) -> L1TxManager:
        return managers.setdefault(i, L1TxManager(w3, anvil.dev_keys[i], bump_after_s=5))

    bridge = _deploy(txm(0), w3, test_artifacts["Bridge"], *hashers.as_args())
    outputs = _deploy(txm(0), w3, test_artifacts["MockRollupOutputs"])
    _send(txm(0), bridge, "setRollup", outputs.address)
    _send(txm(1), bridge, "depositETH", txm(1).address, value=50 * ETH)  # what withdrawals pay from
    return Setup(bridge, outputs, txm)


@pytest.fixture(scope="module")
def l2() -> L2State:
    tree = SparseMerkleTree(MemoryNodeStore())
    withdrawals = [
        Withdrawal(i, bytes([i + 1]) * 20, bytes([0xA0 + i]) * 20, amount)
        for i, amount in enumerate([1, ETH, 3 * ETH, 2**64 + 5])
    ]
    writes = {account_key(bytes([i]) * 20): pack_account(i, 10 * i + 1) for i in range(1, 30)}
    writes |= {
        withdrawal_key(w.index): withdrawal_value(w.l2_sender, w.l1_recipient, w.amount) for w in withdrawals
    }
    tree.update_many(writes)
    return L2State(tree, withdrawals)


def _finalize(s: Setup, batch_index: int, root: int) -> None:
    _send(s.txm(0), s.outputs, "finalize", batch_index, root.to_bytes(32, "big"))


def _shape(params: list[dict[str, Any]]) -> list[tuple[str, list[str] | None]]:
    return [(p["type"], [x["type"] for x in p["components"]] if "components" in p else None) for p in params]


def test_sdk_abi_matches_compiled_bridge(test_artifacts: dict[str, CompiledContract]) -> None:
    compiled = {e["name"]: e for e in test_artifacts["Bridge"].abi if e.get("type") == "function"}
    for entry in BRIDGE_WITHDRAWAL_ABI:
        c = compiled[entry["name"]]
        assert _shape(c["inputs"]) == _shape(entry["inputs"])
        assert _shape(c["outputs"]) == _shape(entry["outputs"])
        assert c["stateMutability"] == entry["stateMutability"]


def test_withdrawals_pay_once_each(w3: Web3, setup: Setup, l2: L2State) -> None:
    _finalize(setup, 3, l2.tree.root)
    relayer = setup.txm(2)  # anyone may submit; the ETH goes to the recipient
    for w in l2.withdrawals:
        before = w3.eth.get_balance(Web3.to_checksum_address(w.l1_recipient))
        receipt = submit_withdrawal(relayer, setup.bridge.address, l2.prove(w, 3))
        [event] = setup.bridge.events.WithdrawalFinalized().process_receipt(receipt)
        assert event["args"] == {
            "withdrawalIndex": w.index,
            "batchIndex": 3,
            "l1Recipient": Web3.to_checksum_address(w.l1_recipient),
            "l2Sender": Web3.to_checksum_address(w.l2_sender),
            "amount": w.amount,
        }
        assert w3.eth.get_balance(Web3.to_checksum_address(w.l1_recipient)) == before + w.amount
        assert is_claimed(w3, setup.bridge.address, w.index)
        with pytest.raises(TxReverted, match="Bridge: withdrawal already claimed"):
            submit_withdrawal(relayer, setup.bridge.address, l2.prove(w, 3))
    assert w3.eth.get_balance(setup.bridge.address) == 50 * ETH - sum(w.amount for w in l2.withdrawals)


@pytest.mark.parametrize(
    "forge",
    [
        lambda w: replace(w, amount=w.amount + 1),
        lambda w: replace(w, l1_recipient=bytes(19) + b"\x01"),
        lambda w: replace(w, l2_sender=w.l1_recipient),
        lambda w: replace(w, index=w.index + 1),  # another withdrawal's leaf
    ],
    ids=["amount", "recipient", "sender", "index"],
)
def test_wrong_claim_reverts(setup: Setup, l2: L2State, forge: Callable[[Withdrawal], Withdrawal]) -> None:
    _finalize(setup, 0, l2.tree.root)
    real = l2.prove(l2.withdrawals[1])
    forged = replace(real, withdrawal=forge(real.withdrawal))
    with pytest.raises(TxReverted, match="Bridge: invalid withdrawal proof"):
        submit_withdrawal(setup.txm(2), setup.bridge.address, forged)


def test_tampered_proof_or_root_reverts(setup: Setup, l2: L2State) -> None:
    real = l2.prove(l2.withdrawals[2])
    siblings = list(real.proof.siblings)
    siblings[-1] ^= 1
    tampered = replace(real, proof=replace(real.proof, siblings=tuple(siblings)))
    _finalize(setup, 0, l2.tree.root)
    _finalize(setup, 1, l2.tree.root ^ 1)
    with pytest.raises(TxReverted, match="Bridge: invalid withdrawal proof"):
        submit_withdrawal(setup.txm(2), setup.bridge.address, tampered)
    with pytest.raises(TxReverted, match="Bridge: invalid withdrawal proof"):
        submit_withdrawal(setup.txm(2), setup.bridge.address, replace(real, batch_index=1))
    # an absent withdrawal: its non-membership proof is valid, and proves nothing to pay
    absent = Withdrawal(99, b"\x01" * 20, b"\x02" * 20, 5)
    with pytest.raises(TxReverted, match="Bridge: invalid withdrawal proof"):
        submit_withdrawal(setup.txm(2), setup.bridge.address, l2.prove(absent))


def test_unfinalized_batch_reverts(setup: Setup, l2: L2State) -> None:
    with pytest.raises(TxReverted, match="Rollup: batch not finalized"):
        submit_withdrawal(setup.txm(2), setup.bridge.address, l2.prove(l2.withdrawals[0], 7))


def test_out_of_range_claims_revert(setup: Setup, l2: L2State) -> None:
    """An index >= 2^64 could alias a real one mod p; amounts are L2 balances (0 < amount < 2^128)."""
    _finalize(setup, 0, l2.tree.root)
    real = l2.prove(l2.withdrawals[0])
    tx = finalize_withdrawal_tx(setup.bridge.address, real)
    data = setup.bridge.encode_abi(
        "finalizeWithdrawal",
        [0, 2**64, real.withdrawal.l2_sender, real.withdrawal.l1_recipient, 1, real.proof.as_abi()],
    )
    with pytest.raises(TxReverted, match="Bridge: withdrawal index out of range"):
        setup.txm(2).send({**tx, "data": data})
    zero = setup.bridge.encode_abi(
        "finalizeWithdrawal",
        [0, 0, real.withdrawal.l2_sender, real.withdrawal.l1_recipient, 0, real.proof.as_abi()],
    )
    with pytest.raises(TxReverted, match="Bridge: withdrawal amount out of range"):
        setup.txm(2).send({**tx, "data": zero})


def test_set_rollup_once_by_deployer(w3: Web3, setup: Setup) -> None:
    with pytest.raises(TxReverted, match="Bridge: rollup already set"):
        _send(setup.txm(0), setup.bridge, "setRollup", setup.outputs.address)
    assert setup.bridge.functions.rollup().call() == setup.outputs.address


def test_set_rollup_refuses_others_and_unset_rollup_blocks_claims(
    w3: Web3, hashers: PoseidonHashers, test_artifacts: dict[str, CompiledContract], setup: Setup, l2: L2State
) -> None:
    bridge = _deploy(setup.txm(0), w3, test_artifacts["Bridge"], *hashers.as_args())
    with pytest.raises(TxReverted, match="Bridge: caller is not the deployer"):
        _send(setup.txm(3), bridge, "setRollup", setup.outputs.address)
    with pytest.raises(TxReverted, match="Bridge: rollup not set"):
        submit_withdrawal(setup.txm(2), bridge.address, l2.prove(l2.withdrawals[0]))
