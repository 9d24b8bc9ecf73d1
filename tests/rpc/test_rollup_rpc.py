"""The rollup methods in process: sync status, batches, output roots and eth_getProof over a real chain."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from eth_utils import keccak
from fastapi.testclient import TestClient
from web3._utils.method_formatters import proof_formatter

from jovay.l1.watcher import CommittedBatch
from jovay.params import IDENTITY_REGISTRY, MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.methods import EthApi
from jovay.rpc.rollup import RollupApi
from jovay.rpc.server import create_app
from jovay.sdk import verify_account_proof
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, address_hex, raw_tx

ALICE, BOB, CAROL = ADDRESSES[:3]
ZERO32 = "0x" + "00" * 32


@dataclass
class FakeL1:
    """The L1 watcher's reading side, with the same safe/finalized rules."""

    batches: list[CommittedBatch] = field(default_factory=list)
    l1_head: int = 0
    l1_finalized: int = 0

    def safe_block(self) -> int:
        return self.batches[-1].last_l2_block if self.batches else 0

    def finalized_block(self) -> int:
        final = [b.last_l2_block for b in self.batches if b.l1_block <= self.l1_finalized]
        return final[-1] if final else 0


def batch(index: int, last: int, l1_block: int) -> CommittedBatch:
    return CommittedBatch(
        index=index,
        data_hash=bytes([index + 1]) * 32,
        tx_list_commitment=bytes([index + 2]) * 32,
        pre_state_root=bytes([index + 3]) * 32,
        post_state_root=bytes([index + 4]) * 32,
        last_l2_block=last,
        l1_message_queue_position=index * 2,
        l1_block=l1_block,
        l1_tx_hash=bytes([index + 5]) * 32,
    )


@dataclass
class Node:
    client: TestClient
    sequencer: Sequencer
    chain: Chain
    l1: FakeL1 | None


def make_node(tmp_path: Path, l1: FakeL1 | None) -> Node:
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path, genesis)
    sequencer = Sequencer(chain)
    eth = EthApi(chain, sequencer, l1)
    methods = eth.methods() | RollupApi(chain, l1, eth).methods()
    return Node(TestClient(create_app(methods)), sequencer, chain, l1)


@pytest.fixture
def node(tmp_path: Path):
    made = make_node(tmp_path, None)
    yield made
    made.chain.close()


@pytest.fixture
def l1_node(tmp_path: Path):
    made = make_node(tmp_path, FakeL1())
    yield made
    made.chain.close()


def call(client: TestClient, method: str, *params: object) -> dict:
    return client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).json()


def result(client: TestClient, method: str, *params: object) -> object:
    answer = call(client, method, *params)
    assert "error" not in answer, answer
    return answer["result"]


def transfer(node: Node, nonce: int, to: bytes, value: int) -> None:
    raw = raw_tx(
        KEYS[0], nonce=nonce, to=to, value=value, max_fee=4 * MIN_BASE_FEE, tip=SUGGESTED_PRIORITY_FEE
    )
    result(node.client, "eth_sendRawTransaction", "0x" + raw.hex())
    node.sequencer.produce_block()


def block_ref(client: TestClient, number: int) -> dict:
    block = result(client, "eth_getBlockByNumber", hex(number), False)
    return {"number": block["number"], "hash": block["hash"], "timestamp": block["timestamp"]}


# --- jovay_syncStatus ----------------------------------------------------------------------------------


def test_sync_status_without_l1_is_genesis_and_nulls(node: Node) -> None:
    transfer(node, 0, BOB, 1)
    status = result(node.client, "jovay_syncStatus")
    no_origin = {"number": None, "transactionHash": None, "batchIndex": None}
    assert status["unsafeL2"] == block_ref(node.client, 1) | {"l1Origin": no_origin}
    assert status["safeL2"] == block_ref(node.client, 0) | {"l1Origin": no_origin}
    assert status["finalizedL2"] == status["safeL2"]
    assert status["currentL1"] == {"number": None} and status["finalizedL1"] == {"number": None}
    assert status["batchCount"] == "0x0"


def test_sync_status_follows_batches_and_l1_finality(l1_node: Node) -> None:
    node, l1 = l1_node, l1_node.l1
    assert l1 is not None
    for nonce in range(3):
        transfer(node, nonce, BOB, 1)
    l1.batches += [batch(0, 2, l1_block=10), batch(1, 3, l1_block=12)]
    l1.l1_head, l1.l1_finalized = 14, 11
    status = result(node.client, "jovay_syncStatus")
    assert status["unsafeL2"]["number"] == "0x3" and status["unsafeL2"]["l1Origin"]["number"] is None
    assert status["safeL2"] == block_ref(node.client, 3) | {
        "l1Origin": {"number": hex(12), "transactionHash": "0x" + "06" * 32, "batchIndex": "0x1"}
    }
    assert status["finalizedL2"] == block_ref(node.client, 2) | {
        "l1Origin": {"number": hex(10), "transactionHash": "0x" + "05" * 32, "batchIndex": "0x0"}
    }
    assert status["currentL1"] == {"number": hex(14)} and status["finalizedL1"] == {"number": hex(11)}
    assert status["batchCount"] == "0x2"


def test_sync_status_never_reports_safe_past_the_local_head(l1_node: Node) -> None:
    """A replica may learn of a batch before it has derived its blocks."""
    node, l1 = l1_node, l1_node.l1
    assert l1 is not None
    transfer(node, 0, BOB, 1)
    l1.batches.append(batch(0, 5, l1_block=3))
    l1.l1_finalized = 3
    status = result(node.client, "jovay_syncStatus")
    assert status["safeL2"]["number"] == "0x1" and status["finalizedL2"]["number"] == "0x1"
    assert status["safeL2"]["l1Origin"]["batchIndex"] == "0x0"


# --- jovay_getBatch ------------------------------------------------------------------------------------


def test_get_batch_fields_range_and_unknown(l1_node: Node) -> None:
    node, l1 = l1_node, l1_node.l1
    assert l1 is not None
    l1.batches += [batch(0, 2, l1_block=10), batch(1, 7, l1_block=12)]
    l1.l1_finalized = 10
    assert result(node.client, "jovay_getBatch", "0x1") == {
        "index": "0x1",
        "firstBlock": "0x3",
        "lastBlock": "0x7",
        "dataHash": "0x" + "02" * 32,
        "txListCommitment": "0x" + "03" * 32,
        "preStateRoot": "0x" + "04" * 32,
        "postStateRoot": "0x" + "05" * 32,
        "l1MessageQueuePosition": "0x2",
        "l1BlockNumber": hex(12),
        "l1TransactionHash": "0x" + "06" * 32,
        "finalized": False,
    }
    first = result(node.client, "jovay_getBatch", "0x0")
    assert first["firstBlock"] == "0x1" and first["lastBlock"] == "0x2" and first["finalized"] is True
    assert result(node.client, "jovay_getBatch", "0x2") is None
    assert call(node.client, "jovay_getBatch")["error"]["code"] == -32602
    assert call(node.client, "jovay_getBatch", 1)["error"]["code"] == -32602


def test_get_batch_without_l1_is_null(node: Node) -> None:
    assert result(node.client, "jovay_getBatch", "0x0") is None


# --- jovay_outputAtBlock -------------------------------------------------------------------------------


def test_output_root_is_op_v0_over_state_root_and_block_hash(node: Node) -> None:
    transfer(node, 0, BOB, 1)
    for tag in ("0x0", "0x1", "latest"):
        block = result(node.client, "eth_getBlockByNumber", tag, False)
        output = result(node.client, "jovay_outputAtBlock", tag)
        preimage = bytes(32) + bytes.fromhex(block["stateRoot"][2:]) * 2 + bytes.fromhex(block["hash"][2:])
        assert output == {
            "version": ZERO32,
            "outputRoot": "0x" + keccak(preimage).hex(),
            "stateRoot": block["stateRoot"],
            "messagePasserRoot": block["stateRoot"],  # withdrawals are leaves of the state tree
            "blockHash": block["hash"],
            "blockNumber": block["number"],
        }
    assert result(node.client, "jovay_outputAtBlock", "0x0") != result(
        node.client, "jovay_outputAtBlock", "0x1"
    )
    missing = call(node.client, "jovay_outputAtBlock", "0x9")
    assert missing["error"] == {"code": -32000, "message": "header not found"}


def test_output_at_safe_block_follows_the_l1_view(l1_node: Node) -> None:
    node, l1 = l1_node, l1_node.l1
    assert l1 is not None
    transfer(node, 0, BOB, 1)
    transfer(node, 1, BOB, 1)
    l1.batches.append(batch(0, 1, l1_block=4))
    assert result(node.client, "jovay_outputAtBlock", "safe")["blockNumber"] == "0x1"
    assert result(node.client, "jovay_outputAtBlock", "finalized")["blockNumber"] == "0x0"


# --- eth_getProof --------------------------------------------------------------------------------------


def test_get_proof_of_an_account_verifies_against_the_header_root(node: Node) -> None:
    transfer(node, 0, BOB, 5)
    block = result(node.client, "eth_getBlockByNumber", "latest", False)
    proof = result(node.client, "eth_getProof", address_hex(BOB), [], "latest")
    assert proof["balance"] == "0x5" and proof["nonce"] == "0x0"
    assert proof["stateRoot"] == block["stateRoot"] and proof["blockHash"] == block["hash"]
    assert proof["storageHash"] == ZERO32 and proof["storageProof"] == []
    assert proof["codeHash"] == "0x" + keccak(b"").hex()
    assert proof["smtProof"]["found"] is True and proof["accountProof"] == proof["smtProof"]["siblings"]
    account = verify_account_proof(bytes.fromhex(block["stateRoot"][2:]), proof)
    assert (account.address, account.nonce, account.balance, account.exists) == (BOB, 0, 5, True)
    alice = result(node.client, "eth_getProof", address_hex(ALICE), [])
    assert verify_account_proof(bytes.fromhex(block["stateRoot"][2:]), alice).nonce == 1


def test_get_proof_of_an_absent_account_is_a_non_membership_proof(node: Node) -> None:
    root = bytes.fromhex(result(node.client, "eth_getBlockByNumber", "latest", False)["stateRoot"][2:])
    proof = result(node.client, "eth_getProof", address_hex(CAROL), [], "latest")
    assert proof["smtProof"]["found"] is False and proof["smtProof"]["value"] == ZERO32
    assert (proof["balance"], proof["nonce"]) == ("0x0", "0x0")
    account = verify_account_proof(root, proof)
    assert account.exists is False and account.balance == 0


def test_get_proof_at_a_past_block(node: Node) -> None:
    transfer(node, 0, BOB, 5)
    genesis_root = bytes.fromhex(result(node.client, "eth_getBlockByNumber", "0x0", False)["stateRoot"][2:])
    old = result(node.client, "eth_getProof", address_hex(BOB), [], "0x0")
    assert old["blockNumber"] == "0x0" and old["smtProof"]["found"] is False
    assert verify_account_proof(genesis_root, old).exists is False
    by_hash = result(node.client, "eth_getProof", address_hex(BOB), [], {"blockHash": old["blockHash"]})
    assert by_hash == old


def test_get_proof_of_a_system_contract_reports_its_code_hash(node: Node) -> None:
    proof = result(node.client, "eth_getProof", address_hex(IDENTITY_REGISTRY), [])
    assert proof["codeHash"] == "0x" + keccak(b"\xfe").hex()


def test_get_proof_refuses_storage_keys_and_bad_params(node: Node) -> None:
    refused = call(node.client, "eth_getProof", address_hex(BOB), [ZERO32], "latest")
    assert refused["error"]["code"] == -32602 and "no storage slots" in refused["error"]["message"]
    assert call(node.client, "eth_getProof", address_hex(BOB), "0x0")["error"]["code"] == -32602
    assert call(node.client, "eth_getProof", "0x12")["error"]["code"] == -32602
    assert call(node.client, "eth_getProof", address_hex(BOB), [], "0x99")["error"]["code"] == -32000


def test_get_proof_answer_passes_web3py_formatters(node: Node) -> None:
    """web3.py's `get_proof` formats accountProof as a list of bytes: the answer must fit that shape."""
    proof = result(node.client, "eth_getProof", address_hex(ALICE), [], "latest")
    formatted = proof_formatter(proof)
    assert formatted["balance"] == 10 * ETH
    assert [bytes(x).hex() for x in formatted["accountProof"]] == [s[2:] for s in proof["accountProof"]]
