// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./OneStepState.sol";
import "./OneStepProofAttestations.sol";

/// @title The asset registry's cash flows, for OneStepProof
/// @notice OneStepProof calls `run` (a view call, its state arrays in and out) for every asset-registry
///         function it does not run itself, so both contracts stay under the code-size limit. Covered here,
///         by the rules of jovay/stf/cashflow.py: depositRevenue and redeem (payable: the call's ETH is
///         already on the registry's account), claimRevenue, claimRedemption, closeAsset; and by those of
///         jovay/stf/assets.py: registerAsset, structureAsset, approveIssuance, openIssuance, subscribe
///         (payable) and startTrading; and by those of jovay/stf/registry.py: createToken and (assets.py)
///         tokenizeAsset, both through `new_token`. Any other selector reverts
///         "OneStepProof: operation not supported". Calls to the attestation registry go on to
///         OneStepProofAttestations.
contract OneStepProofAssets is OneStepState {
    uint256 internal constant F_TERMS = 7;
    uint256 internal constant F_TOKEN_OF_ASSET = 9;
    uint256 internal constant F_REDEMPTION_POOL = 17;
    uint256 internal constant F_REVENUE_REMAINDER = 19;
    uint256 internal constant F_REVENUE_PERIODS = 20;
    uint256 internal constant F_REVENUE_TOTAL = 21;
    uint256 internal constant F_MIN_SUBSCRIPTION = 11;
    uint256 internal constant F_MAX_SUBSCRIPTION = 12;
    uint256 internal constant F_PRICE = 16;
    uint256 internal constant F_SUPPLY_CAP = 8;
    uint256 internal constant DOMAIN_SUBSCRIPTION = 21;
    uint256 internal constant F_ORIGINATOR = 2;
    uint256 internal constant F_META_HI = 3;
    uint256 internal constant STAGE_REGISTERED = 0;
    uint256 internal constant STAGE_STRUCTURED = 1;
    uint256 internal constant STAGE_REDEEMED = 5;
    uint256 internal constant STAGE_CLOSED = 6;
    uint256 internal constant MAX_PER_UNIT = 1 << 192;
    bytes4 internal constant SEL_DEPOSIT_REVENUE = bytes4(keccak256("depositRevenue(uint256)"));
    bytes4 internal constant SEL_REDEEM = bytes4(keccak256("redeem(uint256)"));
    bytes4 internal constant SEL_CLAIM_REVENUE = bytes4(keccak256("claimRevenue(uint256,address)"));
    bytes4 internal constant SEL_CLAIM_REDEMPTION = bytes4(keccak256("claimRedemption(uint256,address)"));
    bytes4 internal constant SEL_OPEN_ISSUANCE =
        bytes4(keccak256("openIssuance(uint256,uint64,uint64,uint128,uint128,uint128)"));
    bytes4 internal constant SEL_SUBSCRIBE = bytes4(keccak256("subscribe(uint256,uint128)"));
    bytes4 internal constant SEL_REGISTER_ASSET = bytes4(keccak256("registerAsset(address,uint8,bytes32,bytes32)"));
    bytes4 internal constant SEL_STRUCTURE_ASSET =
        bytes4(keccak256("structureAsset(uint256,uint8,uint64,uint32,uint128)"));
    bytes4 internal constant SEL_CLOSE_ASSET = bytes4(keccak256("closeAsset(uint256)"));

    /// @notice The asset registry's fixed address (its account holds every pool and deposit).
    address public immutable assetRegistry;
    /// @notice OP_GAS of depositRevenue, redeem, claimRevenue, claimRedemption, closeAsset.
    uint256 public immutable gasDepositRevenue;
    uint256 public immutable gasRedeem;
    uint256 public immutable gasClaimRevenue;
    uint256 public immutable gasClaimRedemption;
    uint256 public immutable gasCloseAsset;
    /// @notice OP_GAS of approveIssuance and startTrading.
    uint256 public immutable gasApproveIssuance;
    uint256 public immutable gasStartTrading;
    uint256 public immutable gasOpenIssuance;
    uint256 public immutable gasSubscribe;
    uint256 public immutable gasRegisterAsset;
    uint256 public immutable gasStructureAsset;
    /// @notice OP_GAS of createToken and tokenizeAsset.
    uint256 public immutable gasCreateToken;
    uint256 public immutable gasTokenizeAsset;
    /// @notice Runs the attestation registry's functions (jovay/stf/attestations.py).
    OneStepProofAttestations public immutable attestationSteps;

    constructor(
        address[3] memory hashers,
        address assetRegistry_,
        uint256[13] memory gas,
        OneStepProofAttestations attestationSteps_
    ) OneStepState(hashers) {
        assetRegistry = assetRegistry_;
        attestationSteps = attestationSteps_;
        (gasDepositRevenue, gasRedeem, gasClaimRevenue) = (gas[0], gas[1], gas[2]);
        (gasClaimRedemption, gasCloseAsset) = (gas[3], gas[4]);
        (gasApproveIssuance, gasStartTrading, gasOpenIssuance) = (gas[5], gas[6], gas[7]);
        (gasSubscribe, gasRegisterAsset, gasStructureAsset) = (gas[8], gas[9], gas[10]);
        (gasCreateToken, gasTokenizeAsset) = (gas[11], gas[12]);
    }

    /// @notice One asset-registry call by `sender` with `data` and `value` over the step's state `st`:
    ///         (gas the call used, whether it succeeded, the leaves' values after it). The caller undoes a
    ///         failed call's writes.
    function run(State memory st, address to, address sender, bytes memory data, uint256 value)
        external
        view
        returns (uint256 gas, bool ok, uint256[] memory cur)
    {
        bytes4 selector = bytes4(data);
        if (to != assetRegistry) {
            return attestationSteps.run(st, sender, data); // the attestation registry
        } else if (selector == SEL_DEPOSIT_REVENUE) {
            (gas, ok) = _depositRevenue(st, sender, data, value);
        } else if (selector == SEL_REDEEM) {
            (gas, ok) = _redeem(st, sender, data, value);
        } else if (selector == SEL_CLAIM_REVENUE) {
            (gas, ok) = _claimRevenue(st, data);
        } else if (selector == SEL_CLAIM_REDEMPTION) {
            (gas, ok) = _claimRedemption(st, data);
        } else if (selector == SEL_CLOSE_ASSET) {
            (gas, ok) = _closeAsset(st, sender, data);
        } else if (selector == SEL_APPROVE_ISSUANCE || selector == SEL_START_TRADING) {
            (gas, ok) = _issuanceStep(st, sender, data, selector == SEL_APPROVE_ISSUANCE);
        } else if (selector == SEL_OPEN_ISSUANCE) {
            (gas, ok) = _openIssuance(st, sender, data);
        } else if (selector == SEL_SUBSCRIBE) {
            (gas, ok) = _subscribe(st, sender, data, value);
        } else if (selector == SEL_REGISTER_ASSET) {
            (gas, ok) = _registerAsset(st, sender, data);
        } else if (selector == SEL_STRUCTURE_ASSET) {
            (gas, ok) = _structureAsset(st, sender, data);
        } else if (selector == SEL_CREATE_TOKEN) {
            (gas, ok) = _createToken(st, sender, data);
        } else if (selector == SEL_TOKENIZE_ASSET) {
            (gas, ok) = _tokenizeAsset(st, sender, data);
        } else {
            revert("OneStepProof: operation not supported");
        }
        return (gas, ok, st.cur);
    }

    /// @dev cashflow.py `deposit_revenue`: the issuer, Trading, sends the next period's revenue.
    function _depositRevenue(State memory st, address sender, bytes memory data, uint256 value)
        private
        view
        returns (uint256, bool)
    {
        if (data.length != 36) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_issuerAt(st, assetId, sender, STAGE_TRADING) || value == 0) {
            return (gasDepositRevenue, false);
        }
        uint256 supply = _get(st, _tokenFieldKey(_tokenOf(st, assetId), FIELD_TOTAL_SUPPLY));
        if (supply == 0) {
            return (gasDepositRevenue, false);
        }
        uint256 scaled = (value << REVENUE_SCALE_BITS) + _field(st, assetId, F_REVENUE_REMAINDER);
        uint256 perUnit = _field(st, assetId, F_REVENUE_PER_UNIT) + scaled / supply;
        if (perUnit >= MAX_PER_UNIT) {
            return (gasDepositRevenue, false);
        }
        _setField(st, assetId, F_REVENUE_PER_UNIT, perUnit);
        _setField(st, assetId, F_REVENUE_REMAINDER, scaled % supply);
        _setField(st, assetId, F_REVENUE_PERIODS, _field(st, assetId, F_REVENUE_PERIODS) + 1);
        _setField(st, assetId, F_REVENUE_TOTAL, _field(st, assetId, F_REVENUE_TOTAL) + value);
        return (gasDepositRevenue, true);
    }

    /// @dev cashflow.py `claim_revenue`: anyone, for an unfrozen holder of a tokenized asset.
    function _claimRevenue(State memory st, bytes memory data) private view returns (uint256, bool) {
        uint256 gas = gasClaimRevenue;
        if (data.length != 68 || _word(data, 1) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        (uint256 assetId, address holder) = (_word(data, 0), address(uint160(_word(data, 1))));
        if (!_exists(st, assetId)) {
            return (gas, false);
        }
        address token = _tokenOf(st, assetId);
        if (token == address(0) || _get(st, _perHolderKey(DOMAIN_FROZEN, assetId, holder)) == 1) {
            return (gas, false);
        }
        _settle(st, assetId, token, holder);
        uint256 owedKey = _perHolderKey(DOMAIN_REVENUE_OWED, assetId, holder);
        uint256 owed = _get(st, owedKey);
        if (owed == 0) {
            return (gas, false);
        }
        _set(st, owedKey, 0);
        _pay(st, holder, owed);
        return (gas, true);
    }

    /// @dev cashflow.py `redeem`: the issuer, Trading, at or after maturity, funds the pool: Redeemed.
    function _redeem(State memory st, address sender, bytes memory data, uint256 value)
        private
        view
        returns (uint256, bool)
    {
        uint256 gas = gasRedeem;
        if (data.length != 36) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_issuerAt(st, assetId, sender, STAGE_TRADING)) {
            return (gas, false);
        }
        uint256 maturity = (_field(st, assetId, F_TERMS) >> 8) & type(uint64).max;
        if (st.timestamp < maturity || value == 0) {
            return (gas, false);
        }
        _setField(st, assetId, F_REDEMPTION_POOL, value);
        _advance(st, assetId, STAGE_REDEEMED);
        return (gas, true);
    }

    /// @dev cashflow.py `claim_redemption`: anyone, for a holder of a Redeemed asset: its units burnt and
    ///      paid `units * pool / supply`.
    function _claimRedemption(State memory st, bytes memory data) private view returns (uint256, bool) {
        if (data.length != 68 || _word(data, 1) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_exists(st, assetId) || _field(st, assetId, F_STATUS) & 0xFF != STAGE_REDEEMED) {
            return (gasClaimRedemption, false);
        }
        return (gasClaimRedemption, _redeemUnits(st, assetId, address(uint160(_word(data, 1)))));
    }

    /// @dev The holder (unfrozen, no frozen units) is paid its share of the pool and its units burnt.
    function _redeemUnits(State memory st, uint256 assetId, address holder) private view returns (bool) {
        address token = _tokenOf(st, assetId);
        if (token == address(0) || _get(st, _perHolderKey(DOMAIN_FROZEN, assetId, holder)) == 1) {
            return false;
        }
        if (_get(st, _perHolderKey(DOMAIN_FROZEN_TOKENS, assetId, holder)) != 0) {
            return false;
        }
        uint256 units = _get(st, _tokenBalanceKey(token, holder));
        if (units == 0) {
            return false;
        }
        _settle(st, assetId, token, holder);
        uint256 supplyKey = _tokenFieldKey(token, FIELD_TOTAL_SUPPLY);
        uint256 supply = _get(st, supplyKey);
        uint256 pool = _field(st, assetId, F_REDEMPTION_POOL);
        uint256 payout = (units * pool) / supply;
        _setField(st, assetId, F_REDEMPTION_POOL, pool - payout);
        _set(st, supplyKey, supply - units);
        _set(st, _tokenBalanceKey(token, holder), 0);
        uint256 holdersKey = Poseidon.hash2(_hashers(), DOMAIN_HOLDER_COUNT, uint160(token));
        _set(st, holdersKey, _get(st, holdersKey) - 1);
        _pay(st, holder, payout);
        return true;
    }

    /// @dev cashflow.py `close_asset`: the issuer, Redeemed, no units outstanding: Closed, the pool's
    ///      remainder back to the issuer.
    function _closeAsset(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        uint256 gas = gasCloseAsset;
        if (data.length != 36) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_issuerAt(st, assetId, sender, STAGE_REDEEMED)) {
            return (gas, false);
        }
        if (_get(st, _tokenFieldKey(_tokenOf(st, assetId), FIELD_TOTAL_SUPPLY)) != 0) {
            return (gas, false);
        }
        uint256 left = _field(st, assetId, F_REDEMPTION_POOL);
        if (left != 0) {
            _setField(st, assetId, F_REDEMPTION_POOL, 0);
            _pay(st, sender, left);
        }
        _advance(st, assetId, STAGE_CLOSED);
        return (gas, true);
    }

    /// @dev assets.py `approve_issuance` (a compliance officer clears a Tokenized asset: status bit 16)
    ///      and `start_trading` (the issuer, Issuing, once the window has ended: Trading).
    function _issuanceStep(State memory st, address sender, bytes memory data, bool approve)
        private
        view
        returns (uint256, bool)
    {
        uint256 gas = approve ? gasApproveIssuance : gasStartTrading;
        if (data.length != 36) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!approve) {
            if (!_issuerAt(st, assetId, sender, STAGE_ISSUING) || st.timestamp < _field(st, assetId, F_WINDOW) >> 64) {
                return (gas, false);
            }
            _advance(st, assetId, STAGE_TRADING);
            return (gas, true);
        }
        if (!_exists(st, assetId) || _get(st, Poseidon.hash2(_hashers(), DOMAIN_COMPLIANCE_OFFICER, uint160(sender))) != 1) {
            return (gas, false);
        }
        uint256 status = _field(st, assetId, F_STATUS);
        if (status & 0xFF != STAGE_TOKENIZED) {
            return (gas, false);
        }
        _setField(st, assetId, F_STATUS, (status & 0x3FFFF) | (1 << 16));
        return (gas, true);
    }

    /// @dev assets.py `open_issuance`: the issuer of an approved Tokenized asset opens the window
    ///      [start, end) with per-investor limits and a unit price: Issuing.
    function _openIssuance(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        if (data.length != 196 || (_word(data, 1) | _word(data, 2)) >> 64 != 0) {
            return (DISPATCH_GAS, false);
        }
        (uint256 start, uint256 end, uint256 minimum, uint256 maximum) =
            (_word(data, 1), _word(data, 2), _word(data, 3), _word(data, 4));
        if ((minimum | maximum | _word(data, 5)) >> 128 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_issuerAt(st, assetId, sender, STAGE_TOKENIZED) || (_field(st, assetId, F_STATUS) >> 16) & 1 == 0) {
            return (gasOpenIssuance, false);
        }
        if (start >= end || maximum == 0 || minimum > maximum) {
            return (gasOpenIssuance, false);
        }
        _setField(st, assetId, F_WINDOW, start | (end << 64));
        _setField(st, assetId, F_MIN_SUBSCRIPTION, minimum);
        _setField(st, assetId, F_MAX_SUBSCRIPTION, maximum);
        _setField(st, assetId, F_PRICE, _word(data, 5));
        _advance(st, assetId, STAGE_ISSUING);
        return (gasOpenIssuance, true);
    }

    /// @dev assets.py `subscribe` (payable): an allowlisted investor, inside the window, paying exactly
    ///      `amount * price`, within its limits: `amount` minted to it, the payment on to the issuer.
    function _subscribe(State memory st, address sender, bytes memory data, uint256 value)
        private
        view
        returns (uint256, bool)
    {
        if (data.length != 68 || _word(data, 1) >> 128 != 0) {
            return (DISPATCH_GAS, false);
        }
        (uint256 assetId, uint256 amount) = (_word(data, 0), _word(data, 1));
        if (!_exists(st, assetId) || _field(st, assetId, F_STATUS) & 0xFF != STAGE_ISSUING) {
            return (gasSubscribe, false);
        }
        if (_get(st, _allowlistKey(sender)) != 1) {
            return (gasSubscribe, false);
        }
        uint256 window = _field(st, assetId, F_WINDOW);
        if (st.timestamp < window & type(uint64).max || st.timestamp >= window >> 64 || amount == 0) {
            return (gasSubscribe, false);
        }
        if (value != amount * _field(st, assetId, F_PRICE)) {
            return (gasSubscribe, false);
        }
        uint256 subscriptionKey = _perHolderKey(DOMAIN_SUBSCRIPTION, assetId, sender);
        uint256 total = _get(st, subscriptionKey) + amount;
        if (total > _field(st, assetId, F_MAX_SUBSCRIPTION) || total < _field(st, assetId, F_MIN_SUBSCRIPTION)) {
            return (gasSubscribe, false);
        }
        if (!_issueUnits(st, assetId, sender, amount)) {
            return (gasSubscribe, false);
        }
        _set(st, subscriptionKey, total);
        _pay(st, address(uint160(_field(st, assetId, F_ISSUER_OF_ASSET))), value);
        return (gasSubscribe, true);
    }

    /// @dev The rest of `subscribe`: the supply cap, pause, freeze, claims, balance and holder limits, the
    ///      holder count, settlement, and token.py `issue` (supply within uint128).
    function _issueUnits(State memory st, uint256 assetId, address investor, uint256 amount) private view returns (bool) {
        address token = _tokenOf(st, assetId);
        uint256 supplyKey = _tokenFieldKey(token, FIELD_TOTAL_SUPPLY);
        uint256 supply = _get(st, supplyKey) + amount;
        if (supply > _field(st, assetId, F_SUPPLY_CAP) || (_field(st, assetId, F_STATUS) >> 17) & 1 == 1) {
            return false;
        }
        if (_get(st, _perHolderKey(DOMAIN_FROZEN, assetId, investor)) == 1) {
            return false;
        }
        if (!_claimsMeetRequirements(st, assetId, investor)) {
            return false;
        }
        uint256 balanceKey = _tokenBalanceKey(token, investor);
        uint256 balance = _get(st, balanceKey);
        uint256 maxBalance = _field(st, assetId, F_MAX_BALANCE);
        if (maxBalance != 0 && balance + amount > maxBalance) {
            return false;
        }
        if (balance == 0 && !_addHolder(st, assetId, token)) {
            return false;
        }
        _settle(st, assetId, token, investor);
        if (supply > MAX_UINT128) {
            return false;
        }
        _set(st, supplyKey, supply);
        _set(st, balanceKey, balance + amount);
        return true;
    }

    /// @dev assets.py `_check_limits` and `count_holders` for a new holder: false beyond the holder limit.
    function _addHolder(State memory st, uint256 assetId, address token) private view returns (bool) {
        uint256 holdersKey = Poseidon.hash2(_hashers(), DOMAIN_HOLDER_COUNT, uint160(token));
        uint256 holders = _get(st, holdersKey);
        uint256 maxHolders = _field(st, assetId, F_RULES) & 0xFFFFFFFF;
        if (maxHolders != 0 && holders + 1 > maxHolders) {
            return false;
        }
        _set(st, holdersKey, holders + 1);
        return true;
    }

    /// @dev assets.py `register_asset`: anyone registers the next asset (Registered, of its class) and
    ///      becomes its issuer; the two commitments stored as 128-bit halves.
    function _registerAsset(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        if (data.length != 132 || _word(data, 0) >> 160 != 0 || _word(data, 1) >> 8 != 0) {
            return (DISPATCH_GAS, false);
        }
        if (_word(data, 0) == 0) {
            return (gasRegisterAsset, false); // zero originator
        }
        uint256 countKey = _assetFieldKey(0, 0);
        uint256 assetId = _get(st, countKey) + 1;
        _set(st, countKey, assetId);
        _setField(st, assetId, F_STATUS, STAGE_REGISTERED | (_word(data, 1) << 8));
        _setField(st, assetId, F_ISSUER_OF_ASSET, uint160(sender));
        _setField(st, assetId, F_ORIGINATOR, _word(data, 0));
        for (uint256 i = 0; i < 2; ++i) {
            uint256 commitment = _word(data, 2 + i);
            _setField(st, assetId, F_META_HI + 2 * i, commitment >> 128);
            _setField(st, assetId, F_META_HI + 2 * i + 1, commitment & MAX_UINT128);
        }
        return (gasRegisterAsset, true);
    }

    /// @dev assets.py `structure_asset`: the issuer fixes the terms of a Registered asset: Structured.
    function _structureAsset(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        if (data.length != 164 || _word(data, 1) >> 8 != 0 || _word(data, 2) >> 64 != 0) {
            return (DISPATCH_GAS, false);
        }
        if (_word(data, 3) >> 32 != 0 || _word(data, 4) >> 128 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_issuerAt(st, assetId, sender, STAGE_REGISTERED) || _word(data, 4) == 0) {
            return (gasStructureAsset, false);
        }
        _setField(st, assetId, F_TERMS, _word(data, 1) | (_word(data, 2) << 8) | (_word(data, 3) << 72));
        _setField(st, assetId, F_SUPPLY_CAP, _word(data, 4));
        _advance(st, assetId, STAGE_STRUCTURED);
        return (gasStructureAsset, true);
    }

    // --- assets.py helpers ---------------------------------------------------------------------------

    /// @dev assets.py `issuer_at`: the asset exists, is the sender's and is at `stage`.
    function _issuerAt(State memory st, uint256 assetId, address sender, uint256 stage) private view returns (bool) {
        return _exists(st, assetId) && _isIssuer(st, assetId, sender) && _field(st, assetId, F_STATUS) & 0xFF == stage;
    }

    function _exists(State memory st, uint256 assetId) private view returns (bool) {
        return assetId != 0 && assetId <= _get(st, _assetFieldKey(0, 0));
    }

    function _tokenOf(State memory st, uint256 assetId) private view returns (address) {
        return address(uint160(_field(st, assetId, F_TOKEN_OF_ASSET)));
    }

    /// @dev assets.py `advance`: the stage byte changes, the rest of the status stays.
    function _advance(State memory st, uint256 assetId, uint256 stage) private view {
        _setField(st, assetId, F_STATUS, (_field(st, assetId, F_STATUS) & 0x3FF00) | stage);
    }

    function _field(State memory st, uint256 assetId, uint256 field) private view returns (uint256) {
        return _get(st, _assetFieldKey(assetId, field));
    }

    function _setField(State memory st, uint256 assetId, uint256 field, uint256 value) private view {
        _set(st, _assetFieldKey(assetId, field), value);
    }

    /// @dev cashflow.py `_pay`: ETH out of the registry's account.
    function _pay(State memory st, address to, uint256 amount) private view {
        if (amount != 0) {
            (uint256 nonce, uint256 balance) = _account(st, assetRegistry);
            require(balance >= amount, "OneStepProof: registry balance short");
            _setAccount(st, assetRegistry, nonce, balance - amount);
            require(_addBalance(st, to, amount), "OneStepProof: balance overflow");
        }
    }

    // --- createToken and tokenizeAsset (registry.py create_token and new_token, assets.py tokenize_asset)

    bytes4 internal constant SEL_CREATE_TOKEN = bytes4(keccak256("createToken(string,string,uint8)"));
    bytes4 internal constant SEL_TOKENIZE_ASSET = bytes4(keccak256("tokenizeAsset(uint256,string,string,uint8)"));
    uint256 internal constant FIELD_NAME = 1;
    uint256 internal constant FIELD_SYMBOL = 2;
    uint256 internal constant FIELD_DECIMALS = 3;
    uint256 internal constant DOMAIN_AUDITOR_ATTESTATION_COUNT = 27;
    uint256 internal constant MAX_STRING_BYTES = 30; // params.py MAX_STRING_BYTES
    uint256 internal constant STRING_LENGTH_SHIFT = 240; // keys.py pack_string: length above 30 bytes

    /// @dev registry.py `create_token`: (name, symbol, decimals); the caller becomes the new token's issuer.
    function _createToken(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        (bool decoded, uint256 name, uint256 symbol) = _tokenStrings(data, 3, 0);
        if (!decoded || _word(data, 2) >> 8 != 0) {
            return (DISPATCH_GAS, false);
        }
        if (name == 0 || symbol == 0) {
            return (gasCreateToken, false);
        }
        _newToken(st, sender, name, symbol, _word(data, 2));
        return (gasCreateToken, true);
    }

    /// @dev assets.py `tokenize_asset`: the issuer of a Structured asset that an auditor has attested creates
    ///      its token (registry.py `new_token`), linked both ways to the asset: Tokenized.
    function _tokenizeAsset(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        (bool decoded, uint256 name, uint256 symbol) = _tokenStrings(data, 4, 1);
        if (!decoded || _word(data, 3) >> 8 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(data, 0);
        if (!_issuerAt(st, assetId, sender, STAGE_STRUCTURED)) {
            return (gasTokenizeAsset, false);
        }
        if (_get(st, _auditorAttestationsKey(assetId)) == 0 || name == 0 || symbol == 0) {
            return (gasTokenizeAsset, false);
        }
        address token = _newToken(st, sender, name, symbol, _word(data, 3));
        _setField(st, assetId, F_TOKEN_OF_ASSET, uint160(token));
        _set(st, _tokenAssetKey(token), assetId);
        _advance(st, assetId, STAGE_TOKENIZED);
        return (gasTokenizeAsset, true);
    }

    /// @dev attestations.py `auditor_attestations_key`: P(27, the asset id's high and low 128 bits).
    function _auditorAttestationsKey(uint256 assetId) private view returns (uint256) {
        return Poseidon.hash3(_hashers(), DOMAIN_AUDITOR_ATTESTATION_COUNT, assetId >> 128, assetId & MAX_UINT128);
    }

    /// @dev registry.py `new_token`: the next token number, its address `TOKEN_ADDRESS_PREFIX || number`, and
    ///      its issuer, name, symbol and decimals (name and symbol already packed).
    function _newToken(State memory st, address issuer, uint256 name, uint256 symbol, uint256 decimals)
        private
        view
        returns (address token)
    {
        uint256 countKey = _systemFieldKey(FIELD_TOKEN_COUNT);
        uint256 tokenId = _get(st, countKey) + 1;
        _set(st, countKey, tokenId);
        token = address(uint160((uint256(uint48(TOKEN_ADDRESS_PREFIX)) << 112) | tokenId));
        _set(st, _tokenFieldKey(token, FIELD_ISSUER), uint160(issuer));
        _set(st, _tokenFieldKey(token, FIELD_NAME), name);
        _set(st, _tokenFieldKey(token, FIELD_SYMBOL), symbol);
        _set(st, _tokenFieldKey(token, FIELD_DECIMALS), decimals);
    }

    /// @dev The two `string` arguments whose offsets are head words `first` and `first + 1` of a head of
    ///      `headWords` words: `decoded` false where eth_abi's strict decoder refuses the calldata (registry.py
    ///      `decode_token_strings`); each string packed as keys.py `pack_string`, or 0 where registry.py
    ///      `_checked_string` refuses it (empty, longer than 30 bytes, or not UTF-8).
    function _tokenStrings(bytes memory data, uint256 headWords, uint256 first)
        private
        pure
        returns (bool decoded, uint256 name, uint256 symbol)
    {
        if (data.length < 4 + 32 * headWords) {
            return (false, 0, 0);
        }
        bool nameOk;
        bool symbolOk;
        (nameOk, name) = _stringArg(data, _word(data, first), headWords);
        (symbolOk, symbol) = _stringArg(data, _word(data, first + 1), headWords);
        return (nameOk && symbolOk, name, symbol);
    }

    /// @dev eth_abi's strict `bytes` decoding at `offset` (from the first argument): the offset past the head
    ///      and inside the arguments, the length word and the bytes padded to 32 inside them, the padding zero.
    ///      Returns whether it decodes, and the packed string (0 where `_checked_string` refuses it).
    function _stringArg(bytes memory data, uint256 offset, uint256 headWords)
        private
        pure
        returns (bool decoded, uint256 packed)
    {
        uint256 size = data.length - 4;
        if (offset < 32 * headWords || offset >= size || size - offset < 32) {
            return (false, 0);
        }
        uint256 length = _argumentAt(data, offset);
        uint256 room = size - offset - 32;
        // (the first test keeps the rounding from overflowing)
        if (length > room || ((length + 31) / 32) * 32 > room) {
            return (false, 0);
        }
        uint256 used = length % 32; // string bytes in its last word
        if (used != 0 && _argumentAt(data, offset + 32 + length - used) << (8 * used) != 0) {
            return (false, 0); // dirty padding
        }
        if (length == 0 || length > MAX_STRING_BYTES) {
            return (true, 0);
        }
        uint256 text = _argumentAt(data, offset + 32); // zero past `length`: checked above
        if (!_isUtf8(text, length)) {
            return (true, 0);
        }
        return (true, (length << STRING_LENGTH_SHIFT) | (text >> 16));
    }

    /// @dev Python's strict UTF-8 decoding (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF)
    ///      of the first `length` bytes of `text`.
    function _isUtf8(uint256 text, uint256 length) private pure returns (bool) {
        uint256 i = 0;
        while (i < length) {
            uint256 lead = uint8(bytes32(text)[i]);
            (uint256 tail, uint256 low, uint256 high) = (0, 0x80, 0xBF);
            if (lead >= 0xC2 && lead <= 0xDF) {
                tail = 1;
            } else if (lead >= 0xE0 && lead <= 0xEF) {
                (tail, low, high) = (2, lead == 0xE0 ? 0xA0 : 0x80, lead == 0xED ? 0x9F : 0xBF);
            } else if (lead >= 0xF0 && lead <= 0xF4) {
                (tail, low, high) = (3, lead == 0xF0 ? 0x90 : 0x80, lead == 0xF4 ? 0x8F : 0xBF);
            } else if (lead >= 0x80) {
                return false;
            }
            if (i + tail >= length) {
                return false; // truncated sequence
            }
            for (uint256 k = 1; k <= tail; ++k) {
                uint256 next = uint8(bytes32(text)[i + k]);
                if (next < low || next > high) {
                    return false;
                }
                (low, high) = (0x80, 0xBF);
            }
            i += tail + 1;
        }
        return true;
    }

    /// @dev The 32 bytes at byte `offset` of the arguments (after the selector); callers check the bounds.
    function _argumentAt(bytes memory data, uint256 offset) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := mload(add(data, add(36, offset)))
        }
    }
}
