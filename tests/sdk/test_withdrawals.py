"""The withdrawal SDK over a real L2 node (chain + JSON-RPC app) and a real anvil bridge: it proves a
withdrawal from the node's answer, refuses wrong or lying answers, and collects the ETH on L1.

The L2 `withdraw` call comes later; until then the withdrawal leaves enter the state through genesis,
written with the same key and value functions the STF will use.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient
from web3 import Web3

from jovay.l1.anvil import Anvil
from jovay.l1.poseidon import deploy_hashers
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager, TxReverted
from jovay.l1.watcher import CommittedBatch
from jovay.params import L2_BRIDGE
from jovay.rpc.methods import EthApi
from jovay.rpc.rollup import RollupApi
from jovay.rpc.server import create_app
from jovay.sdk.withdrawals import (
    L2Rpc,
    Withdrawal,
    WithdrawalError,
    is_claimed,
    prove_withdrawal,
    submit_withdrawal,
    withdraw_tx,
    withdrawals_in_receipt,
)
from jovay.sequencer.sequencer import Sequencer
from jovay.state.keys import withdrawal_key, withdrawal_value
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH

ALICE, BOB, CAROL = ADDRESSES[:3]
TEST_CONTRACTS = Path(__file__).resolve().parents[1] / "l1" / "contracts"
WITHDRAWALS = [Withdrawal(0, ALICE, CAROL, 2 * ETH), Withdrawal(1, BOB, BOB, 12345)]


@dataclass(frozen=True)
class GenesisWithWithdrawals(Genesis):
    """Genesis plus withdrawal leaves: what a chain looks like after `withdraw` calls."""

    withdrawals: tuple[Withdrawal, ...] = ()

    def state_writes(self) -> dict[int, int]:
        writes = super().state_writes()
        for w in self.withdrawals:
            writes[withdrawal_key(w.index)] = withdrawal_value(w.l2_sender, w.l1_recipient, w.amount)
        return writes


@dataclass
class FakeL1:
    """The L1 watcher's reading side (batches the node has seen committed)."""

    batches: list[CommittedBatch] = field(default_factory=list)
    l1_head: int = 0
    l1_finalized: int = 0

    def safe_block(self) -> int:
        return self.batches[-1].last_l2_block if self.batches else 0

    def finalized_block(self) -> int:
        return self.safe_block()


@dataclass
class Node:
    rpc: L2Rpc
    chain: Chain
    batch_root: bytes


def _rpc(client: TestClient) -> L2Rpc:
    def call(method: str, params: list[Any]) -> Any:
        response = client.post(
            "/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        ).json()
        if "error" in response:
            raise WithdrawalError(f"{method}: {response['error']['message']}")
        return response["result"]

    return call


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """Block 1 sits in committed batch 0, whose post-state root holds both withdrawals."""
    genesis = GenesisWithWithdrawals(
        identity_admin=ALICE,
        timestamp=int(time.time()) - 5,
        alloc={a: ETH for a in ADDRESSES[:5]},
        withdrawals=tuple(WITHDRAWALS),
    )
    chain = Chain(tmp_path_factory.mktemp("withdrawals"), genesis)
    sequencer = Sequencer(chain)
    header = sequencer.produce_block()
    batch = CommittedBatch(
        0, bytes(32), bytes(32), bytes(32), header.state_root, header.number, 0, 1, bytes(32)
    )
    l1 = FakeL1([batch])
    eth = EthApi(chain, sequencer, l1)
    client = TestClient(create_app(eth.methods() | RollupApi(chain, l1, eth).methods()))
    yield Node(_rpc(client), chain, header.state_root)
    chain.close()


def test_proves_withdrawals_against_the_batch_root(node: Node) -> None:
    for w in WITHDRAWALS:
        proven = prove_withdrawal(node.rpc, w, 0)
        assert proven.state_root == node.batch_root
        assert proven.proof.leaf_key == w.key and proven.proof.leaf_value == w.value


def test_rpc_answers_absent_withdrawals_with_value_zero(node: Node) -> None:
    answer = node.rpc("jovay_getWithdrawalProof", ["0x7", "latest"])
    assert (
        int(answer["value"], 16) == 0 and answer["key"] == "0x" + withdrawal_key(7).to_bytes(32, "big").hex()
    )
    with pytest.raises(WithdrawalError, match="invalid argument 0: withdrawal index out of range"):
        node.rpc("jovay_getWithdrawalProof", [hex(2**64), "latest"])


@pytest.mark.parametrize(
    ("withdrawal", "batch", "reason"),
    [
        (Withdrawal(0, ALICE, CAROL, 2 * ETH + 1), 0, "another sender, recipient or amount"),
        (Withdrawal(0, ALICE, BOB, 2 * ETH), 0, "another sender, recipient or amount"),
        (Withdrawal(5, ALICE, CAROL, 1), 0, "withdrawal 5 is not in the state of batch 0"),
        (WITHDRAWALS[0], 3, "L1 has no batch 3 yet"),
    ],
)
def test_refuses_what_the_state_does_not_hold(
    node: Node, withdrawal: Withdrawal, batch: int, reason: str
) -> None:
    with pytest.raises(WithdrawalError, match=reason):
        prove_withdrawal(node.rpc, withdrawal, batch)


def _lying(rpc: L2Rpc, edit: Any) -> L2Rpc:
    def call(method: str, params: list[Any]) -> Any:
        answer = copy.deepcopy(rpc(method, params))
        if method == "jovay_getWithdrawalProof":
            edit(answer)
        return answer

    return call


def test_refuses_a_lying_node(node: Node) -> None:
    def bad_sibling(a: dict[str, Any]) -> None:
        a["proof"]["siblings"][0] = hex(int(a["proof"]["siblings"][0], 16) ^ 1)

    def other_root(a: dict[str, Any]) -> None:
        a["stateRoot"] = "0x" + "11" * 32

    with pytest.raises(WithdrawalError, match="does not reach the batch root"):
        prove_withdrawal(_lying(node.rpc, bad_sibling), WITHDRAWALS[0], 0)
    with pytest.raises(WithdrawalError, match="but batch 0 committed"):
        prove_withdrawal(_lying(node.rpc, other_root), WITHDRAWALS[0], 0)


@contextmanager
def bridge_with_final_root(root: bytes) -> Iterator[tuple[Web3, L1TxManager, Any]]:
    """Anvil with a Bridge holding 5 ETH whose (mock) Rollup has finalized batch 0 at `root`."""
    artifacts = compile_contracts(extra_dirs=[TEST_CONTRACTS])
    with Anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        txm = L1TxManager(w3, anvil.dev_keys[0])
        hashers = deploy_hashers(w3, txm)

        def deploy(name: str, *args: Any) -> Any:
            art = artifacts[name]
            data = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction
            return w3.eth.contract(address=txm.send({"data": data})["contractAddress"], abi=art.abi)

        bridge, outputs = deploy("Bridge", *hashers.as_args()), deploy("MockRollupOutputs")
        for call, value in [
            (bridge.functions.setRollup(outputs.address), 0),
            (bridge.functions.depositETH(txm.address), 5 * ETH),
            (outputs.functions.finalize(0, root), 0),
        ]:
            txm.send({"to": call.address, "data": call._encode_transaction_data(), "value": value})
        yield w3, txm, bridge


def test_sdk_collects_the_eth_on_l1(node: Node) -> None:
    """Both steps: prove on L2, then finalize on anvil's bridge once batch 0's root is final there."""
    with bridge_with_final_root(node.batch_root) as (w3, txm, bridge):
        proven = prove_withdrawal(node.rpc, WITHDRAWALS[0], 0)
        carol = Web3.to_checksum_address(CAROL)
        before = w3.eth.get_balance(carol)
        submit_withdrawal(txm, bridge.address, proven)
        assert w3.eth.get_balance(carol) == before + 2 * ETH
        assert is_claimed(w3, bridge.address, 0) and not is_claimed(w3, bridge.address, 1)
        with pytest.raises(TxReverted, match="Bridge: withdrawal already claimed"):
            submit_withdrawal(txm, bridge.address, proven)


def _log(address: bytes, topics: list[bytes], data: bytes) -> dict[str, Any]:
    return {
        "address": "0x" + address.hex(),
        "topics": ["0x" + t.hex() for t in topics],
        "data": "0x" + data.hex(),
    }


def test_withdrawals_in_receipt_reads_the_l2_bridge_logs() -> None:
    topic = keccak(text="WithdrawalInitiated(uint256,address,address,uint256)")
    words = [(7).to_bytes(32, "big"), ALICE.rjust(32, b"\0"), CAROL.rjust(32, b"\0")]
    ours = _log(L2_BRIDGE, [topic, *words], (5 * ETH).to_bytes(32, "big"))
    forged_address = _log(BOB, [topic, *words], (1).to_bytes(32, "big"))
    other_event = _log(L2_BRIDGE, [keccak(text="Other()"), *words], b"")
    receipt = {"logs": [forged_address, ours, other_event]}
    assert withdrawals_in_receipt(receipt) == [Withdrawal(7, ALICE, CAROL, 5 * ETH)]
    as_web3 = {"logs": [{"address": Web3.to_checksum_address(L2_BRIDGE), "topics": [topic, *words],
                         "data": (5 * ETH).to_bytes(32, "big")}]}  # fmt: skip
    assert withdrawals_in_receipt(as_web3) == [Withdrawal(7, ALICE, CAROL, 5 * ETH)]


def test_withdraw_tx_calls_the_l2_bridge() -> None:
    tx = withdraw_tx(CAROL, 3 * ETH)
    assert tx["to"] == Web3.to_checksum_address(L2_BRIDGE) and tx["value"] == 3 * ETH
    assert tx["data"] == "0x" + (keccak(text="withdraw(address)")[:4] + CAROL.rjust(32, b"\0")).hex()
