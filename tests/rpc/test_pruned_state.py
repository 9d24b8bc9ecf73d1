"""Reads of pruned state over JSON-RPC: the states in the retention window answer as before; an older
block's state is a geth-like -32000 "missing trie node" error (never another block's data), and the
node keeps serving."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from jovay.rpc.methods import EthApi
from jovay.rpc.rollup import RollupApi
from jovay.rpc.server import create_app
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain, StateRetention
from tests.helpers import ADDRESSES, ETH, address_hex
from tests.rpc.test_rollup_rpc import Node, call, result, transfer

ALICE, BOB = ADDRESSES[:2]


def make_pruning_node(tmp_path: Path, blocks: int) -> Node:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis, StateRetention(blocks=blocks))
    sequencer = Sequencer(chain)
    eth = EthApi(chain, sequencer, None)
    methods = eth.methods() | RollupApi(chain, None, eth).methods()
    return Node(TestClient(create_app(methods)), sequencer, chain, None)


def test_pruned_state_reads_fail_cleanly_and_kept_ones_answer(tmp_path: Path) -> None:
    node = make_pruning_node(tmp_path, blocks=3)
    for nonce in range(6):
        transfer(node, nonce, BOB, 1_000 * (nonce + 1))
    head = node.chain.head.number
    assert head == 6 and node.chain.store.oldest_state() == 4
    bob = address_hex(BOB)
    paid = 0
    for number in range(1, head + 1):
        paid += 1_000 * number
        if number < 4:
            continue
        assert int(str(result(node.client, "eth_getBalance", bob, hex(number))), 16) == paid
        proof = result(node.client, "eth_getProof", bob, [], hex(number))
        assert isinstance(proof, dict) and int(proof["balance"], 16) == paid
    state_reads = [
        ("eth_getBalance", bob, "0x2"),
        ("eth_getTransactionCount", address_hex(ALICE), "0x3"),
        ("eth_getCode", bob, "0x1"),
        ("eth_call", {"to": bob, "value": "0x0"}, "0x2"),
        ("eth_getProof", bob, [], "0x3"),
        ("jovay_getWithdrawalProof", "0x0", "0x1"),
        ("eth_getBalance", bob, "earliest"),
    ]
    for method, *params in state_reads:
        answer = call(node.client, method, *params)
        assert answer["error"]["code"] == -32000, (method, answer)
        message = answer["error"]["message"]
        assert message.startswith("missing trie node 0x") and "historical state not available" in message
    # Blocks and receipts of pruned states are kept, and the node goes on serving.
    block = result(node.client, "eth_getBlockByNumber", "0x2", False)
    assert isinstance(block, dict) and int(block["number"], 16) == 2
    assert int(str(result(node.client, "eth_getBalance", bob, "latest")), 16) == paid
    node.chain.close()
