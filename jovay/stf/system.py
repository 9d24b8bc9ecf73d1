"""Dispatch of calldata to the system contracts at their fixed addresses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jovay.codec.abi import AbiError
from jovay.params import ASSET_REGISTRY, ATTESTATION_REGISTRY, DISPATCH_GAS, IDENTITY_REGISTRY, L2_BRIDGE
from jovay.state.overlay import StateOverlay
from jovay.stf import assets, attestations, bridge, cashflow, identity, registry, token
from jovay.stf.accounts import add_balance, sub_balance
from jovay.stf.results import CallResult, Revert

if TYPE_CHECKING:
    from jovay.stf.transaction import BlockEnv

# Placeholder code for eth_getCode: the INVALID opcode, so tools see a contract, not an account.
SYSTEM_CODE = bytes.fromhex("fe")

SystemFunction = Callable[[StateOverlay, bytes, bytes, "BlockEnv | None"], CallResult]
# A payable function also gets the ETH sent with the call (already credited to the contract's account).
PayableFunction = Callable[[StateOverlay, bytes, bytes, "BlockEnv | None", int], CallResult]
NOT_PAYABLE = "Jovay: function is not payable"
BlockBlindFunction = Callable[[StateOverlay, bytes, bytes], CallResult]


def _block_blind(functions: Mapping[bytes, BlockBlindFunction]) -> dict[bytes, SystemFunction]:
    """Adapt a contract whose functions never read the block (timestamp, chain id) to the common shape."""

    def adapt(function: BlockBlindFunction) -> SystemFunction:
        def call(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
            return function(state, sender, data)

        return call

    return {sel: adapt(function) for sel, function in functions.items()}


_FIXED: dict[bytes, Mapping[bytes, SystemFunction]] = {
    IDENTITY_REGISTRY: _block_blind(identity.FUNCTIONS),
    ASSET_REGISTRY: {**_block_blind(registry.FUNCTIONS), **assets.FUNCTIONS, **cashflow.FUNCTIONS},
    ATTESTATION_REGISTRY: attestations.FUNCTIONS,
    L2_BRIDGE: bridge.FUNCTIONS,
}


_PAYABLE: dict[bytes, Mapping[bytes, PayableFunction]] = {
    ASSET_REGISTRY: {**assets.PAYABLE_FUNCTIONS, **cashflow.PAYABLE_FUNCTIONS},
    L2_BRIDGE: bridge.PAYABLE_FUNCTIONS,
}


@dataclass(frozen=True, slots=True)
class FixedSystemContract:
    """A system contract at a fixed address and the selectors it dispatches: `functions` take no ETH
    (a call with value reverts NOT_PAYABLE), `payable` ones receive the call's ETH first."""

    address: bytes
    functions: frozenset[bytes]
    payable: frozenset[bytes]


def fixed_system_contracts() -> list[FixedSystemContract]:
    """Every fixed system contract with its selectors, read from the dispatch tables themselves (one
    source of truth for what exists: the L1 one-step proof is deployed with it)."""
    return [
        FixedSystemContract(
            address,
            frozenset(_FIXED.get(address, {})),
            frozenset(_PAYABLE.get(address, {})),
        )
        for address in dict.fromkeys([*_FIXED, *_PAYABLE])
    ]


FIXED_SYSTEM_ADDRESSES: frozenset[bytes] = frozenset([*_FIXED, *_PAYABLE])
_NO_PAYABLE: Mapping[bytes, PayableFunction] = {}
_NO_FUNCTIONS: Mapping[bytes, SystemFunction] = {}


def is_system_contract(state: StateOverlay, address: bytes) -> bool:
    return address in FIXED_SYSTEM_ADDRESSES or registry.is_token(state, address)


def call_system_contract(
    state: StateOverlay, sender: bytes, to: bytes, data: bytes, env: BlockEnv | None = None, value: int = 0
) -> CallResult:
    """Run one call; raises `Revert` (with its gas) on failure. The caller undoes writes on revert.

    `env` is the block the call executes in; functions that need the time or chain id (attestations)
    revert without it. `value` (wei) moves from `sender` to the contract's own account before a payable
    function runs (the caller has checked the sender can pay); any other function reverts when it is
    not zero, so ETH never sits on a contract that has no use for it.
    """
    try:
        payable = _PAYABLE.get(to, _NO_PAYABLE).get(data[:4]) if len(data) >= 4 else None
        if payable is not None:
            _move_value(state, sender, to, value)
            return payable(state, sender, data, env, value)
        if value:
            raise Revert(NOT_PAYABLE, DISPATCH_GAS)
        if to in _FIXED or to in _PAYABLE:
            function = _FIXED.get(to, _NO_FUNCTIONS).get(data[:4])
            if function is None or len(data) < 4:
                raise Revert(None, DISPATCH_GAS)
            return function(state, sender, data, env)
        token_function = token.FUNCTIONS.get(data[:4])
        if token_function is None or len(data) < 4:
            raise Revert(None, DISPATCH_GAS)
        return token_function(state, to, sender, data, env)
    except AbiError:
        raise Revert(None, DISPATCH_GAS) from None


def _move_value(state: StateOverlay, sender: bytes, to: bytes, value: int) -> None:
    """The call's ETH from the sender to the contract (may raise BalanceOverflow, undone by the caller)."""
    if value:
        sub_balance(state, sender, value)
        add_balance(state, to, value)
