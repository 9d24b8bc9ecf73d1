"""A block's working state: reads fall through to committed state, writes stay here until sealed.

The STF only ever sees this object. A journal makes a reverted call cheap to undo (a failed transaction
still pays its gas, so only the call's own writes are rolled back). `writes_since` lets the fraud-proof
path recompute the state root after every transaction of a block.
"""

from __future__ import annotations

from collections.abc import Callable

StateReader = Callable[[int], int]

_ABSENT = -1  # journal marker: the key had no pending write before


class StateOverlay:
    """Pending writes over a committed-state reader, with snapshots for reverts."""

    __slots__ = ("_read", "_writes", "_journal", "_read_cache")

    def __init__(self, read: StateReader) -> None:
        self._read = read
        self._writes: dict[int, int] = {}
        self._journal: list[tuple[int, int]] = []
        self._read_cache: dict[int, int] = {}

    def get(self, key: int) -> int:
        writes = self._writes
        if key in writes:
            return writes[key]
        cache = self._read_cache
        if key in cache:
            return cache[key]
        value = self._read(key)
        cache[key] = value
        return value

    def set(self, key: int, value: int) -> None:
        self._journal.append((key, self._writes.get(key, _ABSENT)))
        self._writes[key] = value

    def snapshot(self) -> int:
        """A point to `revert` to; valid until a revert to an earlier point."""
        return len(self._journal)

    def revert(self, snapshot: int) -> None:
        journal, writes = self._journal, self._writes
        while len(journal) > snapshot:
            key, previous = journal.pop()
            if previous == _ABSENT:
                del writes[key]
            else:
                writes[key] = previous

    def writes(self) -> dict[int, int]:
        """Every key written in this block with its final value (0 = deleted)."""
        return self._writes

    def writes_since(self, snapshot: int) -> dict[int, int]:
        """Keys written after `snapshot`, with their current values."""
        return {key: self._writes[key] for key, _ in self._journal[snapshot:]}
