"""Rollup outputs and the dispute game on a real anvil: bonds, window, bisection, clocks, timeouts.

The batch is real: five signed transfers over a small Poseidon state, committed with their item
commitment, so games end in real one-step proofs (contracts/OneStepProof.sol).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from jovay.codec.batch import ITEM_TRANSACTION, BatchItem, items_commitment
from jovay.codec.transactions import DynamicFeeTx, sign_transaction
from jovay.crypto.secp256k1 import address_of
from jovay.l1.anvil import Anvil
from jovay.l1.contracts import FaultProofParams, L1Deployment, deploy
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager, TxReverted
from jovay.params import BLOCK_GAS_LIMIT, DEFAULT_L2_CHAIN_ID
from jovay.state.keys import account_key, pack_account
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from prover.fault.execution import ItemRules, item_roots, step_witness
from prover.fault.game import Status, Turn, moves_for, read_game

pytestmark = pytest.mark.usefixtures("snapshot")

WINDOW_S = 100
CLOCK_S = 50
BOND = 10**18
PROPOSER, CHALLENGER, OTHER = 1, 2, 3
RULES = ItemRules(DEFAULT_L2_CHAIN_ID, BLOCK_GAS_LIMIT)
KEY = bytes(range(1, 33))


@dataclass
class Batch:
    store: MemoryNodeStore
    items: list[BatchItem]
    roots: list[int]

    def witness(self, step: int) -> bytes:
        return step_witness(self.store, self.roots[step], self.items, step, RULES.apply).encode()

    def root(self, i: int) -> bytes:
        return self.roots[i].to_bytes(32, "big")


@pytest.fixture(scope="module")
def batch() -> Batch:
    store = MemoryNodeStore()
    tree = SparseMerkleTree(store)
    tree.update_many({account_key(address_of(KEY)): pack_account(0, 10**18)})
    txs = [
        DynamicFeeTx(DEFAULT_L2_CHAIN_ID, n, 10**6, 10**9, 21_000, bytes([0x10 + n]) * 20, 1000 + n, b"")
        for n in range(5)
    ]
    items = [BatchItem(ITEM_TRANSACTION, 1, 1_700_000_000, 10**7, sign_transaction(tx, KEY)) for tx in txs]
    return Batch(store, items, item_roots(store, tree.root, items, RULES.apply))


@pytest.fixture()
def dep(w3: Web3, anvil: Anvil, artifacts: dict[str, CompiledContract], batch: Batch) -> L1Deployment:
    params = FaultProofParams(BOND, BOND, WINDOW_S, CLOCK_S)
    return deploy(w3, anvil.dev_keys[0], artifacts, genesis_state_root=batch.root(0), fault=params)


@pytest.fixture()
def send(w3: Web3, anvil: Anvil) -> Callable[..., Any]:
    """send(i, contract, function, *args, value=0): a transaction from dev account i."""
    managers: dict[int, L1TxManager] = {}

    def go(i: int, contract: Contract, function: str, *args: Any, value: int = 0) -> Any:
        txm = managers.setdefault(i, L1TxManager(w3, anvil.dev_keys[i], bump_after_s=5))
        return txm.send(
            {"to": contract.address, "data": contract.encode_abi(function, list(args)), "value": value}
        )

    return go


def _advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def _commit(send: Callable[..., Any], rollup: Contract, batch: Batch, index: int = 0) -> None:
    items = batch.items if index == 0 else []
    root = items_commitment(items)
    send(0, rollup, "commitBatch", index, b"\x01", root, len(items), bytes(32), bytes(32), index + 1, 0)


def _address(anvil: Anvil, i: int) -> str:
    return Web3.to_checksum_address("0x" + address_of(bytes.fromhex(anvil.dev_keys[i][2:])).hex())


def _play(
    send: Callable[..., Any], game: Contract, batch: Batch, game_id: int, proposer_roots: list[int]
) -> int:
    """Bisect to one step: the proposer claims `proposer_roots`, the challenger follows `batch.roots`."""
    moves = 0
    while True:
        g = read_game(game, game_id)
        if g.hi - g.lo == 1:
            return moves
        send(PROPOSER, game, "claimMidpoint", game_id, proposer_roots[g.mid].to_bytes(32, "big"))
        agree = proposer_roots[g.mid] == batch.roots[g.mid]
        send(CHALLENGER, game, "chooseHalf", game_id, agree)
        moves += 2


def test_wrong_output_loses_and_everything_after_it_is_reverted(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch, anvil: Anvil
) -> None:
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    _commit(send, rollup, batch)
    _commit(send, rollup, batch, 1)
    wrong = [*batch.roots[:3], *[r ^ 1 for r in batch.roots[3:]]]  # item 2 executed wrongly
    send(PROPOSER, rollup, "proposeOutput", 0, wrong[-1].to_bytes(32, "big"), value=BOND)
    send(OTHER, rollup, "proposeOutput", 1, wrong[-1].to_bytes(32, "big"), value=BOND)  # built on it
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    assert rollup.functions.outputs(0).call()[3] == 1  # one open game
    moves = _play(send, game, batch, 0, wrong)
    g = read_game(game, 0)
    assert (g.lo, g.hi, g.root_lo, g.root_hi) == (2, 3, batch.roots[2], wrong[3])
    assert moves + 2 <= moves_for(len(batch.items))  # create + halvings + step, at most
    balances = {i: w3.eth.get_balance(_address(anvil, i)) for i in (PROPOSER, CHALLENGER, OTHER)}
    receipt = send(OTHER, game, "step", 0, batch.witness(2))  # anyone may run the step
    assert read_game(game, 0).status == Status.CHALLENGER_WON
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert w3.eth.get_balance(_address(anvil, CHALLENGER)) == balances[CHALLENGER] + 2 * BOND
    assert w3.eth.get_balance(_address(anvil, PROPOSER)) == balances[PROPOSER]  # its bond is gone
    assert w3.eth.get_balance(_address(anvil, OTHER)) == balances[OTHER] + BOND - fee  # later output refunded
    assert rollup.functions.nextOutputIndex().call() == 0
    [event] = rollup.events.OutputsReverted().process_receipt(receipt)
    assert event["args"]["count"] == 2
    with pytest.raises(TxReverted, match="game is over"):
        send(CHALLENGER, game, "step", 0, batch.witness(2))
    # Proposals resume at the reverted index; the correct one finalizes after the window.
    send(CHALLENGER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    with pytest.raises(Exception, match="output not finalized"):
        rollup.functions.finalizedStateRoot(0).call()
    _advance(w3, WINDOW_S)
    send(OTHER, rollup, "finalizeOutput", 0)
    assert rollup.functions.finalizedStateRoot(0).call() == batch.root(5)


def test_correct_output_is_defended_and_the_challenger_pays(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch, anvil: Anvil
) -> None:
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    _commit(send, rollup, batch)
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    g = read_game(game, 0)
    assert (g.lo, g.hi, g.turn, g.proposer, g.challenger) == (
        0,
        5,
        Turn.PROPOSER,
        _address(anvil, PROPOSER),
        _address(anvil, CHALLENGER),
    )
    # The challenger disagrees with every (correct) midpoint: it ends at step [0, 1].
    while (g := read_game(game, 0)).hi - g.lo > 1:
        send(PROPOSER, game, "claimMidpoint", 0, batch.root(g.mid))
        send(CHALLENGER, game, "chooseHalf", 0, False)
    assert (g.lo, g.hi) == (0, 1)
    with pytest.raises(TxReverted, match="challenge window still open"):
        send(PROPOSER, rollup, "finalizeOutput", 0)
    before = w3.eth.get_balance(_address(anvil, PROPOSER))
    receipt = send(PROPOSER, game, "step", 0, batch.witness(0))
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert read_game(game, 0).status == Status.PROPOSER_WON
    assert w3.eth.get_balance(_address(anvil, PROPOSER)) == before + BOND - fee
    _advance(w3, WINDOW_S)
    send(OTHER, rollup, "finalizeOutput", 0)  # the game is over and the window has passed
    assert rollup.functions.finalizedStateRoot(0).call() == batch.root(5)
    assert w3.eth.get_balance(_address(anvil, PROPOSER)) == before + 2 * BOND - fee  # bond back


def test_wrong_turns_and_double_moves_revert(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch, anvil: Anvil
) -> None:
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    _commit(send, rollup, batch)
    with pytest.raises(TxReverted, match="bond must equal proposalBond"):
        send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND - 1)
    with pytest.raises(TxReverted, match="output index out of order"):
        send(PROPOSER, rollup, "proposeOutput", 1, batch.root(5), value=BOND)
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    with pytest.raises(TxReverted, match="output index out of order"):
        send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    with pytest.raises(TxReverted, match="bond must equal challengeBond"):
        send(CHALLENGER, game, "createGame", 0, value=BOND + 1)
    with pytest.raises(TxReverted, match="no such output"):
        send(CHALLENGER, game, "createGame", 1, value=BOND)
    with pytest.raises(TxReverted, match="caller is not the dispute game"):
        send(CHALLENGER, rollup, "gameResolved", 0, 1, True, _address(anvil, CHALLENGER))
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    mid = batch.root(2)
    with pytest.raises(TxReverted, match="only the proposer claims midpoints"):
        send(CHALLENGER, game, "claimMidpoint", 0, mid)
    with pytest.raises(TxReverted, match="no midpoint to choose on"):
        send(CHALLENGER, game, "chooseHalf", 0, True)
    with pytest.raises(TxReverted, match="not down to one step"):
        send(PROPOSER, game, "step", 0, batch.witness(0))
    send(PROPOSER, game, "claimMidpoint", 0, mid)
    with pytest.raises(TxReverted, match="not the proposer's turn"):
        send(PROPOSER, game, "claimMidpoint", 0, mid)  # a double move
    with pytest.raises(TxReverted, match="only the challenger chooses"):
        send(PROPOSER, game, "chooseHalf", 0, True)
    send(CHALLENGER, game, "chooseHalf", 0, True)
    with pytest.raises(TxReverted, match="no midpoint to choose on"):
        send(CHALLENGER, game, "chooseHalf", 0, True)  # a double move
    with pytest.raises(TxReverted, match="clock has not run out"):
        send(OTHER, game, "timeout", 0)
    with pytest.raises(TxReverted, match="no such game"):
        send(OTHER, game, "timeout", 7)


def test_silent_proposer_times_out_and_loses(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch
) -> None:
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    _commit(send, rollup, batch)
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    _advance(w3, WINDOW_S)
    with pytest.raises(TxReverted, match="open dispute game"):
        send(PROPOSER, rollup, "finalizeOutput", 0)  # an unresolved game holds it, even timed out
    with pytest.raises(TxReverted, match="clock ran out"):
        send(PROPOSER, game, "claimMidpoint", 0, batch.root(2))
    send(OTHER, game, "timeout", 0)  # anyone may call it
    assert read_game(game, 0).status == Status.CHALLENGER_WON
    assert rollup.functions.nextOutputIndex().call() == 0  # even a correct output falls if undefended


def test_silent_challenger_times_out_at_the_step(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch
) -> None:
    """The clock is a chess clock: time spent on earlier moves counts against the same side."""
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    _commit(send, rollup, batch)
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    send(PROPOSER, game, "claimMidpoint", 0, batch.root(2))
    _advance(w3, CLOCK_S // 2)
    send(CHALLENGER, game, "chooseHalf", 0, True)
    g = read_game(game, 0)
    assert g.challenger_time_left < CLOCK_S // 2 + 2 and g.proposer_time_left > CLOCK_S - 3
    _play(send, game, batch, 0, batch.roots)
    g = read_game(game, 0)
    assert g.turn == Turn.CHALLENGER and g.hi - g.lo == 1
    _advance(w3, g.challenger_time_left + 1)
    send(OTHER, game, "timeout", 0)
    assert read_game(game, 0).status == Status.PROPOSER_WON
    assert rollup.functions.outputs(0).call()[3] == 0  # no open game left


def test_tampered_step_witnesses_revert(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch
) -> None:
    rollup, osp = dep.rollup(w3), dep.one_step_proof(w3)
    _commit(send, rollup, batch)
    root, count = items_commitment(batch.items), len(batch.items)
    good = step_witness(batch.store, batch.roots[1], batch.items, 1, RULES.apply)
    assert osp.functions.execute(batch.root(1), root, count, 1, good.encode()).call() == batch.root(2)
    with pytest.raises(Exception, match="item not in batch"):
        osp.functions.execute(batch.root(1), root, count, 2, good.encode()).call()
    with pytest.raises(Exception, match="item not in batch"):
        osp.functions.execute(batch.root(1), root, count + 5, 1, good.encode()).call()
    forged = step_witness(
        batch.store, batch.roots[1], [batch.items[1]], 0, RULES.apply
    )  # proof of another tree
    with pytest.raises(Exception, match="item not in batch"):
        osp.functions.execute(batch.root(1), root, count, 1, forged.encode()).call()
    richer = good.leaves[0].__class__(good.leaves[0].key, good.leaves[0].value + 10**18, good.leaves[0].proof)
    lying = good.__class__(good.index, good.item, good.item_proof, [richer, *good.leaves[1:]], good.post_root)
    with pytest.raises(Exception, match="SparseMerkle: wrong old value"):
        osp.functions.execute(batch.root(1), root, count, 1, lying.encode()).call()
    with pytest.raises(Exception, match="missing state leaf"):
        short = good.__class__(good.index, good.item, good.item_proof, good.leaves[:1], good.post_root)
        osp.functions.execute(batch.root(1), root, count, 1, short.encode()).call()
    twice = good.__class__(
        good.index, good.item, good.item_proof, [good.leaves[0], *good.leaves], good.post_root
    )
    with pytest.raises(Exception, match="leaf given twice"):
        osp.functions.execute(batch.root(1), root, count, 1, twice.encode()).call()
    with pytest.raises(Exception, match="proof does not match root"):
        osp.functions.execute(batch.root(2), root, count, 1, good.encode()).call()  # another pre-state


def test_empty_batch_game_resolves_at_once(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch
) -> None:
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    send(0, rollup, "commitBatch", 0, b"\x01", bytes(32), 0, bytes(32), bytes(32), 1, 0)
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(1), value=BOND)  # not the pre-state: wrong
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    assert read_game(game, 0).status == Status.CHALLENGER_WON
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(0), value=BOND)  # nothing changes: right
    send(CHALLENGER, game, "createGame", 0, value=BOND)
    assert read_game(game, 1).status == Status.PROPOSER_WON


def test_no_game_after_the_window(
    w3: Web3, dep: L1Deployment, send: Callable[..., Any], batch: Batch
) -> None:
    rollup, game = dep.rollup(w3), dep.dispute_game(w3)
    _commit(send, rollup, batch)
    send(PROPOSER, rollup, "proposeOutput", 0, batch.root(5), value=BOND)
    _advance(w3, WINDOW_S)
    with pytest.raises(TxReverted, match="output is not challengeable"):
        send(CHALLENGER, game, "createGame", 0, value=BOND)
    send(PROPOSER, rollup, "finalizeOutput", 0)
    with pytest.raises(TxReverted, match="finalize outputs in order|no such output"):
        send(PROPOSER, rollup, "finalizeOutput", 0)
