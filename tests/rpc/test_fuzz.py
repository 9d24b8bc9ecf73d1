"""Random and malformed JSON-RPC thrown at the in-process server over a real chain and sequencer.

Whatever arrives, every answer must be well-formed JSON-RPC 2.0 (strict JSON; jsonrpc, id, exactly
one of result / error; an error has an integer code and a string message), never HTTP 500, never a
stack trace, and never -32603 (bad input is the client's fault, not an internal error). Afterwards
the sequencer must still seal blocks and admit a valid transaction.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jovay.codec.blocks import block_hash
from jovay.crypto.keccak import keccak256
from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.api import connect_events, rpc_methods
from jovay.rpc.events import EventHub
from jovay.rpc.server import create_app
from jovay.sequencer.sequencer import Sequencer
from jovay.stf import identity, registry, token
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, address_hex, calldata, raw_tx

ALICE, BOB = ADDRESSES[:2]
ROOT = Path(__file__).resolve().parents[2]
SAFE_NESTING = 5_000  # past the default recursion limit, well inside the C stack
TOKEN = registry.token_address(1)
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Node:
    client: TestClient
    sequencer: Sequencer
    chain: Chain
    method_names: list[str]
    valid_tx: bytes  # a signed transfer, kept to show that malformed ones did not disturb the pool
    block_hashes: list[str]
    tx_hashes: list[str]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A chain with a token and a transfer, served with the node's full method table."""
    genesis = Genesis(identity_admin=ALICE, timestamp=int(time.time()) - 5, alloc={ALICE: 10 * ETH})
    chain = Chain(tmp_path_factory.mktemp("fuzz"), genesis)
    sequencer = Sequencer(chain)
    hub = EventHub()
    connect_events(chain, sequencer, hub)
    fee = {"max_fee": 4 * MIN_BASE_FEE, "tip": SUGGESTED_PRIORITY_FEE}
    create = calldata("createToken(string,string,uint8)", "Bond", "BND", 6)
    sequencer.submit(raw_tx(KEYS[0], nonce=0, to=ASSET_REGISTRY, data=create, gas=300_000, **fee))
    sequencer.submit(raw_tx(KEYS[0], nonce=1, to=BOB, value=3, **fee))
    sequencer.produce_block()
    assert chain.head.number == 1 and chain.receipts(1)[0].receipt.status == 1
    methods = rpc_methods(chain, sequencer, None, hub)
    names = sorted(set(methods) | {"eth_subscribe", "eth_unsubscribe"})
    client = TestClient(create_app(methods), raise_server_exceptions=False)
    valid = raw_tx(KEYS[0], nonce=2, to=BOB, value=1, **fee)
    block_hashes = ["0x" + block_hash(chain.block(n)[0]).hex() for n in (0, 1)]  # type: ignore[index]
    tx_hashes = ["0x" + keccak256(raw).hex() for raw in chain.block(1)[1]]  # type: ignore[index]
    yield Node(client, sequencer, chain, names, valid, block_hashes, tx_hashes)
    chain.close()


# --- what a well-formed answer is ----------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"answer is not strict JSON: contains {name}")


def post(node: Node, body: bytes) -> Any:
    response = node.client.post("/", content=body, headers={"content-type": "application/json"})
    assert response.status_code in (200, 413), (response.status_code, body[:200], response.text[:500])
    return json.loads(response.content, parse_constant=_reject_constant)


def check_answer(answer: Any, request: Any = None) -> None:
    assert isinstance(answer, dict), answer
    assert set(answer) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), answer
    assert answer["jsonrpc"] == "2.0"
    if isinstance(request, dict) and _valid_id(request.get("id")):
        assert answer["id"] == request.get("id"), (answer, request)
    if "error" in answer:
        error = answer["error"]
        assert isinstance(error, dict) and set(error) <= {"code", "message", "data"}, error
        assert isinstance(error["code"], int) and not isinstance(error["code"], bool), error
        assert isinstance(error["message"], str), error
        assert "Traceback" not in error["message"] and 'File "' not in error["message"], error
        assert error["code"] != -32603, ("internal error for client input", request, error)


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def check_body(node: Node, payload: Any) -> Any:
    """Send a JSON value as the body and check the answer against it."""
    answer = post(node, json.dumps(payload).encode())
    if isinstance(payload, list) and 0 < len(payload):
        assert isinstance(answer, list) and len(answer) == len(payload), answer
        for item, request in zip(answer, payload, strict=True):
            check_answer(item, request)
    else:
        check_answer(answer, payload)
    return answer


# --- strategies ----------------------------------------------------------------------------------------

HUGE = st.integers(min_value=-(2**600), max_value=2**600)
SCALARS = (
    st.none()
    | st.booleans()
    | HUGE
    | st.integers(min_value=-5, max_value=5)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def hex_of(size: int) -> st.SearchStrategy[str]:
    return st.binary(min_size=size, max_size=size).map(lambda b: "0x" + b.hex())


ADDRESS = st.sampled_from([ALICE, BOB, IDENTITY_REGISTRY, ASSET_REGISTRY, TOKEN, bytes(20)]).map(address_hex)
QUANTITY = st.integers(min_value=0, max_value=2**256).map(hex) | st.sampled_from(
    ["0x", "0x00", "0x01", "0X1", "1", "0xg", "-0x1", "0x" + "f" * 65, "0x" + "1" * 5000]
)
TAG = st.sampled_from(["latest", "pending", "earliest", "safe", "finalized", "0x0", "0x1", "0x2"]) | QUANTITY
HEX_DATA = st.binary(max_size=80).map(lambda b: "0x" + b.hex()) | st.sampled_from(["0x0", "0xzz", "zz"])
SELECTORS = sorted({*identity.FUNCTIONS, *registry.FUNCTIONS, *token.FUNCTIONS})
CALLDATA = st.builds(
    lambda sel, tail: "0x" + (sel + tail).hex(), st.sampled_from(SELECTORS), st.binary(max_size=140)
)
BLOCK_OBJ = st.fixed_dictionaries(
    {},
    optional={
        "blockHash": hex_of(32) | JSON,
        "blockNumber": TAG | JSON,
        "requireCanonical": st.booleans() | JSON,
    },
)
CALL = st.fixed_dictionaries(
    {},
    optional={
        "from": ADDRESS | JSON,
        "to": ADDRESS | st.none() | JSON,
        "data": CALLDATA | HEX_DATA | JSON,
        "input": CALLDATA | HEX_DATA,
        "value": QUANTITY | JSON,
        "gas": QUANTITY,
        "unknownField": JSON,
    },
)
TOPICS = st.lists(st.none() | hex_of(32) | st.lists(hex_of(32) | JSON, max_size=3) | JSON, max_size=6)
LOG_QUERY = st.fixed_dictionaries(
    {},
    optional={
        "fromBlock": TAG | JSON,
        "toBlock": TAG | JSON,
        "blockHash": hex_of(32) | JSON,
        "address": ADDRESS | st.lists(ADDRESS | JSON, max_size=3) | JSON,
        "topics": TOPICS | JSON,
    },
)
# What each parameter position of a method might plausibly (or implausibly) be.
PARAM = (
    JSON
    | ADDRESS
    | QUANTITY
    | TAG
    | HEX_DATA
    | hex_of(32)
    | CALL
    | BLOCK_OBJ
    | LOG_QUERY
    | st.lists(st.sampled_from([0, 10, 50, 100, 101, -1, 1.5]), max_size=4)
)
REQUEST_ID = (
    st.none()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text(max_size=10)
    | st.floats(allow_nan=False, allow_infinity=False)
)
BAD_ID = (
    st.booleans() | st.lists(SCALARS, max_size=2) | st.dictionaries(st.text(max_size=3), SCALARS, max_size=2)
)


def signatures(node: Node) -> dict[str, list[st.SearchStrategy[Any]]]:
    """Well-typed (mostly valid) parameters per method, so that fuzzing reaches past argument parsing."""
    block_hash = st.sampled_from(node.block_hashes) | hex_of(32)
    tx_hash = st.sampled_from(node.tx_hashes) | hex_of(32)
    tag = TAG | BLOCK_OBJ | st.sampled_from(node.block_hashes).map(lambda h: {"blockHash": h})
    index = st.integers(0, 3).map(hex) | QUANTITY
    full = st.booleans()
    filter_id = st.text(max_size=40) | hex_of(16)
    percentiles = st.lists(st.integers(0, 100), max_size=5).map(sorted) | st.lists(JSON, max_size=3)
    call = CALL | st.fixed_dictionaries(
        {
            "to": st.sampled_from([IDENTITY_REGISTRY, ASSET_REGISTRY, TOKEN]).map(address_hex),
            "data": CALLDATA,
        },
        optional={"from": ADDRESS, "value": QUANTITY},
    )
    return {
        "eth_getBalance": [ADDRESS, tag],
        "eth_getTransactionCount": [ADDRESS, tag],
        "eth_getCode": [ADDRESS, tag],
        "eth_getStorageAt": [ADDRESS, QUANTITY, tag],
        "eth_getProof": [ADDRESS, st.just([]) | st.lists(hex_of(32), max_size=2), tag],
        "eth_call": [call, tag],
        "eth_estimateGas": [call, tag],
        "eth_getBlockByNumber": [tag, full],
        "eth_getBlockByHash": [block_hash, full],
        "eth_getTransactionByHash": [tx_hash],
        "eth_getTransactionReceipt": [tx_hash],
        "eth_sendRawTransaction": [HEX_DATA],
        "eth_feeHistory": [index | st.integers(-5, 2000), tag, percentiles],
        "debug_getRawBlock": [tag],
        "jovay_getBatch": [index],
        "jovay_outputAtBlock": [tag],
        "jovay_getWithdrawalProof": [index, tag],
        "eth_getLogs": [LOG_QUERY],
        "eth_newFilter": [LOG_QUERY],
        "eth_newPendingTransactionFilter": [full],
        "eth_getFilterChanges": [filter_id],
        "eth_getFilterLogs": [filter_id],
        "eth_uninstallFilter": [filter_id],
        "eth_getBlockReceipts": [tag],
        "eth_getBlockTransactionCountByNumber": [tag],
        "eth_getBlockTransactionCountByHash": [block_hash],
        "eth_getTransactionByBlockNumberAndIndex": [tag, index],
        "eth_getTransactionByBlockHashAndIndex": [block_hash, index],
        "eth_getUncleCountByBlockNumber": [tag],
        "eth_getUncleCountByBlockHash": [block_hash],
        "eth_subscribe": [st.sampled_from(["newHeads", "logs", "newPendingTransactions"]), LOG_QUERY],
        "eth_unsubscribe": [filter_id],
    }


@st.composite
def requests(draw: st.DrawFn, names: list[str]) -> Any:
    """A request object, mostly well-shaped, with any part of it possibly wrong."""
    method = draw(st.sampled_from(names) | st.text(max_size=30) | st.sampled_from(["", "eth_", "jovay_nope"]))
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": draw(REQUEST_ID), "method": method}
    params = draw(st.lists(PARAM, max_size=4) | PARAM)
    if draw(st.booleans()):
        request["params"] = params
    for key, value in draw(
        st.dictionaries(st.sampled_from(["jsonrpc", "id", "method", "extra", "x"]), JSON)
    ).items():
        if draw(st.integers(0, 3)) == 0:  # sometimes break the envelope itself
            request[key] = value
    if draw(st.integers(0, 9)) == 0:
        request["id"] = draw(BAD_ID)
    return request


# --- the fuzzing ---------------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_every_method_with_any_params(node: Node, data: st.DataObject) -> None:
    method = data.draw(st.sampled_from(node.method_names))
    params = data.draw(st.lists(PARAM, max_size=4))
    request = {"jsonrpc": "2.0", "id": data.draw(REQUEST_ID), "method": method, "params": params}
    answer = check_body(node, request)
    event(f"{method}: {'result' if 'result' in answer else answer['error']['code']}")


@FUZZ
@given(data=st.data())
def test_every_method_with_one_param_wrong(node: Node, data: st.DataObject) -> None:
    """Right types everywhere but (usually) one position: a wrong type, a dropped tail or extra params."""
    method = data.draw(st.sampled_from(node.method_names))
    params = [data.draw(strategy) for strategy in signatures(node).get(method, [])]
    change = data.draw(st.sampled_from(["none", "wrong", "wrong", "drop", "extra"]))
    if change == "wrong" and params:
        params[data.draw(st.integers(0, len(params) - 1))] = data.draw(JSON)
    elif change == "drop":
        params = params[: data.draw(st.integers(0, len(params)))]
    elif change == "extra":
        params += data.draw(st.lists(PARAM, min_size=1, max_size=3))
    answer = check_body(node, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    event(f"{method}: {'result' if 'result' in answer else answer['error']['code']}")


@FUZZ
@given(data=st.data())
def test_any_request_object(node: Node, data: st.DataObject) -> None:
    check_body(node, data.draw(requests(node.method_names)))


@FUZZ
@given(data=st.data())
def test_batches_of_junk(node: Node, data: st.DataObject) -> None:
    batch = data.draw(st.lists(requests(node.method_names) | JSON, min_size=1, max_size=8))
    check_body(node, batch)


@FUZZ
@given(payload=JSON)
def test_any_json_value_as_the_body(node: Node, payload: Any) -> None:
    answer = post(node, json.dumps(payload).encode())
    if isinstance(payload, list) and payload and len(payload) <= 1000:
        assert isinstance(answer, list) and len(answer) == len(payload)
        for item in answer:
            check_answer(item)
    else:
        check_answer(answer)


def _well_formed_body(node: Node) -> st.SearchStrategy[bytes]:
    return requests(node.method_names).map(lambda r: json.dumps(r).encode())


@FUZZ
@given(data=st.data())
def test_malformed_bytes(node: Node, data: st.DataObject) -> None:
    """Truncated, corrupted, non-UTF-8 or random bodies: a parse error or a proper answer, nothing else."""
    body = data.draw(_well_formed_body(node))
    kind = data.draw(st.sampled_from(["truncate", "flip", "non_utf8", "random", "nesting", "huge_int"]))
    if kind == "truncate":
        body = body[: data.draw(st.integers(0, max(0, len(body) - 1)))]
    elif kind == "flip":
        at = data.draw(st.integers(0, len(body) - 1))
        body = body[:at] + bytes([data.draw(st.integers(0, 255))]) + body[at + 1 :]
    elif kind == "non_utf8":
        at = data.draw(st.integers(0, len(body)))
        body = (
            body[:at]
            + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00"]))
            + body[at:]
        )
    elif kind == "random":
        body = data.draw(st.binary(max_size=200))
    elif kind == "nesting":  # deeper bodies crash the process: test_deep_nesting_in_a_node_process
        depth = data.draw(st.integers(1, SAFE_NESTING))
        inner = b"[" * depth + b"]" * depth
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":' + inner + b"}"
    else:
        digits = data.draw(st.integers(300, 20_000))
        body = b'{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber","params":[1' + b"0" * digits + b"]}"
    answer = post(node, body)
    for item in answer if isinstance(answer, list) else [answer]:
        check_answer(item)


@pytest.mark.parametrize(
    "body",
    [
        b'{"jsonrpc":"2.0","id":1,"method":"eth_feeHistory","params":["0x1","latest",[NaN]]}',
        b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[Infinity]}',
        b"[" * SAFE_NESTING,
        b"\xef\xbb\xbf{}",
        b"",
        b"null",
    ],
)
def test_named_malformed_bodies(node: Node, body: bytes) -> None:
    check_answer(post(node, body))


@pytest.mark.parametrize("body", [b"[" * 200_000, b'{"a":' * 200_000])
def test_deep_nesting_in_a_node_process(body: bytes) -> None:
    """Run where a crash cannot take pytest down: a child process that imports what `jovay node` does."""
    code = (
        "import json, sys; import jovay.node; from jovay.rpc.server import handle_body; "
        "print(json.dumps(handle_body({}, sys.stdin.buffer.read())[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=body, capture_output=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, f"the node process died with exit status {done.returncode}"
    assert json.loads(done.stdout)["error"]["code"] == -32700


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_non_finite_id_gets_a_strict_json_answer(node: Node, constant: bytes) -> None:
    check_answer(post(node, b'{"jsonrpc":"2.0","id":' + constant + b',"method":"eth_chainId"}'))


@FUZZ
@given(raw=st.binary(max_size=300) | st.binary(max_size=60).map(lambda b: b"\x02" + b))
def test_send_raw_transaction_with_junk_bytes(node: Node, raw: bytes) -> None:
    check_body(
        node, {"jsonrpc": "2.0", "id": 7, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
    )


@FUZZ
@given(at=st.integers(min_value=0), byte=st.integers(0, 255))
def test_send_raw_transaction_with_a_corrupted_valid_one(node: Node, at: int, byte: int) -> None:
    """One byte of a valid signed transaction changed: rejected or (a different sender) pooled, cleanly."""
    raw = bytearray(raw_tx(KEYS[3], nonce=0, to=BOB, value=1, max_fee=4 * MIN_BASE_FEE))
    raw[at % len(raw)] = byte
    check_body(
        node, {"jsonrpc": "2.0", "id": 7, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
    )


def test_node_still_seals_and_admits_after_the_fuzzing(node: Node) -> None:
    """Runs last in this module: nothing above may have wedged the pool or the chain."""
    before = node.chain.head.number
    node.sequencer.produce_block()
    assert node.chain.head.number == before + 1
    sent = check_body(
        node,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + node.valid_tx.hex()],
        },
    )
    assert "result" in sent, sent
    node.sequencer.produce_block()
    receipt = check_body(
        node, {"jsonrpc": "2.0", "id": 2, "method": "eth_getTransactionReceipt", "params": [sent["result"]]}
    )
    assert receipt["result"]["status"] == "0x1" and int(receipt["result"]["blockNumber"], 16) == before + 2
    balance = check_body(
        node, {"jsonrpc": "2.0", "id": 3, "method": "eth_getBalance", "params": [address_hex(BOB), "latest"]}
    )
    assert balance["result"] == "0x4"
