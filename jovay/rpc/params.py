"""Parsing of JSON-RPC parameters: hex quantities, data, addresses, hashes, with geth's messages."""

from __future__ import annotations

from typing import Any

from jovay.rpc.errors import invalid_argument

MAX_QUANTITY_BITS = 256


def param(params: list[Any], index: int, default: Any = ...) -> Any:
    if index < len(params):
        return params[index]
    if default is ...:
        raise invalid_argument(index, "missing value for required argument")
    return default


def quantity(value: Any, index: int) -> int:
    """A hex quantity such as "0x1a": no leading zeros beyond "0x0", at most 256 bits."""
    if not isinstance(value, str):
        raise invalid_argument(
            index, f"json: cannot unmarshal {_json_type(value)} into Go value of type hexutil.Big"
        )
    if not value.startswith(("0x", "0X")):
        raise invalid_argument(index, "hex string without 0x prefix")
    digits = value[2:]
    if not digits:
        raise invalid_argument(index, 'hex string "0x"')
    if len(digits) > 1 and digits[0] == "0":
        raise invalid_argument(index, "hex number with leading zero digits")
    if len(digits) > MAX_QUANTITY_BITS // 4:
        raise invalid_argument(index, "hex number > 256 bits")
    try:
        return int(digits, 16)
    except ValueError:
        raise invalid_argument(index, "invalid hex string") from None


def data(value: Any, index: int) -> bytes:
    """Hex-encoded bytes such as "0xdeadbeef" (an even number of digits)."""
    if not isinstance(value, str):
        raise invalid_argument(
            index, f"json: cannot unmarshal {_json_type(value)} into Go value of type hexutil.Bytes"
        )
    if not value.startswith(("0x", "0X")):
        raise invalid_argument(index, "hex string without 0x prefix")
    digits = value[2:]
    if len(digits) % 2:
        raise invalid_argument(index, "hex string of odd length")
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise invalid_argument(index, "invalid hex string") from None


def data_param0(params: list[Any]) -> bytes:
    """`data(param(params, 0), 0)`, with a shortcut for the usual "0x" + hex digits (a batch of
    transactions parses thousands); anything else takes the general path and its errors."""
    if params:
        value = params[0]
        if type(value) is str and not len(value) % 2 and value.startswith("0x"):
            try:
                return bytes.fromhex(value[2:])
            except ValueError:
                pass
    return data(param(params, 0), 0)


def fixed_bytes(value: Any, index: int, size: int, what: str) -> bytes:
    raw = data(value, index)
    if len(raw) != size:
        raise invalid_argument(index, f"hex string has length {len(raw) * 2}, want {size * 2} for {what}")
    return raw


def address(value: Any, index: int) -> bytes:
    return fixed_bytes(value, index, 20, "common.Address")


def hash32(value: Any, index: int) -> bytes:
    return fixed_bytes(value, index, 32, "common.Hash")


def boolean(value: Any, index: int) -> bool:
    if not isinstance(value, bool):
        raise invalid_argument(
            index, f"json: cannot unmarshal {_json_type(value)} into Go value of type bool"
        )
    return value


def obj(value: Any, index: int) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_argument(
            index, f"json: cannot unmarshal {_json_type(value)} into Go value of type object"
        )
    return value


def hex_int(n: int) -> str:
    return hex(n)


def hex_bytes(b: bytes) -> str:
    return "0x" + b.hex()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"
