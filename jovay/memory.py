"""Process memory policy and an opt-in diagnostic for the long-running roles (node, batcher, challenger).

`cap_malloc_arenas`: glibc gives each thread that allocates its own malloc arena (up to 8 per core);
the node's RPC worker and decode threads then spread freed memory over many arenas that are never
given back. In the 10-minute soak at 5,000 tx/s (benchmarks/soak.py) the node's anonymous memory grew
+10.6 MiB/min over the second half with the default arenas and +1.1 MiB/min with 2. Every role caps
them for itself at start (before it starts threads), so `jovay node` run directly or from
docker-compose gets the same as the devnet, which also sets MALLOC_ARENA_MAX for its services.

`install_tracemalloc_dumps`: with JOVAY_TRACEMALLOC=DIR set, a role traces Python allocations from
start and, on every SIGUSR1, writes DIR/tracemalloc-PID-N.txt: the process's anonymous RSS, the traced
total, and the allocation sites that grew most since the previous dump (by line, then with their
tracebacks when JOVAY_TRACEMALLOC_FRAMES asks for more than one frame: slow). Off by default: tracing
costs CPU and memory on every allocation, and a dump holds the GIL for seconds (a minute with the
node at full load: millions of live objects). Use:
    JOVAY_TRACEMALLOC=/tmp/trace jovay node ...;  kill -USR1 <pid>  (twice, minutes apart)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Callable, Mapping
from pathlib import Path

log = logging.getLogger(__name__)

MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # glibc malloc.h
TRACEMALLOC_ENV = "JOVAY_TRACEMALLOC"
FRAMES_ENV = "JOVAY_TRACEMALLOC_FRAMES"
TRACE_FRAMES = 1  # frames kept per allocation by default: cheap; more shows who called a generic helper
TOP_SITES = 25
TRIM_EVERY_S = 30.0


def cap_malloc_arenas(environ: Mapping[str, str] = os.environ, arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas at `arenas` for this process (threads started later share them).

    Returns True when the cap was applied; False when the operator chose MALLOC_ARENA_MAX (glibc read it
    at start: theirs stands) or where the C library is not glibc (no such knob: nothing to do)."""
    if "MALLOC_ARENA_MAX" in environ:
        return False
    mallopt = glibc_function("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_free_heap() -> bool:
    """Give the pages of free heap memory back to the OS (glibc `malloc_trim(0)`: the arenas' whole free
    pages, not only the top of the heap). True when some were released; False off glibc."""
    malloc_trim = glibc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim.argtypes = [ctypes.c_size_t]
    malloc_trim.restype = ctypes.c_int
    return bool(malloc_trim(0))


class HeapTrim:
    """Chain listener that releases free heap pages every `every_s` seconds of sealing.

    Blocks vary in size, and a large one leaves its freed memory spread over the heap, where glibc
    keeps it (only the top of the heap is returned by itself): in the soak the node's free heap grew
    4 -> 15 MiB as blocks grew. A trim every 30 s costs a few milliseconds."""

    def __init__(self, every_s: float = TRIM_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s = every_s
        self.clock = clock
        self.last = clock()
        self.trims = 0

    def __call__(self, *_: object) -> None:
        now = self.clock()
        if now - self.last >= self.every_s:
            self.last = now
            release_free_heap()
            self.trims += 1


def glibc_function(name: str) -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    """A function of the process's C library when that library is glibc, else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        getattr(libc, "gnu_get_libc_version")  # noqa: B009 (only glibc has it: raises AttributeError)
        return getattr(libc, name)
    except (OSError, AttributeError):
        return None


class TracemallocDumps:
    """Writes numbered snapshot diffs of the traced Python allocations to a directory."""

    def __init__(self, directory: Path, frames: int = TRACE_FRAMES) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.count = 0
        self._lock = threading.Lock()
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)
        self._previous = self._snapshot()

    @staticmethod
    def _snapshot() -> tracemalloc.Snapshot:
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen *>")]
        )

    def dump(self) -> Path:
        """Write the growth since the previous dump (or since tracing started) and return the file."""
        with self._lock:
            current = self._snapshot()
            self.count += 1
            path = self.directory / f"tracemalloc-{os.getpid()}-{self.count}.txt"
            traced, peak = tracemalloc.get_traced_memory()
            lines = [
                f"anonymous RSS {anonymous_rss() / 2**20:.1f} MiB; "
                f"traced {traced / 2**20:.1f} MiB (peak {peak / 2**20:.1f} MiB)"
            ]
            lines.append(f"\n# top {TOP_SITES} sites by growth since the previous dump (by line)")
            lines += [str(stat) for stat in current.compare_to(self._previous, "lineno")[:TOP_SITES]]
            if tracemalloc.get_traceback_limit() > 1:  # (grouping by traceback is slow: only when asked)
                lines.append(f"\n# top {TOP_SITES // 2} by growth, with their tracebacks")
                for stat in current.compare_to(self._previous, "traceback")[: TOP_SITES // 2]:
                    lines.append(str(stat))
                    lines += ["    " + line for line in stat.traceback.format()]
            path.write_text("\n".join(lines) + "\n")
            self._previous = current
            return path


def anonymous_rss() -> int:
    """Bytes of this process's resident anonymous memory (RssAnon; 0 where /proc lacks it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def install_tracemalloc_dumps(environ: Mapping[str, str] = os.environ) -> TracemallocDumps | None:
    """With JOVAY_TRACEMALLOC=DIR: trace allocations and dump a diff to DIR on every SIGUSR1 (the dump
    runs on its own thread, so the signal only interrupts the main thread briefly). Else None."""
    directory = environ.get(TRACEMALLOC_ENV)
    if not directory:
        return None
    dumps = TracemallocDumps(Path(directory), int(environ.get(FRAMES_ENV, TRACE_FRAMES)))

    def on_signal(*_: object) -> None:
        threading.Thread(target=_dump_logged, args=(dumps,), name="tracemalloc-dump", daemon=True).start()

    signal.signal(signal.SIGUSR1, on_signal)
    log.warning("tracing allocations (%s=%s): SIGUSR1 writes a diff there", TRACEMALLOC_ENV, directory)
    return dumps


def _dump_logged(dumps: TracemallocDumps) -> None:
    log.warning("wrote %s", dumps.dump())


def prepare_process_memory() -> None:
    """What every long-running role does first, before it starts any thread."""
    cap_malloc_arenas()
    install_tracemalloc_dumps()
