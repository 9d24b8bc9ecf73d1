// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title circomlib's Poseidon over BN254, through circomlibjs's generated hasher contracts
/// @notice The state tree hashes with circomlib's Poseidon (docs/architecture.md, "State commitment").
///         The hashers are circomlibjs's own EVM code (`poseidonContract.createCode(n)`, deployed by
///         jovay/l1/poseidon.py), one per input count; this library calls them with a raw staticcall.
///         Inputs must be field elements (< FIELD_MODULUS): the hashers reduce silently.
library Poseidon {
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;

    /// @notice The deployed hashers: `p2` hashes 2 inputs, `p3` 3, `p4` 4.
    struct Hashers {
        address p2;
        address p3;
        address p4;
    }

    bytes4 private constant SELECTOR_2 = bytes4(keccak256("poseidon(uint256[2])"));
    bytes4 private constant SELECTOR_3 = bytes4(keccak256("poseidon(uint256[3])"));
    bytes4 private constant SELECTOR_4 = bytes4(keccak256("poseidon(uint256[4])"));
    bytes4 private constant SELECTOR_5 = bytes4(keccak256("poseidon(uint256[5])"));

    function hash2(Hashers memory h, uint256 a, uint256 b) internal view returns (uint256 r) {
        bool ok;
        address target = h.p2;
        bytes4 selector = SELECTOR_2;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), a)
            mstore(add(m, 0x24), b)
            ok := staticcall(gas(), target, m, 0x44, m, 0x20)
            ok := and(ok, eq(returndatasize(), 0x20))
            r := mload(m)
        }
        require(ok, "Poseidon: hasher call failed");
    }

    function hash3(Hashers memory h, uint256 a, uint256 b, uint256 c) internal view returns (uint256 r) {
        bool ok;
        address target = h.p3;
        bytes4 selector = SELECTOR_3;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), a)
            mstore(add(m, 0x24), b)
            mstore(add(m, 0x44), c)
            ok := staticcall(gas(), target, m, 0x64, m, 0x20)
            ok := and(ok, eq(returndatasize(), 0x20))
            r := mload(m)
        }
        require(ok, "Poseidon: hasher call failed");
    }

    function hash4(Hashers memory h, uint256 a, uint256 b, uint256 c, uint256 d)
        internal
        view
        returns (uint256 r)
    {
        bool ok;
        address target = h.p4;
        bytes4 selector = SELECTOR_4;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), a)
            mstore(add(m, 0x24), b)
            mstore(add(m, 0x44), c)
            mstore(add(m, 0x64), d)
            ok := staticcall(gas(), target, m, 0x84, m, 0x20)
            ok := and(ok, eq(returndatasize(), 0x20))
            r := mload(m)
        }
        require(ok, "Poseidon: hasher call failed");
    }

    /// @notice Five inputs (attestation keys); the hasher is passed on its own, outside `Hashers`.
    function hash5(address p5, uint256 a, uint256 b, uint256 c, uint256 d, uint256 e)
        internal
        view
        returns (uint256 r)
    {
        bool ok;
        bytes4 selector = SELECTOR_5;
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, selector)
            mstore(add(m, 0x04), a)
            mstore(add(m, 0x24), b)
            mstore(add(m, 0x44), c)
            mstore(add(m, 0x64), d)
            mstore(add(m, 0x84), e)
            ok := staticcall(gas(), p5, m, 0xa4, m, 0x20)
            ok := and(ok, eq(returndatasize(), 0x20))
            r := mload(m)
        }
        require(ok, "Poseidon: hasher call failed");
    }
}
