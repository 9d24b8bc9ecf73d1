"""The JSON-RPC server in process: envelope, errors, and methods over a real chain and sequencer."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from jovay.codec.abi import encode_error
from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.methods import EthApi
from jovay.rpc.server import MAX_BATCH_SIZE, create_app
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, address_hex, calldata, raw_tx

ALICE, BOB = ADDRESSES[:2]


@pytest.fixture
def node(tmp_path: Path):
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    sequencer = Sequencer(chain)
    client = TestClient(create_app(EthApi(chain, sequencer).methods()))
    yield client, sequencer
    chain.close()


def call(client: TestClient, method: str, *params: object) -> dict:
    return client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()


def result(client: TestClient, method: str, *params: object) -> object:
    answer = call(client, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def test_envelope_errors(node) -> None:
    client, _ = node
    assert client.post("/", content=b"{not json").json()["error"]["code"] == -32700
    assert client.post("/", json={"id": 1, "method": "eth_chainId"}).json()["error"]["code"] == -32600
    assert client.post("/", json=[]).json()["error"]["message"] == "empty batch"
    too_many = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(MAX_BATCH_SIZE + 1)]
    assert "batch too large" in client.post("/", json=too_many).json()["error"]["message"]
    answer = call(client, "eth_nope")
    assert answer["error"] == {
        "code": -32601,
        "message": "the method eth_nope does not exist/is not available",
    }
    assert call(client, "eth_getBalance", "0x1234")["error"]["code"] == -32602
    assert (
        call(client, "eth_getBalance")["error"]["message"]
        == "invalid argument 0: missing value for required argument"
    )
    assert call(client, "eth_sendRawTransaction", "0xzz")["error"]["code"] == -32602
    big = client.post("/", content=b"[" + b" " * (9 * 1024 * 1024) + b"]")
    assert big.status_code == 413 and "request body too large" in big.json()["error"]["message"]


def test_batch_answers_each_request_in_order(node) -> None:
    client, _ = node
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 2, "method": "eth_nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "net_version"},
    ]
    answers = client.post("/", json=batch).json()
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert answers[0]["result"] == hex(202611) and answers[1]["error"]["code"] == -32601
    assert answers[2]["result"] == "202611"


def test_transaction_flow_and_lookups(node) -> None:
    client, sequencer = node
    raw = raw_tx(KEYS[0], nonce=0, to=BOB, value=5, max_fee=4 * MIN_BASE_FEE, tip=SUGGESTED_PRIORITY_FEE)
    tx_hash = result(client, "eth_sendRawTransaction", "0x" + raw.hex())
    assert result(client, "eth_getTransactionCount", address_hex(ALICE), "pending") == "0x1"
    assert result(client, "eth_getTransactionCount", address_hex(ALICE), "latest") == "0x0"
    pending = result(client, "eth_getTransactionByHash", tx_hash)
    assert pending["blockHash"] is None and pending["hash"] == tx_hash
    assert result(client, "eth_getTransactionReceipt", tx_hash) is None
    sequencer.produce_block()
    receipt = result(client, "eth_getTransactionReceipt", tx_hash)
    assert (
        receipt["status"] == "0x1" and receipt["gasUsed"] == hex(21_000) and receipt["blockNumber"] == "0x1"
    )
    block = result(client, "eth_getBlockByNumber", "latest", True)
    assert block["transactions"][0]["hash"] == tx_hash and block["number"] == "0x1"
    assert result(client, "eth_getBlockByHash", block["hash"], False)["transactions"] == [tx_hash]
    assert result(client, "eth_getBalance", address_hex(BOB), "latest") == "0x5"
    assert result(client, "eth_getBalance", address_hex(BOB), "0x0") == "0x0"
    assert result(client, "eth_getBlockByNumber", "0x99", False) is None
    assert call(client, "eth_getBalance", address_hex(BOB), "0x99")["error"]["message"] == "header not found"
    again = call(client, "eth_sendRawTransaction", "0x" + raw.hex())
    assert again["error"]["code"] == -32000 and "nonce too low" in again["error"]["message"]


def test_call_estimate_and_revert_data(node) -> None:
    client, _ = node
    token_count = result(
        client, "eth_call", {"to": address_hex(ASSET_REGISTRY), "data": "0x" + calldata("tokenCount()").hex()}
    )
    assert int(token_count, 16) == 0
    data = calldata("setAllowed(address,bool)", BOB, True)
    refused = call(
        client,
        "eth_call",
        {"from": address_hex(BOB), "to": address_hex(IDENTITY_REGISTRY), "data": "0x" + data.hex()},
    )
    assert refused["error"]["code"] == 3
    assert refused["error"]["message"] == "execution reverted: IdentityRegistry: caller is not the admin"
    assert refused["error"]["data"] == "0x" + encode_error("IdentityRegistry: caller is not the admin").hex()
    gas = result(
        client,
        "eth_estimateGas",
        {"from": address_hex(ALICE), "to": address_hex(IDENTITY_REGISTRY), "data": "0x" + data.hex()},
    )
    data_gas = sum(4 if b == 0 else 16 for b in data)
    assert int(gas, 16) == 21_000 + data_gas + 25_000
    assert result(
        client, "eth_estimateGas", {"from": address_hex(ALICE), "to": address_hex(BOB), "value": "0x1"}
    ) == hex(21_000)
    assert result(client, "eth_getCode", address_hex(IDENTITY_REGISTRY), "latest") == "0xfe"
    assert result(client, "eth_getCode", address_hex(BOB), "latest") == "0x"


def test_fee_methods(node) -> None:
    client, sequencer = node
    for _ in range(3):
        sequencer.produce_block()
    assert int(result(client, "eth_gasPrice"), 16) == MIN_BASE_FEE + SUGGESTED_PRIORITY_FEE
    assert int(result(client, "eth_maxPriorityFeePerGas"), 16) == SUGGESTED_PRIORITY_FEE
    history = result(client, "eth_feeHistory", "0x2", "latest", [25, 75])
    assert history["oldestBlock"] == "0x2"
    assert len(history["baseFeePerGas"]) == 3 and len(history["gasUsedRatio"]) == 2
    assert history["reward"] == [["0x0", "0x0"], ["0x0", "0x0"]]
    assert call(client, "eth_feeHistory", "0x2", "latest", [75, 25])["error"]["code"] == -32602


def test_nesting_guard_counts_brackets_outside_strings_only() -> None:
    from jovay.rpc.server import MAX_NESTING_DEPTH, nesting_too_deep

    deep = b"[" * (MAX_NESTING_DEPTH + 1) + b"]" * (MAX_NESTING_DEPTH + 1)
    assert nesting_too_deep(deep)
    assert not nesting_too_deep(b"[" * MAX_NESTING_DEPTH + b"]" * MAX_NESTING_DEPTH)
    assert not nesting_too_deep(b'["' + b"[" * 1000 + b'"]')  # inside a string
    assert not nesting_too_deep(b'["a\\"' + b"{" * 1000 + b'"]')  # after an escaped quote
    assert not nesting_too_deep(b"[" + b"[1]," * 5000 + b"[1]]")  # wide, not deep
    assert nesting_too_deep(b'{"a":' * 1000)


def test_rpc_reference_documents_every_served_method(tmp_path: Path) -> None:
    from jovay.rpc.api import rpc_methods
    from jovay.rpc.events import EventHub

    chain = Chain(tmp_path, Genesis(identity_admin=ALICE, timestamp=1))
    methods = rpc_methods(chain, Sequencer(chain), None, EventHub())
    reference = (Path(__file__).resolve().parents[2] / "docs/rpc.md").read_text()
    assert len(methods) > 30
    assert [name for name in sorted(methods) if not re.search(rf"\b{name}\b", reference)] == []
    assert "`eth_subscribe`" in reference and "`eth_unsubscribe`" in reference
    chain.close()
