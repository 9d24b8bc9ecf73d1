"""The RPC block cache is bounded by count and by the memory its blocks take, least recently used out first.

Counted by entries alone (an `lru_cache(128)` before), its memory followed the chain's block size: in
the 10-minute soak at 5,000 tx/s every 5 s poll of "latest" cached another block of up to 10,000
transfers, and the node's private memory grew 68 -> 359 MiB.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from jovay.codec import transactions
from jovay.params import MIN_BASE_FEE
from jovay.rpc.methods import BlockCache, EthApi, LoadedBlock
from jovay.sequencer.mempool import MempoolLimits
from jovay.sequencer.sequencer import Sequencer, SequencerConfig
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, raw_tx


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


# --- the memory estimate, on real blocks -------------------------------------------------------------
TRANSFERS = 800


@pytest.fixture(scope="module")
def chain_with_blocks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chain, EthApi]]:
    """Three blocks of TRANSFERS ETH transfers each (and a genesis)."""
    genesis = Genesis(
        identity_admin=ADDRESSES[0], timestamp=int(time.time()) - 5, alloc=dict.fromkeys(ADDRESSES, ETH)
    )
    chain = Chain(tmp_path_factory.mktemp("blocks"), genesis)
    sequencer = Sequencer(
        chain, SequencerConfig(mempool=MempoolLimits(max_nonce_gap=10**6, max_per_sender=10**6))
    )
    per_key = TRANSFERS // len(KEYS)
    for block in range(3):
        raws = [
            raw_tx(key, nonce=block * per_key + n, to=ADDRESSES[1], value=1, max_fee=4 * MIN_BASE_FEE)
            for n in range(per_key)
            for key in KEYS
        ]
        assert all(isinstance(out, bytes) for out in sequencer.submit_many(raws))
        sequencer.produce_block()
    try:
        yield chain, EthApi(chain, sequencer)
    finally:
        chain.close()


def traced_bytes_of(build: Callable[[], object]) -> tuple[object, int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        return built, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_the_footprint_is_at_least_the_memory_a_block_takes(chain_with_blocks: tuple[Chain, EthApi]) -> None:
    chain, eth = chain_with_blocks
    transactions._recent.clear()  # decoded transactions must not come from the shared decode cache
    block, loaded = traced_bytes_of(lambda: eth._load_block(2, b""))
    assert isinstance(block, LoadedBlock) and len(block.raw_txs) == TRANSFERS
    assert loaded <= block.footprint() <= 1.3 * loaded
    _, decoded = traced_bytes_of(lambda: (block.txs, block.receipts))
    assert loaded + decoded <= block.footprint() <= 1.3 * (loaded + decoded)
    assert block.footprint() > 8 * block.size  # what a bound on stored bytes alone would miss


def test_decoded_blocks_stay_within_the_memory_bound(chain_with_blocks: tuple[Chain, EthApi]) -> None:
    chain, eth = chain_with_blocks
    one_loaded = eth._load_block(1, b"")
    assert one_loaded is not None
    bound = 3 * one_loaded.footprint()  # three loaded blocks fit; decoded, one at most
    cache = BlockCache(eth._load_block, max_entries=128, max_bytes=bound)
    for number in (1, 2, 3, 0):
        cache.get(number, b"")
    assert len(cache) == 3 and cache.bytes <= bound  # 1 out (least recent); genesis takes little
    for number in (2, 3):  # decoded after they were cached: heavier from the next insertion on
        block = cache.get(number, b"")
        assert block is not None and block.txs and block.receipts is not None
    cache.get(1, b"")
    assert cache.bytes <= bound and len(cache) <= 2
    for _ in range(3):  # fill past it again and again: the size stays
        for number in (1, 2, 3, 0):
            block = cache.get(number, b"")
            assert block is not None and block.receipts is not None
            assert cache.bytes <= bound
