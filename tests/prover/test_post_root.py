"""The one-pass post root of a batch equals the root after its last item, computed item by item.

`post_root` executes a batch over one overlay and updates the tree once; `item_roots` updates it after
every item (what bisection needs). Hypothesis draws batches of mixed items: ETH and token transfers
with right and wrong nonces, values beyond the balance, another chain, corrupted or high-s signatures,
token transfers of a whole balance (a leaf deleted) or to a recipient off the allowlist, deposits in
and out of queue order, deposit payloads that are not deposits. Both ways must agree, with the honest
rule and with each faulty rule; a faulty rule must not agree with the honest one where it breaks it.

The one pass also reads through a `LeafMirror` of the pre-batch state (a flat map of every leaf) and
must give the same root, leaving the mirror equal to the post root's leaves; a mirror of another root
must never be read. `ItemRules.apply` takes the STF's transfer fast path first, and must give the
same roots as the general rules alone.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jovay.codec.batch import (
    ITEM_DEPOSIT,
    ITEM_TRANSACTION,
    BatchItem,
    decode_deposit_payload,
    deposit_payload,
)
from jovay.codec.transactions import DynamicFeeTx, decode_transaction, encode_transaction, sign_transaction
from jovay.crypto.secp256k1 import SECP256K1_N, address_of
from jovay.errors import InvalidTransaction
from jovay.params import BLOCK_GAS_LIMIT, DEFAULT_L2_CHAIN_ID, MIN_BASE_FEE, TOKEN_ADDRESS_PREFIX
from jovay.state.keys import account_key, allowlist_key, pack_account, system_field_key, token_balance_key
from jovay.state.overlay import StateOverlay
from jovay.state.smt import LEAF, MemoryNodeStore, NodeStore, SparseMerkleTree
from jovay.stf.genesis import Genesis
from jovay.stf.transaction import process_deposit, process_transaction_general
from prover.fault import execution
from prover.fault.execution import Executor, ItemRules, LeafMirror, item_roots, post_root
from prover.fault.faulty import FAULTY_MODES, FaultyMode
from prover.fault.replay import BatchReplay

CHAIN_ID = DEFAULT_L2_CHAIN_ID
RULES = ItemRules(CHAIN_ID, BLOCK_GAS_LIMIT)
KEYS = [bytes([i + 7]) * 32 for i in range(4)]
SENDERS = [address_of(key) for key in KEYS]
OUTSIDER = b"\x77" * 20  # funded by nobody, not on the allowlist
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
TOKEN_BALANCE = 100
ETH = 10**18
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")

STATE = {
    system_field_key(1): 1,  # one tokenized asset: TOKEN
    **{account_key(a): pack_account(0, 10 * ETH) for a in SENDERS},
    **{token_balance_key(TOKEN, a): TOKEN_BALANCE for a in SENDERS},
    **{allowlist_key(a): 1 for a in SENDERS},
}


@cache
def _signed(sender: int, nonce: int, to: bytes, value: int, data: bytes, chain_id: int) -> bytes:
    gas = 100_000 if data else 21_000
    tx = DynamicFeeTx(chain_id, nonce, 1_000, 2 * MIN_BASE_FEE, gas, to, value, data)
    return sign_transaction(tx, KEYS[sender])


def _high_s(raw: bytes) -> bytes:
    """The same signature with s -> n - s: ecrecover finds the sender, the rules refuse it (EIP-2)."""
    inner = decode_transaction(raw, expected_chain_id=CHAIN_ID).tx
    assert isinstance(inner, DynamicFeeTx)
    return encode_transaction(
        dataclasses.replace(inner, s=SECP256K1_N - inner.s, y_parity=1 - inner.y_parity)
    )


def _token_call(to: bytes, amount: int) -> bytes:
    return TRANSFER_SELECTOR + to.rjust(32, b"\x00") + amount.to_bytes(32, "big")


recipients = st.sampled_from([*SENDERS, OUTSIDER])


@st.composite
def transactions(draw: st.DrawFn) -> bytes:
    sender = draw(st.integers(0, len(KEYS) - 1))
    nonce = draw(st.integers(0, 3))  # often the right one, sometimes ahead or behind
    to = draw(recipients)
    if draw(st.booleans()):
        value = draw(st.sampled_from([0, 1, ETH, 20 * ETH]))  # 20 ETH is beyond any balance
        raw = _signed(sender, nonce, to, value, b"", CHAIN_ID)
    else:  # the whole balance deletes the sender's token leaf; to the outsider the allowlist refuses
        amount = draw(st.sampled_from([1, TOKEN_BALANCE, TOKEN_BALANCE + 1]))
        raw = _signed(sender, nonce, TOKEN, 0, _token_call(to, amount), CHAIN_ID)
    fault = draw(st.sampled_from(["none"] * 6 + ["other-chain", "high-s", "corrupt"]))
    if fault == "other-chain":
        return _signed(sender, nonce, to, 1, b"", CHAIN_ID + 1)
    if fault == "high-s":
        return _high_s(raw)
    if fault == "corrupt":
        at = draw(st.integers(0, len(raw) - 1))
        return raw[:at] + bytes([raw[at] ^ draw(st.integers(1, 255))]) + raw[at + 1 :]
    return raw


@st.composite
def deposits(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=130))  # mostly not 128 bytes: not a deposit, skipped
    queue_index = draw(st.integers(0, 3))  # in queue order or not
    return deposit_payload(queue_index, b"\x01" * 20, draw(recipients), draw(st.sampled_from([0, 1, ETH])))


@st.composite
def batches(draw: st.DrawFn) -> list[BatchItem]:
    items = []
    for i in range(draw(st.integers(0, 14))):
        if draw(st.integers(0, 3)) == 0:
            items.append(BatchItem(ITEM_DEPOSIT, 1 + i // 4, 1_000 + i, MIN_BASE_FEE, draw(deposits())))
        else:
            items.append(
                BatchItem(ITEM_TRANSACTION, 1 + i // 4, 1_000 + i, MIN_BASE_FEE, draw(transactions()))
            )
    return items


def _pre_state() -> tuple[MemoryNodeStore, int]:
    store = MemoryNodeStore()
    return store, SparseMerkleTree(store).update_many(STATE)


def _leaves(store: NodeStore, root: int) -> dict[int, int]:
    """Every leaf of the tree at `root` (a walk over all of its nodes)."""
    out, todo = {}, [root]
    while todo:
        h = todo.pop()
        if h:
            tag, a, b = store.get(h)  # type: ignore[misc]
            if tag == LEAF:
                out[a] = b
            else:
                todo += [a, b]
    return out


def _both_ways(items: list[BatchItem], execute: Executor) -> tuple[int, int]:
    """(one-pass post root, last per-item root), each over its own store from the same pre-state; the
    one pass also through a mirror of the pre-state, which must give the same root and end up holding
    exactly the post root's leaves."""
    one_store, pre = _pre_state()
    one_pass = post_root(one_store, pre, items, execute, RULES.predecode)
    mirror_store, pre = _pre_state()
    mirror = LeafMirror(pre, STATE.items())
    assert post_root(mirror_store, pre, items, execute, RULES.predecode, mirror) == one_pass
    assert mirror.root == one_pass and mirror.leaves == _leaves(mirror_store, one_pass)
    item_store, pre = _pre_state()
    return one_pass, item_roots(item_store, pre, items, execute)[-1]


def _general_rules_only(state: StateOverlay, item: BatchItem) -> None:
    """The item rule without the transfer fast path: the STF's general rules for every transaction."""
    snapshot = state.snapshot()
    try:
        if item.kind == ITEM_TRANSACTION:
            signed = decode_transaction(item.payload, expected_chain_id=CHAIN_ID)
            env = RULES.env(item)
            process_transaction_general(state, env, signed, env.gas_limit)
        elif item.kind == ITEM_DEPOSIT:
            deposit = decode_deposit_payload(item.payload)
            if deposit is not None:
                process_deposit(state, deposit)
    except InvalidTransaction:
        state.revert(snapshot)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_one_pass_post_root_equals_the_last_per_item_root(items: list[BatchItem]) -> None:
    one_pass, per_item = _both_ways(items, RULES.apply)
    assert one_pass == per_item
    store, pre = _pre_state()  # the fast path changes how fast, never what
    assert post_root(store, pre, items, _general_rules_only) == one_pass


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches(), st.sampled_from(FAULTY_MODES))
def test_one_pass_equals_per_item_under_a_faulty_rule_too(items: list[BatchItem], name: str) -> None:
    """The faulty proposer posts one-pass roots and defends per-item ones: they must be the same."""
    one_pass, per_item = _both_ways(items, FaultyMode(name, RULES).executor())
    assert one_pass == per_item


def test_a_batch_that_deletes_leaves_and_skips_items() -> None:
    """The cases the strategies aim at, checked to really happen: a token leaf deleted by a transfer of
    the whole balance, and skipped items (wrong nonce, high s, out-of-order deposit) leaving no trace."""
    whole = _signed(0, 0, TOKEN, 0, _token_call(SENDERS[1], TOKEN_BALANCE), CHAIN_ID)
    items = [
        BatchItem(ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, whole),
        BatchItem(ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, _signed(1, 5, SENDERS[2], 1, b"", CHAIN_ID)),
        BatchItem(
            ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, _high_s(_signed(2, 0, SENDERS[3], 1, b"", CHAIN_ID))
        ),
        BatchItem(ITEM_DEPOSIT, 1, 1_000, MIN_BASE_FEE, deposit_payload(1, b"\x01" * 20, OUTSIDER, ETH)),
        BatchItem(ITEM_DEPOSIT, 1, 1_000, MIN_BASE_FEE, deposit_payload(0, b"\x01" * 20, OUTSIDER, ETH)),
    ]
    store, pre = _pre_state()
    roots = item_roots(store, pre, items, RULES.apply)
    assert roots[1] != roots[0] and roots[2] == roots[1] and roots[3] == roots[2] and roots[4] == roots[3]
    assert roots[5] != roots[4]  # the deposit in queue order is credited
    after = SparseMerkleTree(store, roots[-1])
    assert after.get(token_balance_key(TOKEN, SENDERS[0])) == 0  # the leaf is gone...
    assert after.get(token_balance_key(TOKEN, SENDERS[1])) == 2 * TOKEN_BALANCE
    assert post_root(store, pre, items, RULES.apply) == roots[-1]  # ...in one pass too


def test_a_faulty_executor_gives_another_post_root() -> None:
    """Negative: post_root really depends on the rule: inflated balances and dropped deposits show."""
    items = [
        BatchItem(ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, _signed(0, 0, SENDERS[1], 1, b"", CHAIN_ID)),
        BatchItem(ITEM_DEPOSIT, 1, 1_000, MIN_BASE_FEE, deposit_payload(0, b"\x01" * 20, OUTSIDER, ETH)),
    ]
    store, pre = _pre_state()
    honest = post_root(store, pre, items, RULES.apply)
    for name in ("inflate-balance", "drop-deposit"):
        mode = FaultyMode(name, RULES)
        faulty = post_root(store, pre, items, mode.executor())
        assert faulty != honest
        assert faulty == item_roots(store, pre, items, mode.executor())[-1]
        mode.active = False  # turned honest: the same root again
        assert post_root(store, pre, items, mode.executor()) == honest


def test_an_executor_that_forgets_a_revert_gives_another_post_root() -> None:
    """Negative: an item that may not execute must leave no write behind in the shared overlay; an
    executor that keeps a refused item's writes breaks the root."""

    def no_revert(state: StateOverlay, item: BatchItem) -> None:
        snapshot = state.snapshot()
        RULES.apply(state, item)
        if state.snapshot() == snapshot:  # refused: write what it would have touched anyway
            state.set(account_key(OUTSIDER), pack_account(0, 1))

    items = [BatchItem(ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, _signed(0, 9, SENDERS[1], 1, b"", CHAIN_ID))]
    store, pre = _pre_state()
    assert post_root(store, pre, items, RULES.apply) == pre  # a wrong nonce changes nothing
    assert post_root(store, pre, items, no_revert) != pre


class _ListReplay(BatchReplay):
    def __init__(self, batches: list[list[BatchItem]], execute: Executor | None = None) -> None:
        genesis = Genesis(
            identity_admin=SENDERS[0],
            timestamp=1_000,
            chain_id=CHAIN_ID,
            alloc={a: 10 * ETH for a in SENDERS},
        )
        super().__init__(genesis, execute, min_prune_nodes=0)
        self.batches = batches

    def load_items(self, index: int) -> list[BatchItem]:
        return self.batches[index]


def _eth_batches(count: int, per_batch: int) -> list[list[BatchItem]]:
    nonces = [0] * len(KEYS)
    out = []
    for b in range(count):
        items = []
        for t in range(per_batch):
            sender = (b + t) % len(KEYS)
            raw = _signed(sender, nonces[sender], SENDERS[(sender + 1) % len(KEYS)], 1 + b, b"", CHAIN_ID)
            nonces[sender] += 1
            items.append(BatchItem(ITEM_TRANSACTION, b + 1, 1_000 + b, MIN_BASE_FEE, raw))
        out.append(items)
    return out


def test_replay_computes_per_item_roots_only_for_games_and_chains_them_on_post_roots() -> None:
    batches = _eth_batches(6, 4)
    lazy, eager = _ListReplay(batches), _ListReplay(batches)
    eager_roots = [eager.roots(i) for i in range(6)]
    posts = [lazy.output_root(i) for i in range(6)]
    assert posts == [roots[-1] for roots in eager_roots]
    # Only the post roots were made: no intermediate version of the tree is in the store yet.
    assert len(lazy.store) < len(eager.store)
    assert lazy.store.get(eager_roots[3][2]) is None
    # A game on batch 3 gets the per-item roots, starting from batch 2's post root, with witnesses.
    assert lazy.roots(3) == eager_roots[3] and lazy.roots(3)[0] == posts[2]
    assert lazy.witness(3, 1).encode() == eager.witness(3, 1).encode()
    # Finalizing batches 0..3 and pruning keeps what batches 4 and 5 still need.
    lazy.forget_finalized(4)
    assert lazy.base_root == posts[3] and lazy.roots(4) == eager_roots[4]
    assert lazy.witness(5, 3).post_root == eager_roots[5][4]


def test_replay_reset_to_another_rule_recomputes_post_and_item_roots() -> None:
    batches = _eth_batches(3, 2)
    mode = FaultyMode("inflate-balance", RULES)
    replay, honest = _ListReplay(batches, mode.executor()), _ListReplay(batches)
    wrong = replay.output_root(2)
    assert wrong != honest.output_root(2) and replay.roots(2)[-1] == wrong
    mode.active = False
    replay.reset()
    assert replay.output_root(2) == honest.output_root(2) and replay.roots(1) == honest.roots(1)


def test_transfers_take_the_fast_path_and_give_the_general_rules_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ETH and token transfers really go through the STF's fast path in the replay (outcomes counted),
    a refused one falls back to the general rules and leaves nothing, and the roots are the general
    rules' ones."""
    outcomes: list[bool] = []
    fast = execution._apply_transfer

    def counting(*args: Any) -> Any:
        outcome = fast(*args)
        outcomes.append(outcome is not None)
        return outcome

    monkeypatch.setattr(execution, "_apply_transfer", counting)
    items = [
        BatchItem(ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, _signed(0, 0, SENDERS[1], ETH, b"", CHAIN_ID)),
        BatchItem(
            ITEM_TRANSACTION,
            1,
            1_000,
            MIN_BASE_FEE,
            _signed(1, 0, TOKEN, 0, _token_call(SENDERS[2], 7), CHAIN_ID),
        ),
        BatchItem(ITEM_TRANSACTION, 2, 1_001, MIN_BASE_FEE, _signed(2, 3, SENDERS[1], 1, b"", CHAIN_ID)),
    ]
    store, pre = _pre_state()
    roots = item_roots(store, pre, items, RULES.apply)
    assert outcomes == [True, True, False]
    assert roots[1] != roots[0] and roots[2] != roots[1] and roots[3] == roots[2]  # wrong nonce: skipped
    assert roots == item_roots(store, pre, items, _general_rules_only)
    after = SparseMerkleTree(store, roots[-1])
    assert after.get(token_balance_key(TOKEN, SENDERS[2])) == TOKEN_BALANCE + 7


def test_a_mirror_of_another_root_is_neither_read_nor_moved() -> None:
    """Negative: the mirror must only ever serve the state of its own root. One at the pre-batch root
    is really read (a tampered leaf in it changes the result: the reads skip the tree), one at any
    other root is ignored and left as it was."""
    items = [BatchItem(ITEM_TRANSACTION, 1, 1_000, MIN_BASE_FEE, _signed(0, 0, SENDERS[1], 1, b"", CHAIN_ID))]
    store, pre = _pre_state()
    honest = post_root(store, pre, items, RULES.apply)
    richer = {**STATE, account_key(SENDERS[1]): pack_account(0, 11 * ETH)}
    assert post_root(store, pre, items, RULES.apply, mirror=LeafMirror(pre, richer.items())) != honest
    elsewhere = LeafMirror(pre + 1, richer.items())
    assert post_root(store, pre, items, RULES.apply, mirror=elsewhere) == honest
    assert elsewhere.root == pre + 1 and dict(elsewhere.leaves) == richer


def test_replay_reads_through_its_mirror_and_never_for_a_root_it_does_not_hold() -> None:
    """The replay's mirror follows its posts batch after batch; after a reset to another rule the
    recomputation from the base walks the tree (a mirror still at the last honest post would give
    wrong roots), a game on an earlier batch does not disturb it, and once the recomputed posts reach
    its root again it serves the batches after it."""
    batches = _eth_batches(8, 3)
    eager = _ListReplay(batches)
    expected = [eager.roots(i)[-1] for i in range(8)]
    replay = _ListReplay(batches)
    assert replay.output_root(4) == expected[4] and replay.mirror.root == expected[4]
    assert replay.mirror.leaves == _leaves(replay.store, expected[4])
    mode = FaultyMode("inflate-balance", RULES)
    replay.reset(mode.executor())
    faulty = [_ListReplay(batches, mode.executor()).output_root(i) for i in range(6)]
    assert [replay.output_root(i) for i in range(6)] == faulty
    assert replay.mirror.root == expected[4]  # held, not moved onto the faulty chain
    mode.active = False
    replay.reset()
    assert replay.roots(2) == eager.roots(2) and replay.witness(2, 1).encode() == eager.witness(2, 1).encode()
    assert [replay.output_root(i) for i in range(8)] == expected
    assert replay.mirror.root == expected[7] and replay.mirror.leaves == _leaves(replay.store, expected[7])
    replay.forget_finalized(6)
    assert replay.roots(7) == eager.roots(7)
