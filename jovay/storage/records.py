"""What a block writes to LMDB, as (key, record) pairs built in one call per table.

These are the pure-Python twins of jovay/_native/_blockwrite.pyx (same signatures, same results:
tests/native/test_blockwrite_native.py); `select` answers the native ones unless they are missing or
JOVAY_PURE=1. Pairs come sorted by key: LMDB inserts sorted keys faster (its cursor stays near the
page it wrote last), and the stored bytes do not depend on the order of the puts. A bulk block's
records are built and written a batch at a time (`batches`), so they are never all in memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import Protocol, TypeVar, cast

from jovay._native import blockwrite_impl
from jovay.codec._rlp import encode_bytes, encode_list, encode_uint
from jovay.codec.blocks import Log, Receipt
from jovay.state.smt import encode_node
from jovay.stf.block import ExecutedTx
from jovay.storage.store import TX_LOCATION, Pairs, key32

K = TypeVar("K")
V = TypeVar("V")
SORT_BATCH = 1 << 17  # records sorted and held at once: a 20,000-transfer block's nodes in one batch


def node_records(items: Iterable[tuple[int, tuple]]) -> Pairs:
    """(key32(hash), encode_node(node)) for each new (hash, node), by key."""
    return sorted((key32(node_hash), encode_node(node)) for node_hash, node in items)


def leaf_records(items: Iterable[tuple[int, int]]) -> tuple[Pairs, list[bytes]]:
    """The (key, value) leaf writes as (key32(key), key32(value)) by key, and the keys of the deleted
    (zero) leaves."""
    puts, deletes = [], []
    for key, value in items:
        if value:
            puts.append((key32(key), key32(value)))
        else:
            deletes.append(key32(key))
    puts.sort()
    return puts, deletes


def batches(mapping: Mapping[K, V], size: int | None = None) -> Iterator[list[tuple[K, V]]]:
    """The items of `mapping`, `size` (SORT_BATCH) at a time: a bulk block's records are never all
    in memory at once."""
    size = size or SORT_BATCH
    items = iter(mapping.items())
    while batch := list(itertools.islice(items, size)):
        yield batch


def joined_keys(hashes: Iterable[int]) -> bytes:
    """A block's stale list as the store takes it: the hashes as 32-byte keys, end to end, in key order
    (the store moves them to the block's history in that order)."""
    return b"".join(sorted(key32(node_hash) for node_hash in hashes))


def tx_locations(tx_hashes: Iterable[bytes], number: int) -> Pairs:
    """The transaction index entries of block `number`: tx hash -> (block number, position)."""
    locate = TX_LOCATION.pack
    return [(tx_hash, locate(number, index)) for index, tx_hash in enumerate(tx_hashes)]


def encode_receipts(executed: Sequence[ExecutedTx], receipts: Sequence[Receipt]) -> bytes:
    """A block's receipts with what RPC adds (gas used, price, return data), as one RLP list."""
    if len(executed) != len(receipts):
        raise ValueError(f"{len(executed)} executed transactions but {len(receipts)} receipts")
    rows = []
    for item, receipt in zip(executed, receipts, strict=True):
        outcome = item.outcome
        fields = [
            encode_uint(receipt.tx_type),
            encode_uint(receipt.status),
            encode_uint(receipt.cumulative_gas_used),
            encode_list(_encode_log(log) for log in receipt.logs),
            encode_bytes(receipt.bloom),
            encode_uint(outcome.gas_used),
            encode_uint(outcome.effective_gas_price),
            encode_bytes(outcome.return_data),
        ]
        rows.append(encode_list(fields))
    return encode_list(rows)


def _encode_log(log: Log) -> bytes:
    topics = encode_list(encode_bytes(topic) for topic in log.topics)
    return encode_list([encode_bytes(log.address), topics, encode_bytes(log.data)])


def drop_keys(mapping: dict, keys: Iterable[object]) -> None:
    """Remove `keys` from `mapping` where present (the node cache forgetting a block's stale nodes)."""
    for key in keys:
        mapping.pop(key, None)


class RecordsImpl(Protocol):
    """What both implementations provide (this module's functions)."""

    def node_records(self, items: Iterable[tuple[int, tuple]]) -> Pairs: ...

    def leaf_records(self, items: Iterable[tuple[int, int]]) -> tuple[Pairs, list[bytes]]: ...

    def joined_keys(self, hashes: Iterable[int]) -> bytes: ...

    def tx_locations(self, tx_hashes: Iterable[bytes], number: int) -> Pairs: ...

    def encode_receipts(self, executed: Sequence[ExecutedTx], receipts: Sequence[Receipt]) -> bytes: ...

    def drop_keys(self, mapping: dict, keys: Iterable[object]) -> None: ...


def select() -> RecordsImpl:
    """The native module when it is built and JOVAY_PURE=1 is not set, else this module."""
    import sys

    native: ModuleType | None = blockwrite_impl()
    return cast(RecordsImpl, native if native is not None else sys.modules[__name__])
