"""Paid subscriptions, revenue distribution and redemption through the STF, with every rejection.

Balances are checked to the wei: what holders receive, what the issuer receives, and what the asset
registry's account keeps (pools and unclaimed revenue only).
"""

from __future__ import annotations

import pytest
from eth_abi import decode

from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, OP_GAS
from jovay.stf import assets, cashflow
from jovay.stf.accounts import get_balance
from jovay.stf.system import NOT_PAYABLE
from jovay.stf.token import TRANSFER_TOPIC
from jovay.stf.transaction import TxOutcome
from tests.helpers import calldata
from tests.stf.test_assets import (
    ADMIN_KEY,
    AGENT,
    AGENT_KEY,
    ALICE,
    ALICE_KEY,
    BOB,
    BOB_KEY,
    CAROL,
    CAROL_KEY,
    CLAIM_REDEMPTION,
    CLOSE,
    END,
    ISSUANCE_VIEW,
    ISSUER,
    ISSUER_KEY,
    MATURITY,
    MAX_SUB,
    MIN_SUB,
    REDEEM,
    START_TRADING,
    SUBSCRIBE,
    TOKEN,
    TRANSFER,
    Runner,
    approve,
    open_call,
    register,
    structure,
    tokenize,
)

PRICE = 10**9  # wei per unit
DEPOSIT = "depositRevenue(uint256)"
CLAIM_REVENUE = "claimRevenue(uint256,address)"
REVENUE_OF = "revenueOf(uint256,address)"


def paid_issuance(price: int = PRICE) -> Runner:
    """An asset Issuing at `price` wei per unit, ALICE and BOB allowlisted."""
    r = Runner()
    register(r)
    structure(r)
    tokenize(r)
    approve(r)
    r.ok(ISSUER_KEY, open_call(1, r.env.timestamp, END, MIN_SUB, MAX_SUB, price))
    return r


def trading(alice: int = 3_000, bob: int = 1_000) -> Runner:
    """Trading, ALICE and BOB holding what they paid for."""
    r = paid_issuance()
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, alice), value=alice * PRICE)
    r.ok(BOB_KEY, calldata(SUBSCRIBE, 1, bob), value=bob * PRICE)
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    return r


def eth(r: Runner, address: bytes) -> int:
    return get_balance(r.state, address)


def fee(outcome: TxOutcome) -> int:
    return outcome.gas_used * outcome.effective_gas_price


def pending(r: Runner, holder: bytes) -> int:
    return decode(["uint256"], r.view(REVENUE_OF, 1, holder))[0]


def claim_revenue(r: Runner, holder: bytes) -> int:
    """CAROL relays the claim; returns what the holder received."""
    before = eth(r, holder)
    outcome = r.ok(CAROL_KEY, calldata(CLAIM_REVENUE, 1, holder))
    received = eth(r, holder) - before + (fee(outcome) if holder == CAROL else 0)
    assert decode(["uint256"], outcome.return_data) == (received,)
    return received


# --- subscription payment ---------------------------------------------------------------------------
def test_subscription_payment_goes_to_the_issuer() -> None:
    r = paid_issuance()
    assert decode(ISSUANCE_VIEW, r.view("issuance(uint256)", 1))[5] == PRICE
    issuer_before, alice_before = eth(r, ISSUER), eth(r, ALICE)
    outcome = r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 2_000), value=2_000 * PRICE)
    assert eth(r, ISSUER) - issuer_before == 2_000 * PRICE
    assert alice_before - eth(r, ALICE) == 2_000 * PRICE + fee(outcome)
    assert eth(r, ASSET_REGISTRY) == 0  # the registry passes it on
    assert r.balance(ALICE) == 2_000
    subscribed = outcome.logs[-1]
    assert subscribed.topics[0] == assets.SUBSCRIBED
    assert decode(["uint256", "uint256"], subscribed.data) == (2_000, 2_000 * PRICE)


@pytest.mark.parametrize("value", [0, 2_000 * PRICE - 1, 2_000 * PRICE + 1])
def test_subscription_with_the_wrong_payment_fails(value: int) -> None:
    r = paid_issuance()
    reason = f"AssetRegistry: wrong payment: sent {value} wei, price is {2_000 * PRICE} wei"
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, 2_000), reason, value=value)
    assert (r.balance(ALICE), eth(r, ASSET_REGISTRY)) == (0, 0)


def test_free_units_take_no_payment() -> None:
    r = paid_issuance(price=0)
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, MIN_SUB))
    r.fails(
        ALICE_KEY,
        calldata(SUBSCRIBE, 1, MIN_SUB),
        "AssetRegistry: wrong payment: sent 1 wei, price is 0 wei",
        value=1,
    )


def test_other_asset_registry_functions_refuse_eth() -> None:
    r = trading()
    r.fails(ISSUER_KEY, calldata("setAgent(uint256,address,bool)", 1, AGENT, True), NOT_PAYABLE, value=1)
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), NOT_PAYABLE, TOKEN, value=1)
    r.fails(ALICE_KEY, calldata(CLAIM_REVENUE, 1, ALICE), NOT_PAYABLE, value=1)


# --- revenue distribution ---------------------------------------------------------------------------
def test_revenue_is_shared_pro_rata_to_balances_at_each_deposit() -> None:
    r = trading(alice=3_000, bob=1_000)
    outcome = r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=4 * 10**15)
    assert decode(["uint256"], outcome.return_data) == (1,)
    (log,) = outcome.logs
    assert log.topics == [cashflow.REVENUE_DEPOSITED, (1).to_bytes(32, "big"), (1).to_bytes(32, "big")]
    assert eth(r, ASSET_REGISTRY) == 4 * 10**15
    assert (pending(r, ALICE), pending(r, BOB)) == (3 * 10**15, 10**15)
    # ALICE sells 2000 to CAROL after period 1: period 2 is shared 1000 / 1000 / 2000
    r.ok(ADMIN_KEY, calldata("setAllowed(address,bool)", CAROL, True), IDENTITY_REGISTRY)
    r.ok(ALICE_KEY, calldata(TRANSFER, CAROL, 2_000), TOKEN)
    assert (pending(r, ALICE), pending(r, CAROL)) == (3 * 10**15, 0)
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=8 * 10**15)
    assert (pending(r, ALICE), pending(r, BOB), pending(r, CAROL)) == (5 * 10**15, 3 * 10**15, 4 * 10**15)
    assert claim_revenue(r, ALICE) == 5 * 10**15
    assert claim_revenue(r, BOB) == 3 * 10**15
    assert claim_revenue(r, CAROL) == 4 * 10**15
    assert eth(r, ASSET_REGISTRY) == 0
    periods, total, _, pool = decode(["uint256"] * 4, r.view("cashFlows(uint256)", 1))
    assert (periods, total, pool) == (2, 12 * 10**15, 0)


def test_a_second_claim_pays_nothing_more() -> None:
    r = trading()
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=10**15)
    claim_revenue(r, ALICE)
    r.fails(CAROL_KEY, calldata(CLAIM_REVENUE, 1, ALICE), cashflow.NOTHING_TO_CLAIM)
    r.fails(CAROL_KEY, calldata(CLAIM_REVENUE, 1, CAROL), cashflow.NOTHING_TO_CLAIM)  # never held any


def test_rounding_dust_stays_in_the_registry_and_never_exceeds_the_deposit() -> None:
    r = trading(alice=MIN_SUB + 1, bob=MIN_SUB + 2)  # 203 units: 1000 wei does not divide evenly
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=1_000)
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=1_000)
    alice, bob = claim_revenue(r, ALICE), claim_revenue(r, BOB)
    exact_alice, exact_bob = 2_000 * 101 / 203, 2_000 * 102 / 203
    assert exact_alice - 1 < alice <= exact_alice and exact_bob - 1 < bob <= exact_bob
    assert eth(r, ASSET_REGISTRY) == 2_000 - alice - bob <= 1


def test_revenue_deposit_rejections() -> None:
    r = paid_issuance()
    r.fails(
        ISSUER_KEY, calldata(DEPOSIT, 1), "AssetRegistry: wrong stage: is Issuing, needs Trading", value=1
    )
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.fails(ISSUER_KEY, calldata(DEPOSIT, 1), cashflow.NO_UNITS, value=1)  # nobody subscribed
    r2 = trading()
    r2.fails(ALICE_KEY, calldata(DEPOSIT, 1), assets.NOT_ISSUER, value=1)
    r2.fails(ISSUER_KEY, calldata(DEPOSIT, 1), cashflow.NO_REVENUE_SENT)
    r2.fails(ISSUER_KEY, calldata(DEPOSIT, 2), assets.NO_SUCH_ASSET, value=1)


def test_a_frozen_holder_cannot_claim_until_unfrozen() -> None:
    r = trading()
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=10**15)
    r.ok(ISSUER_KEY, calldata("freeze(uint256,address,bool)", 1, ALICE, True))
    r.fails(CAROL_KEY, calldata(CLAIM_REVENUE, 1, ALICE), cashflow.HOLDER_FROZEN)
    r.ok(ISSUER_KEY, calldata("freeze(uint256,address,bool)", 1, ALICE, False))
    assert claim_revenue(r, ALICE) == 75 * 10**13


def test_forced_transfers_settle_revenue_on_both_sides() -> None:
    r = trading(alice=3_000, bob=1_000)
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=4_000)
    r.ok(ISSUER_KEY, calldata("forcedTransfer(uint256,address,address,uint128)", 1, ALICE, BOB, 3_000))
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=4_000)
    assert (pending(r, ALICE), pending(r, BOB)) == (3_000, 1_000 + 4_000)


# --- redemption -------------------------------------------------------------------------------------
def test_redemption_burns_units_and_pays_pro_rata_then_close() -> None:
    r = trading(alice=3_000, bob=1_000)
    r.at(MATURITY)
    pool = 10**16 + 1  # one wei of rounding
    outcome = r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=pool)
    assert outcome.logs[0].topics == [cashflow.REDEMPTION_FUNDED, (1).to_bytes(32, "big")]
    assert r.stage() == assets.Stage.REDEEMED
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.NOT_TRADING, TOKEN)
    alice_before = eth(r, ALICE)
    outcome = r.ok(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, ALICE))
    assert eth(r, ALICE) - alice_before == pool * 3 // 4 == decode(["uint256"], outcome.return_data)[0]
    burn = outcome.logs[0]
    assert (burn.address, burn.topics) == (TOKEN, [TRANSFER_TOPIC, bytes(12) + ALICE, bytes(32)])
    assert r.balance(ALICE) == 0 and decode(["uint256"], r.view("totalSupply()", to=TOKEN)) == (1_000,)
    r.fails(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, ALICE), cashflow.NOTHING_TO_REDEEM)
    r.fails(ISSUER_KEY, calldata(CLOSE, 1), "AssetRegistry: units outstanding: 1000")
    bob_before = eth(r, BOB)
    r.ok(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, BOB))
    assert eth(r, BOB) - bob_before == pool - pool * 3 // 4  # the last claim takes the rounding
    assert eth(r, ASSET_REGISTRY) == 0
    assert r.rules()[4] == 0  # no holders left
    r.ok(ISSUER_KEY, calldata(CLOSE, 1))
    assert r.stage() == assets.Stage.CLOSED


def test_redeem_waits_for_maturity_and_needs_a_pool() -> None:
    r = trading()
    r.at(MATURITY - 1)
    reason = f"AssetRegistry: not mature: maturity {MATURITY}, now {MATURITY - 1}"
    r.fails(ISSUER_KEY, calldata(REDEEM, 1), reason, value=1)
    r.at(MATURITY)
    r.fails(ISSUER_KEY, calldata(REDEEM, 1), cashflow.EMPTY_POOL)
    r.fails(ALICE_KEY, calldata(REDEEM, 1), assets.NOT_ISSUER, value=1)
    r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=1)


def test_claim_redemption_rejections() -> None:
    r = trading()
    r.fails(
        CAROL_KEY,
        calldata(CLAIM_REDEMPTION, 1, ALICE),
        "AssetRegistry: wrong stage: is Trading, needs Redeemed",
    )
    r.ok(ISSUER_KEY, calldata("freezePartialTokens(uint256,address,uint128)", 1, BOB, 1))
    r.ok(ISSUER_KEY, calldata("freeze(uint256,address,bool)", 1, ALICE, True))
    r.at(MATURITY)
    r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=10**15)
    r.fails(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, ALICE), cashflow.HOLDER_FROZEN)
    r.fails(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, BOB), cashflow.HAS_FROZEN_TOKENS)
    r.fails(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, CAROL), cashflow.NOTHING_TO_REDEEM)
    r.fails(CAROL_KEY, calldata(CLAIM_REDEMPTION, 9, ALICE), assets.NO_SUCH_ASSET)


def test_revenue_owed_before_redemption_stays_claimable_after_the_burn() -> None:
    r = trading(alice=3_000, bob=1_000)
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=4_000)
    r.at(MATURITY)
    r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=4_000)
    r.ok(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, ALICE))
    r.ok(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, BOB))
    r.ok(ISSUER_KEY, calldata(CLOSE, 1))
    assert (claim_revenue(r, ALICE), claim_revenue(r, BOB)) == (3_000, 1_000)


def test_close_returns_an_unclaimed_pool_when_no_units_were_issued() -> None:
    r = paid_issuance()
    r.at(MATURITY)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=500)
    before = eth(r, ISSUER)
    outcome = r.ok(ISSUER_KEY, calldata(CLOSE, 1))
    assert eth(r, ISSUER) - before == 500 - fee(outcome)
    assert eth(r, ASSET_REGISTRY) == 0


def test_cash_flow_operations_pay_their_gas() -> None:
    r = trading()
    for key, data, op, value in (
        (ISSUER_KEY, calldata(DEPOSIT, 1), "assets.depositRevenue", 10**15),
        (CAROL_KEY, calldata(CLAIM_REVENUE, 1, ALICE), "assets.claimRevenue", 0),
    ):
        outcome = r.ok(key, data, value=value)
        assert outcome.gas_used == 21_000 + sum(4 if b == 0 else 16 for b in data) + OP_GAS[op]


def test_unused_agent_is_not_needed_for_claims() -> None:
    """Claims are relayed by anyone (AGENT here, no role needed) and pay the holder, not the caller."""
    r = trading()
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=10**15)
    before = eth(r, AGENT)
    outcome = r.ok(AGENT_KEY, calldata(CLAIM_REVENUE, 1, BOB))
    assert before - eth(r, AGENT) == fee(outcome)
