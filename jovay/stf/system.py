"""Dispatch of calldata to the system contracts at their fixed addresses."""

from __future__ import annotations

from jovay.codec.abi import AbiError
from jovay.params import ASSET_REGISTRY, DISPATCH_GAS, IDENTITY_REGISTRY
from jovay.state.overlay import StateOverlay
from jovay.stf import identity, registry, token
from jovay.stf.results import CallResult, Revert

# Placeholder code for eth_getCode: the INVALID opcode, so tools see a contract, not an account.
SYSTEM_CODE = bytes.fromhex("fe")

_FIXED = {IDENTITY_REGISTRY: identity.FUNCTIONS, ASSET_REGISTRY: registry.FUNCTIONS}


def is_system_contract(state: StateOverlay, address: bytes) -> bool:
    return address in _FIXED or registry.is_token(state, address)


def call_system_contract(state: StateOverlay, sender: bytes, to: bytes, data: bytes) -> CallResult:
    """Run one call; raises `Revert` (with its gas) on failure. The caller undoes writes on revert."""
    try:
        if to in _FIXED:
            function = _FIXED[to].get(data[:4])
            if function is None or len(data) < 4:
                raise Revert(None, DISPATCH_GAS)
            return function(state, sender, data)
        token_function = token.FUNCTIONS.get(data[:4])
        if token_function is None or len(data) < 4:
            raise Revert(None, DISPATCH_GAS)
        return token_function(state, to, sender, data)
    except AbiError:
        raise Revert(None, DISPATCH_GAS) from None
