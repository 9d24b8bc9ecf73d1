"""The node's GC policy: applied at start-up, full collections spaced out, cyclic garbage still freed."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

import jovay.node
from jovay.node import NodeConfig, run_node
from jovay.sequencer.gc_policy import GC_THRESHOLDS, apply_gc_policy


@pytest.fixture
def restore_gc() -> Iterator[None]:
    """The policy changes process-wide settings: put back what the test process had."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_policy_freezes_startup_objects_and_spaces_out_full_collections(restore_gc: None) -> None:
    apply_gc_policy()
    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[2] > 10  # CPython's default full-collection threshold is 10
    assert gc.get_freeze_count() > 1_000  # the imported modules' objects at least
    assert gc.isenabled()


def test_cyclic_garbage_is_still_collected_without_explicit_collect(restore_gc: None) -> None:
    apply_gc_policy()
    made = 50_000
    alive = []
    for _ in range(made):
        alive.append(weakref.ref(Cycle()))  # each object is garbage at once, held only by its own cycle
    survivors = sum(1 for ref in alive if ref() is not None)
    # the young collections (every 700 allocations) free the cycles: only the last few wait
    assert survivors < made // 10, f"{survivors} of {made} garbage cycles still alive"


def test_node_startup_applies_the_policy_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    steps: list[str] = []

    class Stop(Exception):
        pass

    def connect(url: str) -> None:
        steps.append("connect")
        raise Stop

    monkeypatch.setattr(jovay.node, "apply_gc_policy", lambda: steps.append("gc policy"))
    monkeypatch.setattr(jovay.node, "connect_l1", connect)
    config = NodeConfig(tmp_path, tmp_path / "genesis.json", "http://127.0.0.1:1", tmp_path / "l1.json")
    with pytest.raises(Stop):
        run_node(config)
    assert steps == ["gc policy", "connect"]
