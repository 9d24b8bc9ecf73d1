"""The challenger: re-derives every output from L1 data, disputes the first wrong one, plays to the win.

It reads only L1 (batch calldata, the deposit queue, outputs, games) and the genesis file, and computes
the honest per-item roots with jovay/stf through `Replayer`. For the earliest output whose root differs
from its own it opens a game (later outputs build on that one and fall with it), then makes its move in
each of its games until they end. After a revert, if nobody proposes the correct output within a grace
period, it proposes it itself. It imports neither the RPC server nor the node wiring.
"""

from __future__ import annotations

import logging
import threading
import time

from web3 import Web3

from jovay.l1.contracts import L1Deployment
from jovay.l1.txmanager import L1TxManager, TxReverted
from jovay.l1.watcher import L1Watcher
from jovay.stf.genesis import Genesis
from prover.fault.game import GamePlayer, Status
from prover.fault.outputs import read_output, run_loop
from prover.fault.replay import Replayer

log = logging.getLogger(__name__)

PROPOSAL_GRACE_S = 15.0


class Challenger:
    def __init__(
        self,
        w3: Web3,
        deployment: L1Deployment,
        txm: L1TxManager,
        watcher: L1Watcher,
        genesis: Genesis,
        interval_s: float = 0.5,
        proposal_grace_s: float = PROPOSAL_GRACE_S,
    ) -> None:
        self.w3 = w3
        self.rollup = deployment.rollup(w3)
        self.game = deployment.dispute_game(w3)
        self.txm = txm
        self.watcher = watcher
        self.replay = Replayer(w3, deployment, watcher, genesis)
        self.player = GamePlayer(w3, deployment, txm, self.replay)
        self.window = int(self.rollup.functions.challengeWindow().call())
        self.challenge_bond = int(self.game.functions.challengeBond().call())
        self.proposal_bond = int(self.rollup.functions.proposalBond().call())
        self.interval_s = interval_s
        self.proposal_grace_s = proposal_grace_s
        self.challenged: set[tuple[int, int]] = set()  # (batch index, output id)
        self._first_open_game = 0
        self._stalled: tuple[int, float] | None = None  # (next output index, since when)
        self._stop = threading.Event()
        genesis_root = int.from_bytes(self.rollup.functions.genesisStateRoot().call(), "big")
        if genesis_root != self.replay.genesis_root:
            raise ValueError("genesis file does not give the Rollup's genesis state root")

    def tick(self) -> None:
        self.watcher.poll()
        self.challenge_wrong_output()
        self.play()
        self.propose_if_stalled()

    def first_wrong_output(self) -> int | None:
        """The earliest unfinalized output whose root differs from the data's; None if all agree."""
        index = int(self.rollup.functions.finalizedOutputCount().call())
        end = min(int(self.rollup.functions.nextOutputIndex().call()), len(self.watcher.batches))
        for i in range(index, end):
            if read_output(self.rollup, i).state_root != self.replay.output_root(i):
                return i
        return None

    def challenge_wrong_output(self) -> int | None:
        """Open a game against the first wrong output, once per proposal; returns the batch index."""
        index = self.first_wrong_output()
        if index is None:
            return None
        output = read_output(self.rollup, index)
        if (index, output.output_id) in self.challenged:
            return None
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        if now >= output.proposed_at + self.window:
            log.error("output %d is wrong but its window closed before it was seen", index)
            self.challenged.add((index, output.output_id))
            return None
        data = self.game.encode_abi("createGame", [index])
        try:
            self.txm.send({"to": self.game.address, "data": data, "value": self.challenge_bond})
        except TxReverted as exc:
            log.warning("could not challenge output %d: %s", index, exc.reason)
            return None
        self.challenged.add((index, output.output_id))
        log.warning(
            "challenged output %d: posted 0x%064x, data gives 0x%064x",
            index,
            output.state_root,
            self.replay.output_root(index),
        )
        return index

    def play(self) -> None:
        for game in self.player.games(self._first_open_game):
            if game.status == Status.IN_PROGRESS:
                self.player.act(game.game_id)
            elif game.game_id == self._first_open_game:
                self._first_open_game += 1

    def propose_if_stalled(self) -> None:
        """Propose the correct next output when outputs lag the batches and have not moved for longer
        than the grace period (e.g. after a revert, when the proposer is gone)."""
        index = int(self.rollup.functions.nextOutputIndex().call())
        if index >= min(int(self.rollup.functions.nextBatchIndex().call()), len(self.watcher.batches)):
            self._stalled = None
            return
        now = time.monotonic()
        if self._stalled is None or self._stalled[0] != index:
            self._stalled = (index, now)
            return
        if now - self._stalled[1] < self.proposal_grace_s:
            return
        root = self.replay.output_root(index)
        data = self.rollup.encode_abi("proposeOutput", [index, root.to_bytes(32, "big")])
        try:
            self.txm.send({"to": self.rollup.address, "data": data, "value": self.proposal_bond})
            log.info("proposed output %d (nobody else did): 0x%064x", index, root)
        except TxReverted as exc:
            log.info("output %d not proposed: %s", index, exc.reason)
        self._stalled = None

    def run(self) -> None:
        run_loop("challenger", self.tick, self._stop, self.interval_s)

    def stop(self) -> None:
        self._stop.set()
