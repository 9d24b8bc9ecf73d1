"""One way for the node's long-running roles to open their L1 JSON-RPC connection."""

from __future__ import annotations

from web3 import Web3
from web3.types import RPCEndpoint

L1_TIMEOUT_S = 30.0


def connect_l1(url: str, timeout_s: float = L1_TIMEOUT_S) -> Web3:
    """A Web3 over HTTP that asks for the chain id once: web3's validation middleware otherwise sends
    `eth_chainId` before every `eth_call` and transaction, doubling a polling service's requests."""
    provider = Web3.HTTPProvider(
        url,
        request_kwargs={"timeout": timeout_s},
        cache_allowed_requests=True,
        cacheable_requests={RPCEndpoint("eth_chainId")},
    )
    return Web3(provider)
