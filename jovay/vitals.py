"""A periodic log line of how a sequencing node keeps up: blocks, transactions per block, the time between
blocks, the sealing thread's CPU per transaction, and where the process's memory is.

It listens to sealed blocks on the thread that seals them (a chain listener), so `time.thread_time`
deltas between two blocks are that thread's CPU for one cycle (fill + seal). A node that falls behind
its cadence shows it here: the interval passes the block time while blocks grow, and the CPU per
transaction tells whether sealing got dearer (the store) or the thread got less of the CPU (other
threads, other processes). The memory part counts the interpreter's live allocations (Python objects,
mostly: `sys.getallocatedblocks`) and splits glibc malloc's heap into bytes in use and free bytes it
holds: a leak grows the first two; fragmentation (freed memory the allocator keeps) the last.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from jovay.codec.blocks import Header
from jovay.memory import anonymous_rss, glibc_function
from jovay.stf.block import ExecutedTx

log = logging.getLogger(__name__)

VITALS_EVERY_S = 30.0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
            "keepcost",
        )
    ]  # fmt: skip


@dataclass(frozen=True, slots=True)
class MallocUse:
    in_use: int  # bytes handed out by malloc (arenas and mmapped chunks)
    free: int  # bytes malloc holds in its arenas but has not handed out


def malloc_use() -> MallocUse | None:
    """glibc's `mallinfo2` over all arenas (None where there is no glibc 2.33+)."""
    mallinfo2 = glibc_function("mallinfo2")
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return MallocUse(in_use=info.uordblks + info.hblkhd, free=info.fordblks)


@dataclass
class Window:
    started: float
    cpu: float
    blocks: int = 0
    txs: int = 0
    max_txs: int = 0


class SealVitals:
    """Chain listener that logs one line of vitals every `every_s` seconds of sealing."""

    def __init__(
        self,
        every_s: float = VITALS_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        thread_cpu: Callable[[], float] = time.thread_time,
        emit: Callable[[str], None] | None = None,
    ) -> None:
        self.every_s = every_s
        self.clock = clock
        self.thread_cpu = thread_cpu
        self.emit = emit or (lambda line: log.info("%s", line))
        self.window: Window | None = None

    def __call__(self, header: Header, executed: list[ExecutedTx]) -> None:
        now, cpu = self.clock(), self.thread_cpu()
        window = self.window
        if window is None:  # the first block starts the first window
            self.window = Window(now, cpu)
            return
        window.blocks += 1
        window.txs += len(executed)
        window.max_txs = max(window.max_txs, len(executed))
        if now - window.started >= self.every_s:
            self.emit(vitals_line(header.number, window, now, cpu))
            self.window = Window(now, cpu)


def vitals_line(head: int, window: Window, now: float, cpu: float) -> str:
    """One line of vitals for the blocks sealed in `window`, up to `head`."""
    wall = now - window.started
    per_tx = 1e6 * (cpu - window.cpu) / window.txs if window.txs else 0.0
    python_blocks = sys.getallocatedblocks() / 1e6
    memory = f"anon RSS {anonymous_rss() / 2**20:.0f} MiB, {python_blocks:.2f} M Python blocks"
    use = malloc_use()
    if use is not None:
        memory += f", malloc in use {use.in_use / 2**20:.0f} MiB, free {use.free / 2**20:.0f} MiB"
    return (
        f"vitals: head {head}, {window.blocks} blocks in {wall:.1f} s "
        f"({1000 * wall / max(1, window.blocks):.0f} ms apart), {window.txs / wall:.0f} tx/s, "
        f"{window.txs / max(1, window.blocks):.0f} txs/block (max {window.max_txs}), "
        f"sealing thread {(cpu - window.cpu) / wall:.2f} cores, {per_tx:.0f} us CPU/tx; {memory}"
    )
