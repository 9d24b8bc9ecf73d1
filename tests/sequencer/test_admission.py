"""Admission of a run of decoded transactions: the native `admit_many` (jovay/_native/_admission.pyx)
answers, pools and notifies exactly as the pure `pure_admit_many`, on random mixes of valid and invalid
transactions (decoding errors, duplicates, nonces too low or too far ahead, underpriced and accepted
replacements, insufficient funds, fees below the base fee, per-sender and pool limits)."""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jovay.codec.transactions import SignedTx, decode_many
from jovay.errors import InvalidTransaction
from jovay.params import MIN_BASE_FEE
from jovay.sequencer.admission import AdmitMany, pure_admit_many
from jovay.sequencer.mempool import Mempool, MempoolLimits
from jovay.sequencer.sequencer import Sequencer
from jovay.state.overlay import StateOverlay
from jovay.stf.genesis import Genesis
from jovay.stf.transaction import BlockEnv
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, raw_tx

FUNDED = 5  # KEYS[5:] have no funds
LIMITS = MempoolLimits(max_nonce_gap=4, max_per_sender=3, max_total=12)


def _native() -> ModuleType | None:
    try:
        return importlib.import_module("jovay._native._admission")
    except ImportError:
        return None


NATIVE = _native()
pytestmark = pytest.mark.skipif(NATIVE is None, reason="jovay._native._admission is not built")


@pytest.fixture(scope="module")
def head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chain, BlockEnv]]:
    genesis = Genesis(
        identity_admin=ADDRESSES[0],
        timestamp=int(time.time()) - 5,
        alloc={a: ETH // 1000 for a in ADDRESSES[:FUNDED]},
    )
    chain = Chain(tmp_path_factory.mktemp("admission"), genesis)
    yield chain, Sequencer(chain)._admission_env()
    chain.close()


def _raw(key: int, nonce: int, fee: int, value: int, kind: str) -> bytes:
    """One signed transfer; `fee` scales both fee caps (replacements need 10% more of both)."""
    max_fee, tip = MIN_BASE_FEE * fee, 1_000 * fee
    if kind == "below base fee":
        max_fee, tip = MIN_BASE_FEE // 2, 1
    chain_id = CHAIN_ID + 1 if kind == "other chain" else CHAIN_ID
    tx_type = 0 if kind == "legacy" else 2
    return raw_tx(
        KEYS[key],
        nonce=nonce,
        to=ADDRESSES[7],
        value=value,
        max_fee=max_fee,
        tip=tip,
        chain_id=chain_id,
        tx_type=tx_type,
    )


KINDS = ("plain", "plain", "plain", "legacy", "below base fee", "other chain")
transactions = st.tuples(
    st.integers(0, 6),  # key: KEYS[5] and KEYS[6] are unfunded
    st.integers(0, 7),  # nonce: beyond the gap of 4 from 5 on
    st.sampled_from([1, 1, 2, 3]),  # fee multiple: equal (underpriced replacement) or +100%, +200%
    st.sampled_from([1, 1, 10**18]),  # value: 10**18 is more than any balance
    st.sampled_from(KINDS),
)


def outcome(answer: bytes | InvalidTransaction) -> Any:
    if isinstance(answer, InvalidTransaction):
        return (type(answer).__name__, answer.message, answer.rpc_code)
    return answer


def pool_state(pool: Mempool) -> Any:
    """Everything the pool holds, in the orders that later blocks depend on."""
    return (
        list(pool._by_hash),
        [(sender, list(queue.items())) for sender, queue in pool._by_sender.items()],
        [[s.hash for s in queue] for queue in pool.snapshot_by_sender()],
        pool.content(),
    )


def admit_with(
    admit_many: AdmitMany,
    decoded: list[SignedTx | InvalidTransaction],
    chain: Chain,
    env: BlockEnv,
    preload: list[SignedTx],
) -> tuple[list[Any], Any, list[bytes]]:
    pool = Mempool(LIMITS)
    for signed in preload:  # a pool that already holds some transactions
        pool.add(signed, 0)
    heard: list[bytes] = []
    answers = admit_many(pool, decoded, StateOverlay(chain.store.leaf), env, [heard.append])
    return [outcome(a) for a in answers], pool_state(pool), heard


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(txs=st.lists(transactions, min_size=1, max_size=30), preloaded=st.integers(0, 3))
def test_native_admission_equals_pure(head: tuple[Chain, BlockEnv], txs: list[Any], preloaded: int) -> None:
    assert NATIVE is not None
    chain, env = head
    raws = [_raw(*tx) for tx in txs]
    raws += [b"\x02\xff", raws[0]]  # a decoding error, a duplicate
    decoded = decode_many(raws, CHAIN_ID)
    preload = [s for s in decode_many([_raw(k, 0, 1, 1, "plain") for k in range(preloaded)], CHAIN_ID)]
    native = admit_with(NATIVE.admit_many, decoded, chain, env, preload)  # type: ignore[arg-type]
    pure = admit_with(pure_admit_many, decoded, chain, env, preload)  # type: ignore[arg-type]
    assert native == pure


def test_every_refusal_reason_is_reached(head: tuple[Chain, BlockEnv]) -> None:
    """The mix above reaches every answer admission gives (so the comparison covers them)."""
    assert NATIVE is not None
    chain, env = head
    raws = [
        _raw(0, 0, 1, 1, "plain"),
        _raw(0, 0, 1, 1, "plain"),  # already known
        _raw(0, 0, 1, 2, "plain"),  # replacement underpriced
        _raw(0, 0, 2, 3, "plain"),  # replacement accepted
        _raw(0, 1, 1, 1, "plain"),
        _raw(0, 2, 1, 1, "plain"),
        _raw(0, 3, 1, 1, "plain"),  # account limit (3)
        _raw(1, 5, 1, 1, "plain"),  # nonce too high (gap 4)
        _raw(5, 0, 1, 1, "plain"),  # insufficient funds
        _raw(1, 0, 1, 1, "below base fee"),
        _raw(1, 0, 1, 1, "other chain"),
        _raw(1, 0, 1, 10**18, "plain"),
        *[_raw(k, n, 1, 1, "legacy") for k in (2, 3, 4) for n in (0, 1, 2)],  # 9 more: the pool is full
        _raw(1, 0, 1, 1, "plain"),
    ]
    decoded = decode_many(raws, CHAIN_ID)
    native, pool, heard = admit_with(NATIVE.admit_many, decoded, chain, env, [])  # type: ignore[arg-type]
    messages = [a[1].split(":")[0] for a in native if isinstance(a, tuple)]
    for reason in (
        "already known",
        "replacement transaction underpriced",
        "account limit exceeded",
        "nonce too high",
        "insufficient funds for gas * price + value",
        "max fee per gas less than block base fee",
        "invalid chain id for signer",
        "txpool is full",
    ):
        assert reason in messages, (reason, messages)
    assert heard == [a for a in native if isinstance(a, bytes)]
    assert (native, pool, heard) == admit_with(pure_admit_many, decoded, chain, env, [])


def test_admission_answers_nonce_too_low_after_a_block(tmp_path: Path) -> None:
    """With the account's nonce moved on by a sealed block, both paths refuse the old nonce alike."""
    assert NATIVE is not None
    genesis = Genesis(identity_admin=ADDRESSES[0], timestamp=int(time.time()) - 5, alloc={ADDRESSES[0]: ETH})
    chain = Chain(tmp_path, genesis)
    try:
        sequencer = Sequencer(chain)
        sequencer.submit(_raw(0, 0, 1, 1, "plain"))
        sequencer.produce_block()
        decoded = decode_many([_raw(0, 0, 2, 1, "plain"), _raw(0, 1, 1, 1, "plain")], CHAIN_ID)
        env = sequencer._admission_env()
        native = admit_with(NATIVE.admit_many, decoded, chain, env, [])  # type: ignore[arg-type]
        assert native[0][0][0] == "NonceTooLow" and isinstance(native[0][1], bytes)
        assert native == admit_with(pure_admit_many, decoded, chain, env, [])
    finally:
        chain.close()


pool_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3), st.integers(0, 5), st.sampled_from([1, 2, 4])),
        st.tuples(st.just("remove"), st.lists(st.integers(0, 40), max_size=6)),
        st.tuples(st.just("snapshot")),
    ),
    max_size=40,
)
_SIGNED: dict[tuple[int, int, int], SignedTx] = {}


def _pooled_tx(key: int, nonce: int, fee: int) -> SignedTx:
    """Signed transfers, signed once per (key, nonce, fee) for the whole module."""
    found = _SIGNED.get((key, nonce, fee))
    if found is None:
        decoded = decode_many([_raw(key, nonce, fee, 1, "plain")], CHAIN_ID)[0]
        assert isinstance(decoded, SignedTx)
        found = _SIGNED[(key, nonce, fee)] = decoded
    return found


def run_pool_ops(ops: list[Any], snapshot: Any, remove: Any) -> list[Any]:
    """Apply the operations to a fresh pool with the given `snapshot_by_sender` and `remove`; what each
    answered and the pool's state after it."""
    pool = Mempool(MempoolLimits(max_nonce_gap=3, max_per_sender=3, max_total=8))
    seen: list[SignedTx] = []
    trace: list[Any] = []
    for op in ops:
        if op[0] == "add":
            signed = _pooled_tx(op[1], op[2], op[3])
            seen.append(signed)
            try:
                replaced = pool.add(signed, 1)
                trace.append(None if replaced is None else replaced.hash)
            except InvalidTransaction as exc:
                trace.append(exc.message)
        elif op[0] == "remove":
            remove(pool, [seen[i] for i in op[1] if i < len(seen)])
        else:
            trace.append([[s.hash for s in queue] for queue in snapshot(pool)])
        trace.append(pool_state_without_snapshot(pool))
    return trace


def pool_state_without_snapshot(pool: Mempool) -> Any:
    return (
        list(pool._by_hash),
        [(sender, list(queue.items())) for sender, queue in pool._by_sender.items()],
        [(sender, [s.hash for s in queue]) for sender, queue in pool._in_order.items()],
    )


@settings(max_examples=80, deadline=None)
@given(ops=pool_ops)
def test_native_snapshot_and_remove_equal_the_pure_ones(ops: list[Any]) -> None:
    assert NATIVE is not None
    native = run_pool_ops(ops, NATIVE.snapshot_by_sender, NATIVE.remove)
    pure = run_pool_ops(ops, Mempool.pure_snapshot_by_sender, Mempool.pure_remove)
    assert native == pure


def test_snapshot_lists_are_shared_until_the_sender_changes() -> None:
    assert NATIVE is not None
    pool = Mempool()
    for nonce in (1, 0):
        pool.add(_pooled_tx(0, nonce, 1), 0)
    pool.add(_pooled_tx(1, 0, 1), 0)
    first = NATIVE.snapshot_by_sender(pool)
    assert [[s.tx.nonce for s in queue] for queue in first] == [[0, 1], [0]]
    again = NATIVE.snapshot_by_sender(pool)
    assert all(a is b for a, b in zip(first, again, strict=True))
    NATIVE.remove(pool, [_pooled_tx(0, 0, 1)])
    after = NATIVE.snapshot_by_sender(pool)
    assert [[s.tx.nonce for s in queue] for queue in after] == [[1], [0]] and after[1] is first[1]
