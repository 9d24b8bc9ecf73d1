// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./SparseMerkle.sol";

/// @title The state a one-step proof works on, shared by OneStepProof and OneStepProofAssets
/// @notice The witnessed leaves (keys, values before and now), the state-key derivations (jovay/state/keys.py)
///         and the few rules both contracts apply (revenue settlement). A missing leaf reverts.
abstract contract OneStepState {
    /// @dev The step's view of the state: the witnessed leaves, their values before and now.
    struct State {
        uint256[] keys;
        uint256[] pre;
        uint256[] cur;
        uint256 timestamp; // the item's block time (lock-ups, KYC expiry)
    }

    uint256 internal constant ITEM_TRANSACTION = 1;
    uint256 internal constant ITEM_DEPOSIT = 2;
    uint256 internal constant DOMAIN_ACCOUNT = 1;
    uint256 internal constant DOMAIN_SYSTEM_FIELD = 6;
    uint256 internal constant FIELD_TOKEN_COUNT = 1;
    uint256 internal constant FIELD_NEXT_L1_MESSAGE = 2;
    uint256 internal constant FIELD_NEXT_WITHDRAWAL = 3;
    uint256 internal constant DOMAIN_WITHDRAWAL = 33;
    uint256 internal constant WITHDRAWAL_INDEX_LIMIT = 1 << 64;
    uint256 internal constant TX_BASE_GAS = 21_000;
    uint256 internal constant TX_DATA_ZERO_GAS = 4;
    uint256 internal constant TX_DATA_NONZERO_GAS = 16;
    uint256 internal constant ACCESS_LIST_ADDRESS_GAS = 2_400;
    uint256 internal constant ACCESS_LIST_STORAGE_KEY_GAS = 1_900;
    uint256 internal constant DISPATCH_GAS = 5_000;
    uint256 internal constant MAX_UINT128 = type(uint128).max;
    uint256 internal constant MAX_NONCE = type(uint64).max - 1;
    bytes6 internal constant TOKEN_ADDRESS_PREFIX = 0x4a6f76617901;
    bytes4 internal constant SEL_TRANSFER = bytes4(keccak256("transfer(address,uint256)"));
    bytes4 internal constant SEL_TRANSFER_FROM = bytes4(keccak256("transferFrom(address,address,uint256)"));
    bytes4 internal constant SEL_APPROVE = bytes4(keccak256("approve(address,uint256)"));
    bytes4 internal constant SEL_MINT = bytes4(keccak256("mint(address,uint256)"));
    uint256 internal constant UNLIMITED_ALLOWANCE = 1 << 128;
    uint256 internal constant FIELD_ISSUER = 0;
    uint256 internal constant FIELD_TOTAL_SUPPLY = 4;
    uint256 internal constant DOMAIN_TOKEN_BALANCE = 2;
    uint256 internal constant DOMAIN_ALLOWANCE = 3;
    uint256 internal constant DOMAIN_TOKEN_FIELD = 4;
    uint256 internal constant DOMAIN_ALLOWLIST = 5;
    uint256 internal constant DOMAIN_TOKEN_ASSET = 24;
    uint256 internal constant DOMAIN_COMPLIANCE_OFFICER = 26;
    uint256 internal constant DOMAIN_CLAIMS = 28;
    uint256 internal constant DOMAIN_ASSET_FIELD = 20;
    uint256 internal constant DOMAIN_FROZEN = 23;
    uint256 internal constant DOMAIN_HOLDER_COUNT = 25;
    uint256 internal constant DOMAIN_REVENUE_CHECKPOINT = 29;
    uint256 internal constant DOMAIN_REVENUE_OWED = 30;
    uint256 internal constant DOMAIN_FROZEN_TOKENS = 31;
    uint256 internal constant F_STATUS = 0;
    uint256 internal constant F_RULES = 13;
    uint256 internal constant F_MAX_BALANCE = 14;
    uint256 internal constant F_REQUIREMENTS = 15;
    uint256 internal constant F_REVENUE_PER_UNIT = 18;
    uint256 internal constant STAGE_TRADING = 4;
    uint256 internal constant REVENUE_SCALE_BITS = 64;
    uint256 internal constant FIELD_IDENTITY_ADMIN = 0;
    bytes4 internal constant SEL_SET_ALLOWED = bytes4(keccak256("setAllowed(address,bool)"));
    bytes4 internal constant SEL_SET_COMPLIANCE_OFFICER = bytes4(keccak256("setComplianceOfficer(address,bool)"));
    bytes4 internal constant SEL_SET_CLAIMS = bytes4(keccak256("setClaims(address,uint16,uint8,uint64)"));
    bytes4 internal constant SEL_SET_REGULATOR = bytes4(keccak256("setRegulator(address,bool)"));
    bytes4 internal constant SEL_RECOVER_IDENTITY = bytes4(keccak256("recoverIdentity(address,address)"));
    uint256 internal constant DOMAIN_REGULATOR = 32;
    uint256 internal constant DOMAIN_AGENT = 22;
    uint256 internal constant F_ISSUER_OF_ASSET = 1;
    uint256 internal constant F_TOKEN = 9;
    bytes4 internal constant SEL_SET_ASSET_RULES = bytes4(keccak256("setAssetRules(uint256,uint32,uint128,uint64)"));
    bytes4 internal constant SEL_SET_REQUIREMENTS =
        bytes4(keccak256("setInvestorRequirements(uint256,bool,uint8,uint16)"));
    bytes4 internal constant SEL_SET_AGENT = bytes4(keccak256("setAgent(uint256,address,bool)"));
    bytes4 internal constant SEL_FREEZE = bytes4(keccak256("freeze(uint256,address,bool)"));
    bytes4 internal constant SEL_PAUSE = bytes4(keccak256("pauseAsset(uint256,bool)"));
    bytes4 internal constant SEL_FREEZE_PARTIAL = bytes4(keccak256("freezePartialTokens(uint256,address,uint128)"));
    bytes4 internal constant SEL_FORCED_TRANSFER = bytes4(keccak256("forcedTransfer(uint256,address,address,uint128)"));
    bytes4 internal constant SEL_RECOVERY_ADDRESS = bytes4(keccak256("recoveryAddress(uint256,address,address)"));
    bytes4 internal constant SEL_APPROVE_ISSUANCE = bytes4(keccak256("approveIssuance(uint256)"));
    bytes4 internal constant SEL_START_TRADING = bytes4(keccak256("startTrading(uint256)"));
    uint256 internal constant F_WINDOW = 10;
    uint256 internal constant STAGE_TOKENIZED = 2;
    uint256 internal constant STAGE_ISSUING = 3;
    bytes4 internal constant SEL_UNFREEZE_PARTIAL =
        bytes4(keccak256("unfreezePartialTokens(uint256,address,uint128)"));

    address public immutable poseidon2;
    address public immutable poseidon3;
    address public immutable poseidon4;

    constructor(address[3] memory hashers) {
        (poseidon2, poseidon3, poseidon4) = (hashers[0], hashers[1], hashers[2]);
    }

    /// @dev Calldata argument word `i` (0-based); callers check the calldata's length first.
    function _word(bytes memory data, uint256 i) internal pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := mload(add(data, add(36, mul(i, 32))))
        }
    }

    /// @dev cashflow.py `settle`: credit the revenue accrued on the holder's balance since its checkpoint.
    function _settle(State memory st, uint256 assetId, address token, address holder) internal view {
        uint256 perUnit = _get(st, _assetFieldKey(assetId, F_REVENUE_PER_UNIT));
        if (perUnit == 0) {
            return;
        }
        uint256 checkpointKey = _perHolderKey(DOMAIN_REVENUE_CHECKPOINT, assetId, holder);
        uint256 checkpoint = _get(st, checkpointKey);
        if (checkpoint == perUnit) {
            return;
        }
        uint256 balance = _get(st, _tokenBalanceKey(token, holder));
        if (balance != 0) {
            uint256 owedKey = _perHolderKey(DOMAIN_REVENUE_OWED, assetId, holder);
            _set(st, owedKey, _get(st, owedKey) + ((balance * (perUnit - checkpoint)) >> REVENUE_SCALE_BITS));
        }
        _set(st, checkpointKey, perUnit);
    }

    function _assetFieldKey(uint256 assetId, uint256 field) internal view returns (uint256) {
        return Poseidon.hash3(_hashers(), DOMAIN_ASSET_FIELD, assetId, field);
    }

    /// @dev P(domain, assetId, holder): frozen, frozen tokens, revenue checkpoint and owed.
    function _perHolderKey(uint256 domain, uint256 assetId, address holder) internal view returns (uint256) {
        return Poseidon.hash3(_hashers(), domain, assetId, uint160(holder));
    }

    function _isIssuer(State memory st, uint256 assetId, address a) internal view returns (bool) {
        return _get(st, _assetFieldKey(assetId, F_ISSUER_OF_ASSET)) == uint160(a);
    }

    function _slot(State memory st, uint256 key) internal pure returns (uint256) {
        for (uint256 i = 0; i < st.keys.length; ++i) {
            if (st.keys[i] == key) {
                return i;
            }
        }
        revert("OneStepProof: missing state leaf");
    }

    function _get(State memory st, uint256 key) internal pure returns (uint256) {
        return st.cur[_slot(st, key)];
    }

    function _set(State memory st, uint256 key, uint256 value) internal pure {
        st.cur[_slot(st, key)] = value;
    }

    function _account(State memory st, address a) internal view returns (uint256 nonce, uint256 balance) {
        uint256 v = _get(st, _accountKey(a));
        return (v >> 128, v & MAX_UINT128);
    }

    function _setAccount(State memory st, address a, uint256 nonce, uint256 balance) internal view {
        _set(st, _accountKey(a), (nonce << 128) | balance);
    }

    /// @dev False (and nothing written) when the balance would pass 2^128 - 1.
    function _addBalance(State memory st, address a, uint256 amount) internal view returns (bool) {
        (uint256 nonce, uint256 balance) = _account(st, a);
        if (amount > MAX_UINT128 || balance + amount > MAX_UINT128) {
            return false;
        }
        _setAccount(st, a, nonce, balance + amount);
        return true;
    }

    function _accountKey(address a) internal view returns (uint256) {
        return Poseidon.hash2(_hashers(), DOMAIN_ACCOUNT, uint160(a));
    }

    function _tokenBalanceKey(address token, address holder) internal view returns (uint256) {
        return Poseidon.hash3(_hashers(), DOMAIN_TOKEN_BALANCE, uint160(token), uint160(holder));
    }

    function _allowanceKey(address token, address owner, address spender) internal view returns (uint256) {
        return Poseidon.hash4(_hashers(), DOMAIN_ALLOWANCE, uint160(token), uint160(owner), uint160(spender));
    }

    function _tokenFieldKey(address token, uint256 field) internal view returns (uint256) {
        return Poseidon.hash3(_hashers(), DOMAIN_TOKEN_FIELD, uint160(token), field);
    }

    function _allowlistKey(address holder) internal view returns (uint256) {
        return Poseidon.hash2(_hashers(), DOMAIN_ALLOWLIST, uint160(holder));
    }

    function _tokenAssetKey(address token) internal view returns (uint256) {
        return Poseidon.hash2(_hashers(), DOMAIN_TOKEN_ASSET, uint160(token));
    }

    function _systemFieldKey(uint256 field) internal view returns (uint256) {
        return Poseidon.hash2(_hashers(), DOMAIN_SYSTEM_FIELD, field);
    }

    function _hashers() internal view returns (Poseidon.Hashers memory) {
        return Poseidon.Hashers(poseidon2, poseidon3, poseidon4);
    }

    /// @dev assets.py `_check_claims`: KYC not expired, investor class, jurisdiction (0 = any).
    function _claimsMeetRequirements(State memory st, uint256 assetId, address holder) internal view returns (bool) {
        uint256 needs = _get(st, _assetFieldKey(assetId, F_REQUIREMENTS));
        (bool kyc, uint256 minClass, uint256 jurisdiction) = (needs & 1 == 1, (needs >> 8) & 0xFF, needs >> 16);
        if (!kyc && minClass == 0 && jurisdiction == 0) {
            return true;
        }
        uint256 claims = _get(st, Poseidon.hash2(_hashers(), DOMAIN_CLAIMS, uint160(holder)));
        if (kyc && claims >> 24 <= st.timestamp) {
            return false;
        }
        if ((claims >> 16) & 0xFF < minClass) {
            return false;
        }
        return jurisdiction == 0 || claims & 0xFFFF == jurisdiction;
    }
}
