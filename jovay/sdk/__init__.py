"""Client-side helpers for Jovay: check what a node serves instead of trusting it.

`verify_account_proof(state_root, proof)` checks an `eth_getProof` answer (a Poseidon sparse-Merkle
proof) against a state root taken from L1 or a block header. `jovay.sdk.attestations` signs EIP-712
attestations for devices and auditors, submits them, and checks off-chain data against a commitment.
`jovay.sdk.rwa` drives the asset lifecycle (identity, issuance, trading, revenue, redemption) and the
regulator's signed queries.
"""

from jovay.sdk.attestations import AttestationClient, matches_commitment, sign_attestation
from jovay.sdk.proofs import AccountState, ProofError, verify_account_proof
from jovay.sdk.rwa import AssetClient, IdentityClient, RegulatorClient, TokenClient, sign_regulator_request

__all__ = [
    "AccountState",
    "AssetClient",
    "AttestationClient",
    "IdentityClient",
    "ProofError",
    "RegulatorClient",
    "TokenClient",
    "matches_commitment",
    "sign_attestation",
    "sign_regulator_request",
    "verify_account_proof",
]
