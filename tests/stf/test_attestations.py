"""The attestation registry through the STF: registration, signed attestations, and every rejection."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from jovay.codec.abi import decode_error
from jovay.crypto.secp256k1 import SECP256K1_N
from jovay.params import ATTESTATION_REGISTRY, DISPATCH_GAS, FEE_VAULT, MIN_BASE_FEE, OP_GAS
from jovay.sdk.attestations import SignedAttestation, attest_calldata, sign_attestation, typed_data
from jovay.state.keys import account_key
from jovay.state.overlay import StateOverlay
from jovay.stf import attestations as reg
from jovay.stf.block import BlockExecution
from jovay.stf.genesis import Genesis
from jovay.stf.results import Revert
from jovay.stf.system import call_system_contract, is_system_contract
from jovay.stf.transaction import BlockEnv, TxOutcome
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, calldata, signed_tx

ADMIN, RELAYER, OUTSIDER = ADDRESSES[:3]
ADMIN_KEY, RELAYER_KEY, OUTSIDER_KEY = KEYS[:3]
PILE_KEY, BMS_KEY, AUDITOR_KEY = KEYS[5:8]  # devices and the auditor never hold ETH: a relayer submits
PILE, BMS, AUDITOR = ADDRESSES[5:8]
PILE_ASSET, BMS_ASSET = 7, 2**256 - 1  # the largest asset id still fits the key layout
NOW = 1_700_000_000
MAX_FEE = 3 * MIN_BASE_FEE

REGISTER = "registerAttestor(address,uint8,uint256)"
REVOKE = "revokeAttestor(address)"


def _env(timestamp: int = NOW, chain_id: int = CHAIN_ID) -> BlockEnv:
    return BlockEnv(
        number=1, timestamp=timestamp, base_fee=MIN_BASE_FEE, gas_limit=30_000_000, chain_id=chain_id
    )


class Runner:
    """One block over a genesis state whose identity admin is ADMIN."""

    def __init__(self) -> None:
        genesis = Genesis(identity_admin=ADMIN, timestamp=1, alloc={a: 10 * ETH for a in ADDRESSES[:3]})
        self.state = StateOverlay(lambda key: 0)
        for key, value in genesis.state_writes().items():
            self.state.set(key, value)
        self.block = BlockExecution(self.state, _env())
        self.nonces: dict[bytes, int] = {}

    def send(self, key: bytes, data: bytes, gas: int = 300_000) -> TxOutcome:
        nonce = self.nonces.get(key, 0)
        tx = signed_tx(key, nonce=nonce, to=ATTESTATION_REGISTRY, data=data, gas=gas, max_fee=MAX_FEE)
        self.nonces[key] = nonce + 1
        return self.block.add_transaction(tx).outcome

    def ok(self, key: bytes, data: bytes) -> TxOutcome:
        outcome = self.send(key, data)
        assert outcome.status == 1, decode_error(outcome.return_data)
        return outcome

    def view(self, signature: str, *args: object) -> bytes:
        return call_system_contract(
            self.state, OUTSIDER, ATTESTATION_REGISTRY, calldata(signature, *args)
        ).return_data

    def attestor(self, address: bytes) -> tuple:
        return decode(["uint8", "uint256", "bool"], self.view("attestor(address)", address))

    def last_sequence(self, attestor: bytes, asset_id: int) -> int:
        return decode(["uint64"], self.view("lastSequence(address,uint256)", attestor, asset_id))[0]

    def attestation(self, attestor: bytes, asset_id: int, sequence: int) -> tuple:
        raw = self.view("attestation(address,uint256,uint64)", attestor, asset_id, sequence)
        return decode(["bytes32", "uint64", "uint64"], raw)


def registered() -> Runner:
    runner = Runner()
    runner.ok(ADMIN_KEY, calldata(REGISTER, PILE, reg.KIND_DEVICE, PILE_ASSET))
    runner.ok(ADMIN_KEY, calldata(REGISTER, BMS, reg.KIND_DEVICE, BMS_ASSET))
    runner.ok(ADMIN_KEY, calldata(REGISTER, AUDITOR, reg.KIND_AUDITOR, reg.ANY_ASSET))
    return runner


def signed(
    key: bytes = PILE_KEY, asset: int = PILE_ASSET, sequence: int = 1, data: bytes = b"kWh=42"
) -> SignedAttestation:
    return sign_attestation(key, asset, sequence, data, NOW - 10, CHAIN_ID)


def _data_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def assert_rejected(
    runner: Runner, data: bytes, reason: str | None, gas: int = OP_GAS["attestations.attest"]
) -> None:
    """The call fails with `reason`, pays its gas, and writes nothing but the relayer's fee payment."""
    before = dict(runner.state.writes())
    outcome = runner.send(RELAYER_KEY, data)
    assert (outcome.status, outcome.logs) == (0, [])
    assert decode_error(outcome.return_data) == reason
    if reason is None:
        assert outcome.return_data == b""
    assert outcome.gas_used == 21_000 + _data_gas(data) + gas
    fee_keys = {account_key(RELAYER), account_key(FEE_VAULT)}
    after = runner.state.writes()
    assert {k: v for k, v in after.items() if k not in fee_keys} == {
        k: v for k, v in before.items() if k not in fee_keys
    }


# --- registration -----------------------------------------------------------------------------------
def test_registry_is_a_system_contract() -> None:
    assert is_system_contract(Runner().state, ATTESTATION_REGISTRY)


def test_admin_registers_and_revokes_with_events() -> None:
    runner = Runner()
    outcome = runner.ok(ADMIN_KEY, calldata(REGISTER, PILE, reg.KIND_DEVICE, PILE_ASSET))
    assert (
        outcome.gas_used
        == 21_000
        + _data_gas(calldata(REGISTER, PILE, 2, PILE_ASSET))
        + OP_GAS["attestations.registerAttestor"]
    )
    (log,) = outcome.logs
    assert log.address == ATTESTATION_REGISTRY
    assert list(log.topics) == [
        keccak(text="AttestorRegistered(address,uint8,uint256)"),
        bytes(12) + PILE,
        PILE_ASSET.to_bytes(32, "big"),
    ]
    assert log.data == (2).to_bytes(32, "big")
    assert runner.attestor(PILE) == (2, PILE_ASSET, True)

    (log,) = runner.ok(ADMIN_KEY, calldata(REVOKE, PILE)).logs
    assert list(log.topics) == [keccak(text="AttestorRevoked(address)"), bytes(12) + PILE]
    assert log.data == b""
    assert runner.attestor(PILE) == (2, PILE_ASSET, False)
    assert runner.attestor(BMS) == (0, 0, False)


@pytest.mark.parametrize(
    ("key", "data", "reason"),
    [
        (OUTSIDER_KEY, calldata(REGISTER, OUTSIDER, 1, 0), reg.NOT_ADMIN),
        (PILE_KEY, calldata(REGISTER, PILE, 2, PILE_ASSET), reg.NOT_ADMIN),
        (OUTSIDER_KEY, calldata(REVOKE, PILE), reg.NOT_ADMIN),
        (ADMIN_KEY, calldata(REGISTER, PILE, 0, PILE_ASSET), reg.UNKNOWN_KIND),
        (ADMIN_KEY, calldata(REGISTER, PILE, 3, PILE_ASSET), reg.UNKNOWN_KIND),
        (ADMIN_KEY, calldata(REGISTER, PILE, 2, 0), reg.DEVICE_NEEDS_ASSET),
        (ADMIN_KEY, calldata(REGISTER, bytes(20), 1, 0), reg.ZERO_ATTESTOR),
        (ADMIN_KEY, calldata(REVOKE, OUTSIDER), reg.NOT_ACTIVE),
    ],
)
def test_registration_is_admin_only_and_checked(key: bytes, data: bytes, reason: str) -> None:
    runner = Runner()
    if key == PILE_KEY:
        runner.state.set(account_key(PILE), 10 * ETH)  # a funded non-admin
    before = dict(runner.state.writes())
    outcome = runner.send(key, data)
    assert outcome.status == 0 and outcome.logs == []
    assert decode_error(outcome.return_data) == reason
    sender = ADDRESSES[KEYS.index(key)]
    fee_keys = {account_key(sender), account_key(FEE_VAULT)}
    assert {k: v for k, v in runner.state.writes().items() if k not in fee_keys} == {
        k: v for k, v in before.items() if k not in fee_keys
    }
    assert runner.attestor(PILE) == (0, 0, False)


def test_revoking_twice_and_kind_out_of_uint8_range() -> None:
    runner = registered()
    runner.ok(ADMIN_KEY, calldata(REVOKE, PILE))
    outcome = runner.send(ADMIN_KEY, calldata(REVOKE, PILE))
    assert decode_error(outcome.return_data) == reg.NOT_ACTIVE
    bad_kind = calldata(REGISTER, PILE, 1, 0)[:4] + calldata("r(address,uint256,uint256)", PILE, 256, 0)[4:]
    outcome = runner.send(ADMIN_KEY, bad_kind)
    assert (outcome.status, outcome.return_data) == (0, b"")  # malformed calldata, as Solidity's decoder


# --- attesting --------------------------------------------------------------------------------------
def test_device_attestation_is_recorded_with_its_event() -> None:
    runner = registered()
    attestation = signed(data=b'{"session": 9, "kWh": 42.5}')
    data = attest_calldata(attestation)
    outcome = runner.ok(RELAYER_KEY, data)  # the relayer, not the device, pays
    assert outcome.gas_used == 21_000 + _data_gas(data) + OP_GAS["attestations.attest"]
    assert outcome.return_data == b""
    (log,) = outcome.logs
    assert log.address == ATTESTATION_REGISTRY
    assert list(log.topics) == [
        keccak(text="Attested(address,uint256,uint64,bytes32,uint64)"),
        bytes(12) + PILE,
        PILE_ASSET.to_bytes(32, "big"),
        (1).to_bytes(32, "big"),
    ]
    assert log.data == attestation.data_commitment + (NOW - 10).to_bytes(32, "big")
    assert runner.last_sequence(PILE, PILE_ASSET) == 1
    assert runner.attestation(PILE, PILE_ASSET, 1) == (attestation.data_commitment, NOW - 10, NOW)
    assert runner.attestation(PILE, PILE_ASSET, 2) == (bytes(32), 0, 0)

    second = signed(sequence=2, data=b"kWh=7")
    runner.ok(RELAYER_KEY, attest_calldata(second))
    assert runner.last_sequence(PILE, PILE_ASSET) == 2
    assert runner.attestation(PILE, PILE_ASSET, 2)[0] == keccak(b"kWh=7")


def test_max_asset_id_and_extreme_commitment_round_trip() -> None:
    runner = registered()
    commitment = b"\xff" * 32
    attestation = dataclasses.replace(signed(BMS_KEY, BMS_ASSET), data_commitment=commitment)
    resigned = _resign(BMS_KEY, attestation)
    runner.ok(RELAYER_KEY, attest_calldata(resigned))
    assert runner.attestation(BMS, BMS_ASSET, 1) == (commitment, NOW - 10, NOW)
    assert runner.last_sequence(BMS, BMS_ASSET) == 1
    assert runner.last_sequence(BMS, BMS_ASSET - 2**128) == 0  # the halves of the id are both keyed


def test_auditor_for_any_asset_keeps_one_stream_per_asset() -> None:
    runner = registered()
    for asset in (PILE_ASSET, BMS_ASSET, 12345):
        runner.ok(RELAYER_KEY, attest_calldata(signed(AUDITOR_KEY, asset, 1, b"audit 2025")))
    runner.ok(RELAYER_KEY, attest_calldata(signed(AUDITOR_KEY, 12345, 2, b"audit 2026")))
    assert [runner.last_sequence(AUDITOR, a) for a in (PILE_ASSET, BMS_ASSET, 12345)] == [1, 1, 2]
    runner.ok(RELAYER_KEY, attest_calldata(signed(PILE_KEY)))  # the device's own stream is separate
    assert runner.last_sequence(PILE, PILE_ASSET) == 1


def test_auditor_bound_to_one_asset_attests_only_for_it() -> None:
    runner = registered()
    runner.ok(ADMIN_KEY, calldata(REGISTER, AUDITOR, reg.KIND_AUDITOR, PILE_ASSET))
    runner.ok(RELAYER_KEY, attest_calldata(signed(AUDITOR_KEY, PILE_ASSET)))
    assert_rejected(runner, attest_calldata(signed(AUDITOR_KEY, 99)), reg.NOT_ATTESTOR)


def test_signature_from_eth_account_typed_data_encoder_verifies() -> None:
    """Signed with eth_account's own EIP-712 encoder (not the SDK), from the standard's primitives."""
    commitment = keccak(b"bms: soh=97%")
    domain = {
        "name": "Jovay Attestations",
        "version": "1",
        "chainId": CHAIN_ID,
        "verifyingContract": "0x" + ATTESTATION_REGISTRY.hex(),
    }
    types = {
        "Attestation": [
            {"name": "assetId", "type": "uint256"},
            {"name": "sequence", "type": "uint64"},
            {"name": "dataCommitment", "type": "bytes32"},
            {"name": "timestamp", "type": "uint64"},
        ]
    }
    message = {"assetId": BMS_ASSET, "sequence": 1, "dataCommitment": commitment, "timestamp": NOW}
    signature = bytes(Account.sign_typed_data(BMS_KEY, domain, types, message).signature)
    signable = encode_typed_data(domain, types, message)
    assert keccak(b"\x19" + signable.version + signable.header + signable.body) == reg.attestation_digest(
        CHAIN_ID, BMS_ASSET, 1, commitment, NOW
    )
    assert (
        reg.recover_signer(reg.attestation_digest(CHAIN_ID, BMS_ASSET, 1, commitment, NOW), signature) == BMS
    )
    runner = registered()
    data = calldata("attest(uint256,uint64,bytes32,uint64,bytes)", BMS_ASSET, 1, commitment, NOW, signature)
    runner.ok(RELAYER_KEY, data)
    assert runner.attestation(BMS, BMS_ASSET, 1) == (commitment, NOW, NOW)


def test_sdk_typed_data_is_what_wallets_sign() -> None:
    message = typed_data(CHAIN_ID, 1, 2, bytes(32), 3)
    assert message["domain"]["verifyingContract"].lower() == "0x" + ATTESTATION_REGISTRY.hex()
    signable = encode_typed_data(full_message=message)
    digest = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert digest == reg.attestation_digest(CHAIN_ID, 1, 2, bytes(32), 3)


def _resign(key: bytes, attestation: SignedAttestation) -> SignedAttestation:
    """Sign the (possibly edited) fields again, as the attestor would."""
    from jovay.sdk.attestations import sign_commitment

    a = attestation
    return sign_commitment(key, a.asset_id, a.sequence, a.data_commitment, a.timestamp, a.chain_id)


def _with_signature(attestation: SignedAttestation, signature: bytes) -> bytes:
    return attest_calldata(dataclasses.replace(attestation, signature=signature))


def _high_s(signature: bytes) -> bytes:
    """The malleable twin (r, n - s, flipped v): a valid ECDSA signature that EIP-2 forbids."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


GOOD = signed()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        # forged: signed by a key that is not the attestor (an outsider, or another asset's device)
        (attest_calldata(signed(OUTSIDER_KEY)), reg.NOT_ATTESTOR),
        (attest_calldata(signed(BMS_KEY, PILE_ASSET)), reg.NOT_ATTESTOR),
        # tampered after signing: the signature then recovers some other address
        (attest_calldata(dataclasses.replace(GOOD, data_commitment=keccak(b"kWh=4200"))), reg.NOT_ATTESTOR),
        (attest_calldata(dataclasses.replace(GOOD, sequence=2)), reg.NOT_ATTESTOR),
        (attest_calldata(dataclasses.replace(GOOD, asset_id=BMS_ASSET)), reg.NOT_ATTESTOR),
        (attest_calldata(dataclasses.replace(GOOD, timestamp=NOW)), reg.NOT_ATTESTOR),
        # signed for another chain (EIP-712 domain): replay across chains fails
        (attest_calldata(sign_attestation(PILE_KEY, PILE_ASSET, 1, b"kWh=42", NOW, 1)), reg.NOT_ATTESTOR),
        # out of order
        (attest_calldata(signed(sequence=0)), reg.OUT_OF_ORDER),
        (attest_calldata(signed(sequence=2)), reg.OUT_OF_ORDER),
        (attest_calldata(signed(sequence=2**64 - 1)), reg.OUT_OF_ORDER),
        # the attestor's clock ahead of the block's by more than 5 minutes
        (
            attest_calldata(_resign(PILE_KEY, dataclasses.replace(GOOD, timestamp=NOW + 301))),
            reg.FUTURE_TIMESTAMP,
        ),
        (
            attest_calldata(_resign(PILE_KEY, dataclasses.replace(GOOD, timestamp=2**64 - 1))),
            reg.FUTURE_TIMESTAMP,
        ),
        # malformed signatures
        (_with_signature(GOOD, GOOD.signature[:64]), reg.INVALID_SIGNATURE),
        (_with_signature(GOOD, GOOD.signature + b"\x00"), reg.INVALID_SIGNATURE),
        (_with_signature(GOOD, b""), reg.INVALID_SIGNATURE),
        (
            _with_signature(GOOD, GOOD.signature[:64] + bytes([GOOD.signature[64] - 27])),
            reg.INVALID_SIGNATURE,
        ),
        (_with_signature(GOOD, GOOD.signature[:64] + b"\x1d"), reg.INVALID_SIGNATURE),
        (_with_signature(GOOD, _high_s(GOOD.signature)), reg.INVALID_SIGNATURE),
        (_with_signature(GOOD, bytes(32) + GOOD.signature[32:]), reg.INVALID_SIGNATURE),
        (_with_signature(GOOD, GOOD.signature[:32] + bytes(32) + GOOD.signature[64:]), reg.INVALID_SIGNATURE),
        (_with_signature(GOOD, SECP256K1_N.to_bytes(32, "big") + GOOD.signature[32:]), reg.INVALID_SIGNATURE),
    ],
)
def test_rejected_attestations_fail_with_their_reason_and_change_nothing(data: bytes, reason: str) -> None:
    assert_rejected(registered(), data, reason)


def test_high_s_twin_really_is_a_valid_ecdsa_signature() -> None:
    """So the rejection above is EIP-2's rule and not an accident of a broken signature."""
    from coincurve import PublicKey

    digest = reg.attestation_digest(CHAIN_ID, PILE_ASSET, 1, GOOD.data_commitment, GOOD.timestamp)
    twin = _high_s(GOOD.signature)
    key = PublicKey.from_signature_and_message(twin[:64] + bytes([twin[64] - 27]), digest, hasher=None)
    assert keccak(key.format(compressed=False)[1:])[12:] == PILE


def test_replay_of_a_recorded_attestation_fails() -> None:
    runner = registered()
    data = attest_calldata(GOOD)
    runner.ok(RELAYER_KEY, data)
    assert_rejected(runner, data, reg.OUT_OF_ORDER)
    assert runner.attestation(PILE, PILE_ASSET, 1) == (GOOD.data_commitment, NOW - 10, NOW)


def test_sequence_may_not_skip_ahead_after_the_first() -> None:
    runner = registered()
    runner.ok(RELAYER_KEY, attest_calldata(GOOD))
    assert_rejected(runner, attest_calldata(signed(sequence=3)), reg.OUT_OF_ORDER)
    runner.ok(RELAYER_KEY, attest_calldata(signed(sequence=2)))


def test_timestamp_exactly_five_minutes_ahead_is_accepted() -> None:
    runner = registered()
    runner.ok(RELAYER_KEY, attest_calldata(_resign(PILE_KEY, dataclasses.replace(GOOD, timestamp=NOW + 300))))
    assert runner.attestation(PILE, PILE_ASSET, 1)[1:] == (NOW + 300, NOW)


def test_revoked_attestor_is_refused_and_reregistration_continues_its_stream() -> None:
    runner = registered()
    runner.ok(RELAYER_KEY, attest_calldata(GOOD))
    runner.ok(ADMIN_KEY, calldata(REVOKE, PILE))
    assert_rejected(runner, attest_calldata(signed(sequence=2)), reg.NOT_ATTESTOR)
    runner.ok(ADMIN_KEY, calldata(REGISTER, PILE, reg.KIND_DEVICE, PILE_ASSET))
    assert_rejected(runner, attest_calldata(GOOD), reg.OUT_OF_ORDER)  # still no replay
    runner.ok(RELAYER_KEY, attest_calldata(signed(sequence=2)))


def test_device_moved_to_another_asset_loses_the_first() -> None:
    runner = registered()
    runner.ok(ADMIN_KEY, calldata(REGISTER, PILE, reg.KIND_DEVICE, 8))
    assert_rejected(runner, attest_calldata(GOOD), reg.NOT_ATTESTOR)
    runner.ok(RELAYER_KEY, attest_calldata(signed(asset=8)))


def test_malformed_attest_calldata_reverts_without_data() -> None:
    runner = registered()
    data = attest_calldata(GOOD)
    for bad in (data[:-1], data[:4] + data[4:36] + (2**64).to_bytes(32, "big") + data[68:]):
        assert_rejected(runner, bad, None, DISPATCH_GAS)


def test_attest_takes_only_the_canonical_encoding() -> None:
    """What eth_abi alone would decode to the same arguments but Solidity's encoder never makes (bytes
    after the arguments, the signature at another offset) fails at dispatch: the L1 one-step proof
    checks exactly the canonical layout."""
    runner = registered()
    data = attest_calldata(GOOD)
    moved = data[:132] + (192).to_bytes(32, "big") + bytes(32) + data[164:]  # offset 0xc0, a gap word
    for bad in (data + b"\x00", data + bytes(32), moved):
        assert_rejected(runner, bad, None, DISPATCH_GAS)
    runner.ok(RELAYER_KEY, data)


def test_attest_without_a_block_context_reverts() -> None:
    runner = registered()
    with pytest.raises(Revert) as revert:
        call_system_contract(runner.state, RELAYER, ATTESTATION_REGISTRY, attest_calldata(GOOD))
    assert revert.value.reason == reg.NO_BLOCK


def test_direct_call_uses_the_given_block_env() -> None:
    runner = registered()
    result = call_system_contract(
        runner.state, RELAYER, ATTESTATION_REGISTRY, attest_calldata(GOOD), _env(NOW + 5)
    )
    assert result.gas == OP_GAS["attestations.attest"]
    assert runner.attestation(PILE, PILE_ASSET, 1)[2] == NOW + 5
    other_chain = _env(chain_id=CHAIN_ID + 1)
    with pytest.raises(Revert) as revert:
        call_system_contract(
            runner.state, RELAYER, ATTESTATION_REGISTRY, attest_calldata(signed(sequence=2)), other_chain
        )
    assert revert.value.reason == reg.NOT_ATTESTOR


def test_views_cost_dispatch_gas_and_reject_bad_arguments() -> None:
    runner = registered()
    for signature, args in [
        ("attestor(address)", (PILE,)),
        ("lastSequence(address,uint256)", (PILE, PILE_ASSET)),
        ("attestation(address,uint256,uint64)", (PILE, PILE_ASSET, 1)),
    ]:
        result = call_system_contract(
            runner.state, OUTSIDER, ATTESTATION_REGISTRY, calldata(signature, *args)
        )
        assert result.gas == DISPATCH_GAS and result.logs == []
    wide = calldata("attestation(address,uint256,uint256)", PILE, PILE_ASSET, 2**64)
    too_big = calldata("attestation(address,uint256,uint64)", PILE, PILE_ASSET, 1)[:4] + wide[4:]
    with pytest.raises(Revert) as revert:
        call_system_contract(runner.state, OUTSIDER, ATTESTATION_REGISTRY, too_big)
    assert (revert.value.data, revert.value.gas) == (b"", DISPATCH_GAS)
