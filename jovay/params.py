"""Protocol constants: chain ids, system addresses, the gas schedule, fee and size limits.

One place for every number the state transition function and the node agree on. The gas schedule is
documented in docs/gas.md; change both together.
"""

from __future__ import annotations

from typing import Final

# --- chains -----------------------------------------------------------------------------------------
DEFAULT_L2_CHAIN_ID: Final = 202611
DEFAULT_L1_CHAIN_ID: Final = 31337  # anvil's default

# --- system addresses (ASCII "Jovay" = 0x4a6f766179 as prefix) --------------------------------------
SYSTEM_PREFIX: Final = bytes.fromhex("4a6f766179")
IDENTITY_REGISTRY: Final = bytes.fromhex("4a6f766179000000000000000000000000000001")
ASSET_REGISTRY: Final = bytes.fromhex("4a6f766179000000000000000000000000000002")
L2_BRIDGE: Final = bytes.fromhex("4a6f766179000000000000000000000000000003")
ATTESTATION_REGISTRY: Final = bytes.fromhex("4a6f766179000000000000000000000000000004")
FEE_VAULT: Final = bytes.fromhex("4a6f7661790000000000000000000000000000fe")
TOKEN_ADDRESS_PREFIX: Final = bytes.fromhex("4a6f76617901")  # + 14-byte big-endian token id
ZERO_ADDRESS: Final = bytes(20)

# --- gas schedule (docs/gas.md) ---------------------------------------------------------------------
TX_BASE_GAS: Final = 21_000
TX_DATA_ZERO_GAS: Final = 4
TX_DATA_NONZERO_GAS: Final = 16
ACCESS_LIST_ADDRESS_GAS: Final = 2_400
ACCESS_LIST_STORAGE_KEY_GAS: Final = 1_900
DISPATCH_GAS: Final = 5_000  # unknown selector or malformed calldata to a system contract
OP_GAS: Final = {
    "token.transfer": 30_000,
    "token.transferFrom": 36_000,
    "token.approve": 24_000,
    "token.mint": 40_000,
    "identity.setAllowed": 25_000,
    "identity.setComplianceOfficer": 25_000,
    "identity.setClaims": 25_000,
    "registry.createToken": 100_000,
    "attestations.registerAttestor": 50_000,
    "attestations.revokeAttestor": 25_000,
    "attestations.attest": 60_000,
    "assets.registerAsset": 80_000,
    "assets.structureAsset": 40_000,
    "assets.tokenizeAsset": 120_000,
    "assets.approveIssuance": 25_000,
    "assets.openIssuance": 40_000,
    "assets.subscribe": 60_000,
    "assets.startTrading": 25_000,
    "assets.redeem": 30_000,
    "assets.closeAsset": 30_000,
    "assets.setAssetRules": 40_000,
    "assets.setInvestorRequirements": 25_000,
    "assets.setAgent": 25_000,
    "assets.freeze": 25_000,
    "assets.pauseAsset": 25_000,
    "assets.forcedTransfer": 45_000,
    "assets.freezePartialTokens": 25_000,
    "assets.unfreezePartialTokens": 25_000,
    "assets.recoveryAddress": 60_000,
    "assets.depositRevenue": 40_000,
    "assets.claimRevenue": 40_000,
    "assets.claimRedemption": 50_000,
    "identity.setRegulator": 25_000,
    "identity.recoverIdentity": 35_000,
    "bridge.withdraw": 40_000,
}

# --- fees (EIP-1559) --------------------------------------------------------------------------------
BLOCK_GAS_LIMIT: Final = 400_000_000
ELASTICITY_MULTIPLIER: Final = 2
BASE_FEE_CHANGE_DENOMINATOR: Final = 8
MIN_BASE_FEE: Final = 10_000_000  # 0.01 gwei: the floor an idle chain settles at
GENESIS_BASE_FEE: Final = MIN_BASE_FEE
SUGGESTED_PRIORITY_FEE: Final = 1_000_000  # 0.001 gwei

# --- limits -----------------------------------------------------------------------------------------
MAX_TX_SIZE: Final = 128 * 1024  # geth's txMaxSize
MAX_UINT128: Final = (1 << 128) - 1
MAX_UINT256: Final = (1 << 256) - 1
UNLIMITED_ALLOWANCE: Final = 1 << 128  # stored value meaning "approve(type(uint256).max)"
MAX_NONCE: Final = (1 << 64) - 2
MAX_STRING_BYTES: Final = 30  # token name / symbol, packed into one field element
