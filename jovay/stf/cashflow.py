"""Cash flows of an asset on the asset registry (0x4a6f...0002): revenue distribution and redemption.

Revenue: the issuer deposits ETH with `depositRevenue` while the asset trades (one deposit = one
period). Holders are owed it pro rata to their balances at the moment of the deposit, with no loop over
holders: the asset keeps a cumulative revenue per unit, scaled by 2^64 (`F_REVENUE_PER_UNIT`), and each
holder a checkpoint of it (domain 29) and what it has been credited so far (domain 30). Every balance
change of a lifecycle token first `settle`s both sides: `owed += balance * (perUnit - checkpoint) >>
64; checkpoint = perUnit`. `claimRevenue` settles and pays out what is owed. A deposit's remainder
below one scaled unit per token (`amount * 2^64 mod supply`) is carried into the next deposit, so only
the floor of each holder's credit is lost: less than 1 wei per holder per settlement, left in the
registry's balance.

Redemption: at or after maturity (block timestamp) the issuer funds a redemption pool with `redeem`
(payable), which moves the asset to Redeemed and so stops transfers. Each holder's units are then
burnt and paid with `claimRedemption` (anyone may submit it; the ETH goes to the holder):
`payout = units * pool / supply` with the pool and supply that remain, so the last holder to claim
receives whatever rounding left over and nothing stays behind. `closeAsset` needs every unit
redeemed and returns what is left in the pool (all of it if no units were outstanding) to the issuer.

Every operation reads and writes a fixed number of leaves; all products fit in uint256.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Final

from jovay.codec import abi
from jovay.crypto.poseidon import poseidon
from jovay.params import ASSET_REGISTRY, DISPATCH_GAS, OP_GAS, ZERO_ADDRESS
from jovay.state.keys import (
    DOMAIN_REVENUE_CHECKPOINT,
    DOMAIN_REVENUE_OWED,
    token_balance_key,
    token_field_key,
)
from jovay.state.overlay import StateOverlay
from jovay.stf import assets, token  # a cycle: assets calls settle; both used inside functions only
from jovay.stf.accounts import add_balance, sub_balance
from jovay.stf.results import CallResult, Log, Revert

if TYPE_CHECKING:
    from jovay.stf.assets import AssetFunction, PayableAssetFunction
    from jovay.stf.transaction import BlockEnv

SCALE_BITS: Final = 64
MAX_PER_UNIT: Final = 1 << 192  # keeps the accumulator a field element and its products in uint256
_KEY_CACHE_SIZE: Final = 1 << 14

NO_REVENUE_SENT: Final = "AssetRegistry: no revenue sent"
NO_UNITS: Final = "AssetRegistry: no units outstanding"
ACCUMULATOR_FULL: Final = "AssetRegistry: revenue accumulator full"
NOTHING_TO_CLAIM: Final = "AssetRegistry: no revenue to claim"
HOLDER_FROZEN: Final = "AssetRegistry: holder frozen"
HAS_FROZEN_TOKENS: Final = "AssetRegistry: holder has frozen tokens"
EMPTY_POOL: Final = "AssetRegistry: redemption pool is empty"
NOTHING_TO_REDEEM: Final = "AssetRegistry: nothing to redeem"

REVENUE_DEPOSITED: Final = abi.event_topic("RevenueDeposited(uint256,uint256,uint256,uint256)")
REVENUE_CLAIMED: Final = abi.event_topic("RevenueClaimed(uint256,address,uint256)")
REDEMPTION_FUNDED: Final = abi.event_topic("RedemptionFunded(uint256,uint256)")
REDEEMED: Final = abi.event_topic("Redeemed(uint256,address,uint256,uint256)")
POOL_RETURNED: Final = abi.event_topic("RedemptionPoolReturned(uint256,address,uint256)")


# --- state keys -------------------------------------------------------------------------------------
@lru_cache(maxsize=_KEY_CACHE_SIZE)
def revenue_checkpoint_key(asset_id: int, holder: bytes) -> int:
    """P(29, assetId, holder): the revenue per unit (x 2^64) the holder has been credited up to."""
    return poseidon((DOMAIN_REVENUE_CHECKPOINT, asset_id, int.from_bytes(holder, "big")))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def revenue_owed_key(asset_id: int, holder: bytes) -> int:
    """P(30, assetId, holder): revenue (wei) credited to the holder and not yet claimed."""
    return poseidon((DOMAIN_REVENUE_OWED, asset_id, int.from_bytes(holder, "big")))


# --- settlement -------------------------------------------------------------------------------------
def settle(state: StateOverlay, asset_id: int, token_address: bytes, holder: bytes) -> None:
    """Credit the revenue accrued on `holder`'s current balance; call before that balance changes."""
    per_unit = assets.get_field(state, asset_id, assets.F_REVENUE_PER_UNIT)
    if per_unit == 0:
        return
    checkpoint_key = revenue_checkpoint_key(asset_id, holder)
    checkpoint = state.get(checkpoint_key)
    if checkpoint == per_unit:
        return
    balance = token.balance_of(state, token_address, holder)
    if balance:
        owed_key = revenue_owed_key(asset_id, holder)
        state.set(owed_key, state.get(owed_key) + (balance * (per_unit - checkpoint) >> SCALE_BITS))
    state.set(checkpoint_key, per_unit)


def pending_revenue(state: StateOverlay, asset_id: int, holder: bytes) -> int:
    """What `claimRevenue` would pay the holder now."""
    owed = state.get(revenue_owed_key(asset_id, holder))
    token_address = assets.address_field(state, asset_id, assets.F_TOKEN)
    if token_address == ZERO_ADDRESS:
        return owed
    per_unit = assets.get_field(state, asset_id, assets.F_REVENUE_PER_UNIT)
    checkpoint = state.get(revenue_checkpoint_key(asset_id, holder))
    balance = token.balance_of(state, token_address, holder)
    return owed + (balance * (per_unit - checkpoint) >> SCALE_BITS)


def move_owed(state: StateOverlay, asset_id: int, lost: bytes, new: bytes) -> None:
    """Recovery: the lost wallet's credited revenue goes to the new wallet (both already settled)."""
    lost_key = revenue_owed_key(asset_id, lost)
    owed = state.get(lost_key)
    if owed:
        state.set(lost_key, 0)
        new_key = revenue_owed_key(asset_id, new)
        state.set(new_key, state.get(new_key) + owed)


def _pay(state: StateOverlay, to: bytes, amount: int) -> None:
    """ETH out of the registry's account, which holds every pool and deposit until it is paid."""
    if amount:
        sub_balance(state, ASSET_REGISTRY, amount)
        add_balance(state, to, amount)


def _claimable_holder(state: StateOverlay, asset_id: int, holder: bytes, gas: int) -> None:
    if assets.is_frozen(state, asset_id, holder):
        raise Revert(HOLDER_FROZEN, gas)


# --- revenue ----------------------------------------------------------------------------------------
def deposit_revenue(
    state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None, value: int
) -> CallResult:
    """Issuer, while Trading, sending ETH: the next period's revenue, owed pro rata to today's balances.
    Returns the period number (from 1)."""
    gas = OP_GAS["assets.depositRevenue"]
    (id_word,) = abi.words(data, 1)
    asset_id, _ = assets.issuer_at(state, sender, id_word, assets.Stage.TRADING, gas)
    if value == 0:
        raise Revert(NO_REVENUE_SENT, gas)
    token_address = assets.address_field(state, asset_id, assets.F_TOKEN)
    supply = state.get(token_field_key(token_address, token.FIELD_TOTAL_SUPPLY))
    if supply == 0:
        raise Revert(NO_UNITS, gas)
    scaled = (value << SCALE_BITS) + assets.get_field(state, asset_id, assets.F_REVENUE_REMAINDER)
    per_unit = assets.get_field(state, asset_id, assets.F_REVENUE_PER_UNIT) + scaled // supply
    if per_unit >= MAX_PER_UNIT:
        raise Revert(ACCUMULATOR_FULL, gas)
    period = assets.get_field(state, asset_id, assets.F_REVENUE_PERIODS) + 1
    assets.set_field(state, asset_id, assets.F_REVENUE_PER_UNIT, per_unit)
    assets.set_field(state, asset_id, assets.F_REVENUE_REMAINDER, scaled % supply)
    assets.set_field(state, asset_id, assets.F_REVENUE_PERIODS, period)
    total = assets.get_field(state, asset_id, assets.F_REVENUE_TOTAL) + value
    assets.set_field(state, asset_id, assets.F_REVENUE_TOTAL, total)
    topics = [REVENUE_DEPOSITED, id_word, abi.uint_word(period)]
    log = Log(ASSET_REGISTRY, topics, abi.uint_word(value) + abi.uint_word(per_unit))
    return CallResult(gas, abi.uint_word(period), [log])


def claim_revenue(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Anyone, for a holder: pay the holder the revenue owed to it (all periods so far); returns wei."""
    gas = OP_GAS["assets.claimRevenue"]
    id_word, holder_word = abi.words(data, 2)
    holder = abi.word_address(holder_word)
    asset_id = assets.existing_asset(state, id_word, gas)
    token_address = assets.token_of(state, asset_id, gas)
    _claimable_holder(state, asset_id, holder, gas)
    settle(state, asset_id, token_address, holder)
    owed_key = revenue_owed_key(asset_id, holder)
    owed = state.get(owed_key)
    if owed == 0:
        raise Revert(NOTHING_TO_CLAIM, gas)
    state.set(owed_key, 0)
    _pay(state, holder, owed)
    log = Log(ASSET_REGISTRY, [REVENUE_CLAIMED, id_word, holder_word], abi.uint_word(owed))
    return CallResult(gas, abi.uint_word(owed), [log])


# --- redemption -------------------------------------------------------------------------------------
def redeem(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None, value: int) -> CallResult:
    """Issuer, Trading, at or after maturity, sending the redemption pool: the asset becomes Redeemed."""
    gas = OP_GAS["assets.redeem"]
    (id_word,) = abi.words(data, 1)
    asset_id, status = assets.issuer_at(state, sender, id_word, assets.Stage.TRADING, gas)
    maturity = assets.get_field(state, asset_id, assets.F_TERMS) >> 8 & assets.LOW64
    now = assets.block_time(env, assets.NO_BLOCK, gas)
    if now < maturity:
        raise Revert(f"AssetRegistry: not mature: maturity {maturity}, now {now}", gas)
    if value == 0:
        raise Revert(EMPTY_POOL, gas)
    assets.set_field(state, asset_id, assets.F_REDEMPTION_POOL, value)
    funded = Log(ASSET_REGISTRY, [REDEMPTION_FUNDED, id_word], abi.uint_word(value))
    return CallResult(
        gas, b"", [funded, assets.advance(state, asset_id, status, assets.Stage.REDEEMED, sender)]
    )


def claim_redemption(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Anyone, for a holder of a Redeemed asset: burn all its units and pay it their share of the pool;
    returns the wei paid."""
    gas = OP_GAS["assets.claimRedemption"]
    id_word, holder_word = abi.words(data, 2)
    holder = abi.word_address(holder_word)
    asset_id = assets.existing_asset(state, id_word, gas)
    assets.require_stage(assets.read_status(state, asset_id), assets.Stage.REDEEMED, gas)
    token_address = assets.token_of(state, asset_id, gas)
    _claimable_holder(state, asset_id, holder, gas)
    if assets.frozen_tokens(state, asset_id, holder):
        raise Revert(HAS_FROZEN_TOKENS, gas)
    units = token.balance_of(state, token_address, holder)
    if units == 0:
        raise Revert(NOTHING_TO_REDEEM, gas)
    settle(state, asset_id, token_address, holder)  # revenue owed on these units stays claimable
    supply_key = token_field_key(token_address, token.FIELD_TOTAL_SUPPLY)
    supply = state.get(supply_key)
    pool = assets.get_field(state, asset_id, assets.F_REDEMPTION_POOL)
    payout = units * pool // supply
    assets.set_field(state, asset_id, assets.F_REDEMPTION_POOL, pool - payout)
    state.set(supply_key, supply - units)
    state.set(token_balance_key(token_address, holder), 0)
    assets.count_holders(state, token_address, -1)
    _pay(state, holder, payout)
    burnt = Log(
        token_address,
        [token.TRANSFER_TOPIC, holder_word, abi.address_word(ZERO_ADDRESS)],
        abi.uint_word(units),
    )
    redeemed = Log(
        ASSET_REGISTRY, [REDEEMED, id_word, holder_word], abi.uint_word(units) + abi.uint_word(payout)
    )
    return CallResult(gas, abi.uint_word(payout), [burnt, redeemed])


def close_asset(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer, once every unit is redeemed: Closed; what is left of the pool goes back to the issuer."""
    gas = OP_GAS["assets.closeAsset"]
    (id_word,) = abi.words(data, 1)
    asset_id, status = assets.issuer_at(state, sender, id_word, assets.Stage.REDEEMED, gas)
    token_address = assets.address_field(state, asset_id, assets.F_TOKEN)
    outstanding = state.get(token_field_key(token_address, token.FIELD_TOTAL_SUPPLY))
    if outstanding:
        raise Revert(f"AssetRegistry: units outstanding: {outstanding}", gas)
    logs = []
    left = assets.get_field(state, asset_id, assets.F_REDEMPTION_POOL)
    if left:
        assets.set_field(state, asset_id, assets.F_REDEMPTION_POOL, 0)
        _pay(state, sender, left)
        logs.append(
            Log(ASSET_REGISTRY, [POOL_RETURNED, id_word, abi.address_word(sender)], abi.uint_word(left))
        )
    logs.append(assets.advance(state, asset_id, status, assets.Stage.CLOSED, sender))
    return CallResult(gas, b"", logs)


# --- views ------------------------------------------------------------------------------------------
def view_revenue_of(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """What claimRevenue(assetId, holder) would pay now."""
    id_word, holder_word = abi.words(data, 2)
    asset_id = assets.existing_asset(state, id_word, DISPATCH_GAS)
    return CallResult(
        DISPATCH_GAS, abi.uint_word(pending_revenue(state, asset_id, abi.word_address(holder_word)))
    )


def view_cash_flows(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """(revenuePeriods, revenueDeposited, revenuePerUnitX64, redemptionPool)."""
    (id_word,) = abi.words(data, 1)
    asset_id = assets.existing_asset(state, id_word, DISPATCH_GAS)
    fields = (
        assets.F_REVENUE_PERIODS,
        assets.F_REVENUE_TOTAL,
        assets.F_REVENUE_PER_UNIT,
        assets.F_REDEMPTION_POOL,
    )
    return CallResult(
        DISPATCH_GAS, b"".join(abi.uint_word(assets.get_field(state, asset_id, f)) for f in fields)
    )


FUNCTIONS: dict[bytes, AssetFunction] = {
    abi.selector("claimRevenue(uint256,address)"): claim_revenue,
    abi.selector("claimRedemption(uint256,address)"): claim_redemption,
    abi.selector("closeAsset(uint256)"): close_asset,
    abi.selector("revenueOf(uint256,address)"): view_revenue_of,
    abi.selector("cashFlows(uint256)"): view_cash_flows,
}
PAYABLE_FUNCTIONS: dict[bytes, PayableAssetFunction] = {
    abi.selector("depositRevenue(uint256)"): deposit_revenue,
    abi.selector("redeem(uint256)"): redeem,
}
