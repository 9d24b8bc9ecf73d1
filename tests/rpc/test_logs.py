"""Logs, filters, by-index lookups and txpool methods, in process over a real chain and sequencer.

The seeded chain: block 1 creates a token and allowlists Alice and Bob (three logs, one per
transaction), block 2 mints to Alice, block 3 holds Bob's plain ETH transfer (index 0, no logs) and
Alice's token transfer to Bob (index 1, the block's log 0).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_utils import to_checksum_address
from fastapi.testclient import TestClient

from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, TOKEN_ADDRESS_PREFIX
from jovay.rpc.api import connect_events, rpc_methods
from jovay.rpc.events import EventHub
from jovay.rpc.logs import MAX_LOG_BLOCK_RANGE, LogsApi, LogsLimits
from jovay.rpc.methods import EthApi
from jovay.rpc.server import create_app
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.stf.identity import ALLOWLIST_UPDATED
from jovay.stf.registry import TOKEN_CREATED
from jovay.stf.token import TRANSFER_TOPIC
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, address_hex, calldata, raw_tx

ALICE, BOB, CAROL = ADDRESSES[:3]
ALICE_KEY, BOB_KEY = KEYS[:2]
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")


def word(address: bytes) -> str:
    return "0x" + (bytes(12) + address).hex()


def topic(value: bytes) -> str:
    return "0x" + value.hex()


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Heads:
    def safe_block(self) -> int:
        return 1

    def finalized_block(self) -> int:
        return 0


@dataclass
class Node:
    client: TestClient
    chain: Chain
    sequencer: Sequencer
    hub: EventHub
    eth: EthApi
    clock: Clock
    nonces: dict[bytes, int] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, *params: Any) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}
        return self.client.post("/", json=body).json()

    def result(self, method: str, *params: Any) -> Any:
        answer = self.call(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    def error(self, method: str, *params: Any) -> dict[str, Any]:
        answer = self.call(method, *params)
        assert "error" in answer, answer
        return answer["error"]

    def send(self, key: bytes, to: bytes, data: bytes = b"", *, value: int = 0, tip: int = 1_000) -> str:
        """Submit a signed transaction with the key's next nonce; returns its hash."""
        nonce = self.nonces.get(key, 0)
        self.nonces[key] = nonce + 1
        raw = raw_tx(
            key, nonce=nonce, to=to, data=data, value=value, gas=200_000, max_fee=4 * MIN_BASE_FEE, tip=tip
        )
        return self.result("eth_sendRawTransaction", "0x" + raw.hex())

    def block_hash(self, number: int) -> str:
        return self.result("eth_getBlockByNumber", hex(number), False)["hash"]

    def logs_api(self, limits: LogsLimits | None = None) -> LogsApi:
        return LogsApi(self.chain, self.sequencer, self.hub, self.eth, limits, self.clock)

    def use(self, logs: LogsApi) -> None:
        self.client = TestClient(create_app(self.eth.methods() | logs.methods()))


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    funded = {a: 10 * ETH for a in (ALICE, BOB, CAROL)}
    chain = Chain(tmp_path, Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc=funded))
    sequencer = Sequencer(chain)
    hub = EventHub()
    connect_events(chain, sequencer, hub)
    eth = EthApi(chain, sequencer, Heads())
    built = Node(TestClient(create_app({})), chain, sequencer, hub, eth, Clock())
    built.use(built.logs_api())
    yield built
    chain.close()


def seal_block_1(node: Node) -> None:
    node.hashes["create"] = node.send(
        ALICE_KEY, ASSET_REGISTRY, calldata("createToken(string,string,uint8)", "Pile", "PILE", 6)
    )
    for holder in (ALICE, BOB):
        node.hashes[f"allow-{holder.hex()}"] = node.send(
            ALICE_KEY, IDENTITY_REGISTRY, calldata("setAllowed(address,bool)", holder, True)
        )
    node.sequencer.produce_block()


def seal_block_2(node: Node) -> None:
    node.hashes["mint"] = node.send(ALICE_KEY, TOKEN, calldata("mint(address,uint256)", ALICE, 1_000))
    node.sequencer.produce_block()


def seal_block_3(node: Node) -> None:
    node.hashes["eth"] = node.send(BOB_KEY, CAROL, value=1, tip=5_000)
    node.hashes["transfer"] = node.send(ALICE_KEY, TOKEN, calldata("transfer(address,uint256)", BOB, 400))
    node.sequencer.produce_block()


@pytest.fixture
def seeded(node: Node) -> Node:
    seal_block_1(node)
    seal_block_2(node)
    seal_block_3(node)
    assert node.chain.head.number == 3
    return node


def get_logs(node: Node, **query: Any) -> list[dict[str, Any]]:
    return node.result("eth_getLogs", query)


def tx_hashes(logs: list[dict[str, Any]]) -> list[str]:
    return [log["transactionHash"] for log in logs]


# --- eth_getLogs -----------------------------------------------------------------------------------
def test_get_logs_by_address_carries_location_fields(seeded: Node) -> None:
    logs = get_logs(seeded, fromBlock="earliest", address=address_hex(TOKEN))
    assert tx_hashes(logs) == [seeded.hashes["mint"], seeded.hashes["transfer"]]
    transfer = logs[1]
    assert transfer == {
        "address": address_hex(TOKEN),
        "topics": [topic(TRANSFER_TOPIC), word(ALICE), word(BOB)],
        "data": "0x" + (400).to_bytes(32, "big").hex(),
        "blockHash": seeded.block_hash(3),
        "blockNumber": "0x3",
        "transactionHash": seeded.hashes["transfer"],
        "transactionIndex": "0x1",
        "logIndex": "0x0",
        "removed": False,
    }
    both = get_logs(seeded, fromBlock="0x0", address=[address_hex(TOKEN), address_hex(IDENTITY_REGISTRY)])
    assert [log["blockNumber"] for log in both] == ["0x1", "0x1", "0x2", "0x3"]
    assert get_logs(seeded, fromBlock="0x0", address=address_hex(CAROL)) == []


def test_get_logs_log_index_is_block_wide(seeded: Node) -> None:
    logs = get_logs(seeded, fromBlock="0x1", toBlock="0x1")
    assert [(log["transactionIndex"], log["logIndex"]) for log in logs] == [
        ("0x0", "0x0"),
        ("0x1", "0x1"),
        ("0x2", "0x2"),
    ]
    allow_bob = get_logs(seeded, fromBlock="0x1", toBlock="0x1", topics=[None, word(BOB)])
    assert [(log["transactionIndex"], log["logIndex"]) for log in allow_bob] == [("0x2", "0x2")]


def test_get_logs_by_topic_positions_or_lists_and_nulls(seeded: Node) -> None:
    def hashes(topics: list[Any]) -> list[str]:
        return tx_hashes(get_logs(seeded, fromBlock="earliest", topics=topics))

    h = seeded.hashes
    assert hashes([topic(TRANSFER_TOPIC)]) == [h["mint"], h["transfer"]]
    assert hashes([None, None, word(BOB)]) == [h["transfer"]]
    assert hashes([None, None, word(ALICE)]) == [h["create"], h["mint"]]
    assert hashes([topic(TRANSFER_TOPIC), [word(bytes(20)), word(BOB)]]) == [h["mint"]]
    assert hashes([[topic(TOKEN_CREATED), topic(ALLOWLIST_UPDATED)]]) == [
        h["create"],
        h[f"allow-{ALICE.hex()}"],
        h[f"allow-{BOB.hex()}"],
    ]
    assert hashes([topic(ALLOWLIST_UPDATED), None, None]) == []  # more positions than its two topics
    assert hashes([[], word(ALICE)]) == [h[f"allow-{ALICE.hex()}"], h["transfer"]]


def test_get_logs_block_ranges_and_tags(seeded: Node) -> None:
    h = seeded.hashes
    assert tx_hashes(get_logs(seeded, fromBlock="0x2", toBlock="0x2")) == [h["mint"]]
    assert tx_hashes(get_logs(seeded, fromBlock="0x3")) == [h["transfer"]]
    assert tx_hashes(get_logs(seeded)) == [h["transfer"]]  # latest..latest
    assert len(get_logs(seeded, fromBlock="earliest", toBlock="safe")) == 3  # the stub's safe head is 1
    assert len(get_logs(seeded, fromBlock="0x1", toBlock="0x99")) == 5  # clamped to the head
    assert get_logs(seeded, fromBlock="0x99") == []
    assert get_logs(seeded, fromBlock="earliest", toBlock="finalized") == []


def test_get_logs_by_block_hash(seeded: Node) -> None:
    logs = get_logs(seeded, blockHash=seeded.block_hash(1))
    assert [log["logIndex"] for log in logs] == ["0x0", "0x1", "0x2"]
    assert {log["blockHash"] for log in logs} == {seeded.block_hash(1)}
    only_token = get_logs(seeded, blockHash=seeded.block_hash(3), address=address_hex(TOKEN))
    assert tx_hashes(only_token) == [seeded.hashes["transfer"]]
    unknown = seeded.error("eth_getLogs", {"blockHash": "0x" + "ab" * 32})
    assert unknown == {"code": -32000, "message": "unknown block"}


def test_get_logs_parameter_errors(seeded: Node) -> None:
    both = seeded.error("eth_getLogs", {"blockHash": seeded.block_hash(1), "fromBlock": "0x1"})
    assert both["code"] == -32602 and "cannot specify both BlockHash and FromBlock/ToBlock" in both["message"]
    backwards = seeded.error("eth_getLogs", {"fromBlock": "0x3", "toBlock": "0x2"})
    assert backwards == {"code": -32602, "message": "invalid block range params"}
    assert seeded.error("eth_getLogs", {"fromBlock": "soon"})["code"] == -32602
    assert seeded.error("eth_getLogs", {"address": "0x12"})["code"] == -32602
    wide = [word(bytes([i % 256, i // 256]) + bytes(18)) for i in range(1_001)]
    too_many = seeded.error("eth_getLogs", {"topics": [wide]})
    assert too_many == {"code": -32602, "message": "exceed max addresses or topics per search position"}


def test_get_logs_range_and_result_limits(seeded: Node) -> None:
    assert MAX_LOG_BLOCK_RANGE == 10_000
    seeded.use(seeded.logs_api(LogsLimits(max_block_range=2, max_results=2)))
    wide = seeded.error("eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x3"})
    assert wide == {"code": -32000, "message": "exceed maximum block range: 2"}
    assert len(get_logs(seeded, fromBlock="0x2", toBlock="0x3")) == 2
    assert len(get_logs(seeded, fromBlock="0x2", toBlock="0x99")) == 2  # clamped to the head: 2 blocks
    big = seeded.error("eth_getLogs", {"fromBlock": "0x1", "toBlock": "0x1"})
    assert big == {"code": -32005, "message": "query returned more than 2 results"}


def test_get_logs_skips_blocks_by_bloom(seeded: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    original = seeded.chain.receipts

    def counting(number: int) -> Any:
        read.append(number)
        return original(number)

    monkeypatch.setattr(seeded.chain, "receipts", counting)
    assert len(get_logs(seeded, fromBlock="earliest", address=address_hex(TOKEN))) == 2
    assert read == [2, 3]


# --- filters ---------------------------------------------------------------------------------------
def test_log_filter_returns_each_new_log_once(node: Node) -> None:
    seal_block_1(node)
    filter_id = node.result("eth_newFilter", {"address": address_hex(TOKEN)})
    assert re.fullmatch(r"0x[1-9a-f][0-9a-f]{0,31}", filter_id)
    assert node.result("eth_getFilterChanges", filter_id) == []
    seal_block_2(node)
    changes = node.result("eth_getFilterChanges", filter_id)
    assert tx_hashes(changes) == [node.hashes["mint"]] and changes[0]["blockNumber"] == "0x2"
    assert node.result("eth_getFilterChanges", filter_id) == []
    seal_block_3(node)
    (transfer,) = node.result("eth_getFilterChanges", filter_id)
    assert transfer == get_logs(node, fromBlock="0x3", address=address_hex(TOKEN))[0]
    assert node.result("eth_getFilterChanges", filter_id) == []


def test_log_filter_block_bounds_and_filter_logs(node: Node) -> None:
    seal_block_1(node)
    from_three = node.result("eth_newFilter", {"fromBlock": "0x3", "topics": [topic(TRANSFER_TOPIC)]})
    whole = node.result("eth_newFilter", {"fromBlock": "earliest", "topics": [topic(TRANSFER_TOPIC)]})
    seal_block_2(node)
    seal_block_3(node)
    assert tx_hashes(node.result("eth_getFilterChanges", from_three)) == [node.hashes["transfer"]]
    expected = [node.hashes["mint"], node.hashes["transfer"]]
    assert tx_hashes(node.result("eth_getFilterChanges", whole)) == expected
    assert tx_hashes(node.result("eth_getFilterLogs", whole)) == expected
    assert tx_hashes(node.result("eth_getFilterLogs", whole)) == expected  # not consumed
    backwards = node.error("eth_newFilter", {"fromBlock": "0x3", "toBlock": "0x2"})
    assert backwards == {"code": -32602, "message": "invalid block range params"}


def test_block_filter_returns_new_block_hashes(node: Node) -> None:
    filter_id = node.result("eth_newBlockFilter")
    node.sequencer.produce_block()
    node.sequencer.produce_block()
    assert node.result("eth_getFilterChanges", filter_id) == [node.block_hash(1), node.block_hash(2)]
    assert node.result("eth_getFilterChanges", filter_id) == []
    node.sequencer.produce_block()
    assert node.result("eth_getFilterChanges", filter_id) == [node.block_hash(3)]


def test_pending_filter_returns_admitted_hashes(node: Node) -> None:
    hashes_only = node.result("eth_newPendingTransactionFilter")
    full = node.result("eth_newPendingTransactionFilter", True)
    first = node.send(BOB_KEY, CAROL, value=1)
    second = node.send(BOB_KEY, CAROL, value=2)
    assert node.result("eth_getFilterChanges", hashes_only) == [first, second]
    assert node.result("eth_getFilterChanges", hashes_only) == []
    objects = node.result("eth_getFilterChanges", full)
    assert [tx["hash"] for tx in objects] == [first, second] and objects[0]["blockHash"] is None
    node.sequencer.produce_block()
    assert node.result("eth_getFilterChanges", hashes_only) == []  # sealing is not a pending event


def test_uninstall_and_unknown_filters(node: Node) -> None:
    ids = {node.result("eth_newBlockFilter") for _ in range(3)}
    assert len(ids) == 3
    filter_id = ids.pop()
    assert node.result("eth_uninstallFilter", filter_id) is True
    assert node.result("eth_uninstallFilter", filter_id) is False
    not_found = {"code": -32000, "message": "filter not found"}
    assert node.error("eth_getFilterChanges", filter_id) == not_found
    assert node.error("eth_getFilterChanges", "0xdead") == not_found
    assert node.error("eth_getFilterLogs", ids.pop()) == not_found  # a block filter has no logs
    assert node.error("eth_getFilterLogs", node.result("eth_newPendingTransactionFilter")) == not_found
    assert node.error("eth_getFilterChanges", 7)["code"] == -32602


def test_filters_expire_five_minutes_after_the_last_poll(node: Node) -> None:
    polled = node.result("eth_newBlockFilter")
    idle = node.result("eth_newBlockFilter")
    node.clock.now += 299
    assert node.result("eth_getFilterChanges", polled) == []
    node.clock.now += 2
    assert node.error("eth_getFilterChanges", idle)["message"] == "filter not found"
    node.clock.now += 297
    node.sequencer.produce_block()
    assert node.result("eth_getFilterChanges", polled) == [node.block_hash(1)]
    node.clock.now += 300
    assert node.error("eth_getFilterChanges", polled)["message"] == "filter not found"


def test_filter_count_limit_frees_expired_slots(node: Node) -> None:
    node.use(node.logs_api(LogsLimits(max_filters=2)))
    node.result("eth_newBlockFilter")
    node.result("eth_newFilter", {})
    assert node.error("eth_newPendingTransactionFilter") == {"code": -32000, "message": "too many filters"}
    node.clock.now += 301
    assert node.result("eth_newPendingTransactionFilter")


def test_filter_buffer_keeps_the_newest_items(node: Node) -> None:
    node.use(node.logs_api(LogsLimits(max_filter_items=2)))
    filter_id = node.result("eth_newBlockFilter")
    for _ in range(3):
        node.sequencer.produce_block()
    assert node.result("eth_getFilterChanges", filter_id) == [node.block_hash(2), node.block_hash(3)]


# --- blocks, receipts, transactions by index ------------------------------------------------------
def test_block_receipts(seeded: Node) -> None:
    receipts = seeded.result("eth_getBlockReceipts", "0x3")
    assert [r["transactionHash"] for r in receipts] == [seeded.hashes["eth"], seeded.hashes["transfer"]]
    assert receipts[1] == seeded.result("eth_getTransactionReceipt", seeded.hashes["transfer"])
    first = seeded.result("eth_getBlockReceipts", seeded.block_hash(1))
    assert [r["logs"][0]["logIndex"] for r in first] == ["0x0", "0x1", "0x2"]
    assert seeded.result("eth_getBlockReceipts", {"blockHash": seeded.block_hash(1)}) == first
    assert seeded.result("eth_getBlockReceipts", "latest") == receipts
    assert seeded.result("eth_getBlockReceipts", "0x0") == []
    assert seeded.result("eth_getBlockReceipts", "0x99") is None
    assert seeded.result("eth_getBlockReceipts", "0x" + "ab" * 32) is None
    assert seeded.result("eth_getBlockReceipts", {"blockHash": "0x" + "ab" * 32}) is None


def test_transaction_counts_and_uncles(seeded: Node) -> None:
    assert seeded.result("eth_getBlockTransactionCountByNumber", "0x1") == "0x3"
    assert seeded.result("eth_getBlockTransactionCountByNumber", "latest") == "0x2"
    assert seeded.result("eth_getBlockTransactionCountByNumber", "0x0") == "0x0"
    assert seeded.result("eth_getBlockTransactionCountByNumber", "0x99") is None
    assert seeded.result("eth_getBlockTransactionCountByHash", seeded.block_hash(1)) == "0x3"
    assert seeded.result("eth_getBlockTransactionCountByHash", "0x" + "ab" * 32) is None
    assert seeded.result("eth_getUncleCountByBlockNumber", "0x1") == "0x0"
    assert seeded.result("eth_getUncleCountByBlockNumber", "0x99") is None
    assert seeded.result("eth_getUncleCountByBlockHash", seeded.block_hash(2)) == "0x0"
    assert seeded.result("eth_getUncleCountByBlockHash", "0x" + "ab" * 32) is None


def test_transactions_by_block_and_index(seeded: Node) -> None:
    by_number = seeded.result("eth_getTransactionByBlockNumberAndIndex", "0x3", "0x1")
    assert by_number == seeded.result("eth_getTransactionByHash", seeded.hashes["transfer"])
    assert by_number["transactionIndex"] == "0x1" and by_number["blockNumber"] == "0x3"
    by_hash = seeded.result("eth_getTransactionByBlockHashAndIndex", seeded.block_hash(3), "0x0")
    assert by_hash["hash"] == seeded.hashes["eth"] and by_hash["blockHash"] == seeded.block_hash(3)
    assert seeded.result("eth_getTransactionByBlockNumberAndIndex", "0x3", "0x2") is None
    assert seeded.result("eth_getTransactionByBlockNumberAndIndex", "0x99", "0x0") is None
    assert seeded.result("eth_getTransactionByBlockHashAndIndex", seeded.block_hash(3), "0x2") is None
    assert seeded.result("eth_getTransactionByBlockHashAndIndex", "0x" + "ab" * 32, "0x0") is None
    assert seeded.error("eth_getTransactionByBlockNumberAndIndex", "0x3", "one")["code"] == -32602


# --- txpool ---------------------------------------------------------------------------------------
def test_txpool_splits_pending_and_queued_at_a_nonce_gap(node: Node) -> None:
    assert node.result("txpool_status") == {"pending": "0x0", "queued": "0x0"}
    alice = [node.send(ALICE_KEY, CAROL, value=1) for _ in range(2)]
    node.nonces[ALICE_KEY] = 3
    gapped = node.send(ALICE_KEY, CAROL, value=1)
    bob = node.send(BOB_KEY, CAROL, value=1)
    assert node.result("txpool_status") == {"pending": "0x3", "queued": "0x1"}
    content = node.result("txpool_content")
    alice_key, bob_key = to_checksum_address(ALICE), to_checksum_address(BOB)
    assert {k: list(v) for k, v in content["pending"].items()} == {alice_key: ["0", "1"], bob_key: ["0"]}
    assert [tx["hash"] for tx in content["pending"][alice_key].values()] == alice
    assert content["pending"][bob_key]["0"]["hash"] == bob
    (queued,) = content["queued"][alice_key].values()
    assert queued == node.result("eth_getTransactionByHash", gapped) and queued["blockHash"] is None
    assert queued["nonce"] == "0x3" and list(content["queued"]) == [alice_key]
    node.sequencer.produce_block()
    assert node.result("txpool_status") == {"pending": "0x0", "queued": "0x1"}
    node.nonces[ALICE_KEY] = 2
    node.send(ALICE_KEY, CAROL, value=1)
    assert node.result("txpool_status") == {"pending": "0x2", "queued": "0x0"}


def test_rpc_methods_serves_the_logs_api(seeded: Node) -> None:
    methods = rpc_methods(seeded.chain, seeded.sequencer, None, seeded.hub)
    for name in ("eth_getLogs", "eth_newFilter", "eth_getBlockReceipts", "txpool_content", "eth_chainId"):
        assert name in methods
    seeded.client = TestClient(create_app(methods))
    filter_id = seeded.result("eth_newBlockFilter")
    seeded.sequencer.produce_block()
    assert seeded.result("eth_getFilterChanges", filter_id) == [seeded.block_hash(4)]
    assert len(get_logs(seeded, fromBlock="earliest")) == 5
