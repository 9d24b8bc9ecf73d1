"""Identity registry system contract: the allowlist of holders that may receive RWA tokens.

Its admin is fixed at genesis. Issue 4 grows this into ERC-3643-style claims; the allowlist stays the
check that token transfers consult. The admin also names compliance officers, who approve asset
issuances (jovay/stf/assets.py): approval is kept apart from the issuer on purpose.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from jovay.codec import abi
from jovay.crypto.poseidon import poseidon
from jovay.params import DISPATCH_GAS, IDENTITY_REGISTRY, OP_GAS
from jovay.state.keys import allowlist_key, system_field_key
from jovay.state.overlay import StateOverlay
from jovay.stf.results import CallResult, Log, Revert

ADMIN_FIELD = 0
DOMAIN_COMPLIANCE_OFFICER: Final = 26

SET_ALLOWED = abi.selector("setAllowed(address,bool)")
IS_ALLOWED = abi.selector("isAllowed(address)")
ADMIN = abi.selector("admin()")
ALLOWLIST_UPDATED = abi.event_topic("AllowlistUpdated(address,bool)")
COMPLIANCE_OFFICER_UPDATED = abi.event_topic("ComplianceOfficerUpdated(address,bool)")
NOT_ADMIN: Final = "IdentityRegistry: caller is not the admin"


@lru_cache(maxsize=1024)
def compliance_officer_key(officer: bytes) -> int:
    """P(26, officer): 1 when the admin has made `officer` a compliance officer."""
    return poseidon((DOMAIN_COMPLIANCE_OFFICER, int.from_bytes(officer, "big")))


def is_compliance_officer(state: StateOverlay, officer: bytes) -> bool:
    return state.get(compliance_officer_key(officer)) == 1


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
        raise Revert(NOT_ADMIN, gas)
    state.set(allowlist_key(holder), 1 if allowed else 0)
    log = Log(IDENTITY_REGISTRY, [ALLOWLIST_UPDATED, abi.address_word(holder)], abi.bool_word(allowed))
    return CallResult(gas, abi.bool_word(True), [log])


def set_compliance_officer(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Admin-only: grant or take away the compliance-officer role."""
    gas = OP_GAS["identity.setComplianceOfficer"]
    officer_word, enabled_word = abi.words(data, 2)
    officer, enabled = abi.word_address(officer_word), abi.word_bool(enabled_word)
    if sender != identity_admin(state):
        raise Revert(NOT_ADMIN, gas)
    state.set(compliance_officer_key(officer), 1 if enabled else 0)
    log = Log(IDENTITY_REGISTRY, [COMPLIANCE_OFFICER_UPDATED, officer_word], abi.bool_word(enabled))
    return CallResult(gas, abi.bool_word(True), [log])


def view_is_compliance_officer(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (officer_word,) = abi.words(data, 1)
    answer = abi.bool_word(is_compliance_officer(state, abi.word_address(officer_word)))
    return CallResult(DISPATCH_GAS, answer)


def view_is_allowed(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (holder_word,) = abi.words(data, 1)
    return CallResult(DISPATCH_GAS, abi.bool_word(is_allowed(state, abi.word_address(holder_word))))


def view_admin(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    abi.words(data, 0)
    return CallResult(DISPATCH_GAS, abi.address_word(identity_admin(state)))


FUNCTIONS = {
    SET_ALLOWED: set_allowed,
    IS_ALLOWED: view_is_allowed,
    ADMIN: view_admin,
    abi.selector("setComplianceOfficer(address,bool)"): set_compliance_officer,
    abi.selector("isComplianceOfficer(address)"): view_is_compliance_officer,
}
