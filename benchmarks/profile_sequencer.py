"""Profile of the in-process sequencer: where admitting and sealing signed transfers spends its time.

Same workload as benchmarks/sequencer_tps.py (one pre-signed transfer per funded account).

Serial (default): under cProfile, all admitted one by one, then sealed back to back in blocks of the
node's default size (20,000); prints the top entries by own time, then the phases (cumulative time of
the function that does each: admission, fill, receipts, tree update, roots, block write) per
transaction, for comparing the ETH and token workloads (`--timer thread`: this thread's CPU time, for a
shared machine). cProfile sees only Python-level calls of the thread it runs in.

`--threaded`: the benchmark's real path, the token setup included (submit_many batches of 250 from the
main thread while the sequencer thread seals a block every 250 ms, decoding on the pool), sampled from
outside by a profiler that sees native code and every thread:
- `--sampler py-spy` (default): Python and native frames of the Python threads; prints the CPU share
  of each thread and the top frames by own samples (where the CPU is) and by inclusive samples (which
  Python functions it is under). py-spy does not see threads started in C (Poseidon's hashing threads);
  with `--gil`, only the samples of the thread holding the GIL (what serialises the threads), also in
  microseconds per transaction (wall-clock samples: a holder the OS preempted still counts);
- `--sampler perf`: `perf record -g` of every thread, then `perf report` by library and symbol
  (kernel page faults and GC passes included; Python frames show as the interpreter's C functions).

    .venv/bin/python benchmarks/profile_sequencer.py [--accounts 100000] [--kind eth|token] [--top 12]
    .venv/bin/python benchmarks/profile_sequencer.py --threaded [--sampler py-spy|perf] [--gil]
        [--accounts 20000]

`JOVAY_PURE=1` profiles the pure-Python path.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sequencer_tps as bench  # noqa: E402

from jovay.sequencer.sequencer import Sequencer  # noqa: E402

SAMPLE_HZ = 250  # samples per second per thread: enough for the top entries, light on two cores
_LINE = re.compile(r":\d+\)$")  # the line number of a Python frame: merged per function
_ADDRESS = re.compile(r"^0x[0-9a-f]+ \((.+)\)$")  # an unnamed native frame: counted per library
_THREAD = re.compile(r"^thread \(\d+\): (.*?)(_\d+)?$")  # py-spy's thread frame: decode_0 -> decode
# py-spy with --native counts a thread blocked in C as active: a sample is a wait when the nearest named
# frame to the leaf is one of these (take_gil waits on a condition variable in CPython 3.11)
WAITS = {
    "pthread_cond_timedwait": "waiting for the GIL",
    "PyThread_acquire_lock_timed": "waiting on a lock, queue or event",
    "jv_poseidon_many_threaded": "waiting for Poseidon's hashing threads",
    "time_sleep": "sleeping",
}


def profile_serial(seq: Sequencer, raws: list[bytes], top: int, sort: str, timer: str) -> None:
    profile = cProfile.Profile(time.thread_time) if timer == "thread" else cProfile.Profile()
    profile.enable()
    for raw in raws:
        seq.submit(raw)
    bench.drain(seq)
    profile.disable()
    stats = pstats.Stats(profile)
    stats.sort_stats(sort).print_stats(top)
    print_phases(stats, len(raws))


def profile_threaded(
    seq: Sequencer, raws: list[bytes], kind: str, sampler: str, top: int, gil: bool = False
) -> None:
    """Run the benchmark's threaded measurement with a sampling profiler attached to this process
    (`gil`: py-spy keeps only the samples of the thread holding the GIL)."""
    tool = "py-spy" if sampler == "py-spy" else "perf"
    executable = shutil.which(tool, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    if executable is None:
        raise SystemExit(f"{tool} is not installed (py-spy comes with the dev extras; perf from the OS)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / ("stacks.txt" if sampler == "py-spy" else "perf.data")
        pid = str(os.getpid())
        if sampler == "py-spy":
            command = [executable, "record", "--native", "--threads", "--format", "raw"]
            command += ["-r", str(SAMPLE_HZ), "-o", str(out), "-p", pid] + (["--gil"] if gil else [])
        else:
            command = [executable, "record", "-g", "-F", str(SAMPLE_HZ), "-o", str(out), "-p", pid]
        recorder = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attached before the first submission
        run = bench.measure(seq, raws, kind, timeout_s=600)
        recorder.send_signal(signal.SIGINT)
        recorder.wait(timeout=120)
        print(
            f"{kind}: {run.txs} txs in {run.blocks} blocks, {run.tps:.0f} tx/s, "
            f"{run.cpu_s / run.txs * 1e6:.0f} us CPU per tx (all threads), {run.full_gcs} full GC passes"
        )
        if sampler == "py-spy":
            print_py_spy_summary(out.read_text().splitlines(), top, run.txs, gil)
        else:
            report = [executable, "report", "-i", str(out), "--no-children", "--sort", "dso,sym"]
            report += ["--stdio", "-g", "none", "--percent-limit", "0.5"]
            lines = subprocess.run(report, capture_output=True, text=True, check=False).stdout.splitlines()
            print("\n".join(line for line in lines if "%" in line and not line.startswith("#")))


def frame_name(frame: str) -> str:
    """A py-spy frame as reported: Python frames per function, unnamed native frames per library."""
    address = _ADDRESS.match(frame)
    if address:
        return f"[{address.group(1)}]"
    return _LINE.sub(")", frame)


def wait_kind(names: list[str]) -> str | None:
    """What a sample's thread is waiting for, or None when it runs (see WAITS)."""
    for name in reversed(names):
        if name.startswith("["):  # an unnamed native frame (inside libc, say): look further up
            continue
        return WAITS.get(name.split(" ", 1)[0])
    return None


def print_py_spy_summary(lines: list[str], top: int, txs: int, gil: bool = False) -> None:
    """Per thread: running and waiting samples (with `gil`: the samples holding the GIL), also as
    microseconds per transaction; then the top frames of the running samples by own samples and by
    inclusive samples (Python functions), from py-spy's raw stacks."""
    threads: Counter[tuple[str, str]] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    running = 0
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        thread, *frames = stack.split(";")
        match = _THREAD.match(thread)
        names = [frame_name(frame) for frame in frames] or ["(no frame)"]
        state = wait_kind(names)
        threads[(match.group(1) if match else thread, state or "running")] += count
        if state is None:
            running += count
            own[names[-1]] += count
            for name in set(names):
                if name.endswith(".py)"):
                    inclusive[name] += count
    if not running:
        print("no running samples (is py-spy allowed to attach? it needs ptrace rights)")
        return
    what = "holding the GIL" if gil else "running = on a CPU or runnable"
    print(f"\nthreads (samples at {SAMPLE_HZ} Hz; {what}):")
    for (thread, state), count in sorted(threads.items(), key=lambda item: (item[0][0], -item[1])):
        seconds = count / SAMPLE_HZ
        print(f"  {thread:12s} {state:40s} {seconds:7.2f} s {seconds / txs * 1e6:7.1f} us/tx")
    total = running / SAMPLE_HZ
    print(f"  {'all':12s} {'running':40s} {total:7.2f} s {total / txs * 1e6:7.1f} us/tx")
    for title, counter in (("own samples", own), ("inclusive (Python)", inclusive)):
        print(f"\n{title}: share of the {running} running samples (us per tx)")
        for name, count in counter.most_common(top):
            print(f"  {100 * count / running:5.1f}% {count / SAMPLE_HZ / txs * 1e6:6.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--kind", choices=("eth", "token"), default="eth")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--sort", choices=("tottime", "cumulative"), default="tottime")
    parser.add_argument(
        "--timer",
        choices=("wall", "thread"),
        default="wall",
        help="thread: this thread's CPU time (shared machine)",
    )
    parser.add_argument("--threaded", action="store_true", help="the benchmark's threaded path, sampled")
    parser.add_argument("--sampler", choices=("py-spy", "perf"), default="py-spy")
    parser.add_argument("--gil", action="store_true", help="py-spy: only the samples holding the GIL")
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    with tempfile.TemporaryDirectory() as tmp:
        seq = bench.new_sequencer(Path(tmp), keys)
        if args.kind == "token" or args.threaded:  # the threaded benchmark measures after this setup
            bench.setup_token(seq, keys)
        raws = bench.workload(seq, keys, args.kind)
        if args.threaded:
            profile_threaded(seq, raws, args.kind, args.sampler, args.top, args.gil)
        else:
            profile_serial(seq, raws, args.top, args.sort, args.timer)
        seq.chain.close()


# Phase -> (Python functions whose cumulative time it is, functions inside them counted elsewhere). Compiled
# functions are invisible to cProfile, so each phase is named by the Python function around it.
PHASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "decode + sender recovery (_decoded)": (("_decoded",), ()),
    "admission checks (admit - mempool add)": (("admit",), ("add",)),
    "mempool add": (("add",), ()),
    "fill/execution (_fill)": (("_fill",), ()),
    "tree update (update_many)": (("update_many",), ()),
    "receipts, bloom, tx/receipt roots (seal_block - tree)": (("seal_block",), ("update_many",)),
    "block write (_store_block)": (("_store_block",), ()),
    "mempool snapshot + remove": (("snapshot_by_sender", "remove"), ()),
}


def _cumulative(table: dict, names: tuple[str, ...], path_part: str = "") -> float:
    """Cumulative seconds of the Python functions called `names` (outermost calls only)."""
    total = 0.0
    for (path, _, name), (_, _, _, cumulative, callers) in table.items():
        if name in names and path_part in path and not any(c[2] in names for c in callers):
            total += cumulative
    return total


def print_phases(stats: pstats.Stats, txs: int) -> None:
    """Seconds and microseconds per transaction of each phase."""
    table = stats.stats  # type: ignore[attr-defined]  # (file, line, name) -> (cc, nc, tt, ct, callers)
    print(f"{'phase':56s} {'s':>7s} {'us/tx':>7s}")
    for phase, (names, inner) in PHASES.items():
        where = "mempool" if names == ("add",) or "snapshot_by_sender" in names else ""
        seconds = _cumulative(table, names, where) - (_cumulative(table, inner, "") if inner else 0.0)
        print(f"{phase:56s} {seconds:7.2f} {seconds / txs * 1e6:7.1f}")


if __name__ == "__main__":
    main()
