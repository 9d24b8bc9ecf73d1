"""Fan-out of node events to RPC filters and WebSocket subscriptions.

The chain calls `publish_block` after every sealed block and the sequencer calls `publish_pending`
for every admitted transaction, both from their own threads. Subscribers must be quick (append to a
queue): they run on the publisher's thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from jovay.codec.blocks import Header, block_hash
from jovay.stf.block import ExecutedTx


@dataclass(frozen=True, slots=True)
class BlockEvent:
    header: Header
    hash: bytes
    executed: list[ExecutedTx]


BlockSubscriber = Callable[[BlockEvent], None]
PendingSubscriber = Callable[[bytes], None]


class EventHub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._block_subscribers: dict[int, BlockSubscriber] = {}
        self._pending_subscribers: dict[int, PendingSubscriber] = {}
        self._next_id = 0

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def subscribe_blocks(self, subscriber: BlockSubscriber) -> Callable[[], None]:
        """Call `subscriber` for every new block; returns the function that unsubscribes."""
        with self._lock:
            key = self._new_id()
            self._block_subscribers[key] = subscriber
        return lambda: self._block_subscribers.pop(key, None) and None

    def subscribe_pending(self, subscriber: PendingSubscriber) -> Callable[[], None]:
        """Call `subscriber` with the hash of every transaction admitted to the pool."""
        with self._lock:
            key = self._new_id()
            self._pending_subscribers[key] = subscriber
        return lambda: self._pending_subscribers.pop(key, None) and None

    def publish_block(self, header: Header, executed: list[ExecutedTx]) -> None:
        event = BlockEvent(header, block_hash(header), executed)
        for subscriber in list(self._block_subscribers.values()):
            subscriber(event)

    def publish_pending(self, tx_hash: bytes) -> None:
        if not self._pending_subscribers:  # (the usual case: called for every admitted transaction)
            return
        for subscriber in list(self._pending_subscribers.values()):
            subscriber(tx_hash)
