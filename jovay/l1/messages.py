"""The L1 message queue's rolling hash, as the Bridge contract computes it.

The node recomputes it over the deposits it reads from L1 so a forged or skipped deposit event
shows up as a hash mismatch against `Bridge.rollingHashAt` / the Rollup's stored hash.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_canonical_address

Address = bytes | str


def rolling_hash(prev: bytes, index: int, sender: Address, to: Address, value: int) -> bytes:
    """h_i = keccak256(abi.encode(h_{i-1}, i, from, to, value)); pass `prev=bytes(32)` for i = 0."""
    if len(prev) != 32:
        raise ValueError("previous rolling hash must be 32 bytes")
    fields = (prev, index, to_canonical_address(sender), to_canonical_address(to), value)
    return keccak(encode(["bytes32", "uint256", "address", "address", "uint256"], fields))
