// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./IRollupOutputs.sol";
import "./SparseMerkle.sol";

/// @title Jovay L1 bridge
/// @notice Locks ETH deposited for L2 and records each deposit in the L1 message queue, whose
///         rolling hash lets the rollup and the L2 node agree on the queue's contents. Pays out ETH
///         withdrawn on L2: a withdrawal is a state leaf (key Poseidon(33, index), value
///         Poseidon(l2Sender, l1Recipient, amount)), proven against a finalized batch's state root.
contract Bridge {
    /// @notice Emitted for every deposit; `rollingHash` is the queue hash after this message.
    event DepositQueued(
        uint256 indexed queueIndex,
        address indexed from,
        address indexed to,
        uint256 value,
        bytes32 rollingHash
    );

    /// @notice Emitted when withdrawal `withdrawalIndex` is paid out on L1.
    event WithdrawalFinalized(
        uint256 indexed withdrawalIndex,
        uint256 indexed batchIndex,
        address indexed l1Recipient,
        address l2Sender,
        uint256 amount
    );

    /// @notice The state-key domain of withdrawals (jovay/state/keys.py DOMAIN_WITHDRAWAL).
    uint256 public constant DOMAIN_WITHDRAWAL = 33;
    /// @notice Withdrawal indexes are L2 counters below 2^64 (a larger one could alias mod p).
    uint256 public constant WITHDRAWAL_INDEX_LIMIT = 2 ** 64;

    /// @dev `_rollingHashes[i]` is h_i, the queue hash after message i.
    bytes32[] private _rollingHashes;

    /// @notice Who may wire the rollup in, once (the rollup's constructor needs the bridge first).
    address public immutable deployer;
    address public immutable poseidon2;
    address public immutable poseidon3;
    address public immutable poseidon4;
    /// @notice Where finalized state roots come from; zero until `setRollup`.
    IRollupOutputs public rollup;
    /// @notice Withdrawals already paid, by L2 withdrawal index.
    mapping(uint256 => bool) public withdrawalClaimed;

    /// @param poseidon2_ circomlib Poseidon hashers for 2, 3 and 4 inputs (jovay/l1/poseidon.py).
    constructor(address poseidon2_, address poseidon3_, address poseidon4_) {
        deployer = msg.sender;
        poseidon2 = poseidon2_;
        poseidon3 = poseidon3_;
        poseidon4 = poseidon4_;
    }

    /// @notice Wires in the rollup whose finalized roots pay withdrawals; once, by the deployer.
    function setRollup(address rollup_) external {
        require(msg.sender == deployer, "Bridge: caller is not the deployer");
        require(address(rollup) == address(0), "Bridge: rollup already set");
        require(rollup_ != address(0), "Bridge: zero rollup");
        rollup = IRollupOutputs(rollup_);
    }

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

    /// @notice Pays withdrawal `withdrawalIndex`: `amount` wei burned on L2 by `l2Sender` for
    ///         `l1Recipient`, proven by `proof` against the state root of finalized batch `batchIndex`.
    ///         Anyone may submit it; the ETH always goes to `l1Recipient`, and only once.
    function finalizeWithdrawal(
        uint256 batchIndex,
        uint256 withdrawalIndex,
        address l2Sender,
        address l1Recipient,
        uint256 amount,
        SparseMerkle.Proof memory proof
    ) external {
        require(withdrawalIndex < WITHDRAWAL_INDEX_LIMIT, "Bridge: withdrawal index out of range");
        require(amount > 0 && amount < 2 ** 128, "Bridge: withdrawal amount out of range");
        require(!withdrawalClaimed[withdrawalIndex], "Bridge: withdrawal already claimed");
        IRollupOutputs rollup_ = rollup;
        require(address(rollup_) != address(0), "Bridge: rollup not set");
        uint256 root = uint256(rollup_.finalizedStateRoot(batchIndex)); // reverts unless finalized
        require(
            _withdrawalProven(root, withdrawalIndex, l2Sender, l1Recipient, amount, proof),
            "Bridge: invalid withdrawal proof"
        );
        withdrawalClaimed[withdrawalIndex] = true;
        emit WithdrawalFinalized(withdrawalIndex, batchIndex, l1Recipient, l2Sender, amount);
        (bool sent, ) = l1Recipient.call{value: amount}("");
        require(sent, "Bridge: ETH transfer failed");
    }

    /// @notice The hashers, as the Poseidon and SparseMerkle libraries take them.
    function hashers() public view returns (Poseidon.Hashers memory) {
        return Poseidon.Hashers(poseidon2, poseidon3, poseidon4);
    }

    function _withdrawalProven(
        uint256 root,
        uint256 withdrawalIndex,
        address l2Sender,
        address l1Recipient,
        uint256 amount,
        SparseMerkle.Proof memory proof
    ) private view returns (bool) {
        Poseidon.Hashers memory h = hashers();
        uint256 key = Poseidon.hash2(h, DOMAIN_WITHDRAWAL, withdrawalIndex);
        uint256 value = Poseidon.hash3(h, uint256(uint160(l2Sender)), uint256(uint160(l1Recipient)), amount);
        return SparseMerkle.verify(h, root, key, value, proof);
    }
}
