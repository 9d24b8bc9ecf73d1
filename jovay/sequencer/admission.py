"""Admission of a run of decoded transactions: the stateful checks, then the pool, one by one in order.

`pure_admit_many` is the reference; jovay/_native/_admission.pyx's `admit_many` is its compiled twin
(same signature and results), which `select_admit_many` picks unless JOVAY_PURE=1 or it is not built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import cast

from jovay.codec.transactions import SignedTx
from jovay.errors import InvalidTransaction
from jovay.sequencer.mempool import Mempool
from jovay.state.overlay import StateOverlay
from jovay.stf.transaction import BlockEnv, check_admission

Listener = Callable[[bytes], None]
Admitted = list[bytes | InvalidTransaction]
AdmitMany = Callable[
    [Mempool, Sequence[SignedTx | InvalidTransaction], StateOverlay, BlockEnv, Sequence[Listener]], Admitted
]


def admit(
    pool: Mempool, signed: SignedTx, state: StateOverlay, env: BlockEnv, listeners: Sequence[Listener]
) -> bytes:
    """Check one transaction against `state` and the next block's `env`, pool it and tell the
    listeners; its hash, or the InvalidTransaction that refuses it."""
    nonce = check_admission(state, env, signed)
    pool.add(signed, nonce)
    for listener in listeners:
        listener(signed.hash)
    return signed.hash


def pure_admit_many(
    pool: Mempool,
    decoded: Sequence[SignedTx | InvalidTransaction],
    state: StateOverlay,
    env: BlockEnv,
    listeners: Sequence[Listener],
) -> Admitted:
    """`admit` each decoded transaction in order (a decoding error stays the answer): each one's hash
    or its error, as a loop of single submissions would give."""
    out: Admitted = []
    for item in decoded:
        if isinstance(item, InvalidTransaction):
            out.append(item)
            continue
        try:
            out.append(admit(pool, item, state, env, listeners))
        except InvalidTransaction as exc:
            out.append(exc)
    return out


def select_admit_many() -> AdmitMany:
    """The native twin (jovay/_native/_admission.pyx) when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import pure_forced

    try:
        native = importlib.import_module("jovay._native._admission")
    except ImportError:  # not built (no compiler or Cython at install time)
        return pure_admit_many
    return pure_admit_many if pure_forced() else cast(AdmitMany, native.admit_many)


admit_many = select_admit_many()
