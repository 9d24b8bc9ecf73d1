// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice What the Bridge reads of the rollup: a batch's state root once its output is final.
///         One declaration for both sides: the Rollup implements it, the Bridge calls it.
interface IRollupOutputs {
    /// @dev Reverts when batch `batchIndex` is not finalized.
    function finalizedStateRoot(uint256 batchIndex) external view returns (bytes32);
}
