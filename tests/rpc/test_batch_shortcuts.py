"""The shortcuts of the batch path give exactly what the general parsing gives: `_plain_call` either
declines or answers as `_envelope`, and `data_param0` answers (or raises) as `data(param(params, 0))`."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.rpc import params as p
from jovay.rpc.errors import RpcError
from jovay.rpc.server import _envelope, _plain_call

NAME = "eth_sendRawTransaction"
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 2**70), st.floats(allow_nan=False), st.text(max_size=6)
)
hex_like = st.one_of(
    st.binary(max_size=8).map(lambda b: "0x" + b.hex()),
    st.binary(max_size=8).map(lambda b: "0X" + b.hex()),
    st.text(alphabet="0123456789abcdefABCDEFxX \t", max_size=10),
    st.just("0x"),
    st.just("0x0 "),
    st.just("0x00 11"),
)
param_lists = st.one_of(st.lists(st.one_of(hex_like, json_scalars), max_size=3), json_scalars)
requests = st.one_of(
    json_scalars,
    st.lists(json_scalars, max_size=2),
    st.fixed_dictionaries(
        {},
        optional={
            "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
            "id": json_scalars,
            "method": st.sampled_from([NAME, "eth_chainId", 5]),
            "params": param_lists,
        },
    ),
)


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return "ok", fn(*args)
    except RpcError as exc:
        return "error", exc.to_json()


@settings(max_examples=500, deadline=None)
@given(request=requests)
def test_plain_call_declines_or_agrees_with_the_envelope(request: Any) -> None:
    shortcut = _plain_call(request, NAME)
    assert shortcut is None or shortcut == _envelope(request)


def test_plain_call_takes_the_usual_shape() -> None:
    request = {"jsonrpc": "2.0", "id": 7, "method": NAME, "params": ["0x02"]}
    assert _plain_call(request, NAME) == (7, NAME, ["0x02"]) == _envelope(request)
    assert _plain_call({**request, "id": True}, NAME) is None  # a bool is not a valid id


@settings(max_examples=500, deadline=None)
@given(params=st.lists(st.one_of(hex_like, json_scalars), max_size=3))
def test_data_param0_agrees_with_data_of_param0(params: list[Any]) -> None:
    assert outcome(p.data_param0, params) == outcome(lambda: p.data(p.param(params, 0), 0))
