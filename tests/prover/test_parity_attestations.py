"""Parity of the attestation registry: jovay/stf/attestations.py and OneStepProofAttestations on anvil.

Fixed cases check each rule of registerAttestor, revokeAttestor, attest (EIP-712 signature recovery,
replayed and out-of-order sequence numbers, revoked attestors, the admin, the future-timestamp bound,
auditor counts, canonical ABI) and the views, each passing and failing: the STF's outcome is asserted
first (so the case really exercises its rule), then the root OneStepProof computes must be the STF's.
A hypothesis test draws random registry calls over random registry states; a tampered witness reverts.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from jovay.codec.abi import decode_error, encode_values
from jovay.codec.abi import selector as abi_selector
from jovay.codec.batch import ITEM_TRANSACTION, BatchItem
from jovay.codec.transactions import DynamicFeeTx, sign_transaction
from jovay.crypto.secp256k1 import SECP256K1_N, address_of, sign
from jovay.params import ATTESTATION_REGISTRY, FEE_VAULT, OP_GAS
from jovay.sdk.attestations import SignedAttestation, attest_calldata, sign_commitment
from jovay.state.keys import account_key, pack_account, system_field_key
from jovay.state.overlay import StateOverlay
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.stf import attestations as reg
from jovay.stf.results import Revert
from jovay.stf.system import call_system_contract
from jovay.stf.transaction import BlockEnv
from prover.fault.execution import StepWitness, step_witness
from tests.prover.parity import BASE_FEE, CHAIN_ID, KEYS, RULES, SENDERS, check_parity, execute_on_l1

ADMIN, RELAYER, OUTSIDER = SENDERS  # SENDERS[0] is the identity admin of every state here
ADMIN_KEY, RELAYER_KEY, OUTSIDER_KEY = KEYS
# Attestors hold no ETH: a relayer submits what they sign.
DEVICE_KEY, AUDITOR_KEY, GLOBAL_AUDITOR_KEY, STRANGER_KEY = (bytes([0x40 + i]) * 32 for i in range(4))
DEVICE, AUDITOR, GLOBAL_AUDITOR, STRANGER = (
    address_of(k) for k in (DEVICE_KEY, AUDITOR_KEY, GLOBAL_AUDITOR_KEY, STRANGER_KEY)
)
DEVICE_ASSET, BIG_ASSET = 7, 2**256 - 1
NOW = 1_700_000_000
COMMITMENT = bytes(range(1, 33))
OP_GAS_ATTEST = OP_GAS["attestations.attest"]

REGISTER = abi_selector("registerAttestor(address,uint8,uint256)")
REVOKE = abi_selector("revokeAttestor(address)")
ATTEST = abi_selector("attest(uint256,uint64,bytes32,uint64,bytes)")
VIEW_ATTESTOR = abi_selector("attestor(address)")
VIEW_LAST_SEQUENCE = abi_selector("lastSequence(address,uint256)")
VIEW_ATTESTATION = abi_selector("attestation(address,uint256,uint64)")


def _w(value: int | bytes) -> bytes:
    """One ABI word: an int, or an address / bytes32 left-padded."""
    return value.to_bytes(32, "big") if isinstance(value, int) else value.rjust(32, b"\x00")


def _attestor_leaves(attestor: bytes, kind: int, asset_id: int, active: bool) -> dict[int, int]:
    hi, lo = asset_id >> 128, asset_id & ((1 << 128) - 1)
    return {
        reg.attestor_key(attestor, reg.ATTESTOR_STATUS): kind | int(active) << 8,
        reg.attestor_key(attestor, reg.ATTESTOR_ASSET_HI): hi,
        reg.attestor_key(attestor, reg.ATTESTOR_ASSET_LO): lo,
    }


def registry_state() -> dict[int, int]:
    """The admin, funded senders, a device for DEVICE_ASSET at sequence 3, an auditor for BIG_ASSET (two
    auditor attestations recorded), an auditor for every asset, and a revoked device (STRANGER)."""
    leaves = {account_key(a): pack_account(0, 10**20) for a in SENDERS}
    leaves[system_field_key(0)] = int.from_bytes(ADMIN, "big")
    leaves |= _attestor_leaves(DEVICE, reg.KIND_DEVICE, DEVICE_ASSET, True)
    leaves |= _attestor_leaves(AUDITOR, reg.KIND_AUDITOR, BIG_ASSET, True)
    leaves |= _attestor_leaves(GLOBAL_AUDITOR, reg.KIND_AUDITOR, reg.ANY_ASSET, True)
    leaves |= _attestor_leaves(STRANGER, reg.KIND_DEVICE, DEVICE_ASSET, False)
    leaves[reg.last_sequence_key(DEVICE, DEVICE_ASSET)] = 3
    leaves[reg.last_sequence_key(AUDITOR, BIG_ASSET)] = 2
    leaves[reg.auditor_attestations_key(BIG_ASSET)] = 2
    return leaves


def _transaction(key: bytes, data: bytes, gas: int = 300_000, nonce: int = 0) -> bytes:
    return sign_transaction(
        DynamicFeeTx(CHAIN_ID, nonce, 10**6, 10**9, gas, ATTESTATION_REGISTRY, 0, data), key
    )


def _item(raw: bytes, timestamp: int = NOW) -> BatchItem:
    return BatchItem(ITEM_TRANSACTION, 1, timestamp, BASE_FEE, raw)


def stf_outcome(leaves: dict[int, int], sender: bytes, data: bytes, timestamp: int = NOW) -> str | None:
    """What the STF's call alone does: "ok", a revert reason, or None for a revert without data."""
    state = StateOverlay(lambda key: leaves.get(key, 0))
    env = BlockEnv(number=1, timestamp=timestamp, base_fee=BASE_FEE, gas_limit=30_000_000, chain_id=CHAIN_ID)
    try:
        call_system_contract(state, sender, ATTESTATION_REGISTRY, data, env)
    except Revert as revert:
        return decode_error(revert.data) if revert.reason is not None else None
    return "ok"


def _step(leaves: dict[int, int], item: BatchItem) -> tuple[int, StepWitness]:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    return pre, step_witness(store, pre, [item], 0, RULES.apply)


def registry_writes(leaves: dict[int, int], item: BatchItem) -> dict[int, int]:
    """The leaves the whole transaction changes, accounts (fees, gas refund) left out."""
    state = StateOverlay(lambda key: leaves.get(key, 0))
    RULES.apply(state, item)
    accounts = {account_key(a) for a in [*SENDERS, FEE_VAULT, ATTESTATION_REGISTRY]}
    return {k: v for k, v in state.writes().items() if k not in accounts and v != leaves.get(k, 0)}


def assert_parity(l1: Any, leaves: dict[int, int], key: bytes, data: bytes, expected: str | None) -> None:
    """The STF's call gives `expected`; the whole transaction's root on L1 is the STF's; a successful
    write changes registry leaves, a failed call (or a view) none."""
    assert stf_outcome(leaves, address_of(key), data) == expected
    item = _item(_transaction(key, data))
    changed = registry_writes(leaves, item)
    assert bool(changed) == (expected == "ok" and data[:4] in (REGISTER, REVOKE, ATTEST))
    pre, witness = _step(leaves, item)
    assert witness.post_root != pre  # the relayer paid its fee at least
    assert execute_on_l1(l1, pre, witness) == witness.post_root


# --- fixed cases ------------------------------------------------------------------------------------
def signed(
    key: bytes = DEVICE_KEY,
    asset: int = DEVICE_ASSET,
    sequence: int = 4,
    timestamp: int = NOW - 10,
    chain_id: int = CHAIN_ID,
) -> SignedAttestation:
    """Signed by eth_account's EIP-712 encoder (the SDK's), an implementation apart from the STF's."""
    return sign_commitment(key, asset, sequence, COMMITMENT, timestamp, chain_id)


def _with_signature(attestation: SignedAttestation, signature: bytes) -> bytes:
    return attest_calldata(dataclasses.replace(attestation, signature=signature))


def _high_s(signature: bytes) -> bytes:
    """The same signature's high-s twin (valid ECDSA, refused by EIP-2's rule)."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])  # v 27 <-> 28


def _x_without_point() -> int:
    """An r below n that is the x coordinate of no curve point: nothing can be recovered from it."""
    p = 2**256 - 2**32 - 977
    return next(x for x in range(1, 100) if pow((x**3 + 7) % p, (p - 1) // 2, p) != 1)


GOOD = signed()
GOOD_DATA = attest_calldata(GOOD)
_BODY = GOOD_DATA[4:]

REGISTER_CASES = [
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_DEVICE) + _w(9), "ok"),
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_DEVICE) + _w(BIG_ASSET), "ok"),
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_AUDITOR) + _w(reg.ANY_ASSET), "ok"),
    (ADMIN_KEY, REGISTER + _w(STRANGER) + _w(reg.KIND_DEVICE) + _w(DEVICE_ASSET), "ok"),  # reactivated
    (ADMIN_KEY, REGISTER + _w(DEVICE) + _w(reg.KIND_DEVICE) + _w(8), "ok"),  # moved to another asset
    (RELAYER_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_DEVICE) + _w(9), reg.NOT_ADMIN),
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(0) + _w(9), reg.UNKNOWN_KIND),
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(3) + _w(9), reg.UNKNOWN_KIND),
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_DEVICE) + _w(0), reg.DEVICE_NEEDS_ASSET),
    (ADMIN_KEY, REGISTER + _w(bytes(20)) + _w(reg.KIND_AUDITOR) + _w(9), reg.ZERO_ATTESTOR),
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(256 + reg.KIND_DEVICE) + _w(9), None),  # uint8 range
    (ADMIN_KEY, REGISTER + _w(b"\x01" + b"\x55" * 20) + _w(reg.KIND_DEVICE) + _w(9), None),  # dirty address
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_DEVICE), None),  # an argument short
    (ADMIN_KEY, REGISTER + _w(b"\x55" * 20) + _w(reg.KIND_DEVICE) + _w(9) + b"\x00", None),  # a byte long
]

REVOKE_CASES = [
    (ADMIN_KEY, REVOKE + _w(DEVICE), "ok"),
    (ADMIN_KEY, REVOKE + _w(GLOBAL_AUDITOR), "ok"),
    (ADMIN_KEY, REVOKE + _w(STRANGER), reg.NOT_ACTIVE),  # already revoked
    (ADMIN_KEY, REVOKE + _w(b"\x55" * 20), reg.NOT_ACTIVE),  # never registered
    (OUTSIDER_KEY, REVOKE + _w(DEVICE), reg.NOT_ADMIN),
    (ADMIN_KEY, REVOKE + _w(b"\x01" + DEVICE), None),
    (ADMIN_KEY, REVOKE + _w(DEVICE) + _w(0), None),
]

ATTEST_CASES = [
    (RELAYER_KEY, GOOD_DATA, "ok"),  # a device's next attestation, relayed
    (ADMIN_KEY, attest_calldata(signed(AUDITOR_KEY, BIG_ASSET, 3)), "ok"),  # an auditor's: counted
    (RELAYER_KEY, attest_calldata(signed(GLOBAL_AUDITOR_KEY, 12345, 1)), "ok"),  # asset 0: any asset
    (RELAYER_KEY, attest_calldata(signed(GLOBAL_AUDITOR_KEY, 0, 1)), "ok"),
    (RELAYER_KEY, attest_calldata(signed(timestamp=NOW + 300)), "ok"),  # five minutes ahead: allowed
    (RELAYER_KEY, attest_calldata(signed(timestamp=0)), "ok"),
    # the stream: replayed, skipping ahead, the largest sequence number
    (RELAYER_KEY, attest_calldata(signed(sequence=3)), reg.OUT_OF_ORDER),
    (RELAYER_KEY, attest_calldata(signed(sequence=5)), reg.OUT_OF_ORDER),
    (RELAYER_KEY, attest_calldata(signed(sequence=2**64 - 1)), reg.OUT_OF_ORDER),
    (RELAYER_KEY, attest_calldata(signed(GLOBAL_AUDITOR_KEY, 12345, 0)), reg.OUT_OF_ORDER),
    # who may attest
    (RELAYER_KEY, attest_calldata(signed(asset=8, sequence=1)), reg.NOT_ATTESTOR),  # another asset
    (RELAYER_KEY, attest_calldata(signed(asset=0, sequence=1)), reg.NOT_ATTESTOR),  # a device: not "any"
    (RELAYER_KEY, attest_calldata(signed(STRANGER_KEY, sequence=1)), reg.NOT_ATTESTOR),  # revoked
    (RELAYER_KEY, attest_calldata(signed(RELAYER_KEY, sequence=1)), reg.NOT_ATTESTOR),  # never registered
    (RELAYER_KEY, attest_calldata(signed(AUDITOR_KEY, DEVICE_ASSET, 1)), reg.NOT_ATTESTOR),  # not "any"
    # forged or tampered: some other address recovers
    (RELAYER_KEY, attest_calldata(signed(chain_id=CHAIN_ID + 1)), reg.NOT_ATTESTOR),  # another chain
    (RELAYER_KEY, attest_calldata(dataclasses.replace(GOOD, data_commitment=bytes(32))), reg.NOT_ATTESTOR),
    (RELAYER_KEY, attest_calldata(dataclasses.replace(GOOD, timestamp=NOW - 11)), reg.NOT_ATTESTOR),
    (RELAYER_KEY, _with_signature(GOOD, signed(STRANGER_KEY).signature), reg.NOT_ATTESTOR),
    # the attestor's clock
    (RELAYER_KEY, attest_calldata(signed(timestamp=NOW + 301)), reg.FUTURE_TIMESTAMP),
    (RELAYER_KEY, attest_calldata(signed(timestamp=2**64 - 1)), reg.FUTURE_TIMESTAMP),
    # signatures that recover nobody
    (RELAYER_KEY, _with_signature(GOOD, GOOD.signature[:64]), reg.INVALID_SIGNATURE),
    (RELAYER_KEY, _with_signature(GOOD, GOOD.signature + b"\x00"), reg.INVALID_SIGNATURE),
    (RELAYER_KEY, _with_signature(GOOD, b""), reg.INVALID_SIGNATURE),
    (RELAYER_KEY, _with_signature(GOOD, GOOD.signature * 2), reg.INVALID_SIGNATURE),
    (
        RELAYER_KEY,
        _with_signature(GOOD, GOOD.signature[:64] + bytes([GOOD.signature[64] - 27])),
        reg.INVALID_SIGNATURE,
    ),
    (RELAYER_KEY, _with_signature(GOOD, GOOD.signature[:64] + b"\x1d"), reg.INVALID_SIGNATURE),
    (RELAYER_KEY, _with_signature(GOOD, _high_s(GOOD.signature)), reg.INVALID_SIGNATURE),
    (RELAYER_KEY, _with_signature(GOOD, bytes(32) + GOOD.signature[32:]), reg.INVALID_SIGNATURE),
    (
        RELAYER_KEY,
        _with_signature(GOOD, GOOD.signature[:32] + bytes(32) + GOOD.signature[64:]),
        reg.INVALID_SIGNATURE,
    ),
    (RELAYER_KEY, _with_signature(GOOD, _w(SECP256K1_N) + GOOD.signature[32:]), reg.INVALID_SIGNATURE),
    (RELAYER_KEY, _with_signature(GOOD, _w(_x_without_point()) + GOOD.signature[32:]), reg.INVALID_SIGNATURE),
    # calldata that is not the canonical encoding: fails at dispatch
    (RELAYER_KEY, GOOD_DATA[:-1], None),
    (RELAYER_KEY, GOOD_DATA + b"\x00", None),
    (RELAYER_KEY, GOOD_DATA + bytes(32), None),
    (RELAYER_KEY, GOOD_DATA[:-32], None),
    (RELAYER_KEY, GOOD_DATA[:-1] + b"\x01", None),  # dirty padding after the 65 signature bytes
    (RELAYER_KEY, ATTEST + _BODY[:32] + _w(2**64 + 4) + _BODY[64:], None),  # sequence beyond uint64
    (RELAYER_KEY, ATTEST + _BODY[:96] + _w(2**64) + _BODY[128:], None),  # timestamp beyond uint64
    (RELAYER_KEY, ATTEST + _BODY[:128] + _w(192) + _w(0) + _BODY[160:], None),  # another offset
    (RELAYER_KEY, ATTEST + _BODY[:160] + _w(2**255) + _BODY[192:], None),  # length past the end
    (RELAYER_KEY, ATTEST + _BODY[:160], None),  # no length word
    (
        RELAYER_KEY,
        ATTEST + encode_values(reg.ATTEST_TYPES, [DEVICE_ASSET, 4, COMMITMENT, NOW, b""]),
        reg.INVALID_SIGNATURE,
    ),
]

VIEW_CASES = [
    (OUTSIDER_KEY, VIEW_ATTESTOR + _w(DEVICE), "ok"),
    (OUTSIDER_KEY, VIEW_ATTESTOR + _w(b"\x01" + DEVICE), None),
    (OUTSIDER_KEY, VIEW_ATTESTOR + _w(DEVICE)[:31], None),
    (OUTSIDER_KEY, VIEW_LAST_SEQUENCE + _w(DEVICE) + _w(DEVICE_ASSET), "ok"),
    (OUTSIDER_KEY, VIEW_LAST_SEQUENCE + _w(b"\x01" + DEVICE) + _w(DEVICE_ASSET), None),
    (OUTSIDER_KEY, VIEW_LAST_SEQUENCE + _w(DEVICE), None),
    (OUTSIDER_KEY, VIEW_ATTESTATION + _w(DEVICE) + _w(DEVICE_ASSET) + _w(3), "ok"),
    (OUTSIDER_KEY, VIEW_ATTESTATION + _w(DEVICE) + _w(DEVICE_ASSET) + _w(2**64), None),
    (OUTSIDER_KEY, VIEW_ATTESTATION + _w(b"\x01" + DEVICE) + _w(DEVICE_ASSET) + _w(3), None),
    (OUTSIDER_KEY, VIEW_ATTESTATION + _w(DEVICE) + _w(DEVICE_ASSET) + _w(3) + b"\x00", None),
]


def _ids(cases: list[tuple[bytes, bytes, str | None]]) -> list[str]:
    """Readable test ids: the case's index and the STF's expected outcome."""
    return [
        f"{i}-{(expected or 'no data').removeprefix('AttestationRegistry: ')}"
        for i, (_, _, expected) in enumerate(cases)
    ]


@pytest.mark.parametrize(
    ("key", "data", "expected"), REGISTER_CASES + REVOKE_CASES, ids=_ids(REGISTER_CASES + REVOKE_CASES)
)
def test_admin_functions_agree(l1: Any, key: bytes, data: bytes, expected: str | None) -> None:
    assert_parity(l1, registry_state(), key, data, expected)


@pytest.mark.parametrize(("key", "data", "expected"), ATTEST_CASES, ids=_ids(ATTEST_CASES))
def test_attest_agrees(l1: Any, key: bytes, data: bytes, expected: str | None) -> None:
    assert_parity(l1, registry_state(), key, data, expected)


@pytest.mark.parametrize(("key", "data", "expected"), VIEW_CASES, ids=_ids(VIEW_CASES))
def test_views_agree_and_write_nothing(l1: Any, key: bytes, data: bytes, expected: str | None) -> None:
    assert_parity(l1, registry_state(), key, data, expected)


def test_attest_writes_what_the_stf_writes(l1: Any) -> None:
    """The recorded stream, record and auditor count after an auditor's attestation (so the parity above
    is about these writes, not only about fees)."""
    data = attest_calldata(signed(AUDITOR_KEY, BIG_ASSET, 3, timestamp=NOW + 5))
    item = _item(_transaction(RELAYER_KEY, data))
    hi_key, lo_key = reg.attestation_keys(AUDITOR, BIG_ASSET, 3)
    commitment = int.from_bytes(COMMITMENT, "big")
    assert registry_writes(registry_state(), item) == {
        reg.last_sequence_key(AUDITOR, BIG_ASSET): 3,
        hi_key: (commitment >> 128) << 64 | (NOW + 5),
        lo_key: (commitment & (2**128 - 1)) << 64 | NOW,
        reg.auditor_attestations_key(BIG_ASSET): 3,
    }
    pre, witness = _step(registry_state(), item)
    assert execute_on_l1(l1, pre, witness) == witness.post_root


def test_attest_out_of_gas_agrees(l1: Any) -> None:
    """Gas for the transaction but not for the call: the call fails, its writes are dropped."""
    leaves = registry_state()
    intrinsic = 21_000 + sum(4 if b == 0 else 16 for b in GOOD_DATA)
    for gas in (intrinsic, intrinsic + OP_GAS_ATTEST - 1, intrinsic + OP_GAS_ATTEST):
        item = _item(_transaction(RELAYER_KEY, GOOD_DATA, gas=gas))
        assert bool(registry_writes(leaves, item)) == (gas == intrinsic + OP_GAS_ATTEST)
        pre, witness = _step(leaves, item)
        assert execute_on_l1(l1, pre, witness) == witness.post_root


def test_attestation_witness_tampering_fails(l1: Any) -> None:
    """A witness cannot be bent: the stream's last sequence claimed as another value, the attestor's
    record claimed active, or a leaf the step writes left out, all revert on L1."""
    pre, witness = _step(registry_state(), _item(_transaction(RELAYER_KEY, GOOD_DATA)))
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    for key, value in (
        (reg.last_sequence_key(DEVICE, DEVICE_ASSET), 2),
        (reg.attestor_key(DEVICE, reg.ATTESTOR_STATUS), reg.KIND_AUDITOR | 1 << 8),
        (reg.attestor_key(DEVICE, reg.ATTESTOR_ASSET_LO), 0),
    ):
        lying = [
            dataclasses.replace(leaf, value=value) if leaf.key == key else leaf for leaf in witness.leaves
        ]
        assert lying != witness.leaves
        with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
            execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))
    for key in (
        reg.attestation_keys(DEVICE, DEVICE_ASSET, 4)[1],
        reg.last_sequence_key(DEVICE, DEVICE_ASSET),
    ):
        missing = [leaf for leaf in witness.leaves if leaf.key != key]
        assert len(missing) == len(witness.leaves) - 1
        with pytest.raises(Exception, match="missing state leaf"):
            execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=missing))


def test_revoked_attestor_witness_cannot_claim_active(l1: Any) -> None:
    """A revoked attestor's attestation fails. A complete witness built over a state where it is active
    (every leaf that path reads, each with its proof) does not verify against the real pre-state root."""
    item = _item(_transaction(RELAYER_KEY, attest_calldata(signed(STRANGER_KEY, sequence=1))))
    pre, witness = _step(registry_state(), item)
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    active = registry_state() | _attestor_leaves(STRANGER, reg.KIND_DEVICE, DEVICE_ASSET, True)
    _, lying = _step(active, item)
    assert registry_writes(active, item)  # over that state the attestation would be recorded
    with pytest.raises(Exception, match="SparseMerkle"):
        execute_on_l1(l1, pre, lying)


# --- random calls over random registry states --------------------------------------------------------
ATTESTOR_KEYS = [DEVICE_KEY, AUDITOR_KEY, GLOBAL_AUDITOR_KEY, STRANGER_KEY]
ATTESTORS = [DEVICE, AUDITOR, GLOBAL_AUDITOR, STRANGER]
ASSETS = [reg.ANY_ASSET, DEVICE_ASSET, 8, BIG_ASSET]
assets = st.sampled_from(ASSETS)
address_words = st.sampled_from(
    [_w(a) for a in [*ATTESTORS, *SENDERS, bytes(20)]] + [_w(b"\x01" + DEVICE), _w(2**255)]
)


@st.composite
def registry_states(draw: st.DrawFn) -> dict[int, int]:
    """Funded senders, an admin, attestors of either kind (some revoked, one of unknown kind) for some
    asset or any, streams at various sequence numbers, auditor counts."""
    leaves = {account_key(a): pack_account(0, 10**20) for a in SENDERS}
    leaves[system_field_key(0)] = int.from_bytes(draw(st.sampled_from(SENDERS[:2])), "big")
    for attestor in ATTESTORS:
        if draw(st.sampled_from([True, True, True, False])):
            kind = draw(st.sampled_from([reg.KIND_AUDITOR, reg.KIND_DEVICE, 3]))
            leaves |= _attestor_leaves(
                attestor, kind, draw(assets), draw(st.sampled_from([True, True, True, False]))
            )
        for asset in ASSETS:
            if draw(st.integers(0, 3)) == 0:
                leaves[reg.last_sequence_key(attestor, asset)] = draw(st.sampled_from([1, 2, 5, 2**64 - 1]))
    for asset in ASSETS:
        if draw(st.booleans()):
            leaves[reg.auditor_attestations_key(asset)] = draw(st.integers(1, 5))
    return {k: v for k, v in leaves.items() if v}


@st.composite
def attestations(draw: st.DrawFn, leaves: dict[int, int]) -> bytes:
    """attest calldata signed by an attestor (or anyone), half the time for the asset it is registered
    for and the stream's next sequence number in `leaves`, else over random fields; often for another
    chain, with a broken signature, or changed after signing."""
    key = draw(st.sampled_from([*ATTESTOR_KEYS, RELAYER_KEY]))
    asset, sequence = draw(assets), draw(st.sampled_from([0, 1, 2, 3, 6, 2**64 - 1]))
    if draw(st.sampled_from([True, True, False])):
        attestor = address_of(key)
        asset = leaves.get(reg.attestor_key(attestor, 1), 0) << 128 | leaves.get(
            reg.attestor_key(attestor, 2), 0
        )
        sequence = min(leaves.get(reg.last_sequence_key(attestor, asset), 0) + 1, 2**64 - 1)
    timestamp = draw(st.sampled_from([0, NOW - 10, NOW + 300, NOW + 301, 2**64 - 1]))
    chain_id = draw(st.sampled_from([CHAIN_ID, CHAIN_ID, CHAIN_ID, CHAIN_ID + 1]))
    commitment = draw(st.binary(min_size=32, max_size=32))
    parity, r, s = sign(reg.attestation_digest(chain_id, asset, sequence, commitment, timestamp), key)
    signature = _w(r) + _w(s) + bytes([27 + parity])
    corruption = draw(st.sampled_from(["none"] * 8 + ["high-s", "v", "r", "s", "length", "field"]))
    if corruption == "high-s":
        signature = _high_s(signature)
    elif corruption == "v":
        signature = signature[:64] + bytes([draw(st.sampled_from([0, 1, 29, 255, 27 + (1 - parity)]))])
    elif corruption == "r":
        signature = _w(draw(st.sampled_from([0, 1, SECP256K1_N, _x_without_point(), r ^ 1]))) + signature[32:]
    elif corruption == "s":
        signature = signature[:32] + _w(draw(st.sampled_from([0, SECP256K1_N - 1, s ^ 1]))) + signature[64:]
    elif corruption == "length":
        signature = draw(st.sampled_from([signature[:64], signature + b"\x00", b"", signature * 2]))
    elif corruption == "field":
        asset = draw(assets)
        sequence = draw(st.sampled_from([sequence, sequence ^ 1, 2**64]))
        timestamp = draw(st.sampled_from([timestamp, NOW, 2**64]))
    padded = signature.ljust(-(-len(signature) // 32) * 32, b"\x00")
    head = [_w(asset), _w(sequence), commitment, _w(timestamp), _w(160)]  # uint64s may be out of range
    return ATTEST + b"".join(head) + _w(len(signature)) + padded


def _malformed(draw: st.DrawFn, data: bytes) -> bytes:
    """Mostly the calldata as it is; else a byte cut or added, a word added, a byte flipped."""
    how = draw(st.sampled_from(["none"] * 10 + ["cut", "byte", "word", "flip"]))
    if how == "cut":
        return data[:-1]
    if how == "byte":
        return data + b"\x00"
    if how == "word":
        return data + bytes(32)
    if how == "flip" and len(data) > 4:
        i = draw(st.integers(4, len(data) - 1))
        return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
    return data


@st.composite
def registry_calls(draw: st.DrawFn, leaves: dict[int, int]) -> tuple[bytes, bytes]:
    """(the sender's key, calldata) of any attestation-registry function, sometimes malformed; the admin's
    functions mostly sent by the admin of `leaves`."""
    function = draw(st.sampled_from(["register", "revoke", "attest", "attest", "attest", "view"]))
    admin_key = KEYS[SENDERS.index(leaves[system_field_key(0)].to_bytes(20, "big"))]
    key = draw(st.sampled_from([admin_key, admin_key, *KEYS]))
    if function == "register":
        kind = draw(st.sampled_from([0, reg.KIND_AUDITOR, reg.KIND_DEVICE, 3, 256 + reg.KIND_DEVICE]))
        data = REGISTER + draw(address_words) + _w(kind) + _w(draw(assets))
    elif function == "revoke":
        data = REVOKE + draw(address_words)
    elif function == "attest":
        data = draw(attestations(leaves))
    else:
        sequence = _w(draw(st.sampled_from([0, 1, 3, 2**64])))
        data = draw(
            st.sampled_from(
                [
                    VIEW_ATTESTOR + draw(address_words),
                    VIEW_LAST_SEQUENCE + draw(address_words) + _w(draw(assets)),
                    VIEW_ATTESTATION + draw(address_words) + _w(draw(assets)) + sequence,
                ]
            )
        )
    return key, _malformed(draw, data)


@st.composite
def registry_cases(draw: st.DrawFn) -> tuple[dict[int, int], bytes, bytes]:
    leaves = draw(registry_states())
    return (leaves, *draw(registry_calls(leaves)))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(registry_cases(), st.sampled_from([300_000, 300_000, 60_000]))
def test_random_registry_calls_agree(l1: Any, case: tuple[dict[int, int], bytes, bytes], gas: int) -> None:
    """Any registry call over any registry state: the one-step proof's root is the STF's."""
    leaves, key, data = case
    event(f"{data[:4].hex()}: {stf_outcome(leaves, address_of(key), data)}")  # every rule is reached
    check_parity(l1, leaves, _item(_transaction(key, data, gas=gas)), record=False)
