"""Client-side helpers for Jovay: check what a node serves instead of trusting it.

`verify_account_proof(state_root, proof)` checks an `eth_getProof` answer (a Poseidon sparse-Merkle
proof) against a state root taken from L1 or a block header.
"""

from jovay.sdk.proofs import AccountState, ProofError, verify_account_proof

__all__ = ["AccountState", "ProofError", "verify_account_proof"]
