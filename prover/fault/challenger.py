"""The challenger: re-derives every output from L1 data, disputes the first wrong one, plays to the win.

It reads only L1 (batch calldata, the deposit queue, outputs, games) and the genesis file, and computes
the honest per-item roots with jovay/stf through `Replayer`. It follows `OutputProposed` logs and checks
each proposal once, in a new L1 block only (an idle L1 costs it one request per tick). For the earliest
output whose root differs from its own it opens a game (later outputs build on that one and fall with
it), then makes its move in each of its games until they end. After a revert, if nobody proposes the
correct output within a grace period, it proposes it itself. It imports neither the RPC server nor the
node wiring.
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
        self._unchecked: dict[int, tuple[int, int]] = {}  # batch index -> (output id, root) proposed
        self._proposals_from = deployment.deploy_block  # next L1 block to read OutputProposed logs from
        self._checked_head = -1  # the L1 head whose proposals were last read and checked
        self._games_in_progress = False
        # The earliest wrong output found: later outputs build on it and fall with it, so they are not
        # looked at until a new proposal replaces it (it lost) or it finalizes.
        self._earliest_wrong: int | None = None
        self._first_open_game = 0
        self._stalled: tuple[int, float] | None = None  # (next output index, since when)
        self._stop = threading.Event()
        genesis_root = int.from_bytes(self.rollup.functions.genesisStateRoot().call(), "big")
        if genesis_root != self.replay.genesis_root:
            raise ValueError("genesis file does not give the Rollup's genesis state root")

    def tick(self) -> None:
        """One round. Outputs and games change only in new L1 blocks, so on an unchanged L1 head only the
        clocks are looked at: games in progress (timeouts) and the stalled-proposal grace period."""
        self.watcher.poll()
        head = self.watcher.l1_head
        moved = head != self._checked_head
        if moved:
            self.replay.forget_finalized(self.watcher.finalized_outputs)
            self.read_proposals()
            self.challenge_wrong_output()
        if moved or self._games_in_progress:
            self.play()
        self.propose_if_stalled(moved)
        self._checked_head = head

    def read_proposals(self) -> None:
        """Queue the outputs proposed since the last read (`OutputProposed` logs up to the L1 head the
        watcher saw); each is re-derived and compared once, in `first_wrong_output`."""
        head = self.watcher.l1_head
        if head < self._proposals_from:
            return
        events = self.rollup.events.OutputProposed.get_logs(from_block=self._proposals_from, to_block=head)
        for event in events:
            args = event["args"]
            root, index = int.from_bytes(args["stateRoot"], "big"), int(args["batchIndex"])
            self._unchecked[index] = (int(args["id"]), root)
            if self._earliest_wrong is not None and index <= self._earliest_wrong:
                self._earliest_wrong = None  # reverted and proposed again
        self._proposals_from = head + 1

    def first_wrong_output(self) -> int | None:
        """The earliest proposal whose root differs from the data's and that still stands; None if all
        agree. A proposal found correct is never looked at again (a revert brings new proposals)."""
        if self._earliest_wrong is not None and self._earliest_wrong < self.replay.base_index:
            self._earliest_wrong = None  # it finalized after all
        for index in sorted(self._unchecked):
            if self._earliest_wrong is not None and index > self._earliest_wrong:
                break  # built on a wrong output that is being dealt with
            if index >= len(self.watcher.batches):
                break  # its batch is not known here yet: check it (and those after it) next time
            if index < self.replay.base_index:
                del self._unchecked[index]  # finalized meanwhile: no game can open on it
                continue
            output_id, root = self._unchecked[index]
            if root == self.replay.output_root(index):
                del self._unchecked[index]
                continue
            if read_output(self.rollup, index).output_id != output_id:
                del self._unchecked[index]  # already reverted and replaced; the new proposal is queued
                continue
            return index
        return None

    def challenge_wrong_output(self) -> int | None:
        """Open a game against the first wrong output, once per proposal; returns the batch index."""
        index = self.first_wrong_output()
        if index is None:
            return None
        output = read_output(self.rollup, index)
        del self._unchecked[index]  # challenged now, or never: either way decided once
        self._earliest_wrong = index
        if int(self.rollup.functions.finalizedOutputCount().call()) > index:
            log.error("output %d is wrong but finalized before it was checked", index)
            return None
        now = int(self.w3.eth.get_block("latest")["timestamp"])
        if now >= output.proposed_at + self.window:
            log.error("output %d is wrong but its window closed before it was seen", index)
            return None
        data = self.game.encode_abi("createGame", [index])
        try:
            self.txm.send({"to": self.game.address, "data": data, "value": self.challenge_bond})
        except TxReverted as exc:
            log.warning("could not challenge output %d: %s", index, exc.reason)
            self._unchecked[index] = (output.output_id, output.state_root)  # look again next block
            self._earliest_wrong = None
            return None
        log.warning(
            "challenged output %d: posted 0x%064x, data gives 0x%064x",
            index,
            output.state_root,
            self.replay.output_root(index),
        )
        return index

    def play(self) -> None:
        in_progress = False
        for game in self.player.games(self._first_open_game):
            if game.status == Status.IN_PROGRESS:
                in_progress = True
                self.player.act(game.game_id)
            elif game.game_id == self._first_open_game:
                self._first_open_game += 1
        self._games_in_progress = in_progress

    def propose_if_stalled(self, moved: bool = True) -> None:
        """Propose the correct next output when outputs lag the batches and have not moved for longer
        than the grace period (e.g. after a revert, when the proposer is gone). `moved`: whether L1 has
        new blocks; if not, only the grace period is looked at."""
        now = time.monotonic()
        if moved:
            index = int(self.rollup.functions.nextOutputIndex().call())
            if index >= min(int(self.rollup.functions.nextBatchIndex().call()), len(self.watcher.batches)):
                self._stalled = None
                return
            if self._stalled is None or self._stalled[0] != index:
                self._stalled = (index, now)
                return
        if self._stalled is None:
            return
        index = self._stalled[0]
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
