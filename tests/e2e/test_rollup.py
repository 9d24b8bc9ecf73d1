"""End to end on a real anvil and the node over HTTP, with web3.py as a dApp would use it.

L1 deposit -> L2 balance -> signed ETH transfer -> receipt -> token mint and transfer with its
Transfer log -> a transfer to a non-allowlisted holder reverts with its reason -> batches on L1 ->
a replica rebuilt from L1 data alone has the same blocks and roots.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError

from jovay.devnet import wait_for_rpc
from jovay.l1.anvil import free_port
from jovay.l1.contracts import L1Deployment
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from tests.e2e.l2 import ERC20_ABI, IDENTITY_ABI, REGISTRY_ABI, send

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def w3(devnet: dict) -> Web3:
    return Web3(Web3.HTTPProvider(devnet["rpcUrl"]))


@pytest.fixture(scope="module")
def l1(devnet: dict) -> Web3:
    return Web3(Web3.HTTPProvider(devnet["l1RpcUrl"]))


def test_chain_identity(devnet: dict, w3: Web3) -> None:
    assert w3.eth.chain_id == devnet["chainId"]
    assert w3.net.version == str(devnet["chainId"])
    assert w3.client_version.startswith("Jovay/")
    assert w3.eth.get_code(devnet["contracts"]["l2"]["identityRegistry"]) != b""
    assert w3.eth.get_code(devnet["devAccounts"][0]["address"]) == b""


def test_dev_accounts_were_funded_by_l1_deposits(devnet: dict, w3: Web3) -> None:
    for account in devnet["devAccounts"]:
        assert w3.eth.get_balance(account["address"]) >= 900 * 10**18


def test_new_l1_deposit_reaches_l2(devnet: dict, w3: Web3, l1: Web3) -> None:
    deployment = L1Deployment.from_json(devnet["contracts"]["l1"], compile_contracts())
    bridge = deployment.bridge(l1)
    fresh = Account.create().address
    key = devnet["devAccounts"][5]["privateKey"]
    call = bridge.functions.depositETH(fresh)
    L1TxManager(l1, key).send({"to": bridge.address, "data": call._encode_transaction_data(), "value": 12345})
    deadline = time.monotonic() + 30
    while w3.eth.get_balance(fresh) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w3.eth.get_balance(fresh) == 12345


def test_eth_transfer_and_receipt(devnet: dict, w3: Web3) -> None:
    sender = devnet["devAccounts"][2]
    to = Account.create().address
    before = w3.eth.get_balance(sender["address"])
    receipt = send(w3, sender["privateKey"], {"to": to, "value": 10**15})
    assert receipt["status"] == 1 and receipt["gasUsed"] == 21_000
    assert w3.eth.get_balance(to) == 10**15
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(sender["address"]) == before - 10**15 - fee
    block = w3.eth.get_block(receipt["blockNumber"], full_transactions=True)
    assert block["transactions"][receipt["transactionIndex"]]["hash"] == receipt["transactionHash"]
    assert w3.eth.get_transaction(receipt["transactionHash"])["to"] == to


def test_token_mint_transfer_log_and_refused_transfer(devnet: dict, w3: Web3) -> None:
    admin = devnet["devAccounts"][0]
    holder, outsider = devnet["devAccounts"][3], Account.create().address
    registry = w3.eth.contract(address=devnet["contracts"]["l2"]["assetRegistry"], abi=REGISTRY_ABI)
    identity = w3.eth.contract(address=devnet["contracts"]["l2"]["identityRegistry"], abi=IDENTITY_ABI)
    token_address = registry.functions.createToken("Charging Pile Revenue", "PILE", 6).call(
        {"from": admin["address"]}
    )
    receipt = send(
        w3,
        admin["privateKey"],
        registry.functions.createToken("Charging Pile Revenue", "PILE", 6).build_transaction(
            {"from": admin["address"], "gas": 300_000}
        ),
    )
    assert receipt["status"] == 1
    for who in (admin["address"], holder["address"]):
        assert (
            send(
                w3,
                admin["privateKey"],
                identity.functions.setAllowed(who, True).build_transaction(
                    {"from": admin["address"], "gas": 100_000}
                ),
            )["status"]
            == 1
        )
    token = w3.eth.contract(address=token_address, abi=ERC20_ABI)
    assert (
        token.functions.name().call(),
        token.functions.symbol().call(),
        token.functions.decimals().call(),
    ) == ("Charging Pile Revenue", "PILE", 6)
    send(
        w3,
        admin["privateKey"],
        token.functions.mint(admin["address"], 1_000_000).build_transaction(
            {"from": admin["address"], "gas": 100_000}
        ),
    )

    receipt = send(
        w3,
        admin["privateKey"],
        token.functions.transfer(holder["address"], 250_000).build_transaction({"from": admin["address"]}),
    )
    (event,) = token.events.Transfer().process_receipt(receipt)
    assert (event["args"]["from"], event["args"]["to"], event["args"]["value"]) == (
        admin["address"],
        holder["address"],
        250_000,
    )
    assert token.functions.balanceOf(holder["address"]).call() == 250_000

    refused = token.functions.transfer(outsider, 1)
    with pytest.raises(ContractLogicError, match="JovayToken: recipient not on allowlist"):
        refused.call({"from": holder["address"]})
    receipt = send(
        w3, holder["privateKey"], refused.build_transaction({"from": holder["address"], "gas": 100_000})
    )
    assert receipt["status"] == 0 and receipt["logs"] == []
    assert token.functions.balanceOf(outsider).call() == 0


def rpc(url: str, method: str, params: list) -> dict:
    return httpx.post(
        url, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params}, timeout=10
    ).json()


def test_bad_transactions_get_errors_and_the_node_keeps_serving(devnet: dict, w3: Web3) -> None:
    from tests.e2e.bad_inputs import bad_raw_transactions

    url = devnet["rpcUrl"]
    start = w3.eth.block_number
    for name, raw, code, message in bad_raw_transactions(devnet, w3):
        answer = rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()])
        assert "error" in answer, name
        assert answer["error"]["code"] == code, (name, answer)
        assert message in answer["error"]["message"], (name, answer)
    deadline = time.monotonic() + 10
    while w3.eth.block_number <= start + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w3.eth.block_number > start + 2  # still sealing
    assert rpc(url, "eth_chainId", [])["result"] == hex(devnet["chainId"])


def committed_batches(rollup: Any, from_block: int) -> list:
    """The rollup contract's BatchCommitted events since its deployment."""
    return list(rollup.events.BatchCommitted.get_logs(from_block=from_block))


def test_batches_on_l1_and_replica_has_the_same_roots(
    devnet: dict, w3: Web3, l1: Web3, tmp_path: Path
) -> None:
    deployment = L1Deployment.from_json(devnet["contracts"]["l1"], compile_contracts())
    rollup = deployment.rollup(l1)
    target = w3.eth.block_number
    deadline = time.monotonic() + 60
    # Under load the batcher may cover everything so far in one batch: wait (bounded) for a second one,
    # so that the replica is checked across a batch boundary.
    while (
        rollup.functions.lastCommittedL2Block().call() < target
        or len(committed_batches(rollup, deployment.deploy_block)) < 2
    ) and time.monotonic() < deadline:
        time.sleep(0.2)
    safe_l2 = rollup.functions.lastCommittedL2Block().call()
    assert safe_l2 >= target
    while w3.eth.get_block("safe")["number"] < target and time.monotonic() < deadline:
        time.sleep(0.1)
    assert w3.eth.get_block("safe")["number"] >= target  # the sequencer learns what is on L1

    port = free_port()
    data_dir = Path(devnet["dataDir"])
    replica = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jovay",
            "node",
            "--replica",
            "--data-dir",
            str(tmp_path / "replica"),
            "--genesis",
            str(data_dir / "genesis.json"),
            "--rpc-port",
            str(port),
            "--l1-rpc",
            devnet["l1RpcUrl"],
            "--l1-contracts",
            str(data_dir / "l1.json"),
        ],
        stdout=open(tmp_path / "replica.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for_rpc(url, replica)
        replica_w3 = Web3(Web3.HTTPProvider(url))
        deadline = time.monotonic() + 60
        while replica_w3.eth.block_number < safe_l2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert replica_w3.eth.block_number >= safe_l2, (tmp_path / "replica.log").read_text()[-3000:]
        batches = [
            event
            for event in committed_batches(rollup, deployment.deploy_block)
            if event["args"]["lastL2Block"] <= safe_l2
        ]
        assert len(batches) >= 2
        for event in batches:
            number = event["args"]["lastL2Block"]
            ours, theirs = w3.eth.get_block(number), replica_w3.eth.get_block(number)
            assert theirs["hash"] == ours["hash"]
            assert theirs["stateRoot"] == ours["stateRoot"] == event["args"]["postStateRoot"]
        for account in devnet["devAccounts"]:
            assert replica_w3.eth.get_balance(account["address"], safe_l2) == w3.eth.get_balance(
                account["address"], safe_l2
            )
        refused = rpc(url, "eth_sendRawTransaction", ["0x00"])
        assert "replica" in refused["error"]["message"]
    finally:
        replica.terminate()
        replica.wait(timeout=10)
