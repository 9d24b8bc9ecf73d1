"""Client side of the attestation registry: sign attestations off chain, submit them, read them back.

An attestor (auditor or device) signs with `sign_attestation`, using eth_account's standard EIP-712
encoder, so any EIP-712 wallet or library produces the same signature. Anyone can then submit the
result (`attest_calldata`, or `AttestationClient.submit` over web3.py); the data itself stays with its
holder, who proves it with `matches_commitment` against what `AttestationClient.attestation` returns.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.types import TxReceipt

from jovay.codec import abi
from jovay.crypto.keccak import keccak256
from jovay.params import ATTESTATION_REGISTRY
from jovay.stf.attestations import (
    ATTEST_TYPES,
    EIP712_NAME,
    EIP712_VERSION,
    KIND_AUDITOR,
    KIND_DEVICE,
    Attestation,
    Attestor,
)

__all__ = [
    "ATTESTATION_REGISTRY_ABI",
    "KIND_AUDITOR",
    "KIND_DEVICE",
    "AttestationClient",
    "SignedAttestation",
    "attest_calldata",
    "matches_commitment",
    "sign_attestation",
    "sign_commitment",
    "typed_data",
]

ATTEST_SELECTOR: Final = abi.selector("attest(uint256,uint64,bytes32,uint64,bytes)")


def _param(name: str, type_: str, indexed: bool | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "type": type_}
    if indexed is not None:
        param["indexed"] = indexed
    return param


def _function(
    name: str, mutability: str, inputs: list[dict[str, Any]], outputs: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "stateMutability": mutability,
        "inputs": inputs,
        "outputs": outputs,
    }


def _event(name: str, inputs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "event", "name": name, "anonymous": False, "inputs": inputs}


# The registry's Solidity ABI (for web3.py, ethers.js, cast), at params.ATTESTATION_REGISTRY.
ATTESTATION_REGISTRY_ABI: Final[list[dict[str, Any]]] = [
    _function(
        "registerAttestor",
        "nonpayable",
        [_param("attestor", "address"), _param("kind", "uint8"), _param("assetId", "uint256")],
        [],
    ),
    _function("revokeAttestor", "nonpayable", [_param("attestor", "address")], []),
    _function(
        "attest",
        "nonpayable",
        [
            _param(n, t)
            for n, t in zip(
                ("assetId", "sequence", "dataCommitment", "timestamp", "signature"), ATTEST_TYPES, strict=True
            )
        ],
        [],
    ),
    _function(
        "attestor",
        "view",
        [_param("attestor", "address")],
        [_param("kind", "uint8"), _param("assetId", "uint256"), _param("active", "bool")],
    ),
    _function(
        "lastSequence",
        "view",
        [_param("attestor", "address"), _param("assetId", "uint256")],
        [_param("", "uint64")],
    ),
    _function(
        "attestation",
        "view",
        [_param("attestor", "address"), _param("assetId", "uint256"), _param("sequence", "uint64")],
        [_param("dataCommitment", "bytes32"), _param("timestamp", "uint64"), _param("recordedAt", "uint64")],
    ),
    _event(
        "AttestorRegistered",
        [
            _param("attestor", "address", True),
            _param("kind", "uint8", False),
            _param("assetId", "uint256", True),
        ],
    ),
    _event("AttestorRevoked", [_param("attestor", "address", True)]),
    _event(
        "Attested",
        [
            _param("attestor", "address", True),
            _param("assetId", "uint256", True),
            _param("sequence", "uint64", True),
            _param("dataCommitment", "bytes32", False),
            _param("timestamp", "uint64", False),
        ],
    ),
]


@dataclass(frozen=True, slots=True)
class SignedAttestation:
    """What an attestor hands to a relayer: the signed fields and the 65-byte `r || s || v` signature."""

    attestor: bytes
    asset_id: int
    sequence: int
    data_commitment: bytes
    timestamp: int
    chain_id: int
    signature: bytes


def typed_data(
    chain_id: int, asset_id: int, sequence: int, commitment: bytes, timestamp: int
) -> dict[str, Any]:
    """The EIP-712 message (eth_signTypedData_v4 shape) an attestor signs; wallets can sign it as is."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Attestation": [
                {"name": "assetId", "type": "uint256"},
                {"name": "sequence", "type": "uint64"},
                {"name": "dataCommitment", "type": "bytes32"},
                {"name": "timestamp", "type": "uint64"},
            ],
        },
        "primaryType": "Attestation",
        "domain": {
            "name": EIP712_NAME,
            "version": EIP712_VERSION,
            "chainId": chain_id,
            "verifyingContract": Web3.to_checksum_address(ATTESTATION_REGISTRY),
        },
        "message": {
            "assetId": asset_id,
            "sequence": sequence,
            "dataCommitment": commitment,
            "timestamp": timestamp,
        },
    }


def sign_commitment(
    private_key: bytes, asset_id: int, sequence: int, commitment: bytes, timestamp: int, chain_id: int
) -> SignedAttestation:
    """Sign an already computed 32-byte commitment (a device that only keeps the hash)."""
    if len(commitment) != 32:
        raise ValueError(f"commitment must be 32 bytes, got {len(commitment)}")
    message = encode_typed_data(full_message=typed_data(chain_id, asset_id, sequence, commitment, timestamp))
    account = Account.from_key(private_key)
    signed = account.sign_message(message)
    return SignedAttestation(
        attestor=bytes.fromhex(account.address[2:]),
        asset_id=asset_id,
        sequence=sequence,
        data_commitment=commitment,
        timestamp=timestamp,
        chain_id=chain_id,
        signature=bytes(signed.signature),
    )


def sign_attestation(
    private_key: bytes, asset_id: int, sequence: int, data: bytes, timestamp: int, chain_id: int
) -> SignedAttestation:
    """Sign `keccak256(data)` as attestation `sequence` of `asset_id`; `data` itself stays off chain."""
    return sign_commitment(private_key, asset_id, sequence, keccak256(data), timestamp, chain_id)


def attest_calldata(signed: SignedAttestation) -> bytes:
    """Calldata of `attest(...)` for the registry; any account may send it."""
    values = [signed.asset_id, signed.sequence, signed.data_commitment, signed.timestamp, signed.signature]
    return ATTEST_SELECTOR + abi.encode_values(ATTEST_TYPES, values)


def matches_commitment(data: bytes, commitment: bytes) -> bool:
    """The holder's check: is `data` exactly what the recorded commitment commits to?"""
    return hmac.compare_digest(keccak256(data), bytes(commitment))


class AttestationClient:
    """The registry over web3.py: transactions are signed with `account` (admin or relayer)."""

    def __init__(self, w3: Web3, account: LocalAccount | None = None) -> None:
        self.w3 = w3
        self.account = account
        self.contract = w3.eth.contract(
            address=Web3.to_checksum_address(ATTESTATION_REGISTRY), abi=ATTESTATION_REGISTRY_ABI
        )

    # --- transactions ----------------------------------------------------------------------------
    def register_attestor(self, attestor: bytes, kind: int, asset_id: int) -> TxReceipt:
        """Admin only; `kind` KIND_AUDITOR or KIND_DEVICE, `asset_id` 0 = any asset (auditors only)."""
        return self._send(self.contract.functions.registerAttestor(_checksum(attestor), kind, asset_id))

    def revoke_attestor(self, attestor: bytes) -> TxReceipt:
        return self._send(self.contract.functions.revokeAttestor(_checksum(attestor)))

    def submit(self, signed: SignedAttestation) -> TxReceipt:
        """Relay a signed attestation; a rejected one raises web3's ContractLogicError with its reason."""
        return self._send(
            self.contract.functions.attest(
                signed.asset_id, signed.sequence, signed.data_commitment, signed.timestamp, signed.signature
            )
        )

    def _send(self, call: Any) -> TxReceipt:
        """Sign locally, estimate first (so reverts surface with their reason), wait for the receipt."""
        if self.account is None:
            raise ValueError("AttestationClient needs an account to send transactions")
        eth = self.w3.eth
        tx = call.build_transaction(
            {
                "from": self.account.address,
                "chainId": eth.chain_id,
                "nonce": eth.get_transaction_count(self.account.address, "pending"),
                "maxPriorityFeePerGas": eth.max_priority_fee,
                "maxFeePerGas": 2 * eth.gas_price,
            }
        )
        tx_hash = eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
        return eth.wait_for_transaction_receipt(tx_hash, timeout=30)

    # --- reads -----------------------------------------------------------------------------------
    def attestor(self, attestor: bytes) -> Attestor:
        kind, asset_id, active = self.contract.functions.attestor(_checksum(attestor)).call()
        return Attestor(int(kind), int(asset_id), bool(active))

    def last_sequence(self, attestor: bytes, asset_id: int) -> int:
        return int(self.contract.functions.lastSequence(_checksum(attestor), asset_id).call())

    def next_sequence(self, attestor: bytes, asset_id: int) -> int:
        """The sequence number the attestor's next attestation for `asset_id` must carry."""
        return self.last_sequence(attestor, asset_id) + 1

    def attestation(self, attestor: bytes, asset_id: int, sequence: int) -> Attestation:
        """The recorded attestation (all zero if that sequence number was never recorded)."""
        commitment, timestamp, recorded_at = self.contract.functions.attestation(
            _checksum(attestor), asset_id, sequence
        ).call()
        return Attestation(bytes(commitment), int(timestamp), int(recorded_at))


def _checksum(address: bytes) -> str:
    return Web3.to_checksum_address(address)
