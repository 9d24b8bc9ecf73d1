"""JSON-RPC over WebSocket on a real uvicorn server: methods, subscriptions, limits, web3.py's provider."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.api import connect_events
from jovay.rpc.events import EventHub
from jovay.rpc.methods import EthApi
from jovay.rpc.server import MAX_BODY_BYTES, create_app
from jovay.rpc.ws import MAX_SUBSCRIPTIONS, WsLimits
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.stf.registry import token_address
from jovay.stf.token import TRANSFER_TOPIC
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, address_hex, calldata, raw_tx

ALICE, BOB, CAROL = ADDRESSES[:3]
ALICE_KEY = KEYS[0]
TOKEN = token_address(1)
TIMEOUT_S = 30.0  # generous: only reached when a test is about to fail; CI machines are noisy
QUIET_S = 0.3  # how long "no notification" is waited for


def word(address: bytes) -> str:
    return "0x" + (bytes(12) + address).hex()


class ServerThread:
    """uvicorn serving the app on a free 127.0.0.1 port from a background thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + TIMEOUT_S
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(TIMEOUT_S)
        self.sock.close()


@dataclass
class Node:
    chain: Chain
    sequencer: Sequencer
    hub: EventHub
    port: int
    nonces: dict[bytes, int]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def send(self, key: bytes, to: bytes, data: bytes = b"", value: int = 0) -> bytes:
        """Submit a signed transaction straight to the sequencer (as eth_sendRawTransaction would)."""
        nonce = self.nonces.get(key, 0)
        self.nonces[key] = nonce + 1
        raw = raw_tx(
            key, nonce=nonce, to=to, data=data, value=value, gas=200_000, max_fee=4 * MIN_BASE_FEE,
            tip=SUGGESTED_PRIORITY_FEE,
        )  # fmt: skip
        return self.sequencer.submit(raw)

    def raw(self, key: bytes, to: bytes, value: int) -> str:
        nonce = self.nonces.get(key, 0)
        self.nonces[key] = nonce + 1
        tip = SUGGESTED_PRIORITY_FEE
        tx = raw_tx(key, nonce=nonce, to=to, value=value, max_fee=4 * MIN_BASE_FEE, tip=tip)
        return "0x" + tx.hex()

    def with_token(self) -> None:
        """Alice (the identity admin) creates token 1, allowlists Alice and Bob, mints 1000 to Alice.

        Blocks 1 and 2 (the token's address only accepts calls once it exists).
        """
        self.send(ALICE_KEY, ASSET_REGISTRY, calldata("createToken(string,string,uint8)", "Pile", "PILE", 6))
        for holder in (ALICE, BOB):
            self.send(ALICE_KEY, IDENTITY_REGISTRY, calldata("setAllowed(address,bool)", holder, True))
        self.sequencer.produce_block()
        self.send(ALICE_KEY, TOKEN, calldata("mint(address,uint256)", ALICE, 1_000))
        self.sequencer.produce_block()

    def hub_subscribers(self) -> int:
        return len(self.hub._block_subscribers) + len(self.hub._pending_subscribers)


@contextmanager
def start_node(tmp_path: Path, ws_limits: WsLimits | None = None) -> Iterator[Node]:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    sequencer = Sequencer(chain)
    hub = EventHub()
    connect_events(chain, sequencer, hub)
    app = create_app(EthApi(chain, sequencer).methods(), hub, ws_limits)
    try:
        with ServerThread(app) as server:
            yield Node(chain, sequencer, hub, server.port, {})
    finally:
        chain.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    with start_node(tmp_path) as started:
        yield started


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an async scenario with a hard time bound."""

    async def bounded() -> None:
        await asyncio.wait_for(scenario(), 4 * TIMEOUT_S)

    asyncio.run(bounded())


class Client:
    """A raw JSON-RPC WebSocket client that sets notifications aside while it waits for an answer."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.notifications: deque[dict[str, Any]] = deque()
        self.last_id = 0

    async def receive(self, timeout: float = TIMEOUT_S) -> Any:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def call(self, method: str, *params: Any) -> dict[str, Any]:
        self.last_id += 1
        request_id = self.last_id
        request = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        await self.ws.send(json.dumps(request))
        while True:
            message = await self.receive()
            if isinstance(message, dict) and message.get("id") == request_id:
                return message
            self.notifications.append(message)

    async def result(self, method: str, *params: Any) -> Any:
        answer = await self.call(method, *params)
        assert "error" not in answer, answer
        return answer["result"]

    async def notification(self, sub_id: str) -> Any:
        """The next notification of `sub_id` (others are kept for later)."""
        for message in list(self.notifications):
            if message["params"]["subscription"] == sub_id:
                self.notifications.remove(message)
                return message["params"]["result"]
        while True:
            message = await self.receive()
            assert message["method"] == "eth_subscription", message
            if message["params"]["subscription"] == sub_id:
                return message["params"]["result"]
            self.notifications.append(message)

    async def quiet(self, sub_id: str) -> None:
        """Nothing more arrives for `sub_id` for a while."""
        assert all(m["params"]["subscription"] != sub_id for m in self.notifications)
        deadline = time.monotonic() + QUIET_S
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await self.receive(left)
            except TimeoutError:
                return
            assert message["params"]["subscription"] != sub_id, message
            self.notifications.append(message)


# --- methods over WebSocket -----------------------------------------------------------------------
def test_methods_single_batch_binary_and_bad_input(node: Node) -> None:
    async def scenario() -> None:
        async with connect(node.ws_url, max_size=None) as ws:
            client = Client(ws)
            assert await client.result("eth_chainId") == hex(CHAIN_ID)
            batch = [
                {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_nope"},
                {"jsonrpc": "2.0", "id": 3, "method": "net_version"},
            ]
            await ws.send(json.dumps(batch))
            answers = await client.receive()
            assert [a["id"] for a in answers] == [1, 2, 3]
            assert answers[0]["result"] == hex(CHAIN_ID) and answers[1]["error"]["code"] == -32601
            assert answers[2]["result"] == str(CHAIN_ID)
            await ws.send(b'{"jsonrpc":"2.0","id":7,"method":"eth_blockNumber"}')  # a binary frame, as web3
            assert await client.receive() == {"jsonrpc": "2.0", "id": 7, "result": "0x0"}
            await ws.send("{not json")
            assert (await client.receive())["error"] == {"code": -32700, "message": "parse error"}
            await ws.send(b"\xff\xfe")
            assert (await client.receive())["error"]["code"] == -32700
            await ws.send("[]")
            assert (await client.receive())["error"]["message"] == "empty batch"
            await ws.send(b"[" + b" " * MAX_BODY_BYTES + b"]")
            too_big = await client.receive()
            assert too_big["error"]["code"] == -32600 and "message too large" in too_big["error"]["message"]
            assert await client.result("eth_chainId") == hex(CHAIN_ID)  # still open after all that

    run(scenario)


def test_without_a_hub_methods_work_and_subscriptions_are_refused(tmp_path: Path) -> None:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    try:
        with TestClient(create_app(EthApi(chain, Sequencer(chain)).methods())) as client:
            with client.websocket_connect("/") as ws:
                ws.send_text('{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}')
                assert ws.receive_json()["result"] == hex(CHAIN_ID)
                ws.send_text('{"jsonrpc":"2.0","id":2,"method":"eth_subscribe","params":["newHeads"]}')
                refused = ws.receive_json()["error"]
                assert refused == {"code": -32601, "message": "notifications not supported"}
    finally:
        chain.close()


def test_subscribe_over_http_is_refused(node: Node) -> None:
    for method, params in (("eth_subscribe", ["newHeads"]), ("eth_unsubscribe", ["0x1"])):
        request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        answer = httpx.post(node.http_url, json=request, timeout=TIMEOUT_S).json()
        assert answer["error"] == {"code": -32601, "message": "notifications not supported"}
    request = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}
    assert httpx.post(node.http_url, json=request, timeout=TIMEOUT_S).json()["result"] == hex(CHAIN_ID)


# --- subscriptions --------------------------------------------------------------------------------
def test_new_heads(node: Node) -> None:
    async def scenario() -> None:
        async with connect(node.ws_url) as ws:
            client = Client(ws)
            sub_id = await client.result("eth_subscribe", "newHeads")
            assert isinstance(sub_id, str) and sub_id.startswith("0x") and len(sub_id) == 34
            for number in (1, 2):
                await asyncio.to_thread(node.sequencer.produce_block)
                head = await client.notification(sub_id)
                block = await client.result("eth_getBlockByNumber", hex(number), False)
                assert head["number"] == hex(number) and head["hash"] == block["hash"]
                assert head["stateRoot"] == block["stateRoot"] and head["parentHash"] == block["parentHash"]
                assert "transactions" not in head and "size" not in head

    run(scenario)


def test_logs_filter_receives_exactly_the_matching_transfer(node: Node) -> None:
    node.with_token()

    async def scenario() -> None:
        async with connect(node.ws_url) as ws:
            client = Client(ws)
            from_alice = await client.result(
                "eth_subscribe",
                "logs",
                {"address": address_hex(TOKEN), "topics": ["0x" + TRANSFER_TOPIC.hex(), word(ALICE)]},
            )
            everything = await client.result("eth_subscribe", "logs")
            to_carol = await client.result("eth_subscribe", "logs", {"topics": [None, None, word(CAROL)]})

            def block() -> bytes:
                node.send(ALICE_KEY, TOKEN, calldata("mint(address,uint256)", ALICE, 5))  # from 0 to Alice
                node.send(ALICE_KEY, IDENTITY_REGISTRY, calldata("setAllowed(address,bool)", CAROL, True))
                transfer = node.send(ALICE_KEY, TOKEN, calldata("transfer(address,uint256)", BOB, 400))
                node.sequencer.produce_block()
                return transfer

            transfer_hash = await asyncio.to_thread(block)
            receipt = await client.result("eth_getTransactionReceipt", "0x" + transfer_hash.hex())
            (expected,) = receipt["logs"]
            assert await client.notification(from_alice) == expected
            assert expected["blockNumber"] == "0x3" and expected["transactionIndex"] == "0x2"
            assert expected["logIndex"] == "0x2" and int(expected["data"], 16) == 400
            await client.quiet(from_alice)
            all_logs = [await client.notification(everything) for _ in range(3)]
            assert [entry["logIndex"] for entry in all_logs] == ["0x0", "0x1", "0x2"]
            assert all_logs[2] == expected
            await client.quiet(everything)
            await client.quiet(to_carol)

    run(scenario)


def test_new_pending_transactions(node: Node) -> None:
    async def scenario() -> None:
        async with connect(node.ws_url) as ws:
            client = Client(ws)
            hashes = await client.result("eth_subscribe", "newPendingTransactions")
            full = await client.result("eth_subscribe", "newPendingTransactions", True)
            tx_hash = await client.result("eth_sendRawTransaction", node.raw(ALICE_KEY, BOB, 5))
            assert await client.notification(hashes) == tx_hash
            tx = await client.notification(full)
            assert tx["hash"] == tx_hash and tx["blockHash"] is None and tx["value"] == "0x5"

    run(scenario)


def test_unsubscribe_and_disconnect_end_notifications(node: Node) -> None:
    async def scenario() -> None:
        async with connect(node.ws_url) as ws:
            client = Client(ws)
            heads = await client.result("eth_subscribe", "newHeads")
            pending = await client.result("eth_subscribe", "newPendingTransactions")
            assert node.hub_subscribers() == 2
            assert await client.result("eth_unsubscribe", heads) is True
            again = await client.call("eth_unsubscribe", heads)
            assert again["error"] == {"code": -32000, "message": "subscription not found"}
            await asyncio.to_thread(node.sequencer.produce_block)
            await client.quiet(heads)
            assert node.hub_subscribers() == 1 and pending
        deadline = time.monotonic() + TIMEOUT_S
        while node.hub_subscribers() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert node.hub_subscribers() == 0  # the connection closed: its subscriptions are gone

    run(scenario)


def test_subscription_errors_and_limit(node: Node) -> None:
    async def scenario() -> None:
        async with connect(node.ws_url) as ws:
            client = Client(ws)
            unknown = await client.call("eth_subscribe", "syncingX")
            message = 'no "syncingX" subscription in eth namespace'
            assert unknown["error"] == {"code": -32601, "message": message}
            assert (await client.call("eth_subscribe"))["error"]["code"] == -32602
            assert (await client.call("eth_subscribe", 5))["error"]["code"] == -32602
            assert (await client.call("eth_subscribe", "newHeads", {}))["error"]["code"] == -32602
            bad_filter = await client.call("eth_subscribe", "logs", {"address": "0x12"})
            assert bad_filter["error"]["code"] == -32602
            too_many_topics = await client.call("eth_subscribe", "logs", {"topics": [None] * 5})
            assert too_many_topics["error"]["code"] == -32602
            not_bool = await client.call("eth_subscribe", "newPendingTransactions", "yes")
            assert not_bool["error"]["code"] == -32602
            assert node.hub_subscribers() == 0  # failed subscribes leave nothing behind
            batch = [
                {"jsonrpc": "2.0", "id": i, "method": "eth_subscribe", "params": ["newHeads"]}
                for i in range(MAX_SUBSCRIPTIONS)
            ]
            await ws.send(json.dumps(batch))
            answers = await client.receive()
            assert len({a["result"] for a in answers}) == MAX_SUBSCRIPTIONS
            refused = await client.call("eth_subscribe", "newHeads")
            assert refused["error"]["code"] == -32000
            assert refused["error"]["message"].startswith("too many subscriptions")
            assert await client.result("eth_unsubscribe", answers[0]["result"]) is True
            assert await client.result("eth_subscribe", "newHeads")

    run(scenario)


def test_slow_client_is_disconnected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A client that asks for a lot and reads nothing is cut off; its subscriptions go with it."""
    caplog.set_level(logging.INFO, logger="jovay.rpc.ws")
    limits = WsLimits(max_message_bytes=MAX_BODY_BYTES, max_queued_bytes=1024 * 1024)
    with start_node(tmp_path, limits) as node:

        async def scenario() -> None:
            # A small receive buffer and max_queue=1: the client stops reading after one unread message.
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
            sock.connect(("127.0.0.1", node.port))
            sock.setblocking(False)
            # No compression: the answers must really take 2 MiB each on the wire.
            async with connect(node.ws_url, sock=sock, max_size=None, max_queue=1, compression=None) as ws:
                client = Client(ws)
                await client.result("eth_subscribe", "newHeads")
                name = "x" * (1024 * 1024)  # each answer echoes the unknown method's name: 2 MiB
                request = json.dumps([{"jsonrpc": "2.0", "id": i, "method": name} for i in range(2)])
                sent = 16

                async def flood() -> None:
                    """Send from a task: once cut off the server reads no more, and a send may block."""
                    with contextlib.suppress(ConnectionClosed):
                        for _ in range(sent):
                            await ws.send(request)

                sender = asyncio.create_task(flood())
                deadline = time.monotonic() + TIMEOUT_S
                while node.hub_subscribers() and time.monotonic() < deadline:
                    await asyncio.sleep(0.02)
                assert node.hub_subscribers() == 0
                answered = 0
                with pytest.raises(ConnectionClosed):
                    while True:
                        await client.receive()
                        answered += 1
                sender.cancel()
                await asyncio.wait({sender}, timeout=TIMEOUT_S)
                assert answered < sent

        run(scenario)
    assert "closing a WebSocket client that fell behind" in caplog.text


# --- web3.py ----------------------------------------------------------------------------------------
def test_web3_websocket_provider_subscriptions(node: Node) -> None:
    from web3 import AsyncWeb3, WebSocketProvider

    node.with_token()

    async def scenario() -> None:
        async with AsyncWeb3(WebSocketProvider(node.ws_url, request_timeout=TIMEOUT_S)) as w3:
            assert await w3.eth.chain_id == CHAIN_ID
            heads = await w3.eth.subscribe("newHeads")
            logs = await w3.eth.subscribe(
                "logs", {"address": w3.to_checksum_address(TOKEN), "topics": ["0x" + TRANSFER_TOPIC.hex()]}
            )
            transfer = await asyncio.to_thread(
                node.send, ALICE_KEY, TOKEN, calldata("transfer(address,uint256)", BOB, 7)
            )
            await asyncio.to_thread(node.sequencer.produce_block)
            got: dict[str, Any] = {}
            async for message in w3.socket.process_subscriptions():
                got[message["subscription"]] = message["result"]
                if heads in got and logs in got:
                    break
            assert got[heads]["number"] == 3
            assert got[heads]["hash"] == (await w3.eth.get_block(3))["hash"]
            log = got[logs]
            assert log["transactionHash"] == transfer and log["blockNumber"] == 3
            assert int.from_bytes(log["data"], "big") == 7
            assert await w3.eth.unsubscribe(heads) is True

    run(scenario)
