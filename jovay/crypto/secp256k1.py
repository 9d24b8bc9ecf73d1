"""secp256k1 signing and sender recovery over libsecp256k1 (coincurve).

Signature values are checked as geth's `ValidateSignatureValues` with Homestead rules: `0 < r < n`,
`0 < s <= n/2` (EIP-2 low s) and a y parity of 0 or 1, so a transaction has exactly one valid
signature and hence one hash.
"""

from __future__ import annotations

from coincurve import PrivateKey, PublicKey

from jovay.crypto.keccak import keccak256
from jovay.errors import InvalidTransaction

__all__ = [
    "SECP256K1_N",
    "SECP256K1_HALF_N",
    "recover_address",
    "recover_public_key",
    "sign",
    "address_of",
    "public_key_to_address",
    "validate_signature_values",
]

try:  # coincurve's own cffi binding of libsecp256k1 (coincurve is pinned): the direct recovery path
    from coincurve._libsecp256k1 import ffi as _ffi
    from coincurve._libsecp256k1 import lib as _lib
    from coincurve.context import GLOBAL_CONTEXT as _GLOBAL_CONTEXT

    _ctx = _GLOBAL_CONTEXT.ctx
    _UNCOMPRESSED = _lib.SECP256K1_EC_UNCOMPRESSED
except (ImportError, AttributeError):  # another coincurve layout: its public API serves
    _ffi = _lib = _ctx = None
    _UNCOMPRESSED = 0

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SECP256K1_HALF_N = SECP256K1_N // 2

_INVALID_SIG = "invalid transaction v, r, s values"
_INVALID_SENDER = "invalid sender"


def validate_signature_values(v_parity: int, r: int, s: int) -> None:
    """Reject anything but a canonical low-s signature (geth's message)."""
    if v_parity not in (0, 1) or not 0 < r < SECP256K1_N or not 0 < s <= SECP256K1_HALF_N:
        raise InvalidTransaction(_INVALID_SIG)


def recover_public_key(msg_hash: bytes, v_parity: int, r: int, s: int) -> bytes:
    """The 64-byte uncompressed public key (no 0x04 prefix) that signed `msg_hash`."""
    validate_signature_values(v_parity, r, s)
    compact = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if _lib is not None and len(msg_hash) == 32:
        return _recover_direct(compact, v_parity, msg_hash)
    try:
        public_key = PublicKey.from_signature_and_message(compact + bytes((v_parity,)), msg_hash, hasher=None)
    except Exception as exc:  # coincurve raises ValueError / its own errors on a point-less r
        raise InvalidTransaction(_INVALID_SENDER) from exc
    return public_key.format(compressed=False)[1:]


def _recover_direct(compact: bytes, v_parity: int, msg_hash: bytes) -> bytes:
    """coincurve's `PublicKey.from_signature_and_message(...).format(compressed=False)` as the same
    three libsecp256k1 calls, without its Python objects (~10 us a transaction, on the admission path)."""
    assert _ffi is not None and _lib is not None
    signature = _ffi.new("secp256k1_ecdsa_recoverable_signature *")
    public_key = _ffi.new("secp256k1_pubkey *")
    if not (
        _lib.secp256k1_ecdsa_recoverable_signature_parse_compact(_ctx, signature, compact, v_parity)
        and _lib.secp256k1_ecdsa_recover(_ctx, public_key, signature, msg_hash)
    ):
        raise InvalidTransaction(_INVALID_SENDER)
    out = _ffi.new("unsigned char[65]")
    _lib.secp256k1_ec_pubkey_serialize(_ctx, out, _ffi.new("size_t *", 65), public_key, _UNCOMPRESSED)
    return _ffi.buffer(out, 65)[1:]


def recover_address(msg_hash: bytes, v_parity: int, r: int, s: int) -> bytes:
    """The 20-byte address that signed `msg_hash`; InvalidTransaction if there is none."""
    return keccak256(recover_public_key(msg_hash, v_parity, r, s))[12:]


def sign(msg_hash: bytes, private_key: bytes) -> tuple[int, int, int]:
    """Deterministic (RFC 6979) low-s signature as (y parity, r, s), as eth_keys produces."""
    signature = PrivateKey(private_key).sign_recoverable(msg_hash, hasher=None)
    return signature[64], int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")


def public_key_to_address(public_key: bytes) -> bytes:
    """Address of a 64-byte (or 65-byte 0x04-prefixed) uncompressed public key."""
    if len(public_key) == 65:
        public_key = public_key[1:]
    if len(public_key) != 64:
        raise ValueError(f"public key must be 64 bytes, got {len(public_key)}")
    return keccak256(public_key)[12:]


def address_of(private_key: bytes) -> bytes:
    """The 20-byte address of a 32-byte private key."""
    return public_key_to_address(PrivateKey(private_key).public_key.format(compressed=False))
