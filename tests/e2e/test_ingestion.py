"""A JSON-RPC batch of signed transfers over HTTP to the real node: each request answered in order
(hashes for the valid ones, geth's errors for the others, wherever they stand in the batch), and every
accepted transfer sealed with a successful receipt."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from jovay.codec.transactions import DynamicFeeTx, sign_transaction
from jovay.crypto.keccak import keccak256
from jovay.crypto.secp256k1 import address_of
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

SENDERS = [keccak256(f"e2e-ingestion:{i}".encode()) for i in range(4)]
PER_SENDER = 10
FUNDER_INDEX = 9  # no other end-to-end test sends from this dev account


def post(url: str, body: Any) -> Any:
    return httpx.post(url, json=body, timeout=60).json()


def call(url: str, method: str, *params: Any) -> Any:
    answer = post(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert "error" not in answer, answer
    return answer["result"]


def transfer(url: str, key: bytes, nonce: int, to: bytes, value: int) -> bytes:
    fee_cap = 4 * int(call(url, "eth_gasPrice"), 16)
    tip = int(call(url, "eth_maxPriorityFeePerGas"), 16)
    chain_id = int(call(url, "eth_chainId"), 16)
    return sign_transaction(DynamicFeeTx(chain_id, nonce, tip, fee_cap, 21_000, to, value, b""), key)


def sends(raws: list[str]) -> list[dict[str, Any]]:
    return [
        {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]}
        for i, raw in enumerate(raws)
    ]


def sealed(url: str, tx_hash: str) -> bool:
    receipt = call(url, "eth_getTransactionReceipt", tx_hash)
    return receipt is not None and receipt["status"] == "0x1"


def test_a_batch_of_transfers_is_answered_in_order_and_sealed(devnet: dict) -> None:
    url = devnet["rpcUrl"]
    funder = bytes.fromhex(devnet["devAccounts"][FUNDER_INDEX]["privateKey"].removeprefix("0x"))
    funder_nonce = int(call(url, "eth_getTransactionCount", "0x" + address_of(funder).hex(), "pending"), 16)
    funding = [
        "0x" + transfer(url, funder, funder_nonce + i, address_of(key), 10**18).hex()
        for i, key in enumerate(SENDERS)
    ]
    funded = post(url, sends(funding))
    assert all("result" in answer for answer in funded), funded
    wait_until("the load senders funded", lambda: all(sealed(url, a["result"]) for a in funded), 30)

    valid = [
        "0x" + transfer(url, key, nonce, address_of(SENDERS[(i + 1) % len(SENDERS)]), 1).hex()
        for nonce in range(PER_SENDER)
        for i, key in enumerate(SENDERS)
    ]
    unfunded = "0x" + transfer(url, keccak256(b"e2e-ingestion:unfunded"), 0, address_of(funder), 1).hex()
    stale = funding[0]  # sealed already: its nonce is too low now
    middle = len(valid) // 2
    raws = valid[:middle] + [valid[0], "0xzz", unfunded, stale] + valid[middle:]
    started = time.monotonic()
    answers = post(url, sends(raws))
    assert [a["id"] for a in answers] == list(range(len(raws)))
    refused = answers[middle : middle + 4]
    assert refused[0]["error"] == {"code": -32000, "message": "already known"}
    assert refused[1]["error"] == {"code": -32602, "message": "invalid argument 0: invalid hex string"}
    assert refused[2]["error"]["message"].startswith("insufficient funds")
    assert refused[3]["error"]["message"].startswith("nonce too low")
    accepted = answers[:middle] + answers[middle + 4 :]
    assert [a["result"] for a in accepted] == ["0x" + keccak256(bytes.fromhex(r[2:])).hex() for r in valid]
    wait_until("every accepted transfer sealed", lambda: all(sealed(url, a["result"]) for a in accepted), 30)
    for key in SENDERS:
        assert call(url, "eth_getTransactionCount", "0x" + address_of(key).hex(), "latest") == hex(PER_SENDER)
    print(f"{len(valid)} transfers answered and sealed in {time.monotonic() - started:.2f} s")
