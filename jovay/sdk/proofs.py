"""Checks an `eth_getProof` answer against a state root the caller trusts (from L1 or a header).

Nothing in the answer is taken on faith except the path: the account key is recomputed from the
address, the leaf value from the nonce and balance, and the Poseidon path from the leaf to the root.
`codeHash`, `storageHash`, `blockNumber` and `blockHash` are not covered by the proof and are ignored.
The format is in docs/rpc.md, "eth_getProof".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jovay.crypto.poseidon import FIELD_MODULUS
from jovay.errors import JovayError
from jovay.state.keys import account_key, pack_account
from jovay.state.smt import MAX_DEPTH, SmtProof, verify_proof

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class ProofError(JovayError):
    """A proof that is malformed or does not show the claimed account under the given root."""


@dataclass(frozen=True, slots=True)
class AccountState:
    """What a valid proof shows: the account's nonce and balance; `exists` False for an absent leaf."""

    address: bytes
    nonce: int
    balance: int
    exists: bool


def verify_account_proof(state_root: bytes, proof_json: dict[str, Any]) -> AccountState:
    """The account the proof shows under `state_root` (32 bytes); raises ProofError otherwise."""
    if not isinstance(state_root, bytes) or len(state_root) != 32:
        raise ProofError(f"state root must be 32 bytes, got {state_root!r}")
    if not isinstance(proof_json, dict):
        raise ProofError(f"proof must be a JSON object, got {type(proof_json).__name__}")
    root = int.from_bytes(state_root, "big")
    if root >= FIELD_MODULUS:
        raise ProofError("state root is not a BN254 field element")
    claimed_root = proof_json.get("stateRoot")
    if claimed_root is not None and _hex_bytes(claimed_root, "stateRoot", 32) != state_root:
        raise ProofError(f"proof is for stateRoot {claimed_root}, expected 0x{state_root.hex()}")
    address = _hex_bytes(_field(proof_json, "address"), "address", 20)
    nonce = _quantity(_field(proof_json, "nonce"), "nonce")
    balance = _quantity(_field(proof_json, "balance"), "balance")
    smt = _field(proof_json, "smtProof")
    if not isinstance(smt, dict):
        raise ProofError("smtProof must be a JSON object")
    proof, key, value = _parse_smt(smt)
    _check_account_proof_list(proof_json.get("accountProof"), proof.siblings)
    try:
        expected_value = pack_account(nonce, balance)
    except ValueError as exc:
        raise ProofError(str(exc)) from None
    if key != account_key(address):
        raise ProofError(f"smtProof.key is not the account key of 0x{address.hex()}")
    if value != expected_value:
        raise ProofError("smtProof.value does not match the claimed nonce and balance")
    if proof.found != bool(value):
        raise ProofError("smtProof.found contradicts the value (nonce 0 and balance 0 means absent)")
    if not verify_proof(root, key, value, proof):
        raise ProofError(f"the Poseidon path does not lead to root 0x{state_root.hex()}")
    return AccountState(address, nonce, balance, exists=proof.found)


def _parse_smt(smt: dict[str, Any]) -> tuple[SmtProof, int, int]:
    """The circomlib-shaped proof object: (proof, key, value)."""
    siblings = _field(smt, "siblings")
    if not isinstance(siblings, list) or len(siblings) > MAX_DEPTH:
        raise ProofError(f"smtProof.siblings must be an array of at most {MAX_DEPTH} field elements")
    proof = SmtProof(
        siblings=tuple(_element(s, "smtProof.siblings[]") for s in siblings),
        found=_bool(_field(smt, "found"), "smtProof.found"),
        not_found_key=_element(smt.get("notFoundKey", "0x0"), "smtProof.notFoundKey"),
        not_found_value=_element(smt.get("notFoundValue", "0x0"), "smtProof.notFoundValue"),
        is_old0=_bool(smt.get("isOld0", False), "smtProof.isOld0"),
    )
    key = _element(_field(smt, "key"), "smtProof.key")
    return proof, key, _element(_field(smt, "value"), "smtProof.value")


def _check_account_proof_list(account_proof: Any, siblings: tuple[int, ...]) -> None:
    """`accountProof` (the Ethereum-shaped sibling list) may be absent, but must not disagree."""
    if account_proof is None:
        return
    if not isinstance(account_proof, list):
        raise ProofError("accountProof must be an array")
    if tuple(_element(s, "accountProof[]") for s in account_proof) != siblings:
        raise ProofError("accountProof differs from smtProof.siblings")


def _field(obj: dict[str, Any], name: str) -> Any:
    if name not in obj:
        raise ProofError(f"proof lacks {name!r}")
    return obj[name]


def _hex_digits(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or not set(value[2:]) <= _HEX_DIGITS:
        raise ProofError(f"{what} must be a 0x-prefixed hex string, got {value!r}")
    return value[2:]


def _hex_bytes(value: Any, what: str, size: int) -> bytes:
    digits = _hex_digits(value, what)
    if len(digits) != 2 * size:
        raise ProofError(f"{what} must be {size} bytes, got {len(digits)} hex digits")
    return bytes.fromhex(digits)


def _quantity(value: Any, what: str) -> int:
    digits = _hex_digits(value, what)
    if not digits or len(digits) > 64:
        raise ProofError(f"{what} must be a hex quantity of 1 to 64 digits, got {value!r}")
    return int(digits, 16)


def _element(value: Any, what: str) -> int:
    """A field element: hex, at most 32 bytes, below the BN254 modulus."""
    x = _quantity(value, what)
    if x >= FIELD_MODULUS:
        raise ProofError(f"{what} is not a BN254 field element: {value}")
    return x


def _bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ProofError(f"{what} must be true or false, got {value!r}")
    return value
