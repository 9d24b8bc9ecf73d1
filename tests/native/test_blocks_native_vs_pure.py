"""Native and pure paths give identical blocks: random blocks of mixed valid and invalid transactions
(bad nonces, bad signatures, another chain's id, insufficient funds, token transfers that revert) are
run through the real sequencer here and in a JOVAY_PURE=1 worker process; admission results,
receipts, logs, per-transaction roots and block hashes must be equal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jovay._native import NATIVE_AVAILABLE
from tests.native import block_runner

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not NATIVE_AVAILABLE or os.environ.get("JOVAY_PURE") == "1",
    reason="compares the native path with the pure one: needs the native extension built and in use",
)


class PureWorker:
    """block_runner's loop in a JOVAY_PURE=1 process: one description in, one report out."""

    def __init__(self) -> None:
        env = os.environ | {"JOVAY_PURE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.native.block_runner"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run(self, description: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(description) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the pure worker exited with {self.proc.wait()}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def pure_worker() -> Iterator[PureWorker]:
    worker = PureWorker()
    yield worker
    worker.close()


accounts = st.integers(min_value=0, max_value=len(block_runner.KEYS) - 1)
amounts = st.one_of(st.integers(min_value=0, max_value=2_000), st.sampled_from([10**15, 10**18, 10**22]))
shifts = st.sampled_from([0, 0, 0, 0, 0, 1, 2, -1])  # mostly in order; some gaps and reused nonces
tampers = st.sampled_from(block_runner.TAMPERS + ("none",) * 6)
transactions = st.tuples(st.sampled_from(block_runner.KINDS), accounts, accounts, amounts, shifts, tampers)
descriptions = st.builds(
    lambda txs, split: {"txs": [list(t) for t in txs], "split": split},
    st.lists(transactions, min_size=1, max_size=24),
    st.integers(min_value=0, max_value=24),
)


def compare(description: dict[str, Any], worker: PureWorker) -> dict[str, Any]:
    native = block_runner.run(description)
    pure = worker.run(description)
    assert native.pop("native") is True and pure.pop("native") is False
    assert native == pure
    return native


def test_a_known_mix_agrees_and_covers_every_outcome(pure_worker: PureWorker) -> None:
    """One fixed block with each kind of failure, checked to produce what it is meant to."""
    txs = [
        ["eth", 0, 1, 5, 0, "none"],  # valid
        ["token", 1, 2, 10, 0, "none"],  # valid token transfer
        ["token", 2, 3, 10, 0, "none"],  # reverts: recipient not allowlisted
        ["token", 5, 0, 10**18, 0, "none"],  # reverts: more than the balance
        ["eth", 3, 0, 10**18, 0, "none"],  # insufficient funds
        ["eth", 0, 2, 1, 2, "none"],  # nonce gap: waits in the pool
        ["eth", 1, 2, 1, -1, "none"],  # nonce reused: too low
        ["eth", 5, 1, 1, 0, "flip_s"],  # bad signature
        ["eth", 5, 1, 1, 0, "flip_body"],  # signature of another body: another (unfunded) sender
        ["eth_legacy", 2, 0, 7, 0, "chain_id"],  # another chain
        ["eth_legacy", 2, 0, 7, 0, "none"],  # valid legacy transfer
        ["approve", 1, 2, 10, 0, "none"],  # a token call that is not a transfer: the general path
        ["eth_to_system", 5, 0, 5, 0, "none"],  # reverts (not payable): status 0
        ["eth_access_list", 5, 1, 3, 1, "none"],  # an access list: the general path
    ]
    report = compare({"txs": txs, "split": 4}, pure_worker)
    admitted = report["admitted"]
    assert admitted[0].startswith("0x") and admitted[1].startswith("0x")
    assert "insufficient funds" in admitted[4]
    assert "nonce too low" in admitted[6]
    assert "invalid chain id" in admitted[9]
    statuses = [r["status"] for block in report["blocks"] for r in block["receipts"]]
    assert 0 in statuses and 1 in statuses  # the reverting token transfers landed with status 0
    assert all(len(b["per_tx_roots"]) == len(b["txs"]) for b in report["blocks"])
    for block in report["blocks"]:
        if block["txs"]:  # the root after the last transaction is the block's
            assert block["per_tx_roots"][-1] == block["state_root"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=descriptions)
def test_random_blocks_agree(pure_worker: PureWorker, description: dict[str, Any]) -> None:
    compare(description, pure_worker)
