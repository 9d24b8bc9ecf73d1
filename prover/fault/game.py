"""Playing dispute games (contracts/DisputeGame.sol) from either side, one move at a time.

A player knows the per-item roots it believes in (a `Replayer`). As the proposer it claims its root at
each midpoint; as the challenger it agrees with a claimed midpoint exactly when the root matches its
own. At one step it runs the one-step proof when the result proves it right; and it calls `timeout`
on any game whose side to move has run out of time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from web3 import Web3
from web3.contract import Contract

from jovay.l1.contracts import L1Deployment
from jovay.l1.txmanager import L1TxManager, TxReverted
from prover.fault.replay import Replayer

log = logging.getLogger(__name__)


class Status(IntEnum):
    NONE = 0
    IN_PROGRESS = 1
    CHALLENGER_WON = 2
    PROPOSER_WON = 3
    VOID = 4


class Turn(IntEnum):
    PROPOSER = 0
    CHALLENGER = 1


@dataclass(frozen=True, slots=True)
class GameState:
    """`DisputeGame.Game` as read from L1."""

    game_id: int
    batch_index: int
    output_id: int
    proposer: str
    challenger: str
    lo: int
    hi: int
    root_lo: int
    root_hi: int
    mid_root: int
    mid_pending: bool
    turn: Turn
    status: Status
    last_move_at: int
    proposer_time_left: int
    challenger_time_left: int

    @classmethod
    def from_abi(cls, game_id: int, g: Any) -> GameState:
        return cls(
            game_id,
            int(g[0]),
            int(g[1]),
            str(g[2]),
            str(g[3]),
            int(g[4]),
            int(g[5]),
            int.from_bytes(g[6], "big"),
            int.from_bytes(g[7], "big"),
            int.from_bytes(g[8], "big"),
            bool(g[9]),
            Turn(g[10]),
            Status(g[11]),
            int(g[12]),
            int(g[13]),
            int(g[14]),
        )

    @property
    def mid(self) -> int:
        return (self.lo + self.hi) // 2

    def time_left(self) -> int:
        return self.proposer_time_left if self.turn == Turn.PROPOSER else self.challenger_time_left


def read_game(game: Contract, game_id: int) -> GameState:
    return GameState.from_abi(game_id, game.functions.game(game_id).call())


def moves_for(item_count: int) -> int:
    """L1 transactions of a game played to the end: create, a claim and a choice per halving, the step."""
    return 2 + 2 * max(item_count - 1, 0).bit_length()


class GamePlayer:
    """Makes this key's next move in a game, if it has one. `can_prove`: whether the replay's rule is
    the honest one (only then does running the one-step proof show what the replay says)."""

    def __init__(
        self, w3: Web3, deployment: L1Deployment, txm: L1TxManager, replay: Replayer, can_prove: bool = True
    ) -> None:
        self.w3 = w3
        self.game = deployment.dispute_game(w3)
        self.txm = txm
        self.replay = replay
        self.can_prove = can_prove
        self.me = txm.address

    def send(self, function: str, args: list[Any], value: int = 0) -> None:
        data = self.game.encode_abi(function, args)
        self.txm.send({"to": self.game.address, "data": data, "value": value})

    def act(self, game_id: int) -> str | None:
        """One move in game `game_id` (or a timeout call); returns what it did, None if nothing."""
        g = read_game(self.game, game_id)
        if g.status != Status.IN_PROGRESS:
            return None
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        mine = {Turn.PROPOSER: g.proposer == self.me, Turn.CHALLENGER: g.challenger == self.me}
        if now - g.last_move_at > g.time_left():
            if mine[g.turn]:
                return None  # our own clock ran out: nothing to gain by calling it
            return self._try("timeout", [game_id], "timeout")
        if not (mine[Turn.PROPOSER] or mine[Turn.CHALLENGER]):
            return None
        roots = self.replay.roots(g.batch_index)
        if g.hi - g.lo == 1:
            return self._maybe_step(g, roots, mine)
        if mine[Turn.PROPOSER] and g.turn == Turn.PROPOSER and not g.mid_pending:
            root = roots[g.mid]
            return self._try("claimMidpoint", [game_id, root.to_bytes(32, "big")], f"claim {g.mid}")
        if mine[Turn.CHALLENGER] and g.turn == Turn.CHALLENGER and g.mid_pending:
            agree = g.mid_root == roots[g.mid]
            return self._try("chooseHalf", [game_id, agree], f"{'agree' if agree else 'disagree'} at {g.mid}")
        return None

    def _maybe_step(self, g: GameState, roots: list[int], mine: dict[Turn, bool]) -> str | None:
        """Run the one-step proof when its result makes this side win."""
        if not self.can_prove or roots[g.lo] != g.root_lo:
            return None
        correct = roots[g.hi]
        proposer_right = correct == g.root_hi
        if (mine[Turn.PROPOSER] and proposer_right) or (mine[Turn.CHALLENGER] and not proposer_right):
            witness = self.replay.witness(g.batch_index, g.lo)
            return self._try("step", [g.game_id, witness.encode()], f"step {g.lo}")
        return None

    def _try(self, function: str, args: list[Any], what: str) -> str | None:
        try:
            self.send(function, args)
        except TxReverted as exc:  # the other side (or a third party) moved first: look again next time
            log.info("game %d: %s refused: %s", args[0], what, exc.reason)
            return None
        log.info("game %d: %s", args[0], what)
        return what

    def games(self, start: int = 0) -> list[GameState]:
        """Every game from `start` on (the devnet has few; a production player would follow events)."""
        count = int(self.game.functions.gameCount().call())
        return [read_game(self.game, i) for i in range(start, count)]
