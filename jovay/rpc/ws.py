"""JSON-RPC over WebSocket: every HTTP method, plus eth_subscribe / eth_unsubscribe (geth semantics).

One `Connection` per socket. Requests go through the same envelope as HTTP (`handle_body`), answered
in order. Subscriptions (`newHeads`, `logs`, `newPendingTransactions`) hang off the `EventHub`, whose
publishers call from their own threads: events are handed to the event loop with
`call_soon_threadsafe` and formatted there. Everything a client is sent waits in a byte-bounded
`Outbox`; a client that does not keep up is disconnected instead of growing the node's memory.
Subscriptions end with the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from jovay.rpc.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    SERVER_ERROR,
    RpcError,
)
from jovay.rpc.events import BlockEvent, EventHub
from jovay.rpc.format import format_header, format_log
from jovay.rpc.logfilter import LogFilter, parse_log_query
from jovay.rpc.params import hex_bytes

if TYPE_CHECKING:
    from jovay.rpc.server import Method

log = logging.getLogger(__name__)

MAX_SUBSCRIPTIONS = 100
MAX_QUEUED_BYTES = 16 * 1024 * 1024
CLOSE_TIMEOUT_S = 2.0
CLOSE_TOO_SLOW = 1008  # policy violation: the client does not read what it asked for
SUBSCRIPTION_METHODS = ("eth_subscribe", "eth_unsubscribe")
NEW_HEADS, LOGS, NEW_PENDING = "newHeads", "logs", "newPendingTransactions"
BLOCK_ONLY_FIELDS = ("size", "totalDifficulty", "uncles")  # block fields geth's header JSON lacks

Envelope = Callable[[dict[str, "Method"], bytes], tuple[int, Any]]


@dataclass(frozen=True, slots=True)
class WsLimits:
    max_message_bytes: int
    max_subscriptions: int = MAX_SUBSCRIPTIONS
    max_queued_bytes: int = MAX_QUEUED_BYTES


def notifications_unsupported(params: list[Any]) -> Any:
    """eth_subscribe / eth_unsubscribe where there is no connection to notify (HTTP), as geth answers."""
    raise RpcError(METHOD_NOT_FOUND, "notifications not supported")


def encode(message: Any) -> str:
    """Compact JSON; ASCII only (json escapes the rest), so its length is its size in bytes."""
    return json.dumps(message, separators=(",", ":"))


class Outbox:
    """Messages waiting for one client, bounded in bytes; overflowing closes it for good.

    A message is always taken when nothing is waiting, so one large answer still goes out.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.overflowed = False
        self._messages: deque[str] = deque()
        self._size = 0
        self._ready = asyncio.Event()

    def put(self, message: str) -> bool:
        """Queue a message; False (and the outbox is dead) when the client is too far behind."""
        if self.overflowed:
            return False
        if self._messages and self._size + len(message) > self.limit:
            self.overflowed = True
            self._messages.clear()
            self._size = 0
            self._ready.set()
            return False
        self._messages.append(message)
        self._size += len(message)
        self._ready.set()
        return True

    async def get(self) -> str | None:
        """The next message, waiting for one; None once the outbox overflowed."""
        while not self._messages and not self.overflowed:
            self._ready.clear()
            await self._ready.wait()
        if self.overflowed:
            return None
        message = self._messages.popleft()
        self._size -= len(message)
        return message


@dataclass(frozen=True, slots=True)
class Subscription:
    kind: str
    unsubscribe: Callable[[], None]  # from the hub
    log_filter: LogFilter = LogFilter()
    full_transactions: bool = False


class Connection:
    """One client's requests and subscriptions; all methods run on the event loop's thread."""

    def __init__(
        self,
        methods: dict[str, Method],
        hub: EventHub | None,
        envelope: Envelope,
        outbox: Outbox,
        limits: WsLimits,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.hub = hub
        self.envelope = envelope
        self.outbox = outbox
        self.limits = limits
        self.loop = loop
        self.subscriptions: dict[str, Subscription] = {}
        self.closed = False
        self.methods: dict[str, Method] = {
            **methods,
            "eth_subscribe": self.subscribe,
            "eth_unsubscribe": self.unsubscribe,
        }
        if hub is None:
            self.methods |= {name: notifications_unsupported for name in SUBSCRIPTION_METHODS}

    # --- requests --------------------------------------------------------------------------------
    def handle_message(self, data: bytes) -> None:
        """Answer one WebSocket message (a request or a batch).

        The answer is queued before any notification of a subscription it creates: notifications
        reach the loop through `call_soon_threadsafe`, so they run only after this returns.
        """
        if len(data) > self.limits.max_message_bytes:
            why = f"message too large: {len(data)} bytes, limit {self.limits.max_message_bytes}"
            answer: Any = {"jsonrpc": "2.0", "id": None, "error": RpcError(INVALID_REQUEST, why).to_json()}
        else:
            _, answer = self.envelope(self.methods, data)
        try:
            text = encode(answer)
        except (TypeError, ValueError):  # a method returned something that is not JSON: a bug, not a crash
            log.exception("unserializable answer to a WebSocket message")
            internal = RpcError(INTERNAL_ERROR, "internal error").to_json()
            text = encode({"jsonrpc": "2.0", "id": None, "error": internal})
        self.outbox.put(text)

    def subscribe(self, params: list[Any]) -> str:
        if not params or not isinstance(params[0], str):
            raise RpcError(INVALID_PARAMS, "expected subscription name as first argument")
        kind, args = params[0], params[1:]
        if kind not in (NEW_HEADS, LOGS, NEW_PENDING):
            raise RpcError(METHOD_NOT_FOUND, f'no "{kind}" subscription in eth namespace')
        most = 0 if kind == NEW_HEADS else 1
        if len(args) > most:
            raise RpcError(INVALID_PARAMS, f"too many arguments, want at most {most}")
        if len(self.subscriptions) >= self.limits.max_subscriptions:
            why = f"too many subscriptions: limit {self.limits.max_subscriptions} per connection"
            raise RpcError(SERVER_ERROR, why)
        sub_id = "0x" + secrets.token_hex(16)
        self.subscriptions[sub_id] = self._start(sub_id, kind, args[0] if args else None)
        return sub_id

    def _start(self, sub_id: str, kind: str, arg: Any) -> Subscription:
        """Validate the argument, then attach to the hub (nothing to undo if the argument is bad)."""
        assert self.hub is not None
        if kind == NEW_PENDING:
            if arg is not None and not isinstance(arg, bool):
                raise RpcError(INVALID_PARAMS, "invalid argument 1: expected a boolean (full transactions)")
            unsubscribe = self.hub.subscribe_pending(self._relay(sub_id))
            return Subscription(kind, unsubscribe, full_transactions=bool(arg))
        log_filter = parse_log_query(arg, 1).filter if kind == LOGS and arg is not None else LogFilter()
        return Subscription(kind, self.hub.subscribe_blocks(self._relay(sub_id)), log_filter=log_filter)

    def unsubscribe(self, params: list[Any]) -> bool:
        if not params or not isinstance(params[0], str):
            raise RpcError(INVALID_PARAMS, "invalid argument 0: expected a subscription id")
        subscription = self.subscriptions.pop(params[0], None)
        if subscription is None:
            raise RpcError(SERVER_ERROR, "subscription not found")
        subscription.unsubscribe()
        return True

    def close(self) -> None:
        """End every subscription (the connection is gone)."""
        self.closed = True
        for subscription in self.subscriptions.values():
            subscription.unsubscribe()
        self.subscriptions.clear()

    # --- events ----------------------------------------------------------------------------------
    def _relay(self, sub_id: str) -> Callable[[Any], None]:
        """A hub callback (publisher thread) that hands the event to the loop and returns at once."""

        def relay(event: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is shutting down
                self.loop.call_soon_threadsafe(self._deliver, sub_id, event)

        return relay

    def _deliver(self, sub_id: str, event: Any) -> None:
        subscription = self.subscriptions.get(sub_id)
        if subscription is None or self.closed or self.outbox.overflowed:
            return  # unsubscribed or disconnected after the event was published
        try:
            for result in notification_results(subscription, event, self.methods):
                if not self._notify(sub_id, result):
                    return
        except Exception:
            log.exception("failed to deliver a %s notification", subscription.kind)

    def _notify(self, sub_id: str, result: Any) -> bool:
        params = {"subscription": sub_id, "result": result}
        return self.outbox.put(encode({"jsonrpc": "2.0", "method": "eth_subscription", "params": params}))


def notification_results(subscription: Subscription, event: Any, methods: dict[str, Method]) -> list[Any]:
    """What one hub event means for a subscription: zero or more notification results."""
    if subscription.kind == NEW_HEADS:
        return [header_json(event)]
    if subscription.kind == LOGS:
        return matching_logs(event, subscription.log_filter)
    tx_hash = hex_bytes(event)
    lookup = methods.get("eth_getTransactionByHash")
    if not subscription.full_transactions or lookup is None:
        return [tx_hash]
    tx = lookup([tx_hash])
    return [tx] if tx is not None else []


def header_json(event: BlockEvent) -> dict[str, Any]:
    """A `newHeads` result: geth's header JSON (the block's fields without size, difficulty sum, uncles)."""
    header = format_header(event.header, event.hash)
    for name in BLOCK_ONLY_FIELDS:
        header.pop(name, None)
    return header


def matching_logs(event: BlockEvent, log_filter: LogFilter) -> list[dict[str, Any]]:
    """The block's logs that pass the filter, each placed in the block as eth_getLogs places it."""
    if not log_filter.may_match_bloom(event.header.logs_bloom):
        return []
    found: list[dict[str, Any]] = []
    log_index = 0
    for tx_index, executed in enumerate(event.executed):
        for item in executed.outcome.logs:
            if log_filter.matches(item):
                found.append(
                    format_log(
                        item,
                        block_hash_=event.hash,
                        number=event.header.number,
                        tx_hash=executed.tx_hash,
                        tx_index=tx_index,
                        log_index=log_index,
                    )
                )
            log_index += 1
    return found


# --- the socket ------------------------------------------------------------------------------------
async def serve_websocket(
    websocket: WebSocket,
    methods: dict[str, Method],
    hub: EventHub | None,
    envelope: Envelope,
    limits: WsLimits,
) -> None:
    """Run one WebSocket connection until the client leaves or falls too far behind."""
    await websocket.accept()
    outbox = Outbox(limits.max_queued_bytes)
    connection = Connection(methods, hub, envelope, outbox, limits, asyncio.get_running_loop())
    try:
        async with anyio.create_task_group() as group:  # anyio: cancellation-safe under any ASGI server
            group.start_soon(_until_done, _read_messages(websocket, connection), group.cancel_scope)
            group.start_soon(_until_done, _write_messages(websocket, outbox), group.cancel_scope)
    finally:
        connection.close()
    if outbox.overflowed:
        log.info("closing a WebSocket client that fell behind (over %d bytes queued)", outbox.limit)
        with anyio.move_on_after(CLOSE_TIMEOUT_S), contextlib.suppress(Exception):
            await websocket.close(CLOSE_TOO_SLOW, "client too slow: outgoing queue full")


async def _until_done(part: Coroutine[Any, Any, None], scope: anyio.CancelScope) -> None:
    """Run one half of the connection; when it ends, so does the other."""
    await part
    scope.cancel()


async def _read_messages(websocket: WebSocket, connection: Connection) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text, data = message.get("text"), message.get("bytes")
        connection.handle_message(text.encode() if text is not None else data or b"")
        if connection.outbox.overflowed:
            return


async def _write_messages(websocket: WebSocket, outbox: Outbox) -> None:
    while (message := await outbox.get()) is not None:
        try:
            await websocket.send_text(message)
        except WebSocketDisconnect:
            return  # the client is gone; the reader sees the disconnect too
