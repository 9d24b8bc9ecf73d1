"""Bridge and Rollup on a real anvil, against the formats of docs/architecture.md."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.types import Wei

from jovay.l1.anvil import Anvil
from jovay.l1.contracts import L1Deployment, deploy
from jovay.l1.messages import rolling_hash
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager, TxReverted

GENESIS = keccak(b"genesis")
pytestmark = pytest.mark.usefixtures("snapshot")


@pytest.fixture()
def dep(w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract]) -> L1Deployment:
    return deploy(w3, anvil.dev_keys[0], artifacts, genesis_state_root=GENESIS)


@pytest.fixture()
def txm(w3: Web3, anvil: Anvil) -> Callable[[int], L1TxManager]:
    """A tx manager for dev account i (fresh per test: snapshots rewind nonces)."""
    managers: dict[int, L1TxManager] = {}

    def get(i: int) -> L1TxManager:
        return managers.setdefault(i, L1TxManager(w3, anvil.dev_keys[i], bump_after_s=5))

    return get


def _deposit(txm: L1TxManager, bridge: Contract, to: str, value: int, **extra: Any) -> Any:
    data = bridge.encode_abi("depositETH", [to])
    return txm.send({"to": bridge.address, "data": data, "value": value, **extra})


def _commit(txm: L1TxManager, rollup: Contract, *args: Any, **extra: Any) -> Any:
    return txm.send({"to": rollup.address, "data": rollup.encode_abi("commitBatch", list(args)), **extra})


def test_deploy_wires_rollup_to_bridge(w3: Web3, dep: L1Deployment, anvil: Anvil) -> None:
    rollup = dep.rollup(w3)
    assert rollup.functions.bridge().call() == dep.bridge_address
    assert rollup.functions.batcher().call() == Account.from_key(anvil.dev_keys[0]).address
    assert rollup.functions.genesisStateRoot().call() == GENESIS
    assert rollup.functions.preStateRoot(0).call() == GENESIS
    assert rollup.functions.disputeGame().call() == dep.dispute_game_address
    assert dep.dispute_game(w3).functions.rollup().call() == dep.rollup_address
    assert dep.dispute_game(w3).functions.oneStepProof().call() == dep.one_step_proof_address
    assert rollup.functions.nextBatchIndex().call() == 0
    assert rollup.functions.lastCommittedL2Block().call() == 0
    assert w3.eth.get_code(dep.bridge_address) and dep.deploy_block <= w3.eth.block_number


def test_deposits_roll_the_queue_hash_like_python(
    w3: Web3, dep: L1Deployment, txm: Callable[[int], L1TxManager]
) -> None:
    bridge = dep.bridge(w3)
    w3.provider.make_request("anvil_setBalance", [txm(1).address, hex(2**129)])  # type: ignore[arg-type]
    h = bytes(32)
    assert bridge.functions.rollingHashAt(0).call() == h
    for i, (sender, value) in enumerate([(1, 1), (2, 10**18), (1, 2**127)]):
        to = Account.create().address
        receipt = _deposit(txm(sender), bridge, to, value)
        [event] = bridge.events.DepositQueued().process_receipt(receipt)
        h = rolling_hash(h, i, txm(sender).address, to, value)
        assert event["args"] == {
            "queueIndex": i,
            "from": txm(sender).address,
            "to": to,
            "value": value,
            "rollingHash": h,
        }
        assert bridge.functions.rollingHashAt(i + 1).call() == h
    assert bridge.functions.queueLength().call() == 3
    assert w3.eth.get_balance(dep.bridge_address) == 1 + 10**18 + 2**127
    with pytest.raises(Exception, match="Bridge: position past queue length"):
        bridge.functions.rollingHashAt(4).call()


@pytest.mark.parametrize(
    ("value", "reason"), [(0, "Bridge: zero value"), (2**128, "Bridge: value too large")]
)
def test_deposit_value_limits(
    w3: Web3, dep: L1Deployment, txm: Callable[[int], L1TxManager], value: int, reason: str
) -> None:
    w3.provider.make_request("anvil_setBalance", [txm(1).address, hex(2**129)])  # type: ignore[arg-type]
    with pytest.raises(TxReverted, match=reason):
        _deposit(txm(1), dep.bridge(w3), txm(2).address, value)


def test_deposit_accepts_max_uint128(w3: Web3, dep: L1Deployment, txm: Callable[[int], L1TxManager]) -> None:
    """By eth_call: anvil's pool refuses a tx whose value + gas cost does not fit 128 bits."""
    w3.provider.make_request("anvil_setBalance", [txm(1).address, hex(2**129)])  # type: ignore[arg-type]
    deposit = dep.bridge(w3).functions.depositETH(txm(2).address)
    deposit.call({"from": txm(1).address, "value": Wei(2**128 - 1)})


def test_commit_batches_in_order(w3: Web3, dep: L1Deployment, txm: Callable[[int], L1TxManager]) -> None:
    bridge, rollup, batcher = dep.bridge(w3), dep.rollup(w3), txm(0)
    for _ in range(2):
        _deposit(txm(1), bridge, txm(2).address, 5)
    root1, root2, data = keccak(b"r1"), keccak(b"r2"), b"\x28\xb5\x2f\xfd batch"
    receipt = _commit(batcher, rollup, 0, data, keccak(b"c1"), 3, GENESIS, root1, 7, 1)
    [event] = rollup.events.BatchCommitted().process_receipt(receipt)
    assert event["args"] == {
        "batchIndex": 0,
        "dataHash": keccak(data),
        "txListCommitment": keccak(b"c1"),
        "preStateRoot": GENESIS,
        "postStateRoot": root1,
        "lastL2Block": 7,
        "l1MessageQueuePosition": 1,
        "itemCount": 3,
    }
    stored = rollup.functions.batches(0).call()
    assert stored == [
        keccak(data),
        keccak(b"c1"),
        3,
        7,
        1,
        bridge.functions.rollingHashAt(1).call(),
        receipt["blockNumber"],
    ]
    _commit(batcher, rollup, 1, b"\x01", bytes(32), 0, root1, root2, 9, 2)
    assert rollup.functions.nextBatchIndex().call() == 2
    assert rollup.functions.batchItems(0).call() == [keccak(b"c1"), 3]
    assert rollup.functions.batchQueueStart(1).call() == 1
    assert rollup.functions.lastCommittedL2Block().call() == 9
    assert rollup.functions.batches(1).call()[5] == bridge.functions.rollingHashAt(2).call()


def test_commit_revert_reasons(w3: Web3, dep: L1Deployment, txm: Callable[[int], L1TxManager]) -> None:
    bridge, rollup, batcher = dep.bridge(w3), dep.rollup(w3), txm(0)
    _deposit(txm(1), bridge, txm(2).address, 5)
    root1, c = keccak(b"r1"), keccak(b"c")
    cases = [
        (txm(1), (0, b"\x01", c, 1, GENESIS, root1, 1, 0), "Rollup: caller is not the batcher"),
        (batcher, (1, b"\x01", c, 1, GENESIS, root1, 1, 0), "Rollup: batch index out of order"),
        (batcher, (0, b"\x01", c, 1, GENESIS, root1, 1, 2), "Rollup: queue position past queue length"),
        (batcher, (0, b"", c, 1, GENESIS, root1, 1, 0), "Rollup: empty batch data"),
        (batcher, (0, b"\x01", c, 0, GENESIS, root1, 1, 0), "Rollup: item count and root disagree"),
        (batcher, (0, b"\x01", bytes(32), 1, GENESIS, root1, 1, 0), "Rollup: item count and root disagree"),
        (batcher, (0, b"\x01", c, 1, GENESIS, root1, 0, 0), "Rollup: batch has no new L2 block"),
    ]
    for sender, args, reason in cases:
        with pytest.raises(TxReverted, match=reason):
            _commit(sender, rollup, *args)
    _commit(batcher, rollup, 0, b"\x01", c, 1, GENESIS, root1, 1, 1)
    later = [
        ((0, b"\x01", c, 1, GENESIS, root1, 2, 1), "Rollup: batch index out of order"),
        ((1, b"\x01", c, 1, root1, root1, 2, 0), "Rollup: queue position goes backwards"),
        ((1, b"\x01", c, 1, root1, root1, 1, 1), "Rollup: batch has no new L2 block"),
    ]
    for args, reason in later:
        with pytest.raises(TxReverted, match=reason):
            _commit(batcher, rollup, *args)
    _commit(batcher, rollup, 1, b"\x01", c, 1, root1, root1, 2, 1)  # same position: allowed


def test_reverted_on_chain_reason_is_recovered(
    w3: Web3, dep: L1Deployment, txm: Callable[[int], L1TxManager]
) -> None:
    """With `gas` given, nothing is estimated: the tx is mined, fails, and eth_call finds why."""
    with pytest.raises(TxReverted, match="Rollup: caller is not the batcher") as info:
        _commit(txm(1), dep.rollup(w3), 0, b"\x01", bytes(32), 0, GENESIS, GENESIS, 1, 0, gas=200_000)
    assert info.value.receipt is not None and info.value.receipt["status"] == 0


def test_deployment_json_roundtrip(dep: L1Deployment, artifacts: dict[str, CompiledContract]) -> None:
    assert L1Deployment.from_json(dep.to_json(), artifacts) == dep


def test_deploy_wires_hashers_and_rollup_into_bridge(
    w3: Web3, dep: L1Deployment, artifacts: dict[str, CompiledContract]
) -> None:
    bridge = dep.bridge(w3)
    assert dep.hashers is not None
    assert bridge.functions.rollup().call() == dep.rollup_address
    assert tuple(bridge.functions.hashers().call()) == dep.hashers.as_args()
    assert all(w3.eth.get_code(a) for a in dep.hashers.as_args())
    assert L1Deployment.from_json(dep.to_json(), artifacts) == dep
