"""Partial freezes, wallet recovery (identity and tokens) and the regulator role, with every rejection."""

from __future__ import annotations

from eth_abi import decode

from jovay.params import IDENTITY_REGISTRY
from jovay.stf import assets, identity
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
    ISSUER_KEY,
    TOKEN,
    TRADING,
    TRANSFER,
    Runner,
    at_step,
)
from tests.stf.test_cashflow import DEPOSIT, claim_revenue, pending, trading

FREEZE_PART = "freezePartialTokens(uint256,address,uint128)"
UNFREEZE_PART = "unfreezePartialTokens(uint256,address,uint128)"
RECOVER = "recoveryAddress(uint256,address,address)"
RECOVER_IDENTITY = "recoverIdentity(address,address)"
SET_REGULATOR = "setRegulator(address,bool)"
CLAIMS = "setClaims(address,uint16,uint8,uint64)"


def frozen_tokens(r: Runner, holder: bytes) -> int:
    return decode(["uint256"], r.view("frozenTokens(uint256,address)", 1, holder))[0]


def identity_view(r: Runner, signature: str, *args: object) -> bytes:
    return r.view(signature, *args, to=IDENTITY_REGISTRY)


# --- partial freeze ---------------------------------------------------------------------------------
def test_partial_freeze_leaves_only_the_unfrozen_part_transferable() -> None:
    r = at_step(TRADING)  # ALICE 1000, BOB 500
    outcome = r.ok(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 700))
    (log,) = outcome.logs
    assert log.topics == [assets.TOKENS_FROZEN, (1).to_bytes(32, "big"), bytes(12) + ALICE]
    assert frozen_tokens(r, ALICE) == 700
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 301), assets.EXCEEDS_UNFROZEN, TOKEN)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 300), TOKEN)
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.EXCEEDS_UNFROZEN, TOKEN)
    r.ok(BOB_KEY, calldata(TRANSFER, ALICE, 10), TOKEN)  # receiving is not restricted
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 10), TOKEN)
    outcome = r.ok(ISSUER_KEY, calldata(UNFREEZE_PART, 1, ALICE, 200))
    assert outcome.logs[0].topics[0] == assets.TOKENS_UNFROZEN
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 200), TOKEN)
    assert (r.balance(ALICE), frozen_tokens(r, ALICE)) == (500, 500)


def test_partial_freeze_rejections() -> None:
    r = at_step(TRADING)
    r.fails(ALICE_KEY, calldata(FREEZE_PART, 1, BOB, 1), assets.NOT_AGENT)
    r.fails(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 1_001), assets.FREEZE_EXCEEDS_BALANCE)
    r.fails(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 0), assets.ZERO_AMOUNT)
    r.ok(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 600))
    r.fails(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 401), assets.FREEZE_EXCEEDS_BALANCE)
    r.fails(ISSUER_KEY, calldata(UNFREEZE_PART, 1, ALICE, 601), assets.UNFREEZE_EXCEEDS_FROZEN)
    r.fails(AGENT_KEY, calldata(UNFREEZE_PART, 1, ALICE, 1), assets.NOT_AGENT)
    r.ok(ISSUER_KEY, calldata("setAgent(uint256,address,bool)", 1, AGENT, True))
    r.ok(AGENT_KEY, calldata(UNFREEZE_PART, 1, ALICE, 600))
    fresh = Runner()
    fresh.ok(
        ISSUER_KEY, calldata("registerAsset(address,uint8,bytes32,bytes32)", BOB, 1, bytes(32), bytes(32))
    )
    fresh.fails(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 1), assets.NOT_TOKENIZED)


def test_forced_transfer_unfreezes_what_it_takes_beyond_the_free_balance() -> None:
    r = at_step(TRADING)
    r.ok(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 800))
    outcome = r.ok(
        ISSUER_KEY, calldata("forcedTransfer(uint256,address,address,uint128)", 1, ALICE, BOB, 500)
    )
    unfrozen = outcome.logs[0]
    assert unfrozen.topics[0] == assets.TOKENS_UNFROZEN
    assert decode(["uint256", "address"], unfrozen.data)[0] == 300
    assert (r.balance(ALICE), frozen_tokens(r, ALICE)) == (500, 500)


# --- wallet recovery --------------------------------------------------------------------------------
def recover_identity(r: Runner, lost: bytes, new: bytes) -> None:
    r.ok(ADMIN_KEY, calldata(RECOVER_IDENTITY, lost, new), IDENTITY_REGISTRY)


def test_recovery_moves_identity_then_balance_frozen_state_and_revenue() -> None:
    r = trading(alice=3_000, bob=1_000)
    r.ok(ADMIN_KEY, calldata(CLAIMS, ALICE, 276, 2, 2**40), IDENTITY_REGISTRY)
    r.ok(ISSUER_KEY, calldata(DEPOSIT, 1), value=4_000)
    r.ok(ISSUER_KEY, calldata(FREEZE_PART, 1, ALICE, 1_000))
    r.ok(ISSUER_KEY, calldata("freeze(uint256,address,bool)", 1, ALICE, True))
    outcome = r.ok(ADMIN_KEY, calldata(RECOVER_IDENTITY, ALICE, CAROL), IDENTITY_REGISTRY)
    assert outcome.logs[0].topics == [identity.IDENTITY_RECOVERED, bytes(12) + ALICE, bytes(12) + CAROL]
    assert decode(["bool"], identity_view(r, "isAllowed(address)", CAROL)) == (True,)
    assert decode(["bool"], identity_view(r, "isAllowed(address)", ALICE)) == (False,)
    assert decode(["uint256"] * 3, identity_view(r, "claims(address)", CAROL)) == (276, 2, 2**40)
    assert decode(["uint256"] * 3, identity_view(r, "claims(address)", ALICE)) == (0, 0, 0)

    outcome = r.ok(ISSUER_KEY, calldata(RECOVER, 1, ALICE, CAROL))
    transfer, recovered = outcome.logs
    assert transfer.address == TOKEN
    assert recovered.topics == [
        assets.RECOVERY_SUCCESS,
        (1).to_bytes(32, "big"),
        bytes(12) + ALICE,
        bytes(12) + CAROL,
    ]
    assert (r.balance(ALICE), r.balance(CAROL)) == (0, 3_000)
    assert (frozen_tokens(r, ALICE), frozen_tokens(r, CAROL)) == (0, 1_000)
    assert decode(["bool"], r.view("isFrozen(uint256,address)", 1, CAROL)) == (True,)
    assert (pending(r, ALICE), pending(r, CAROL)) == (0, 3_000)
    assert r.rules()[4] == 2  # still two holders
    r.ok(ISSUER_KEY, calldata("freeze(uint256,address,bool)", 1, CAROL, False))
    assert claim_revenue(r, CAROL) == 3_000


def test_recovery_rejections() -> None:
    r = trading()
    r.fails(ALICE_KEY, calldata(RECOVER, 1, BOB, ALICE), assets.NOT_AGENT)
    r.fails(ISSUER_KEY, calldata(RECOVER, 1, ALICE, ALICE), assets.SAME_WALLET)
    r.fails(ISSUER_KEY, calldata(RECOVER, 1, CAROL, BOB), assets.NOTHING_TO_RECOVER)
    r.fails(ISSUER_KEY, calldata(RECOVER, 1, ALICE, CAROL), "JovayToken: recipient not on allowlist")
    r.ok(ISSUER_KEY, calldata("setInvestorRequirements(uint256,bool,uint8,uint16)", 1, True, 0, 0))
    recover_identity(r, ALICE, CAROL)  # ALICE had no claims: CAROL's KYC is not valid
    r.fails(ISSUER_KEY, calldata(RECOVER, 1, ALICE, CAROL), assets.KYC_EXPIRED)
    r.fails(ISSUER_KEY, calldata(RECOVER, 9, ALICE, CAROL), assets.NO_SUCH_ASSET)


def test_identity_recovery_is_admin_only_and_never_overwrites_an_identity() -> None:
    r = trading()
    r.fails(ALICE_KEY, calldata(RECOVER_IDENTITY, ALICE, CAROL), identity.NOT_ADMIN, IDENTITY_REGISTRY)
    r.fails(ADMIN_KEY, calldata(RECOVER_IDENTITY, ALICE, ALICE), identity.SAME_WALLET, IDENTITY_REGISTRY)
    r.fails(ADMIN_KEY, calldata(RECOVER_IDENTITY, CAROL, AGENT), identity.NOT_REGISTERED, IDENTITY_REGISTRY)
    r.fails(ADMIN_KEY, calldata(RECOVER_IDENTITY, ALICE, BOB), identity.NEW_WALLET_TAKEN, IDENTITY_REGISTRY)


# --- regulator role ---------------------------------------------------------------------------------
def test_regulators_are_named_by_the_identity_admin_only() -> None:
    r = Runner()
    assert decode(["bool"], identity_view(r, "isRegulator(address)", CAROL)) == (False,)
    r.fails(CAROL_KEY, calldata(SET_REGULATOR, CAROL, True), identity.NOT_ADMIN, IDENTITY_REGISTRY)
    outcome = r.ok(ADMIN_KEY, calldata(SET_REGULATOR, CAROL, True), IDENTITY_REGISTRY)
    assert outcome.logs[0].topics == [identity.REGULATOR_UPDATED, bytes(12) + CAROL]
    assert decode(["bool"], identity_view(r, "isRegulator(address)", CAROL)) == (True,)
    r.ok(ADMIN_KEY, calldata(SET_REGULATOR, CAROL, False), IDENTITY_REGISTRY)
    assert decode(["bool"], identity_view(r, "isRegulator(address)", CAROL)) == (False,)
