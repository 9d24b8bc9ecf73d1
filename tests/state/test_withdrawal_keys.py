"""Withdrawal leaves (docs/architecture.md, "Withdrawals"): key P(33, index), value P(sender, l1Recipient,
amount); the L1 bridge recomputes both, so they are fixed formulas."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jovay.crypto.poseidon import poseidon
from jovay.params import MAX_UINT128
from jovay.state.keys import (
    DOMAIN_WITHDRAWAL,
    SYSTEM_FIELD_COUNT,
    system_field_key,
    withdrawal_key,
    withdrawal_value,
)

ALICE = bytes.fromhex("ab" * 20)
BOB = bytes.fromhex("0c" * 20)
addresses = st.binary(min_size=20, max_size=20)


@given(st.integers(0, 2**64 - 1))
def test_withdrawal_key_formula(index: int) -> None:
    assert DOMAIN_WITHDRAWAL == 33
    assert withdrawal_key(index) == poseidon([33, index])


@given(addresses, addresses, st.integers(1, MAX_UINT128))
def test_withdrawal_value_formula(sender: bytes, recipient: bytes, amount: int) -> None:
    value = withdrawal_value(sender, recipient, amount)
    assert value == poseidon([int.from_bytes(sender, "big"), int.from_bytes(recipient, "big"), amount])


def test_withdrawal_value_binds_every_part() -> None:
    values = {
        withdrawal_value(ALICE, BOB, 5),
        withdrawal_value(BOB, ALICE, 5),
        withdrawal_value(ALICE, ALICE, 5),
        withdrawal_value(ALICE, BOB, 6),
    }
    assert len(values) == 4


def test_next_withdrawal_index_is_system_field_3() -> None:
    assert SYSTEM_FIELD_COUNT == 4
    assert system_field_key(3) == poseidon([6, 3])


@pytest.mark.parametrize("index", [-1, 2**64])
def test_bad_withdrawal_index_rejected(index: object) -> None:
    with pytest.raises(ValueError, match="withdrawal index"):
        withdrawal_key(index)  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [0, -1, MAX_UINT128 + 1])
def test_bad_withdrawal_amount_rejected(amount: int) -> None:
    with pytest.raises(ValueError, match="withdrawal amount"):
        withdrawal_value(ALICE, BOB, amount)


def test_bad_withdrawal_address_rejected() -> None:
    with pytest.raises(ValueError):
        withdrawal_value(bytes(19), BOB, 1)
