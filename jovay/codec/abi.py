"""Minimal Solidity ABI for the system contracts: selectors, static-argument decoding, return values.

System-contract calls are on the sequencer's hot path, so static arguments (address, uint, bool) are
decoded by slicing 32-byte words; strings go through eth_abi. Malformed calldata raises `AbiError`,
which the STF turns into a revert with empty data, as a Solidity contract would.
"""

from __future__ import annotations

from collections.abc import Sequence

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from jovay.crypto.keccak import keccak256

ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


class AbiError(ValueError):
    """Calldata that does not decode as the function's arguments."""


def selector(signature: str) -> bytes:
    """The 4-byte function selector of a canonical signature such as `transfer(address,uint256)`."""
    return keccak256(signature.encode())[:4]


def event_topic(signature: str) -> bytes:
    """The topic-0 of an event signature such as `Transfer(address,address,uint256)`."""
    return keccak256(signature.encode())


def words(data: bytes, count: int) -> list[bytes]:
    """Split the arguments after the selector into exactly `count` 32-byte words."""
    body = data[4:]
    if len(body) != 32 * count:
        raise AbiError(f"calldata has {len(body)} argument bytes, want {32 * count}")
    return [body[i : i + 32] for i in range(0, len(body), 32)]


def word_address(word: bytes) -> bytes:
    """An `address` argument: 12 zero bytes then 20 address bytes, as Solidity requires."""
    if word[:12] != bytes(12):
        raise AbiError("address argument has dirty high bytes")
    return word[12:]


def word_uint(word: bytes) -> int:
    return int.from_bytes(word, "big")


def word_bool(word: bytes) -> bool:
    value = int.from_bytes(word, "big")
    if value > 1:
        raise AbiError("bool argument is neither 0 nor 1")
    return value == 1


def decode_args(types: Sequence[str], data: bytes) -> tuple:
    """Dynamic arguments (strings) through eth_abi, with its errors mapped to `AbiError`."""
    try:
        return tuple(abi_decode(list(types), data[4:], strict=True))
    except Exception as exc:  # eth_abi raises several unrelated types on bad input
        raise AbiError(f"cannot decode arguments as ({', '.join(types)}): {exc}") from exc


def decode_canonical(types: Sequence[str], data: bytes) -> tuple:
    """`decode_args`, accepting only the canonical encoding (what `encode_values` and Solidity's encoder
    make): head offsets as laid out, no gaps, no trailing bytes, zero padding. eth_abi alone also takes
    other offsets and trailing bytes; one exact layout is what the L1 one-step proof checks."""
    values = decode_args(types, data)
    if encode_values(types, values) != data[4:]:
        raise AbiError(f"arguments are not canonically encoded as ({', '.join(types)})")
    return values


def uint_word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def address_word(address: bytes) -> bytes:
    return bytes(12) + address


def bool_word(value: bool) -> bytes:
    return uint_word(1 if value else 0)


def encode_values(types: Sequence[str], values: Sequence[object]) -> bytes:
    return abi_encode(list(types), list(values))


def encode_error(reason: str) -> bytes:
    """Revert data of Solidity's `Error(string)`, which web3.py and ethers.js decode to the reason."""
    return ERROR_SELECTOR + abi_encode(["string"], [reason])


def decode_error(data: bytes) -> str | None:
    """The reason of `Error(string)` revert data, or None for anything else."""
    if data[:4] != ERROR_SELECTOR:
        return None
    try:
        (reason,) = abi_decode(["string"], data[4:])
    except Exception:
        return None
    return str(reason)
