"""Client-side helpers for Jovay: check what a node serves instead of trusting it.

`verify_account_proof(state_root, proof)` checks an `eth_getProof` answer (a Poseidon sparse-Merkle
proof) against a state root taken from L1 or a block header. `jovay.sdk.attestations` signs EIP-712
attestations for devices and auditors, submits them, and checks off-chain data against a commitment.
"""

from jovay.sdk.attestations import AttestationClient, matches_commitment, sign_attestation
from jovay.sdk.proofs import AccountState, ProofError, verify_account_proof

__all__ = [
    "AccountState",
    "AttestationClient",
    "ProofError",
    "matches_commitment",
    "sign_attestation",
    "verify_account_proof",
]
