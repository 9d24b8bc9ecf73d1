"""The JSON-RPC 2.0 envelope over HTTP and WebSocket (FastAPI): single requests, batches, errors, limits.

Methods are plain functions from a params list to a JSON value; this module only routes and wraps.
No request may crash the server or leak a stack trace: unexpected exceptions become -32603.
HTTP POST and WebSocket share the path "/"; subscriptions exist only over WebSocket (`jovay.rpc.ws`).
"""

from __future__ import annotations

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
_STRING = re.compile(rb'"[^"]*"')
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_OPENERS = frozenset(b"[{")

Method = Callable[[list[Any]], Any]


class BatchedMethod:
    """A method that can get ready for many calls at once: `prepare` sees the params of every call
    of it in a batch before the calls run one by one, in order (eth_sendRawTransaction decodes and
    recovers all the batch's senders on a thread pool). Preparing must not change any answer."""

    def __init__(self, method: Method, prepare: Callable[[list[list[Any]]], None]) -> None:
        self.method = method
        self.prepare = prepare

    def __call__(self, params: list[Any]) -> Any:
        return self.method(params)


def _prepare_batch(methods: dict[str, Method], payload: list[Any]) -> None:
    """Hand each BatchedMethod the params of its calls in the batch (best effort: errors are the
    calls' own business, answered when each runs)."""
    calls: dict[str, list[list[Any]]] = {}
    for request in payload:
        if isinstance(request, dict) and isinstance(request.get("params"), list):
            name = request.get("method")
            if isinstance(name, str) and isinstance(methods.get(name), BatchedMethod):
                calls.setdefault(name, []).append(request["params"])
    for name, params_list in calls.items():
        method = methods[name]
        assert isinstance(method, BatchedMethod)
        try:
            method.prepare(params_list)
        except Exception:  # preparing is an optimization; never let it fail a batch
            log.exception("preparing a batch of %s failed", name)


def _response(request_id: Any, *, result: Any = None, error: RpcError | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, (str, int, float)) and not isinstance(value, bool))


def handle_request(methods: dict[str, Method], request: Any) -> dict[str, Any]:
    """Answer one JSON-RPC request object."""
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
    method = methods.get(method_name)
    if method is None:
        message = f"the method {method_name} does not exist/is not available"
        return _response(request_id, error=RpcError(METHOD_NOT_FOUND, message))
    try:
        return _response(request_id, result=method(params))
    except RpcError as exc:
        return _response(request_id, error=exc)
    except (InvalidTransaction, StateUnavailable) as exc:
        return _response(request_id, error=RpcError(exc.rpc_code, exc.message))
    except Exception:
        log.exception("internal error in %s", method_name)
        return _response(request_id, error=RpcError(INTERNAL_ERROR, "internal error"))


def nesting_too_deep(body: bytes) -> bool:
    """True when arrays/objects nest deeper than MAX_NESTING_DEPTH outside strings.

    Checked before `json.loads`, whose C parser recurses per level: py_ecc raises Python's recursion
    limit to 100,000 on import, so deep input would overflow the C stack and kill the node.
    """
    if body.count(b"[") + body.count(b"{") <= MAX_NESTING_DEPTH:
        return False
    brackets = _STRING.sub(b"", _ESCAPE.sub(b"", body)).translate(None, _NOT_BRACKETS)
    depth = 0
    for char in brackets:
        depth += 1 if char in _OPENERS else -1
        if depth > MAX_NESTING_DEPTH:
            return True
    return False


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
        _prepare_batch(methods, payload)
        return 200, [handle_request(methods, item) for item in payload]
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
