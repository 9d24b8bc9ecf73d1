"""Batches of eth_sendRawTransaction: the fast path (a run of consecutive calls handed to
`Sequencer.submit_many` at once) answers exactly as the same requests sent one by one, over real
chains and sequencers. Two identical nodes get the same requests: one as a batch, one request at a
time; every answer, error code and message, and the resulting pool must be the same."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jovay.params import MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.methods import EthApi
from jovay.rpc.server import create_app
from jovay.sequencer.mempool import MempoolLimits
from jovay.sequencer.sequencer import MIN_PARALLEL_DECODE, Sequencer, SequencerConfig
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, address_hex, raw_tx

ALICE, BOB = ADDRESSES[:2]
UNFUNDED_KEY = KEYS[7]
GENESIS = Genesis(
    identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={a: 10 * ETH for a in ADDRESSES[:6]}
)
# A small pool limit, so that "account limit exceeded" is reachable with a few transactions.
CONFIG = SequencerConfig(mempool=MempoolLimits(max_nonce_gap=64, max_per_sender=48))


@dataclass
class Node:
    client: TestClient
    sequencer: Sequencer | None
    chain: Chain

    def post(self, body: Any) -> Any:
        return self.client.post("/", content=json.dumps(body).encode()).json()

    def one_by_one(self, batch: list[Any]) -> list[Any]:
        """The general path: each request alone, in order."""
        return [self.post(request) for request in batch]


@contextmanager
def node(path: Path, replica: bool = False) -> Iterator[Node]:
    chain = Chain(path, GENESIS)
    sequencer = None if replica else Sequencer(chain, CONFIG)
    try:
        yield Node(TestClient(create_app(EthApi(chain, sequencer).methods())), sequencer, chain)
    finally:
        chain.close()


def transfer(key: bytes, nonce: int, value: int = 1, **fields: Any) -> str:
    options: dict[str, Any] = {"max_fee": 4 * MIN_BASE_FEE, "tip": SUGGESTED_PRIORITY_FEE} | fields
    return "0x" + raw_tx(key, nonce=nonce, to=BOB, value=value, **options).hex()


def send(request_id: Any, *params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": "eth_sendRawTransaction", "params": list(params)}


def tampered(raw: str) -> str:
    """A valid transaction with one byte of its signature's s changed: another sender or none."""
    data = bytearray.fromhex(raw[2:])
    data[-5] ^= 0x40
    return "0x" + data.hex()


def mixed_entries() -> list[Any]:
    """Requests of every kind a batch may hold (ids are reassigned by the tests)."""
    first = transfer(KEYS[0], 0)
    return [
        send(0, first),
        send(0, first),  # duplicate: already known
        send(0, transfer(KEYS[0], 0, value=2)),  # same nonce, same fees: replacement underpriced
        send(0, transfer(KEYS[1], 0)),
        send(0, transfer(KEYS[1], 1, chain_id=1)),  # another chain
        send(0, tampered(transfer(KEYS[2], 0))),
        send(0, transfer(UNFUNDED_KEY, 0)),  # insufficient funds
        send(0, transfer(KEYS[2], 1, max_fee=MIN_BASE_FEE // 2, tip=1)),  # below the base fee
        send(0, transfer(KEYS[0], 500)),  # nonce too high
        send(0, transfer(KEYS[1], 1, tx_type=0)),  # legacy, valid
        send(0, "0xzz"),  # not hex
        send(0, "0x02ff"),  # not a transaction
        send(0, "0x"),
        send(0, "deadbeef"),  # no 0x
        send(0, 5),
        send(0),  # missing param
        {"jsonrpc": "2.0", "id": 0, "method": "eth_sendRawTransaction", "params": "0x00"},  # not a list
        {"jsonrpc": "2.0", "id": 0, "method": "eth_sendRawTransaction"},  # no params at all
        {"jsonrpc": "2.0", "id": True, "method": "eth_sendRawTransaction", "params": [first]},  # bad id
        {"id": 0, "method": "eth_sendRawTransaction", "params": [first]},  # no jsonrpc
        42,  # not a request object
        {"jsonrpc": "2.0", "id": 0, "method": "eth_nope"},
        count_request(ALICE),
    ]


def numbered(batch: list[Any]) -> list[Any]:
    """The same requests with distinct ids (where a request object has a valid one to replace)."""
    out = []
    for number, request in enumerate(batch):
        if isinstance(request, dict) and request.get("id") is not True:
            request = {**request, "id": number}
        out.append(request)
    return out


def pool_view(target: Node, answers: list[Any]) -> tuple[int, list[bool], list[Any]]:
    """The pool's size, which answered hashes it holds, and every key's pending nonce."""
    sequencer = target.sequencer
    assert sequencer is not None
    hashes = [a["result"] for a in answers if isinstance(a.get("result"), str) and len(a["result"]) == 66]
    held = [sequencer.mempool.get(bytes.fromhex(h[2:])) is not None for h in hashes]
    nonces = [target.post(count_request(address)) for address in ADDRESSES]
    return len(sequencer.mempool), held, nonces


def count_request(address: bytes) -> dict[str, Any]:
    params = [address_hex(address), "pending"]
    return {"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionCount", "params": params}


def assert_same_as_one_by_one(tmp_path: Path, batch: list[Any]) -> tuple[list[Any], list[int]]:
    """Sends `batch` to one node as a batch and to another one request at a time; returns the answers
    and the number of transactions of each `submit_many` call the batch made."""
    with node(tmp_path / "batch") as fast, node(tmp_path / "single") as slow:
        runs: list[int] = []
        assert fast.sequencer is not None
        submit_many = fast.sequencer.submit_many

        def counted(raws: Any) -> Any:
            runs.append(len(raws))
            return submit_many(raws)

        fast.sequencer.submit_many = counted  # type: ignore[method-assign]
        answers = fast.post(batch)
        assert answers == slow.one_by_one(batch)
        assert pool_view(fast, answers) == pool_view(slow, answers)
        assert bool(runs) == (_longest_run_of_sends(batch) >= 2)  # runs of sends take the fast path
        return answers, runs


def _longest_run_of_sends(batch: list[Any]) -> int:
    longest = current = 0
    for request in batch:
        well_formed = (
            isinstance(request, dict)
            and request.get("jsonrpc") == "2.0"
            and request.get("method") == "eth_sendRawTransaction"
            and isinstance(request.get("params", []), (list, type(None)))
            and request.get("id") is not True
        )
        current = current + 1 if well_formed else 0
        longest = max(longest, current)
    return longest


def test_a_mixed_batch_answers_like_one_request_at_a_time(tmp_path: Path) -> None:
    valid_run = [send(0, transfer(KEYS[3 + i % 3], i // 3)) for i in range(MIN_PARALLEL_DECODE + 10)]
    later = [send(0, transfer(KEYS[0], 1)), send(0, transfer(KEYS[0], 2))]
    batch = numbered(mixed_entries() + valid_run + later)
    answers, runs = assert_same_as_one_by_one(tmp_path, batch)
    assert max(runs) == len(valid_run) + len(later)  # one submit_many for the whole run
    by_id = {a["id"]: a for a in answers if a["id"] is not None}
    messages = [a["error"]["message"] for a in answers if "error" in a]
    assert by_id[1]["error"] == {"code": -32000, "message": "already known"}
    assert by_id[2]["error"]["message"].startswith("replacement transaction underpriced")
    assert any(m.startswith("insufficient funds") for m in messages)
    assert any("nonce too high" in m for m in messages)
    assert by_id[10]["error"] == {"code": -32602, "message": "invalid argument 0: invalid hex string"}
    assert by_id[15]["error"]["message"] == "invalid argument 0: missing value for required argument"
    assert by_id[16]["error"] == {"code": -32602, "message": "non-array args"}
    assert by_id[21]["error"]["code"] == -32601
    assert by_id[22]["result"] == "0x1"  # sees the first transaction pooled earlier in the batch
    hashes = [a["result"] for a in answers if isinstance(a.get("result"), str) and len(a["result"]) == 66]
    assert len(hashes) == len(valid_run) + 5  # key 0 nonces 0, 1, 2; key 1 nonces 0 and 1 (legacy)


def test_a_run_past_the_pool_limit_answers_like_one_request_at_a_time(tmp_path: Path) -> None:
    """The pool's per-sender limit is reached inside one run: the same transactions are refused."""
    limit = CONFIG.mempool.max_per_sender
    batch = numbered([send(0, transfer(KEYS[4], n)) for n in range(limit + 3)])
    answers, runs = assert_same_as_one_by_one(tmp_path, batch)
    assert runs == [limit + 3]
    refused = [a["error"]["message"] for a in answers if "error" in a]
    assert len(refused) == 3 and all(m.startswith("account limit exceeded") for m in refused)


def test_a_replica_answers_every_send_of_a_batch_with_its_error(tmp_path: Path) -> None:
    batch = numbered([send(0, transfer(KEYS[0], n)) for n in range(3)] + [send(0, "0xzz")])
    with node(tmp_path / "batch", replica=True) as fast, node(tmp_path / "single", replica=True) as slow:
        answers = fast.post(batch)
        assert answers == slow.one_by_one(batch)
    replica = "this node is a replica: send transactions to the sequencer"
    assert [a["error"]["message"] for a in answers[:3]] == [replica] * 3


def test_a_failing_run_is_an_internal_error_and_the_node_goes_on(tmp_path: Path) -> None:
    with node(tmp_path / "n") as target:
        assert target.sequencer is not None
        real = target.sequencer.submit_many

        def broken(raws: Any) -> Any:
            raise RuntimeError("a bug")

        target.sequencer.submit_many = broken  # type: ignore[method-assign]
        answers = target.post(numbered([send(0, transfer(KEYS[0], n)) for n in range(2)]))
        assert [a["error"] for a in answers] == [{"code": -32603, "message": "internal error"}] * 2
        target.sequencer.submit_many = real  # type: ignore[method-assign]
        answers = target.post(numbered([send(0, transfer(KEYS[0], n)) for n in range(2)]))
        assert all(len(a["result"]) == 66 for a in answers)


ENTRIES = mixed_entries() + [send(0, transfer(KEYS[0], n)) for n in range(1, 4)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=st.lists(st.sampled_from(range(len(ENTRIES))), min_size=1, max_size=40))
def test_random_batches_answer_like_one_request_at_a_time(
    tmp_path_factory: pytest.TempPathFactory, picks: list[int]
) -> None:
    assert_same_as_one_by_one(tmp_path_factory.mktemp("random"), numbered([ENTRIES[i] for i in picks]))
