"""BondPayments on a real anvil, through the Rollup: a bond whose recipient refuses ETH becomes a credit.

The proposer is a contract (tests/l1/contracts/BondRecipient.sol) that either reverts on receiving ETH
or spends more than the 50,000-gas stipend doing so. Finalizing its output must still succeed (nobody
can block the rollup by refusing a payment); the bond waits as a credit that only the recipient can
withdraw, exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from jovay.l1.anvil import Anvil
from jovay.l1.contracts import FaultProofParams, deploy
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager, TxReverted

pytestmark = pytest.mark.usefixtures("snapshot")

BOND = 10**18
WINDOW_S = 100
BATCHER, OWNER, OTHER = 0, 3, 4

Send = Callable[..., Any]


@pytest.fixture()
def send(w3: Web3, anvil: Anvil) -> Send:
    """send(i, contract, function, *args, value=0): a transaction from dev account i."""
    managers: dict[int, L1TxManager] = {}

    def go(i: int, contract: Contract, function: str, *args: Any, value: int = 0) -> Any:
        txm = managers.setdefault(i, L1TxManager(w3, anvil.dev_keys[i]))
        if contract.address is None:  # a constructor
            return txm.send({"data": contract.constructor(*args).data_in_transaction})
        data = contract.encode_abi(function, list(args))
        return txm.send({"to": contract.address, "data": data, "value": value})

    return go


@pytest.fixture()
def rollup(w3: Web3, anvil: Anvil, test_artifacts: dict[str, CompiledContract]) -> Contract:
    params = FaultProofParams(BOND, BOND, WINDOW_S)
    return deploy(w3, anvil.dev_keys[BATCHER], test_artifacts, fault=params).rollup(w3)


@pytest.fixture()
def recipient(w3: Web3, send: Send, test_artifacts: dict[str, CompiledContract]) -> Contract:
    art = test_artifacts["BondRecipient"]
    receipt = send(OWNER, w3.eth.contract(abi=art.abi, bytecode=art.bytecode), "constructor")
    return w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)


def _advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _credit_a_bond(w3: Web3, send: Send, rollup: Contract, recipient: Contract) -> None:
    """The recipient proposes output 0 with its bond; after the window a third party finalizes it, and
    the refused refund becomes the recipient's credit."""
    send(BATCHER, rollup, "commitBatch", 0, b"\x01", bytes(32), 0, bytes(32), bytes(32), 1, 0)
    propose = rollup.encode_abi("proposeOutput", [0, b"\x11" * 32])
    send(OWNER, recipient, "forward", rollup.address, propose, value=BOND)
    _advance(w3, WINDOW_S + 1)
    held = w3.eth.get_balance(recipient.address)
    receipt = send(OTHER, rollup, "finalizeOutput", 0)
    assert receipt["status"] == 1  # the refusal did not block finalization
    assert rollup.functions.finalizedOutputCount().call() == 1
    assert w3.eth.get_balance(recipient.address) == held
    assert rollup.functions.credits(recipient.address).call() == BOND
    assert w3.eth.get_balance(rollup.address) == BOND


def _withdraw(send: Send, rollup: Contract, recipient: Contract) -> Any:
    return send(OWNER, recipient, "forward", rollup.address, rollup.encode_abi("withdrawCredit", []))


def test_refused_bond_is_credited_and_withdrawn_once(
    w3: Web3, send: Send, rollup: Contract, recipient: Contract
) -> None:
    send(OWNER, recipient, "setMode", True, False)
    _credit_a_bond(w3, send, rollup, recipient)
    # While it still refuses, withdrawing fails and the credit stays.
    with pytest.raises(TxReverted, match="BondPayments: withdrawal failed"):
        _withdraw(send, rollup, recipient)
    assert rollup.functions.credits(recipient.address).call() == BOND
    # Nobody else can take it: other accounts have no credit.
    with pytest.raises(TxReverted, match="BondPayments: no credit"):
        send(OTHER, rollup, "withdrawCredit")
    with pytest.raises(TxReverted, match="BondPayments: no credit"):
        send(OWNER, rollup, "withdrawCredit")  # the contract's owner is not the contract
    # Once it accepts ETH, the recipient gets exactly the bond, once.
    send(OWNER, recipient, "setMode", False, False)
    _withdraw(send, rollup, recipient)
    assert w3.eth.get_balance(recipient.address) == BOND
    assert rollup.functions.credits(recipient.address).call() == 0
    assert w3.eth.get_balance(rollup.address) == 0
    with pytest.raises(TxReverted, match="BondPayments: no credit"):
        _withdraw(send, rollup, recipient)
    assert w3.eth.get_balance(recipient.address) == BOND


def test_gas_burning_recipient_gets_a_credit_it_withdraws_with_full_gas(
    w3: Web3, send: Send, rollup: Contract, recipient: Contract
) -> None:
    send(OWNER, recipient, "setMode", False, True)
    _credit_a_bond(w3, send, rollup, recipient)  # the 50,000-gas stipend is not enough for it
    receipt = _withdraw(send, rollup, recipient)  # withdrawCredit forwards all gas
    assert receipt["gasUsed"] > 50_000
    assert w3.eth.get_balance(recipient.address) == BOND
    assert rollup.functions.credits(recipient.address).call() == 0
    with pytest.raises(TxReverted, match="BondPayments: no credit"):
        _withdraw(send, rollup, recipient)


def test_accepting_proposer_is_paid_directly(
    w3: Web3, send: Send, rollup: Contract, recipient: Contract
) -> None:
    """The control case: a recipient that takes ETH within the stipend is paid, not credited."""
    send(BATCHER, rollup, "commitBatch", 0, b"\x01", bytes(32), 0, bytes(32), bytes(32), 1, 0)
    send(
        OWNER,
        recipient,
        "forward",
        rollup.address,
        rollup.encode_abi("proposeOutput", [0, b"\x11" * 32]),
        value=BOND,
    )
    _advance(w3, WINDOW_S + 1)
    send(OTHER, rollup, "finalizeOutput", 0)
    assert w3.eth.get_balance(recipient.address) == BOND
    assert rollup.functions.credits(recipient.address).call() == 0
