"""The asset lifecycle, compliance rules and agent actions through the STF, with every rejection."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_abi import decode, encode

from jovay.codec.abi import decode_error, event_topic, selector
from jovay.params import (
    ASSET_REGISTRY,
    ATTESTATION_REGISTRY,
    FEE_VAULT,
    IDENTITY_REGISTRY,
    MIN_BASE_FEE,
    OP_GAS,
)
from jovay.sdk.attestations import attest_calldata, sign_attestation
from jovay.state.keys import account_key
from jovay.state.overlay import StateOverlay
from jovay.stf import assets
from jovay.stf.attestations import KIND_AUDITOR, KIND_DEVICE
from jovay.stf.block import BlockExecution
from jovay.stf.genesis import Genesis
from jovay.stf.registry import token_address
from jovay.stf.results import Revert
from jovay.stf.system import call_system_contract
from jovay.stf.token import TRANSFER_TOPIC
from jovay.stf.transaction import BlockEnv, TxOutcome
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, calldata, signed_tx

ADMIN, ISSUER, OFFICER, ALICE, BOB, CAROL, AGENT, AUDITOR = ADDRESSES
ADMIN_KEY, ISSUER_KEY, OFFICER_KEY, ALICE_KEY, BOB_KEY, CAROL_KEY, AGENT_KEY, AUDITOR_KEY = KEYS
ORIGINATOR = bytes.fromhex("0a" * 20)
META, DOCS = bytes(range(32)), bytes(range(32, 64))
NOW = 1_700_000_000
START, END = NOW, NOW + 100
MIN_SUB, MAX_SUB, CAP = 100, 10_000, 1_000_000
MATURITY, YIELD_BPS = NOW + 365 * 86_400, 650
TOKEN = token_address(1)
MAX_FEE = 3 * MIN_BASE_FEE

REGISTER = "registerAsset(address,uint8,bytes32,bytes32)"
STRUCTURE = "structureAsset(uint256,uint8,uint64,uint32,uint128)"
TOKENIZE = "tokenizeAsset(uint256,string,string,uint8)"
APPROVE = "approveIssuance(uint256)"
OPEN = "openIssuance(uint256,uint64,uint64,uint128,uint128,uint128)"
SUBSCRIBE = "subscribe(uint256,uint128)"
START_TRADING = "startTrading(uint256)"
REDEEM = "redeem(uint256)"
CLOSE = "closeAsset(uint256)"
CLAIM_REDEMPTION = "claimRedemption(uint256,address)"
POOL = 3 * 10**15  # wei the issuer puts into the redemption pool
RULES = "setAssetRules(uint256,uint32,uint128,uint64)"
SET_AGENT = "setAgent(uint256,address,bool)"
FREEZE = "freeze(uint256,address,bool)"
PAUSE = "pauseAsset(uint256,bool)"
FORCED = "forcedTransfer(uint256,address,address,uint128)"
TRANSFER = "transfer(address,uint256)"
ASSET_VIEW = ["uint8", "address", "address", "uint8", "bytes32", "bytes32"]
ASSET_VIEW += ["uint8", "uint64", "uint32", "uint128", "address"]
ISSUANCE_VIEW = ["bool", "uint64", "uint64", "uint128", "uint128", "uint128"]


def open_call(asset_id: int, start: int, end: int, minimum: int, maximum: int, price: int = 0) -> bytes:
    """openIssuance calldata; units are free unless a price (wei per unit) is given."""
    return calldata(OPEN, asset_id, start, end, minimum, maximum, price)


def wide(signature: str, types: list[str], *args: object) -> bytes:
    """Calldata for `signature` with arguments encoded as wider `types`: out-of-range values."""
    return selector(signature) + encode(types, list(args))


def _env(timestamp: int) -> BlockEnv:
    return BlockEnv(
        number=1, timestamp=timestamp, base_fee=MIN_BASE_FEE, gas_limit=30_000_000, chain_id=CHAIN_ID
    )


class Runner:
    """Blocks over one state whose identity admin is ADMIN; `at` moves the clock to a new block."""

    def __init__(self) -> None:
        genesis = Genesis(identity_admin=ADMIN, timestamp=1, alloc={a: 10 * ETH for a in ADDRESSES[:7]})
        self.state = StateOverlay(lambda key: 0)
        for key, value in genesis.state_writes().items():
            self.state.set(key, value)
        self.nonces: dict[bytes, int] = {}
        self.at(NOW)

    def at(self, timestamp: int) -> None:
        self.env = _env(timestamp)
        self.block = BlockExecution(self.state, self.env)

    def send(self, key: bytes, data: bytes, to: bytes = ASSET_REGISTRY, value: int = 0) -> TxOutcome:
        nonce = self.nonces.get(key, 0)
        tx = signed_tx(key, nonce=nonce, to=to, data=data, gas=400_000, max_fee=MAX_FEE, value=value)
        self.nonces[key] = nonce + 1
        return self.block.add_transaction(tx).outcome

    def ok(self, key: bytes, data: bytes, to: bytes = ASSET_REGISTRY, value: int = 0) -> TxOutcome:
        outcome = self.send(key, data, to, value)
        assert outcome.status == 1, decode_error(outcome.return_data)
        return outcome

    def fails(
        self, key: bytes, data: bytes, reason: str | None, to: bytes = ASSET_REGISTRY, value: int = 0
    ) -> TxOutcome:
        """The call reverts with `reason` and writes nothing but the sender's fee payment."""
        before = dict(self.state.writes())
        outcome = self.send(key, data, to, value)
        assert (outcome.status, outcome.logs) == (0, [])
        assert decode_error(outcome.return_data) == reason
        fee_keys = {account_key(ADDRESSES[KEYS.index(key)]), account_key(FEE_VAULT)}
        after = self.state.writes()
        assert {k: v for k, v in after.items() if k not in fee_keys} == {
            k: v for k, v in before.items() if k not in fee_keys
        }
        return outcome

    def view(self, signature: str, *args: object, to: bytes = ASSET_REGISTRY) -> bytes:
        return call_system_contract(self.state, ALICE, to, calldata(signature, *args), self.env).return_data

    def asset(self, asset_id: int = 1) -> tuple:
        return decode(ASSET_VIEW, self.view("asset(uint256)", asset_id))

    def stage(self, asset_id: int = 1) -> int:
        return self.asset(asset_id)[0]

    def rules(self, asset_id: int = 1) -> tuple:
        return decode(
            ["uint32", "uint128", "uint64", "bool", "uint32"], self.view("assetRules(uint256)", asset_id)
        )

    def balance(self, holder: bytes) -> int:
        return decode(["uint256"], self.view("balanceOf(address)", holder, to=TOKEN))[0]


# --- reaching each stage ----------------------------------------------------------------------------
def register(r: Runner) -> None:
    r.ok(ISSUER_KEY, calldata(REGISTER, ORIGINATOR, 3, META, DOCS))


def structure(r: Runner, cap: int = CAP) -> None:
    r.ok(ISSUER_KEY, calldata(STRUCTURE, 1, 2, MATURITY, YIELD_BPS, cap))


def audit(r: Runner, asset_id: int = 1, kind: int = KIND_AUDITOR, sequence: int = 1) -> None:
    """ADMIN registers AUDITOR (an auditor for any asset, or a device for `asset_id`) and relays its
    signed attestation of `asset_id`."""
    if sequence == 1:
        registered_for = 0 if kind == KIND_AUDITOR else asset_id
        register_call = calldata("registerAttestor(address,uint8,uint256)", AUDITOR, kind, registered_for)
        r.ok(ADMIN_KEY, register_call, ATTESTATION_REGISTRY)
    signed = sign_attestation(AUDITOR_KEY, asset_id, sequence, b"audit report", NOW - 10, CHAIN_ID)
    r.ok(ADMIN_KEY, attest_calldata(signed), ATTESTATION_REGISTRY)


def tokenize(r: Runner) -> None:
    audit(r)
    r.ok(ISSUER_KEY, calldata(TOKENIZE, 1, "Solar Park A", "SOLA", 6))


def approve(r: Runner) -> None:
    r.ok(ADMIN_KEY, calldata("setComplianceOfficer(address,bool)", OFFICER, True), IDENTITY_REGISTRY)
    for investor in (ALICE, BOB):
        r.ok(ADMIN_KEY, calldata("setAllowed(address,bool)", investor, True), IDENTITY_REGISTRY)
    r.ok(OFFICER_KEY, calldata(APPROVE, 1))


def open_issuance(r: Runner) -> None:
    r.ok(ISSUER_KEY, open_call(1, START, END, MIN_SUB, MAX_SUB))


def trade(r: Runner) -> None:
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.ok(BOB_KEY, calldata(SUBSCRIBE, 1, 500))
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))


def redeem(r: Runner) -> None:
    """At maturity, with a redemption pool of POOL wei."""
    r.at(MATURITY)
    r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=POOL)


def close(r: Runner) -> None:
    """Every holder's units redeemed (anyone may submit a claim), then closed."""
    for holder in ADDRESSES:
        if r.balance(holder):
            r.ok(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, holder))
    r.ok(ISSUER_KEY, calldata(CLOSE, 1))


STEPS: list[Callable[[Runner], None]] = [
    register,
    structure,
    tokenize,
    approve,
    open_issuance,
    trade,
    redeem,
    close,
]
REGISTERED, STRUCTURED, TOKENIZED, APPROVED, ISSUING, TRADING, REDEEMED, CLOSED = range(1, 9)


def at_step(count: int) -> Runner:
    """A runner after the first `count` steps (APPROVED is still the Tokenized stage)."""
    r = Runner()
    for step in STEPS[:count]:
        step(r)
    return r


def stage_logs(outcome: TxOutcome) -> list[tuple[int, int, bytes]]:
    topic = event_topic("AssetStageChanged(uint256,uint8,address)")
    return [
        (int.from_bytes(log.topics[1], "big"), int.from_bytes(log.data, "big"), log.topics[2][12:])
        for log in outcome.logs
        if log.topics[0] == topic
    ]


# --- the lifecycle ----------------------------------------------------------------------------------
def test_full_lifecycle_walks_every_stage_and_logs_each_change() -> None:
    r = Runner()
    outcome = r.ok(ISSUER_KEY, calldata(REGISTER, ORIGINATOR, 3, META, DOCS))
    assert decode(["uint256"], outcome.return_data) == (1,)
    assert outcome.gas_used > OP_GAS["assets.registerAsset"]
    registered = outcome.logs[0]
    assert registered.topics == [
        assets.ASSET_REGISTERED,
        (1).to_bytes(32, "big"),
        bytes(12) + ISSUER,
        bytes(12) + ORIGINATOR,
    ]
    assert registered.data == (3).to_bytes(32, "big") + META + DOCS
    assert stage_logs(outcome) == [(1, 0, ISSUER)]
    assert r.asset() == (
        0,
        "0x" + ISSUER.hex(),
        "0x" + ORIGINATOR.hex(),
        3,
        META,
        DOCS,
        0,
        0,
        0,
        0,
        "0x" + "00" * 20,
    )

    assert stage_logs(r.ok(ISSUER_KEY, calldata(STRUCTURE, 1, 2, MATURITY, YIELD_BPS, CAP))) == [
        (1, 1, ISSUER)
    ]
    audit(r)
    outcome = r.ok(ISSUER_KEY, calldata(TOKENIZE, 1, "Solar Park A", "SOLA", 6))
    assert outcome.return_data == bytes(12) + TOKEN
    assert stage_logs(outcome) == [(1, 2, ISSUER)]
    approve(r)
    assert decode(ISSUANCE_VIEW, r.view("issuance(uint256)", 1))[0] is True
    assert stage_logs(r.ok(ISSUER_KEY, open_call(1, START, END, MIN_SUB, MAX_SUB))) == [(1, 3, ISSUER)]
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.at(END)
    assert stage_logs(r.ok(ISSUER_KEY, calldata(START_TRADING, 1))) == [(1, 4, ISSUER)]
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 400), TOKEN)
    assert (r.balance(ALICE), r.balance(BOB)) == (600, 400)
    r.at(MATURITY)
    assert stage_logs(r.ok(ISSUER_KEY, calldata(REDEEM, 1), value=POOL)) == [(1, 5, ISSUER)]
    for holder in (ALICE, BOB):
        r.ok(CAROL_KEY, calldata(CLAIM_REDEMPTION, 1, holder))
    assert stage_logs(r.ok(ISSUER_KEY, calldata(CLOSE, 1))) == [(1, 6, ISSUER)]

    assert r.asset() == (
        6,
        "0x" + ISSUER.hex(),
        "0x" + ORIGINATOR.hex(),
        3,
        META,
        DOCS,
        2,
        MATURITY,
        YIELD_BPS,
        CAP,
        "0x" + TOKEN.hex(),
    )
    assert decode(["uint256"], r.view("assetOfToken(address)", TOKEN)) == (1,)
    assert (r.balance(ALICE), r.balance(BOB)) == (0, 0)
    assert decode(ISSUANCE_VIEW, r.view("issuance(uint256)", 1)) == (True, START, END, MIN_SUB, MAX_SUB, 0)


def test_asset_ids_are_sequential_and_tokens_share_create_token_numbering() -> None:
    r = Runner()
    r.ok(ADMIN_KEY, calldata("createToken(string,string,uint8)", "Plain", "PLN", 0))
    register(r)
    outcome = r.ok(BOB_KEY, calldata(REGISTER, ORIGINATOR, 1, META, DOCS))
    assert decode(["uint256"], outcome.return_data) == (2,)
    assert decode(["uint256"], r.view("assetCount()")) == (2,)
    assert r.asset(2)[1] == "0x" + BOB.hex()
    structure(r)
    audit(r)
    outcome = r.ok(ISSUER_KEY, calldata(TOKENIZE, 1, "Solar Park A", "SOLA", 6))
    assert outcome.return_data == bytes(12) + token_address(2)
    assert decode(["uint256"], r.view("tokenCount()")) == (2,)
    assert decode(["uint256"], r.view("assetOfToken(address)", token_address(1))) == (0,)


def test_create_token_tokens_keep_minting_and_transfers_without_an_asset() -> None:
    r = Runner()
    r.ok(ADMIN_KEY, calldata("createToken(string,string,uint8)", "Plain", "PLN", 0))
    for holder in (ALICE, BOB):
        r.ok(ADMIN_KEY, calldata("setAllowed(address,bool)", holder, True), IDENTITY_REGISTRY)
    r.ok(ADMIN_KEY, calldata("mint(address,uint256)", ALICE, 100), TOKEN)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 40), TOKEN)
    assert (r.balance(ALICE), r.balance(BOB)) == (60, 40)


@pytest.mark.parametrize(
    ("steps", "key", "data", "reason"),
    [
        # skipping ahead
        (REGISTERED, ISSUER_KEY, calldata(TOKENIZE, 1, "A", "A", 0), "is Registered, needs Structured"),
        (REGISTERED, ISSUER_KEY, open_call(1, START, END, 1, 2), "is Registered, needs Tokenized"),
        (STRUCTURED, OFFICER_KEY, calldata(APPROVE, 1), None),  # officer not yet named: checked first
        (TOKENIZED, ALICE_KEY, calldata(SUBSCRIBE, 1, 100), "is Tokenized, needs Issuing"),
        (APPROVED, ISSUER_KEY, calldata(START_TRADING, 1), "is Tokenized, needs Issuing"),
        (ISSUING, ISSUER_KEY, calldata(REDEEM, 1), "is Issuing, needs Trading"),
        (TRADING, ISSUER_KEY, calldata(CLOSE, 1), "is Trading, needs Redeemed"),
        # going back or repeating
        (STRUCTURED, ISSUER_KEY, calldata(STRUCTURE, 1, 0, 0, 0, 1), "is Structured, needs Registered"),
        (TOKENIZED, ISSUER_KEY, calldata(TOKENIZE, 1, "A", "A", 0), "is Tokenized, needs Structured"),
        (ISSUING, OFFICER_KEY, calldata(APPROVE, 1), "is Issuing, needs Tokenized"),
        (ISSUING, ISSUER_KEY, open_call(1, START, END, 1, 2), "is Issuing, needs Tokenized"),
        (TRADING, ALICE_KEY, calldata(SUBSCRIBE, 1, 100), "is Trading, needs Issuing"),
        (REDEEMED, ISSUER_KEY, calldata(START_TRADING, 1), "is Redeemed, needs Issuing"),
        (CLOSED, ISSUER_KEY, calldata(REDEEM, 1), "is Closed, needs Trading"),
        (CLOSED, ISSUER_KEY, calldata(CLOSE, 1), "is Closed, needs Redeemed"),
    ],
)
def test_skipping_or_reversing_a_stage_fails(steps: int, key: bytes, data: bytes, reason: str | None) -> None:
    r = at_step(steps)
    if reason is None:
        r.fails(key, data, assets.NOT_OFFICER)
        r.ok(ADMIN_KEY, calldata("setComplianceOfficer(address,bool)", OFFICER, True), IDENTITY_REGISTRY)
        reason = "is Structured, needs Tokenized"
    r.fails(key, data, f"AssetRegistry: wrong stage: {reason}")


@pytest.mark.parametrize(
    ("steps", "data"),
    [
        (REGISTERED, calldata(STRUCTURE, 1, 0, 0, 0, 1)),
        (STRUCTURED, calldata(TOKENIZE, 1, "A", "A", 0)),
        (APPROVED, open_call(1, START, END, 1, 2)),
        (ISSUING, calldata(START_TRADING, 1)),
        (TRADING, calldata(REDEEM, 1)),
        (REDEEMED, calldata(CLOSE, 1)),
        (REGISTERED, calldata(RULES, 1, 1, 1, 1)),
        (REGISTERED, calldata(SET_AGENT, 1, AGENT, True)),
    ],
)
def test_issuer_steps_are_issuer_only(steps: int, data: bytes) -> None:
    r = at_step(steps)
    if steps == STRUCTURED:
        audit(r)
    r.fails(BOB_KEY, data, assets.NOT_ISSUER)


@pytest.mark.parametrize(
    "data",
    [
        calldata(STRUCTURE, 2, 0, 0, 0, 1),
        calldata(TOKENIZE, 0, "A", "A", 0),
        calldata(APPROVE, 2),
        calldata(SUBSCRIBE, 2, 1),
        calldata(REDEEM, 2**256 - 1),
        calldata(FREEZE, 2, ALICE, True),
    ],
)
def test_unknown_asset_ids_fail(data: bytes) -> None:
    r = at_step(REGISTERED)
    r.fails(ISSUER_KEY, data, assets.NO_SUCH_ASSET)


def test_views_of_an_unknown_asset_revert() -> None:
    r = at_step(REGISTERED)
    assert r.stage(1) == 0
    for signature, args in (
        ("asset(uint256)", (2,)),
        ("assetRules(uint256)", (0,)),
        ("isFrozen(uint256,address)", (3, ALICE)),
    ):
        with pytest.raises(Exception, match="no such asset"):
            r.view(signature, *args)


def test_register_rejects_a_zero_originator_and_out_of_range_class() -> None:
    r = Runner()
    r.fails(ISSUER_KEY, calldata(REGISTER, bytes(20), 1, META, DOCS), assets.ZERO_ORIGINATOR)
    r.fails(
        ISSUER_KEY,
        wide(REGISTER, ["address", "uint256", "bytes32", "bytes32"], ORIGINATOR, 256, META, DOCS),
        None,
    )  # not a uint8
    register(r)


def test_structure_needs_a_positive_supply_cap() -> None:
    r = at_step(REGISTERED)
    r.fails(ISSUER_KEY, calldata(STRUCTURE, 1, 0, MATURITY, YIELD_BPS, 0), assets.ZERO_CAP)
    r.fails(
        ISSUER_KEY, wide(STRUCTURE, ["uint256"] * 5, 1, 0, 2**64, YIELD_BPS, 1), None
    )  # maturity not a uint64
    structure(r, cap=1)


# --- checkpoints ------------------------------------------------------------------------------------
def test_tokenize_needs_an_auditor_attestation_of_this_asset() -> None:
    r = at_step(STRUCTURED)
    tokenize_call = calldata(TOKENIZE, 1, "Solar Park A", "SOLA", 6)
    r.fails(ISSUER_KEY, tokenize_call, assets.NO_AUDIT)
    audit(r, asset_id=2)  # an auditor's attestation of another asset does not count
    r.fails(ISSUER_KEY, tokenize_call, assets.NO_AUDIT)
    audit(r, asset_id=1)
    r.ok(ISSUER_KEY, tokenize_call)
    assert r.stage() == 2


def test_a_device_attestation_is_not_an_audit() -> None:
    r = at_step(STRUCTURED)
    audit(r, kind=KIND_DEVICE)
    r.fails(ISSUER_KEY, calldata(TOKENIZE, 1, "Solar Park A", "SOLA", 6), assets.NO_AUDIT)


def test_approval_is_for_compliance_officers_only() -> None:
    r = at_step(TOKENIZED)
    set_officer = "setComplianceOfficer(address,bool)"
    r.fails(
        ISSUER_KEY,
        calldata(set_officer, ISSUER, True),
        "IdentityRegistry: caller is not the admin",
        IDENTITY_REGISTRY,
    )
    r.fails(ISSUER_KEY, calldata(APPROVE, 1), assets.NOT_OFFICER)
    outcome = r.ok(ADMIN_KEY, calldata(set_officer, OFFICER, True), IDENTITY_REGISTRY)
    assert outcome.logs[0].topics[0] == event_topic("ComplianceOfficerUpdated(address,bool)")
    assert decode(["bool"], r.view("isComplianceOfficer(address)", OFFICER, to=IDENTITY_REGISTRY)) == (True,)
    r.ok(ADMIN_KEY, calldata(set_officer, OFFICER, False), IDENTITY_REGISTRY)
    r.fails(OFFICER_KEY, calldata(APPROVE, 1), assets.NOT_OFFICER)
    r.ok(ADMIN_KEY, calldata(set_officer, OFFICER, True), IDENTITY_REGISTRY)
    outcome = r.ok(OFFICER_KEY, calldata(APPROVE, 1))
    assert outcome.logs[0].topics == [assets.ISSUANCE_APPROVED, (1).to_bytes(32, "big"), bytes(12) + OFFICER]
    assert r.stage() == 2


def test_open_issuance_needs_approval_a_window_and_sane_limits() -> None:
    r = at_step(TOKENIZED)
    r.fails(ISSUER_KEY, open_call(1, START, END, MIN_SUB, MAX_SUB), assets.NOT_APPROVED)
    approve(r)
    r.fails(ISSUER_KEY, open_call(1, END, END, MIN_SUB, MAX_SUB), assets.EMPTY_WINDOW)
    r.fails(ISSUER_KEY, open_call(1, START, END, MAX_SUB + 1, MAX_SUB), assets.BAD_LIMITS)
    r.fails(ISSUER_KEY, open_call(1, START, END, 0, 0), assets.BAD_LIMITS)
    open_issuance(r)
    assert r.stage() == 3


# --- subscription -----------------------------------------------------------------------------------
def test_subscribe_mints_to_an_eligible_investor_within_limits() -> None:
    r = at_step(ISSUING)
    outcome = r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, MIN_SUB))
    assert outcome.gas_used > OP_GAS["assets.subscribe"]
    transfer, subscribed = outcome.logs
    assert (transfer.address, transfer.topics) == (TOKEN, [TRANSFER_TOPIC, bytes(32), bytes(12) + ALICE])
    assert subscribed.topics == [assets.SUBSCRIBED, (1).to_bytes(32, "big"), bytes(12) + ALICE]
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, MAX_SUB - MIN_SUB))  # cumulative total reaches the maximum
    assert r.balance(ALICE) == MAX_SUB
    assert decode(["uint256"], r.view("subscribed(uint256,address)", 1, ALICE)) == (MAX_SUB,)
    assert decode(["uint256"], r.view("totalSupply()", to=TOKEN)) == (MAX_SUB,)
    assert r.rules()[4] == 1  # one holder
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, 1), assets.ABOVE_MAX)


def test_subscribe_rejections() -> None:
    r = at_step(ISSUING)
    r.fails(CAROL_KEY, calldata(SUBSCRIBE, 1, MIN_SUB), assets.NOT_ELIGIBLE)
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, 0), assets.ZERO_AMOUNT)
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, MIN_SUB - 1), assets.BELOW_MIN)
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, MAX_SUB + 1), assets.ABOVE_MAX)
    r.fails(ALICE_KEY, wide(SUBSCRIBE, ["uint256"] * 2, 1, 2**128), None)  # not a uint128
    r.at(START - 1)
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, MIN_SUB), assets.NOT_STARTED)
    r.at(END)
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, MIN_SUB), assets.ENDED)
    r.at(END - 1)
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, MIN_SUB))


def test_subscribe_respects_the_supply_cap() -> None:
    r = Runner()
    register(r)
    structure(r, cap=1_500)
    for step in STEPS[2:5]:
        step(r)
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.fails(BOB_KEY, calldata(SUBSCRIBE, 1, 501), assets.CAP_EXCEEDED)
    r.ok(BOB_KEY, calldata(SUBSCRIBE, 1, 500))


def test_start_trading_waits_for_the_window_to_end() -> None:
    r = at_step(ISSUING)
    r.at(END - 1)
    r.fails(ISSUER_KEY, calldata(START_TRADING, 1), assets.STILL_OPEN)
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))


def test_lifecycle_tokens_are_not_minted_directly() -> None:
    r = at_step(ISSUING)
    r.fails(
        ISSUER_KEY,
        calldata("mint(address,uint256)", ALICE, 1),
        "JovayToken: asset tokens are issued by subscription",
        TOKEN,
    )


# --- transfers and rules ----------------------------------------------------------------------------
def test_lifecycle_tokens_move_only_while_trading() -> None:
    r = at_step(ISSUING)
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.NOT_TRADING, TOKEN)
    r.ok(ALICE_KEY, calldata("approve(address,uint256)", BOB, 10), TOKEN)
    r.fails(
        BOB_KEY, calldata("transferFrom(address,address,uint256)", ALICE, BOB, 1), assets.NOT_TRADING, TOKEN
    )
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)
    r.ok(BOB_KEY, calldata("transferFrom(address,address,uint256)", ALICE, BOB, 1), TOKEN)
    redeem(r)
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.NOT_TRADING, TOKEN)


def test_holder_count_tracks_balances_going_to_and_from_zero() -> None:
    r = at_step(TRADING)  # ALICE 1000, BOB 500
    assert r.rules()[4] == 2
    r.ok(ADMIN_KEY, calldata("setAllowed(address,bool)", CAROL, True), IDENTITY_REGISTRY)
    r.ok(ALICE_KEY, calldata(TRANSFER, CAROL, 1), TOKEN)
    assert r.rules()[4] == 3
    r.ok(ALICE_KEY, calldata(TRANSFER, ALICE, 999), TOKEN)  # to itself: no change
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 0), TOKEN)
    assert r.rules()[4] == 3
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 999), TOKEN)
    r.ok(CAROL_KEY, calldata(TRANSFER, BOB, 1), TOKEN)
    assert r.rules()[4] == 1


def test_max_holders_on_transfer_and_subscription() -> None:
    r = at_step(ISSUING)
    r.ok(ISSUER_KEY, calldata(RULES, 1, 1, 0, 0))
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.fails(BOB_KEY, calldata(SUBSCRIBE, 1, 500), assets.MAX_HOLDERS)
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 500))  # an existing holder may add
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.MAX_HOLDERS, TOKEN)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1_500), TOKEN)  # the sender leaves as the recipient joins
    assert r.rules()[4] == 1


def test_max_balance_per_holder_on_transfer_and_subscription() -> None:
    r = at_step(ISSUING)
    outcome = r.ok(ISSUER_KEY, calldata(RULES, 1, 0, 1_200, 0))
    assert outcome.logs[0].topics[0] == assets.ASSET_RULES_SET
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_201), assets.BALANCE_LIMIT)
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.ok(BOB_KEY, calldata(SUBSCRIBE, 1, 500))
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 701), assets.BALANCE_LIMIT, TOKEN)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 700), TOKEN)
    assert r.rules()[:3] == (0, 1_200, 0)


def test_lockup_blocks_transfers_until_it_ends() -> None:
    r = at_step(TRADING)
    r.ok(ISSUER_KEY, calldata(RULES, 1, 0, 0, END + 50))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.LOCKED_UP, TOKEN)
    r.at(END + 50)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)


def test_freeze_stops_either_side_of_a_transfer_and_subscriptions() -> None:
    r = at_step(ISSUING)
    r.fails(AGENT_KEY, calldata(FREEZE, 1, ALICE, True), assets.NOT_AGENT)
    outcome = r.ok(ISSUER_KEY, calldata(SET_AGENT, 1, AGENT, True))
    assert outcome.logs[0].topics == [assets.AGENT_SET, (1).to_bytes(32, "big"), bytes(12) + AGENT]
    assert decode(["bool"], r.view("isAgent(uint256,address)", 1, AGENT)) == (True,)
    outcome = r.ok(AGENT_KEY, calldata(FREEZE, 1, ALICE, True))
    assert outcome.logs[0].topics == [
        assets.ADDRESS_FROZEN,
        (1).to_bytes(32, "big"),
        bytes(12) + ALICE,
        bytes(12) + AGENT,
    ]
    assert decode(["bool"], r.view("isFrozen(uint256,address)", 1, ALICE)) == (True,)
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000), assets.RECIPIENT_FROZEN)
    r.ok(AGENT_KEY, calldata(FREEZE, 1, ALICE, False))
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.ok(BOB_KEY, calldata(SUBSCRIBE, 1, 500))
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.ok(ISSUER_KEY, calldata(FREEZE, 1, ALICE, True))  # the issuer is always an agent
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.SENDER_FROZEN, TOKEN)
    r.fails(BOB_KEY, calldata(TRANSFER, ALICE, 1), assets.RECIPIENT_FROZEN, TOKEN)
    r.ok(AGENT_KEY, calldata(FREEZE, 1, ALICE, False))
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)
    r.ok(ISSUER_KEY, calldata(SET_AGENT, 1, AGENT, False))
    r.fails(AGENT_KEY, calldata(FREEZE, 1, ALICE, True), assets.NOT_AGENT)


def test_pause_stops_transfers_and_subscriptions() -> None:
    r = at_step(ISSUING)
    r.fails(BOB_KEY, calldata(PAUSE, 1, True), assets.NOT_AGENT)
    outcome = r.ok(ISSUER_KEY, calldata(PAUSE, 1, True))
    assert outcome.logs[0].topics == [assets.ASSET_PAUSED, (1).to_bytes(32, "big"), bytes(12) + ISSUER]
    assert outcome.logs[0].data == (1).to_bytes(32, "big")
    r.fails(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000), assets.PAUSED)
    r.ok(ISSUER_KEY, calldata(PAUSE, 1, False))
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    r.ok(ISSUER_KEY, calldata(PAUSE, 1, True))
    assert r.rules()[3] is True
    r.ok(ADMIN_KEY, calldata("setAllowed(address,bool)", BOB, True), IDENTITY_REGISTRY)
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.PAUSED, TOKEN)
    r.ok(ISSUER_KEY, calldata(PAUSE, 1, False))
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)
    assert r.stage() == 4


def test_forced_transfer_bypasses_lockup_and_freeze_but_not_the_allowlist() -> None:
    r = at_step(TRADING)  # ALICE 1000, BOB 500
    r.ok(ISSUER_KEY, calldata(SET_AGENT, 1, AGENT, True))
    r.ok(ISSUER_KEY, calldata(RULES, 1, 0, 0, END + 1_000))
    r.ok(AGENT_KEY, calldata(FREEZE, 1, ALICE, True))
    r.ok(AGENT_KEY, calldata(PAUSE, 1, True))
    r.fails(BOB_KEY, calldata(FORCED, 1, ALICE, BOB, 1), assets.NOT_AGENT)
    r.fails(AGENT_KEY, calldata(FORCED, 1, ALICE, CAROL, 1), "JovayToken: recipient not on allowlist")
    r.fails(AGENT_KEY, calldata(FORCED, 1, ALICE, BOB, 1_001), "ERC20: transfer amount exceeds balance")
    outcome = r.ok(AGENT_KEY, calldata(FORCED, 1, ALICE, BOB, 1_000))
    moved, forced = outcome.logs
    assert (moved.address, moved.topics[0]) == (TOKEN, TRANSFER_TOPIC)
    assert forced.topics == [
        assets.FORCED_TRANSFER,
        (1).to_bytes(32, "big"),
        bytes(12) + ALICE,
        bytes(12) + BOB,
    ]
    assert forced.data == (1_000).to_bytes(32, "big") + bytes(12) + AGENT
    assert (r.balance(ALICE), r.balance(BOB)) == (0, 1_500)
    assert r.rules()[4] == 1


def test_forced_transfer_needs_a_token() -> None:
    r = at_step(STRUCTURED)
    r.fails(ISSUER_KEY, calldata(FORCED, 1, ALICE, BOB, 1), assets.NOT_TOKENIZED)


def test_reverted_calls_pay_their_operation_gas() -> None:
    r = at_step(REGISTERED)
    data = calldata(STRUCTURE, 1, 0, 0, 0, 0)
    outcome = r.fails(ISSUER_KEY, data, assets.ZERO_CAP)
    data_gas = sum(4 if b == 0 else 16 for b in data)
    assert outcome.gas_used == 21_000 + data_gas + OP_GAS["assets.structureAsset"]


def test_time_dependent_steps_revert_without_a_block() -> None:
    r = at_step(ISSUING)
    with pytest.raises(Revert, match="no block context") as subscribe:
        call_system_contract(r.state, ALICE, ASSET_REGISTRY, calldata(SUBSCRIBE, 1, MIN_SUB))
    assert subscribe.value.reason == assets.NO_BLOCK
    with pytest.raises(Revert) as start:
        call_system_contract(r.state, ISSUER, ASSET_REGISTRY, calldata(START_TRADING, 1))
    assert start.value.reason == assets.NO_BLOCK
    r.ok(ALICE_KEY, calldata(SUBSCRIBE, 1, 1_000))
    r.at(END)
    r.ok(ISSUER_KEY, calldata(START_TRADING, 1))
    transfer = calldata(TRANSFER, BOB, 1)
    call_system_contract(r.state, ALICE, TOKEN, transfer)  # no lock-up: the time is not needed
    r.ok(ISSUER_KEY, calldata(RULES, 1, 0, 0, 1))
    with pytest.raises(Revert) as locked:
        call_system_contract(r.state, ALICE, TOKEN, transfer)
    assert locked.value.reason == assets.TOKEN_NO_BLOCK


# --- identity claims --------------------------------------------------------------------------------
SET_CLAIMS = "setClaims(address,uint16,uint8,uint64)"
REQUIREMENTS = "setInvestorRequirements(uint256,bool,uint8,uint16)"
US, DE = 840, 276  # ISO 3166 numeric codes; the chain gives them no meaning


def claims(r: Runner, holder: bytes, jurisdiction: int, investor_class: int, kyc_expiry: int) -> None:
    r.ok(ADMIN_KEY, calldata(SET_CLAIMS, holder, jurisdiction, investor_class, kyc_expiry), IDENTITY_REGISTRY)


def test_claims_are_set_by_the_identity_admin_only() -> None:
    r = Runner()
    data = calldata(SET_CLAIMS, ALICE, US, 2, NOW + 10)
    r.fails(ISSUER_KEY, data, "IdentityRegistry: caller is not the admin", IDENTITY_REGISTRY)
    r.fails(
        ADMIN_KEY,
        wide(SET_CLAIMS, ["address", "uint256", "uint8", "uint64"], ALICE, 2**16, 2, 1),
        None,
        IDENTITY_REGISTRY,
    )
    outcome = r.ok(ADMIN_KEY, data, IDENTITY_REGISTRY)
    assert outcome.logs[0].topics == [
        event_topic("ClaimsUpdated(address,uint16,uint8,uint64)"),
        bytes(12) + ALICE,
    ]
    assert decode(["uint16", "uint8", "uint64"], r.view("claims(address)", ALICE, to=IDENTITY_REGISTRY)) == (
        US,
        2,
        NOW + 10,
    )


def test_investor_requirements_are_issuer_only() -> None:
    r = at_step(REGISTERED)
    r.fails(BOB_KEY, calldata(REQUIREMENTS, 1, True, 1, US), assets.NOT_ISSUER)
    outcome = r.ok(ISSUER_KEY, calldata(REQUIREMENTS, 1, True, 1, US))
    assert outcome.logs[0].topics == [assets.REQUIREMENTS_SET, (1).to_bytes(32, "big")]
    assert decode(["bool", "uint8", "uint16"], r.view("investorRequirements(uint256)", 1)) == (True, 1, US)


def test_subscription_needs_the_required_claims() -> None:
    r = at_step(ISSUING)
    r.ok(ISSUER_KEY, calldata(REQUIREMENTS, 1, True, 2, US))
    subscribe = calldata(SUBSCRIBE, 1, 1_000)
    r.fails(ALICE_KEY, subscribe, assets.KYC_EXPIRED)  # no claims at all
    claims(r, ALICE, US, 2, NOW)  # expires at this very second
    r.fails(ALICE_KEY, subscribe, assets.KYC_EXPIRED)
    claims(r, ALICE, US, 1, NOW + 1)
    r.fails(ALICE_KEY, subscribe, assets.CLASS_TOO_LOW)
    claims(r, ALICE, DE, 3, NOW + 1)
    r.fails(ALICE_KEY, subscribe, assets.WRONG_JURISDICTION)
    claims(r, ALICE, US, 3, NOW + 1)
    r.ok(ALICE_KEY, subscribe)


def test_transfer_recipients_need_the_required_claims() -> None:
    r = at_step(TRADING)  # ALICE 1000, BOB 500; no requirements when they subscribed
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)
    r.ok(ISSUER_KEY, calldata(REQUIREMENTS, 1, False, 0, DE))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.WRONG_JURISDICTION, TOKEN)
    claims(r, BOB, DE, 0, 0)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)  # KYC not required: an expired one is fine
    r.ok(ISSUER_KEY, calldata(REQUIREMENTS, 1, True, 0, 0))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.KYC_EXPIRED, TOKEN)
    claims(r, BOB, DE, 0, END + 1)
    r.ok(ALICE_KEY, calldata(TRANSFER, BOB, 1), TOKEN)
    r.ok(ISSUER_KEY, calldata(REQUIREMENTS, 1, False, 1, 0))
    r.fails(ALICE_KEY, calldata(TRANSFER, BOB, 1), assets.CLASS_TOO_LOW, TOKEN)
    r.ok(ISSUER_KEY, calldata(FORCED, 1, ALICE, BOB, 1))  # a forced transfer is not held to claims
