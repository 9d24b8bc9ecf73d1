"""Log filters as eth_getLogs, eth_newFilter and `logs` subscriptions take them (geth semantics).

`address` is one address or a list (any of them); `topics` has up to four positions, each null
(anything), one topic, or a list (any of them). A block's bloom lets whole blocks be skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jovay.codec.blocks import Log, bloom_contains
from jovay.rpc import params as p
from jovay.rpc.errors import invalid_argument

MAX_TOPICS = 4


@dataclass(frozen=True, slots=True)
class LogFilter:
    addresses: frozenset[bytes] | None = None
    topics: tuple[frozenset[bytes] | None, ...] = ()

    def matches(self, log: Log) -> bool:
        if self.addresses is not None and log.address not in self.addresses:
            return False
        if len(self.topics) > len(log.topics):
            return False
        return all(
            wanted is None or topic in wanted for wanted, topic in zip(self.topics, log.topics, strict=False)
        )

    def may_match_bloom(self, bloom: bytes) -> bool:
        """False only when the block's bloom proves no log of it can match."""
        if self.addresses is not None and not any(bloom_contains(bloom, a) for a in self.addresses):
            return False
        for wanted in self.topics:
            if wanted is not None and not any(bloom_contains(bloom, t) for t in wanted):
                return False
        return True


@dataclass(frozen=True, slots=True)
class LogQuery:
    """A parsed filter object: what to match, and which blocks (tags unresolved, or one block hash)."""

    filter: LogFilter
    from_block: Any = "latest"
    to_block: Any = "latest"
    block_hash: bytes | None = None


def parse_log_query(value: Any, index: int) -> LogQuery:
    query = p.obj(value, index)
    block_hash = query.get("blockHash")
    if block_hash is not None and (query.get("fromBlock") is not None or query.get("toBlock") is not None):
        raise invalid_argument(
            index, "cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other"
        )
    return LogQuery(
        filter=LogFilter(_addresses(query.get("address"), index), _topics(query.get("topics"), index)),
        from_block=query.get("fromBlock") or "latest",
        to_block=query.get("toBlock") or "latest",
        block_hash=p.hash32(block_hash, index) if block_hash is not None else None,
    )


def _addresses(value: Any, index: int) -> frozenset[bytes] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return frozenset(p.address(item, index) for item in value)
    return frozenset([p.address(value, index)])


def _topics(value: Any, index: int) -> tuple[frozenset[bytes] | None, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid_argument(index, "topics must be an array")
    if len(value) > MAX_TOPICS:
        raise invalid_argument(index, "too many topics: at most 4 positions")
    out: list[frozenset[bytes] | None] = []
    for position in value:
        if position is None:
            out.append(None)
        elif isinstance(position, list):
            out.append(None if not position else frozenset(p.hash32(t, index) for t in position))
        else:
            out.append(frozenset([p.hash32(position, index)]))
    return tuple(out)
