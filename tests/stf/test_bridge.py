"""L2 withdrawals through the STF: the ETH is burnt and one leaf records the message, or nothing happens."""

from __future__ import annotations

import pytest
from eth_abi import decode

from jovay.params import L2_BRIDGE, MAX_UINT128
from jovay.state.keys import withdrawal_key, withdrawal_value
from jovay.stf import bridge
from jovay.stf.accounts import get_balance
from jovay.stf.system import NOT_PAYABLE
from tests.helpers import ETH, calldata
from tests.stf.test_assets import ALICE, ALICE_KEY, BOB, Runner

WITHDRAW = "withdraw(address)"
L1_RECIPIENT = bytes.fromhex("11" * 20)


def _index(r: Runner) -> int:
    return decode(["uint256"], r.view("withdrawalCount()", to=L2_BRIDGE))[0]


def test_withdraw_burns_eth_and_records_the_message() -> None:
    r = Runner()
    alice_before = get_balance(r.state, ALICE)
    outcome = r.ok(ALICE_KEY, calldata(WITHDRAW, L1_RECIPIENT), to=L2_BRIDGE, value=ETH)
    second = r.ok(ALICE_KEY, calldata(WITHDRAW, BOB), to=L2_BRIDGE, value=2 * ETH)
    fees = (outcome.gas_used + second.gas_used) * outcome.effective_gas_price
    assert get_balance(r.state, ALICE) == alice_before - 3 * ETH - fees
    assert get_balance(r.state, L2_BRIDGE) == 0  # burnt, not held
    assert decode(["uint256"], outcome.return_data) == (0,)
    assert decode(["uint256"], second.return_data) == (1,)
    assert r.state.get(withdrawal_key(0)) == withdrawal_value(ALICE, L1_RECIPIENT, ETH)
    assert r.state.get(withdrawal_key(1)) == withdrawal_value(ALICE, BOB, 2 * ETH)
    assert _index(r) == 2
    stored = decode(["uint256"], r.view("withdrawalHash(uint256)", 1, to=L2_BRIDGE))[0]
    assert stored == withdrawal_value(ALICE, BOB, 2 * ETH)
    (log,) = outcome.logs
    assert log.address == L2_BRIDGE and log.topics[0] == bridge.WITHDRAWAL_INITIATED
    assert log.topics[1:] == [(0).to_bytes(32, "big"), ALICE.rjust(32, b"\0"), L1_RECIPIENT.rjust(32, b"\0")]
    assert int.from_bytes(log.data, "big") == ETH


@pytest.mark.parametrize(
    ("recipient", "value", "reason"),
    [
        (L1_RECIPIENT, 0, bridge.ZERO_WITHDRAWAL),
        (b"\0" * 20, ETH, bridge.ZERO_RECIPIENT),
    ],
)
def test_bad_withdrawals_revert_and_record_nothing(recipient: bytes, value: int, reason: str) -> None:
    r = Runner()
    r.fails(ALICE_KEY, calldata(WITHDRAW, recipient), reason, to=L2_BRIDGE, value=value)
    assert _index(r) == 0 and r.state.get(withdrawal_key(0)) == 0


def test_views_are_not_payable_and_unknown_selectors_revert() -> None:
    r = Runner()
    r.fails(ALICE_KEY, calldata("withdrawalCount()"), NOT_PAYABLE, to=L2_BRIDGE, value=1)
    r.fails(ALICE_KEY, calldata("nothing()"), None, to=L2_BRIDGE)


def test_plain_eth_to_the_bridge_without_calldata_is_refused() -> None:
    r = Runner()
    r.fails(ALICE_KEY, b"", NOT_PAYABLE, to=L2_BRIDGE, value=ETH)
    assert get_balance(r.state, L2_BRIDGE) == 0


def test_withdrawal_value_rejects_amounts_outside_uint128() -> None:
    with pytest.raises(ValueError):
        withdrawal_value(ALICE, BOB, 0)
    with pytest.raises(ValueError):
        withdrawal_value(ALICE, BOB, MAX_UINT128 + 1)
    assert withdrawal_value(ALICE, BOB, 1) != withdrawal_value(BOB, ALICE, 1)
    assert withdrawal_key(0) != withdrawal_key(1)
