// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./SparseMerkle.sol";

/// @notice Test-only: exposes the Poseidon and SparseMerkle libraries, and their gas (gasleft deltas,
///         so the figures exclude the transaction's intrinsic cost).
contract SparseMerkleHarness {
    Poseidon.Hashers private _hashers;
    address private immutable _p5;

    constructor(address p2, address p3, address p4, address p5) {
        _hashers = Poseidon.Hashers(p2, p3, p4);
        _p5 = p5;
    }

    function hash2(uint256 a, uint256 b) external view returns (uint256) {
        return Poseidon.hash2(_hashers, a, b);
    }

    function hash3(uint256 a, uint256 b, uint256 c) external view returns (uint256) {
        return Poseidon.hash3(_hashers, a, b, c);
    }

    function hash4(uint256 a, uint256 b, uint256 c, uint256 d) external view returns (uint256) {
        return Poseidon.hash4(_hashers, a, b, c, d);
    }

    function hash5(uint256 a, uint256 b, uint256 c, uint256 d, uint256 e) external view returns (uint256) {
        return Poseidon.hash5(_p5, a, b, c, d, e);
    }

    function read(uint256 root, uint256 key, SparseMerkle.Proof memory p) external view returns (uint256) {
        return SparseMerkle.read(_hashers, root, key, p);
    }

    function verify(uint256 root, uint256 key, uint256 value, SparseMerkle.Proof memory p)
        external
        view
        returns (bool)
    {
        return SparseMerkle.verify(_hashers, root, key, value, p);
    }

    function update(uint256 root, uint256 key, uint256 oldValue, uint256 newValue, SparseMerkle.Proof memory p)
        external
        view
        returns (uint256)
    {
        return SparseMerkle.update(_hashers, root, key, oldValue, newValue, p);
    }

    /// @notice Gas of one hash of `n` inputs, the hasher cold (first touch) then warm.
    function hashGas(uint256 n) external view returns (uint256 cold, uint256 warm) {
        Poseidon.Hashers memory h = _hashers;
        for (uint256 i = 0; i < 2; ++i) {
            uint256 before = gasleft();
            if (n == 2) Poseidon.hash2(h, 1, 2);
            else if (n == 3) Poseidon.hash3(h, 1, 2, 3);
            else if (n == 4) Poseidon.hash4(h, 1, 2, 3, 4);
            else Poseidon.hash5(_p5, 1, 2, 3, 4, 5);
            uint256 used = before - gasleft();
            if (i == 0) cold = used;
            else warm = used;
        }
    }

    function verifyGas(uint256 root, uint256 key, uint256 value, SparseMerkle.Proof memory p)
        external
        view
        returns (bool ok, uint256 gasUsed)
    {
        Poseidon.Hashers memory h = _hashers;
        uint256 before = gasleft();
        ok = SparseMerkle.verify(h, root, key, value, p);
        gasUsed = before - gasleft();
    }

    function updateGas(uint256 root, uint256 key, uint256 oldValue, uint256 newValue, SparseMerkle.Proof memory p)
        external
        view
        returns (uint256 newRoot, uint256 gasUsed)
    {
        Poseidon.Hashers memory h = _hashers;
        uint256 before = gasleft();
        newRoot = SparseMerkle.update(h, root, key, oldValue, newValue, p);
        gasUsed = before - gasleft();
    }
}
