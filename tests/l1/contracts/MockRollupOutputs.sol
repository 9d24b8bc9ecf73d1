// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice Test-only IRollupOutputs: the test finalizes state roots by hand; others revert like the
///         real rollup's unfinalized batches.
contract MockRollupOutputs {
    mapping(uint256 => bytes32) private _roots;
    mapping(uint256 => bool) private _finalized;

    function finalize(uint256 batchIndex, bytes32 stateRoot) external {
        _roots[batchIndex] = stateRoot;
        _finalized[batchIndex] = true;
    }

    function finalizedStateRoot(uint256 batchIndex) external view returns (bytes32) {
        require(_finalized[batchIndex], "Rollup: batch not finalized");
        return _roots[batchIndex];
    }
}
