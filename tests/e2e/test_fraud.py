"""Fraud proofs end to end: a faulty proposer's output loses on L1, and the honest chain goes on.

Each test starts its own devnet (anvil, contracts, sequencer, batcher/proposer in a faulty mode, the
challenger service) and only watches: the challenger must find the wrong output, open a game, bisect
to the broken item and win with the one-step proof on its own. Then the output is gone, the
proposer's bond went to the challenger, and a correct output for that batch is proposed and finalized
(it equals the sequencer's own state root). One mode runs by default, the others are marked slow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from jovay.devnet import Devnet
from jovay.l1.contracts import L1Deployment
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from jovay.l1.watcher import L1Watcher
from jovay.stf.genesis import Genesis
from prover.fault.execution import ItemRules
from prover.fault.faulty import FaultyMode
from prover.fault.game import GamePlayer, Status, read_game
from prover.fault.outputs import read_output
from prover.fault.replay import Replayer
from tests.e2e.l2 import ERC20_ABI, IDENTITY_ABI, REGISTRY_ABI, send
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

WINDOW_S = 12
GAME_TIMEOUT_S = 150


def _contracts(info: dict[str, Any]) -> tuple[Web3, L1Deployment]:
    l1 = Web3(Web3.HTTPProvider(str(info["l1RpcUrl"])))
    return l1, L1Deployment.from_json(info["contracts"]["l1"], compile_contracts())  # type: ignore[index]


def _wait(what: str, condition: Callable[[], Any], timeout_s: float = GAME_TIMEOUT_S) -> Any:
    return wait_until(what, condition, timeout_s, poll_s=0.5)


def _won_game(game: Contract) -> int | None:
    for game_id in range(int(game.functions.gameCount().call())):
        if read_game(game, game_id).status == Status.CHALLENGER_WON:
            return game_id
    return None


def _play_out_fraud(net: Devnet, trigger: Any = None) -> None:
    info = net.info
    l1, deployment = _contracts(info)
    rollup, game = deployment.rollup(l1), deployment.dispute_game(l1)
    if trigger is not None:
        trigger(info)
    game_id = _wait("the challenger to win a game", lambda: _won_game(game))
    g = read_game(game, game_id)
    assert g.challenger == info["challenger"] and g.proposer == info["proposer"]

    # The bond moved: the challenger got its own bond back and the proposer's, in the resolving block.
    bond = int(rollup.functions.proposalBond().call())
    reverted = rollup.events.OutputsReverted.get_logs(from_block=0)
    assert [e["args"]["fromBatchIndex"] for e in reverted] == [g.batch_index]
    assert reverted[0]["args"]["challenger"] == info["challenger"]
    block = reverted[0]["blockNumber"]
    receipt = l1.eth.get_transaction_receipt(reverted[0]["transactionHash"])
    mover_paid = (
        receipt["gasUsed"] * receipt["effectiveGasPrice"] if receipt["from"] == info["challenger"] else 0
    )
    gained = l1.eth.get_balance(info["challenger"], block) - l1.eth.get_balance(info["challenger"], block - 1)
    assert gained + mover_paid == bond + int(game.functions.challengeBond().call())

    # The honest chain continues: that batch's output is proposed again, correctly, and finalizes.
    index = g.batch_index
    _wait("the batch's output to finalize", lambda: rollup.functions.finalizedOutputCount().call() > index)
    final_root = rollup.functions.finalizedStateRoot(index).call()
    last_block = rollup.functions.batches(index).call()[3]
    l2 = Web3(Web3.HTTPProvider(str(info["rpcUrl"])))
    assert final_root == bytes(l2.eth.get_block(last_block)["stateRoot"])
    proposals = [e["args"] for e in rollup.events.OutputProposed.get_logs(from_block=0)]
    posted = [p["stateRoot"] for p in proposals if p["batchIndex"] == index]
    assert len(posted) == 2 and posted[0] != final_root == posted[1]
    # ...and later outputs keep finalizing.
    _wait("a later output to finalize", lambda: rollup.functions.finalizedOutputCount().call() > index + 1)


def _transfer(info: dict[str, Any]) -> None:
    """An ETH transfer on L2, so a batch has a transaction item (after the funding deposits)."""
    l2 = Web3(Web3.HTTPProvider(str(info["rpcUrl"])))
    sender = info["devAccounts"][3]  # type: ignore[index]
    receipt = send(l2, sender["privateKey"], {"to": info["devAccounts"][4]["address"], "value": 10**15})  # type: ignore[index]
    assert receipt["status"] == 1


def test_inflated_balance_loses_and_the_chain_goes_on(devnet_factory: Any) -> None:
    _play_out_fraud(devnet_factory(faulty="inflate-balance", challenge_window_s=WINDOW_S), _transfer)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["wrong-root", "drop-deposit", "forged-signature", "skip-nonce"])
def test_faulty_mode_loses_and_the_chain_goes_on(devnet_factory: Any, mode: str) -> None:
    _play_out_fraud(devnet_factory(faulty=mode, challenge_window_s=WINDOW_S), _transfer)


def _token_to_outsider(info: dict[str, Any]) -> None:
    """A token, minted to an allowlisted admin, sent to a holder off the allowlist: reverts on L2."""
    l2 = Web3(Web3.HTTPProvider(str(info["rpcUrl"])))
    admin = info["devAccounts"][0]  # type: ignore[index]
    contracts = info["contracts"]["l2"]  # type: ignore[index]
    registry = l2.eth.contract(address=contracts["assetRegistry"], abi=REGISTRY_ABI)
    identity = l2.eth.contract(address=contracts["identityRegistry"], abi=IDENTITY_ABI)
    sender = {"from": admin["address"], "gas": 300_000}
    token_address = registry.functions.createToken("Pile", "PILE", 6).call(sender)
    assert send(
        l2, admin["privateKey"], registry.functions.createToken("Pile", "PILE", 6).build_transaction(sender)
    )["status"]
    allow = identity.functions.setAllowed(admin["address"], True).build_transaction(sender)
    assert send(l2, admin["privateKey"], allow)["status"]
    token = l2.eth.contract(address=token_address, abi=ERC20_ABI)
    assert send(
        l2, admin["privateKey"], token.functions.mint(admin["address"], 1_000).build_transaction(sender)
    )["status"]
    outsider = Web3.to_checksum_address(b"\x77" * 20)
    refused = send(l2, admin["privateKey"], token.functions.transfer(outsider, 10).build_transaction(sender))
    assert refused["status"] == 0 and token.functions.balanceOf(outsider).call() == 0


@pytest.mark.slow
def test_skipped_compliance_rule_loses_and_the_chain_goes_on(devnet_factory: Any) -> None:
    _play_out_fraud(devnet_factory(faulty="skip-compliance", challenge_window_s=WINDOW_S), _token_to_outsider)


def test_challenger_attacking_a_correct_output_loses_its_bond(devnet_factory: Any) -> None:
    """A challenger that believes inflated balances disputes a correct output: the honest proposer
    defends it through bisection and the one-step proof, and takes the challenger's bond."""
    net = devnet_factory(challenge_window_s=60, challenger=False)
    info = net.info
    l1, deployment = _contracts(info)
    rollup, game = deployment.rollup(l1), deployment.dispute_game(l1)
    _transfer(info)
    genesis = Genesis.load(net.config.data_dir / "genesis.json")
    attacker_key = info["devAccounts"][6]["privateKey"]
    wrong = FaultyMode("inflate-balance", ItemRules(genesis.chain_id, genesis.gas_limit))
    watcher = L1Watcher(l1, deployment)
    replay = Replayer(l1, deployment, watcher, genesis, wrong.executor())
    txm = L1TxManager(l1, attacker_key)
    attacker = GamePlayer(l1, deployment, txm, replay, can_prove=False)

    def disputed_output() -> int | None:
        """The first output the attacker's roots differ on: the batch with the transfer in it."""
        watcher.poll()
        for index in range(int(rollup.functions.nextOutputIndex().call())):
            if replay.output_root(index) != read_output(rollup, index).state_root:
                return index
        return None

    index = _wait("an output the attacker disagrees with", disputed_output)
    bond = int(game.functions.challengeBond().call())
    attacker.send("createGame", [index], value=bond)
    game_id = int(game.functions.gameCount().call()) - 1
    before = l1.eth.get_balance(info["proposer"])

    def over() -> bool:
        attacker.act(game_id)
        return read_game(game, game_id).status != Status.IN_PROGRESS

    _wait("the game to end", over)
    g = read_game(game, game_id)
    assert g.status == Status.PROPOSER_WON
    assert g.hi - g.lo == 1 and g.hi <= int(rollup.functions.batches(index).call()[2])  # bisected to a step
    assert read_output(rollup, index).output_id == g.output_id  # the output stands
    assert not rollup.events.OutputsReverted.get_logs(from_block=0)
    resolved = game.events.GameResolved.get_logs(from_block=0)[-1]
    receipt = l1.eth.get_transaction_receipt(resolved["transactionHash"])
    assert receipt["from"] == info["proposer"]  # the proposer ran the one-step proof itself
    block = resolved["blockNumber"]
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert (
        l1.eth.get_balance(info["proposer"], block) - l1.eth.get_balance(info["proposer"], block - 1)
        == bond - fee
    )
    assert before > 0
