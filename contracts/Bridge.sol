// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title Jovay L1 bridge
/// @notice Locks ETH deposited for L2 and records each deposit in the L1 message queue, whose
///         rolling hash lets the rollup and the L2 node agree on the queue's contents.
contract Bridge {
    /// @notice Emitted for every deposit; `rollingHash` is the queue hash after this message.
    event DepositQueued(
        uint256 indexed queueIndex,
        address indexed from,
        address indexed to,
        uint256 value,
        bytes32 rollingHash
    );

    /// @dev `_rollingHashes[i]` is h_i, the queue hash after message i.
    bytes32[] private _rollingHashes;

    /// @notice Queues a deposit of `msg.value` wei to `to` on L2.
    function depositETH(address to) external payable {
        require(msg.value > 0, "Bridge: zero value");
        require(msg.value < 2 ** 128, "Bridge: value too large");
        uint256 index = _rollingHashes.length;
        bytes32 prev = index == 0 ? bytes32(0) : _rollingHashes[index - 1];
        bytes32 h = keccak256(abi.encode(prev, index, msg.sender, to, msg.value));
        _rollingHashes.push(h);
        emit DepositQueued(index, msg.sender, to, msg.value, h);
    }

    /// @notice Number of messages ever queued.
    function queueLength() external view returns (uint256) {
        return _rollingHashes.length;
    }

    /// @notice Queue hash after the first `position` messages (bytes32(0) for position 0).
    function rollingHashAt(uint256 position) external view returns (bytes32) {
        require(position <= _rollingHashes.length, "Bridge: position past queue length");
        return position == 0 ? bytes32(0) : _rollingHashes[position - 1];
    }
}
