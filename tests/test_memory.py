"""The process memory policy (jovay/memory.py): the malloc arena cap and the tracemalloc diagnostic."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

import jovay.memory
import jovay.node
from jovay.memory import (
    HeapTrim,
    TracemallocDumps,
    cap_malloc_arenas,
    glibc_function,
    install_tracemalloc_dumps,
)
from jovay.node import (
    BatcherRoleConfig,
    ChallengerRoleConfig,
    NodeConfig,
    run_batcher,
    run_challenger,
    run_node,
)

glibc_only = pytest.mark.skipif(glibc_function("mallopt") is None, reason="malloc arenas are glibc's")

# Starts THREADS threads that each allocate (2 KiB bytes objects go to malloc, not pymalloc) and stay
# alive together, then prints how many arenas glibc's malloc_info reports.
ARENA_PROBE = """
import ctypes, sys, tempfile, threading
from jovay.memory import cap_malloc_arenas
if sys.argv[1] == "cap":
    assert cap_malloc_arenas()
THREADS = 8
barrier = threading.Barrier(THREADS + 1)
def allocate():
    held = [bytes(2048) for _ in range(64)]
    barrier.wait()
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range(THREADS)]
for t in threads: t.start()
barrier.wait()
libc = ctypes.CDLL("libc.so.6")
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
with tempfile.NamedTemporaryFile(suffix=".xml") as out:
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(open(out.name).read().count("<heap nr="))
barrier.wait()
for t in threads: t.join()
"""


def arenas_in_probe(mode: str, arena_max: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if arena_max is not None:
        env["MALLOC_ARENA_MAX"] = arena_max
    done = subprocess.run(
        [sys.executable, "-c", ARENA_PROBE, mode], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


@glibc_only
def test_cap_keeps_threads_started_later_to_two_arenas() -> None:
    assert arenas_in_probe("default", None) > 2  # the probe's threads do spread over arenas uncapped
    assert arenas_in_probe("cap", None) <= 2


@glibc_only
def test_the_operators_malloc_arena_max_stands() -> None:
    assert not cap_malloc_arenas({"MALLOC_ARENA_MAX": "4"})
    assert 2 < arenas_in_probe("default", "4") <= 4


@pytest.mark.parametrize("role", ["node", "batcher", "challenger"])
def test_every_role_sets_its_memory_and_gc_policies_before_anything_else(
    role: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    steps: list[str] = []

    class Stop(Exception):
        pass

    def connect(url: str) -> None:
        steps.append("connect")
        raise Stop

    monkeypatch.setattr(jovay.node, "prepare_process_memory", lambda: steps.append("memory"))
    monkeypatch.setattr(jovay.node, "apply_gc_policy", lambda: steps.append("gc policy"))
    monkeypatch.setattr(jovay.node, "connect_l1", connect)
    url, deployment = "http://127.0.0.1:1", tmp_path / "l1.json"
    with pytest.raises(Stop):
        if role == "node":
            run_node(NodeConfig(tmp_path, tmp_path / "genesis.json", url, deployment))
        elif role == "batcher":
            run_batcher(BatcherRoleConfig(url, deployment, url, "0x" + "11" * 32))
        else:
            run_challenger(ChallengerRoleConfig(url, deployment, tmp_path / "genesis.json", "0x" + "11" * 32))
    assert steps == ["memory", "gc policy", "connect"]


def grow(count: int) -> list[bytes]:
    return [os.urandom(64) for _ in range(count)]  # the allocation site the dump must name


def test_dump_names_the_site_that_grew(tmp_path: Path) -> None:
    was_tracing = tracemalloc.is_tracing()
    try:
        dumps = TracemallocDumps(tmp_path)
        held = grow(20_000)
        text = dumps.dump().read_text()
        first_site = text.split("(by line)")[1].splitlines()[1]  # the site that grew most
        assert "test_memory.py" in first_site and "count=20001 (+20001)" in first_site, first_site
        held += grow(10)
        second = dumps.dump().read_text()  # growth since the previous dump only
        assert "(+20001)" not in second
        assert (tmp_path / f"tracemalloc-{os.getpid()}-2.txt").exists() and len(held) == 20_010
    finally:
        if not was_tracing:
            tracemalloc.stop()


def test_diagnostic_is_off_by_default() -> None:
    assert install_tracemalloc_dumps({}) is None


def test_sigusr1_writes_a_dump(tmp_path: Path) -> None:
    previous = signal.getsignal(signal.SIGUSR1)
    was_tracing = tracemalloc.is_tracing()
    try:
        dumps = install_tracemalloc_dumps({"JOVAY_TRACEMALLOC": str(tmp_path)})
        assert dumps is not None and tracemalloc.is_tracing()
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while not (tmp_path / f"tracemalloc-{os.getpid()}-1.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        assert "anonymous RSS" in (tmp_path / f"tracemalloc-{os.getpid()}-1.txt").read_text()
    finally:
        signal.signal(signal.SIGUSR1, previous)
        if not was_tracing:
            tracemalloc.stop()


# Allocates 64 MiB in 4 KiB bytes objects, frees all but every 16th (holes over the whole heap, which
# glibc keeps), then prints anonymous RSS before and after `release_free_heap`, in MiB.
TRIM_PROBE = """
from jovay.memory import anonymous_rss, release_free_heap
blocks = [bytes(4000) for _ in range(16_384)]
kept = blocks[::16]
del blocks
before = anonymous_rss()
release_free_heap()
print(before // 2**20, anonymous_rss() // 2**20, len(kept))
"""


@glibc_only
def test_release_free_heap_gives_the_holes_back() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", TRIM_PROBE], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    before, after, _ = (int(x) for x in done.stdout.split())
    assert before - after >= 40, (before, after)  # ~60 of the 64 MiB were freed holes


def test_heap_trim_runs_once_per_period(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    calls: list[float] = []
    monkeypatch.setattr(jovay.memory, "release_free_heap", lambda: calls.append(now[0]) or True)
    trim = HeapTrim(every_s=30, clock=lambda: now[0])
    for _ in range(200):  # 100 s of blocks, 0.5 s apart
        now[0] += 0.5
        trim(None, [])
    assert calls == [30.0, 60.0, 90.0] and trim.trims == 3
