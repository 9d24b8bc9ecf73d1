"""Faulty modes: refused off the devnet; each breaks exactly the rule it names, and only while active."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from jovay.codec.batch import ITEM_DEPOSIT, ITEM_TRANSACTION, BatchBlock, BatchItem, deposit_payload
from jovay.codec.transactions import DynamicFeeTx, decode_transaction, sign_transaction
from jovay.crypto.secp256k1 import address_of
from jovay.errors import InvalidTransaction, JovayError
from jovay.node import check_faulty_allowed
from jovay.params import BLOCK_GAS_LIMIT, DEFAULT_L2_CHAIN_ID, TOKEN_ADDRESS_PREFIX
from jovay.state.keys import account_key, allowlist_key, pack_account, system_field_key, token_balance_key
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from prover.fault.execution import ItemRules, item_roots
from prover.fault.faulty import FAULTY_MODES, FaultyMode

RULES = ItemRules(DEFAULT_L2_CHAIN_ID, BLOCK_GAS_LIMIT)
KEY = bytes([5]) * 32
SENDER = address_of(KEY)
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")


@dataclass
class _Eth:
    chain_id: int


@dataclass
class _W3:
    eth: _Eth


@pytest.mark.parametrize(("chain_id", "devnet"), [(1, True), (31337, False), (11155111, True)])
def test_faulty_modes_are_refused_off_the_devnet(chain_id: int, devnet: bool) -> None:
    with pytest.raises(JovayError, match="devnet only"):
        check_faulty_allowed(_W3(_Eth(chain_id)), devnet)  # type: ignore[arg-type]


def test_faulty_modes_are_allowed_on_the_devnet() -> None:
    check_faulty_allowed(_W3(_Eth(31337)), True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown faulty mode"):
        FaultyMode("be-nice", RULES)


def _transfer(nonce: int = 0, to: bytes = b"\x11" * 20, data: bytes = b"", gas: int = 21_000) -> bytes:
    return sign_transaction(
        DynamicFeeTx(DEFAULT_L2_CHAIN_ID, nonce, 10**6, 10**9, gas, to, 0 if data else 5, data), KEY
    )


def _item(payload: bytes, kind: int = ITEM_TRANSACTION) -> BatchItem:
    return BatchItem(kind, 1, 1, 10**7, payload)


STATE = {
    account_key(SENDER): pack_account(0, 10**20),
    system_field_key(1): 1,
    token_balance_key(TOKEN, SENDER): 100,
}
TOKEN_CALL = bytes.fromhex("a9059cbb") + (b"\x77" * 20).rjust(32, b"\x00") + (5).to_bytes(32, "big")


def _bad_items(mode: FaultyMode) -> list[BatchItem]:
    """One item per mode on which the mode departs from the rules."""
    key_bytes = KEY
    if mode.name in ("forged-signature", "skip-nonce"):
        block = BatchBlock(1, 1, 10**7, 0, [])
        tampered = mode.tamper(key_bytes, DEFAULT_L2_CHAIN_ID, lambda: True)
        assert tampered([block]) == [block]  # the first funded batch is let through...
        [injected] = tampered([block])[0].raw_txs  # ...the next one carries the bad transfer
        assert tampered([block]) == [block]  # once
        return [_item(injected)]
    return {
        "inflate-balance": [_item(_transfer())],
        "drop-deposit": [_item(deposit_payload(0, b"\x01" * 20, b"\x02" * 20, 10**18), ITEM_DEPOSIT)],
        "skip-compliance": [_item(_transfer(to=TOKEN, data=TOKEN_CALL, gas=100_000))],
        "wrong-root": [_item(_transfer())],
    }[mode.name]


@pytest.mark.parametrize("name", FAULTY_MODES)
def test_each_mode_departs_from_the_rules_while_active(name: str) -> None:
    mode = FaultyMode(name, RULES)
    items = _bad_items(mode)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(STATE)
    honest = item_roots(store, pre, items, RULES.apply)[-1]
    faulty = mode.wrong_root(item_roots(store, pre, items, mode.executor())[-1])
    assert faulty != honest
    mode.active = False
    assert mode.wrong_root(item_roots(store, pre, items, mode.executor())[-1]) == honest


def test_forged_signature_is_refused_by_the_rules() -> None:
    mode = FaultyMode("forged-signature", RULES)
    [item] = _bad_items(mode)
    with pytest.raises(InvalidTransaction, match="invalid transaction v, r, s values"):
        decode_transaction(item.payload, expected_chain_id=DEFAULT_L2_CHAIN_ID)


def test_skip_compliance_only_skips_the_allowlist() -> None:
    """A recipient already allowed is unaffected; the allowlist itself is left as it was."""
    mode = FaultyMode("skip-compliance", RULES)
    store = MemoryNodeStore()
    allowed = STATE | {allowlist_key(b"\x77" * 20): 1}
    pre = SparseMerkleTree(store).update_many(allowed)
    item = _bad_items(mode)[0]
    assert item_roots(store, pre, [item], mode.executor()) == item_roots(store, pre, [item], RULES.apply)
    pre = SparseMerkleTree(store).update_many(STATE)
    after = SparseMerkleTree(store, item_roots(store, pre, [item], mode.executor())[-1])
    assert (
        after.get(allowlist_key(b"\x77" * 20)) == 0 and after.get(token_balance_key(TOKEN, b"\x77" * 20)) == 5
    )
