"""State pruning: every state in the retention window stays readable and identical to an archive node's,
the store holds exactly the nodes those states reference (no leak, nothing missing), restarts and
kill -9 mid-prune leave a consistent store, and a pruned state is an error, never wrong data."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jovay.errors import CriticalError, StateUnavailable
from jovay.state.smt import INNER, MemoryNodeStore, SparseMerkleTree, decode_node, root_to_bytes
from jovay.storage.chain import Chain, StateRetention
from tests.storage.test_chain import make_genesis

KEYS = range(1, 65)  # a small key space with few values: nodes die and come back with the same hash


def random_writes(rng: random.Random) -> dict[int, int]:
    return {rng.choice(KEYS): rng.choice((0, 1, 2, 3, rng.randrange(1, 2**200))) for _ in range(12)}


def seal_writes(chain: Chain, writes: dict[int, int]) -> None:
    execution = chain.new_execution(chain.head.timestamp + 1)
    for key, value in writes.items():
        execution.state.set(key, value)
    chain.seal(execution)


def root_at(chain: Chain, number: int) -> int:
    found = chain.block(number)
    assert found is not None
    return int.from_bytes(found[0].state_root, "big")


def reachable(chain: Chain, number: int) -> set[int]:
    """Every node hash the tree of block `number` references, read from the store."""
    root = root_at(chain, number)
    seen: set[int] = set()
    todo = [root] if root else []
    while todo:
        h = todo.pop()
        if h in seen:
            continue
        seen.add(h)
        raw = chain.store.node_at(h, number)
        assert raw is not None, f"node {h:#x} of root {root:#x} is missing"
        tag, a, b = decode_node(raw)
        if tag == INNER:
            todo.extend(child for child in (a, b) if child)
    return seen


def assert_store_is_the_window(chain: Chain) -> None:
    """The stored nodes are exactly those of the kept states: pruning neither leaks nor over-deletes."""
    oldest = chain.store.oldest_state()
    needed: set[int] = set()
    for number in range(oldest, chain.head.number + 1):
        needed |= reachable(chain, number)
    assert set(chain.store.node_hashes()) == needed


def test_tree_drops_exactly_the_nodes_the_new_root_lost() -> None:
    class Recording(MemoryNodeStore):
        def __init__(self) -> None:
            super().__init__()
            self.dropped: list[int] = []

        def drop(self, hashes: list[int]) -> None:
            self.dropped.extend(hashes)

    def live(store: MemoryNodeStore, root: int) -> set[int]:
        out, todo = set(), [root] if root else []
        while todo:
            h = todo.pop()
            out.add(h)
            tag, a, b = store.get(h)  # type: ignore[misc]
            if tag == INNER:
                todo.extend(c for c in (a, b) if c)
        return out

    rng = random.Random(3)
    store = Recording()
    tree = SparseMerkleTree(store)
    for _ in range(200):
        before = live(store, tree.root)
        store.dropped = []
        tree.update_many(random_writes(rng))
        assert len(store.dropped) == len(set(store.dropped))
        assert set(store.dropped) == before - live(store, tree.root)


def test_window_states_stay_identical_to_an_archive_node(tmp_path: Path) -> None:
    pruned = Chain(tmp_path / "pruned", make_genesis(), StateRetention(blocks=5))
    archive = Chain(tmp_path / "archive", make_genesis(), StateRetention(blocks=None))
    rng = random.Random(1)
    for _ in range(40):
        writes = random_writes(rng)
        seal_writes(pruned, writes)
        seal_writes(archive, writes)
        assert pruned.head == archive.head  # same roots, same block hashes
        assert_store_is_the_window(pruned)
    head = pruned.head.number
    assert pruned.store.oldest_state() == head - 4
    for number in range(head - 4, head + 1):
        kept, full = pruned.state_tree(number), archive.state_tree(number)
        for key in KEYS:
            assert kept.get(key) == full.get(key)
            assert kept.prove(key) == full.prove(key)
    for number in (0, head - 5):
        with pytest.raises(StateUnavailable, match="missing trie node.*historical state not available"):
            pruned.state_reader(number)
        assert archive.state_reader(number)(1) == archive.state_tree(number).get(1)
    assert len(set(pruned.store.node_hashes())) < len(set(archive.store.node_hashes())) / 3
    pruned.close()
    archive.close()


def test_node_count_stays_bounded_over_many_blocks(tmp_path: Path) -> None:
    chain = Chain(tmp_path, make_genesis(), StateRetention(blocks=3))
    rng = random.Random(2)
    counts = []
    for _ in range(150):
        seal_writes(chain, random_writes(rng))
        counts.append(chain.store.table_stats()["nodes"]["entries"])
    # 64 keys + genesis: a live tree of a few hundred nodes, plus 3 states of changes; never growing.
    assert max(counts[50:]) <= max(counts[:50]) * 1.5
    assert len(chain.store.stale_sizes()) <= 3
    assert_store_is_the_window(chain)
    chain.close()


def test_finalized_state_stays_while_the_window_moves_on(tmp_path: Path) -> None:
    finalized = [6]
    chain = Chain(tmp_path, make_genesis(), StateRetention(blocks=2, keep_from=lambda: finalized[0]))
    rng = random.Random(4)
    for _ in range(20):
        seal_writes(chain, random_writes(rng))
    assert chain.store.oldest_state() == 5  # the 2 blocks up to the finalized block 6, and all after
    for number in (5, 6, 12):
        assert chain.state_tree(number).prove(1).siblings  # walks the whole path: nothing missing
    with pytest.raises(StateUnavailable):
        chain.state_reader(4)
    assert_store_is_the_window(chain)
    finalized[0] = 18
    seal_writes(chain, random_writes(rng))
    assert chain.store.oldest_state() == 17
    assert_store_is_the_window(chain)
    chain.close()


def test_restart_keeps_the_window_and_a_smaller_retention_prunes_on(tmp_path: Path) -> None:
    rng = random.Random(5)
    chain = Chain(tmp_path, make_genesis(), StateRetention(blocks=8))
    for _ in range(20):
        seal_writes(chain, random_writes(rng))
    head, roots = chain.head, {n: root_at(chain, n) for n in range(13, 21)}
    values = {n: [chain.state_tree(n).get(k) for k in KEYS] for n in roots}
    chain.close()

    reopened = Chain(tmp_path, make_genesis(), StateRetention(blocks=8))
    assert reopened.head == head and reopened.store.oldest_state() == 13
    assert {n: [reopened.state_tree(n).get(k) for k in KEYS] for n in roots} == values
    reopened.close()

    smaller = Chain(tmp_path, make_genesis(), StateRetention(blocks=2))
    seal_writes(smaller, random_writes(rng))
    assert smaller.store.oldest_state() == 20
    assert_store_is_the_window(smaller)
    tree = SparseMerkleTree(MemoryNodeStore())
    tree.update_many(dict(smaller.store.iter_leaves()))
    assert root_to_bytes(tree.root) == smaller.head.state_root
    smaller.close()


CRASH_SCRIPT = """
import random, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.storage.test_chain import make_genesis
from tests.storage.test_pruning import seal_writes
from jovay.storage.chain import Chain, StateRetention
chain = Chain(Path({data!r}), make_genesis(), StateRetention(blocks=2))
rng = random.Random(chain.head.number)
while True:
    seal_writes(chain, {{rng.randrange(1, 2**64): rng.randrange(1, 2**64) for _ in range(400)}})
    print(chain.head.number, flush=True)
"""


def test_kill_9_mid_prune_leaves_a_consistent_store(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    script = CRASH_SCRIPT.format(root=root, data=str(tmp_path))
    for round_ in range(2):  # crash, recover, crash again on top of the recovered store
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 4 + 3 * round_ and time.monotonic() < deadline:
            seen = int(proc.stdout.readline() or seen)
        time.sleep(random.Random(round_).uniform(0, 0.2))  # land anywhere in a block's write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        chain = Chain(tmp_path, make_genesis(), StateRetention(blocks=2))
        assert chain.head.number >= 4
        assert chain.store.oldest_state() == chain.head.number - 1
        assert_store_is_the_window(chain)
        tree = SparseMerkleTree(MemoryNodeStore())
        tree.update_many(dict(chain.store.iter_leaves()))
        assert root_to_bytes(tree.root) == chain.head.state_root
        chain.close()


def test_history_budget_shrinks_the_window_but_never_past_the_finalized_block(tmp_path: Path) -> None:
    budget = 150
    chain = Chain(tmp_path / "budget", make_genesis(), StateRetention(blocks=100, max_history_nodes=budget))
    rng = random.Random(6)
    for _ in range(30):
        seal_writes(chain, random_writes(rng))
        history = chain.store.stale_sizes()
        assert all(number > chain.store.oldest_state() for number in history)
        assert sum(history.values()) <= budget or chain.store.oldest_state() == chain.head.number
        if chain.store.oldest_state() > 0:  # it keeps as many states as fit, not fewer
            assert sum(history.values()) + 40 > budget
    assert chain.head.number - chain.store.oldest_state() < 20
    assert_store_is_the_window(chain)
    chain.close()

    pinned = Chain(
        tmp_path / "pinned",
        make_genesis(),
        StateRetention(blocks=100, max_history_nodes=0, keep_from=lambda: 3),
    )
    for _ in range(12):
        seal_writes(pinned, random_writes(rng))
    assert pinned.store.oldest_state() == 3
    assert_store_is_the_window(pinned)
    pinned.close()


def test_a_store_in_the_old_layout_is_refused(tmp_path: Path) -> None:
    chain = Chain(tmp_path, make_genesis())
    with chain.store.env.begin(write=True) as txn:  # as a store written before node stamps
        txn.delete(b"format", db=chain.store.env.open_db(b"meta", txn=txn))
    chain.close()
    with pytest.raises(CriticalError, match="layout None.*sync a new data directory"):
        Chain(tmp_path, make_genesis())


def test_a_store_in_layout_2_is_refused(tmp_path: Path) -> None:
    """Layout 2 kept old states' nodes among the live ones: this layout would never prune them."""
    chain = Chain(tmp_path, make_genesis())
    with chain.store.env.begin(write=True) as txn:
        txn.put(b"format", b"2", db=chain.store.env.open_db(b"meta", txn=txn))
    chain.close()
    with pytest.raises(CriticalError, match="layout b'2'.*writes b'3'"):
        Chain(tmp_path, make_genesis())


def test_a_state_pruned_while_it_is_read_is_unavailable_not_wrong(tmp_path: Path) -> None:
    chain = Chain(tmp_path, make_genesis(), StateRetention(blocks=3))
    rng = random.Random(7)
    for _ in range(5):
        seal_writes(chain, random_writes(rng))
    oldest = chain.store.oldest_state()
    tree = chain.state_tree(oldest)  # opened inside the window
    root = root_at(chain, oldest)
    assert chain.store.node_at(root, oldest) is not None
    for _ in range(4):
        seal_writes(chain, random_writes(rng))
    assert chain.store.oldest_state() > oldest and root != chain.tree.root
    assert chain.store.node_at(root, oldest) is None  # its history was dropped with the window
    with pytest.raises(StateUnavailable, match="missing trie node"):
        tree.get(1)
    assert chain.store.node_at(12345, chain.head.number) is None  # not a node of any tree
    chain.close()


def _rss_file_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssFile:"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_released_map_pages_leave_rss_and_read_back_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jovay.storage.store import ChainStore, MappedFile

    store = ChainStore(tmp_path)
    nodes = store.env.open_db(b"nodes")
    with store.env.begin(write=True) as txn:
        for i in range(100_000):
            txn.put(i.to_bytes(32, "big"), i.to_bytes(65, "big"), db=nodes)

    def map_every_page() -> None:
        with store.env.begin() as txn:
            assert sum(1 for _ in txn.cursor(db=nodes)) == 100_000  # maps every page (~20 MiB)

    map_every_page()
    before = _rss_file_kib()
    store._mapped.trim()  # noqa: SLF001
    assert before - _rss_file_kib() < 1_000  # under the limit: the pages stay mapped
    store._mapped.release()  # noqa: SLF001
    assert before - _rss_file_kib() > 10_000
    assert store.node(77) == (77).to_bytes(65, "big")  # read back

    map_every_page()
    monkeypatch.setattr(MappedFile, "RESIDENT_LIMIT", 1_000)  # pages: ~4 MiB
    store._mapped._touched = MappedFile.CHECK_EVERY - 1  # noqa: SLF001
    before = _rss_file_kib()
    store.node(5)  # this read reaches the check, over the limit: released
    assert store._mapped._touched == 0  # noqa: SLF001
    assert before - _rss_file_kib() > 10_000
    store.close()
