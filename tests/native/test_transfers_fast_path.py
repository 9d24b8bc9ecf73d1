"""The transfer fast path (jovay/stf/transfers.py and its native twin jovay/_native/_transfers.pyx) against
the general rules (`process_transaction_general`): over random sequences of ETH transfers, token
transfers and calls it must leave to the general path (invalid nonces, short funds, overflowing
balances, reverting transfers, lifecycle tokens, system calls, access lists), every transaction gets
the same outcome or the same error, and the state the same writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay._native import transfers_impl
from jovay.codec import abi
from jovay.codec.transactions import AccessListTx, DynamicFeeTx, LegacyTx, SignedTx
from jovay.errors import InvalidTransaction
from jovay.params import (
    IDENTITY_REGISTRY,
    MAX_NONCE,
    MAX_UINT128,
    MIN_BASE_FEE,
    TOKEN_ADDRESS_PREFIX,
    ZERO_ADDRESS,
)
from jovay.state.keys import account_key, allowlist_key, pack_account, system_field_key, token_balance_key
from jovay.state.overlay import StateOverlay
from jovay.stf import transfers
from jovay.stf.accounts import get_nonce
from jovay.stf.assets import token_asset_key
from jovay.stf.registry import TOKEN_COUNT_FIELD
from jovay.stf.transaction import BlockEnv, TxOutcome, process_transaction_general

CHAIN_ID = 202611
COINBASE = bytes.fromhex("4a6f7661790000000000000000000000000000fe")
USERS = [bytes([0x10 + i]) * 20 for i in range(5)]
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
ASSET_TOKEN = TOKEN_ADDRESS_PREFIX + (2).to_bytes(14, "big")  # governed by an asset lifecycle
UNKNOWN_TOKEN = TOKEN_ADDRESS_PREFIX + (9).to_bytes(14, "big")
TOKEN_ZERO = TOKEN_ADDRESS_PREFIX + bytes(14)  # in the token range, but token numbers start at 1
RECIPIENTS = [*USERS, COINBASE, ZERO_ADDRESS, IDENTITY_REGISTRY, TOKEN, bytes([0x77]) * 20]
ENV = BlockEnv(7, 1_700_000_000, MIN_BASE_FEE, 30_000_000, CHAIN_ID, COINBASE)
# Rich, rich, almost full (a credit overflows), short of gas, empty.
BALANCES = [10**21, 10**20, MAX_UINT128 - 10**15, 21_000 * MIN_BASE_FEE + 3, 0]
NONCES = [0, 5, 1, MAX_NONCE - 1, 0]


def genesis_state() -> dict[int, int]:
    """Accounts, two tokens (the second one under an asset), allowlisted holders with balances."""
    leaves = {account_key(u): pack_account(n, b) for u, n, b in zip(USERS, NONCES, BALANCES, strict=True)}
    leaves[account_key(COINBASE)] = pack_account(0, MAX_UINT128 - 10**14)  # tips may overflow it
    leaves[system_field_key(TOKEN_COUNT_FIELD)] = 2
    leaves[token_asset_key(ASSET_TOKEN)] = 1
    for user in USERS[:3]:
        leaves[allowlist_key(user)] = 1
        leaves[token_balance_key(TOKEN, user)] = 1_000
        leaves[token_balance_key(ASSET_TOKEN, user)] = 1_000
    return leaves


def transfer_data(to: bytes, amount: int) -> bytes:
    return abi.selector("transfer(address,uint256)") + bytes(12) + to + amount.to_bytes(32, "big")


Build = Callable[[int], SignedTx]  # the sender's current nonce -> the transaction


@st.composite
def transactions(draw: Any) -> Build:
    """Mostly plain transfers that should succeed (nonces follow the state), with every way to fail."""
    sender = draw(st.sampled_from(USERS))
    kinds = ["eth", "eth", "token", "token", "legacy", "access_list", "token_odd", "call"]
    kind = draw(st.sampled_from(kinds))
    to = draw(st.sampled_from([*USERS[:3], *USERS[:3], *RECIPIENTS]))
    shift = draw(st.sampled_from([0, 0, 0, 0, 0, 1, -1]))
    value = draw(st.sampled_from([0, 1, 1, 10**18, 10**30, MAX_UINT128]))
    gas = draw(st.sampled_from([21_000, 80_000, 80_000, 20_999, 60_000, 40_000_000]))
    max_fee = draw(st.sampled_from([2 * MIN_BASE_FEE, 2 * MIN_BASE_FEE, MIN_BASE_FEE, MIN_BASE_FEE - 1]))
    tip = draw(st.sampled_from([3, 3, 0, 2 * MIN_BASE_FEE + 1]))
    data = b""
    if kind in ("token", "token_odd"):
        token = draw(st.sampled_from([TOKEN, TOKEN, TOKEN, ASSET_TOKEN, UNKNOWN_TOKEN, TOKEN_ZERO]))
        amount = draw(st.sampled_from([1, 1, 0, 999, 1_001, MAX_UINT128 + 1]))
        data = transfer_data(to, amount)
        if kind == "token_odd":  # dirty address bytes, extra bytes, another selector
            data = draw(st.sampled_from([b"\x01" + data[1:], data + b"\x00", data[:5] + b"\x01" + data[6:]]))
        to, value = token, draw(st.sampled_from([0, 0, 0, 1]))
    elif kind == "call":
        data = draw(st.sampled_from([b"\x01\x02\x03\x04", abi.selector("isAllowed(address)") + bytes(32)]))

    def build(nonce: int) -> SignedTx:
        nonce = max(nonce + shift, 0)
        if kind == "legacy":
            tx: Any = LegacyTx(nonce, max_fee, gas, to, value, data, CHAIN_ID)
        elif kind == "access_list":
            tx = AccessListTx(CHAIN_ID, nonce, max_fee, gas, to, value, data, ((to, ()),))
        else:
            tx = DynamicFeeTx(CHAIN_ID, nonce, tip, max_fee, gas, to, value, data)
        return SignedTx(tx, sender, bytes(32), b"")

    return build


def run(apply: Callable[..., TxOutcome], txs: list[Build]) -> tuple[list[object], dict[int, int]]:
    """Each transaction's outcome (or error) as the block builder applies them, and the final writes."""
    leaves = genesis_state()
    state = StateOverlay(lambda key: leaves.get(key, 0))
    results: list[object] = []
    for build in txs:
        signed = build(0)
        signed = build(get_nonce(state, signed.sender))
        snapshot = state.snapshot()
        try:
            outcome = apply(state, ENV, signed, ENV.gas_limit)
        except (InvalidTransaction, ArithmeticError, ValueError) as exc:
            state.revert(snapshot)
            results.append((type(exc).__name__, str(exc)))
        else:
            logs = [(log.address, list(log.topics), log.data) for log in outcome.logs]
            price = outcome.effective_gas_price
            results.append((outcome.status, outcome.gas_used, price, logs, outcome.return_data))
    return results, dict(state.writes())


def fast_then_general(impl: Any) -> Callable[..., TxOutcome]:
    def apply(state: StateOverlay, env: BlockEnv, signed: SignedTx, gas_left: int) -> TxOutcome:
        outcome = impl.apply_transfer(state, env, signed, gas_left)
        return outcome if outcome is not None else process_transaction_general(state, env, signed, gas_left)

    return apply


IMPLEMENTATIONS = [pytest.param(transfers, id="pure")]
if transfers_impl() is not None:
    IMPLEMENTATIONS.append(pytest.param(transfers_impl(), id="native"))


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@settings(max_examples=150, deadline=None)
@given(txs=st.lists(transactions(), min_size=1, max_size=12))
def test_fast_path_matches_the_general_rules(impl: Any, txs: list[Build]) -> None:
    assert run(fast_then_general(impl), txs) == run(process_transaction_general, txs)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
def test_fast_path_takes_plain_transfers_and_leaves_the_rest(impl: Any) -> None:
    """It must actually serve the common case (else the figures lie), and touch nothing where it declines."""
    leaves = genesis_state()
    state = StateOverlay(lambda key: leaves.get(key, 0))
    eth_tx = DynamicFeeTx(CHAIN_ID, 0, 3, 2 * MIN_BASE_FEE, 21_000, USERS[1], 5, b"")
    eth = SignedTx(eth_tx, USERS[0], b"", b"")
    token = SignedTx(
        DynamicFeeTx(CHAIN_ID, 1, 3, 2 * MIN_BASE_FEE, 80_000, TOKEN, 0, transfer_data(USERS[2], 7)),
        USERS[0],
        b"",
        b"",
    )
    assert impl.apply_transfer(state, ENV, eth, ENV.gas_limit) is not None
    outcome = impl.apply_transfer(state, ENV, token, ENV.gas_limit)
    assert outcome is not None and outcome.status == 1 and len(outcome.logs) == 1
    assert state.get(token_balance_key(TOKEN, USERS[2])) == 1_007
    before = dict(state.writes())
    to_non_holder = SignedTx(
        DynamicFeeTx(CHAIN_ID, 2, 3, 2 * MIN_BASE_FEE, 80_000, TOKEN, 0, transfer_data(USERS[4], 7)),
        USERS[0],
        b"",
        b"",
    )
    replayed = eth  # nonce 0 again
    for declined in (to_non_holder, replayed):
        assert impl.apply_transfer(state, ENV, declined, ENV.gas_limit) is None
        assert dict(state.writes()) == before


def admission_outcome(check: Callable[..., int], state: StateOverlay, signed: SignedTx) -> object:
    try:
        return check(state, ENV, signed)
    except (InvalidTransaction, ValueError) as exc:
        return type(exc).__name__, str(exc)


@pytest.mark.skipif(transfers_impl() is None, reason="jovay._native._transfers is not built or JOVAY_PURE=1")
@settings(max_examples=300, deadline=None)
@given(builds=st.lists(transactions(), min_size=1, max_size=8))
def test_native_admission_checks_equal_the_pure_ones(builds: list[Build]) -> None:
    """Admission's checks (static rules, funds; the account nonce as the answer) in C for plain
    transfers give what the pure function gives, error messages included, for every shape."""
    from jovay.stf.transaction import pure_check_admission

    native = transfers_impl()
    assert native is not None
    leaves = genesis_state()
    leaves[account_key(USERS[4])] = 1 << 200  # not an account value: both must raise the same error
    state = StateOverlay(lambda key: leaves.get(key, 0))
    for build in builds:
        signed = build(get_nonce(state, build(0).sender) if build(0).sender != USERS[4] else 0)
        expected = admission_outcome(pure_check_admission, state, signed)
        assert admission_outcome(native.check_admission, state, signed) == expected
    assert state.writes() == {}  # admission reads only
