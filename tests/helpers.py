"""Shared test helpers: keys, transactions signed by eth_account (an independent implementation)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from jovay.codec.transactions import SignedTx, decode_transaction
from jovay.params import DEFAULT_L2_CHAIN_ID, MIN_BASE_FEE

CHAIN_ID = DEFAULT_L2_CHAIN_ID
KEYS = [bytes([i + 1]) * 32 for i in range(8)]
ADDRESSES = [bytes.fromhex(Account.from_key(k).address[2:]) for k in KEYS]
GWEI = 10**9
ETH = 10**18


def raw_tx(
    key: bytes,
    *,
    nonce: int,
    to: bytes | None,
    value: int = 0,
    data: bytes = b"",
    gas: int = 21_000,
    max_fee: int = 2 * MIN_BASE_FEE,
    tip: int = 1_000,
    chain_id: int = CHAIN_ID,
    tx_type: int = 2,
    access_list: list[Any] | None = None,
) -> bytes:
    """A signed transaction's raw bytes, signed by eth_account."""
    fields: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": value, "data": data, "chainId": chain_id}
    if to is not None:
        fields["to"] = to_checksum_address(to)
    if tx_type == 2:
        fields |= {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip, "type": 2}
    else:
        fields["gasPrice"] = max_fee
        if tx_type == 1:
            fields |= {"type": 1, "accessList": access_list or []}
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def signed_tx(key: bytes, **kwargs: Any) -> SignedTx:
    return decode_transaction(raw_tx(key, **kwargs), expected_chain_id=kwargs.get("chain_id", CHAIN_ID))


def calldata(signature: str, *args: Any) -> bytes:
    """ABI calldata for a function signature such as `transfer(address,uint256)`."""
    types = signature[signature.index("(") + 1 : -1]
    type_list = [t for t in types.split(",") if t]
    return keccak(text=signature)[:4] + encode(type_list, list(args))


def address_hex(address: bytes) -> str:
    return "0x" + address.hex()


def wait_until(what: str, condition: Callable[[], Any], timeout_s: float, poll_s: float = 0.2) -> Any:
    """Poll `condition` until it gives something other than None or False (returned), or fail saying
    what did not happen in time: the e2e tests wait on services that run on their own clocks."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = condition()
        if result is not None and result is not False:
            return result
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")
