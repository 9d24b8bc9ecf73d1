"""The mempool: pending signed transactions by sender and nonce, with geth's admission rules.

The pool keeps a per-sender nonce map. It bounds the nonce gap ahead of the account's nonce, the
transactions per sender and the total, and lets a transaction be replaced only by one paying at least
`REPLACEMENT_BUMP_PERCENT` more in both fee caps. Stateful checks (balance, fees against the base fee)
happen before `add`, in the sequencer, against the latest state.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from jovay.codec.transactions import SignedTx
from jovay.errors import InvalidTransaction, NonceTooLow

REPLACEMENT_BUMP_PERCENT = 10


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_nonce_gap: int = 256  # a nonce may be at most this far ahead of the account's nonce
    max_per_sender: int = 512
    max_total: int = 200_000


def _bumped_enough(old: int, new: int) -> bool:
    return new * 100 >= old * (100 + REPLACEMENT_BUMP_PERCENT)


def _in_nonce_order(queue: dict[int, SignedTx]) -> list[SignedTx]:
    """A sender's pooled transactions in nonce order (most senders have one: no sort needed)."""
    if len(queue) == 1:
        return list(queue.values())
    return [queue[n] for n in sorted(queue)]


class Mempool:
    """Thread-safe: RPC handlers add while the block producer takes and removes."""

    def __init__(self, limits: MempoolLimits | None = None) -> None:
        self.limits = limits or MempoolLimits()
        self._lock = threading.Lock()
        self._by_hash: dict[bytes, SignedTx] = {}
        self._by_sender: dict[bytes, dict[int, SignedTx]] = {}
        # Each sender's transactions in nonce order as last handed out, until the sender's queue changes:
        # a busy pool is snapshotted for every block, and most senders did not change since the last.
        self._in_order: dict[bytes, list[SignedTx]] = {}

    def __len__(self) -> int:
        return len(self._by_hash)

    def get(self, tx_hash: bytes) -> SignedTx | None:
        return self._by_hash.get(tx_hash)

    def add(self, signed: SignedTx, account_nonce: int) -> SignedTx | None:
        """Admit a transaction whose sender's nonce is `account_nonce`; returns the one it replaced."""
        tx, sender = signed.tx, signed.sender
        with self._lock:
            if signed.hash in self._by_hash:
                raise InvalidTransaction("already known")
            if tx.nonce < account_nonce:
                raise NonceTooLow(
                    f"nonce too low: address 0x{sender.hex()}, tx: {tx.nonce} state: {account_nonce}"
                )
            if tx.nonce > account_nonce + self.limits.max_nonce_gap:
                raise InvalidTransaction(
                    f"nonce too high: address 0x{sender.hex()}, tx: {tx.nonce} state: {account_nonce} "
                    f"(gap exceeds the mempool limit of {self.limits.max_nonce_gap})"
                )
            queue = self._by_sender.setdefault(sender, {})
            replaced = queue.get(tx.nonce)
            if replaced is not None:
                self._check_replacement(replaced, signed)
            elif len(queue) >= self.limits.max_per_sender:
                raise InvalidTransaction(
                    f"account limit exceeded: address 0x{sender.hex()} has {len(queue)} pending transactions"
                )
            elif len(self._by_hash) >= self.limits.max_total:
                raise InvalidTransaction("txpool is full")
            if replaced is not None:
                del self._by_hash[replaced.hash]
            self._in_order.pop(sender, None)
            queue[tx.nonce] = signed
            self._by_hash[signed.hash] = signed
            return replaced

    @staticmethod
    def _check_replacement(old: SignedTx, new: SignedTx) -> None:
        if not (
            _bumped_enough(old.tx.max_fee_per_gas, new.tx.max_fee_per_gas)
            and _bumped_enough(old.tx.max_priority_fee_per_gas, new.tx.max_priority_fee_per_gas)
        ):
            raise InvalidTransaction("replacement transaction underpriced")

    def pending_nonce(self, sender: bytes, account_nonce: int) -> int:
        """The nonce after the sender's run of consecutive pooled transactions (`pending` tag)."""
        queue = self._by_sender.get(sender)
        nonce = account_nonce
        if queue:
            while nonce in queue:
                nonce += 1
        return nonce

    def snapshot_by_sender(self) -> list[list[SignedTx]]:
        """Each sender's transactions in nonce order, for the block producer to pick from (the lists are
        shared with later snapshots until the sender's queue changes: read them, never modify them)."""
        return _snapshot_by_sender(self)

    def pure_snapshot_by_sender(self) -> list[list[SignedTx]]:
        """`snapshot_by_sender`'s pure twin (jovay/_native/_admission.pyx has the compiled one)."""
        with self._lock:
            in_order = self._in_order
            out = []
            for sender, queue in self._by_sender.items():
                if not queue:  # (left by an `add` that was refused)
                    continue
                ordered = in_order.get(sender)
                if ordered is None:
                    ordered = in_order[sender] = _in_nonce_order(queue)
                out.append(ordered)
            return out

    def remove(self, txs: Iterable[SignedTx]) -> None:
        """Drop these transactions (those still pooled): the ones a block included or dropped."""
        _remove(self, txs)

    def pure_remove(self, txs: Iterable[SignedTx]) -> None:
        """`remove`'s pure twin (jovay/_native/_admission.pyx has the compiled one)."""
        with self._lock:
            for signed in txs:
                if self._by_hash.pop(signed.hash, None) is None:
                    continue
                queue = self._by_sender.get(signed.sender)
                if queue is not None:
                    self._in_order.pop(signed.sender, None)
                    queue.pop(signed.tx.nonce, None)
                    if not queue:
                        del self._by_sender[signed.sender]

    def remove_stale(self, sender: bytes, account_nonce: int) -> None:
        """Drop a sender's transactions whose nonce the chain has already used."""
        with self._lock:
            queue = self._by_sender.get(sender, {})
            stale = [signed for nonce, signed in queue.items() if nonce < account_nonce]
        self.remove(stale)

    def content(self) -> dict[bytes, list[SignedTx]]:
        with self._lock:
            return {sender: [q[n] for n in sorted(q)] for sender, q in self._by_sender.items()}


def _select_pool_ops() -> tuple[
    Callable[[Mempool], list[list[SignedTx]]], Callable[[Mempool, Iterable[SignedTx]], None]
]:
    """The compiled `snapshot_by_sender` and `remove` (jovay/_native/_admission.pyx) when they are built
    and JOVAY_PURE=1 is not set, else the pure twins."""
    from jovay._native import pure_forced

    try:
        native = importlib.import_module("jovay._native._admission")
    except ImportError:  # not built (no compiler or Cython at install time)
        native = None
    if native is None or pure_forced():
        return Mempool.pure_snapshot_by_sender, Mempool.pure_remove
    return native.snapshot_by_sender, native.remove


_snapshot_by_sender, _remove = _select_pool_ops()
