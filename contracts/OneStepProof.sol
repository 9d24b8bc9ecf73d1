// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./OneStepState.sol";
import "./OneStepProofAssets.sol";
import "./TxDecoder.sol";

/// @notice The Bridge's L1 message queue, to authenticate a deposit item.
interface IDepositQueue {
    function queueLength() external view returns (uint256);

    function rollingHashAt(uint256 position) external view returns (bytes32);
}

/// @title One step of the L2 state machine, executed on L1
/// @notice Runs item `index` of a committed batch over an agreed state root and returns the state root
///         after it, by the rules of jovay/stf (the single source of truth; tests/prover holds them equal):
///         1. the item is shown at its index under the batch's item commitment (keccak Merkle proof whose
///            length is fixed by the item count), with its block environment;
///         2. every state leaf the step reads or writes comes with a Poseidon SMT proof; the leaves are
///            checked and rewritten one after the other against the running root (SparseMerkle.update), so
///            the result is the root of exactly the state the step leaves;
///         3. a transaction is decoded strictly and its sender recovered with `ecrecover` (TxDecoder); an
///            invalid transaction (bad encoding or signature, other chain, wrong nonce, fees below the base
///            fee, insufficient funds, over the gas limit, contract creation, calldata to a plain account)
///            leaves the state unchanged; a deposit must match the Bridge's rolling hash and come next in
///            queue order, else it is skipped too.
///         Covered operations: ETH transfers with EIP-1559 fees (sender debit and refund, coinbase tip);
///         every token call (transfer, transferFrom, approve, mint, the views) of tokens made by createToken;
///         transfer and transferFrom of lifecycle tokens through the asset's compliance hook (assets.py
///         before_transfer: stage, pause, freezes, partial freezes, lock-up, claims, balance and holder
///         limits, holder count, revenue settlement), and their approve, mint refusals and views; every
///         identity registry call (setAllowed, setComplianceOfficer, setClaims, setRegulator,
///         recoverIdentity, the views); of the asset registry the issuer's rules and agents, an agent's
///         forcedTransfer, recoveryAddress, freezes, partial freezes and pause, and the views here, and in
///         OneStepProofAssets (a view call over this step's state) registerAsset, structureAsset,
///         approveIssuance, openIssuance, the
///         payable subscribe, startTrading, the cash flows (depositRevenue, redeem, claimRevenue,
///         claimRedemption, closeAsset), createToken and tokenizeAsset; the L2 bridge (payable `withdraw(address)`,
///         which burns the ETH sent with it into a withdrawal leaf, and its views); ETH sent with a call
///         (it moves to the contract's account before a payable function runs; any other function reverts
///         "Jovay: function is not payable"); any call to a system contract that fails at dispatch
///         (unknown selector, malformed calldata), deposits, and every rejection; and, through
///         OneStepProofAssets, the attestation registry (OneStepProofAttestations). Nothing is left that
///         reverts "OneStepProof: operation not supported" (docs/architecture.md).
contract OneStepProof is OneStepState {
    struct Item {
        uint256 kind;
        uint256 number;
        uint256 timestamp;
        uint256 baseFee;
        bytes payload;
    }

    struct Leaf {
        uint256 key;
        uint256 value;
        SparseMerkle.Proof proof;
    }

    /// @dev A covered function of a fixed system contract and its gas.
    struct OperationGas {
        bytes4 selector;
        uint256 gas;
    }


    IDepositQueue public immutable bridge;
    uint256 public immutable chainId;
    uint256 public immutable blockGasLimit;
    address public immutable coinbase;
    /// @notice Gas of the token calls and of the identity registry's setters (OP_GAS in jovay/params.py:
    ///         token.transfer / transferFrom / approve / mint, identity.setAllowed; the four identity
    ///         setters cost the same, which deploy checks).
    uint256 public immutable gasTransfer;
    uint256 public immutable gasTransferFrom;
    uint256 public immutable gasApprove;
    uint256 public immutable gasMint;
    uint256 public immutable gasIdentity;
    /// @notice Gas of the L2 bridge's `withdraw` and of the identity registry's `recoverIdentity`.
    uint256 public immutable gasWithdraw;
    uint256 public immutable gasRecoverIdentity;
    /// @notice The identity registry's, the L2 bridge's and the asset registry's fixed addresses.
    address public immutable identityRegistry;
    address public immutable l2Bridge;
    address public immutable assetRegistry;
    /// @notice Runs the asset-registry functions this contract does not (the cash flows).
    OneStepProofAssets public immutable assetSteps;
    /// @notice Gas of the asset registry's functions this contract runs, by selector (OP_GAS assets.*);
    ///         views are given DISPATCH_GAS. A selector absent here is not covered.
    mapping(bytes4 => uint256) public assetGas;

    /// @notice Fixed system contracts, and the selectors each one has (jovay/stf/system.py
    ///         fixed_system_contracts): `hasSelector` for every function, `isPayable` for those that take ETH.
    mapping(address => bool) public isFixedSystemContract;
    mapping(address => mapping(bytes4 => bool)) public hasSelector;
    mapping(address => mapping(bytes4 => bool)) public isPayable;
    /// @notice Selectors every token contract has (jovay/stf/token.py).
    mapping(bytes4 => bool) public isTokenSelector;

    constructor(
        address[3] memory hashers,
        address bridge_,
        uint256[2] memory chainIdAndGasLimit,
        uint256[7] memory opGas,
        address[5] memory coinbaseIdentityBridgeAssets,
        address[] memory systemContracts,
        bytes4[][] memory selectors,
        bytes4[][] memory payableSelectors,
        bytes4[] memory tokenSelectors,
        OperationGas[] memory assetOperations
    ) OneStepState(hashers) {
        require(
            systemContracts.length == selectors.length && systemContracts.length == payableSelectors.length,
            "OneStepProof: selectors per contract"
        );
        bridge = IDepositQueue(bridge_);
        (chainId, blockGasLimit) = (chainIdAndGasLimit[0], chainIdAndGasLimit[1]);
        coinbase = coinbaseIdentityBridgeAssets[0];
        (gasTransfer, gasTransferFrom, gasApprove, gasMint) = (opGas[0], opGas[1], opGas[2], opGas[3]);
        (gasIdentity, gasWithdraw, gasRecoverIdentity) = (opGas[4], opGas[5], opGas[6]);
        identityRegistry = coinbaseIdentityBridgeAssets[1];
        (l2Bridge, assetRegistry) = (coinbaseIdentityBridgeAssets[2], coinbaseIdentityBridgeAssets[3]);
        assetSteps = OneStepProofAssets(coinbaseIdentityBridgeAssets[4]);
        for (uint256 i = 0; i < assetOperations.length; ++i) {
            assetGas[assetOperations[i].selector] = assetOperations[i].gas;
        }
        for (uint256 i = 0; i < systemContracts.length; ++i) {
            isFixedSystemContract[systemContracts[i]] = true;
            for (uint256 j = 0; j < selectors[i].length; ++j) {
                hasSelector[systemContracts[i]][selectors[i][j]] = true;
            }
            for (uint256 j = 0; j < payableSelectors[i].length; ++j) {
                hasSelector[systemContracts[i]][payableSelectors[i][j]] = true;
                isPayable[systemContracts[i]][payableSelectors[i][j]] = true;
            }
        }
        for (uint256 j = 0; j < tokenSelectors.length; ++j) {
            isTokenSelector[tokenSelectors[j]] = true;
        }
    }

    /// @notice The state root after item `index` of the batch committed as (`itemsRoot`, `itemCount`),
    ///         executed over `preStateRoot`. `proof` is abi.encode(Item, bytes32[] itemProof, Leaf[] leaves).
    function execute(bytes32 preStateRoot, bytes32 itemsRoot, uint256 itemCount, uint256 index, bytes calldata proof)
        external
        view
        returns (bytes32)
    {
        (Item memory item, bytes32[] memory itemProof, Leaf[] memory leaves) =
            abi.decode(proof, (Item, bytes32[], Leaf[]));
        require(itemInBatch(itemsRoot, itemCount, index, item, itemProof), "OneStepProof: item not in batch");
        State memory st = _load(leaves);
        st.timestamp = item.timestamp;
        if (item.kind == ITEM_TRANSACTION) {
            _transaction(st, item);
        } else if (item.kind == ITEM_DEPOSIT) {
            _deposit(st, item);
        }
        return bytes32(_commit(uint256(preStateRoot), st, leaves));
    }

    /// @notice Whether `item` is item `index` of `itemCount` under `itemsRoot` (jovay/codec/batch.py).
    function itemInBatch(bytes32 itemsRoot, uint256 itemCount, uint256 index, Item memory item, bytes32[] memory proof)
        public
        pure
        returns (bool)
    {
        if (index >= itemCount || proof.length != _depth(itemCount)) {
            return false;
        }
        bytes32 node = keccak256(
            abi.encode(item.kind, item.number, item.timestamp, item.baseFee, keccak256(item.payload))
        );
        for (uint256 i = 0; i < proof.length; ++i) {
            node = (index >> i) & 1 == 1
                ? keccak256(abi.encodePacked(proof[i], node))
                : keccak256(abi.encodePacked(node, proof[i]));
        }
        return node == itemsRoot;
    }

    // --- transactions (jovay/stf/transaction.py process_transaction) ---------------------------------

    function _transaction(State memory st, Item memory item) private view {
        (bool ok, TxDecoder.Tx memory t) = TxDecoder.decode(item.payload, chainId);
        if (!ok) {
            return;
        }
        uint256[] memory snapshot = _copy(st.cur);
        if (!_applyTransaction(st, item, t)) {
            st.cur = snapshot; // invalid: the state stays as it was
        }
    }

    /// @dev False when the transaction may not execute (its writes are then dropped by the caller).
    function _applyTransaction(State memory st, Item memory item, TxDecoder.Tx memory t) private view returns (bool) {
        if (!t.hasTo) {
            return false; // contract creation
        }
        if (t.data.length > 0 && !_isSystemContract(st, t.to)) {
            return false;
        }
        uint256 intrinsic = _intrinsicGas(t);
        if (t.gasLimit < intrinsic || t.gasLimit > blockGasLimit || t.maxPriorityFeePerGas > t.maxFeePerGas) {
            return false;
        }
        if (t.maxFeePerGas < item.baseFee) {
            return false;
        }
        (uint256 nonce, uint256 balance) = _account(st, t.sender);
        if (t.nonce != nonce || t.nonce >= MAX_NONCE) {
            return false;
        }
        if (t.maxFeePerGas > MAX_UINT128 || t.value > MAX_UINT128) {
            return false; // the cost exceeds any balance (at most 2^128 - 1)
        }
        if (balance < t.gasLimit * t.maxFeePerGas + t.value) {
            return false;
        }
        uint256 price = _min(t.maxFeePerGas, item.baseFee + t.maxPriorityFeePerGas);
        _setAccount(st, t.sender, nonce + 1, balance - t.gasLimit * price);
        uint256 gasUsed = _execute(st, t, intrinsic);
        require(_addBalance(st, t.sender, (t.gasLimit - gasUsed) * price), "OneStepProof: balance overflow");
        require(_addBalance(st, coinbase, gasUsed * (price - item.baseFee)), "OneStepProof: balance overflow");
        return true;
    }

    /// @dev The value transfer or system call; returns the gas used. Failures undo only its own writes.
    function _execute(State memory st, TxDecoder.Tx memory t, uint256 intrinsic) private view returns (uint256 gasUsed) {
        uint256[] memory snapshot = _copy(st.cur);
        if (_isSystemContract(st, t.to)) {
            (uint256 callGas, bool ok) = _systemCall(st, t);
            gasUsed = intrinsic + callGas;
            if (!ok) {
                st.cur = _copy(snapshot); // reverted: the call's writes are undone, its gas paid
            }
        } else {
            (uint256 n, uint256 b) = _account(st, t.sender);
            _setAccount(st, t.sender, n, b - t.value);
            gasUsed = intrinsic;
            if (!_addBalance(st, t.to, t.value)) {
                st.cur = _copy(snapshot);
            }
        }
        if (gasUsed > t.gasLimit) {
            st.cur = snapshot;
            gasUsed = t.gasLimit;
        }
    }

    function _intrinsicGas(TxDecoder.Tx memory t) private pure returns (uint256 gas) {
        gas = TX_BASE_GAS + ACCESS_LIST_ADDRESS_GAS * t.accessListAddresses
            + ACCESS_LIST_STORAGE_KEY_GAS * t.accessListKeys;
        bytes memory data = t.data;
        for (uint256 i = 0; i < data.length; ++i) {
            gas += data[i] == 0 ? TX_DATA_ZERO_GAS : TX_DATA_NONZERO_GAS;
        }
    }

    function _isSystemContract(State memory st, address to) private view returns (bool) {
        if (isFixedSystemContract[to]) {
            return true;
        }
        if (bytes6(bytes20(to)) != TOKEN_ADDRESS_PREFIX) {
            return false;
        }
        uint256 tokenId = uint256(uint160(to)) & ((uint256(1) << 112) - 1);
        return tokenId >= 1 && tokenId <= _get(st, _systemFieldKey(FIELD_TOKEN_COUNT));
    }

    function _knownSelector(address to, bytes4 selector) private view returns (bool) {
        return isFixedSystemContract[to] ? hasSelector[to][selector] : isTokenSelector[selector];
    }

    /// @dev system.py call_system_contract: a payable function first gets the call's ETH (moved from the
    ///      sender to the contract's account); otherwise ETH sent along, an unknown selector or calldata
    ///      shorter than a selector fails at dispatch. Returns (gas of the call, whether it succeeded).
    function _systemCall(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length >= 4 && isPayable[t.to][bytes4(t.data)]) {
            if (t.value != 0) {
                (uint256 nonce, uint256 balance) = _account(st, t.sender);
                _setAccount(st, t.sender, nonce, balance - t.value); // funds were checked with the fees
                if (!_addBalance(st, t.to, t.value)) {
                    return (0, false); // the contract's balance would overflow: no call gas
                }
            }
            return t.to == l2Bridge ? _withdraw(st, t) : _delegatedAssetCall(st, t);
        }
        if (t.value != 0 || t.data.length < 4 || !_knownSelector(t.to, bytes4(t.data))) {
            return (DISPATCH_GAS, false); // not payable, unknown selector or no selector
        }
        if (!isFixedSystemContract[t.to]) {
            return _tokenCall(st, t);
        }
        if (t.to == identityRegistry) {
            return _identityCall(st, t);
        }
        if (t.to == l2Bridge) {
            return (DISPATCH_GAS, true); // withdrawalCount, withdrawalHash: views, no writes
        }
        if (t.to == assetRegistry && assetGas[bytes4(t.data)] != 0) {
            return _assetCall(st, t, assetGas[bytes4(t.data)]);
        }
        return _delegatedAssetCall(st, t);
    }

    /// @dev An asset- or attestation-registry call run by OneStepProofAssets over this step's state (reverts
    ///      there, with "OneStepProof: operation not supported", for what neither contract covers).
    function _delegatedAssetCall(State memory st, TxDecoder.Tx memory t) private view returns (uint256 gas, bool ok) {
        (gas, ok, st.cur) = assetSteps.run(st, t.to, t.sender, t.data, t.value);
    }

    // --- tokens (jovay/stf/token.py, for tokens that createToken made alone) ---------------------------

    /// @dev One call to a token: returns (gas the call used, whether it succeeded). A failed call's writes
    ///      are undone by the caller. Malformed arguments fail at dispatch (the ABI decoder's DISPATCH_GAS).
    function _tokenCall(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        bytes4 selector = bytes4(t.data);
        if (selector == SEL_TRANSFER) {
            return _tokenTransfer(st, t);
        }
        if (selector == SEL_TRANSFER_FROM) {
            return _tokenTransferFrom(st, t);
        }
        if (selector == SEL_APPROVE) {
            return _tokenApprove(st, t);
        }
        if (selector == SEL_MINT) {
            return _tokenMint(st, t);
        }
        return (DISPATCH_GAS, true); // a view (name, balanceOf, ...): no writes, whatever its arguments
    }

    function _tokenTransfer(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length != 68 || _word(t.data, 0) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 amount = _word(t.data, 1);
        if (amount > MAX_UINT128) {
            return (gasTransfer, false);
        }
        return (gasTransfer, _move(st, t.to, t.sender, address(uint160(_word(t.data, 0))), amount));
    }

    function _tokenTransferFrom(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length != 100 || _word(t.data, 0) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 amount = _word(t.data, 2);
        if (amount > MAX_UINT128) {
            return (gasTransferFrom, false);
        }
        address owner = address(uint160(_word(t.data, 0)));
        uint256 key = _allowanceKey(t.to, owner, t.sender);
        uint256 allowance = _get(st, key);
        if (allowance != UNLIMITED_ALLOWANCE) {
            if (amount > allowance) {
                return (gasTransferFrom, false);
            }
            _set(st, key, allowance - amount);
        }
        if (_word(t.data, 1) >> 160 != 0) {
            return (DISPATCH_GAS, false); // the recipient's dirty bytes are found only now
        }
        return (gasTransferFrom, _move(st, t.to, owner, address(uint160(_word(t.data, 1))), amount));
    }

    function _tokenApprove(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length != 68 || _word(t.data, 0) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        address spender = address(uint160(_word(t.data, 0)));
        uint256 requested = _word(t.data, 1);
        if (spender == address(0)) {
            return (gasApprove, false);
        }
        if (requested != type(uint256).max && requested > MAX_UINT128) {
            return (gasApprove, false);
        }
        uint256 stored = requested == type(uint256).max ? UNLIMITED_ALLOWANCE : requested;
        _set(st, _allowanceKey(t.to, t.sender, spender), stored);
        return (gasApprove, true);
    }

    function _tokenMint(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length != 68 || _word(t.data, 0) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        address to = address(uint160(_word(t.data, 0)));
        uint256 amount = _word(t.data, 1);
        if (amount > MAX_UINT128 || _get(st, _tokenFieldKey(t.to, FIELD_ISSUER)) != uint160(t.sender)) {
            return (gasMint, false);
        }
        if (_get(st, _tokenAssetKey(t.to)) != 0 || !_recipientAllowed(st, to)) {
            return (gasMint, false); // asset tokens are issued by subscription
        }
        uint256 supplyKey = _tokenFieldKey(t.to, FIELD_TOTAL_SUPPLY);
        uint256 supply = _get(st, supplyKey) + amount;
        if (supply > MAX_UINT128) {
            return (gasMint, false);
        }
        _set(st, supplyKey, supply);
        uint256 balanceKey = _tokenBalanceKey(t.to, to);
        _set(st, balanceKey, _get(st, balanceKey) + amount);
        return (gasMint, true);
    }

    function _recipientAllowed(State memory st, address to) private view returns (bool) {
        return to != address(0) && _get(st, _allowlistKey(to)) == 1;
    }

    /// @dev token.py `_move`: the allowlist, the balance, the lifecycle hook (assets.py), the move.
    function _move(State memory st, address token, address from, address to, uint256 amount)
        private
        view
        returns (bool)
    {
        if (!_recipientAllowed(st, to)) {
            return false;
        }
        uint256 fromKey = _tokenBalanceKey(token, from);
        uint256 fromBalance = _get(st, fromKey);
        if (amount > fromBalance) {
            return false;
        }
        if (!_beforeTransfer(st, token, from, to, amount)) {
            return false;
        }
        _set(st, fromKey, fromBalance - amount);
        uint256 toKey = _tokenBalanceKey(token, to);
        _set(st, toKey, _get(st, toKey) + amount);
        return true;
    }

    // --- lifecycle tokens (jovay/stf/assets.py before_transfer, cashflow.py settle) -------------------

    /// @dev The asset's compliance rules on a move of its token (true at once for createToken tokens):
    ///      Trading and not paused, neither side frozen, within the sender's unfrozen balance, past the
    ///      lock-up, the recipient's claims, the balance and holder limits; then the holder count and
    ///      both sides' revenue settlement. False: the transfer reverts.
    function _beforeTransfer(State memory st, address token, address from, address to, uint256 amount)
        private
        view
        returns (bool)
    {
        uint256 assetId = _get(st, _tokenAssetKey(token));
        if (assetId == 0) {
            return true;
        }
        uint256 status = _get(st, _assetFieldKey(assetId, F_STATUS));
        if (status & 0xFF != STAGE_TRADING || (status >> 17) & 1 == 1) {
            return false; // not trading, or paused
        }
        if (_get(st, _perHolderKey(DOMAIN_FROZEN, assetId, from)) == 1) {
            return false;
        }
        if (_get(st, _perHolderKey(DOMAIN_FROZEN, assetId, to)) == 1) {
            return false;
        }
        uint256 fromBalance = _get(st, _tokenBalanceKey(token, from));
        if (amount + _get(st, _perHolderKey(DOMAIN_FROZEN_TOKENS, assetId, from)) > fromBalance) {
            return false; // exceeds the unfrozen balance
        }
        if (st.timestamp < _get(st, _assetFieldKey(assetId, F_RULES)) >> 32) {
            return false; // locked up
        }
        if (!_claimsMeetRequirements(st, assetId, to)) {
            return false;
        }
        if (from == to) {
            return true;
        }
        if (!_countHolders(st, assetId, token, to, amount, fromBalance == amount)) {
            return false;
        }
        _settle(st, assetId, token, from);
        _settle(st, assetId, token, to);
        return true;
    }

    /// @dev assets.py `_check_limits` and `count_holders`: the recipient's balance limit, the holder limit
    ///      when the recipient becomes a holder, and the new holder count. `emptiesSender`: the move takes
    ///      the sender's whole balance.
    function _countHolders(
        State memory st,
        uint256 assetId,
        address token,
        address to,
        uint256 amount,
        bool emptiesSender
    ) private view returns (bool) {
        uint256 toBalance = _get(st, _tokenBalanceKey(token, to));
        uint256 maxBalance = _get(st, _assetFieldKey(assetId, F_MAX_BALANCE));
        if (maxBalance != 0 && toBalance + amount > maxBalance) {
            return false;
        }
        uint256 holdersKey = Poseidon.hash2(_hashers(), DOMAIN_HOLDER_COUNT, uint160(token));
        uint256 holders = _get(st, holdersKey);
        bool gained = amount != 0 && toBalance == 0;
        bool lost = amount != 0 && emptiesSender;
        uint256 maxHolders = _get(st, _assetFieldKey(assetId, F_RULES)) & 0xFFFFFFFF;
        if (gained && !lost && maxHolders != 0 && holders + 1 > maxHolders) {
            return false;
        }
        if (gained != lost) {
            _set(st, holdersKey, gained ? holders + 1 : holders - 1);
        }
        return true;
    }

    // --- asset registry: rules and agent actions (jovay/stf/assets.py) --------------------------------

    /// @dev A covered asset-registry call costing `gas`: the issuer's rules and agents, an agent's freezes
    ///      and pause, and the views (DISPATCH_GAS, no writes, whatever their arguments).
    function _assetCall(State memory st, TxDecoder.Tx memory t, uint256 gas) private view returns (uint256, bool) {
        bytes4 selector = bytes4(t.data);
        uint256 words = selector == SEL_PAUSE
                ? 2
                : selector == SEL_SET_ASSET_RULES || selector == SEL_SET_REQUIREMENTS || selector == SEL_FORCED_TRANSFER
                    ? 4
                    : 3;
        if (gas == DISPATCH_GAS) {
            return (DISPATCH_GAS, true);
        }
        if (t.data.length != 4 + 32 * words || !_assetArgumentsValid(selector, t.data)) {
            return (DISPATCH_GAS, false);
        }
        uint256 assetId = _word(t.data, 0);
        if (assetId == 0 || assetId > _get(st, _assetFieldKey(0, 0))) {
            return (gas, false); // no such asset
        }
        bool byIssuer = selector == SEL_SET_ASSET_RULES || selector == SEL_SET_REQUIREMENTS || selector == SEL_SET_AGENT;
        if (byIssuer ? !_isIssuer(st, assetId, t.sender) : !_isAgent(st, assetId, t.sender)) {
            return (gas, false);
        }
        if (selector == SEL_SET_ASSET_RULES) {
            _set(st, _assetFieldKey(assetId, F_RULES), _word(t.data, 1) | (_word(t.data, 3) << 32));
            _set(st, _assetFieldKey(assetId, F_MAX_BALANCE), _word(t.data, 2));
        } else if (selector == SEL_SET_REQUIREMENTS) {
            _set(st, _assetFieldKey(assetId, F_REQUIREMENTS), _word(t.data, 1) | (_word(t.data, 2) << 8) | (_word(t.data, 3) << 16));
        } else if (selector == SEL_RECOVERY_ADDRESS) {
            return (gas, _recoveryAddress(st, assetId, t.data));
        } else if (selector == SEL_FORCED_TRANSFER) {
            return (gas, _forcedTransfer(st, assetId, t.data));
        } else if (selector == SEL_PAUSE) {
            uint256 statusKey = _assetFieldKey(assetId, F_STATUS);
            _set(st, statusKey, (_get(st, statusKey) & 0x1FFFF) | (_word(t.data, 1) << 17));
        } else if (selector == SEL_SET_AGENT || selector == SEL_FREEZE) {
            uint256 domain = selector == SEL_SET_AGENT ? DOMAIN_AGENT : DOMAIN_FROZEN;
            _set(st, _perHolderKey(domain, assetId, address(uint160(_word(t.data, 1)))), _word(t.data, 2));
        } else {
            return (gas, _partialFreeze(st, assetId, t.data, selector == SEL_UNFREEZE_PARTIAL));
        }
        return (gas, true);
    }

    /// @dev The ABI decoder's checks of each covered function's arguments (assets.py uint_arg, word_bool,
    ///      word_address): a failure reverts at dispatch.
    function _assetArgumentsValid(bytes4 selector, bytes memory data) private pure returns (bool) {
        if (selector == SEL_SET_ASSET_RULES) {
            return _word(data, 1) >> 32 == 0 && _word(data, 2) >> 128 == 0 && _word(data, 3) >> 64 == 0;
        }
        if (selector == SEL_SET_REQUIREMENTS) {
            return _word(data, 1) <= 1 && _word(data, 2) >> 8 == 0 && _word(data, 3) >> 16 == 0;
        }
        if (selector == SEL_PAUSE) {
            return _word(data, 1) <= 1;
        }
        if (selector == SEL_APPROVE_ISSUANCE || selector == SEL_START_TRADING) {
            return true; // the asset id alone
        }
        if (selector == SEL_RECOVERY_ADDRESS) {
            return _word(data, 1) >> 160 == 0 && _word(data, 2) >> 160 == 0;
        }
        if (selector == SEL_FORCED_TRANSFER) {
            return _word(data, 1) >> 160 == 0 && _word(data, 2) >> 160 == 0 && _word(data, 3) >> 128 == 0;
        }
        if (_word(data, 1) >> 160 != 0) {
            return false;
        }
        return selector == SEL_SET_AGENT || selector == SEL_FREEZE ? _word(data, 2) <= 1 : _word(data, 2) >> 128 == 0;
    }

    /// @dev assets.py `_partial_freeze`: freeze part of a holder's balance, or unfreeze what is frozen.
    function _partialFreeze(State memory st, uint256 assetId, bytes memory data, bool unfreeze)
        private
        view
        returns (bool)
    {
        address token = address(uint160(_get(st, _assetFieldKey(assetId, F_TOKEN))));
        (address holder, uint256 amount) = (address(uint160(_word(data, 1))), _word(data, 2));
        if (token == address(0) || amount == 0) {
            return false; // not tokenized, or nothing to freeze
        }
        uint256 key = _perHolderKey(DOMAIN_FROZEN_TOKENS, assetId, holder);
        uint256 frozen = _get(st, key);
        if (unfreeze ? amount > frozen : frozen + amount > _get(st, _tokenBalanceKey(token, holder))) {
            return false;
        }
        _set(st, key, unfreeze ? frozen - amount : frozen + amount);
        return true;
    }

    /// @dev assets.py `forced_transfer` (an agent's, checked by the caller): only the allowlist and the
    ///      balance apply; units beyond the unfrozen balance are unfrozen first; the holder count and both
    ///      sides' revenue are kept as on any move.
    function _forcedTransfer(State memory st, uint256 assetId, bytes memory data) private view returns (bool) {
        address token = address(uint160(_get(st, _assetFieldKey(assetId, F_TOKEN))));
        (address from, address to) = (address(uint160(_word(data, 1))), address(uint160(_word(data, 2))));
        if (token == address(0) || !_recipientAllowed(st, to)) {
            return false;
        }
        uint256 balance = _get(st, _tokenBalanceKey(token, from));
        if (_word(data, 3) > balance) {
            return false;
        }
        _releaseFrozen(st, assetId, from, _word(data, 3), balance);
        _countMovedHolder(st, token, from, to, _word(data, 3), balance);
        _settle(st, assetId, token, from);
        _settle(st, assetId, token, to);
        _moveBalance(st, token, from, to, _word(data, 3));
        return true;
    }

    /// @dev Units beyond the unfrozen balance are unfrozen first: what stays frozen is what stays.
    function _releaseFrozen(State memory st, uint256 assetId, address from, uint256 amount, uint256 balance)
        private
        view
    {
        uint256 frozenKey = _perHolderKey(DOMAIN_FROZEN_TOKENS, assetId, from);
        if (amount + _get(st, frozenKey) > balance) {
            _set(st, frozenKey, balance - amount);
        }
    }

    /// @dev assets.py `holder_delta` and `count_holders` without the limits (an agent's move).
    function _countMovedHolder(
        State memory st,
        address token,
        address from,
        address to,
        uint256 amount,
        uint256 fromBalance
    ) private view {
        if (amount == 0 || from == to) {
            return;
        }
        bool gained = _get(st, _tokenBalanceKey(token, to)) == 0;
        if (gained == (fromBalance == amount)) {
            return;
        }
        uint256 key = Poseidon.hash2(_hashers(), DOMAIN_HOLDER_COUNT, uint160(token));
        uint256 holders = _get(st, key);
        _set(st, key, gained ? holders + 1 : holders - 1);
    }

    function _moveBalance(State memory st, address token, address from, address to, uint256 amount) private view {
        uint256 fromKey = _tokenBalanceKey(token, from);
        _set(st, fromKey, _get(st, fromKey) - amount);
        uint256 toKey = _tokenBalanceKey(token, to);
        _set(st, toKey, _get(st, toKey) + amount);
    }

    /// @dev assets.py `recovery_address` (an agent's, checked by the caller): a lost wallet's whole holding
    ///      (balance, frozen units, address freeze, credited revenue) moves to an allowlisted new wallet
    ///      that meets the asset's claim requirements.
    function _recoveryAddress(State memory st, uint256 assetId, bytes memory data) private view returns (bool) {
        address token = address(uint160(_get(st, _assetFieldKey(assetId, F_TOKEN))));
        (address lost, address fresh) = (address(uint160(_word(data, 1))), address(uint160(_word(data, 2))));
        if (token == address(0) || lost == fresh) {
            return false;
        }
        uint256 balance = _get(st, _tokenBalanceKey(token, lost));
        if (balance == 0 || !_recipientAllowed(st, fresh) || !_claimsMeetRequirements(st, assetId, fresh)) {
            return false;
        }
        _countMovedHolder(st, token, lost, fresh, balance, balance);
        _settle(st, assetId, token, lost);
        _settle(st, assetId, token, fresh);
        _moveBalance(st, token, lost, fresh, balance);
        _moveHolderLeaf(st, DOMAIN_REVENUE_OWED, assetId, lost, fresh);
        _moveHolderLeaf(st, DOMAIN_FROZEN_TOKENS, assetId, lost, fresh);
        if (_get(st, _perHolderKey(DOMAIN_FROZEN, assetId, lost)) == 1) {
            _set(st, _perHolderKey(DOMAIN_FROZEN, assetId, fresh), 1);
        }
        return true;
    }

    /// @dev A per-holder amount (credited revenue, frozen units) moves whole from one wallet to another.
    function _moveHolderLeaf(State memory st, uint256 domain, uint256 assetId, address from, address to) private view {
        uint256 fromKey = _perHolderKey(domain, assetId, from);
        uint256 amount = _get(st, fromKey);
        if (amount != 0) {
            _set(st, fromKey, 0);
            uint256 toKey = _perHolderKey(domain, assetId, to);
            _set(st, toKey, _get(st, toKey) + amount);
        }
    }

    /// @dev assets.py `is_agent`: the issuer always is; the agent leaf is read only for anyone else.
    function _isAgent(State memory st, uint256 assetId, address a) private view returns (bool) {
        return _isIssuer(st, assetId, a) || _get(st, _perHolderKey(DOMAIN_AGENT, assetId, a)) == 1;
    }

    // --- identity registry (jovay/stf/identity.py) -----------------------------------------------------

    /// @dev One call to the identity registry: the admin's setters; the views cost the dispatch gas only.
    function _identityCall(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        bytes4 selector = bytes4(t.data);
        if (selector == SEL_SET_ALLOWED || selector == SEL_SET_COMPLIANCE_OFFICER || selector == SEL_SET_REGULATOR) {
            if (t.data.length != 68 || _word(t.data, 0) >> 160 != 0 || _word(t.data, 1) > 1) {
                return (DISPATCH_GAS, false);
            }
            if (!_isIdentityAdmin(st, t.sender)) {
                return (gasIdentity, false);
            }
            uint256 domain = selector == SEL_SET_ALLOWED
                ? DOMAIN_ALLOWLIST
                : selector == SEL_SET_COMPLIANCE_OFFICER ? DOMAIN_COMPLIANCE_OFFICER : DOMAIN_REGULATOR;
            _set(st, Poseidon.hash2(_hashers(), domain, _word(t.data, 0)), _word(t.data, 1));
            return (gasIdentity, true);
        }
        if (selector == SEL_SET_CLAIMS) {
            if (t.data.length != 132 || _word(t.data, 0) >> 160 != 0) {
                return (DISPATCH_GAS, false);
            }
            (uint256 jurisdiction, uint256 class_, uint256 expiry) = (_word(t.data, 1), _word(t.data, 2), _word(t.data, 3));
            if (jurisdiction >> 16 != 0 || class_ >> 8 != 0 || expiry >> 64 != 0) {
                return (DISPATCH_GAS, false);
            }
            if (!_isIdentityAdmin(st, t.sender)) {
                return (gasIdentity, false);
            }
            uint256 key = Poseidon.hash2(_hashers(), DOMAIN_CLAIMS, _word(t.data, 0));
            _set(st, key, jurisdiction | (class_ << 16) | (expiry << 24));
            return (gasIdentity, true);
        }
        if (selector == SEL_RECOVER_IDENTITY) {
            return _recoverIdentity(st, t);
        }
        return (DISPATCH_GAS, true); // isAllowed, admin, isComplianceOfficer, claims, isRegulator: no writes
    }

    /// @dev identity.py `recover_identity`: the admin moves a lost wallet's allowlisting and claims to a
    ///      new wallet that has neither.
    function _recoverIdentity(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length != 68 || _word(t.data, 0) >> 160 != 0 || _word(t.data, 1) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        (address lost, address fresh) = (address(uint160(_word(t.data, 0))), address(uint160(_word(t.data, 1))));
        if (!_isIdentityAdmin(st, t.sender) || lost == fresh) {
            return (gasRecoverIdentity, false);
        }
        Poseidon.Hashers memory h = _hashers();
        uint256 lostClaimsKey = Poseidon.hash2(h, DOMAIN_CLAIMS, uint160(lost));
        uint256 lostClaims = _get(st, lostClaimsKey);
        uint256 lostAllowed = _get(st, _allowlistKey(lost)) == 1 ? 1 : 0;
        if (lostAllowed == 0 && lostClaims == 0) {
            return (gasRecoverIdentity, false); // nothing registered to recover
        }
        uint256 freshClaimsKey = Poseidon.hash2(h, DOMAIN_CLAIMS, uint160(fresh));
        if (_get(st, _allowlistKey(fresh)) == 1 || _get(st, freshClaimsKey) != 0) {
            return (gasRecoverIdentity, false); // the new wallet is taken
        }
        _set(st, _allowlistKey(fresh), lostAllowed);
        _set(st, freshClaimsKey, lostClaims);
        _set(st, _allowlistKey(lost), 0);
        _set(st, lostClaimsKey, 0);
        return (gasRecoverIdentity, true);
    }

    function _isIdentityAdmin(State memory st, address a) private view returns (bool) {
        return _get(st, _systemFieldKey(FIELD_IDENTITY_ADMIN)) == uint160(a);
    }

    // --- the L2 bridge (jovay/stf/bridge.py) ------------------------------------------------------------

    /// @dev `withdraw(address l1Recipient)`: burns the ETH sent (already on the bridge's account) and
    ///      records P(33, index) = P(sender, l1Recipient, amount), index from system field 3.
    function _withdraw(State memory st, TxDecoder.Tx memory t) private view returns (uint256, bool) {
        if (t.data.length != 36 || _word(t.data, 0) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        uint256 recipient = _word(t.data, 0);
        if (t.value == 0 || recipient == 0) {
            return (gasWithdraw, false); // t.value < 2^128: larger values never pass the funds check
        }
        (uint256 nonce, uint256 balance) = _account(st, l2Bridge);
        _setAccount(st, l2Bridge, nonce, balance - t.value);
        uint256 indexKey = _systemFieldKey(FIELD_NEXT_WITHDRAWAL);
        uint256 index = _get(st, indexKey);
        require(index < WITHDRAWAL_INDEX_LIMIT, "OneStepProof: withdrawal index out of range");
        Poseidon.Hashers memory h = _hashers();
        _set(st, Poseidon.hash2(h, DOMAIN_WITHDRAWAL, index), Poseidon.hash3(h, uint160(t.sender), recipient, t.value));
        _set(st, indexKey, index + 1);
        return (gasWithdraw, true);
    }

    // --- deposits (jovay/stf/transaction.py process_deposit) -----------------------------------------

    function _deposit(State memory st, Item memory item) private view {
        if (item.payload.length != 128) {
            return;
        }
        (uint256 queueIndex, uint256 from, uint256 to, uint256 value) =
            abi.decode(item.payload, (uint256, uint256, uint256, uint256));
        if (from >> 160 != 0 || to >> 160 != 0 || queueIndex >= bridge.queueLength()) {
            return;
        }
        bytes32 expected = keccak256(
            abi.encode(bridge.rollingHashAt(queueIndex), queueIndex, address(uint160(from)), address(uint160(to)), value)
        );
        if (expected != bridge.rollingHashAt(queueIndex + 1)) {
            return; // not the message the L1 queue holds at that index
        }
        uint256 nextKey = _systemFieldKey(FIELD_NEXT_L1_MESSAGE);
        if (_get(st, nextKey) != queueIndex) {
            return; // out of queue order
        }
        _set(st, nextKey, queueIndex + 1);
        uint256[] memory snapshot = _copy(st.cur);
        if (!_addBalance(st, address(uint160(to)), value)) {
            st.cur = snapshot;
        }
    }

    // --- state ---------------------------------------------------------------------------------------

    function _load(Leaf[] memory leaves) private pure returns (State memory st) {
        uint256 n = leaves.length;
        st.keys = new uint256[](n);
        st.pre = new uint256[](n);
        st.cur = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            for (uint256 j = 0; j < i; ++j) {
                require(leaves[j].key != leaves[i].key, "OneStepProof: leaf given twice");
            }
            st.keys[i] = leaves[i].key;
            st.pre[i] = leaves[i].value;
            st.cur[i] = leaves[i].value;
        }
    }

    /// @dev Verifies every leaf's old value and writes its new one, in order, against the running root.
    function _commit(uint256 root, State memory st, Leaf[] memory leaves) private view returns (uint256) {
        Poseidon.Hashers memory h = _hashers();
        for (uint256 i = 0; i < leaves.length; ++i) {
            root = SparseMerkle.update(h, root, st.keys[i], st.pre[i], st.cur[i], leaves[i].proof);
        }
        return root;
    }

    // --- helpers -------------------------------------------------------------------------------------

    function _copy(uint256[] memory a) private pure returns (uint256[] memory b) {
        b = new uint256[](a.length);
        for (uint256 i = 0; i < a.length; ++i) {
            b[i] = a[i];
        }
    }

    function _min(uint256 a, uint256 b) private pure returns (uint256) {
        return a < b ? a : b;
    }

    function _depth(uint256 count) private pure returns (uint256 d) {
        for (uint256 x = count > 0 ? count - 1 : 0; x > 0; x >>= 1) {
            ++d;
        }
    }
}
