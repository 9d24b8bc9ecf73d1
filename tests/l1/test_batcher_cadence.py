"""The batcher's cadence on a real anvil: one batch per interval, more only to clear a backlog.

Blocks come from a real Chain and Sequencer in this process (served to the batcher as the node's
JSON-RPC would). An L2 that seals a block while each commit is being mined must not keep the batcher
committing back to back (that was a busy loop of one-block batches on an idle devnet); a backlog larger
than one batch is cleared at once; a batch never carries more than one L1 block's gas can take.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from jovay.l1.anvil import Anvil
from jovay.l1.batcher import Batcher, BatcherConfig, L2Client, batch_byte_budget
from jovay.l1.contracts import L1Deployment, deploy
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager
from jovay.l1.watcher import L1Watcher
from jovay.params import ASSET_REGISTRY
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, raw_tx

pytestmark = pytest.mark.usefixtures("snapshot")


class ChainL2(L2Client):
    """The two node methods the batcher calls, answered from a Chain in this process."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.fetched: list[int] = []  # block numbers asked for, in order

    def call(self, method: str, params: list) -> object:
        if method == "eth_blockNumber":
            return hex(self.chain.head.number)
        if method == "debug_getRawBlock":
            self.fetched.append(int(params[0], 16))
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


def test_each_block_is_fetched_once_and_batches_chain_on_the_committed_roots(
    w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract], l2: Any
) -> None:
    """The next batch's parent is the last block the batcher committed: its header is reused, not
    fetched again, and each commit still carries the node's parent and post state roots (the Rollup
    contract refuses a batch whose pre-state root is not the last one committed)."""
    chain, sequencer = l2
    for _ in range(5):
        sequencer.produce_block()
    dep = _deploy(w3, anvil, artifacts, chain)
    node = ChainL2(chain)
    txm = L1TxManager(w3, anvil.dev_keys[0])
    batcher = Batcher(w3, dep, txm, node, BatcherConfig(max_blocks_per_batch=2))
    watcher = L1Watcher(w3, dep)

    assert batcher.submit_due() == 3  # blocks 1-2, 3-4, 5
    assert node.fetched == [0, 1, 2, 3, 4, 5]  # the genesis block as the first parent, then each once
    watcher.poll()
    roots = [(b.pre_state_root, b.post_state_root, b.last_l2_block) for b in watcher.batches]
    header = {n: chain.block(n)[0].state_root for n in range(6)}  # type: ignore[index]
    assert roots == [(header[0], header[2], 2), (header[2], header[4], 4), (header[4], header[5], 5)]

    sequencer.produce_block()
    node.fetched.clear()
    batcher.submit_due()
    assert node.fetched == [6]


def test_batches_are_cut_to_what_one_l1_block_can_take(
    w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract], tmp_path: Path
) -> None:
    """Eight L2 blocks of 100 KB each are 800 KB: one commit of them would need ~32M gas at the
    calldata floor, over this anvil's 30M block gas limit (L1 refuses it, the batcher would retry it
    forever). The batcher cuts them into batches that each fit, and every commit is mined."""
    chain = Chain(
        tmp_path,
        Genesis(identity_admin=ADDRESSES[0], timestamp=int(time.time()) - 5, alloc={ADDRESSES[1]: ETH}),
    )
    try:
        sequencer = Sequencer(chain)
        # A call with an unknown selector: it reverts, and is sealed with its 100 KB of calldata.
        rng = random.Random(7)  # a different random payload each: incompressible, as signatures are
        for nonce in range(8):
            payload = b"\xff" * 4 + rng.randbytes(100_000)
            sequencer.submit(raw_tx(KEYS[1], nonce=nonce, to=ASSET_REGISTRY, data=payload, gas=5_000_000))
            sequencer.produce_block()
        assert all(len(chain.block(n)[1]) == 1 for n in range(1, 9))  # type: ignore[index]
        dep = _deploy(w3, anvil, artifacts, chain)
        batcher = Batcher(w3, dep, L1TxManager(w3, anvil.dev_keys[0]), ChainL2(chain))
        gas_limit = int(w3.eth.get_block("latest")["gasLimit"])

        assert batcher.submit_due() == 2  # blocks 1-5 (~500 KB), then 6-8
        assert _committed(dep.rollup(w3)) == (2, 8) and not batcher.backlog
        assert batcher.max_batch_bytes == batch_byte_budget(gas_limit, 0.2) < 8 * 100_000
    finally:
        chain.close()


def test_the_batch_budget_follows_the_l1_gas_limit() -> None:
    assert batch_byte_budget(30_000_000, 0.2) == (25_000_000 - 1_000_000) // 40
    assert batch_byte_budget(1_000_000_000, 0.2) == 1024 * 1024  # never above the memory bound
    assert batch_byte_budget(1_000_000, 0.2) == 0
