"""The proposer: posts each committed batch's output with a bond, finalizes outputs whose window has
passed, and defends its outputs in dispute games.

Its outputs are its own re-derivation of the L1 data (`Replayer`), so it posts what the data says
whatever its node did. With a faulty mode (tests on the devnet only, prover/fault/faulty.py) it posts
and defends wrong outputs until one is reverted, then turns honest and proposes again from there.
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
from prover.fault.faulty import FaultyMode
from prover.fault.game import GamePlayer, Status
from prover.fault.outputs import read_output, run_loop
from prover.fault.replay import Replayer

log = logging.getLogger(__name__)


class Proposer:
    def __init__(
        self,
        w3: Web3,
        deployment: L1Deployment,
        txm: L1TxManager,
        watcher: L1Watcher,
        genesis: Genesis,
        fault: FaultyMode | None = None,
        interval_s: float = 0.5,
    ) -> None:
        self.w3 = w3
        self.rollup = deployment.rollup(w3)
        self.txm = txm
        self.watcher = watcher
        self.fault = fault
        self.replay = Replayer(w3, deployment, watcher, genesis, fault.executor() if fault else None)
        self.player = GamePlayer(w3, deployment, txm, self.replay, can_prove=fault is None)
        self.bond = int(self.rollup.functions.proposalBond().call())
        self.window = int(self.rollup.functions.challengeWindow().call())
        self.interval_s = interval_s
        self._next_output = int(self.rollup.functions.nextOutputIndex().call())
        self._first_open_game = 0
        self._seen_head = -1  # the L1 head the last round acted on
        self._finalize_due = 0.0  # monotonic time when the next output's window ends (inf: unknown)
        self._games_in_progress = False
        self._stop = threading.Event()

    def tick(self) -> None:
        """One round. Batches, outputs and games change only in new L1 blocks, so on an unchanged L1
        head only the clocks are looked at: the next output's window and games in progress."""
        self.watcher.poll()
        head = self.watcher.l1_head
        moved = head != self._seen_head
        if moved:
            self.replay.forget_finalized(self.watcher.finalized_outputs)
            while self.propose() is not None:
                pass
        if time.monotonic() >= self._finalize_due or (moved and self._finalize_due == float("inf")):
            self.finalize()  # when the next window ends, or when L1 may have brought a first output
        if moved or self._games_in_progress:
            self.defend()
        self._seen_head = head

    def _after_revert(self, index: int) -> None:
        """Outputs from `index` on were reverted: a faulty proposer turns honest (the chain goes on)."""
        if self.fault is not None and self.fault.active:
            log.warning("output %d reverted: faulty mode %s off", index, self.fault.name)
            self.fault.active = False
            self.replay.reset()
            self.player.can_prove = True

    def propose(self) -> int | None:
        """Propose the next output if its batch is committed; returns its batch index."""
        index = int(self.rollup.functions.nextOutputIndex().call())
        if index < self._next_output:
            self._after_revert(index)
        self._next_output = index
        if index >= min(int(self.rollup.functions.nextBatchIndex().call()), len(self.watcher.batches)):
            return None
        root = self.replay.output_root(index)
        if self.fault is not None:
            root = self.fault.wrong_root(root)
        data = self.rollup.encode_abi("proposeOutput", [index, root.to_bytes(32, "big")])
        try:
            self.txm.send({"to": self.rollup.address, "data": data, "value": self.bond})
        except TxReverted as exc:  # someone else proposed it first
            log.info("output %d not proposed: %s", index, exc.reason)
            return None
        self._next_output = index + 1
        log.info("proposed output %d: 0x%064x", index, root)
        return index

    def finalize(self) -> None:
        """Finalize outputs in order once their window has passed with no open game (anyone may)."""
        index = int(self.rollup.functions.finalizedOutputCount().call())
        # The next L1 block's time: an idle L1's latest block may be older than the wall clock.
        now = max(int(self.w3.eth.get_block("latest")["timestamp"]), int(time.time()))
        self._finalize_due = float("inf")  # nothing to finalize until L1 moves...
        while index < int(self.rollup.functions.nextOutputIndex().call()):
            output = read_output(self.rollup, index)
            if output.open_games:
                return
            if now < output.proposed_at + self.window:  # ...or until this window has passed
                self._finalize_due = time.monotonic() + (output.proposed_at + self.window - now)
                return
            data = self.rollup.encode_abi("finalizeOutput", [index])
            try:
                self.txm.send({"to": self.rollup.address, "data": data})
            except TxReverted as exc:
                log.info("output %d not finalized: %s", index, exc.reason)
                self._finalize_due = time.monotonic() + 1.0  # L1's clock may lag ours: try again soon
                return
            log.info("finalized output %d", index)
            index += 1

    def defend(self) -> None:
        """Move in every open game against our outputs (and time out silent challengers)."""
        in_progress = False
        for game in self.player.games(self._first_open_game):
            if game.status == Status.IN_PROGRESS:
                in_progress = True
                self.player.act(game.game_id)
            elif game.game_id == self._first_open_game:
                self._first_open_game += 1
        self._games_in_progress = in_progress

    def run(self) -> None:
        run_loop("proposer", self.tick, self._stop, self.interval_s)

    def start(self) -> None:
        threading.Thread(target=self.run, name="proposer", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
