"""Asset lifecycle, compliance rules and agent actions on the asset registry (0x4a6f...0002).

An asset (ids from 1) moves Registered -> Structured -> Tokenized -> Issuing -> Trading -> Redeemed ->
Closed, one call per step and never backwards. Two checkpoints sit on the way: tokenizing needs an
auditor's attestation of the asset (attestation registry), and opening the issuance needs a compliance
officer's approval (identity registry), so neither step rests on the issuer's word alone.

Tokenizing creates the asset's ERC-20 through the registry's own `new_token`, linked back to the
asset. That token then moves only while the asset is Trading and only within the issuer's rules
(ERC-3643 style: holder count, balance per holder, lock-up, frozen holders, pause): token.py's `_move`
calls `before_transfer` here. Units come into being only through `subscribe`, paid at the issuance's
price straight to the issuer. Agents also freeze part of a balance and recover a lost wallet's holding
(`recoveryAddress`). Revenue and redemption (and `closeAsset`) live in cashflow.py, whose `settle`
runs here before every balance change.

State (docs/architecture.md, domains 20 to 25 and 31): asset ids are checked against the asset count
before any key is derived, so they always fit one field element; bytes32 commitments go in as two
halves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import IntEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from jovay.codec import abi
from jovay.crypto.poseidon import poseidon
from jovay.params import ASSET_REGISTRY, DISPATCH_GAS, OP_GAS, ZERO_ADDRESS
from jovay.state.keys import (
    DOMAIN_AGENT,
    DOMAIN_ASSET_FIELD,
    DOMAIN_FROZEN,
    DOMAIN_FROZEN_TOKENS,
    DOMAIN_HOLDER_COUNT,
    DOMAIN_SUBSCRIPTION,
    DOMAIN_TOKEN_ASSET,
    split_u256,
    token_field_key,
)
from jovay.state.overlay import StateOverlay
from jovay.stf import cashflow, registry, token  # cycles (token, cashflow call in): used inside functions
from jovay.stf.accounts import add_balance, sub_balance
from jovay.stf.attestations import auditor_attestation_count
from jovay.stf.identity import is_allowed, is_compliance_officer, read_claims
from jovay.stf.results import CallResult, Log, Revert

if TYPE_CHECKING:
    from jovay.stf.transaction import BlockEnv

AssetFunction = Callable[[StateOverlay, bytes, bytes, "BlockEnv | None"], CallResult]
PayableAssetFunction = Callable[[StateOverlay, bytes, bytes, "BlockEnv | None", int], CallResult]


class Stage(IntEnum):
    REGISTERED = 0
    STRUCTURED = 1
    TOKENIZED = 2
    ISSUING = 3
    TRADING = 4
    REDEEMED = 5
    CLOSED = 6


STAGE_NAMES: Final = ("Registered", "Structured", "Tokenized", "Issuing", "Trading", "Redeemed", "Closed")


COUNT_FIELD: Final = 0  # under asset id 0, which no asset has
(
    F_STATUS,
    F_ISSUER,
    F_ORIGINATOR,
    F_META_HI,
    F_META_LO,
    F_DOCS_HI,
    F_DOCS_LO,
    F_TERMS,
    F_SUPPLY_CAP,
    F_TOKEN,
    F_WINDOW,
    F_MIN_SUBSCRIPTION,
    F_MAX_SUBSCRIPTION,
    F_RULES,
    F_MAX_BALANCE,
    F_REQUIREMENTS,
    F_PRICE,
    F_REDEMPTION_POOL,
    F_REVENUE_PER_UNIT,
    F_REVENUE_REMAINDER,
    F_REVENUE_PERIODS,
    F_REVENUE_TOTAL,
) = range(22)

LOW64: Final = (1 << 64) - 1
_KEY_CACHE_SIZE: Final = 1 << 14

NO_SUCH_ASSET: Final = "AssetRegistry: no such asset"
NOT_ISSUER: Final = "AssetRegistry: caller is not the issuer"
NOT_AGENT: Final = "AssetRegistry: caller is not an agent"
NOT_OFFICER: Final = "AssetRegistry: caller is not a compliance officer"
ZERO_ORIGINATOR: Final = "AssetRegistry: originator is the zero address"
ZERO_CAP: Final = "AssetRegistry: supply cap is zero"
NO_AUDIT: Final = "AssetRegistry: auditor attestation required"
NOT_APPROVED: Final = "AssetRegistry: issuance not approved"
EMPTY_WINDOW: Final = "AssetRegistry: issuance window is empty"
BAD_LIMITS: Final = "AssetRegistry: bad subscription limits"
NO_BLOCK: Final = "AssetRegistry: no block context"
NOT_ELIGIBLE: Final = "AssetRegistry: investor not eligible"
NOT_STARTED: Final = "AssetRegistry: issuance not started"
ENDED: Final = "AssetRegistry: issuance ended"
STILL_OPEN: Final = "AssetRegistry: issuance window still open"
ZERO_AMOUNT: Final = "AssetRegistry: amount is zero"
BELOW_MIN: Final = "AssetRegistry: below minimum subscription"
ABOVE_MAX: Final = "AssetRegistry: above maximum subscription"
CAP_EXCEEDED: Final = "AssetRegistry: supply cap exceeded"
NOT_TOKENIZED: Final = "AssetRegistry: asset is not tokenized"
NOT_TRADING: Final = "JovayToken: asset is not trading"
PAUSED: Final = "JovayToken: asset paused"
SENDER_FROZEN: Final = "JovayToken: sender frozen"
RECIPIENT_FROZEN: Final = "JovayToken: recipient frozen"
LOCKED_UP: Final = "JovayToken: tokens locked up"
BALANCE_LIMIT: Final = "JovayToken: balance limit exceeded"
MAX_HOLDERS: Final = "JovayToken: max holders reached"
TOKEN_NO_BLOCK: Final = "JovayToken: no block context"
KYC_EXPIRED: Final = "JovayToken: recipient KYC expired"
CLASS_TOO_LOW: Final = "JovayToken: recipient investor class too low"
WRONG_JURISDICTION: Final = "JovayToken: recipient jurisdiction not allowed"
EXCEEDS_UNFROZEN: Final = "JovayToken: transfer amount exceeds unfrozen balance"
FREEZE_EXCEEDS_BALANCE: Final = "AssetRegistry: amount exceeds unfrozen balance"
UNFREEZE_EXCEEDS_FROZEN: Final = "AssetRegistry: amount exceeds frozen tokens"
NOTHING_TO_RECOVER: Final = "AssetRegistry: no tokens to recover"
SAME_WALLET: Final = "AssetRegistry: new wallet is the lost wallet"

ASSET_REGISTERED: Final = abi.event_topic("AssetRegistered(uint256,address,address,uint8,bytes32,bytes32)")
ASSET_STAGE_CHANGED: Final = abi.event_topic("AssetStageChanged(uint256,uint8,address)")
ISSUANCE_APPROVED: Final = abi.event_topic("IssuanceApproved(uint256,address)")
SUBSCRIBED: Final = abi.event_topic("Subscribed(uint256,address,uint256,uint256)")
ASSET_RULES_SET: Final = abi.event_topic("AssetRulesSet(uint256,uint32,uint128,uint64)")
AGENT_SET: Final = abi.event_topic("AgentSet(uint256,address,bool)")
ADDRESS_FROZEN: Final = abi.event_topic("AddressFrozen(uint256,address,bool,address)")
ASSET_PAUSED: Final = abi.event_topic("AssetPaused(uint256,bool,address)")
REQUIREMENTS_SET: Final = abi.event_topic("InvestorRequirementsSet(uint256,bool,uint8,uint16)")
FORCED_TRANSFER: Final = abi.event_topic("ForcedTransfer(uint256,address,address,uint256,address)")
TOKENS_FROZEN: Final = abi.event_topic("TokensFrozen(uint256,address,uint256,address)")
TOKENS_UNFROZEN: Final = abi.event_topic("TokensUnfrozen(uint256,address,uint256,address)")
RECOVERY_SUCCESS: Final = abi.event_topic("RecoverySuccess(uint256,address,address,address)")
ISSUANCE_OPENED: Final = abi.event_topic("IssuanceOpened(uint256,uint64,uint64,uint128,uint128,uint128)")


# --- state keys -------------------------------------------------------------------------------------
@lru_cache(maxsize=_KEY_CACHE_SIZE)
def asset_field_key(asset_id: int, field: int) -> int:
    """P(20, assetId, field); P(20, 0, 0) is the asset count."""
    return poseidon((DOMAIN_ASSET_FIELD, asset_id, field))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def subscription_key(asset_id: int, investor: bytes) -> int:
    """P(21, assetId, investor): what the investor has subscribed in total."""
    return poseidon((DOMAIN_SUBSCRIPTION, asset_id, int.from_bytes(investor, "big")))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def agent_key(asset_id: int, agent: bytes) -> int:
    """P(22, assetId, agent): 1 when the issuer made `agent` an agent of the asset."""
    return poseidon((DOMAIN_AGENT, asset_id, int.from_bytes(agent, "big")))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def frozen_key(asset_id: int, holder: bytes) -> int:
    """P(23, assetId, holder): 1 when an agent froze the holder."""
    return poseidon((DOMAIN_FROZEN, asset_id, int.from_bytes(holder, "big")))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def frozen_tokens_key(asset_id: int, holder: bytes) -> int:
    """P(31, assetId, holder): how many of the holder's units an agent froze (partial freeze)."""
    return poseidon((DOMAIN_FROZEN_TOKENS, asset_id, int.from_bytes(holder, "big")))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def token_asset_key(token_address: bytes) -> int:
    """P(24, token): the asset id a lifecycle token belongs to (absent for createToken tokens)."""
    return poseidon((DOMAIN_TOKEN_ASSET, int.from_bytes(token_address, "big")))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def holder_count_key(token_address: bytes) -> int:
    """P(25, token): how many addresses hold a positive balance of a lifecycle token."""
    return poseidon((DOMAIN_HOLDER_COUNT, int.from_bytes(token_address, "big")))


# --- records ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Status:
    """Leaf F_STATUS: `stage | assetClass << 8 | approved << 16 | paused << 17`."""

    stage: Stage
    asset_class: int
    approved: bool = False
    paused: bool = False

    def packed(self) -> int:
        return self.stage | self.asset_class << 8 | int(self.approved) << 16 | int(self.paused) << 17


@dataclass(frozen=True, slots=True)
class Rules:
    """The issuer's compliance rules; 0 means no limit."""

    max_holders: int
    max_balance: int
    lockup_until: int


@dataclass(frozen=True, slots=True)
class Requirements:
    """Which identity claims a holder needs; leaf `requireKyc | minInvestorClass << 8 | jurisdiction << 16`
    (jurisdiction 0 = any)."""

    require_kyc: bool
    min_investor_class: int
    jurisdiction: int


def read_requirements(state: StateOverlay, asset_id: int) -> Requirements:
    value = get_field(state, asset_id, F_REQUIREMENTS)
    return Requirements(bool(value & 1), value >> 8 & 0xFF, value >> 16)


def asset_count(state: StateOverlay) -> int:
    return state.get(asset_field_key(0, COUNT_FIELD))


def get_field(state: StateOverlay, asset_id: int, field: int) -> int:
    return state.get(asset_field_key(asset_id, field))


def set_field(state: StateOverlay, asset_id: int, field: int, value: int) -> None:
    state.set(asset_field_key(asset_id, field), value)


def address_field(state: StateOverlay, asset_id: int, field: int) -> bytes:
    return get_field(state, asset_id, field).to_bytes(20, "big")


def read_status(state: StateOverlay, asset_id: int) -> Status:
    value = get_field(state, asset_id, F_STATUS)
    return Status(Stage(value & 0xFF), value >> 8 & 0xFF, bool(value >> 16 & 1), bool(value >> 17 & 1))


def read_rules(state: StateOverlay, asset_id: int) -> Rules:
    packed = get_field(state, asset_id, F_RULES)
    return Rules(packed & 0xFFFFFFFF, get_field(state, asset_id, F_MAX_BALANCE), packed >> 32)


def asset_of_token(state: StateOverlay, token_address: bytes) -> int:
    """The asset a token belongs to, 0 for a token that createToken made alone."""
    return state.get(token_asset_key(token_address))


def is_frozen(state: StateOverlay, asset_id: int, holder: bytes) -> bool:
    return state.get(frozen_key(asset_id, holder)) == 1


def frozen_tokens(state: StateOverlay, asset_id: int, holder: bytes) -> int:
    return state.get(frozen_tokens_key(asset_id, holder))


def is_agent(state: StateOverlay, asset_id: int, caller: bytes) -> bool:
    """The issuer is always an agent of its asset."""
    return caller == address_field(state, asset_id, F_ISSUER) or state.get(agent_key(asset_id, caller)) == 1


# --- argument and access checks ---------------------------------------------------------------------
def uint_arg(word: bytes, bits: int) -> int:
    value = abi.word_uint(word)
    if value >> bits:
        raise abi.AbiError(f"uint{bits} argument out of range")
    return value


def existing_asset(state: StateOverlay, word: bytes, gas: int) -> int:
    asset_id = abi.word_uint(word)
    if not 1 <= asset_id <= asset_count(state):
        raise Revert(NO_SUCH_ASSET, gas)
    return asset_id


def require_issuer(state: StateOverlay, asset_id: int, sender: bytes, gas: int) -> None:
    if sender != address_field(state, asset_id, F_ISSUER):
        raise Revert(NOT_ISSUER, gas)


def require_agent(state: StateOverlay, asset_id: int, sender: bytes, gas: int) -> None:
    if not is_agent(state, asset_id, sender):
        raise Revert(NOT_AGENT, gas)


def require_stage(status: Status, needed: Stage, gas: int) -> None:
    if status.stage != needed:
        is_, needs = STAGE_NAMES[status.stage], STAGE_NAMES[needed]
        raise Revert(f"AssetRegistry: wrong stage: is {is_}, needs {needs}", gas)


def block_time(env: BlockEnv | None, reason: str, gas: int) -> int:
    if env is None:
        raise Revert(reason, gas)
    return env.timestamp


def issuer_at(state: StateOverlay, sender: bytes, word: bytes, needed: Stage, gas: int) -> tuple[int, Status]:
    """The common prologue of an issuer's lifecycle step: the asset exists, is the caller's, and is at
    `needed`."""
    asset_id = existing_asset(state, word, gas)
    require_issuer(state, asset_id, sender, gas)
    status = read_status(state, asset_id)
    require_stage(status, needed, gas)
    return asset_id, status


def advance(state: StateOverlay, asset_id: int, status: Status, stage: Stage, by: bytes) -> Log:
    """Write the next stage; returns its `AssetStageChanged` log."""
    set_field(state, asset_id, F_STATUS, replace(status, stage=stage).packed())
    topics = [ASSET_STAGE_CHANGED, abi.uint_word(asset_id), abi.address_word(by)]
    return Log(ASSET_REGISTRY, topics, abi.uint_word(stage))


# --- compliance on token movements ------------------------------------------------------------------
def holder_delta(
    state: StateOverlay, token_address: bytes, src: bytes | None, dst: bytes, amount: int
) -> int:
    """How the holder count changes when `amount` moves from `src` (None: minted) to `dst`."""
    if amount == 0 or src == dst:
        return 0
    gained = token.balance_of(state, token_address, dst) == 0
    lost = src is not None and token.balance_of(state, token_address, src) == amount
    return int(gained) - int(lost)


def _check_limits(
    state: StateOverlay, rules: Rules, token_address: bytes, dst: bytes, amount: int, delta: int, gas: int
) -> None:
    """The recipient's balance and the holder count stay within the issuer's rules."""
    if rules.max_balance and token.balance_of(state, token_address, dst) + amount > rules.max_balance:
        raise Revert(BALANCE_LIMIT, gas)
    holders = state.get(holder_count_key(token_address))
    if delta > 0 and rules.max_holders and holders + delta > rules.max_holders:
        raise Revert(MAX_HOLDERS, gas)


def count_holders(state: StateOverlay, token_address: bytes, delta: int) -> None:
    if delta:
        key = holder_count_key(token_address)
        state.set(key, state.get(key) + delta)


def _check_claims(state: StateOverlay, asset_id: int, holder: bytes, env: BlockEnv | None, gas: int) -> None:
    """The recipient's identity claims meet the asset's requirements (nothing to check by default)."""
    needs = read_requirements(state, asset_id)
    if not (needs.require_kyc or needs.min_investor_class or needs.jurisdiction):
        return
    claims = read_claims(state, holder)
    if needs.require_kyc and claims.kyc_expiry <= block_time(env, TOKEN_NO_BLOCK, gas):
        raise Revert(KYC_EXPIRED, gas)
    if claims.investor_class < needs.min_investor_class:
        raise Revert(CLASS_TOO_LOW, gas)
    if needs.jurisdiction and claims.jurisdiction != needs.jurisdiction:
        raise Revert(WRONG_JURISDICTION, gas)


def before_transfer(
    state: StateOverlay,
    token_address: bytes,
    src: bytes,
    dst: bytes,
    amount: int,
    env: BlockEnv | None,
    gas: int,
) -> None:
    """token.py's hook: a lifecycle token moves only while Trading, within the rules and its unfrozen
    balance; counts holders and settles both sides' revenue.

    Returns at once for tokens without an asset. Called after the allowlist and balance checks, before
    the balances change.
    """
    asset_id = asset_of_token(state, token_address)
    if not asset_id:
        return
    status = read_status(state, asset_id)
    if status.stage != Stage.TRADING:
        raise Revert(NOT_TRADING, gas)
    if status.paused:
        raise Revert(PAUSED, gas)
    if is_frozen(state, asset_id, src):
        raise Revert(SENDER_FROZEN, gas)
    if is_frozen(state, asset_id, dst):
        raise Revert(RECIPIENT_FROZEN, gas)
    if amount > token.balance_of(state, token_address, src) - frozen_tokens(state, asset_id, src):
        raise Revert(EXCEEDS_UNFROZEN, gas)
    rules = read_rules(state, asset_id)
    if rules.lockup_until and block_time(env, TOKEN_NO_BLOCK, gas) < rules.lockup_until:
        raise Revert(LOCKED_UP, gas)
    _check_claims(state, asset_id, dst, env, gas)
    if src == dst:
        return
    delta = holder_delta(state, token_address, src, dst, amount)
    _check_limits(state, rules, token_address, dst, amount, delta, gas)
    count_holders(state, token_address, delta)
    cashflow.settle(state, asset_id, token_address, src)
    cashflow.settle(state, asset_id, token_address, dst)


# --- lifecycle --------------------------------------------------------------------------------------
def register_asset(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Anyone may register an asset; the caller becomes its issuer."""
    gas = OP_GAS["assets.registerAsset"]
    originator_word, class_word, metadata, documents = abi.words(data, 4)
    originator, asset_class = abi.word_address(originator_word), uint_arg(class_word, 8)
    if originator == ZERO_ADDRESS:
        raise Revert(ZERO_ORIGINATOR, gas)
    asset_id = asset_count(state) + 1
    state.set(asset_field_key(0, COUNT_FIELD), asset_id)
    set_field(state, asset_id, F_STATUS, Status(Stage.REGISTERED, asset_class).packed())
    set_field(state, asset_id, F_ISSUER, int.from_bytes(sender, "big"))
    set_field(state, asset_id, F_ORIGINATOR, int.from_bytes(originator, "big"))
    for fields, commitment in (((F_META_HI, F_META_LO), metadata), ((F_DOCS_HI, F_DOCS_LO), documents)):
        for field, half in zip(fields, split_u256(int.from_bytes(commitment, "big")), strict=True):
            set_field(state, asset_id, field, half)
    topics = [ASSET_REGISTERED, abi.uint_word(asset_id), abi.address_word(sender), originator_word]
    registered = Log(ASSET_REGISTRY, topics, abi.uint_word(asset_class) + metadata + documents)
    stage_log = Log(
        ASSET_REGISTRY,
        [ASSET_STAGE_CHANGED, abi.uint_word(asset_id), abi.address_word(sender)],
        abi.uint_word(Stage.REGISTERED),
    )
    return CallResult(gas, abi.uint_word(asset_id), [registered, stage_log])


def structure_asset(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer: fix the terms (tranche, maturity, target yield, supply cap)."""
    gas = OP_GAS["assets.structureAsset"]
    id_word, tranche_word, maturity_word, yield_word, cap_word = abi.words(data, 5)
    tranche, maturity = uint_arg(tranche_word, 8), uint_arg(maturity_word, 64)
    target_yield, supply_cap = uint_arg(yield_word, 32), uint_arg(cap_word, 128)
    asset_id, status = issuer_at(state, sender, id_word, Stage.REGISTERED, gas)
    if supply_cap == 0:
        raise Revert(ZERO_CAP, gas)
    set_field(state, asset_id, F_TERMS, tranche | maturity << 8 | target_yield << 72)
    set_field(state, asset_id, F_SUPPLY_CAP, supply_cap)
    return CallResult(gas, b"", [advance(state, asset_id, status, Stage.STRUCTURED, sender)])


def tokenize_asset(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer, once an auditor has attested the asset: create its token; returns the token address."""
    gas = OP_GAS["assets.tokenizeAsset"]
    types = ["uint256", "string", "string", "uint8"]
    raw_id, name, symbol, decimals = registry.decode_token_strings(types, data)
    asset_id, status = issuer_at(state, sender, abi.uint_word(raw_id), Stage.STRUCTURED, gas)
    if auditor_attestation_count(state, asset_id) == 0:
        raise Revert(NO_AUDIT, gas)
    address, created = registry.new_token(state, sender, name, symbol, decimals, gas)
    set_field(state, asset_id, F_TOKEN, int.from_bytes(address, "big"))
    state.set(token_asset_key(address), asset_id)
    logs = [created, advance(state, asset_id, status, Stage.TOKENIZED, sender)]
    return CallResult(gas, abi.address_word(address), logs)


def approve_issuance(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Compliance officer: clear a tokenized asset for issuance (the stage does not change)."""
    gas = OP_GAS["assets.approveIssuance"]
    (id_word,) = abi.words(data, 1)
    asset_id = existing_asset(state, id_word, gas)
    if not is_compliance_officer(state, sender):
        raise Revert(NOT_OFFICER, gas)
    status = read_status(state, asset_id)
    require_stage(status, Stage.TOKENIZED, gas)
    set_field(state, asset_id, F_STATUS, replace(status, approved=True).packed())
    log = Log(ASSET_REGISTRY, [ISSUANCE_APPROVED, id_word, abi.address_word(sender)], b"")
    return CallResult(gas, b"", [log])


def open_issuance(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer, after approval: open the subscription window `[start, end)` with per-investor limits and
    the price of one unit (wei per smallest unit; 0 = free)."""
    gas = OP_GAS["assets.openIssuance"]
    id_word, start_word, end_word, min_word, max_word, price_word = abi.words(data, 6)
    start, end = uint_arg(start_word, 64), uint_arg(end_word, 64)
    minimum, maximum = uint_arg(min_word, 128), uint_arg(max_word, 128)
    price = uint_arg(price_word, 128)
    asset_id, status = issuer_at(state, sender, id_word, Stage.TOKENIZED, gas)
    if not status.approved:
        raise Revert(NOT_APPROVED, gas)
    if start >= end:
        raise Revert(EMPTY_WINDOW, gas)
    if maximum == 0 or minimum > maximum:
        raise Revert(BAD_LIMITS, gas)
    set_field(state, asset_id, F_WINDOW, start | end << 64)
    set_field(state, asset_id, F_MIN_SUBSCRIPTION, minimum)
    set_field(state, asset_id, F_MAX_SUBSCRIPTION, maximum)
    set_field(state, asset_id, F_PRICE, price)
    opened = Log(ASSET_REGISTRY, [ISSUANCE_OPENED, id_word], b"".join(abi.words(data, 6)[1:]))
    return CallResult(gas, b"", [opened, advance(state, asset_id, status, Stage.ISSUING, sender)])


def subscribe(
    state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None, value: int
) -> CallResult:
    """An allowlisted investor, inside the window, paying exactly `amount * price` wei: mint `amount` to
    the caller. The payment goes straight on to the issuer (the registry keeps none of it)."""
    gas = OP_GAS["assets.subscribe"]
    id_word, amount_word = abi.words(data, 2)
    amount = uint_arg(amount_word, 128)
    asset_id = existing_asset(state, id_word, gas)
    status = read_status(state, asset_id)
    require_stage(status, Stage.ISSUING, gas)
    now = block_time(env, NO_BLOCK, gas)
    if not is_allowed(state, sender):
        raise Revert(NOT_ELIGIBLE, gas)
    window = get_field(state, asset_id, F_WINDOW)
    if now < window & LOW64:
        raise Revert(NOT_STARTED, gas)
    if now >= window >> 64:
        raise Revert(ENDED, gas)
    if amount == 0:
        raise Revert(ZERO_AMOUNT, gas)
    price = get_field(state, asset_id, F_PRICE)
    if value != amount * price:
        raise Revert(f"AssetRegistry: wrong payment: sent {value} wei, price is {amount * price} wei", gas)
    total = state.get(subscription_key(asset_id, sender)) + amount
    if total > get_field(state, asset_id, F_MAX_SUBSCRIPTION):
        raise Revert(ABOVE_MAX, gas)
    if total < get_field(state, asset_id, F_MIN_SUBSCRIPTION):
        raise Revert(BELOW_MIN, gas)
    token_address = address_field(state, asset_id, F_TOKEN)
    supply = state.get(token_field_key(token_address, token.FIELD_TOTAL_SUPPLY))
    if supply + amount > get_field(state, asset_id, F_SUPPLY_CAP):
        raise Revert(CAP_EXCEEDED, gas)
    if status.paused:
        raise Revert(PAUSED, gas)
    if is_frozen(state, asset_id, sender):
        raise Revert(RECIPIENT_FROZEN, gas)
    _check_claims(state, asset_id, sender, env, gas)
    delta = holder_delta(state, token_address, None, sender, amount)
    _check_limits(state, read_rules(state, asset_id), token_address, sender, amount, delta, gas)
    count_holders(state, token_address, delta)
    state.set(subscription_key(asset_id, sender), total)
    cashflow.settle(state, asset_id, token_address, sender)
    minted = token.issue(state, token_address, sender, amount, gas)
    if value:
        sub_balance(state, ASSET_REGISTRY, value)
        add_balance(state, address_field(state, asset_id, F_ISSUER), value)
    log = Log(
        ASSET_REGISTRY,
        [SUBSCRIBED, id_word, abi.address_word(sender)],
        abi.uint_word(amount) + abi.uint_word(value),
    )
    return CallResult(gas, b"", [minted, log])


def start_trading(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer, once the subscription window has ended: let the token trade."""
    gas = OP_GAS["assets.startTrading"]
    (id_word,) = abi.words(data, 1)
    asset_id, status = issuer_at(state, sender, id_word, Stage.ISSUING, gas)
    if block_time(env, NO_BLOCK, gas) < get_field(state, asset_id, F_WINDOW) >> 64:
        raise Revert(STILL_OPEN, gas)
    return CallResult(gas, b"", [advance(state, asset_id, status, Stage.TRADING, sender)])


# --- rules and agent actions ------------------------------------------------------------------------
def set_asset_rules(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer, at any stage: holder cap, balance cap per holder, lock-up end (0 = none for each)."""
    gas = OP_GAS["assets.setAssetRules"]
    id_word, holders_word, balance_word, lockup_word = abi.words(data, 4)
    max_holders, max_balance = uint_arg(holders_word, 32), uint_arg(balance_word, 128)
    lockup_until = uint_arg(lockup_word, 64)
    asset_id = existing_asset(state, id_word, gas)
    require_issuer(state, asset_id, sender, gas)
    set_field(state, asset_id, F_RULES, max_holders | lockup_until << 32)
    set_field(state, asset_id, F_MAX_BALANCE, max_balance)
    log = Log(ASSET_REGISTRY, [ASSET_RULES_SET, id_word], holders_word + balance_word + lockup_word)
    return CallResult(gas, b"", [log])


def set_investor_requirements(
    state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None
) -> CallResult:
    """Issuer, at any stage: the identity claims a subscriber or transfer recipient needs (KYC not
    expired, an investor class at least `minInvestorClass`, jurisdiction `jurisdiction` unless 0)."""
    gas = OP_GAS["assets.setInvestorRequirements"]
    id_word, kyc_word, class_word, jurisdiction_word = abi.words(data, 4)
    require_kyc, min_class = abi.word_bool(kyc_word), uint_arg(class_word, 8)
    jurisdiction = uint_arg(jurisdiction_word, 16)
    asset_id = existing_asset(state, id_word, gas)
    require_issuer(state, asset_id, sender, gas)
    set_field(state, asset_id, F_REQUIREMENTS, int(require_kyc) | min_class << 8 | jurisdiction << 16)
    log = Log(ASSET_REGISTRY, [REQUIREMENTS_SET, id_word], kyc_word + class_word + jurisdiction_word)
    return CallResult(gas, b"", [log])


def set_agent(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer: grant or take away an agent, who may freeze, pause and force transfers."""
    gas = OP_GAS["assets.setAgent"]
    id_word, agent_word, enabled_word = abi.words(data, 3)
    agent, enabled = abi.word_address(agent_word), abi.word_bool(enabled_word)
    asset_id = existing_asset(state, id_word, gas)
    require_issuer(state, asset_id, sender, gas)
    state.set(agent_key(asset_id, agent), int(enabled))
    log = Log(ASSET_REGISTRY, [AGENT_SET, id_word, agent_word], abi.bool_word(enabled))
    return CallResult(gas, b"", [log])


def freeze(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Agent: freeze or unfreeze a holder of the asset's token (neither side of a transfer)."""
    gas = OP_GAS["assets.freeze"]
    id_word, holder_word, frozen_word = abi.words(data, 3)
    holder, frozen = abi.word_address(holder_word), abi.word_bool(frozen_word)
    asset_id = existing_asset(state, id_word, gas)
    require_agent(state, asset_id, sender, gas)
    state.set(frozen_key(asset_id, holder), int(frozen))
    topics = [ADDRESS_FROZEN, id_word, holder_word, abi.address_word(sender)]
    return CallResult(gas, b"", [Log(ASSET_REGISTRY, topics, abi.bool_word(frozen))])


def pause_asset(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Agent: stop (or restart) every transfer and subscription of the asset's token."""
    gas = OP_GAS["assets.pauseAsset"]
    id_word, paused_word = abi.words(data, 2)
    paused = abi.word_bool(paused_word)
    asset_id = existing_asset(state, id_word, gas)
    require_agent(state, asset_id, sender, gas)
    status = read_status(state, asset_id)
    set_field(state, asset_id, F_STATUS, replace(status, paused=paused).packed())
    topics = [ASSET_PAUSED, id_word, abi.address_word(sender)]
    return CallResult(gas, b"", [Log(ASSET_REGISTRY, topics, abi.bool_word(paused))])


def forced_transfer(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Agent: move a holder's units (court order). Stage, pause, freeze, lock-up and the holder/balance
    caps do not apply; the recipient must still be allowlisted. Units beyond the holder's unfrozen
    balance are unfrozen first (ERC-3643), with a `TokensUnfrozen` log."""
    gas = OP_GAS["assets.forcedTransfer"]
    id_word, from_word, to_word, amount_word = abi.words(data, 4)
    src, dst, amount = abi.word_address(from_word), abi.word_address(to_word), uint_arg(amount_word, 128)
    asset_id = existing_asset(state, id_word, gas)
    require_agent(state, asset_id, sender, gas)
    token_address = token_of(state, asset_id, gas)
    token.check_recipient(state, dst, gas)
    balance = token.balance_of(state, token_address, src)
    if amount > balance:
        raise Revert("ERC20: transfer amount exceeds balance", gas)
    logs = []
    frozen = frozen_tokens(state, asset_id, src)
    if amount > balance - frozen:
        released = amount - (balance - frozen)
        state.set(frozen_tokens_key(asset_id, src), frozen - released)
        logs.append(_tokens_frozen_log(TOKENS_UNFROZEN, id_word, from_word, released, sender))
    logs.append(_move_settled(state, asset_id, token_address, src, dst, amount, gas))
    topics = [FORCED_TRANSFER, id_word, from_word, to_word]
    logs.append(Log(ASSET_REGISTRY, topics, abi.uint_word(amount) + abi.address_word(sender)))
    return CallResult(gas, b"", logs)


def token_of(state: StateOverlay, asset_id: int, gas: int) -> bytes:
    """The asset's token; reverts before tokenization."""
    token_address = address_field(state, asset_id, F_TOKEN)
    if token_address == ZERO_ADDRESS:
        raise Revert(NOT_TOKENIZED, gas)
    return token_address


def _move_settled(
    state: StateOverlay, asset_id: int, token_address: bytes, src: bytes, dst: bytes, amount: int, gas: int
) -> Log:
    """An agent's balance move: revenue settled on both sides and the holder count kept."""
    count_holders(state, token_address, holder_delta(state, token_address, src, dst, amount))
    cashflow.settle(state, asset_id, token_address, src)
    cashflow.settle(state, asset_id, token_address, dst)
    return token.move_balance(state, token_address, src, dst, amount, gas)


def _tokens_frozen_log(topic: bytes, id_word: bytes, holder_word: bytes, amount: int, agent: bytes) -> Log:
    return Log(ASSET_REGISTRY, [topic, id_word, holder_word], abi.uint_word(amount) + abi.address_word(agent))


def _partial_freeze(unfreeze: bool) -> AssetFunction:
    """Agent: freeze part of a holder's balance (it stays with the holder but cannot be transferred), or
    unfreeze some of what is frozen (ERC-3643 `freezePartialTokens` / `unfreezePartialTokens`)."""
    op = "assets.unfreezePartialTokens" if unfreeze else "assets.freezePartialTokens"

    def call(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
        gas = OP_GAS[op]
        id_word, holder_word, amount_word = abi.words(data, 3)
        holder, amount = abi.word_address(holder_word), uint_arg(amount_word, 128)
        asset_id = existing_asset(state, id_word, gas)
        require_agent(state, asset_id, sender, gas)
        token_address = token_of(state, asset_id, gas)
        if amount == 0:
            raise Revert(ZERO_AMOUNT, gas)
        frozen = frozen_tokens(state, asset_id, holder)
        if unfreeze:
            if amount > frozen:
                raise Revert(UNFREEZE_EXCEEDS_FROZEN, gas)
            frozen -= amount
        else:
            if frozen + amount > token.balance_of(state, token_address, holder):
                raise Revert(FREEZE_EXCEEDS_BALANCE, gas)
            frozen += amount
        state.set(frozen_tokens_key(asset_id, holder), frozen)
        topic = TOKENS_UNFROZEN if unfreeze else TOKENS_FROZEN
        return CallResult(gas, b"", [_tokens_frozen_log(topic, id_word, holder_word, amount, sender)])

    return call


def recovery_address(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Agent: move everything a holder who lost its key had in this asset to its new wallet (ERC-3643
    `recoveryAddress`): the balance, the frozen units and address freeze, and unclaimed revenue. The
    new wallet must be allowlisted and meet the asset's claim requirements (the identity admin moves the
    identity first with `recoverIdentity`); stage, pause, lock-up and the caps do not apply."""
    gas = OP_GAS["assets.recoveryAddress"]
    id_word, lost_word, new_word = abi.words(data, 3)
    lost, new = abi.word_address(lost_word), abi.word_address(new_word)
    asset_id = existing_asset(state, id_word, gas)
    require_agent(state, asset_id, sender, gas)
    token_address = token_of(state, asset_id, gas)
    if lost == new:
        raise Revert(SAME_WALLET, gas)
    balance = token.balance_of(state, token_address, lost)
    if balance == 0:
        raise Revert(NOTHING_TO_RECOVER, gas)
    token.check_recipient(state, new, gas)
    _check_claims(state, asset_id, new, env, gas)
    moved = _move_settled(state, asset_id, token_address, lost, new, balance, gas)
    cashflow.move_owed(state, asset_id, lost, new)
    frozen = frozen_tokens(state, asset_id, lost)
    if frozen:
        state.set(frozen_tokens_key(asset_id, lost), 0)
        key = frozen_tokens_key(asset_id, new)
        state.set(key, state.get(key) + frozen)
    if is_frozen(state, asset_id, lost):
        state.set(frozen_key(asset_id, new), 1)
    topics = [RECOVERY_SUCCESS, id_word, lost_word, new_word]
    return CallResult(
        gas, abi.bool_word(True), [moved, Log(ASSET_REGISTRY, topics, abi.address_word(sender))]
    )


# --- views ------------------------------------------------------------------------------------------
def view_asset(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """(stage, issuer, originator, assetClass, metadataCommitment, documentsCommitment, tranche,
    maturity, targetYieldBps, supplyCap, token)."""
    (id_word,) = abi.words(data, 1)
    asset_id = existing_asset(state, id_word, DISPATCH_GAS)
    status = read_status(state, asset_id)
    terms = get_field(state, asset_id, F_TERMS)
    words = [
        abi.uint_word(status.stage),
        abi.address_word(address_field(state, asset_id, F_ISSUER)),
        abi.address_word(address_field(state, asset_id, F_ORIGINATOR)),
        abi.uint_word(status.asset_class),
        (get_field(state, asset_id, F_META_HI) << 128 | get_field(state, asset_id, F_META_LO)).to_bytes(
            32, "big"
        ),
        (get_field(state, asset_id, F_DOCS_HI) << 128 | get_field(state, asset_id, F_DOCS_LO)).to_bytes(
            32, "big"
        ),
        abi.uint_word(terms & 0xFF),
        abi.uint_word(terms >> 8 & LOW64),
        abi.uint_word(terms >> 72),
        abi.uint_word(get_field(state, asset_id, F_SUPPLY_CAP)),
        abi.address_word(address_field(state, asset_id, F_TOKEN)),
    ]
    return CallResult(DISPATCH_GAS, b"".join(words))


def view_issuance(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """(approved, start, end, minSubscription, maxSubscription, price)."""
    (id_word,) = abi.words(data, 1)
    asset_id = existing_asset(state, id_word, DISPATCH_GAS)
    window = get_field(state, asset_id, F_WINDOW)
    answer = (
        abi.bool_word(read_status(state, asset_id).approved)
        + abi.uint_word(window & LOW64)
        + abi.uint_word(window >> 64)
        + abi.uint_word(get_field(state, asset_id, F_MIN_SUBSCRIPTION))
        + abi.uint_word(get_field(state, asset_id, F_MAX_SUBSCRIPTION))
        + abi.uint_word(get_field(state, asset_id, F_PRICE))
    )
    return CallResult(DISPATCH_GAS, answer)


def view_rules(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """(maxHolders, maxBalancePerHolder, lockupUntil, paused, holderCount)."""
    (id_word,) = abi.words(data, 1)
    asset_id = existing_asset(state, id_word, DISPATCH_GAS)
    rules = read_rules(state, asset_id)
    holders = state.get(holder_count_key(address_field(state, asset_id, F_TOKEN)))
    answer = (
        abi.uint_word(rules.max_holders)
        + abi.uint_word(rules.max_balance)
        + abi.uint_word(rules.lockup_until)
        + abi.bool_word(read_status(state, asset_id).paused)
        + abi.uint_word(holders)
    )
    return CallResult(DISPATCH_GAS, answer)


def view_requirements(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """(requireKyc, minInvestorClass, jurisdiction)."""
    (id_word,) = abi.words(data, 1)
    needs = read_requirements(state, existing_asset(state, id_word, DISPATCH_GAS))
    answer = abi.bool_word(needs.require_kyc) + abi.uint_word(needs.min_investor_class)
    return CallResult(DISPATCH_GAS, answer + abi.uint_word(needs.jurisdiction))


def _per_address(read: Callable[[StateOverlay, int, bytes], int]) -> AssetFunction:
    """A view of one (asset, address) leaf."""

    def call(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
        id_word, address_word = abi.words(data, 2)
        asset_id = existing_asset(state, id_word, DISPATCH_GAS)
        return CallResult(DISPATCH_GAS, abi.uint_word(read(state, asset_id, abi.word_address(address_word))))

    return call


def view_asset_count(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    abi.words(data, 0)
    return CallResult(DISPATCH_GAS, abi.uint_word(asset_count(state)))


def view_asset_of_token(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    (token_word,) = abi.words(data, 1)
    return CallResult(DISPATCH_GAS, abi.uint_word(asset_of_token(state, abi.word_address(token_word))))


FUNCTIONS: dict[bytes, AssetFunction] = {
    abi.selector("registerAsset(address,uint8,bytes32,bytes32)"): register_asset,
    abi.selector("structureAsset(uint256,uint8,uint64,uint32,uint128)"): structure_asset,
    abi.selector("tokenizeAsset(uint256,string,string,uint8)"): tokenize_asset,
    abi.selector("approveIssuance(uint256)"): approve_issuance,
    abi.selector("openIssuance(uint256,uint64,uint64,uint128,uint128,uint128)"): open_issuance,
    abi.selector("startTrading(uint256)"): start_trading,
    abi.selector("setAssetRules(uint256,uint32,uint128,uint64)"): set_asset_rules,
    abi.selector("setInvestorRequirements(uint256,bool,uint8,uint16)"): set_investor_requirements,
    abi.selector("setAgent(uint256,address,bool)"): set_agent,
    abi.selector("freeze(uint256,address,bool)"): freeze,
    abi.selector("pauseAsset(uint256,bool)"): pause_asset,
    abi.selector("forcedTransfer(uint256,address,address,uint128)"): forced_transfer,
    abi.selector("freezePartialTokens(uint256,address,uint128)"): _partial_freeze(unfreeze=False),
    abi.selector("unfreezePartialTokens(uint256,address,uint128)"): _partial_freeze(unfreeze=True),
    abi.selector("recoveryAddress(uint256,address,address)"): recovery_address,
    abi.selector("asset(uint256)"): view_asset,
    abi.selector("issuance(uint256)"): view_issuance,
    abi.selector("assetRules(uint256)"): view_rules,
    abi.selector("investorRequirements(uint256)"): view_requirements,
    abi.selector("assetCount()"): view_asset_count,
    abi.selector("assetOfToken(address)"): view_asset_of_token,
    abi.selector("subscribed(uint256,address)"): _per_address(
        lambda state, asset_id, investor: state.get(subscription_key(asset_id, investor))
    ),
    abi.selector("isFrozen(uint256,address)"): _per_address(
        lambda state, asset_id, holder: int(is_frozen(state, asset_id, holder))
    ),
    abi.selector("isAgent(uint256,address)"): _per_address(
        lambda state, asset_id, agent: int(is_agent(state, asset_id, agent))
    ),
    abi.selector("frozenTokens(uint256,address)"): _per_address(frozen_tokens),
}
PAYABLE_FUNCTIONS: dict[bytes, PayableAssetFunction] = {
    abi.selector("subscribe(uint256,uint128)"): subscribe,
}
