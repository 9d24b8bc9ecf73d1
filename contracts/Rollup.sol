// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./BondPayments.sol";
import "./IRollupOutputs.sol";

/// @notice The part of the Bridge the rollup reads.
interface IL1MessageQueue {
    function queueLength() external view returns (uint256);

    function rollingHashAt(uint256 position) external view returns (bytes32);
}

/// @title Jovay rollup
/// @notice Batch data and outputs are separate. The batcher commits batches in order (data hash, item
///         commitment, pinned L1 message queue prefix). Anyone posting the bond proposes the output (state
///         root) of the next batch, chained on the previous output. An output finalizes once its challenge
///         window has passed with no open dispute game; a game the proposer loses deletes the output and
///         every later one, pays the proposer's bond to the challenger, and proposals resume there.
contract Rollup is IRollupOutputs, BondPayments {
    /// @notice What L1 keeps of a committed batch. `itemsRoot` commits to `itemCount` items (deposits and
    ///         transactions with their block environment; jovay/codec/batch.py).
    struct Batch {
        bytes32 dataHash;
        bytes32 itemsRoot;
        uint256 itemCount;
        uint256 lastL2Block;
        uint256 l1MessageQueuePosition;
        bytes32 l1MessageRollingHash;
        uint256 l1BlockNumber;
    }

    /// @notice A proposed output; `id` is unique over all proposals (a game names the proposal it disputes).
    struct Output {
        bytes32 stateRoot;
        address proposer;
        uint64 proposedAt;
        uint32 openGames;
        uint256 id;
    }

    event BatchCommitted(
        uint256 indexed batchIndex,
        bytes32 dataHash,
        bytes32 txListCommitment,
        bytes32 preStateRoot,
        bytes32 postStateRoot,
        uint256 lastL2Block,
        uint256 l1MessageQueuePosition,
        uint256 itemCount
    );
    event OutputProposed(uint256 indexed batchIndex, bytes32 stateRoot, address indexed proposer, uint256 id);
    event OutputFinalized(uint256 indexed batchIndex, bytes32 stateRoot);
    event OutputsReverted(uint256 indexed fromBatchIndex, uint256 count, address indexed challenger);

    address public immutable batcher;
    bytes32 public immutable genesisStateRoot;
    IL1MessageQueue public immutable bridge;
    /// @notice Wei a proposer locks per output.
    uint256 public immutable proposalBond;
    /// @notice Seconds an output stays open to challenges.
    uint256 public immutable challengeWindow;
    /// @notice The one contract allowed to report games (set once by the deployer).
    address public disputeGame;
    address private immutable _deployer;

    /// @notice Committed batches by index.
    mapping(uint256 => Batch) public batches;
    /// @notice Index the next batch must have (= number of committed batches).
    uint256 public nextBatchIndex;
    /// @notice Last L2 block of the last batch (0 before the first batch).
    uint256 public lastCommittedL2Block;
    /// @notice L1 message queue position consumed up to by the last batch.
    uint256 public lastL1MessageQueuePosition;

    /// @notice Proposed outputs by batch index, for indices below `nextOutputIndex`.
    mapping(uint256 => Output) public outputs;
    /// @notice Batch index of the next output to propose (= number of live outputs).
    uint256 public nextOutputIndex;
    /// @notice Number of finalized outputs (outputs below it are final and never reverted).
    uint256 public finalizedOutputCount;
    uint256 private _lastOutputId;

    constructor(
        address batcher_,
        bytes32 genesisStateRoot_,
        address bridge_,
        uint256 proposalBond_,
        uint256 challengeWindow_
    ) {
        batcher = batcher_;
        genesisStateRoot = genesisStateRoot_;
        bridge = IL1MessageQueue(bridge_);
        proposalBond = proposalBond_;
        challengeWindow = challengeWindow_;
        _deployer = msg.sender;
    }

    /// @notice Wires the dispute game contract; once, by the deployer.
    function setDisputeGame(address game) external {
        require(msg.sender == _deployer, "Rollup: caller is not the deployer");
        require(disputeGame == address(0), "Rollup: dispute game already set");
        disputeGame = game;
    }

    // --- batch data ---------------------------------------------------------------------------------

    /// @notice Commits batch `batchIndex`; `data` is its encoded blocks (only its hash is stored). The
    ///         state roots are informational (the node's view); only proposed outputs count.
    function commitBatch(
        uint256 batchIndex,
        bytes calldata data,
        bytes32 itemsRoot,
        uint256 itemCount,
        bytes32 preRoot,
        bytes32 postRoot,
        uint256 lastL2Block,
        uint256 l1MessageQueuePosition
    ) external {
        require(msg.sender == batcher, "Rollup: caller is not the batcher");
        require(batchIndex == nextBatchIndex, "Rollup: batch index out of order");
        require(lastL2Block > lastCommittedL2Block, "Rollup: batch has no new L2 block");
        require(l1MessageQueuePosition >= lastL1MessageQueuePosition, "Rollup: queue position goes backwards");
        require(l1MessageQueuePosition <= bridge.queueLength(), "Rollup: queue position past queue length");
        require(data.length > 0, "Rollup: empty batch data");
        require((itemCount == 0) == (itemsRoot == bytes32(0)), "Rollup: item count and root disagree");

        bytes32 dataHash = keccak256(data);
        batches[batchIndex] = Batch({
            dataHash: dataHash,
            itemsRoot: itemsRoot,
            itemCount: itemCount,
            lastL2Block: lastL2Block,
            l1MessageQueuePosition: l1MessageQueuePosition,
            l1MessageRollingHash: bridge.rollingHashAt(l1MessageQueuePosition),
            l1BlockNumber: block.number
        });
        nextBatchIndex = batchIndex + 1;
        lastCommittedL2Block = lastL2Block;
        lastL1MessageQueuePosition = l1MessageQueuePosition;
        emit BatchCommitted(
            batchIndex,
            dataHash,
            itemsRoot,
            preRoot,
            postRoot,
            lastL2Block,
            l1MessageQueuePosition,
            itemCount
        );
    }

    /// @notice The L1 message queue position batch `batchIndex` starts at.
    function batchQueueStart(uint256 batchIndex) external view returns (uint256) {
        require(batchIndex < nextBatchIndex, "Rollup: batch not committed");
        return batchIndex == 0 ? 0 : batches[batchIndex - 1].l1MessageQueuePosition;
    }

    // --- outputs ------------------------------------------------------------------------------------

    /// @notice Proposes `stateRoot` as the state after batch `batchIndex`, locking `proposalBond` wei.
    function proposeOutput(uint256 batchIndex, bytes32 stateRoot) external payable {
        require(msg.value == proposalBond, "Rollup: bond must equal proposalBond");
        require(batchIndex == nextOutputIndex, "Rollup: output index out of order");
        require(batchIndex < nextBatchIndex, "Rollup: batch not committed");
        uint256 id = ++_lastOutputId;
        outputs[batchIndex] = Output(stateRoot, msg.sender, uint64(block.timestamp), 0, id);
        nextOutputIndex = batchIndex + 1;
        emit OutputProposed(batchIndex, stateRoot, msg.sender, id);
    }

    /// @notice Finalizes the next output once its window has passed and no game is open; returns its bond.
    function finalizeOutput(uint256 batchIndex) external {
        require(batchIndex == finalizedOutputCount, "Rollup: finalize outputs in order");
        require(batchIndex < nextOutputIndex, "Rollup: no such output");
        Output storage output = outputs[batchIndex];
        require(block.timestamp >= output.proposedAt + challengeWindow, "Rollup: challenge window still open");
        require(output.openGames == 0, "Rollup: output has an open dispute game");
        finalizedOutputCount = batchIndex + 1;
        emit OutputFinalized(batchIndex, output.stateRoot);
        _pay(output.proposer, proposalBond);
    }

    /// @inheritdoc IRollupOutputs
    function finalizedStateRoot(uint256 batchIndex) external view returns (bytes32) {
        require(batchIndex < finalizedOutputCount, "Rollup: output not finalized");
        return outputs[batchIndex].stateRoot;
    }

    /// @notice The state root output `batchIndex` builds on: the previous output's, or genesis.
    function preStateRoot(uint256 batchIndex) public view returns (bytes32) {
        return batchIndex == 0 ? genesisStateRoot : outputs[batchIndex - 1].stateRoot;
    }

    /// @notice Whether proposal `id` is still output `batchIndex` and open to challenges.
    function isChallengeable(uint256 batchIndex, uint256 id) public view returns (bool) {
        Output storage output = outputs[batchIndex];
        return batchIndex < nextOutputIndex && batchIndex >= finalizedOutputCount && output.id == id
            && block.timestamp < output.proposedAt + challengeWindow;
    }

    // --- games (called by the dispute game contract) ------------------------------------------------

    modifier onlyGame() {
        require(msg.sender == disputeGame, "Rollup: caller is not the dispute game");
        _;
    }

    /// @notice A game opened against output `batchIndex`; holds its finalization until resolved.
    function gameOpened(uint256 batchIndex, uint256 id) external onlyGame {
        require(isChallengeable(batchIndex, id), "Rollup: output is not challengeable");
        outputs[batchIndex].openGames += 1;
    }

    /// @notice A game against proposal `id` ended. Returns false when that proposal is gone already
    ///         (reverted by another game): the game is then void.
    function gameResolved(uint256 batchIndex, uint256 id, bool challengerWon, address challenger)
        external
        onlyGame
        returns (bool live)
    {
        Output storage output = outputs[batchIndex];
        if (batchIndex >= nextOutputIndex || output.id != id) {
            return false;
        }
        output.openGames -= 1;
        if (challengerWon) {
            _revertFrom(batchIndex, challenger);
        }
        return true;
    }

    /// @dev Deletes outputs batchIndex.. : the lost one's bond to the challenger, later ones refunded
    ///      (they were not shown wrong, only built on a wrong root).
    function _revertFrom(uint256 batchIndex, address challenger) private {
        uint256 end = nextOutputIndex;
        address[] memory refunds = new address[](end - batchIndex - 1);
        for (uint256 i = batchIndex + 1; i < end; ++i) {
            refunds[i - batchIndex - 1] = outputs[i].proposer;
            delete outputs[i];
        }
        delete outputs[batchIndex];
        nextOutputIndex = batchIndex;
        emit OutputsReverted(batchIndex, end - batchIndex, challenger);
        _pay(challenger, proposalBond);
        for (uint256 i = 0; i < refunds.length; ++i) {
            _pay(refunds[i], proposalBond);
        }
    }

    /// @notice Batch fields the dispute game and the one-step proof need.
    function batchItems(uint256 batchIndex) external view returns (bytes32 itemsRoot, uint256 itemCount) {
        require(batchIndex < nextBatchIndex, "Rollup: batch not committed");
        Batch storage b = batches[batchIndex];
        return (b.itemsRoot, b.itemCount);
    }
}
