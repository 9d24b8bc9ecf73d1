"""Per-transaction state roots (what fraud-proof bisection needs) agree with sealed block roots."""

from __future__ import annotations

from jovay.codec.transactions import DepositTx
from jovay.params import IDENTITY_REGISTRY, MIN_BASE_FEE
from jovay.state.overlay import StateOverlay
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree, root_to_bytes
from jovay.stf.block import BlockExecution, per_transaction_roots, seal_block
from jovay.stf.genesis import Genesis
from jovay.stf.transaction import BlockEnv
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, calldata, signed_tx

ADMIN, ALICE, BOB = ADDRESSES[:3]
ENV = BlockEnv(number=1, timestamp=5, base_fee=MIN_BASE_FEE, gas_limit=30_000_000, chain_id=CHAIN_ID)


def genesis_tree() -> tuple[SparseMerkleTree, dict[int, int]]:
    writes = Genesis(identity_admin=ADMIN, timestamp=1, alloc={ADMIN: ETH, ALICE: ETH}).state_writes()
    tree = SparseMerkleTree(MemoryNodeStore())
    tree.update_many(writes)
    return tree, writes


def block_items():
    deposits = [DepositTx(0, BOB, BOB, 7)]
    fee = {"max_fee": 3 * MIN_BASE_FEE, "tip": 5}
    txs = [
        signed_tx(KEYS[1], nonce=0, to=BOB, value=100, **fee),
        signed_tx(
            KEYS[1],
            nonce=1,
            to=IDENTITY_REGISTRY,
            data=calldata("setAllowed(address,bool)", BOB, True),
            gas=100_000,
            **fee,
        ),  # reverts: Alice is not the admin
        signed_tx(
            KEYS[0],
            nonce=0,
            to=IDENTITY_REGISTRY,
            data=calldata("setAllowed(address,bool)", BOB, True),
            gas=100_000,
            **fee,
        ),
        signed_tx(KEYS[0], nonce=1, to=ALICE, value=1, **fee),
    ]
    return deposits, txs


def test_per_transaction_roots_end_at_the_block_root_and_each_is_reproducible() -> None:
    deposits, txs = block_items()
    tree, writes = genesis_tree()
    roots = per_transaction_roots(tree, StateOverlay(lambda k: writes.get(k, 0)), ENV, deposits, txs)
    assert len(roots) == len(deposits) + len(txs)
    assert len(set(roots)) == len(roots)  # every step changed the state (fees at least)

    sealed_tree, _ = genesis_tree()
    execution = BlockExecution(StateOverlay(lambda k: writes.get(k, 0)), ENV)
    for deposit in deposits:
        execution.add_deposit(deposit)
    for tx in txs:
        execution.add_transaction(tx)
    header, _ = seal_block(bytes(32), execution, sealed_tree)
    assert root_to_bytes(roots[-1]) == header.state_root

    # The root after step k equals the root of a block holding only the first k steps.
    steps = [("deposit", d) for d in deposits] + [("tx", t) for t in txs]
    for k in range(1, len(steps) + 1):
        prefix_tree, _ = genesis_tree()
        prefix = BlockExecution(StateOverlay(lambda key: writes.get(key, 0)), ENV)
        for kind, item in steps[:k]:
            if kind == "deposit":
                prefix.add_deposit(item)
            else:
                prefix.add_transaction(item)
        prefix_tree.update_many(prefix.state.writes())
        assert prefix_tree.root == roots[k - 1]
