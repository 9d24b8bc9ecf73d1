"""The JSON-RPC 2.0 envelope over HTTP and WebSocket (FastAPI): single requests, batches, errors, limits.

Methods are plain functions from a params list to a JSON value; this module only routes and wraps.
No request may crash the server or leak a stack trace: unexpected exceptions become -32603.
HTTP POST and WebSocket share the path "/"; subscriptions exist only over WebSocket (`jovay.rpc.ws`).
"""

from __future__ import annotations

import itertools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from jovay.errors import InvalidTransaction, StateUnavailable
from jovay.rpc.errors import INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError
from jovay.rpc.events import EventHub
from jovay.rpc.ws import SUBSCRIPTION_METHODS, WsLimits, notifications_unsupported, serve_websocket

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_BATCH_SIZE = 1_000
MAX_NESTING_DEPTH = 128

_ESCAPE = re.compile(rb"\\.")
_NOT_BRACKETS_OR_QUOTES = bytes(c for c in range(256) if c not in b'[]{}"')
_DEPTH_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}

Method = Callable[[list[Any]], Any]


class BatchedMethod:
    """A method that can also answer a run of consecutive calls of itself at once: `many` takes each
    call's params and returns, per call, its result or the exception that call alone would raise,
    exactly as calling `method` once per call, in order, would (eth_sendRawTransaction hands a run of
    transactions to `Sequencer.submit_many`, which decodes them on both cores). A batch of thousands of
    transactions then costs one envelope check per request and one call, not one dispatch each."""

    def __init__(self, method: Method, many: Callable[[list[list[Any]]], list[Any]]) -> None:
        self.method = method
        self.many = many

    def __call__(self, params: list[Any]) -> Any:
        return self.method(params)


def _response(request_id: Any, *, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def _envelope(request: Any) -> tuple[Any, str, list[Any]] | dict[str, Any]:
    """(id, method name, params) of a well-formed request object, or the error answer to a malformed one."""
    if not isinstance(request, dict):
        return _response(None, error=RpcError(INVALID_REQUEST, "invalid request"))
    request_id = request.get("id")
    if not _valid_id(request_id):
        return _response(None, error=RpcError(INVALID_REQUEST, "invalid request: bad id"))
    method_name = request.get("method")
    if request.get("jsonrpc") != "2.0" or not isinstance(method_name, str):
        return _response(request_id, error=RpcError(INVALID_REQUEST, "invalid request"))
    params = request.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        return _response(request_id, error=RpcError(-32602, "non-array args"))
    return request_id, method_name, params


def _answer(request_id: Any, method_name: str, outcome: Any) -> dict[str, Any]:
    """The response to a call whose method returned `outcome` or raised it (an exception)."""
    if not isinstance(outcome, Exception):
        return _response(request_id, result=outcome)
    if isinstance(outcome, RpcError):
        return _response(request_id, error=outcome)
    if isinstance(outcome, (InvalidTransaction, StateUnavailable)):
        return _response(request_id, error=RpcError(outcome.rpc_code, outcome.message))
    log.error("internal error in %s", method_name, exc_info=outcome)
    return _response(request_id, error=RpcError(INTERNAL_ERROR, "internal error"))


def _method_not_found(request_id: Any, method_name: str) -> dict[str, Any]:
    message = f"the method {method_name} does not exist/is not available"
    return _response(request_id, error=RpcError(METHOD_NOT_FOUND, message))


def handle_request(methods: dict[str, Method], request: Any) -> dict[str, Any]:
    """Answer one JSON-RPC request object."""
    parsed = _envelope(request)
    if isinstance(parsed, dict):
        return parsed
    request_id, method_name, params = parsed
    method = methods.get(method_name)
    if method is None:
        return _method_not_found(request_id, method_name)
    try:
        outcome = method(params)
    except Exception as exc:
        outcome = exc
    return _answer(request_id, method_name, outcome)


def handle_batch(methods: dict[str, Method], payload: list[Any]) -> list[dict[str, Any]]:
    """Answer each request of a batch, in order. Each run of two or more consecutive well-formed calls
    to one BatchedMethod goes to its `many` at once; its answers are those of the calls one by one."""
    answers: list[dict[str, Any]] = []
    position = 0
    while position < len(payload):
        run = _batched_run(methods, payload, position)
        if len(run) < 2:
            answers.append(handle_request(methods, payload[position]))
            position += 1
            continue
        method_name = run[0][1]
        method = methods[method_name]
        assert isinstance(method, BatchedMethod)
        answers += _answer_run(method, method_name, [(request_id, params) for request_id, _, params in run])
        position += len(run)
    return answers


def _batched_run(
    methods: dict[str, Method], payload: list[Any], start: int
) -> list[tuple[Any, str, list[Any]]]:
    """The well-formed calls to one BatchedMethod from `start` on, up to the first request that is not one."""
    run: list[tuple[Any, str, list[Any]]] = []
    first = _envelope(payload[start])
    if isinstance(first, dict) or not isinstance(methods.get(first[1]), BatchedMethod):
        return run
    run.append(first)
    name = first[1]
    for index in range(start + 1, len(payload)):
        request = payload[index]
        parsed = _plain_call(request, name) or _envelope(request)
        if isinstance(parsed, dict) or parsed[1] != name:
            break
        run.append(parsed)
    return run


def _plain_call(request: Any, name: str) -> tuple[Any, str, list[Any]] | None:
    """`_envelope(request)` for the usual shape of a call to `name` (a JSON-RPC 2.0 object with an
    integer or string id and a list of params: what a batch of transactions is made of); None for
    anything else, which `_envelope` then checks in full."""
    if type(request) is not dict or request.get("method") != name or request.get("jsonrpc") != "2.0":
        return None
    request_id, params = request.get("id"), request.get("params")
    if (type(request_id) is int or type(request_id) is str) and type(params) is list:
        return request_id, name, params
    return None


def _answer_run(
    method: BatchedMethod, method_name: str, calls: list[tuple[Any, list[Any]]]
) -> list[dict[str, Any]]:
    """Answers to a run of calls to one BatchedMethod (a failure of the whole run, a bug, is logged
    once and answered to each call as a failing single call would be)."""
    try:
        outcomes = method.many([params for _, params in calls])
    except Exception:
        log.exception("internal error in %s (a run of %d calls)", method_name, len(calls))
        outcomes = [RpcError(INTERNAL_ERROR, "internal error")] * len(calls)
    return [
        {"jsonrpc": "2.0", "id": request_id, "result": outcome}
        if type(outcome) is str  # (the usual answer: a transaction hash; `_answer` would give the same)
        else _answer(request_id, method_name, outcome)
        for (request_id, _), outcome in zip(calls, outcomes, strict=True)
    ]


def nesting_too_deep(body: bytes) -> bool:
    """True when arrays/objects nest deeper than MAX_NESTING_DEPTH outside strings.

    Checked before `json.loads`, whose C parser recurses per level: py_ecc raises Python's recursion
    limit to 100,000 on import, so deep input would overflow the C stack and kill the node.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_NESTING_DEPTH:
        return False
    if b"\\" in body:
        body = _ESCAPE.sub(b"", body)  # an escaped quote does not end a string
    brackets_and_quotes = body.translate(None, _NOT_BRACKETS_OR_QUOTES)
    brackets = b"".join(brackets_and_quotes.split(b'"')[::2])  # every other piece lies between strings
    depths = itertools.accumulate(map(_DEPTH_STEP.__getitem__, brackets))
    return max(depths, default=0) > MAX_NESTING_DEPTH


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python's json accepts NaN/Infinity; JSON does not


def handle_body(methods: dict[str, Method], body: bytes) -> tuple[int, Any]:
    """HTTP status and JSON answer for a request body (single request or batch)."""
    if len(body) > MAX_BODY_BYTES:
        return _body_too_large(len(body))
    if nesting_too_deep(body):
        message = f"parse error: nesting deeper than {MAX_NESTING_DEPTH}"
        return 200, _response(None, error=RpcError(PARSE_ERROR, message))
    try:
        payload = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return 200, _response(None, error=RpcError(PARSE_ERROR, "parse error"))
    if isinstance(payload, list):
        if not payload:
            return 200, _response(None, error=RpcError(INVALID_REQUEST, "empty batch"))
        if len(payload) > MAX_BATCH_SIZE:
            message = f"batch too large: {len(payload)} requests, limit {MAX_BATCH_SIZE}"
            return 200, _response(None, error=RpcError(INVALID_REQUEST, message))
        return 200, handle_batch(methods, payload)
    return 200, handle_request(methods, payload)


def _body_too_large(size: int) -> tuple[int, Any]:
    message = f"request body too large: {size} bytes, limit {MAX_BODY_BYTES}"
    return 413, _response(None, error=RpcError(INVALID_REQUEST, message))


def create_app(
    methods: dict[str, Method], hub: EventHub | None = None, ws_limits: WsLimits | None = None
) -> FastAPI:
    """The RPC app: `methods` over HTTP and WebSocket; subscriptions over WebSocket when `hub` is given."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    http_methods = {**methods, **{name: notifications_unsupported for name in SUBSCRIPTION_METHODS}}
    limits = ws_limits or WsLimits(max_message_bytes=MAX_BODY_BYTES)

    @app.post("/")
    async def rpc(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            status, answer = _body_too_large(int(declared))
        else:
            # Off the event loop: a batch of transactions takes a while, and WebSocket subscribers
            # (newHeads) must not wait for it.
            status, answer = await run_in_threadpool(handle_body, http_methods, await request.body())
        return Response(
            json.dumps(answer, separators=(",", ":")), status_code=status, media_type="application/json"
        )

    @app.websocket("/")
    async def rpc_ws(websocket: WebSocket) -> None:
        await serve_websocket(websocket, methods, hub, handle_body, limits)

    return app
