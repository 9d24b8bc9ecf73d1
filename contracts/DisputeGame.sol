// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import "./BondPayments.sol";

/// @notice What the game reads of and reports to the rollup.
interface IRollupGames {
    function outputs(uint256 batchIndex)
        external
        view
        returns (bytes32 stateRoot, address proposer, uint64 proposedAt, uint32 openGames, uint256 id);

    function nextOutputIndex() external view returns (uint256);

    function preStateRoot(uint256 batchIndex) external view returns (bytes32);

    function batchItems(uint256 batchIndex) external view returns (bytes32 itemsRoot, uint256 itemCount);

    function gameOpened(uint256 batchIndex, uint256 id) external;

    function gameResolved(uint256 batchIndex, uint256 id, bool challengerWon, address challenger)
        external
        returns (bool live);
}

/// @notice Executes one item of a committed batch over an agreed state root (contracts/OneStepProof.sol).
interface IOneStepProof {
    function execute(bytes32 preStateRoot, bytes32 itemsRoot, uint256 itemCount, uint256 index, bytes calldata proof)
        external
        view
        returns (bytes32 postStateRoot);
}

/// @title Bisection game over the per-item state roots of one batch
/// @notice A challenger disputes output `batchIndex` with a bond. The interval [lo, hi] of item positions
///         starts at [0, itemCount]: the root at lo is agreed (first the previous output's), the root at hi
///         is the proposer's claim (first the output itself). The proposer claims the root at the midpoint;
///         the challenger agrees (the interval moves right) or disagrees (it moves left). At one item, anyone
///         runs the one-step proof of item lo over the agreed root: if it yields the proposer's root at hi the
///         proposer wins, else the challenger. Each side has a chess clock that runs on its turn (the
///         challenger's during the final step); a side whose clock runs out loses (anyone calls `timeout`).
///         The loser's bond goes to the winner: the rollup pays the proposer's, this contract the challenger's.
contract DisputeGame is BondPayments {
    enum Status {
        None,
        InProgress,
        ChallengerWon,
        ProposerWon,
        Void
    }

    enum Turn {
        Proposer,
        Challenger
    }

    struct Game {
        uint256 batchIndex;
        uint256 outputId;
        address proposer;
        address challenger;
        uint256 lo;
        uint256 hi;
        bytes32 rootLo;
        bytes32 rootHi;
        bytes32 midRoot;
        bool midPending;
        Turn turn;
        Status status;
        uint64 lastMoveAt;
        uint64 proposerTimeLeft;
        uint64 challengerTimeLeft;
    }

    event GameCreated(
        uint256 indexed gameId, uint256 indexed batchIndex, address indexed challenger, address proposer, uint256 itemCount
    );
    event MidpointClaimed(uint256 indexed gameId, uint256 lo, uint256 hi, uint256 mid, bytes32 root);
    event MidpointChosen(uint256 indexed gameId, bool agree, uint256 lo, uint256 hi);
    event GameResolved(uint256 indexed gameId, Status status);

    IRollupGames public immutable rollup;
    IOneStepProof public immutable oneStepProof;
    /// @notice Wei a challenger locks per game.
    uint256 public immutable challengeBond;
    /// @notice Seconds each side may spend on its moves over the whole game.
    uint64 public immutable clockSeconds;

    Game[] private _games;

    constructor(address rollup_, address oneStepProof_, uint256 challengeBond_, uint64 clockSeconds_) {
        rollup = IRollupGames(rollup_);
        oneStepProof = IOneStepProof(oneStepProof_);
        challengeBond = challengeBond_;
        clockSeconds = clockSeconds_;
    }

    function gameCount() external view returns (uint256) {
        return _games.length;
    }

    function game(uint256 gameId) external view returns (Game memory) {
        require(gameId < _games.length, "DisputeGame: no such game");
        return _games[gameId];
    }

    // --- moves --------------------------------------------------------------------------------------

    /// @notice Opens a game against the current output `batchIndex`, locking `challengeBond` wei.
    function createGame(uint256 batchIndex) external payable returns (uint256 gameId) {
        require(msg.value == challengeBond, "DisputeGame: bond must equal challengeBond");
        require(batchIndex < rollup.nextOutputIndex(), "DisputeGame: no such output");
        (bytes32 root, address proposer,,, uint256 outputId) = rollup.outputs(batchIndex);
        rollup.gameOpened(batchIndex, outputId); // reverts unless the output is open to challenges
        (, uint256 itemCount) = rollup.batchItems(batchIndex);
        gameId = _games.length;
        _games.push(
            Game({
                batchIndex: batchIndex,
                outputId: outputId,
                proposer: proposer,
                challenger: msg.sender,
                lo: 0,
                hi: itemCount,
                rootLo: rollup.preStateRoot(batchIndex),
                rootHi: root,
                midRoot: bytes32(0),
                midPending: false,
                turn: itemCount > 1 ? Turn.Proposer : Turn.Challenger,
                status: Status.InProgress,
                lastMoveAt: uint64(block.timestamp),
                proposerTimeLeft: clockSeconds,
                challengerTimeLeft: clockSeconds
            })
        );
        emit GameCreated(gameId, batchIndex, msg.sender, proposer, itemCount);
        if (itemCount == 0) {
            Game storage g = _games[gameId];
            _resolve(gameId, g.rootLo != g.rootHi); // no items: the state must not change
        }
    }

    /// @notice The proposer claims the state root at the interval's midpoint.
    function claimMidpoint(uint256 gameId, bytes32 root) external {
        Game storage g = _live(gameId);
        require(msg.sender == g.proposer, "DisputeGame: only the proposer claims midpoints");
        require(g.turn == Turn.Proposer, "DisputeGame: not the proposer's turn");
        require(g.hi - g.lo > 1, "DisputeGame: interval is one step");
        _tick(g);
        g.midRoot = root;
        g.midPending = true;
        g.turn = Turn.Challenger;
        emit MidpointClaimed(gameId, g.lo, g.hi, (g.lo + g.hi) / 2, root);
    }

    /// @notice The challenger agrees with the claimed midpoint root (dispute the right half) or not (left).
    function chooseHalf(uint256 gameId, bool agree) external {
        Game storage g = _live(gameId);
        require(msg.sender == g.challenger, "DisputeGame: only the challenger chooses");
        require(g.turn == Turn.Challenger && g.midPending, "DisputeGame: no midpoint to choose on");
        _tick(g);
        uint256 mid = (g.lo + g.hi) / 2;
        if (agree) {
            g.lo = mid;
            g.rootLo = g.midRoot;
        } else {
            g.hi = mid;
            g.rootHi = g.midRoot;
        }
        g.midPending = false;
        g.turn = g.hi - g.lo > 1 ? Turn.Proposer : Turn.Challenger;
        emit MidpointChosen(gameId, agree, g.lo, g.hi);
    }

    /// @notice Executes item `lo` on L1 over the agreed root and decides the game; anyone may call.
    function step(uint256 gameId, bytes calldata proof) external {
        Game storage g = _live(gameId);
        require(g.hi - g.lo == 1, "DisputeGame: not down to one step");
        _tick(g);
        (bytes32 itemsRoot, uint256 itemCount) = rollup.batchItems(g.batchIndex);
        bytes32 post = oneStepProof.execute(g.rootLo, itemsRoot, itemCount, g.lo, proof);
        _resolve(gameId, post != g.rootHi);
    }

    /// @notice Ends a game whose side to move has run out of time: that side loses. Anyone may call.
    function timeout(uint256 gameId) external {
        Game storage g = _live(gameId);
        require(block.timestamp - g.lastMoveAt > _timeLeft(g), "DisputeGame: clock has not run out");
        _resolve(gameId, g.turn == Turn.Proposer);
    }

    /// @notice Ends a game whose output was already reverted by another game; the bond is returned.
    function voidGame(uint256 gameId) external {
        Game storage g = _live(gameId);
        (,,,, uint256 id) = rollup.outputs(g.batchIndex);
        require(g.batchIndex >= rollup.nextOutputIndex() || id != g.outputId, "DisputeGame: output still live");
        _resolve(gameId, false);
    }

    // --- internals ----------------------------------------------------------------------------------

    function _live(uint256 gameId) private view returns (Game storage g) {
        require(gameId < _games.length, "DisputeGame: no such game");
        g = _games[gameId];
        require(g.status == Status.InProgress, "DisputeGame: game is over");
    }

    function _timeLeft(Game storage g) private view returns (uint64) {
        return g.turn == Turn.Proposer ? g.proposerTimeLeft : g.challengerTimeLeft;
    }

    /// @dev Charges the time since the last move to the side to move; reverts once its clock ran out.
    function _tick(Game storage g) private {
        uint64 elapsed = uint64(block.timestamp) - g.lastMoveAt;
        require(elapsed <= _timeLeft(g), "DisputeGame: clock ran out");
        if (g.turn == Turn.Proposer) {
            g.proposerTimeLeft -= elapsed;
        } else {
            g.challengerTimeLeft -= elapsed;
        }
        g.lastMoveAt = uint64(block.timestamp);
    }

    function _resolve(uint256 gameId, bool challengerWon) private {
        Game storage g = _games[gameId];
        bool live = rollup.gameResolved(g.batchIndex, g.outputId, challengerWon, g.challenger);
        if (!live) {
            g.status = Status.Void;
            _pay(g.challenger, challengeBond);
        } else if (challengerWon) {
            g.status = Status.ChallengerWon;
            _pay(g.challenger, challengeBond); // its own bond back; the rollup pays it the proposer's
        } else {
            g.status = Status.ProposerWon;
            _pay(g.proposer, challengeBond);
        }
        emit GameResolved(gameId, g.status);
    }
}
