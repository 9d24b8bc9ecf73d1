"""Identity registry system contract: the allowlist of holders that may receive RWA tokens.

Its admin is fixed at genesis. Issue 4 grows this into ERC-3643-style claims; the allowlist stays the
check that token transfers consult.
"""

from __future__ import annotations

from jovay.codec import abi
from jovay.params import DISPATCH_GAS, IDENTITY_REGISTRY, OP_GAS
from jovay.state.keys import allowlist_key, system_field_key
from jovay.state.overlay import StateOverlay
from jovay.stf.results import CallResult, Log, Revert

ADMIN_FIELD = 0

SET_ALLOWED = abi.selector("setAllowed(address,bool)")
IS_ALLOWED = abi.selector("isAllowed(address)")
ADMIN = abi.selector("admin()")
ALLOWLIST_UPDATED = abi.event_topic("AllowlistUpdated(address,bool)")


def identity_admin(state: StateOverlay) -> bytes:
    return state.get(system_field_key(ADMIN_FIELD)).to_bytes(20, "big")


def is_allowed(state: StateOverlay, holder: bytes) -> bool:
    return state.get(allowlist_key(holder)) == 1


def set_allowed(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Admin-only: put a holder on, or take it off, the allowlist."""
    gas = OP_GAS["identity.setAllowed"]
    holder_word, allowed_word = abi.words(data, 2)
    holder, allowed = abi.word_address(holder_word), abi.word_bool(allowed_word)
    if sender != identity_admin(state):
        raise Revert("IdentityRegistry: caller is not the admin", gas)
    state.set(allowlist_key(holder), 1 if allowed else 0)
    log = Log(IDENTITY_REGISTRY, [ALLOWLIST_UPDATED, abi.address_word(holder)], abi.bool_word(allowed))
    return CallResult(gas, abi.bool_word(True), [log])


def view_is_allowed(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (holder_word,) = abi.words(data, 1)
    return CallResult(DISPATCH_GAS, abi.bool_word(is_allowed(state, abi.word_address(holder_word))))


def view_admin(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    abi.words(data, 0)
    return CallResult(DISPATCH_GAS, abi.address_word(identity_admin(state)))


FUNCTIONS = {SET_ALLOWED: set_allowed, IS_ALLOWED: view_is_allowed, ADMIN: view_admin}
