"""Parity: the Python state machine and the Solidity one-step proof agree on random single items.

Hypothesis draws a small random state (accounts with random nonces and balances, some absent, a token
count) and one random item: a signed transaction of any type, from a funded or unfunded key, with a
right or wrong chain id and nonce, fees above or below the base fee, gas from too little to over the
block limit, value beyond the balance, ETH or calldata sent to plain accounts, system contracts or
tokens (payable functions and the L2 bridge's withdraw among them), contract creation, a corrupted
signature (high s, another r, another parity) or corrupted bytes; or a deposit from the real L1 queue,
in or out of order. The root after the item from `prover.fault.execution` (which calls jovay/stf) must
equal what OneStepProof.execute returns on anvil from the same witness, in every case, including every
rejection. Calls the one-step proof does not cover (see docs/architecture.md) are left out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jovay.codec.abi import encode_values
from jovay.codec.abi import selector as abi_selector
from jovay.codec.batch import ITEM_DEPOSIT, ITEM_TRANSACTION, BatchItem, deposit_payload, item_leaf
from jovay.codec.transactions import (
    AccessListTx,
    DynamicFeeTx,
    LegacyTx,
    decode_transaction,
    encode_transaction,
    sign_transaction,
)
from jovay.crypto.secp256k1 import SECP256K1_N
from jovay.errors import InvalidTransaction
from jovay.l1.contracts import one_step_asset_gas
from jovay.l1.messages import rolling_hash
from jovay.params import (
    ASSET_REGISTRY,
    BLOCK_GAS_LIMIT,
    FEE_VAULT,
    IDENTITY_REGISTRY,
    L2_BRIDGE,
    MAX_UINT128,
    TOKEN_ADDRESS_PREFIX,
)
from jovay.state.keys import (
    account_key,
    allowance_key,
    allowlist_key,
    pack_account,
    system_field_key,
    token_balance_key,
    token_field_key,
    withdrawal_key,
    withdrawal_value,
)
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree
from jovay.stf import system
from jovay.stf.assets import (
    F_ISSUER,
    F_MAX_BALANCE,
    F_MAX_SUBSCRIPTION,
    F_MIN_SUBSCRIPTION,
    F_PRICE,
    F_REDEMPTION_POOL,
    F_REQUIREMENTS,
    F_REVENUE_PER_UNIT,
    F_RULES,
    F_STATUS,
    F_SUPPLY_CAP,
    F_TERMS,
    F_TOKEN,
    F_WINDOW,
    agent_key,
    asset_field_key,
    frozen_key,
    frozen_tokens_key,
    holder_count_key,
    token_asset_key,
)
from jovay.stf.cashflow import revenue_checkpoint_key, revenue_owed_key
from jovay.stf.identity import claims_key, compliance_officer_key, regulator_key
from prover.fault.execution import step_witness
from tests.prover.parity import (
    BASE_FEE,
    CHAIN_ID,
    DEPOSITS,
    KEYS,
    RULES,
    SENDERS,
    TOKEN_1,
    check_parity,
    execute_on_l1,
)

TOKEN_2 = TOKEN_ADDRESS_PREFIX + (2).to_bytes(14, "big")
TOKEN_9 = TOKEN_ADDRESS_PREFIX + (9).to_bytes(14, "big")
TRANSFER = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
TRANSFER_FROM = bytes.fromhex("23b872dd")  # transferFrom(address,address,uint256)
APPROVE = bytes.fromhex("095ea7b3")  # approve(address,uint256)
MINT = bytes.fromhex("40c10f19")  # mint(address,uint256)
BALANCE_OF = bytes.fromhex("70a08231")  # balanceOf(address)
WITHDRAW = abi_selector("withdraw(address)")
WITHDRAWAL_COUNT = abi_selector("withdrawalCount()")
WITHDRAWAL_HASH = abi_selector("withdrawalHash(uint256)")
RECOVER_IDENTITY = abi_selector("recoverIdentity(address,address)")
CREATE_TOKEN = abi_selector("createToken(string,string,uint8)")
ASSET_COVERED = {selector for selector, _ in one_step_asset_gas()}
# What OneStepProofAssets runs (ONE_STEP_DELEGATED_ASSET_FUNCTIONS), payable ones included.
ASSET_DELEGATED = {
    abi_selector(signature)
    for signature in (
        "depositRevenue(uint256)",
        "redeem(uint256)",
        "claimRevenue(uint256,address)",
        "claimRedemption(uint256,address)",
        "closeAsset(uint256)",
        "approveIssuance(uint256)",
        "startTrading(uint256)",
        "openIssuance(uint256,uint64,uint64,uint128,uint128,uint128)",
        "subscribe(uint256,uint128)",
        "registerAsset(address,uint8,bytes32,bytes32)",
        "structureAsset(uint256,uint8,uint64,uint32,uint128)",
        "createToken(string,string,uint8)",
        "tokenizeAsset(uint256,string,string,uint8)",
    )
}
FIXED = {contract.address: contract for contract in system.fixed_system_contracts()}


addresses = st.sampled_from(
    [
        *SENDERS,
        bytes(20),
        b"\x11" * 20,
        FEE_VAULT,
        IDENTITY_REGISTRY,
        ASSET_REGISTRY,
        L2_BRIDGE,
        TOKEN_1,
        TOKEN_9,
    ]
)


@st.composite
def states(draw: st.DrawFn) -> dict[int, int]:
    leaves: dict[int, int] = {}
    for address in [*SENDERS, b"\x11" * 20, FEE_VAULT]:
        if draw(st.sampled_from([True, True, True, False])):
            # Near 2^128 only where a credit may overflow inside the call (the recipient): the fee
            # vault's tip and the sender's refund cannot overflow while all ETH is below 2^128 wei.
            near_max = [MAX_UINT128 - 10**6] if address == b"\x11" * 20 else []
            balance = draw(
                st.one_of(st.sampled_from([0, 10**18, 10**20, *near_max]), st.integers(10**15, 10**20))
            )
            leaves[account_key(address)] = pack_account(draw(st.sampled_from([0, 0, 0, 1, 3])), balance)
    leaves[system_field_key(0)] = int.from_bytes(draw(st.sampled_from(SENDERS[:2])), "big")  # identity admin
    leaves[system_field_key(1)] = draw(st.integers(0, 2))  # tokens created
    for holder in [*SENDERS, b"\x11" * 20]:
        if draw(st.booleans()):
            leaves[token_balance_key(TOKEN_1, holder)] = draw(st.sampled_from([1, 10**6, MAX_UINT128 // 2]))
        if draw(st.booleans()):
            leaves[allowlist_key(holder)] = 1
    if draw(st.booleans()):
        leaves[token_asset_key(TOKEN_2)] = 1  # a lifecycle token (asset 1 has no fields: not trading)
    for token_address in (TOKEN_1, TOKEN_2):
        issuer = draw(st.sampled_from([SENDERS[0], SENDERS[1]]))
        leaves[token_field_key(token_address, 0)] = int.from_bytes(issuer, "big")
        leaves[token_field_key(token_address, 4)] = draw(st.sampled_from([10**9, MAX_UINT128 - 5]))
    for spender in SENDERS[:2]:
        if draw(st.booleans()):
            allowance = draw(st.sampled_from([3, 10**6, 1 << 128]))
            leaves[allowance_key(TOKEN_1, SENDERS[1], spender)] = allowance
    leaves[system_field_key(2)] = draw(st.integers(0, len(DEPOSITS)))  # next L1 message
    return {k: v for k, v in leaves.items() if v}


@st.composite
def transactions(draw: st.DrawFn) -> bytes:
    key = draw(st.sampled_from(KEYS))
    kind = draw(st.sampled_from(["legacy", "2930", "1559"]))
    # A sane transfer, then up to two fields drawn from everything (most examples then break a rule).
    fields: dict[str, Any] = {
        "chain_id": CHAIN_ID,
        "nonce": 0,
        "gas": 21_000,
        "tip": 10**6,
        "fee_cap": 10**9,
        "to": b"\x11" * 20,
        "value": 10**15,
        "data": b"",
        "access": (),
    }
    wild: dict[str, st.SearchStrategy[Any]] = {
        "chain_id": st.sampled_from([CHAIN_ID, 1]),
        "nonce": st.sampled_from([0, 1, 2, 4]),
        "gas": st.sampled_from([20_999, 21_000, 30_000, 50_000, 100_000, BLOCK_GAS_LIMIT + 1]),
        "tip": st.sampled_from([0, 10**6, 10**9, 2 * 10**9]),
        "fee_cap": st.sampled_from([BASE_FEE - 1, BASE_FEE, 10**9, 2 * 10**9, 2**130]),
        "to": st.one_of(addresses, st.none()),
        "value": st.sampled_from([0, 1, 10**15, 10**19, 2**128]),
        "data": st.sampled_from(
            [
                b"\x00\x01",
                b"\x01\x02\x03\x04\x05",
                bytes.fromhex("a9059cbb") + bytes(64),
                WITHDRAW + (b"\x11" * 20).rjust(32, b"\x00"),
                WITHDRAWAL_COUNT,
                CREATE_TOKEN + encode_values(["string", "string", "uint8"], ["Bond", "BND", 6]),
            ]
        ),
        "access": st.sampled_from([((b"\x22" * 20, (b"\x33" * 32,)),), ((b"\x22" * 20, ()),)]),
    }
    for name in draw(st.lists(st.sampled_from(sorted(wild)), max_size=2)):
        fields[name] = draw(wild[name])
    chain_id, nonce, gas, tip, fee_cap = (fields[n] for n in ("chain_id", "nonce", "gas", "tip", "fee_cap"))
    to, value, data, access = (fields[n] for n in ("to", "value", "data", "access"))
    tx: Any
    if kind == "legacy":
        tx = LegacyTx(nonce, fee_cap, gas, to, value, data, chain_id)
    elif kind == "2930":
        tx = AccessListTx(chain_id, nonce, fee_cap, gas, to, value, data, access)
    else:
        tx = DynamicFeeTx(chain_id, nonce, tip, fee_cap, gas, to, value, data, access)
    raw = sign_transaction(tx, key)
    corruption = draw(st.sampled_from(["none"] * 12 + ["high-s", "r", "parity", "byte"]))
    if corruption == "byte":
        i = draw(st.integers(0, len(raw) - 1))
        return raw[:i] + bytes([raw[i] ^ draw(st.integers(1, 255))]) + raw[i + 1 :]
    if corruption == "none" or kind == "legacy":
        return raw
    try:
        inner = decode_transaction(raw, expected_chain_id=chain_id).tx
    except InvalidTransaction:
        return raw
    if corruption == "high-s":
        inner = dataclasses.replace(inner, s=SECP256K1_N - inner.s, y_parity=1 - inner.y_parity)
    elif corruption == "r":
        inner = dataclasses.replace(inner, r=draw(st.integers(1, SECP256K1_N - 1)))
    else:
        inner = dataclasses.replace(inner, y_parity=1 - inner.y_parity)
    return encode_transaction(inner)


def test_every_asset_registry_function_runs_on_l1() -> None:
    """The one-step proof runs every function of the asset registry (OneStepProof itself or
    OneStepProofAssets): a new function without its Solidity twin would make disputes over it undecidable."""
    registry = FIXED[ASSET_REGISTRY]
    assert registry.functions | registry.payable <= ASSET_COVERED | ASSET_DELEGATED


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states(), transactions(), st.integers(1, 10**6), st.sampled_from([BASE_FEE, 2 * BASE_FEE]))
def test_transactions_agree(l1: Any, leaves: dict[int, int], raw: bytes, number: int, base_fee: int) -> None:
    check_parity(l1, leaves, BatchItem(ITEM_TRANSACTION, number, 1_700_000_000 + number, base_fee, raw))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states(), st.integers(0, len(DEPOSITS) - 1))
def test_deposits_agree(l1: Any, leaves: dict[int, int], q: int) -> None:
    sender, to, value = l1[2][q]
    check_parity(l1, leaves, BatchItem(ITEM_DEPOSIT, 1, 1, BASE_FEE, deposit_payload(q, sender, to, value)))


def test_forged_deposit_is_skipped_on_l1(l1: Any) -> None:
    """A deposit item that is not what the L1 queue holds is skipped by the one-step proof (the node
    never builds one: its deposits come from the queue, and the commitment binds them)."""
    w3, dep, queued = l1
    sender, to, value = queued[0]
    assert dep.bridge(w3).functions.rollingHashAt(1).call() == rolling_hash(bytes(32), 0, sender, to, value)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many({account_key(to): pack_account(0, 1)})
    forged = BatchItem(ITEM_DEPOSIT, 1, 1, BASE_FEE, deposit_payload(0, sender, to, value + 1))
    witness = step_witness(store, pre, [forged], 0, lambda state, item: None)  # it touches nothing
    post = dep.one_step_proof(w3).functions.execute(
        pre.to_bytes(32, "big"), item_leaf(forged), 1, 0, witness.encode()
    )
    assert int.from_bytes(post.call(), "big") == pre


@st.composite
def token_transfers(draw: st.DrawFn) -> bytes:
    """A sane signed call to a token: any of its functions, random (sometimes malformed) arguments."""
    holders = [b"\x11" * 20, SENDERS[1], SENDERS[0], bytes(20), b"\x01" + b"\x11" * 20]
    word = st.sampled_from(holders).map(lambda a: a.rjust(32, b"\x00"))
    amount = st.sampled_from([0, 1, 10**6, 10**7, 2**128, 2**256 - 1]).map(lambda v: v.to_bytes(32, "big"))
    selector = draw(st.sampled_from([TRANSFER, TRANSFER_FROM, APPROVE, MINT, BALANCE_OF]))
    args = {TRANSFER_FROM: [word, word, amount], BALANCE_OF: [word]}.get(selector, [word, amount])
    data = selector + b"".join(draw(a) for a in args)
    if draw(st.integers(0, 9)) == 0:
        data = data[:-1]  # malformed calldata
    token_address = draw(st.sampled_from([TOKEN_1, TOKEN_1, TOKEN_1, TOKEN_2, TOKEN_9]))
    gas = draw(st.sampled_from([30_000, 60_000, 100_000]))
    tx = DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, gas, token_address, 0, data)
    return sign_transaction(tx, KEYS[0])


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states(), token_transfers(), st.sampled_from([1, 2]))
def test_token_transfers_agree(l1: Any, leaves: dict[int, int], raw: bytes, tokens: int) -> None:
    leaves = leaves | {account_key(SENDERS[0]): pack_account(0, 10**18), system_field_key(1): tokens}
    check_parity(l1, leaves, BatchItem(ITEM_TRANSACTION, 1, 1_700_000_000, BASE_FEE, raw))


def _token_call(to: bytes, amount: int, gas: int = 60_000, token_address: bytes = TOKEN_1) -> bytes:
    data = TRANSFER + to.rjust(32, b"\x00") + amount.to_bytes(32, "big")
    return sign_transaction(DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, gas, token_address, 0, data), KEYS[0])


def _w(address: bytes) -> bytes:
    return address.rjust(32, b"\x00")


def _u(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _token_data(*parts: bytes) -> bytes:
    tx = DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, 100_000, TOKEN_1, 0, b"".join(parts))
    return sign_transaction(tx, KEYS[0])


TOKEN_STATE = {
    account_key(SENDERS[0]): pack_account(0, 10**18),
    system_field_key(1): 2,
    token_balance_key(TOKEN_1, SENDERS[0]): 10**6,
    token_balance_key(TOKEN_1, b"\x11" * 20): 7,
    allowlist_key(b"\x11" * 20): 1,
    allowlist_key(SENDERS[0]): 1,
    token_field_key(TOKEN_1, 0): int.from_bytes(SENDERS[0], "big"),  # the issuer
    token_field_key(TOKEN_1, 4): 10**6 + 7,  # total supply
    allowance_key(TOKEN_1, b"\x11" * 20, SENDERS[0]): 3,
}


@pytest.mark.parametrize(
    ("raw", "moved"),  # moved: whether the sender's token balance changes
    [
        (_token_call(b"\x11" * 20, 5), True),
        (_token_call(b"\x11" * 20, 10**6), True),  # the whole balance: its leaf is deleted
        (_token_call(SENDERS[0], 5), False),  # to oneself: balances unchanged, fees paid
        (_token_call(b"\x11" * 20, 10**6 + 1), False),  # exceeds the balance: reverts, gas paid
        (_token_call(b"\x22" * 20, 5), False),  # recipient not on the allowlist
        (_token_call(bytes(20), 5), False),  # the zero address
        (_token_call(b"\x11" * 20, 2**128), False),  # beyond uint128
        (_token_call(b"\x01" + b"\x11" * 20, 5), False),  # dirty address bytes: fails at dispatch
        (_token_call(b"\x11" * 20, 5, gas=40_000), False),  # runs out of gas: reverted, all gas paid
        (_token_data(MINT, _w(SENDERS[0]), _u(5)), True),  # the issuer mints to an allowlisted holder
        (_token_data(MINT, _w(b"\x22" * 20), _u(5)), False),  # ...not to a holder off the allowlist
        (_token_data(MINT, _w(b"\x11" * 20), _u(2**128 - 1)), False),  # supply beyond uint128
        (_token_data(APPROVE, _w(b"\x11" * 20), _u(2**256 - 1)), False),  # unlimited allowance
        (_token_data(APPROVE, _w(bytes(20)), _u(5)), False),  # approve to the zero address
        (_token_data(TRANSFER_FROM, _w(b"\x11" * 20), _w(SENDERS[0]), _u(2)), True),  # within allowance
        (_token_data(TRANSFER_FROM, _w(b"\x11" * 20), _w(SENDERS[0]), _u(4)), False),  # beyond it
        (_token_data(TRANSFER_FROM, _w(b"\x11" * 20), b"\x01" + _w(SENDERS[0])[1:], _u(2)), False),  # dirty
        (_token_data(BALANCE_OF, _w(b"\x11" * 20)), False),  # a view: gas only
    ],
)
def test_token_transfer_cases_agree(l1: Any, raw: bytes, moved: bool) -> None:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(TOKEN_STATE)
    witness = step_witness(store, pre, [BatchItem(ITEM_TRANSACTION, 1, 1, BASE_FEE, raw)], 0, RULES.apply)
    after = SparseMerkleTree(store, witness.post_root)
    assert (after.get(token_balance_key(TOKEN_1, SENDERS[0])) != 10**6) == moved
    assert witness.post_root != pre  # fees are always paid
    check_parity(l1, TOKEN_STATE, BatchItem(ITEM_TRANSACTION, 1, 1, BASE_FEE, raw), record=False)


@st.composite
def identity_calls(draw: st.DrawFn) -> bytes:
    """A sane signed call to the identity registry with random (sometimes out of range) arguments."""
    holder = draw(st.sampled_from([b"\x11" * 20, SENDERS[1], bytes(20), b"\x01" + b"\x11" * 20])).rjust(
        32, b"\x00"
    )
    small = st.sampled_from([0, 1, 2, 255, 2**16, 2**64]).map(lambda v: v.to_bytes(32, "big"))
    selector, count = draw(
        st.sampled_from(
            [
                (bytes.fromhex("4697f05d"), 1),  # setAllowed(address,bool)
                (abi_selector("setComplianceOfficer(address,bool)"), 1),
                (abi_selector("setClaims(address,uint16,uint8,uint64)"), 3),
                (abi_selector("isAllowed(address)"), 0),
                (abi_selector("claims(address)"), 0),
                (abi_selector("admin()"), -1),
                (abi_selector("setRegulator(address,bool)"), 1),
                (abi_selector("isRegulator(address)"), 0),
                (RECOVER_IDENTITY, 0),
                (RECOVER_IDENTITY, 0),
            ]
        )
    )
    data = selector + (holder if count >= 0 else b"") + b"".join(draw(small) for _ in range(max(count, 0)))
    if selector == RECOVER_IDENTITY:
        data += draw(st.sampled_from([b"\x11" * 20, SENDERS[1], b"\x77" * 20, b"\x01" + b"\x11" * 20])).rjust(
            32, b"\x00"
        )
    if draw(st.integers(0, 9)) == 0:
        data = data[:-1]
    tx = DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, 100_000, IDENTITY_REGISTRY, 0, data)
    return sign_transaction(tx, draw(st.sampled_from(KEYS[:2])))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states(),
    identity_calls(),
    st.lists(st.sampled_from([b"\x11" * 20, SENDERS[1], b"\x77" * 20]), max_size=2),
)
def test_identity_calls_agree(l1: Any, leaves: dict[int, int], raw: bytes, with_claims: list[bytes]) -> None:
    leaves = leaves | {account_key(s): pack_account(0, 10**18) for s in SENDERS}
    leaves |= {claims_key(holder): 840 | 1 << 16 | 10**9 << 24 for holder in with_claims}
    check_parity(l1, leaves, BatchItem(ITEM_TRANSACTION, 1, 1_700_000_000, BASE_FEE, raw))


def _identity_call(key: bytes, data: bytes) -> bytes:
    return sign_transaction(DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, 100_000, IDENTITY_REGISTRY, 0, data), key)


IDENTITY_STATE = {
    account_key(SENDERS[0]): pack_account(0, 10**18),
    account_key(SENDERS[1]): pack_account(0, 10**18),
    system_field_key(0): int.from_bytes(SENDERS[0], "big"),  # SENDERS[0] is the identity admin
}


@pytest.mark.parametrize(
    ("key", "data", "written"),
    [
        (
            KEYS[0],
            abi_selector("setAllowed(address,bool)") + _w(b"\x77" * 20) + _u(1),
            (allowlist_key(b"\x77" * 20), 1),
        ),
        (KEYS[1], abi_selector("setAllowed(address,bool)") + _w(b"\x77" * 20) + _u(1), None),  # not the admin
        (KEYS[0], abi_selector("setAllowed(address,bool)") + _w(b"\x77" * 20) + _u(2), None),  # not a bool
        (
            KEYS[0],
            abi_selector("setClaims(address,uint16,uint8,uint64)")
            + _w(b"\x77" * 20)
            + _u(840)
            + _u(2)
            + _u(10**9),
            (claims_key(b"\x77" * 20), 840 | 2 << 16 | 10**9 << 24),
        ),
        (
            KEYS[0],
            abi_selector("setComplianceOfficer(address,bool)") + _w(b"\x77" * 20) + _u(1),
            (compliance_officer_key(b"\x77" * 20), 1),
        ),
        (KEYS[1], abi_selector("isAllowed(address)") + _w(b"\x77" * 20), None),  # a view
        (
            KEYS[0],
            abi_selector("setRegulator(address,bool)") + _w(b"\x77" * 20) + _u(1),
            (regulator_key(b"\x77" * 20), 1),
        ),
        (
            KEYS[1],
            abi_selector("setRegulator(address,bool)") + _w(b"\x77" * 20) + _u(1),
            None,
        ),  # not the admin
    ],
)
def test_identity_cases_agree(l1: Any, key: bytes, data: bytes, written: tuple[int, int] | None) -> None:
    item = BatchItem(ITEM_TRANSACTION, 1, 1, BASE_FEE, _identity_call(key, data))
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(IDENTITY_STATE)
    after = SparseMerkleTree(store, step_witness(store, pre, [item], 0, RULES.apply).post_root)
    touched = (
        allowlist_key(b"\x77" * 20),
        claims_key(b"\x77" * 20),
        compliance_officer_key(b"\x77" * 20),
        regulator_key(b"\x77" * 20),
    )
    for k in touched:
        assert after.get(k) == (written[1] if written and written[0] == k else 0)
    check_parity(l1, IDENTITY_STATE, item, record=False)


# --- ETH sent with a call, and the L2 bridge ---------------------------------------------------------


@st.composite
def bridge_calls(draw: st.DrawFn) -> bytes:
    """A sane signed call to the L2 bridge (or ETH to another system contract's function): random
    recipients (the zero address, dirty bytes), random ETH, sometimes malformed calldata."""
    recipient = draw(st.sampled_from([b"\x11" * 20, SENDERS[1], bytes(20), b"\x01" + b"\x11" * 20]))
    index = st.sampled_from([0, 1, 2**64, 2**256 - 1]).map(lambda v: v.to_bytes(32, "big"))
    to, data = draw(
        st.sampled_from(
            [
                (L2_BRIDGE, WITHDRAW + recipient.rjust(32, b"\x00")),
                (L2_BRIDGE, WITHDRAW + recipient.rjust(32, b"\x00")),
                (L2_BRIDGE, WITHDRAWAL_COUNT),
                (L2_BRIDGE, WITHDRAWAL_HASH + draw(index)),
                (
                    IDENTITY_REGISTRY,
                    abi_selector("setAllowed(address,bool)") + recipient.rjust(32, b"\x00") + bytes(32),
                ),
                (ASSET_REGISTRY, abi_selector("assetCount()")),
                (TOKEN_1, TRANSFER + recipient.rjust(32, b"\x00") + bytes(32)),
            ]
        )
    )
    if draw(st.integers(0, 9)) == 0:
        data = data[:-1] if draw(st.booleans()) else data + b"\x00"
    value = draw(st.sampled_from([0, 0, 1, 10**15, 10**18, 10**20]))
    tx = DynamicFeeTx(
        CHAIN_ID, 0, 10**6, 10**9, draw(st.sampled_from([30_000, 80_000, 100_000])), to, value, data
    )
    return sign_transaction(tx, draw(st.sampled_from(KEYS[:2])))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states(), bridge_calls(), st.sampled_from([0, 1, MAX_UINT128 - 10**15]), st.integers(0, 5))
def test_bridge_calls_agree(
    l1: Any, leaves: dict[int, int], raw: bytes, bridge_balance: int, count: int
) -> None:
    """Withdrawals (the burn, the leaf, the index), their views, and ETH sent to any system function;
    a bridge balance near 2^128 makes the incoming ETH overflow it (the call then reverts)."""
    leaves = (
        leaves | {account_key(s): pack_account(0, 10**19) for s in SENDERS} | {system_field_key(3): count}
    )
    if bridge_balance:
        leaves[account_key(L2_BRIDGE)] = pack_account(0, bridge_balance)
    leaves = {k: v for k, v in leaves.items() if v}
    check_parity(l1, leaves, BatchItem(ITEM_TRANSACTION, 1, 1_700_000_000, BASE_FEE, raw))


BRIDGE_STATE = {
    account_key(SENDERS[0]): pack_account(0, 10**19),
    system_field_key(3): 4,  # four withdrawals recorded before
}


def _bridge_call(data: bytes, value: int, to: bytes = L2_BRIDGE) -> bytes:
    return sign_transaction(DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, 100_000, to, value, data), KEYS[0])


def _withdraw_step(raw: bytes, leaves: dict[int, int] = BRIDGE_STATE) -> tuple[int, Any, SparseMerkleTree]:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [BatchItem(ITEM_TRANSACTION, 1, 1, BASE_FEE, raw)], 0, RULES.apply)
    return pre, witness, SparseMerkleTree(store, witness.post_root)


@pytest.mark.parametrize(
    ("data", "value", "to", "recorded"),  # recorded: whether withdrawal 4 is written
    [
        (WITHDRAW + _w(b"\x11" * 20), 10**18, L2_BRIDGE, True),
        (WITHDRAW + _w(b"\x11" * 20), 0, L2_BRIDGE, False),  # nothing to withdraw
        (WITHDRAW + _w(bytes(20)), 10**18, L2_BRIDGE, False),  # to the zero address
        (WITHDRAW + b"\x01" + _w(b"\x11" * 20)[1:], 10**18, L2_BRIDGE, False),  # dirty address bytes
        (WITHDRAW + _w(b"\x11" * 20) + b"\x00", 10**18, L2_BRIDGE, False),  # malformed calldata
        (WITHDRAWAL_COUNT, 0, L2_BRIDGE, False),  # a view
        (WITHDRAWAL_COUNT, 10**18, L2_BRIDGE, False),  # a view is not payable
        (abi_selector("assetCount()"), 5, ASSET_REGISTRY, False),  # nor is any non-payable function
        (abi_selector("setAllowed(address,bool)") + _w(b"\x11" * 20) + _u(1), 5, IDENTITY_REGISTRY, False),
    ],
)
def test_bridge_cases_agree(l1: Any, data: bytes, value: int, to: bytes, recorded: bool) -> None:
    raw = _bridge_call(data, value, to)
    _, witness, after = _withdraw_step(raw)
    leaf = withdrawal_value(SENDERS[0], b"\x11" * 20, value) if recorded else 0
    assert after.get(withdrawal_key(4)) == leaf
    assert after.get(system_field_key(3)) == (5 if recorded else 4)
    assert after.get(account_key(L2_BRIDGE)) == 0  # the ETH is burned, or never arrives
    check_parity(l1, BRIDGE_STATE, BatchItem(ITEM_TRANSACTION, 1, 1, BASE_FEE, raw), record=False)


def test_withdraw_witness_tampering_fails(l1: Any) -> None:
    """A withdrawal's witness cannot be bent: a leaf claimed with another value, a missing leaf, or
    another withdrawal index than the state holds all revert (the real witness gives the real root)."""
    raw = _bridge_call(WITHDRAW + _w(b"\x11" * 20), 10**18)
    pre, witness, _ = _withdraw_step(raw)
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    index_at = next(i for i, leaf in enumerate(witness.leaves) if leaf.key == system_field_key(3))
    lying = list(witness.leaves)
    lying[index_at] = dataclasses.replace(lying[index_at], value=0)  # "no withdrawals yet": index 0
    with pytest.raises(Exception, match="missing state leaf|SparseMerkle"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))
    leaf_at = next(i for i, leaf in enumerate(witness.leaves) if leaf.key == withdrawal_key(4))
    missing = [leaf for i, leaf in enumerate(witness.leaves) if i != leaf_at]
    with pytest.raises(Exception, match="missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=missing))
    bridge_at = next(i for i, leaf in enumerate(witness.leaves) if leaf.key == account_key(L2_BRIDGE))
    rich = list(witness.leaves)
    rich[bridge_at] = dataclasses.replace(rich[bridge_at], value=pack_account(0, 10**18))  # ETH to keep
    with pytest.raises(Exception, match="SparseMerkle"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=rich))


# --- lifecycle tokens: transfers under the asset's compliance rules -------------------------------------

LIFECYCLE_HOLDERS = [SENDERS[0], SENDERS[1], b"\x11" * 20, b"\x22" * 20]
NOW = 1_700_000_000


def _lifecycle_state(
    *,
    stage: int = 4,
    paused: bool = False,
    frozen: tuple[bytes, ...] = (),
    frozen_tokens: int = 0,
    max_holders: int = 0,
    lockup: int = 0,
    max_balance: int = 0,
    requirements: int = 0,
    claims: int = 0,
    per_unit: int = 0,
    checkpoint: int = 0,
    holders: int = 2,
) -> dict[int, int]:
    """TOKEN_1 as the token of asset 1: SENDERS[0] holds 10^6 units, 0x11.. holds 7; everyone but 0x22..
    on the allowlist; `claims` for every holder; revenue `per_unit` (x 2^64) against `checkpoint`."""
    leaves = TOKEN_STATE | {
        token_asset_key(TOKEN_1): 1,
        asset_field_key(1, F_STATUS): stage | int(paused) << 17,
        asset_field_key(1, F_RULES): max_holders | lockup << 32,
        asset_field_key(1, F_MAX_BALANCE): max_balance,
        asset_field_key(1, F_REQUIREMENTS): requirements,
        asset_field_key(1, F_REVENUE_PER_UNIT): per_unit,
        holder_count_key(TOKEN_1): holders,
        frozen_tokens_key(1, SENDERS[0]): frozen_tokens,
        allowlist_key(SENDERS[1]): 1,
    }
    for holder in LIFECYCLE_HOLDERS:
        leaves[claims_key(holder)] = claims
        leaves[revenue_checkpoint_key(1, holder)] = checkpoint
        leaves[revenue_owed_key(1, holder)] = 3 if checkpoint else 0
    for holder in frozen:
        leaves[frozen_key(1, holder)] = 1
    return {k: v for k, v in leaves.items() if v}


@st.composite
def lifecycle_states(draw: st.DrawFn) -> dict[int, int]:
    """An asset in a random stage with random rules, freezes, claims and revenue."""
    per_unit = draw(st.sampled_from([0, 0, 1 << 64, 3 << 70, (1 << 191) // 10**7]))
    return _lifecycle_state(
        stage=draw(st.sampled_from([4, 4, 4, 3, 5])),
        paused=draw(st.sampled_from([False, False, False, True])),
        frozen=tuple(draw(st.lists(st.sampled_from(LIFECYCLE_HOLDERS[:3]), max_size=1))),
        frozen_tokens=draw(st.sampled_from([0, 0, 10, 10**6 - 5, 2 * 10**6])),
        max_holders=draw(st.sampled_from([0, 0, 2, 3])),
        lockup=draw(st.sampled_from([0, 0, NOW - 1, NOW, NOW + 1])),
        max_balance=draw(st.sampled_from([0, 0, 10, 10**6, 10**7])),
        requirements=draw(st.sampled_from([0, 0, 1, 2 << 8, 840 << 16, 1 | 1 << 8 | 840 << 16])),
        claims=draw(st.sampled_from([0, 840 | 1 << 16 | (NOW + 1) << 24, 276 | 2 << 16 | NOW << 24])),
        per_unit=per_unit,
        checkpoint=draw(st.sampled_from([0, per_unit, per_unit // 2])),
        holders=draw(st.sampled_from([1, 2, 3])),
    )


@st.composite
def lifecycle_transfers(draw: st.DrawFn) -> bytes:
    """transfer / transferFrom of the asset's token to any holder (off the allowlist, to oneself...)."""
    to = _w(draw(st.sampled_from([*LIFECYCLE_HOLDERS, bytes(20)])))
    amount = _u(draw(st.sampled_from([0, 1, 5, 7, 10**6 - 10, 10**6, 10**6 + 1])))
    key = draw(st.sampled_from(KEYS[:2]))
    if draw(st.booleans()):
        data = TRANSFER + to + amount
    else:
        data = TRANSFER_FROM + _w(draw(st.sampled_from([SENDERS[0], b"\x11" * 20]))) + to + amount
    tx = DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, draw(st.sampled_from([60_000, 100_000])), TOKEN_1, 0, data)
    return sign_transaction(tx, key)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lifecycle_states(), lifecycle_transfers(), st.sampled_from([NOW - 1, NOW, NOW + 1]))
def test_lifecycle_transfers_agree(l1: Any, leaves: dict[int, int], raw: bytes, timestamp: int) -> None:
    leaves = leaves | {
        account_key(SENDERS[1]): pack_account(0, 10**18),
        allowance_key(TOKEN_1, SENDERS[0], SENDERS[1]): 1 << 128,
    }
    check_parity(l1, leaves, BatchItem(ITEM_TRANSACTION, 1, timestamp, BASE_FEE, raw))


def _lifecycle_step(leaves: dict[int, int], raw: bytes) -> tuple[int, Any, SparseMerkleTree]:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [BatchItem(ITEM_TRANSACTION, 1, NOW, BASE_FEE, raw)], 0, RULES.apply)
    return pre, witness, SparseMerkleTree(store, witness.post_root)


@pytest.mark.parametrize(
    ("state", "to", "amount", "moved"),  # moved: whether the sender's balance changes
    [
        (_lifecycle_state(), b"\x11" * 20, 5, True),
        (_lifecycle_state(stage=3), b"\x11" * 20, 5, False),  # Issuing: not trading
        (_lifecycle_state(paused=True), b"\x11" * 20, 5, False),
        (_lifecycle_state(frozen=(SENDERS[0],)), b"\x11" * 20, 5, False),
        (_lifecycle_state(frozen=(b"\x11" * 20,)), b"\x11" * 20, 5, False),
        (_lifecycle_state(frozen_tokens=10**6 - 4), b"\x11" * 20, 5, False),  # beyond the unfrozen part
        (_lifecycle_state(frozen_tokens=10**6 - 5), b"\x11" * 20, 5, True),  # exactly the unfrozen part
        (_lifecycle_state(lockup=NOW + 1), b"\x11" * 20, 5, False),
        (_lifecycle_state(lockup=NOW), b"\x11" * 20, 5, True),
        (_lifecycle_state(max_balance=11), b"\x11" * 20, 5, False),
        (_lifecycle_state(max_balance=12), b"\x11" * 20, 5, True),
        (_lifecycle_state(max_holders=2), SENDERS[1], 5, False),  # a third holder
        (_lifecycle_state(max_holders=2), SENDERS[1], 10**6, True),  # the sender leaves: still two
        (_lifecycle_state(requirements=1, claims=(NOW + 1) << 24), b"\x11" * 20, 5, True),  # KYC valid
        (_lifecycle_state(requirements=1, claims=NOW << 24), b"\x11" * 20, 5, False),  # KYC expired
        (_lifecycle_state(requirements=2 << 8, claims=1 << 16), b"\x11" * 20, 5, False),  # class too low
        (_lifecycle_state(requirements=840 << 16, claims=276), b"\x11" * 20, 5, False),  # jurisdiction
        (_lifecycle_state(requirements=840 << 16, claims=840), b"\x11" * 20, 5, True),
        (_lifecycle_state(per_unit=3 << 64, checkpoint=1 << 64), b"\x11" * 20, 5, True),  # settles both
        (_lifecycle_state(per_unit=3 << 64), SENDERS[0], 5, False),  # to oneself: nothing settles
    ],
)
def test_lifecycle_transfer_cases_agree(
    l1: Any, state: dict[int, int], to: bytes, amount: int, moved: bool
) -> None:
    raw = _token_call(to, amount, gas=100_000)
    _, witness, after = _lifecycle_step(state, raw)
    assert (after.get(token_balance_key(TOKEN_1, SENDERS[0])) != 10**6) == moved
    if moved and state.get(asset_field_key(1, F_REVENUE_PER_UNIT)):
        owed = 3 + (2 << 64) * 10**6 // (1 << 64)  # 3 credited before, 2 per unit on 10^6 units since
        assert after.get(revenue_owed_key(1, SENDERS[0])) == owed
        assert after.get(revenue_checkpoint_key(1, to)) == 3 << 64
    check_parity(l1, state, witness.item, record=False)


def test_lifecycle_witness_tampering_fails(l1: Any) -> None:
    """A lifecycle transfer's witness cannot hide a rule: the witness of a state where the recipient is
    not frozen (or the lock-up is over) does not pass against the real pre-state root, a leaf claimed
    with another value is refused, and so is a witness without the holder count."""
    for rule in ({"frozen": (b"\x11" * 20,)}, {"lockup": NOW + 1}):
        real = _lifecycle_state(**rule)  # type: ignore[arg-type]
        pre, witness, after = _lifecycle_step(real, _token_call(b"\x11" * 20, 5, gas=100_000))
        assert after.get(token_balance_key(TOKEN_1, SENDERS[0])) == 10**6  # the STF refuses it
        assert execute_on_l1(l1, pre, witness) == witness.post_root
        _, lenient, lenient_after = _lifecycle_step(_lifecycle_state(), witness.item.payload)
        assert lenient_after.get(token_balance_key(TOKEN_1, SENDERS[0])) == 10**6 - 5
        with pytest.raises(Exception, match="SparseMerkle"):
            execute_on_l1(l1, pre, lenient)
        key = frozen_key(1, b"\x11" * 20) if "frozen" in rule else asset_field_key(1, F_RULES)
        lying = [dataclasses.replace(leaf, value=0) if leaf.key == key else leaf for leaf in witness.leaves]
        assert lying != witness.leaves
        with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
            execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))

    pre, witness, _ = _lifecycle_step(_lifecycle_state(), _token_call(SENDERS[1], 5, gas=100_000))
    missing = [leaf for leaf in witness.leaves if leaf.key != holder_count_key(TOKEN_1)]
    assert len(missing) == len(witness.leaves) - 1
    with pytest.raises(Exception, match="missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=missing))


# --- identity recovery --------------------------------------------------------------------------------

RECOVERY_STATE = IDENTITY_STATE | {
    allowlist_key(b"\x11" * 20): 1,
    claims_key(b"\x11" * 20): 840 | 2 << 16 | 10**9 << 24,
    allowlist_key(b"\x22" * 20): 1,
}


@pytest.mark.parametrize(
    ("key", "lost", "new", "recovered"),
    [
        (KEYS[0], b"\x11" * 20, b"\x77" * 20, True),
        (KEYS[1], b"\x11" * 20, b"\x77" * 20, False),  # not the admin
        (KEYS[0], b"\x11" * 20, b"\x11" * 20, False),  # the same wallet
        (KEYS[0], b"\x33" * 20, b"\x77" * 20, False),  # nothing registered
        (KEYS[0], b"\x11" * 20, b"\x22" * 20, False),  # the new wallet is taken
    ],
)
def test_recover_identity_cases_agree(l1: Any, key: bytes, lost: bytes, new: bytes, recovered: bool) -> None:
    item = BatchItem(
        ITEM_TRANSACTION, 1, 1, BASE_FEE, _identity_call(key, RECOVER_IDENTITY + _w(lost) + _w(new))
    )
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(RECOVERY_STATE)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    after = SparseMerkleTree(store, witness.post_root)
    assert after.get(claims_key(new)) == (
        RECOVERY_STATE[claims_key(lost)] if recovered else RECOVERY_STATE.get(claims_key(new), 0)
    )
    check_parity(l1, RECOVERY_STATE, item, record=False)
    if recovered:  # a witness that says the new wallet is free when the state says otherwise fails
        taken = RECOVERY_STATE | {allowlist_key(new): 1}
        taken_pre = SparseMerkleTree(store).update_many(taken)
        with pytest.raises(Exception, match="SparseMerkle"):
            execute_on_l1(l1, taken_pre, witness)


# --- asset registry: the issuer's rules, agents, freezes, pause, views ---------------------------------

ISSUER, AGENT, OUTSIDER = SENDERS
ASSET_CALLS = [
    ("setAssetRules(uint256,uint32,uint128,uint64)", ["id", "u32", "u128", "u64"]),
    ("setInvestorRequirements(uint256,bool,uint8,uint16)", ["id", "bool", "u8", "u16"]),
    ("setAgent(uint256,address,bool)", ["id", "address", "bool"]),
    ("freeze(uint256,address,bool)", ["id", "address", "bool"]),
    ("pauseAsset(uint256,bool)", ["id", "bool"]),
    ("freezePartialTokens(uint256,address,uint128)", ["id", "address", "u128"]),
    ("unfreezePartialTokens(uint256,address,uint128)", ["id", "address", "u128"]),
    ("asset(uint256)", ["id"]),
    ("isFrozen(uint256,address)", ["id", "address"]),
    ("revenueOf(uint256,address)", ["id", "address"]),
    ("assetCount()", []),
    ("tokenCount()", []),
    ("tokenAt(uint256)", ["id"]),
    ("approveIssuance(uint256)", ["id"]),
    ("startTrading(uint256)", ["id"]),
    ("forcedTransfer(uint256,address,address,uint128)", ["id", "address", "address", "u128"]),
    ("forcedTransfer(uint256,address,address,uint128)", ["id", "address", "address", "u128"]),
    ("recoveryAddress(uint256,address,address)", ["id", "address", "address"]),
    ("recoveryAddress(uint256,address,address)", ["id", "address", "address"]),
]
_ARGUMENTS: dict[str, list[int]] = {
    "id": [0, 1, 1, 1, 2, 2**256 - 1],
    "u32": [0, 3, 2**32],
    "u64": [0, NOW, 2**64],
    "u128": [0, 1, 5, 10**6, 2**128],
    "u8": [0, 2, 256],
    "u16": [0, 840, 2**16],
    "bool": [0, 1, 1, 2],
    "address": [int.from_bytes(a, "big") for a in (b"\x11" * 20, AGENT, SENDERS[0])] + [2**160 + 17],
}


@st.composite
def asset_states(draw: st.DrawFn) -> dict[int, int]:
    """Asset 1 (TOKEN_1's, maybe not tokenized) of ISSUER, with AGENT maybe an agent; asset 2 untokenized."""
    leaves = {account_key(s): pack_account(0, 10**18) for s in SENDERS} | {
        asset_field_key(0, 0): draw(st.sampled_from([0, 1, 2])),
        asset_field_key(1, F_ISSUER): int.from_bytes(ISSUER, "big"),
        asset_field_key(2, F_ISSUER): int.from_bytes(AGENT, "big"),
        asset_field_key(1, F_STATUS): draw(
            st.sampled_from([4, 2 | 7 << 8, 3 | 7 << 8 | 1 << 16, 4 | 1 << 17])
        ),
        asset_field_key(1, F_TOKEN): draw(st.sampled_from([0, int.from_bytes(TOKEN_1, "big")])),
        token_balance_key(TOKEN_1, b"\x11" * 20): draw(st.sampled_from([0, 5, 10**6])),
        frozen_tokens_key(1, b"\x11" * 20): draw(st.sampled_from([0, 1, 5])),
        agent_key(1, AGENT): draw(st.sampled_from([0, 1])),
        frozen_key(1, b"\x11" * 20): draw(st.sampled_from([0, 1])),
        asset_field_key(1, F_WINDOW): draw(st.sampled_from([0, NOW - 10 | NOW << 64, NOW | (NOW + 1) << 64])),
        compliance_officer_key(OUTSIDER): draw(st.sampled_from([0, 1])),
        allowlist_key(b"\x11" * 20): draw(st.sampled_from([0, 1])),
        allowlist_key(AGENT): draw(st.sampled_from([0, 1])),
        token_balance_key(TOKEN_1, AGENT): draw(st.sampled_from([0, 3])),
        holder_count_key(TOKEN_1): 2,
        asset_field_key(1, F_REVENUE_PER_UNIT): draw(st.sampled_from([0, 5 << 64])),
    }
    return {k: v for k, v in leaves.items() if v}


@st.composite
def asset_calls(draw: st.DrawFn) -> bytes:
    signature, kinds = draw(st.sampled_from(ASSET_CALLS))
    data = abi_selector(signature) + b"".join(_u(draw(st.sampled_from(_ARGUMENTS[k]))) for k in kinds)
    if draw(st.integers(0, 9)) == 0:
        data = data[:-1] if draw(st.booleans()) else data + b"\x00"
    gas = draw(st.sampled_from([30_000, 60_000, 100_000]))
    tx = DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, gas, ASSET_REGISTRY, 0, data)
    return sign_transaction(tx, draw(st.sampled_from(KEYS)))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(asset_states(), asset_calls())
def test_asset_calls_agree(l1: Any, leaves: dict[int, int], raw: bytes) -> None:
    check_parity(l1, leaves, BatchItem(ITEM_TRANSACTION, 1, NOW, BASE_FEE, raw))


ASSET_STATE = {account_key(s): pack_account(0, 10**18) for s in SENDERS} | {
    asset_field_key(0, 0): 1,
    asset_field_key(1, F_ISSUER): int.from_bytes(ISSUER, "big"),
    asset_field_key(1, F_STATUS): 4 | 3 << 8 | 1 << 16,
    asset_field_key(1, F_TOKEN): int.from_bytes(TOKEN_1, "big"),
    token_balance_key(TOKEN_1, b"\x11" * 20): 10,
    agent_key(1, AGENT): 1,
}


def _asset_call(key: bytes, signature: str, *words: int) -> BatchItem:
    data = abi_selector(signature) + b"".join(_u(w) for w in words)
    raw = sign_transaction(DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, 100_000, ASSET_REGISTRY, 0, data), key)
    return BatchItem(ITEM_TRANSACTION, 1, NOW, BASE_FEE, raw)


HOLDER = int.from_bytes(b"\x11" * 20, "big")


@pytest.mark.parametrize(
    ("item", "written"),  # written: (key, value) the call leaves, or None when it reverts
    [
        (
            _asset_call(KEYS[0], "setAssetRules(uint256,uint32,uint128,uint64)", 1, 3, 100, NOW),
            (asset_field_key(1, F_RULES), 3 | NOW << 32),
        ),
        (
            _asset_call(KEYS[1], "setAssetRules(uint256,uint32,uint128,uint64)", 1, 3, 100, NOW),
            None,
        ),  # an agent is not the issuer
        (
            _asset_call(KEYS[0], "setAssetRules(uint256,uint32,uint128,uint64)", 2, 3, 100, NOW),
            None,
        ),  # no such asset
        (
            _asset_call(KEYS[0], "setInvestorRequirements(uint256,bool,uint8,uint16)", 1, 1, 2, 840),
            (asset_field_key(1, F_REQUIREMENTS), 1 | 2 << 8 | 840 << 16),
        ),
        (
            _asset_call(KEYS[0], "setAgent(uint256,address,bool)", 1, HOLDER, 1),
            (agent_key(1, b"\x11" * 20), 1),
        ),
        (
            _asset_call(KEYS[1], "freeze(uint256,address,bool)", 1, HOLDER, 1),
            (frozen_key(1, b"\x11" * 20), 1),
        ),
        (_asset_call(KEYS[2], "freeze(uint256,address,bool)", 1, HOLDER, 1), None),  # not an agent
        (
            _asset_call(KEYS[1], "pauseAsset(uint256,bool)", 1, 1),
            (asset_field_key(1, F_STATUS), 4 | 3 << 8 | 3 << 16),
        ),
        (_asset_call(KEYS[1], "pauseAsset(uint256,bool)", 1, 2), None),  # not a bool
        (
            _asset_call(KEYS[1], "freezePartialTokens(uint256,address,uint128)", 1, HOLDER, 10),
            (frozen_tokens_key(1, b"\x11" * 20), 10),
        ),
        (
            _asset_call(KEYS[1], "freezePartialTokens(uint256,address,uint128)", 1, HOLDER, 11),
            None,
        ),  # beyond the balance
        (
            _asset_call(KEYS[1], "unfreezePartialTokens(uint256,address,uint128)", 1, HOLDER, 1),
            None,
        ),  # nothing frozen
        (_asset_call(KEYS[2], "isAgent(uint256,address)", 1, HOLDER), None),  # a view
        (_asset_call(KEYS[0], "approveIssuance(uint256)", 1), None),  # not a compliance officer
        (_asset_call(KEYS[0], "startTrading(uint256)", 1), None),  # already trading
    ],
)
def test_asset_cases_agree(l1: Any, item: BatchItem, written: tuple[int, int] | None) -> None:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(ASSET_STATE)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    after = SparseMerkleTree(store, witness.post_root)
    if written is not None:
        assert after.get(written[0]) == written[1]
    else:  # only the sender's account (the fees) and the fee vault change
        changed = {leaf.key for leaf in witness.leaves if after.get(leaf.key) != leaf.value}
        assert changed <= {account_key(s) for s in SENDERS} | {account_key(FEE_VAULT)}
    check_parity(l1, ASSET_STATE, item, record=False)


def test_asset_agent_witness_tampering_fails(l1: Any) -> None:
    """An outsider's freeze is refused; the witness of a state in which it is an agent (the freeze then
    goes through) does not pass against the real pre-state root, nor does a leaf claimed as 'agent'."""
    item = _asset_call(KEYS[2], "freeze(uint256,address,bool)", 1, HOLDER, 1)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(ASSET_STATE)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    assert SparseMerkleTree(store, witness.post_root).get(frozen_key(1, b"\x11" * 20)) == 0
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    lenient_state = ASSET_STATE | {agent_key(1, OUTSIDER): 1}
    lenient_pre = SparseMerkleTree(store).update_many(lenient_state)
    lenient = step_witness(store, lenient_pre, [item], 0, RULES.apply)
    assert SparseMerkleTree(store, lenient.post_root).get(frozen_key(1, b"\x11" * 20)) == 1
    with pytest.raises(Exception, match="SparseMerkle"):
        execute_on_l1(l1, pre, lenient)
    lying = [
        dataclasses.replace(leaf, value=1) if leaf.key == agent_key(1, OUTSIDER) else leaf
        for leaf in witness.leaves
    ]
    assert lying != witness.leaves
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))


@pytest.mark.parametrize(
    ("stage", "window_end", "signature", "status_after"),
    [
        (2, 0, "approveIssuance(uint256)", 2 | 3 << 8 | 1 << 16),  # the officer clears it
        (1, 0, "approveIssuance(uint256)", 1 | 3 << 8),  # not yet tokenized
        (3, NOW, "startTrading(uint256)", 4 | 3 << 8),  # the window has ended
        (3, NOW + 1, "startTrading(uint256)", 3 | 3 << 8),  # still open
    ],
)
def test_issuance_steps_agree(
    l1: Any, stage: int, window_end: int, signature: str, status_after: int
) -> None:
    """approveIssuance by a compliance officer (OUTSIDER here), startTrading by the issuer."""
    leaves = ASSET_STATE | {
        asset_field_key(1, F_STATUS): stage | 3 << 8,
        asset_field_key(1, F_WINDOW): (NOW - 100) | window_end << 64,
        compliance_officer_key(OUTSIDER): 1,
    }
    item = _asset_call(KEYS[2] if signature.startswith("approve") else KEYS[0], signature, 1)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    assert SparseMerkleTree(store, witness.post_root).get(asset_field_key(1, F_STATUS)) == status_after
    check_parity(l1, leaves, item, record=False)


FORCED = "forcedTransfer(uint256,address,address,uint128)"
FORCED_STATE = ASSET_STATE | {
    frozen_tokens_key(1, b"\x11" * 20): 6,
    frozen_key(1, b"\x11" * 20): 1,  # a frozen holder: forced transfers still apply
    allowlist_key(OUTSIDER): 1,
    holder_count_key(TOKEN_1): 1,
    asset_field_key(1, F_REVENUE_PER_UNIT): 2 << 64,
}


@pytest.mark.parametrize(
    ("key", "to", "amount", "after"),  # after: (holder's balance, its frozen units, holder count)
    [
        (KEYS[1], OUTSIDER, 3, (7, 6, 2)),  # within the unfrozen units
        (KEYS[1], OUTSIDER, 8, (2, 2, 2)),  # 4 frozen units released first
        (KEYS[1], OUTSIDER, 10, (0, 0, 1)),  # everything: the holder leaves, the recipient joins
        (KEYS[1], OUTSIDER, 11, (10, 6, 1)),  # beyond the balance
        (KEYS[1], b"\x22" * 20, 3, (10, 6, 1)),  # recipient off the allowlist
        (KEYS[2], OUTSIDER, 3, (10, 6, 1)),  # not an agent
    ],
)
def test_forced_transfer_cases_agree(
    l1: Any, key: bytes, to: bytes, amount: int, after: tuple[int, int, int]
) -> None:
    item = _asset_call(key, FORCED, 1, HOLDER, int.from_bytes(to, "big"), amount)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(FORCED_STATE)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    tree = SparseMerkleTree(store, witness.post_root)
    got = (
        tree.get(token_balance_key(TOKEN_1, b"\x11" * 20)),
        tree.get(frozen_tokens_key(1, b"\x11" * 20)),
        tree.get(holder_count_key(TOKEN_1)),
    )
    assert got == after
    if after[0] != 10:  # moved: the holder's revenue was settled on its balance before the move
        assert tree.get(revenue_owed_key(1, b"\x11" * 20)) == 20
    check_parity(l1, FORCED_STATE, item, record=False)


RECOVERY = "recoveryAddress(uint256,address,address)"


@pytest.mark.parametrize(
    ("key", "new", "extra", "recovered"),
    [
        (KEYS[1], OUTSIDER, {}, True),  # balance, frozen units, freeze and revenue move to OUTSIDER
        (KEYS[1], OUTSIDER, {token_balance_key(TOKEN_1, OUTSIDER): 4}, True),  # into a holding wallet
        (KEYS[1], b"\x22" * 20, {}, False),  # new wallet off the allowlist
        (KEYS[1], b"\x11" * 20, {}, False),  # the same wallet
        (KEYS[1], OUTSIDER, {asset_field_key(1, F_REQUIREMENTS): 2 << 8}, False),  # claims too low
        (KEYS[2], OUTSIDER, {}, False),  # not an agent
        (KEYS[1], OUTSIDER, {token_balance_key(TOKEN_1, b"\x11" * 20): 0}, False),  # nothing to recover
    ],
)
def test_recovery_address_cases_agree(
    l1: Any, key: bytes, new: bytes, extra: dict[int, int], recovered: bool
) -> None:
    leaves = {k: v for k, v in (FORCED_STATE | extra).items() if v}
    item = _asset_call(key, RECOVERY, 1, HOLDER, int.from_bytes(new, "big"))
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    tree = SparseMerkleTree(store, witness.post_root)
    if recovered:
        assert tree.get(token_balance_key(TOKEN_1, new)) == 10 + extra.get(token_balance_key(TOKEN_1, new), 0)
        assert tree.get(frozen_tokens_key(1, new)) == 6 and tree.get(frozen_key(1, new)) == 1
        assert tree.get(revenue_owed_key(1, new)) > 0
    assert tree.get(token_balance_key(TOKEN_1, b"\x11" * 20)) == (
        0 if recovered else leaves.get(token_balance_key(TOKEN_1, b"\x11" * 20), 0)
    )
    check_parity(l1, leaves, item, record=False)


def test_fixed_system_contracts_accessor() -> None:
    """The dispatch tables as the deploy reads them: the bridge's withdraw and the registry's subscribe,
    depositRevenue and redeem are the payable ones; every asset function the one-step proof covers exists."""
    assert FIXED[L2_BRIDGE].payable == {WITHDRAW}
    assert FIXED[L2_BRIDGE].functions == {WITHDRAWAL_COUNT, WITHDRAWAL_HASH}
    payable = {
        abi_selector(f) for f in ("subscribe(uint256,uint128)", "depositRevenue(uint256)", "redeem(uint256)")
    }
    assert FIXED[ASSET_REGISTRY].payable == payable
    assert not FIXED[ASSET_REGISTRY].payable & FIXED[ASSET_REGISTRY].functions
    assert ASSET_COVERED <= FIXED[ASSET_REGISTRY].functions
    assert FIXED[IDENTITY_REGISTRY].payable == frozenset()


# --- cash flows: revenue and redemption (OneStepProofAssets, jovay/stf/cashflow.py) ---------------------

CASH_HOLDERS = [b"\x11" * 20, AGENT]
OPEN_ISSUANCE = "openIssuance(uint256,uint64,uint64,uint128,uint128,uint128)"
MATURITY = NOW - 5


def _cash_state(
    *,
    stage: int = 4,
    supply: int = 15,
    per_unit: int = 0,
    pool: int = 0,
    frozen: int = 0,
    frozen_units: int = 0,
    approved: bool = True,
) -> dict[int, int]:
    """Asset 1 of ISSUER, TOKEN_1's, at `stage`, maturity MATURITY: 0x11.. holds 10 units and AGENT 5 of
    `supply`, checkpointed 3 wei per unit below `per_unit`; the registry's account holds the pool and
    10^15 wei of deposits."""
    leaves = {account_key(s): pack_account(0, 10**18) for s in SENDERS} | {
        account_key(ASSET_REGISTRY): pack_account(0, pool + 10**15),
        asset_field_key(0, 0): 1,
        asset_field_key(1, F_ISSUER): int.from_bytes(ISSUER, "big"),
        asset_field_key(1, F_STATUS): stage | 3 << 8 | int(approved) << 16,
        asset_field_key(1, F_TOKEN): int.from_bytes(TOKEN_1, "big"),
        asset_field_key(1, F_TERMS): 1 | MATURITY << 8,
        asset_field_key(1, F_REVENUE_PER_UNIT): per_unit,
        asset_field_key(1, F_REDEMPTION_POOL): pool,
        token_asset_key(TOKEN_1): 1,
        token_field_key(TOKEN_1, 4): supply,
        token_balance_key(TOKEN_1, b"\x11" * 20): 10 if supply else 0,
        token_balance_key(TOKEN_1, AGENT): 5 if supply else 0,
        holder_count_key(TOKEN_1): 2 if supply else 0,
        frozen_key(1, b"\x11" * 20): frozen,
        frozen_tokens_key(1, b"\x11" * 20): frozen_units,
        revenue_owed_key(1, AGENT): 4,
    }
    for holder in CASH_HOLDERS:  # at most 3 wei per unit accrued, which the registry's account holds
        leaves[revenue_checkpoint_key(1, holder)] = max(0, per_unit - (3 << 64))
    return {k: v for k, v in leaves.items() if v}


def _cash_call(key: bytes, signature: str, *words: int, value: int = 0) -> BatchItem:
    data = abi_selector(signature) + b"".join(_u(w) for w in words)
    raw = sign_transaction(DynamicFeeTx(CHAIN_ID, 0, 10**6, 10**9, 200_000, ASSET_REGISTRY, value, data), key)
    return BatchItem(ITEM_TRANSACTION, 1, NOW, BASE_FEE, raw)


CASH_CALLS = [
    ("depositRevenue(uint256)", ["id"]),
    ("redeem(uint256)", ["id"]),
    ("claimRevenue(uint256,address)", ["id", "address"]),
    ("claimRedemption(uint256,address)", ["id", "address"]),
    ("closeAsset(uint256)", ["id"]),
    ("cashFlows(uint256)", ["id"]),
    (OPEN_ISSUANCE, ["id", "u64", "u64", "u128", "u128", "u128"]),
    ("subscribe(uint256,uint128)", ["id", "u128"]),
    ("registerAsset(address,uint8,bytes32,bytes32)", ["address", "u8", "u128", "id"]),
    ("structureAsset(uint256,uint8,uint64,uint32,uint128)", ["id", "u8", "u64", "u32", "u128"]),
]


@st.composite
def cash_states(draw: st.DrawFn) -> dict[int, int]:
    return _cash_state(
        stage=draw(st.sampled_from([4, 4, 5, 5, 3, 2, 2, 0, 1])),
        approved=draw(st.booleans()),
        supply=draw(st.sampled_from([15, 15, 0])),
        per_unit=draw(st.sampled_from([0, 3 << 64, (1 << 192) - 2])),
        pool=draw(st.sampled_from([0, 10**6, 7])),
        frozen=draw(st.sampled_from([0, 0, 1])),
        frozen_units=draw(st.sampled_from([0, 0, 2])),
    )


@st.composite
def cash_calls(draw: st.DrawFn) -> BatchItem:
    signature, kinds = draw(st.sampled_from(CASH_CALLS))
    data = abi_selector(signature) + b"".join(_u(draw(st.sampled_from(_ARGUMENTS[k]))) for k in kinds)
    if draw(st.integers(0, 9)) == 0:
        data = data[:-1] if draw(st.booleans()) else data + b"\x00"
    payable = signature.startswith(("depositRevenue", "redeem", "subscribe"))
    value = draw(st.sampled_from([0, 1, 10**6, 10**15])) if payable or draw(st.integers(0, 9)) == 0 else 0
    key = draw(st.sampled_from(KEYS))
    tx = DynamicFeeTx(
        CHAIN_ID,
        0,
        10**6,
        10**9,
        draw(st.sampled_from([30_000, 100_000, 200_000])),
        ASSET_REGISTRY,
        value,
        data,
    )
    timestamp = draw(st.sampled_from([MATURITY - 1, MATURITY, NOW]))
    return BatchItem(ITEM_TRANSACTION, 1, timestamp, BASE_FEE, sign_transaction(tx, key))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cash_states(), cash_calls())
def test_cash_flow_calls_agree(l1: Any, leaves: dict[int, int], item: BatchItem) -> None:
    check_parity(l1, leaves, item)


@pytest.mark.parametrize(
    ("leaves", "item", "written"),  # written: (key, value) the call leaves, or None when it reverts
    [
        (
            _cash_state(),
            _cash_call(KEYS[0], "depositRevenue(uint256)", 1, value=15),
            (asset_field_key(1, F_REVENUE_PER_UNIT), 1 << 64),
        ),
        (_cash_state(), _cash_call(KEYS[1], "depositRevenue(uint256)", 1, value=15), None),  # not the issuer
        (
            _cash_state(supply=0),
            _cash_call(KEYS[0], "depositRevenue(uint256)", 1, value=15),
            None,
        ),  # no units
        (_cash_state(), _cash_call(KEYS[0], "depositRevenue(uint256)", 1), None),  # nothing sent
        (
            _cash_state(per_unit=3 << 64),
            _cash_call(KEYS[2], "claimRevenue(uint256,address)", 1, HOLDER),
            (revenue_owed_key(1, b"\x11" * 20), 0),
        ),
        (
            _cash_state(per_unit=3 << 64, frozen=1),
            _cash_call(KEYS[2], "claimRevenue(uint256,address)", 1, HOLDER),
            None,
        ),  # a frozen holder
        (
            _cash_state(),
            _cash_call(KEYS[2], "claimRevenue(uint256,address)", 1, HOLDER),
            None,
        ),  # nothing owed
        (
            _cash_state(),
            _cash_call(KEYS[0], "redeem(uint256)", 1, value=10**6),
            (asset_field_key(1, F_REDEMPTION_POOL), 10**6),
        ),
        (_cash_state(stage=5), _cash_call(KEYS[0], "redeem(uint256)", 1, value=10**6), None),  # redeemed
        (
            _cash_state(stage=5, pool=10**6),
            _cash_call(KEYS[2], "claimRedemption(uint256,address)", 1, HOLDER),
            (token_balance_key(TOKEN_1, b"\x11" * 20), 0),
        ),
        (
            _cash_state(stage=5, pool=10**6, frozen_units=2),
            _cash_call(KEYS[2], "claimRedemption(uint256,address)", 1, HOLDER),
            None,
        ),  # frozen units
        (
            _cash_state(stage=5, pool=10**6),
            _cash_call(KEYS[0], "closeAsset(uint256)", 1),
            None,
        ),  # outstanding
        (
            _cash_state(stage=5, pool=7, supply=0),
            _cash_call(KEYS[0], "closeAsset(uint256)", 1),
            (asset_field_key(1, F_STATUS), 6 | 3 << 8 | 1 << 16),
        ),
        (
            _cash_state(stage=2),
            _cash_call(KEYS[0], OPEN_ISSUANCE, 1, NOW, NOW + 10, 1, 100, 7),
            (asset_field_key(1, F_WINDOW), NOW | (NOW + 10) << 64),
        ),
        (
            _cash_state(stage=2, approved=False),
            _cash_call(KEYS[0], OPEN_ISSUANCE, 1, NOW, NOW + 10, 1, 100, 7),
            None,
        ),  # not approved
        (
            _cash_state(stage=2),
            _cash_call(KEYS[0], OPEN_ISSUANCE, 1, NOW, NOW, 1, 100, 7),
            None,
        ),  # empty window
        (
            _cash_state(stage=2),
            _cash_call(KEYS[0], OPEN_ISSUANCE, 1, NOW, NOW + 1, 9, 8, 7),
            None,
        ),  # min > max
        (
            _cash_state(stage=2),
            _cash_call(KEYS[1], OPEN_ISSUANCE, 1, NOW, NOW + 1, 1, 8, 7),
            None,
        ),  # not issuer
    ],
)
def test_cash_flow_cases_agree(
    l1: Any, leaves: dict[int, int], item: BatchItem, written: tuple[int, int] | None
) -> None:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    after = SparseMerkleTree(store, witness.post_root)
    if written is not None:
        assert after.get(written[0]) == written[1]
    else:  # only the sender's account (the fees) and the fee vault change
        changed = {leaf.key for leaf in witness.leaves if after.get(leaf.key) != leaf.value}
        assert changed <= {account_key(s) for s in SENDERS} | {account_key(FEE_VAULT)}
    check_parity(l1, leaves, item, record=False)


def test_cash_flow_witness_tampering_fails(l1: Any) -> None:
    """A claimRedemption whose witness lies about the pool (a bigger payout) or the holder's units does
    not pass against the real pre-state root."""
    leaves = _cash_state(stage=5, pool=10**6)
    item = _cash_call(KEYS[2], "claimRedemption(uint256,address)", 1, HOLDER)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    for key, value in [
        (asset_field_key(1, F_REDEMPTION_POOL), 10**9),
        (token_balance_key(TOKEN_1, b"\x11" * 20), 15),
    ]:
        lying = [
            dataclasses.replace(leaf, value=value) if leaf.key == key else leaf for leaf in witness.leaves
        ]
        assert lying != witness.leaves
        with pytest.raises(Exception, match="SparseMerkle"):
            execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))


def test_open_issuance_witness_tampering_fails(l1: Any) -> None:
    """openIssuance of an asset not yet approved is refused; a witness that claims the approval bit (the
    window then opens) does not pass against the real pre-state root."""
    leaves = _cash_state(stage=2, approved=False)
    item = _cash_call(KEYS[0], OPEN_ISSUANCE, 1, NOW, NOW + 10, 1, 100, 7)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    assert SparseMerkleTree(store, witness.post_root).get(asset_field_key(1, F_WINDOW)) == 0
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    status = asset_field_key(1, F_STATUS)
    lying = [
        dataclasses.replace(leaf, value=leaf.value | 1 << 16) if leaf.key == status else leaf
        for leaf in witness.leaves
    ]
    assert lying != witness.leaves
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))


def _issuing_state(**changes: int) -> dict[int, int]:
    """Asset 1 Issuing, window [NOW - 10, NOW + 10), 1 to 100 units per investor at 7 wei, cap 1,000;
    SENDERS[2] (OUTSIDER) allowlisted; `changes` replace leaves by name."""
    fields = {
        "window": (asset_field_key(1, F_WINDOW), (NOW - 10) | (NOW + 10) << 64),
        "min": (asset_field_key(1, F_MIN_SUBSCRIPTION), 1),
        "max": (asset_field_key(1, F_MAX_SUBSCRIPTION), 100),
        "price": (asset_field_key(1, F_PRICE), 7),
        "cap": (asset_field_key(1, F_SUPPLY_CAP), 1_000),
        "allowed": (allowlist_key(OUTSIDER), 1),
        "max_holders": (asset_field_key(1, F_RULES), 0),
        "requirements": (asset_field_key(1, F_REQUIREMENTS), 0),
        "frozen": (frozen_key(1, OUTSIDER), 0),
    }
    leaves = _cash_state(stage=3)
    for name, (key, value) in fields.items():
        leaves[key] = changes.get(name, value)
    return {k: v for k, v in leaves.items() if v}


SUBSCRIBE_SIG = "subscribe(uint256,uint128)"


@pytest.mark.parametrize(
    ("leaves", "value", "amount", "minted"),
    [
        (_issuing_state(), 70, 10, True),
        (_issuing_state(), 69, 10, False),  # wrong payment
        (_issuing_state(allowed=0), 70, 10, False),  # not allowlisted
        (_issuing_state(window=NOW + 1 | (NOW + 10) << 64), 70, 10, False),  # not started
        (_issuing_state(window=(NOW - 10) | NOW << 64), 70, 10, False),  # ended
        (_issuing_state(min=11), 70, 10, False),  # below the minimum
        (_issuing_state(max=9), 70, 10, False),  # above the maximum
        (_issuing_state(cap=20), 70, 10, False),  # over the cap (15 outstanding)
        (_issuing_state(max_holders=2), 70, 10, False),  # a third holder
        (_issuing_state(frozen=1), 70, 10, False),  # frozen investor
        (_issuing_state(requirements=1), 70, 10, False),  # KYC required, no claims
        (_issuing_state(), 0, 0, False),  # zero amount
    ],
)
def test_subscribe_cases_agree(
    l1: Any, leaves: dict[int, int], value: int, amount: int, minted: bool
) -> None:
    item = _cash_call(KEYS[2], SUBSCRIBE_SIG, 1, amount, value=value)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    after = SparseMerkleTree(store, witness.post_root)
    assert after.get(token_balance_key(TOKEN_1, OUTSIDER)) == (amount if minted else 0)
    check_parity(l1, leaves, item, record=False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from([0, 1]),
    st.sampled_from([0, 2, 3]),
    st.sampled_from([NOW - 11, NOW, NOW + 10]),
    st.sampled_from([0, 1, 10, 101]),
    st.sampled_from([0, 7, 70, 71]),
)
def test_subscribe_calls_agree(
    l1: Any, allowed: int, max_holders: int, timestamp: int, amount: int, value: int
) -> None:
    leaves = _issuing_state(allowed=allowed, max_holders=max_holders)
    item = dataclasses.replace(
        _cash_call(KEYS[2], SUBSCRIBE_SIG, 1, amount, value=value), timestamp=timestamp
    )
    check_parity(l1, leaves, item)


def test_subscribe_witness_tampering_fails(l1: Any) -> None:
    """A subscription by an investor not on the allowlist is refused; a witness that claims it is (the
    units then minted) does not pass against the real pre-state root."""
    leaves = _issuing_state(allowed=0)
    item = _cash_call(KEYS[2], SUBSCRIBE_SIG, 1, 10, value=70)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    key = allowlist_key(OUTSIDER)
    lying = [dataclasses.replace(leaf, value=1) if leaf.key == key else leaf for leaf in witness.leaves]
    assert lying != witness.leaves
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))


REGISTER = "registerAsset(address,uint8,bytes32,bytes32)"
STRUCTURE = "structureAsset(uint256,uint8,uint64,uint32,uint128)"


@pytest.mark.parametrize(
    ("leaves", "item", "written"),  # written: (key, value) the call leaves, or None when it reverts
    [
        (
            _cash_state(),
            _cash_call(KEYS[2], REGISTER, HOLDER, 3, 2**255 + 5, 9),
            (asset_field_key(2, F_STATUS), 3 << 8),
        ),
        (_cash_state(), _cash_call(KEYS[2], REGISTER, 0, 3, 1, 2), None),  # zero originator
        (_cash_state(), _cash_call(KEYS[2], REGISTER, HOLDER, 256, 1, 2), None),  # class beyond uint8
        (
            _cash_state(stage=0),
            _cash_call(KEYS[0], STRUCTURE, 1, 2, NOW + 100, 500, 10**6),
            (asset_field_key(1, F_TERMS), 2 | (NOW + 100) << 8 | 500 << 72),
        ),
        (_cash_state(stage=0), _cash_call(KEYS[0], STRUCTURE, 1, 2, NOW, 500, 0), None),  # zero cap
        (_cash_state(stage=0), _cash_call(KEYS[1], STRUCTURE, 1, 2, NOW, 500, 9), None),  # not the issuer
        (_cash_state(stage=1), _cash_call(KEYS[0], STRUCTURE, 1, 2, NOW, 500, 9), None),  # already structured
    ],
)
def test_register_and_structure_cases_agree(
    l1: Any, leaves: dict[int, int], item: BatchItem, written: tuple[int, int] | None
) -> None:
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    after = SparseMerkleTree(store, witness.post_root)
    if written is not None:
        assert after.get(written[0]) == written[1]
    else:
        changed = {leaf.key for leaf in witness.leaves if after.get(leaf.key) != leaf.value}
        assert changed <= {account_key(s) for s in SENDERS} | {account_key(FEE_VAULT)}
    check_parity(l1, leaves, item, record=False)


def test_register_asset_witness_tampering_fails(l1: Any) -> None:
    """registerAsset numbers the new asset from the asset count: a witness that lies about the count
    (overwriting asset 1 instead of creating asset 2) does not pass against the real pre-state root."""
    leaves = _cash_state()
    item = _cash_call(KEYS[2], REGISTER, HOLDER, 3, 1, 2)
    store = MemoryNodeStore()
    pre = SparseMerkleTree(store).update_many(leaves)
    witness = step_witness(store, pre, [item], 0, RULES.apply)
    assert execute_on_l1(l1, pre, witness) == witness.post_root
    count = asset_field_key(0, 0)
    lying = [dataclasses.replace(leaf, value=0) if leaf.key == count else leaf for leaf in witness.leaves]
    assert lying != witness.leaves
    with pytest.raises(Exception, match="SparseMerkle|missing state leaf"):
        execute_on_l1(l1, pre, dataclasses.replace(witness, leaves=lying))
