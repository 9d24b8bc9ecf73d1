"""The RPC block cache is bounded by count and by stored size, least recently used out first.

Counted by entries alone (an `lru_cache(128)` before), its memory followed the chain's block size: in
the 10-minute soak at 5,000 tx/s every 5 s poll of "latest" cached another block of up to 10,000
transfers, and the node's private memory grew 68 -> 359 MiB.
"""

from __future__ import annotations

from jovay.rpc.methods import BlockCache, LoadedBlock


class CountingLoader:
    """Blocks of a given stored size, counting how often each is loaded."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.loads: list[int] = []

    def __call__(self, number: int, head_hash: bytes) -> LoadedBlock | None:
        self.loads.append(number)
        return LoadedBlock(None, head_hash, [], [], self.size, 1, list)  # type: ignore[arg-type]


def test_a_served_block_is_loaded_once_while_it_stays_cached() -> None:
    loader = CountingLoader(100)
    cache = BlockCache(loader, max_entries=4, max_bytes=10_000)
    first = cache.get(7, b"")
    assert cache.get(7, b"") is first and loader.loads == [7]


def test_the_count_bound_drops_the_least_recently_used() -> None:
    loader = CountingLoader(100)
    cache = BlockCache(loader, max_entries=3, max_bytes=10_000)
    for number in (1, 2, 3):
        cache.get(number, b"")
    cache.get(1, b"")  # 1 is now the most recent: 2 goes first
    cache.get(4, b"")
    assert len(cache) == 3 and cache.bytes == 300
    cache.get(1, b"")
    cache.get(2, b"")
    assert loader.loads == [1, 2, 3, 4, 2]


def test_the_size_bound_holds_whatever_the_count() -> None:
    loader = CountingLoader(3_000)
    cache = BlockCache(loader, max_entries=128, max_bytes=10_000)
    for number in range(50):
        cache.get(number, b"")
        assert cache.bytes <= 10_000
    assert len(cache) == 3 and cache.bytes == 9_000


def test_a_block_over_the_whole_budget_is_served_but_not_kept() -> None:
    loader = CountingLoader(20_000)
    cache = BlockCache(loader, max_entries=128, max_bytes=10_000)
    assert cache.get(5, b"") is not None and cache.get(5, b"") is not None
    assert loader.loads == [5, 5] and len(cache) == 0 and cache.bytes == 0


def test_the_head_is_keyed_by_its_hash() -> None:
    """The head block is cached under the head's hash, so a reorganised or resealed head is reloaded."""
    loader = CountingLoader(100)
    cache = BlockCache(loader, max_entries=8, max_bytes=10_000)
    a = cache.get(9, b"head-a")
    b = cache.get(9, b"head-b")
    assert a is not b and a is not None and a.hash == b"head-a" and loader.loads == [9, 9]
