// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The part of the Bridge the rollup reads.
interface IL1MessageQueue {
    function queueLength() external view returns (uint256);

    function rollingHashAt(uint256 position) external view returns (bytes32);
}

/// @title Jovay rollup
/// @notice Records the batcher's batches in order, chaining state roots from the genesis root and
///         pinning each batch to a prefix of the L1 message queue.
contract Rollup {
    /// @notice What L1 keeps of a committed batch.
    struct Batch {
        bytes32 dataHash;
        bytes32 txListCommitment;
        bytes32 preStateRoot;
        bytes32 postStateRoot;
        uint256 lastL2Block;
        uint256 l1MessageQueuePosition;
        bytes32 l1MessageRollingHash;
        uint256 l1BlockNumber;
    }

    event BatchCommitted(
        uint256 indexed batchIndex,
        bytes32 dataHash,
        bytes32 txListCommitment,
        bytes32 preStateRoot,
        bytes32 postStateRoot,
        uint256 lastL2Block,
        uint256 l1MessageQueuePosition
    );

    address public immutable batcher;
    bytes32 public immutable genesisStateRoot;
    IL1MessageQueue public immutable bridge;

    /// @notice Committed batches by index.
    mapping(uint256 => Batch) public batches;
    /// @notice Index the next batch must have (= number of committed batches).
    uint256 public nextBatchIndex;
    /// @notice Post-state root of the last batch, or the genesis root.
    bytes32 public lastStateRoot;
    /// @notice Last L2 block of the last batch (0 before the first batch).
    uint256 public lastCommittedL2Block;
    /// @notice L1 message queue position consumed up to by the last batch.
    uint256 public lastL1MessageQueuePosition;

    constructor(address batcher_, bytes32 genesisStateRoot_, address bridge_) {
        batcher = batcher_;
        genesisStateRoot = genesisStateRoot_;
        bridge = IL1MessageQueue(bridge_);
        lastStateRoot = genesisStateRoot_;
    }

    /// @notice Commits batch `batchIndex`; `data` is its encoded blocks (only its hash is stored).
    function commitBatch(
        uint256 batchIndex,
        bytes calldata data,
        bytes32 txListCommitment,
        bytes32 preStateRoot,
        bytes32 postStateRoot,
        uint256 lastL2Block,
        uint256 l1MessageQueuePosition
    ) external {
        require(msg.sender == batcher, "Rollup: caller is not the batcher");
        require(batchIndex == nextBatchIndex, "Rollup: batch index out of order");
        require(preStateRoot == lastStateRoot, "Rollup: pre-state root mismatch");
        require(l1MessageQueuePosition >= lastL1MessageQueuePosition, "Rollup: queue position goes backwards");
        require(l1MessageQueuePosition <= bridge.queueLength(), "Rollup: queue position past queue length");
        require(data.length > 0, "Rollup: empty batch data");

        bytes32 dataHash = keccak256(data);
        batches[batchIndex] = Batch({
            dataHash: dataHash,
            txListCommitment: txListCommitment,
            preStateRoot: preStateRoot,
            postStateRoot: postStateRoot,
            lastL2Block: lastL2Block,
            l1MessageQueuePosition: l1MessageQueuePosition,
            l1MessageRollingHash: bridge.rollingHashAt(l1MessageQueuePosition),
            l1BlockNumber: block.number
        });
        nextBatchIndex = batchIndex + 1;
        lastStateRoot = postStateRoot;
        lastCommittedL2Block = lastL2Block;
        lastL1MessageQueuePosition = l1MessageQueuePosition;
        emit BatchCommitted(
            batchIndex, dataHash, txListCommitment, preStateRoot, postStateRoot, lastL2Block, l1MessageQueuePosition
        );
    }
}
