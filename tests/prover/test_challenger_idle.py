"""The challenger service on a real anvil: it checks each proposal once and idles cheaply.

Three batches of one transfer each are committed; the first two outputs are proposed correctly, the
third wrongly. One tick of the challenger re-derives each batch's output once (one pass, no per-item
roots), challenges the wrong output, computes the per-item roots of that batch only (the game's) and
(its batch having one item) wins the game with the one-step proof at once. Further ticks re-derive
nothing, and while L1 is quiet each one costs a single request (`eth_blockNumber`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from web3 import Web3

import prover.fault.replay as replay_module
from jovay.codec.batch import BatchBlock, batch_items, encode_batch, items_commitment
from jovay.l1.anvil import Anvil
from jovay.l1.connection import connect_l1
from jovay.l1.contracts import FaultProofParams, L1Deployment, deploy
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from jovay.l1.watcher import L1Watcher
from jovay.params import MIN_BASE_FEE
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.stf.genesis import Genesis
from prover.fault.challenger import Challenger
from prover.fault.game import Status, read_game
from prover.fault.replay import Replayer
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, raw_tx

START = 1_700_000_000
BATCHES = 3
WRONG = 2  # the batch whose output is proposed wrongly


@pytest.fixture()
def anvil() -> Iterator[Anvil]:
    with Anvil() as node:
        yield node


def test_challenger_checks_each_proposal_once_and_idles_on_one_request(
    anvil: Anvil, monkeypatch: pytest.MonkeyPatch
) -> None:
    genesis = Genesis(
        identity_admin=ADDRESSES[0], timestamp=START, chain_id=CHAIN_ID, alloc={ADDRESSES[0]: ETH}
    )
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    dep = _deploy(w3, anvil, genesis)
    honest = Replayer(w3, dep, L1Watcher(w3, dep), genesis)  # the test's proposer computes with it
    rollup = dep.rollup(w3)
    batcher, proposer = L1TxManager(w3, anvil.dev_keys[0]), L1TxManager(w3, anvil.dev_keys[1])
    for index in range(BATCHES):
        tx = raw_tx(KEYS[0], nonce=index, to=ADDRESSES[1], value=1000 + index)
        blocks = [BatchBlock(index + 1, START + index, MIN_BASE_FEE, 0, [tx])]
        items = batch_items(blocks, [[]])
        commit = [index, encode_batch(blocks), items_commitment(items), 1, bytes(32), bytes(32), index + 1, 0]
        batcher.send({"to": rollup.address, "data": rollup.encode_abi("commitBatch", commit)})
        honest.watcher.poll()
        root = honest.output_root(index) + (1 if index == WRONG else 0)
        propose = rollup.encode_abi("proposeOutput", [index, root.to_bytes(32, "big")])
        proposer.send({"to": rollup.address, "data": propose, "value": 10**18})

    derived: Counter[int] = Counter()  # pre-state roots the challenger executed a batch from, one pass
    per_item: Counter[int] = Counter()  # ...and item by item (for a game)
    real_post_root, real_item_roots = replay_module.post_root, replay_module.item_roots

    def counting_post_root(
        store: Any, pre_root: int, items: Any, execute: Any, predecode: Any = None, mirror: Any = None
    ) -> int:
        derived[pre_root] += 1
        return real_post_root(store, pre_root, items, execute, predecode, mirror)

    def counting_item_roots(store: Any, pre_root: int, items: Any, execute: Any) -> list[int]:
        per_item[pre_root] += 1
        return real_item_roots(store, pre_root, items, execute)

    monkeypatch.setattr(replay_module, "post_root", counting_post_root)
    monkeypatch.setattr(replay_module, "item_roots", counting_item_roots)
    l1 = connect_l1(anvil.url)
    challenger = Challenger(
        l1, dep, L1TxManager(l1, anvil.dev_keys[2]), L1Watcher(l1, dep), genesis, proposal_grace_s=3600
    )
    challenger.tick()

    game = dep.dispute_game(w3)
    assert game.functions.gameCount().call() == 1
    assert read_game(game, 0).status == Status.CHALLENGER_WON  # one item: the step settles it at once
    assert [e["args"]["fromBatchIndex"] for e in rollup.events.OutputsReverted.get_logs(from_block=0)] == [
        WRONG
    ]
    assert sum(derived.values()) == BATCHES and set(derived.values()) == {1}
    assert list(per_item.values()) == [1] and challenger.replay.pre_root(WRONG) in per_item  # the game's

    requests: Counter[str] = Counter()
    real_request = l1.provider._make_request  # type: ignore[attr-defined]

    def counting_request(method: str, data: bytes) -> Any:
        requests[method] += 1
        return real_request(method, data)

    l1.provider._make_request = counting_request  # type: ignore[attr-defined]
    challenger.tick()  # the L1 blocks of its own moves are new: it looks once more...
    requests.clear()
    for _ in range(5):  # ...then L1 is quiet
        challenger.tick()
    assert requests == Counter({"eth_blockNumber": 5})
    assert sum(derived.values()) == BATCHES and sum(per_item.values()) == 1  # nothing re-derived
    assert game.functions.gameCount().call() == 1  # and nothing challenged twice


def _deploy(w3: Web3, anvil: Anvil, genesis: Genesis) -> L1Deployment:
    root = SparseMerkleTree(MemoryNodeStore()).update_many(genesis.state_writes())
    params = FaultProofParams(challenge_window_s=1000, chain_id=CHAIN_ID)
    return deploy(
        w3, anvil.dev_keys[0], compile_contracts(), genesis_state_root=root.to_bytes(32, "big"), fault=params
    )
