"""The batcher's cadence on a real anvil: one batch per interval, more only to clear a backlog.

Blocks come from a real Chain and Sequencer in this process (served to the batcher as the node's
JSON-RPC would). An L2 that seals a block while each commit is being mined must not keep the batcher
committing back to back (that was a busy loop of one-block batches on an idle devnet); a backlog larger
than one batch is cleared at once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from jovay.l1.anvil import Anvil
from jovay.l1.batcher import Batcher, BatcherConfig, L2Client
from jovay.l1.contracts import L1Deployment, deploy
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES

pytestmark = pytest.mark.usefixtures("snapshot")


class ChainL2(L2Client):
    """The two node methods the batcher calls, answered from a Chain in this process."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def call(self, method: str, params: list) -> object:
        if method == "eth_blockNumber":
            return hex(self.chain.head.number)
        if method == "debug_getRawBlock":
            raw = self.chain.store.block_rlp(int(params[0], 16))
            assert raw is not None
            return "0x" + raw.hex()
        raise AssertionError(f"unexpected L2 call {method}")


class SealingTxManager(L1TxManager):
    """Seals an L2 block while each L1 transaction is on its way, as a running sequencer would."""

    def __init__(self, w3: Web3, key: str, sequencer: Sequencer) -> None:
        super().__init__(w3, key)
        self.sequencer = sequencer

    def send(self, tx: dict[str, Any]) -> TxReceipt:
        self.sequencer.produce_block()
        return super().send(tx)


@pytest.fixture()
def l2(tmp_path: Path) -> Any:
    chain = Chain(tmp_path, Genesis(identity_admin=ADDRESSES[0], timestamp=int(time.time()) - 5))
    yield chain, Sequencer(chain)
    chain.close()


def _deploy(w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract], chain: Chain) -> L1Deployment:
    return deploy(w3, anvil.dev_keys[0], artifacts, genesis_state_root=chain.head.state_root)


def _committed(rollup: Contract) -> tuple[int, int]:
    return int(rollup.functions.nextBatchIndex().call()), int(rollup.functions.lastCommittedL2Block().call())


def test_blocks_sealed_during_a_commit_wait_for_the_next_interval(
    w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract], l2: Any
) -> None:
    chain, sequencer = l2
    for _ in range(5):
        sequencer.produce_block()
    dep = _deploy(w3, anvil, artifacts, chain)
    txm = SealingTxManager(w3, anvil.dev_keys[0], sequencer)
    batcher = Batcher(w3, dep, txm, ChainL2(chain))
    rollup = dep.rollup(w3)

    assert batcher.submit_due() == 1
    assert _committed(rollup) == (1, 5) and chain.head.number == 6  # block 6 waits
    assert batcher.submit_due() == 1
    assert _committed(rollup) == (2, 6) and chain.head.number == 7


def test_a_backlog_is_cleared_in_one_round(
    w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract], l2: Any
) -> None:
    chain, sequencer = l2
    for _ in range(5):
        sequencer.produce_block()
    dep = _deploy(w3, anvil, artifacts, chain)
    batcher = Batcher(
        w3, dep, L1TxManager(w3, anvil.dev_keys[0]), ChainL2(chain), BatcherConfig(max_blocks_per_batch=2)
    )
    rollup = dep.rollup(w3)

    assert batcher.submit_due() == 3  # blocks 1-2, 3-4, 5
    assert _committed(rollup) == (3, 5) and not batcher.backlog
    assert batcher.submit_due() == 0
