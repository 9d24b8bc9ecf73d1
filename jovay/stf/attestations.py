"""Attestation registry system contract: signed off-chain data about real-world assets, anchored on chain.

Registered attestors (an auditor, or an IoT device such as an EV charging pile or a battery management
system, each with its own key) sign EIP-712 typed data off chain; anyone may submit it (relayer
pattern), so a device needs no ETH and no RPC access. The registry keeps only the keccak commitment of
the data with the attestor's timestamp and the block's: whoever holds the data can show it matches.

Each (attestor, asset) pair is a stream numbered 1, 2, 3, ... with no gaps, which makes a replayed or
reordered attestation fail without keeping a set of seen digests. A forged or tampered attestation
recovers some other address, so it fails as "not an attestor"; "invalid signature" is kept for
signatures that recover no address at all (wrong length, v not 27/28, r or s out of range, high s).

State (docs/architecture.md, domains 16 to 19): uint256 asset ids and bytes32 commitments do not fit a
BN254 field element, so both go in as two 128-bit halves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Final

from jovay.codec import abi
from jovay.crypto.keccak import keccak256
from jovay.crypto.poseidon import poseidon
from jovay.crypto.secp256k1 import recover_address
from jovay.errors import InvalidTransaction
from jovay.params import ATTESTATION_REGISTRY, DISPATCH_GAS, OP_GAS
from jovay.state.keys import (
    DOMAIN_ATTESTATION_HI,
    DOMAIN_ATTESTATION_LO,
    DOMAIN_ATTESTOR,
    DOMAIN_AUDITOR_ATTESTATIONS,
    DOMAIN_LAST_SEQUENCE,
    split_u256,
)
from jovay.state.overlay import StateOverlay
from jovay.stf.identity import identity_admin
from jovay.stf.results import CallResult, Log, Revert

if TYPE_CHECKING:
    from jovay.stf.transaction import BlockEnv

KIND_AUDITOR: Final = 1
KIND_DEVICE: Final = 2
ANY_ASSET: Final = 0  # an auditor registered for asset 0 may attest for every asset
MAX_FUTURE_S: Final = 300  # how far an attestor's clock may run ahead of the block's

ATTESTOR_STATUS, ATTESTOR_ASSET_HI, ATTESTOR_ASSET_LO = range(3)

_LOW64: Final = (1 << 64) - 1
_KEY_CACHE_SIZE: Final = 1 << 14

EIP712_NAME: Final = "Jovay Attestations"
EIP712_VERSION: Final = "1"
DOMAIN_TYPEHASH: Final = keccak256(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
ATTESTATION_TYPE: Final = (
    "Attestation(uint256 assetId,uint64 sequence,bytes32 dataCommitment,uint64 timestamp)"
)
ATTESTATION_TYPEHASH: Final = keccak256(ATTESTATION_TYPE.encode())

NOT_ADMIN: Final = "AttestationRegistry: caller is not the admin"
INVALID_SIGNATURE: Final = "AttestationRegistry: invalid signature"
NOT_ATTESTOR: Final = "AttestationRegistry: signer is not an attestor for this asset"
OUT_OF_ORDER: Final = "AttestationRegistry: sequence out of order"
FUTURE_TIMESTAMP: Final = "AttestationRegistry: timestamp in the future"
UNKNOWN_KIND: Final = "AttestationRegistry: unknown attestor kind"
DEVICE_NEEDS_ASSET: Final = "AttestationRegistry: only an auditor may attest for any asset"
ZERO_ATTESTOR: Final = "AttestationRegistry: attestor is the zero address"
NOT_ACTIVE: Final = "AttestationRegistry: not an active attestor"
NO_BLOCK: Final = "AttestationRegistry: no block context"

ATTESTOR_REGISTERED: Final = abi.event_topic("AttestorRegistered(address,uint8,uint256)")
ATTESTOR_REVOKED: Final = abi.event_topic("AttestorRevoked(address)")
ATTESTED: Final = abi.event_topic("Attested(address,uint256,uint64,bytes32,uint64)")

ATTEST_TYPES: Final = ("uint256", "uint64", "bytes32", "uint64", "bytes")

AttestationFunction = Callable[[StateOverlay, bytes, bytes, "BlockEnv | None"], CallResult]


# --- state keys -------------------------------------------------------------------------------------
@lru_cache(maxsize=_KEY_CACHE_SIZE)
def attestor_key(attestor: bytes, field: int) -> int:
    """P(16, attestor, field): 0 `kind | active << 8`, 1 asset id high half, 2 asset id low half."""
    return poseidon((DOMAIN_ATTESTOR, int.from_bytes(attestor, "big"), field))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def last_sequence_key(attestor: bytes, asset_id: int) -> int:
    """P(17, attestor, assetHi, assetLo): the stream's last recorded sequence number."""
    return poseidon((DOMAIN_LAST_SEQUENCE, int.from_bytes(attestor, "big"), *split_u256(asset_id)))


def attestation_keys(attestor: bytes, asset_id: int, sequence: int) -> tuple[int, int]:
    """P(18 | 19, attestor, assetHi, assetLo, sequence): the record's two leaves (written once)."""
    args = (int.from_bytes(attestor, "big"), *split_u256(asset_id), sequence)
    return poseidon((DOMAIN_ATTESTATION_HI, *args)), poseidon((DOMAIN_ATTESTATION_LO, *args))


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def auditor_attestations_key(asset_id: int) -> int:
    """P(27, assetHi, assetLo): how many attestations auditors have recorded for the asset.

    The asset registry's tokenize checkpoint reads it: attestor records are keyed by attestor, so
    without this count "has any auditor attested this asset" would need an index of auditors.
    """
    return poseidon((DOMAIN_AUDITOR_ATTESTATIONS, *split_u256(asset_id)))


def auditor_attestation_count(state: StateOverlay, asset_id: int) -> int:
    return state.get(auditor_attestations_key(asset_id))


# --- records ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Attestor:
    """An attestor's registration; kind 0 means never registered."""

    kind: int
    asset_id: int
    active: bool

    def may_attest(self, asset_id: int) -> bool:
        if not self.active:
            return False
        return self.asset_id == asset_id or (self.kind == KIND_AUDITOR and self.asset_id == ANY_ASSET)


@dataclass(frozen=True, slots=True)
class Attestation:
    """A recorded attestation; all zero when the sequence number was never recorded."""

    data_commitment: bytes
    timestamp: int
    recorded_at: int


def read_attestor(state: StateOverlay, attestor: bytes) -> Attestor:
    status = state.get(attestor_key(attestor, ATTESTOR_STATUS))
    asset_hi = state.get(attestor_key(attestor, ATTESTOR_ASSET_HI))
    asset_lo = state.get(attestor_key(attestor, ATTESTOR_ASSET_LO))
    return Attestor(status & 0xFF, asset_hi << 128 | asset_lo, bool(status >> 8))


def write_attestor(state: StateOverlay, attestor: bytes, record: Attestor) -> None:
    asset_hi, asset_lo = split_u256(record.asset_id)
    state.set(attestor_key(attestor, ATTESTOR_STATUS), record.kind | int(record.active) << 8)
    state.set(attestor_key(attestor, ATTESTOR_ASSET_HI), asset_hi)
    state.set(attestor_key(attestor, ATTESTOR_ASSET_LO), asset_lo)


def last_sequence(state: StateOverlay, attestor: bytes, asset_id: int) -> int:
    return state.get(last_sequence_key(attestor, asset_id))


def read_attestation(state: StateOverlay, attestor: bytes, asset_id: int, sequence: int) -> Attestation:
    hi_key, lo_key = attestation_keys(attestor, asset_id, sequence)
    hi, lo = state.get(hi_key), state.get(lo_key)
    commitment = ((hi >> 64) << 128 | lo >> 64).to_bytes(32, "big")
    return Attestation(commitment, hi & _LOW64, lo & _LOW64)


def write_attestation(
    state: StateOverlay, attestor: bytes, asset_id: int, sequence: int, record: Attestation
) -> None:
    """Leaf 18 `commitmentHi << 64 | timestamp`, leaf 19 `commitmentLo << 64 | recordedAt` (< 2^192)."""
    hi_key, lo_key = attestation_keys(attestor, asset_id, sequence)
    commit_hi, commit_lo = split_u256(int.from_bytes(record.data_commitment, "big"))
    state.set(hi_key, commit_hi << 64 | record.timestamp)
    state.set(lo_key, commit_lo << 64 | record.recorded_at)


# --- EIP-712 ----------------------------------------------------------------------------------------
@lru_cache(maxsize=16)
def domain_separator(chain_id: int) -> bytes:
    """hashStruct(EIP712Domain) for this chain and the registry's address."""
    return keccak256(
        DOMAIN_TYPEHASH
        + keccak256(EIP712_NAME.encode())
        + keccak256(EIP712_VERSION.encode())
        + abi.uint_word(chain_id)
        + abi.address_word(ATTESTATION_REGISTRY)
    )


def attestation_digest(
    chain_id: int, asset_id: int, sequence: int, commitment: bytes, timestamp: int
) -> bytes:
    """The EIP-712 digest an attestor signs: keccak(0x1901 || domainSeparator || hashStruct)."""
    struct_hash = keccak256(
        ATTESTATION_TYPEHASH
        + abi.uint_word(asset_id)
        + abi.uint_word(sequence)
        + commitment
        + abi.uint_word(timestamp)
    )
    return keccak256(b"\x19\x01" + domain_separator(chain_id) + struct_hash)


def recover_signer(digest: bytes, signature: bytes) -> bytes | None:
    """The signer of a 65-byte `r || s || v` signature (v 27/28, low s), or None if there is none."""
    if len(signature) != 65 or signature[64] not in (27, 28):
        return None
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
    try:
        return recover_address(digest, signature[64] - 27, r, s)
    except InvalidTransaction:  # out-of-range r/s, high s, or no curve point for r
        return None


# --- functions --------------------------------------------------------------------------------------
def _uint8(word: bytes) -> int:
    value = abi.word_uint(word)
    if value > 0xFF:
        raise abi.AbiError("uint8 argument out of range")
    return value


def _uint64(word: bytes) -> int:
    value = abi.word_uint(word)
    if value > _LOW64:
        raise abi.AbiError("uint64 argument out of range")
    return value


def _require_admin(state: StateOverlay, sender: bytes, gas: int) -> None:
    if sender != identity_admin(state):
        raise Revert(NOT_ADMIN, gas)


def register_attestor(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Admin-only: register (or re-register, reactivating) an attestor for one asset or, auditors, any."""
    gas = OP_GAS["attestations.registerAttestor"]
    attestor_word, kind_word, asset_word = abi.words(data, 3)
    attestor, kind, asset_id = abi.word_address(attestor_word), _uint8(kind_word), abi.word_uint(asset_word)
    _require_admin(state, sender, gas)
    if kind not in (KIND_AUDITOR, KIND_DEVICE):
        raise Revert(UNKNOWN_KIND, gas)
    if kind == KIND_DEVICE and asset_id == ANY_ASSET:
        raise Revert(DEVICE_NEEDS_ASSET, gas)
    if attestor == bytes(20):
        raise Revert(ZERO_ATTESTOR, gas)
    write_attestor(state, attestor, Attestor(kind, asset_id, True))
    topics = [ATTESTOR_REGISTERED, attestor_word, asset_word]
    return CallResult(gas, b"", [Log(ATTESTATION_REGISTRY, topics, abi.uint_word(kind))])


def revoke_attestor(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Admin-only: stop an attestor; its recorded attestations and sequence numbers stay."""
    gas = OP_GAS["attestations.revokeAttestor"]
    (attestor_word,) = abi.words(data, 1)
    attestor = abi.word_address(attestor_word)
    _require_admin(state, sender, gas)
    record = read_attestor(state, attestor)
    if not record.active:
        raise Revert(NOT_ACTIVE, gas)
    write_attestor(state, attestor, Attestor(record.kind, record.asset_id, False))
    return CallResult(gas, b"", [Log(ATTESTATION_REGISTRY, [ATTESTOR_REVOKED, attestor_word], b"")])


def attest(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Record a signed attestation; the caller is only a relayer, the signature names the attestor.

    The arguments must be canonically encoded (`abi.decode_canonical`): one exact calldata layout, which
    the L1 one-step proof checks in Solidity without a general ABI decoder."""
    gas = OP_GAS["attestations.attest"]
    asset_id, sequence, commitment, timestamp, signature = abi.decode_canonical(ATTEST_TYPES, data)
    if env is None:
        raise Revert(NO_BLOCK, gas)
    digest = attestation_digest(env.chain_id, asset_id, sequence, commitment, timestamp)
    signer = recover_signer(digest, signature)
    if signer is None:
        raise Revert(INVALID_SIGNATURE, gas)
    record = read_attestor(state, signer)
    if not record.may_attest(asset_id):
        raise Revert(NOT_ATTESTOR, gas)
    sequence_key = last_sequence_key(signer, asset_id)
    if sequence != state.get(sequence_key) + 1:
        raise Revert(OUT_OF_ORDER, gas)
    if timestamp > env.timestamp + MAX_FUTURE_S:
        raise Revert(FUTURE_TIMESTAMP, gas)
    state.set(sequence_key, sequence)
    write_attestation(state, signer, asset_id, sequence, Attestation(commitment, timestamp, env.timestamp))
    if record.kind == KIND_AUDITOR:
        count_key = auditor_attestations_key(asset_id)
        state.set(count_key, state.get(count_key) + 1)
    topics = [ATTESTED, abi.address_word(signer), abi.uint_word(asset_id), abi.uint_word(sequence)]
    return CallResult(gas, b"", [Log(ATTESTATION_REGISTRY, topics, commitment + abi.uint_word(timestamp))])


def view_attestor(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    (attestor_word,) = abi.words(data, 1)
    record = read_attestor(state, abi.word_address(attestor_word))
    answer = abi.uint_word(record.kind) + abi.uint_word(record.asset_id) + abi.bool_word(record.active)
    return CallResult(DISPATCH_GAS, answer)


def view_last_sequence(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    attestor_word, asset_word = abi.words(data, 2)
    sequence = last_sequence(state, abi.word_address(attestor_word), abi.word_uint(asset_word))
    return CallResult(DISPATCH_GAS, abi.uint_word(sequence))


def view_attestation(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    attestor_word, asset_word, sequence_word = abi.words(data, 3)
    attestor, asset_id = abi.word_address(attestor_word), abi.word_uint(asset_word)
    record = read_attestation(state, attestor, asset_id, _uint64(sequence_word))
    answer = record.data_commitment + abi.uint_word(record.timestamp) + abi.uint_word(record.recorded_at)
    return CallResult(DISPATCH_GAS, answer)


FUNCTIONS: dict[bytes, AttestationFunction] = {
    abi.selector("registerAttestor(address,uint8,uint256)"): register_attestor,
    abi.selector("revokeAttestor(address)"): revoke_attestor,
    abi.selector("attest(uint256,uint64,bytes32,uint64,bytes)"): attest,
    abi.selector("attestor(address)"): view_attestor,
    abi.selector("lastSequence(address,uint256)"): view_last_sequence,
    abi.selector("attestation(address,uint256,uint64)"): view_attestation,
}
