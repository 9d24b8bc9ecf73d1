"""Reading proposed outputs from the Rollup contract, and the loop both services run."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from web3.contract import Contract

from jovay.errors import TemporaryError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Output:
    """`Rollup.Output` of one batch."""

    batch_index: int
    state_root: int
    proposer: str
    proposed_at: int
    open_games: int
    output_id: int


def read_output(rollup: Contract, batch_index: int) -> Output:
    root, proposer, proposed_at, open_games, output_id = rollup.functions.outputs(batch_index).call()
    return Output(batch_index, int.from_bytes(root, "big"), proposer, proposed_at, open_games, output_id)


def run_loop(name: str, tick: Callable[[], None], stop: threading.Event, interval_s: float) -> None:
    """Call `tick` every `interval_s` until `stop`; temporary errors wait, bugs are logged loudly."""
    while not stop.is_set():
        try:
            tick()
        except TemporaryError as exc:
            log.debug("%s waits: %s", name, exc)
        except Exception:
            log.exception("%s failed; retrying", name)
        stop.wait(interval_s)
