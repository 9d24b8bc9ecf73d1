"""The text a regulator signs for one `jovay_` regulator request (shared by the node and the SDK).

Kept apart from the RPC server so that clients can import it without the node's dependencies.
"""

from __future__ import annotations

import json
from typing import Any, Final

from jovay.crypto.keccak import keccak256

MESSAGE_HEADER: Final = "Jovay regulator request"


def canonical_params(params: list[Any]) -> bytes:
    """The JSON the signature covers: sorted keys, no spaces, ASCII (Python's json.dumps with these)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def request_message(chain_id: int, method: str, params: list[Any], timestamp: int, nonce: bytes) -> str:
    """What a regulator signs with personal_sign (EIP-191) for one request; `params` are the request's
    parameters after the authorization object."""
    return (
        f"{MESSAGE_HEADER}\n"
        f"chainId: {chain_id}\n"
        f"method: {method}\n"
        f"params: 0x{keccak256(canonical_params(params)).hex()}\n"
        f"timestamp: {timestamp}\n"
        f"nonce: 0x{nonce.hex()}"
    )
