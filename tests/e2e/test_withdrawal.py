"""An ETH withdrawal end to end, through the real challenge window.

A devnet of its own (anvil, contracts, sequencer node, batcher/proposer, challenger) with a short
window: a user calls the L2 bridge's `withdraw(l1Recipient)` with ETH over JSON-RPC; the batcher
commits the batch, the proposer proposes its output and, once the window has passed, finalizes it by
itself (the test never touches the Rollup). The SDK then fetches the proof from the node and pays the
withdrawal out of the L1 Bridge: the recipient gets exactly the amount, once; a claim made before the
output finalized is refused by L1 with the rollup's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from jovay.crypto.keccak import keccak256
from jovay.devnet import Devnet
from jovay.l1.contracts import L1Deployment
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager, TxReverted
from jovay.sdk.withdrawals import (
    batch_of_block,
    is_claimed,
    prove_withdrawal,
    submit_withdrawal,
    web3_rpc,
    withdraw_tx,
    withdrawals_in_receipt,
)
from tests.e2e.l2 import send
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

WINDOW_S = 6  # long enough to claim once before finalization, short enough for the default run
AMOUNT = 3 * 10**18 + 12345


def _wait(what: str, condition: Callable[[], Any], timeout_s: float = 60) -> Any:
    return wait_until(what, condition, timeout_s, poll_s=0.2)


def test_withdrawal_is_paid_on_l1_once_after_the_window(devnet_factory: Callable[..., Devnet]) -> None:
    info = devnet_factory(challenge_window_s=WINDOW_S).info
    l2 = Web3(Web3.HTTPProvider(str(info["rpcUrl"])))
    l1 = Web3(Web3.HTTPProvider(str(info["l1RpcUrl"])))
    deployment = L1Deployment.from_json(info["contracts"]["l1"], compile_contracts())  # type: ignore[index]
    rollup, bridge = deployment.rollup(l1), deployment.bridge(l1)
    user = info["devAccounts"][5]  # type: ignore[index]
    claimer = L1TxManager(l1, info["devAccounts"][7]["privateKey"])  # type: ignore[index]
    recipient = Web3.to_checksum_address(keccak256(b"fresh L1 recipient")[:20])
    assert l1.eth.get_balance(recipient) == 0

    # L2: withdraw over JSON-RPC; the ETH leaves the user's account.
    before = l2.eth.get_balance(user["address"])
    receipt = send(l2, user["privateKey"], withdraw_tx(bytes.fromhex(recipient[2:]), AMOUNT))
    assert receipt["status"] == 1
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert l2.eth.get_balance(user["address"], receipt["blockNumber"]) == before - AMOUNT - fee
    [withdrawal] = withdrawals_in_receipt(receipt)
    assert (withdrawal.l2_sender.hex(), withdrawal.l1_recipient, withdrawal.amount) == (
        user["address"][2:].lower(),
        bytes.fromhex(recipient[2:]),
        AMOUNT,
    )

    # The batcher commits the block; the proposer proposes the output. Claiming now is refused.
    rpc = web3_rpc(l2)
    index = _wait("the withdrawal's batch", lambda: batch_of_block(rpc, receipt["blockNumber"]))
    proven = prove_withdrawal(rpc, withdrawal, index)
    assert rpc("jovay_getBatch", [hex(index)])["finalized"] is False
    with pytest.raises(TxReverted, match="Rollup: output not finalized"):
        submit_withdrawal(claimer, bridge.address, proven)
    assert l1.eth.get_balance(recipient) == 0 and not is_claimed(l1, bridge.address, withdrawal.index)

    # After the window the proposer finalizes the output by itself; the node reports it final.
    _wait("the node to report the batch final", lambda: rpc("jovay_getBatch", [hex(index)])["finalized"])
    assert rollup.functions.finalizedOutputCount().call() > index
    assert rollup.functions.finalizedStateRoot(index).call() == proven.state_root

    # The SDK proves the withdrawal against the finalized root; L1 pays exactly the amount, once.
    submit_withdrawal(claimer, bridge.address, prove_withdrawal(rpc, withdrawal, index))
    assert l1.eth.get_balance(recipient) == AMOUNT
    assert is_claimed(l1, bridge.address, withdrawal.index)
    [paid] = bridge.events.WithdrawalFinalized.get_logs(from_block=0)
    assert (paid["args"]["withdrawalIndex"], paid["args"]["batchIndex"]) == (withdrawal.index, index)
    with pytest.raises(TxReverted, match="Bridge: withdrawal already claimed"):
        submit_withdrawal(claimer, bridge.address, proven)
    assert l1.eth.get_balance(recipient) == AMOUNT
