"""State keys follow the architecture table (and circomlibjs's Poseidon); values pack and unpack."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jovay.crypto.poseidon import poseidon
from jovay.params import IDENTITY_REGISTRY, MAX_UINT128
from jovay.state.keys import (
    account_key,
    allowance_key,
    allowlist_key,
    pack_account,
    pack_string,
    system_field_key,
    token_balance_key,
    token_field_key,
    unpack_account,
    unpack_string,
)

ROOT = Path(__file__).resolve().parents[2]
VECTOR_SCRIPT = ROOT / "tests" / "vectors" / "gen_circomlib_vectors.mjs"

ALICE = bytes.fromhex("ab" * 20)
BOB = bytes.fromhex("ff" * 20)
TOKEN = bytes.fromhex("4a6f766179010000000000000000000000000007")


def as_int(address: bytes) -> int:
    return int.from_bytes(address, "big")


@pytest.mark.skipif(
    not (ROOT / "node_modules" / "circomlibjs").is_dir() or shutil.which("node") is None,
    reason="circomlibjs reference vectors need node and node_modules/circomlibjs (run `npm ci`)",
)
def test_keys_equal_circomlibjs() -> None:
    out = subprocess.run(
        ["node", str(VECTOR_SCRIPT)], cwd=ROOT, check=True, capture_output=True, text=True, timeout=120
    )
    functions = {
        "account": account_key,
        "token_balance": token_balance_key,
        "allowance": allowance_key,
        "token_field": token_field_key,
        "allowlist": allowlist_key,
        "system_field": system_field_key,
    }
    vectors = json.loads(out.stdout)["keys"]
    assert {v["name"] for v in vectors} == set(functions)
    for vector in vectors:
        args = [bytes.fromhex(a[2:]) if a.startswith("0x") else int(a) for a in vector["args"]]
        assert functions[vector["name"]](*args) == int(vector["key"]), vector


def test_keys_follow_the_table() -> None:
    assert account_key(ALICE) == poseidon([1, as_int(ALICE)])
    assert token_balance_key(TOKEN, ALICE) == poseidon([2, as_int(TOKEN), as_int(ALICE)])
    assert allowance_key(TOKEN, ALICE, BOB) == poseidon([3, as_int(TOKEN), as_int(ALICE), as_int(BOB)])
    assert token_field_key(TOKEN, 4) == poseidon([4, as_int(TOKEN), 4])
    assert allowlist_key(IDENTITY_REGISTRY) == poseidon([5, as_int(IDENTITY_REGISTRY)])
    assert system_field_key(2) == poseidon([6, 2])


def test_domains_separate_keys() -> None:
    keys = {
        account_key(ALICE),
        allowlist_key(ALICE),
        token_balance_key(TOKEN, ALICE),
        token_balance_key(ALICE, TOKEN),
        allowance_key(TOKEN, ALICE, BOB),
        allowance_key(TOKEN, BOB, ALICE),
        token_field_key(TOKEN, 0),
        system_field_key(0),
    }
    assert len(keys) == 8


def test_keys_are_cached() -> None:
    account_key.cache_clear()
    account_key(BOB)
    account_key(BOB)
    info = account_key.cache_info()
    assert (info.hits, info.misses) == (1, 1)
    assert info.maxsize is not None and info.maxsize > 0


@pytest.mark.parametrize("bad", [b"", bytes(19), bytes(21), "ab" * 20, 5])
def test_bad_addresses_are_rejected(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        account_key(bad)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        token_balance_key(TOKEN, bad)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        allowance_key(bad, ALICE, BOB)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        allowlist_key(bad)  # type: ignore[arg-type]


def test_bad_fields_are_rejected() -> None:
    for field in [-1, 5]:
        with pytest.raises(ValueError):
            token_field_key(TOKEN, field)
    for field in [-1, 4]:
        with pytest.raises(ValueError):
            system_field_key(field)


@given(st.integers(0, (1 << 64) - 1), st.integers(0, MAX_UINT128))
def test_account_roundtrip(nonce: int, balance: int) -> None:
    packed = pack_account(nonce, balance)
    assert packed == nonce << 128 | balance
    assert unpack_account(packed) == (nonce, balance)


def test_account_ranges() -> None:
    assert unpack_account(0) == (0, 0)
    for nonce, balance in [(-1, 0), (1 << 64, 0), (0, -1), (0, 1 << 128)]:
        with pytest.raises(ValueError):
            pack_account(nonce, balance)
    for value in [-1, 1 << 192]:
        with pytest.raises(ValueError):
            unpack_account(value)


@given(st.binary(max_size=30))
def test_string_roundtrip(s: bytes) -> None:
    packed = pack_string(s)
    assert packed == len(s) << 240 | int.from_bytes(s.ljust(30, b"\0"), "big")
    assert unpack_string(packed) == s


def test_string_examples_and_ranges() -> None:
    assert pack_string(b"USD") == 3 << 240 | int.from_bytes(b"USD" + bytes(27), "big")
    assert unpack_string(0) == b""
    assert unpack_string(pack_string(b"a\0")) == b"a\0"  # trailing zero bytes survive: length is kept
    with pytest.raises(ValueError):
        pack_string(bytes(31))
    for bad in [-1, 31 << 240, 1 << 250, pack_string(b"ab") | 1]:
        with pytest.raises(ValueError):
            unpack_string(bad)


def test_split_u256_halves_fit_the_field_and_rebuild_the_value() -> None:
    from jovay.crypto.poseidon import FIELD_MODULUS
    from jovay.state.keys import split_u256

    for value in (0, 1, (1 << 128) - 1, 1 << 128, FIELD_MODULUS, (1 << 256) - 1):
        hi, lo = split_u256(value)
        assert hi < 1 << 128 and lo < 1 << 128 and hi < FIELD_MODULUS
        assert hi << 128 | lo == value


def test_every_state_domain_tag_is_distinct() -> None:
    """All domains live in keys.py, so two system contracts can never derive the same key by accident."""
    from jovay.state import keys

    tags = {name: value for name, value in vars(keys).items() if name.startswith("DOMAIN_")}
    assert len(tags) >= 19
    assert len(set(tags.values())) == len(tags), tags
