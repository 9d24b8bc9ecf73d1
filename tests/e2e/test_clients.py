"""Real Ethereum clients, unchanged, against the devnet's node: Foundry cast, ethers.js v6, web3.py.

One token is created for these tests; dev accounts 0 (issuer), 4 (holder) and 8 are allowlisted.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from eth_account import Account
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import ContractLogicError

from tests.e2e.l2 import ERC20_ABI, IDENTITY_ABI, REGISTRY_ABI, send

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CAST = ROOT / "node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
ETHERS_SCRIPT = Path(__file__).parent / "clients/ethers_client.mjs"


@pytest.fixture(scope="module")
def w3(devnet: dict) -> Web3:
    return Web3(Web3.HTTPProvider(devnet["rpcUrl"]))


@pytest.fixture(scope="module")
def token(devnet: dict, w3: Web3):  # type: ignore[no-untyped-def]
    """A fresh token, issued by dev account 0, with accounts 0, 4 and 8 allowlisted and 4 holding units."""
    admin = devnet["devAccounts"][0]
    registry = w3.eth.contract(address=devnet["contracts"]["l2"]["assetRegistry"], abi=REGISTRY_ABI)
    identity = w3.eth.contract(address=devnet["contracts"]["l2"]["identityRegistry"], abi=IDENTITY_ABI)
    create = registry.functions.createToken("Battery Swap Revenue", "BSR", 0)
    address = create.call({"from": admin["address"]})
    send(w3, admin["privateKey"], create.build_transaction({"from": admin["address"], "gas": 300_000}))
    for index in (0, 4, 8):
        allow = identity.functions.setAllowed(devnet["devAccounts"][index]["address"], True)
        send(w3, admin["privateKey"], allow.build_transaction({"from": admin["address"], "gas": 100_000}))
    contract = w3.eth.contract(address=address, abi=ERC20_ABI)
    mint = contract.functions.mint(devnet["devAccounts"][4]["address"], 1_000)
    send(w3, admin["privateKey"], mint.build_transaction({"from": admin["address"], "gas": 100_000}))
    return contract


def cast(devnet: dict, *args: str) -> str:
    done = subprocess.run(
        [str(CAST), *args, "--rpc-url", devnet["rpcUrl"]], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_cast(devnet: dict, w3: Web3, token) -> None:  # type: ignore[no-untyped-def]
    holder, receiver = devnet["devAccounts"][4], devnet["devAccounts"][8]
    assert cast(devnet, "chain-id") == str(devnet["chainId"])
    assert int(cast(devnet, "block-number")) >= w3.eth.block_number - 5
    assert int(cast(devnet, "balance", holder["address"])) == w3.eth.get_balance(holder["address"])
    nonce = int(cast(devnet, "nonce", holder["address"]))
    assert nonce == w3.eth.get_transaction_count(holder["address"])

    sent = json.loads(
        cast(
            devnet,
            "send",
            "--private-key",
            holder["privateKey"],
            "--json",
            receiver["address"],
            "--value",
            "777",
        )
    )
    assert int(sent["status"], 16) == 1
    receipt = json.loads(cast(devnet, "receipt", "--json", sent["transactionHash"]))
    assert receipt["transactionHash"] == sent["transactionHash"] and int(receipt["gasUsed"], 16) == 21_000
    assert int(cast(devnet, "nonce", holder["address"])) == nonce + 1

    sent = json.loads(
        cast(
            devnet,
            "send",
            "--private-key",
            holder["privateKey"],
            "--json",
            token.address,
            "transfer(address,uint256)",
            receiver["address"],
            "5",
        )
    )
    assert int(sent["status"], 16) == 1
    balance = cast(devnet, "call", token.address, "balanceOf(address)(uint256)", receiver["address"])
    assert int(balance.split()[0]) == token.functions.balanceOf(receiver["address"]).call() >= 5
    logs = json.loads(
        cast(
            devnet,
            "logs",
            "--json",
            "--address",
            token.address,
            "--from-block",
            str(int(sent["blockNumber"], 16)),
            "--to-block",
            str(int(sent["blockNumber"], 16)),
            "Transfer(address,address,uint256)",
        )
    )
    assert [log["transactionHash"] for log in logs] == [sent["transactionHash"]]


def test_ethers(devnet: dict, token) -> None:  # type: ignore[no-untyped-def]
    devnet_json = Path(devnet["dataDir"]) / "devnet.json"
    done = subprocess.run(
        ["node", str(ETHERS_SCRIPT), str(devnet_json), token.address],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    sender, receiver = devnet["devAccounts"][4]["address"], devnet["devAccounts"][8]["address"]
    assert out["chainId"] == out["wsChainId"] == str(devnet["chainId"])
    assert out["ethStatus"] == 1, out
    assert out["ethDelta"] == "12345", out
    assert out["tokenStatus"] == 1, out
    expected = {"from": sender, "to": receiver, "value": "7", "tx": out["tokenTx"]}
    assert out["wsEvent"] == expected and out["httpEvent"] == expected
    assert out["queried"] == [{"from": sender, "to": receiver, "value": "7"}]
    assert out["refusedCall"] == out["refusedSend"] == "JovayToken: recipient not on allowlist"


def test_web3_http_contract_events_logs_and_revert(devnet: dict, w3: Web3, token) -> None:  # type: ignore[no-untyped-def]
    holder, receiver = devnet["devAccounts"][4], devnet["devAccounts"][8]
    transfer = token.functions.transfer(receiver["address"], 3)
    receipt = send(w3, holder["privateKey"], transfer.build_transaction({"from": holder["address"]}))
    (event,) = token.events.Transfer().process_receipt(receipt)
    assert event["args"]["value"] == 3 and event["args"]["to"] == receiver["address"]
    logs = token.events.Transfer().get_logs(
        from_block=receipt["blockNumber"], to_block=receipt["blockNumber"]
    )
    assert [log["transactionHash"] for log in logs] == [receipt["transactionHash"]]
    with pytest.raises(ContractLogicError, match="JovayToken: recipient not on allowlist"):
        token.functions.transfer(Account.create().address, 1).call({"from": holder["address"]})


def test_web3_websocket_subscriptions(devnet: dict, token) -> None:  # type: ignore[no-untyped-def]
    holder, receiver = devnet["devAccounts"][4], devnet["devAccounts"][8]
    ws_url = devnet["rpcUrl"].replace("http://", "ws://")

    async def run() -> tuple[dict, dict]:
        async with AsyncWeb3(WebSocketProvider(ws_url)) as w3:
            assert await w3.eth.chain_id == devnet["chainId"]
            await w3.eth.subscribe("newHeads")
            topic = Web3.keccak(text="Transfer(address,address,uint256)")
            await w3.eth.subscribe("logs", {"address": token.address, "topics": [topic]})
            sync_w3 = Web3(Web3.HTTPProvider(devnet["rpcUrl"]))
            contract = sync_w3.eth.contract(address=token.address, abi=ERC20_ABI)
            tx = contract.functions.transfer(receiver["address"], 2).build_transaction(
                {"from": holder["address"]}
            )
            receipt = await asyncio.to_thread(send, sync_w3, holder["privateKey"], tx)
            head, log = None, None
            async for message in w3.socket.process_subscriptions():
                result = message["result"]
                if "parentHash" in result:
                    head = head or dict(result)
                elif "topics" in result:
                    log = dict(result)
                if head is not None and log is not None:
                    break
            assert log["transactionHash"] == receipt["transactionHash"]
            return head, log

    head, log = asyncio.run(asyncio.wait_for(run(), timeout=60))
    assert head["number"] >= 0 and len(head["hash"]) == 32
    assert log["address"] == token.address
