"""State keys and value packing (docs/architecture.md, "State commitment").

Every state entry is one field element under a key `Poseidon(domain, ...)`, addresses taken as
integers. A Poseidon hash costs about as much as a tree level, and the STF derives a key on every
state access, so the key functions are cached (bounded LRU; keys never change).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from jovay.crypto.poseidon import poseidon
from jovay.params import MAX_STRING_BYTES, MAX_UINT128

DOMAIN_ACCOUNT: Final = 1
DOMAIN_TOKEN_BALANCE: Final = 2
DOMAIN_ALLOWANCE: Final = 3
DOMAIN_TOKEN_FIELD: Final = 4
DOMAIN_ALLOWLIST: Final = 5
DOMAIN_SYSTEM_FIELD: Final = 6

# Domains of the RWA system contracts (their key functions live next to their operations).
DOMAIN_ATTESTOR: Final = 16
DOMAIN_LAST_SEQUENCE: Final = 17
DOMAIN_ATTESTATION_HI: Final = 18
DOMAIN_ATTESTATION_LO: Final = 19
DOMAIN_ASSET_FIELD: Final = 20
DOMAIN_SUBSCRIPTION: Final = 21
DOMAIN_AGENT: Final = 22
DOMAIN_FROZEN: Final = 23
DOMAIN_TOKEN_ASSET: Final = 24
DOMAIN_HOLDER_COUNT: Final = 25
DOMAIN_COMPLIANCE_OFFICER: Final = 26
DOMAIN_AUDITOR_ATTESTATIONS: Final = 27
DOMAIN_CLAIMS: Final = 28
DOMAIN_REVENUE_CHECKPOINT: Final = 29
DOMAIN_REVENUE_OWED: Final = 30
DOMAIN_FROZEN_TOKENS: Final = 31
DOMAIN_REGULATOR: Final = 32
DOMAIN_WITHDRAWAL: Final = 33

TOKEN_FIELD_COUNT: Final = 5  # 0 issuer, 1 name, 2 symbol, 3 decimals, 4 totalSupply
SYSTEM_FIELD_COUNT: Final = 4  # 0 identity admin, 1 number of tokens, 2 next L1 message index,
# 3 next withdrawal index

KEY_CACHE_SIZE: Final = 1 << 18  # per key function; an entry costs a few hundred bytes

_NONCE_LIMIT = 1 << 64
_STRING_BITS = 8 * MAX_STRING_BYTES  # 240: the length sits above the padded bytes


def _address(address: bytes) -> int:
    if not isinstance(address, bytes) or len(address) != 20:
        raise ValueError(f"state key wants a 20-byte address, got {address!r}")
    return int.from_bytes(address, "big")


def _field(field: int, count: int, what: str) -> int:
    if not 0 <= field < count:
        raise ValueError(f"{what} field must be in [0, {count}), got {field}")
    return field


@lru_cache(maxsize=KEY_CACHE_SIZE)
def account_key(address: bytes) -> int:
    """P(1, address): value `nonce << 128 | balance`."""
    return poseidon((DOMAIN_ACCOUNT, _address(address)))


@lru_cache(maxsize=KEY_CACHE_SIZE)
def token_balance_key(token: bytes, holder: bytes) -> int:
    """P(2, token, holder): the holder's balance of token."""
    return poseidon((DOMAIN_TOKEN_BALANCE, _address(token), _address(holder)))


@lru_cache(maxsize=KEY_CACHE_SIZE)
def allowance_key(token: bytes, owner: bytes, spender: bytes) -> int:
    """P(3, token, owner, spender): what spender may move of owner's token."""
    return poseidon((DOMAIN_ALLOWANCE, _address(token), _address(owner), _address(spender)))


@lru_cache(maxsize=KEY_CACHE_SIZE)
def token_field_key(token: bytes, field: int) -> int:
    """P(4, token, field): issuer, name, symbol, decimals, totalSupply."""
    return poseidon((DOMAIN_TOKEN_FIELD, _address(token), _field(field, TOKEN_FIELD_COUNT, "token")))


@lru_cache(maxsize=KEY_CACHE_SIZE)
def allowlist_key(holder: bytes) -> int:
    """P(5, holder): 1 when the identity registry allows holder."""
    return poseidon((DOMAIN_ALLOWLIST, _address(holder)))


@lru_cache(maxsize=64)
def system_field_key(field: int) -> int:
    """P(6, field): identity admin, number of tokens, next L1 message index, next withdrawal index."""
    return poseidon((DOMAIN_SYSTEM_FIELD, _field(field, SYSTEM_FIELD_COUNT, "system")))


def withdrawal_key(index: int) -> int:
    """P(33, index): the L2-to-L1 withdrawal message with this index (value `withdrawal_value`)."""
    if not 0 <= index < _NONCE_LIMIT:
        raise ValueError(f"withdrawal index out of range [0, 2^64): {index}")
    return poseidon((DOMAIN_WITHDRAWAL, index))


def withdrawal_value(sender: bytes, l1_recipient: bytes, amount: int) -> int:
    """P(sender, l1Recipient, amount): what L1 checks a withdrawal claim against (never 0 in practice)."""
    if not 0 < amount <= MAX_UINT128:
        raise ValueError(f"withdrawal amount out of range (0, 2^128): {amount}")
    return poseidon((_address(sender), _address(l1_recipient), amount))


def pack_account(nonce: int, balance: int) -> int:
    """An account's value: `nonce << 128 | balance`."""
    if not 0 <= nonce < _NONCE_LIMIT:
        raise ValueError(f"account nonce out of range [0, 2^64): {nonce}")
    if not 0 <= balance <= MAX_UINT128:
        raise ValueError(f"account balance out of range [0, 2^128): {balance}")
    return nonce << 128 | balance


def unpack_account(value: int) -> tuple[int, int]:
    """(nonce, balance) of an account's value; (0, 0) for an absent account."""
    if not 0 <= value < _NONCE_LIMIT << 128:
        raise ValueError(f"not an account value: {value}")
    return value >> 128, value & MAX_UINT128


def split_u256(value: int) -> tuple[int, int]:
    """A uint256 (asset id, bytes32 commitment) as (high 128 bits, low 128 bits): each fits a field
    element, so two different values never meet after reduction mod p."""
    return value >> 128, value & ((1 << 128) - 1)


def pack_string(s: bytes) -> int:
    """A name or symbol of at most 30 bytes: `len << 240 | s padded with zeros to 30 bytes`."""
    if len(s) > MAX_STRING_BYTES:
        raise ValueError(f"string longer than {MAX_STRING_BYTES} bytes: {len(s)}")
    return len(s) << _STRING_BITS | int.from_bytes(bytes(s).ljust(MAX_STRING_BYTES, b"\0"), "big")


def unpack_string(value: int) -> bytes:
    """Inverse of pack_string; b"" for an absent entry."""
    length = value >> _STRING_BITS
    if value < 0 or length > MAX_STRING_BYTES:
        raise ValueError(f"not a packed string: {value}")
    padded = (value & ((1 << _STRING_BITS) - 1)).to_bytes(MAX_STRING_BYTES, "big")
    if any(padded[length:]):
        raise ValueError(f"packed string has bytes past its length {length}")
    return padded[:length]
