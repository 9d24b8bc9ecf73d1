"""Identity registry system contract: the allowlist of holders that may receive RWA tokens.

Its admin is fixed at genesis. The allowlist stays the check that every token transfer consults. The
admin also names compliance officers, who approve asset issuances (jovay/stf/assets.py): approval is
kept apart from the issuer on purpose. Claims (jurisdiction, investor class, KYC expiry) are set by
the admin per holder; an asset's issuer decides which of them its token requires (assets.py,
`setInvestorRequirements`).

The admin also names regulators: they sign read requests to the node's `jovay_` regulator methods
(jovay/rpc/regulator.py), which check the signer against this list; the chain itself gives them no
power. `recoverIdentity` moves a holder's allowlisting and claims to a new wallet when the old key is
lost, before an asset agent moves the tokens (assets.py, `recoveryAddress`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from jovay.codec import abi
from jovay.crypto.poseidon import poseidon
from jovay.params import DISPATCH_GAS, IDENTITY_REGISTRY, OP_GAS
from jovay.state.keys import (
    DOMAIN_CLAIMS,
    DOMAIN_COMPLIANCE_OFFICER,
    DOMAIN_REGULATOR,
    allowlist_key,
    system_field_key,
)
from jovay.state.overlay import StateOverlay
from jovay.stf.results import CallResult, Log, Revert

ADMIN_FIELD = 0

SET_ALLOWED = abi.selector("setAllowed(address,bool)")
IS_ALLOWED = abi.selector("isAllowed(address)")
ADMIN = abi.selector("admin()")
ALLOWLIST_UPDATED = abi.event_topic("AllowlistUpdated(address,bool)")
COMPLIANCE_OFFICER_UPDATED = abi.event_topic("ComplianceOfficerUpdated(address,bool)")
CLAIMS_UPDATED = abi.event_topic("ClaimsUpdated(address,uint16,uint8,uint64)")
REGULATOR_UPDATED = abi.event_topic("RegulatorUpdated(address,bool)")
IDENTITY_RECOVERED = abi.event_topic("IdentityRecovered(address,address)")
NOT_ADMIN: Final = "IdentityRegistry: caller is not the admin"
SAME_WALLET: Final = "IdentityRegistry: new wallet is the lost wallet"
NOT_REGISTERED: Final = "IdentityRegistry: lost wallet has no identity"
NEW_WALLET_TAKEN: Final = "IdentityRegistry: new wallet already has an identity"


@dataclass(frozen=True, slots=True)
class Claims:
    """A holder's identity claims; all 0 when none were set (KYC expired at time 0)."""

    jurisdiction: int
    investor_class: int
    kyc_expiry: int


@lru_cache(maxsize=1024)
def claims_key(holder: bytes) -> int:
    """P(28, holder): `jurisdiction | investorClass << 16 | kycExpiry << 24`."""
    return poseidon((DOMAIN_CLAIMS, int.from_bytes(holder, "big")))


def read_claims(state: StateOverlay, holder: bytes) -> Claims:
    value = state.get(claims_key(holder))
    return Claims(value & 0xFFFF, value >> 16 & 0xFF, value >> 24)


@lru_cache(maxsize=1024)
def compliance_officer_key(officer: bytes) -> int:
    """P(26, officer): 1 when the admin has made `officer` a compliance officer."""
    return poseidon((DOMAIN_COMPLIANCE_OFFICER, int.from_bytes(officer, "big")))


@lru_cache(maxsize=1024)
def regulator_key(regulator: bytes) -> int:
    """P(32, regulator): 1 when the admin has made `regulator` a regulator."""
    return poseidon((DOMAIN_REGULATOR, int.from_bytes(regulator, "big")))


def is_regulator(state: StateOverlay, regulator: bytes) -> bool:
    return state.get(regulator_key(regulator)) == 1


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


def _set_role(
    state: StateOverlay, sender: bytes, data: bytes, op: str, role_key: Callable[[bytes], int], topic: bytes
) -> CallResult:
    """Admin-only `setX(address, bool)`: grant or take away a role held as a 0/1 leaf, with its log."""
    gas = OP_GAS[op]
    holder_word, enabled_word = abi.words(data, 2)
    holder, enabled = abi.word_address(holder_word), abi.word_bool(enabled_word)
    if sender != identity_admin(state):
        raise Revert(NOT_ADMIN, gas)
    state.set(role_key(holder), 1 if enabled else 0)
    log = Log(IDENTITY_REGISTRY, [topic, holder_word], abi.bool_word(enabled))
    return CallResult(gas, abi.bool_word(True), [log])


def set_compliance_officer(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Admin-only: grant or take away the compliance-officer role."""
    op = "identity.setComplianceOfficer"
    return _set_role(state, sender, data, op, compliance_officer_key, COMPLIANCE_OFFICER_UPDATED)


def set_regulator(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Admin-only: grant or take away the regulator role (read access to the regulator RPC methods)."""
    return _set_role(state, sender, data, "identity.setRegulator", regulator_key, REGULATOR_UPDATED)


def recover_identity(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Admin-only: a holder lost its key; its allowlisting and claims move to `newWallet` (which must
    have neither) and the lost wallet loses both."""
    gas = OP_GAS["identity.recoverIdentity"]
    lost_word, new_word = abi.words(data, 2)
    lost, new = abi.word_address(lost_word), abi.word_address(new_word)
    if sender != identity_admin(state):
        raise Revert(NOT_ADMIN, gas)
    if lost == new:
        raise Revert(SAME_WALLET, gas)
    lost_claims = state.get(claims_key(lost))
    if not is_allowed(state, lost) and not lost_claims:
        raise Revert(NOT_REGISTERED, gas)
    if is_allowed(state, new) or state.get(claims_key(new)):
        raise Revert(NEW_WALLET_TAKEN, gas)
    state.set(allowlist_key(new), int(is_allowed(state, lost)))
    state.set(claims_key(new), lost_claims)
    state.set(allowlist_key(lost), 0)
    state.set(claims_key(lost), 0)
    log = Log(IDENTITY_REGISTRY, [IDENTITY_RECOVERED, lost_word, new_word], b"")
    return CallResult(gas, abi.bool_word(True), [log])


def _uint(word: bytes, bits: int) -> int:
    value = abi.word_uint(word)
    if value >> bits:
        raise abi.AbiError(f"uint{bits} argument out of range")
    return value


def set_claims(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    """Admin-only: record a holder's jurisdiction code, investor class and KYC expiry (unix seconds)."""
    gas = OP_GAS["identity.setClaims"]
    holder_word, jurisdiction_word, class_word, expiry_word = abi.words(data, 4)
    holder = abi.word_address(holder_word)
    jurisdiction, investor_class = _uint(jurisdiction_word, 16), _uint(class_word, 8)
    kyc_expiry = _uint(expiry_word, 64)
    if sender != identity_admin(state):
        raise Revert(NOT_ADMIN, gas)
    state.set(claims_key(holder), jurisdiction | investor_class << 16 | kyc_expiry << 24)
    log = Log(IDENTITY_REGISTRY, [CLAIMS_UPDATED, holder_word], jurisdiction_word + class_word + expiry_word)
    return CallResult(gas, b"", [log])


def view_claims(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (holder_word,) = abi.words(data, 1)
    claims = read_claims(state, abi.word_address(holder_word))
    answer = b"".join(
        abi.uint_word(v) for v in (claims.jurisdiction, claims.investor_class, claims.kyc_expiry)
    )
    return CallResult(DISPATCH_GAS, answer)


def view_is_compliance_officer(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (officer_word,) = abi.words(data, 1)
    answer = abi.bool_word(is_compliance_officer(state, abi.word_address(officer_word)))
    return CallResult(DISPATCH_GAS, answer)


def view_is_allowed(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (holder_word,) = abi.words(data, 1)
    return CallResult(DISPATCH_GAS, abi.bool_word(is_allowed(state, abi.word_address(holder_word))))


def view_is_regulator(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    (regulator_word,) = abi.words(data, 1)
    return CallResult(DISPATCH_GAS, abi.bool_word(is_regulator(state, abi.word_address(regulator_word))))


def view_admin(state: StateOverlay, sender: bytes, data: bytes) -> CallResult:
    abi.words(data, 0)
    return CallResult(DISPATCH_GAS, abi.address_word(identity_admin(state)))


FUNCTIONS = {
    SET_ALLOWED: set_allowed,
    IS_ALLOWED: view_is_allowed,
    ADMIN: view_admin,
    abi.selector("setComplianceOfficer(address,bool)"): set_compliance_officer,
    abi.selector("isComplianceOfficer(address)"): view_is_compliance_officer,
    abi.selector("setClaims(address,uint16,uint8,uint64)"): set_claims,
    abi.selector("claims(address)"): view_claims,
    abi.selector("setRegulator(address,bool)"): set_regulator,
    abi.selector("isRegulator(address)"): view_is_regulator,
    abi.selector("recoverIdentity(address,address)"): recover_identity,
}
