// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./OneStepState.sol";

/// @title The attestation registry, for OneStepProof (through OneStepProofAssets)
/// @notice The rules of jovay/stf/attestations.py over a step's state: the identity admin's
///         registerAttestor and revokeAttestor; attest, which anyone relays for an attestor whose EIP-712
///         signature is recovered with `ecrecover` under `recover_signer`'s rules (65 bytes, v 27 or 28,
///         0 < r < n, 0 < s <= n/2), each (attestor, asset) stream numbered 1, 2, 3, ... without gaps;
///         and the views attestor, lastSequence and attestation (DISPATCH_GAS, no writes). Arguments that
///         do not decode (attest's only in their canonical encoding, abi.py `decode_canonical`) fail at
///         dispatch. OneStepProof has already failed ETH sent along and unknown selectors.
contract OneStepProofAttestations is OneStepState {
    uint256 internal constant DOMAIN_ATTESTOR = 16;
    uint256 internal constant DOMAIN_LAST_SEQUENCE = 17;
    uint256 internal constant DOMAIN_ATTESTATION_HI = 18;
    uint256 internal constant DOMAIN_ATTESTATION_LO = 19;
    uint256 internal constant DOMAIN_AUDITOR_ATTESTATIONS = 27;
    uint256 internal constant ATTESTOR_STATUS = 0;
    uint256 internal constant ATTESTOR_ASSET_HI = 1;
    uint256 internal constant ATTESTOR_ASSET_LO = 2;
    uint256 internal constant KIND_AUDITOR = 1;
    uint256 internal constant KIND_DEVICE = 2;
    uint256 internal constant MAX_FUTURE_S = 300;
    uint256 internal constant SIGNATURE_LENGTH = 65;
    uint256 internal constant ATTEST_HEAD = 164; // selector and five head words; the bytes' length next
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    bytes32 internal constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant ATTESTATION_TYPEHASH =
        keccak256("Attestation(uint256 assetId,uint64 sequence,bytes32 dataCommitment,uint64 timestamp)");
    bytes4 internal constant SEL_REGISTER_ATTESTOR = bytes4(keccak256("registerAttestor(address,uint8,uint256)"));
    bytes4 internal constant SEL_REVOKE_ATTESTOR = bytes4(keccak256("revokeAttestor(address)"));
    bytes4 internal constant SEL_ATTEST = bytes4(keccak256("attest(uint256,uint64,bytes32,uint64,bytes)"));
    bytes4 internal constant SEL_ATTESTOR = bytes4(keccak256("attestor(address)"));
    bytes4 internal constant SEL_LAST_SEQUENCE = bytes4(keccak256("lastSequence(address,uint256)"));
    bytes4 internal constant SEL_ATTESTATION = bytes4(keccak256("attestation(address,uint256,uint64)"));

    /// @notice The 5-input Poseidon hasher (attestation record keys).
    address public immutable poseidon5;
    /// @notice attestations.py `domain_separator` for the L2's chain id and the registry's address.
    bytes32 public immutable domainSeparator;
    /// @notice OP_GAS of registerAttestor, revokeAttestor and attest.
    uint256 public immutable gasRegisterAttestor;
    uint256 public immutable gasRevokeAttestor;
    uint256 public immutable gasAttest;

    constructor(
        address[3] memory hashers,
        address poseidon5_,
        uint256 chainId,
        address registry,
        uint256[3] memory gas
    ) OneStepState(hashers) {
        poseidon5 = poseidon5_;
        domainSeparator = keccak256(
            abi.encode(DOMAIN_TYPEHASH, keccak256("Jovay Attestations"), keccak256("1"), chainId, registry)
        );
        (gasRegisterAttestor, gasRevokeAttestor, gasAttest) = (gas[0], gas[1], gas[2]);
    }

    /// @notice One attestation-registry call by `sender` with `data` over the step's state `st`: (gas the
    ///         call used, whether it succeeded, the leaves' values after it). The caller undoes a failed
    ///         call's writes.
    function run(State memory st, address sender, bytes memory data)
        external
        view
        returns (uint256 gas, bool ok, uint256[] memory cur)
    {
        bytes4 selector = bytes4(data);
        if (selector == SEL_REGISTER_ATTESTOR) {
            (gas, ok) = _registerAttestor(st, sender, data);
        } else if (selector == SEL_REVOKE_ATTESTOR) {
            (gas, ok) = _revokeAttestor(st, sender, data);
        } else if (selector == SEL_ATTEST) {
            (gas, ok) = _attest(st, data);
        } else if (selector == SEL_ATTESTOR || selector == SEL_LAST_SEQUENCE || selector == SEL_ATTESTATION) {
            (gas, ok) = (DISPATCH_GAS, _viewArgumentsDecode(selector, data));
        } else {
            revert("OneStepProof: operation not supported");
        }
        return (gas, ok, st.cur);
    }

    /// @dev attestations.py `register_attestor`: the admin registers (or re-registers, reactivating) an
    ///      auditor (for one asset, or asset 0: any) or a device (for one asset).
    function _registerAttestor(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        if (data.length != 100 || _word(data, 0) >> 160 != 0 || _word(data, 1) >> 8 != 0) {
            return (DISPATCH_GAS, false);
        }
        (address attestor, uint256 kind, uint256 assetId) = (address(uint160(_word(data, 0))), _word(data, 1), _word(data, 2));
        if (!_isIdentityAdmin(st, sender) || (kind != KIND_AUDITOR && kind != KIND_DEVICE)) {
            return (gasRegisterAttestor, false);
        }
        if ((kind == KIND_DEVICE && assetId == 0) || attestor == address(0)) {
            return (gasRegisterAttestor, false);
        }
        _set(st, _attestorKey(attestor, ATTESTOR_STATUS), kind | (1 << 8));
        _set(st, _attestorKey(attestor, ATTESTOR_ASSET_HI), assetId >> 128);
        _set(st, _attestorKey(attestor, ATTESTOR_ASSET_LO), assetId & MAX_UINT128);
        return (gasRegisterAttestor, true);
    }

    /// @dev attestations.py `revoke_attestor`: the admin stops an active attestor. `write_attestor` writes
    ///      the record back whole: the asset id `hi << 128 | lo` split into halves again.
    function _revokeAttestor(State memory st, address sender, bytes memory data) private view returns (uint256, bool) {
        if (data.length != 36 || _word(data, 0) >> 160 != 0) {
            return (DISPATCH_GAS, false);
        }
        address attestor = address(uint160(_word(data, 0)));
        if (!_isIdentityAdmin(st, sender)) {
            return (gasRevokeAttestor, false);
        }
        (uint256 status, uint256 hi, uint256 lo) = _readAttestor(st, attestor);
        if (status >> 8 == 0) {
            return (gasRevokeAttestor, false);
        }
        _set(st, _attestorKey(attestor, ATTESTOR_STATUS), status & 0xFF);
        _set(st, _attestorKey(attestor, ATTESTOR_ASSET_HI), hi | (lo >> 128));
        _set(st, _attestorKey(attestor, ATTESTOR_ASSET_LO), lo & MAX_UINT128);
        return (gasRevokeAttestor, true);
    }

    /// @dev attestations.py `attest`: the signer of the EIP-712 digest, an active attestor for the asset,
    ///      records the stream's next sequence number (its clock at most MAX_FUTURE_S ahead of the block's);
    ///      an auditor's attestation also counts for the asset.
    function _attest(State memory st, bytes memory data) private view returns (uint256, bool) {
        if (!_canonicalAttestArguments(data)) {
            return (DISPATCH_GAS, false);
        }
        (uint256 assetId, uint256 sequence, uint256 timestamp) = (_word(data, 0), _word(data, 1), _word(data, 3));
        bytes32 digest = _attestationDigest(assetId, sequence, bytes32(_word(data, 2)), timestamp);
        address signer = _recoverSigner(digest, data);
        if (signer == address(0)) {
            return (gasAttest, false); // invalid signature
        }
        (uint256 status, uint256 hi, uint256 lo) = _readAttestor(st, signer);
        if (!_mayAttest(status, hi, lo, assetId)) {
            return (gasAttest, false);
        }
        uint256 sequenceKey = _lastSequenceKey(signer, assetId);
        if (_get(st, sequenceKey) + 1 != sequence) {
            return (gasAttest, false); // replayed or out of order
        }
        if (timestamp > MAX_FUTURE_S && timestamp - MAX_FUTURE_S > st.timestamp) {
            return (gasAttest, false); // in the future (timestamp > block time + MAX_FUTURE_S)
        }
        _set(st, sequenceKey, sequence);
        _record(st, signer, data, status & 0xFF == KIND_AUDITOR);
        return (gasAttest, true);
    }

    /// @dev attestations.py `write_attestation` (leaf 18 `commitmentHi << 64 | timestamp`, leaf 19
    ///      `commitmentLo << 64 | recordedAt`) and, for an auditor, the asset's attestation count.
    function _record(State memory st, address signer, bytes memory data, bool auditor) private view {
        (uint256 assetId, uint256 commitment) = (_word(data, 0), _word(data, 2));
        (uint256 hiKey, uint256 loKey) = _attestationKeys(signer, assetId, _word(data, 1));
        _set(st, hiKey, ((commitment >> 128) << 64) | _word(data, 3));
        _set(st, loKey, ((commitment & MAX_UINT128) << 64) | st.timestamp);
        if (auditor) {
            uint256 countKey = Poseidon.hash3(_hashers(), DOMAIN_AUDITOR_ATTESTATIONS, assetId >> 128, assetId & MAX_UINT128);
            _set(st, countKey, _get(st, countKey) + 1);
        }
    }

    /// @dev abi.py `decode_canonical` of (uint256, uint64, bytes32, uint64, bytes): the uint64s in range,
    ///      the bytes at offset 160, exactly its length padded to words with zeros, nothing after.
    function _canonicalAttestArguments(bytes memory data) private pure returns (bool) {
        if (data.length < ATTEST_HEAD + 32 || (_word(data, 1) | _word(data, 3)) >> 64 != 0 || _word(data, 4) != 160) {
            return false;
        }
        uint256 length = _word(data, 5);
        if (length > data.length) {
            return false;
        }
        uint256 padded = ((length + 31) / 32) * 32;
        if (data.length != ATTEST_HEAD + 32 + padded) {
            return false;
        }
        if (length == padded) {
            return true;
        }
        uint256 last = _word(data, 5 + padded / 32); // the last word of the bytes
        return last << (8 * (32 - (padded - length))) == 0;
    }

    /// @dev attestations.py `attestation_digest`: keccak(0x1901 || domainSeparator || hashStruct).
    function _attestationDigest(uint256 assetId, uint256 sequence, bytes32 commitment, uint256 timestamp)
        private
        view
        returns (bytes32)
    {
        bytes32 structHash = keccak256(abi.encode(ATTESTATION_TYPEHASH, assetId, sequence, commitment, timestamp));
        return keccak256(abi.encodePacked(hex"1901", domainSeparator, structHash));
    }

    /// @dev attestations.py `recover_signer` (checked canonical arguments): a 65-byte r || s || v, v 27 or
    ///      28, 0 < r < n, 0 < s <= n/2; address(0) when there is no signer.
    function _recoverSigner(bytes32 digest, bytes memory data) private pure returns (address) {
        if (_word(data, 5) != SIGNATURE_LENGTH) {
            return address(0);
        }
        (uint256 r, uint256 s, uint256 v) = (_word(data, 6), _word(data, 7), _word(data, 8) >> 248);
        if ((v != 27 && v != 28) || r == 0 || r >= SECP256K1_N || s == 0 || s > SECP256K1_N / 2) {
            return address(0);
        }
        return ecrecover(digest, uint8(v), bytes32(r), bytes32(s));
    }

    /// @dev attestations.py `Attestor.may_attest` over the record's leaves: active, and the asset id
    ///      `hi << 128 | lo` (as Python's unbounded int) is the asset's, or 0 for an auditor.
    function _mayAttest(uint256 status, uint256 hi, uint256 lo, uint256 assetId) private pure returns (bool) {
        if (status >> 8 == 0 || hi >> 128 != 0) {
            return false; // inactive, or a record asset id of more than 256 bits (it matches none)
        }
        uint256 recordAsset = (hi << 128) | lo;
        return recordAsset == assetId || (status & 0xFF == KIND_AUDITOR && recordAsset == 0);
    }

    /// @dev The ABI decoder's checks of a view's arguments (abi.py `words`, `word_address`, attestations.py
    ///      `_uint64`); a view writes nothing.
    function _viewArgumentsDecode(bytes4 selector, bytes memory data) private pure returns (bool) {
        if (selector == SEL_ATTESTOR) {
            return data.length == 36 && _word(data, 0) >> 160 == 0;
        }
        if (selector == SEL_LAST_SEQUENCE) {
            return data.length == 68 && _word(data, 0) >> 160 == 0;
        }
        return data.length == 100 && _word(data, 0) >> 160 == 0 && _word(data, 2) >> 64 == 0;
    }

    /// @dev attestations.py `read_attestor`: the status leaf (`kind | active << 8`) and the asset id halves.
    function _readAttestor(State memory st, address attestor) private view returns (uint256, uint256, uint256) {
        return (
            _get(st, _attestorKey(attestor, ATTESTOR_STATUS)),
            _get(st, _attestorKey(attestor, ATTESTOR_ASSET_HI)),
            _get(st, _attestorKey(attestor, ATTESTOR_ASSET_LO))
        );
    }

    /// @dev identity.py `identity_admin`: the system field 0.
    function _isIdentityAdmin(State memory st, address a) private view returns (bool) {
        return _get(st, _systemFieldKey(FIELD_IDENTITY_ADMIN)) == uint160(a);
    }

    function _attestorKey(address attestor, uint256 field) private view returns (uint256) {
        return Poseidon.hash3(_hashers(), DOMAIN_ATTESTOR, uint160(attestor), field);
    }

    function _lastSequenceKey(address attestor, uint256 assetId) private view returns (uint256) {
        return Poseidon.hash4(_hashers(), DOMAIN_LAST_SEQUENCE, uint160(attestor), assetId >> 128, assetId & MAX_UINT128);
    }

    function _attestationKeys(address attestor, uint256 assetId, uint256 sequence)
        private
        view
        returns (uint256, uint256)
    {
        (uint256 a, uint256 hi, uint256 lo) = (uint160(attestor), assetId >> 128, assetId & MAX_UINT128);
        return (
            Poseidon.hash5(poseidon5, DOMAIN_ATTESTATION_HI, a, hi, lo, sequence),
            Poseidon.hash5(poseidon5, DOMAIN_ATTESTATION_LO, a, hi, lo, sequence)
        );
    }
}
