"""The node's periodic vitals line (jovay/vitals.py)."""

from __future__ import annotations

import re

from jovay.vitals import SealVitals, malloc_use


class FakeHeader:
    def __init__(self, number: int) -> None:
        self.number = number


def seal(vitals: SealVitals, number: int, txs: int) -> None:
    vitals(FakeHeader(number), [object()] * txs)  # type: ignore[arg-type, list-item]


def test_logs_cadence_and_cpu_per_tx_once_per_window() -> None:
    now, cpu, lines = [0.0], [0.0], []
    vitals = SealVitals(every_s=30, clock=lambda: now[0], thread_cpu=lambda: cpu[0], emit=lines.append)
    seal(vitals, 1, 0)  # starts the window
    for number in range(2, 62):  # 60 blocks 0.5 s apart, 1,000 txs each, 100 ms of CPU each
        now[0] += 0.5
        cpu[0] += 0.1
        seal(vitals, number, 1_000 if number < 61 else 3_000)
    assert len(lines) == 1, lines
    line = lines[0]
    assert "head 61, 60 blocks in 30.0 s (500 ms apart)" in line
    assert "2067 tx/s" in line and "1033 txs/block (max 3000)" in line
    assert re.search(r"sealing thread 0\.20 cores, 97 us CPU/tx", line), line
    assert "anon RSS" in line and "M Python blocks" in line
    seal(vitals, 62, 10)  # a new window: nothing until 30 s more
    assert len(lines) == 1


def test_malloc_use_counts_what_is_allocated() -> None:
    before = malloc_use()
    if before is None:
        return  # not glibc 2.33+: the line leaves the malloc part out
    held = [bytes(4096) for _ in range(2_000)]  # 8 MiB through malloc (over pymalloc's 512 B)
    after = malloc_use()
    assert after is not None and after.in_use - before.in_use >= 7 * 2**20
    assert len(held) == 2_000
