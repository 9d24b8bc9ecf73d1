"""secp256k1 signing/recovery against eth_keys, the signature-value rules, and keccak256."""

from __future__ import annotations

import os
import threading

import pytest
from Crypto.Hash import keccak as pycryptodome_keccak
from eth_account import Account
from eth_keys import keys
from hypothesis import given, settings
from hypothesis import strategies as st

from jovay.crypto.keccak import keccak256
from jovay.crypto.secp256k1 import (
    SECP256K1_HALF_N,
    SECP256K1_N,
    address_of,
    public_key_to_address,
    recover_address,
    recover_public_key,
    sign,
)
from jovay.errors import InvalidTransaction

KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")
SECP256K1_P = 2**256 - 2**32 - 977

private_keys = st.integers(min_value=1, max_value=SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
hashes = st.binary(min_size=32, max_size=32)


# --- keccak -----------------------------------------------------------------------------------------


def test_keccak_known_vectors() -> None:
    assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
    assert keccak256(b"abc").hex() == "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"


@pytest.mark.parametrize("size", [0, 1, 31, 32, 55, 56, 135, 136, 137, 271, 272, 1000, 200_000])
def test_keccak_matches_pycryptodome(size: int) -> None:
    data = os.urandom(size)
    assert keccak256(data) == pycryptodome_keccak.new(data=data, digest_bits=256).digest()


def test_keccak_accepts_bytes_like() -> None:
    assert keccak256(bytearray(b"abc")) == keccak256(memoryview(b"abc")) == keccak256(b"abc")


def test_keccak_is_thread_safe() -> None:
    errors: list[bytes] = []

    def work() -> None:
        for i in range(3000):
            data = os.urandom(i % 400)
            if keccak256(data) != pycryptodome_keccak.new(data=data, digest_bits=256).digest():
                errors.append(data)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


# --- signing and recovery ---------------------------------------------------------------------------


def test_address_of_matches_eth_account() -> None:
    assert address_of(KEY) == bytes.fromhex(Account.from_key(KEY).address[2:])


@settings(max_examples=50, deadline=None)
@given(private_keys, hashes)
def test_sign_matches_eth_keys_and_recovers(private_key: bytes, msg_hash: bytes) -> None:
    v, r, s = sign(msg_hash, private_key)
    expected = keys.PrivateKey(private_key).sign_msg_hash(msg_hash)
    assert (v, r, s) == (expected.v, expected.r, expected.s)
    assert s <= SECP256K1_HALF_N
    assert recover_address(msg_hash, v, r, s) == address_of(private_key)
    assert recover_public_key(msg_hash, v, r, s) == keys.PrivateKey(private_key).public_key.to_bytes()


def test_public_key_to_address_accepts_prefixed_key() -> None:
    public = keys.PrivateKey(KEY).public_key.to_bytes()
    assert public_key_to_address(public) == public_key_to_address(b"\x04" + public) == address_of(KEY)
    with pytest.raises(ValueError):
        public_key_to_address(public[:-1])


def _valid_signature() -> tuple[bytes, int, int, int]:
    msg_hash = keccak256(b"jovay")
    v, r, s = sign(msg_hash, KEY)
    return msg_hash, v, r, s


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda v, r, s: (v, 0, s), id="r=0"),
        pytest.param(lambda v, r, s: (v, r, 0), id="s=0"),
        pytest.param(lambda v, r, s: (v, SECP256K1_N, s), id="r=n"),
        pytest.param(lambda v, r, s: (v, r, SECP256K1_N), id="s=n"),
        pytest.param(lambda v, r, s: (v, SECP256K1_N + 1, s), id="r>n"),
        pytest.param(lambda v, r, s: (1 - v, r, SECP256K1_N - s), id="high-s (EIP-2)"),
        pytest.param(lambda v, r, s: (v, r, SECP256K1_HALF_N + 1), id="s=n/2+1"),
        pytest.param(lambda v, r, s: (2, r, s), id="v=2"),
        pytest.param(lambda v, r, s: (27, r, s), id="v=27"),
        pytest.param(lambda v, r, s: (-1, r, s), id="v=-1"),
    ],
)
def test_rejects_invalid_signature_values(mutate) -> None:  # type: ignore[no-untyped-def]
    msg_hash, v, r, s = _valid_signature()
    v, r, s = mutate(v, r, s)
    with pytest.raises(InvalidTransaction, match=r"^invalid transaction v, r, s values$"):
        recover_address(msg_hash, v, r, s)


def test_high_s_twin_would_recover_same_key_but_is_rejected() -> None:
    """The malleable twin (n - s, flipped parity) is a valid ECDSA signature; EIP-2 forbids it."""
    msg_hash, v, r, s = _valid_signature()
    twin = keys.Signature(vrs=(1 - v, r, SECP256K1_N - s))
    assert twin.recover_public_key_from_msg_hash(msg_hash).to_canonical_address() == address_of(KEY)
    with pytest.raises(InvalidTransaction):
        recover_address(msg_hash, 1 - v, r, SECP256K1_N - s)


def test_s_equal_half_n_is_accepted_by_the_range_rule() -> None:
    msg_hash, v, r, _ = _valid_signature()
    try:
        recover_address(msg_hash, v, r, SECP256K1_HALF_N)
    except InvalidTransaction as exc:
        assert exc.message == "invalid sender"  # only if no key matches; never the range error


def _r_not_on_curve() -> int:
    """Smallest x with x^3 + 7 a non-residue mod p: no curve point, so no recovery."""
    x = 1
    while pow((x**3 + 7) % SECP256K1_P, (SECP256K1_P - 1) // 2, SECP256K1_P) == 1:
        x += 1
    return x


def test_unrecoverable_signature_is_invalid_sender() -> None:
    msg_hash, v, _, s = _valid_signature()
    with pytest.raises(InvalidTransaction, match=r"^invalid sender$") as info:
        recover_address(msg_hash, v, _r_not_on_curve(), s)
    assert info.value.rpc_code == -32000
