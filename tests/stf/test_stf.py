"""The state transition function, run directly over an in-memory state."""

from __future__ import annotations

import pytest
from eth_abi import decode

from jovay.codec.abi import decode_error
from jovay.codec.transactions import DepositTx
from jovay.errors import InvalidBlock, InvalidTransaction
from jovay.params import (
    ASSET_REGISTRY,
    DISPATCH_GAS,
    FEE_VAULT,
    IDENTITY_REGISTRY,
    MAX_UINT256,
    MIN_BASE_FEE,
    OP_GAS,
    TOKEN_ADDRESS_PREFIX,
)
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import get_account
from jovay.stf.block import BlockExecution, apply_block, next_base_fee
from jovay.stf.genesis import Genesis
from jovay.stf.token import TRANSFER_TOPIC
from jovay.stf.transaction import BlockEnv, process_deposit
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, calldata, signed_tx

ADMIN, ALICE, BOB, CAROL = ADDRESSES[:4]
ADMIN_KEY, ALICE_KEY, BOB_KEY, CAROL_KEY = KEYS[:4]
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
BASE_FEE = MIN_BASE_FEE
MAX_FEE = 3 * MIN_BASE_FEE
TIP = 1_000


def fresh_state(funded: tuple[bytes, ...] = (ADMIN, ALICE, BOB)) -> StateOverlay:
    genesis = Genesis(identity_admin=ADMIN, timestamp=1, alloc={a: 10 * ETH for a in funded})
    state = StateOverlay(lambda key: 0)
    for key, value in genesis.state_writes().items():
        state.set(key, value)
    return state


def env(gas_limit: int = 30_000_000) -> BlockEnv:
    return BlockEnv(number=1, timestamp=2, base_fee=BASE_FEE, gas_limit=gas_limit, chain_id=CHAIN_ID)


class Runner:
    """Applies signed transactions in one block, tracking each key's nonce."""

    def __init__(self, state: StateOverlay | None = None) -> None:
        self.state = state or fresh_state()
        self.block = BlockExecution(self.state, env())
        self.nonces: dict[bytes, int] = {}

    def send(self, key: bytes, to: bytes | None, data: bytes = b"", value: int = 0, gas: int = 200_000):
        nonce = self.nonces.get(key, 0)
        item = self.block.add_transaction(
            signed_tx(key, nonce=nonce, to=to, data=data, value=value, gas=gas, max_fee=MAX_FEE, tip=TIP)
        )
        self.nonces[key] = nonce + 1
        return item.outcome

    def call_ok(self, key: bytes, to: bytes, data: bytes):
        outcome = self.send(key, to, data)
        assert outcome.status == 1, decode_error(outcome.return_data)
        return outcome


def with_token(runner: Runner) -> None:
    runner.call_ok(
        ADMIN_KEY, ASSET_REGISTRY, calldata("createToken(string,string,uint8)", "Pile Revenue", "PILE", 6)
    )
    for holder in (ALICE, BOB):
        runner.call_ok(ADMIN_KEY, IDENTITY_REGISTRY, calldata("setAllowed(address,bool)", holder, True))
    runner.call_ok(ADMIN_KEY, TOKEN, calldata("mint(address,uint256)", ALICE, 1_000))


def token_balance(runner: Runner, holder: bytes) -> int:
    from jovay.stf.token import balance_of

    return balance_of(runner.state, TOKEN, holder)


# --- ETH transfers and fees ------------------------------------------------------------------------
def test_eth_transfer_moves_value_and_charges_fees() -> None:
    runner = Runner()
    outcome = runner.send(ALICE_KEY, CAROL, value=ETH, gas=50_000)
    assert (outcome.status, outcome.gas_used) == (1, 21_000)
    price = BASE_FEE + TIP
    assert outcome.effective_gas_price == price
    assert get_account(runner.state, ALICE) == (1, 10 * ETH - ETH - 21_000 * price)
    assert get_account(runner.state, CAROL) == (0, ETH)
    assert get_account(runner.state, FEE_VAULT)[1] == 21_000 * TIP  # base fee is burned


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nonce": 1}, "nonce too high"),
        ({"value": 11 * ETH}, "insufficient funds for gas * price + value"),
        ({"max_fee": BASE_FEE - 1, "tip": 0}, "max fee per gas less than block base fee"),
        ({"gas": 20_999}, "intrinsic gas too low: gas 20999, minimum needed 21000"),
        ({"to": None, "data": b"\x60\x00"}, "contract creation is not supported"),
        ({"data": b"\x01"}, "not a system contract"),
        ({"max_fee": BASE_FEE, "tip": BASE_FEE + 1}, "max priority fee per gas higher than max fee per gas"),
    ],
)
def test_invalid_transactions_are_rejected_and_change_nothing(kwargs: dict, message: str) -> None:
    runner = Runner()
    fields = {"nonce": 0, "to": CAROL, "gas": 100_000, "max_fee": MAX_FEE, "tip": TIP} | kwargs
    before = dict(runner.state.writes())
    with pytest.raises(InvalidTransaction, match=message.replace("*", r"\*").replace("+", r"\+")):
        runner.block.add_transaction(signed_tx(ALICE_KEY, **fields))
    assert runner.state.writes() == before


def test_nonce_too_low_after_use() -> None:
    runner = Runner()
    runner.send(ALICE_KEY, CAROL, value=1)
    with pytest.raises(InvalidTransaction, match="nonce too low"):
        runner.block.add_transaction(signed_tx(ALICE_KEY, nonce=0, to=CAROL, max_fee=MAX_FEE, tip=TIP))


def test_base_fee_follows_eip1559_with_floor() -> None:
    limit = 400_000_000
    assert next_base_fee(10**9, limit // 2, limit) == 10**9
    assert next_base_fee(10**9, limit, limit) == 10**9 + 10**9 // 8
    assert next_base_fee(10**9, 0, limit) == 10**9 - 10**9 // 8
    assert next_base_fee(MIN_BASE_FEE, 0, limit) == MIN_BASE_FEE


# --- RWA token and allowlist -----------------------------------------------------------------------
def test_token_lifecycle_mint_transfer_and_logs() -> None:
    runner = Runner()
    with_token(runner)
    data = calldata("transfer(address,uint256)", BOB, 400)
    outcome = runner.call_ok(ALICE_KEY, TOKEN, data)
    assert outcome.gas_used == 21_000 + _data_gas(data) + OP_GAS["token.transfer"]
    (log,) = outcome.logs
    assert log.address == TOKEN
    assert list(log.topics) == [TRANSFER_TOPIC, bytes(12) + ALICE, bytes(12) + BOB]
    assert int.from_bytes(log.data, "big") == 400
    assert (token_balance(runner, ALICE), token_balance(runner, BOB)) == (600, 400)


def _data_gas(data: bytes) -> int:
    return sum(4 if b == 0 else 16 for b in data)


def test_transfer_to_non_allowlisted_reverts_with_reason_and_pays_gas() -> None:
    runner = Runner()
    with_token(runner)
    balance_before = get_account(runner.state, ALICE)[1]
    data = calldata("transfer(address,uint256)", CAROL, 1)
    outcome = runner.send(ALICE_KEY, TOKEN, data)
    assert outcome.status == 0
    assert decode_error(outcome.return_data) == "JovayToken: recipient not on allowlist"
    assert outcome.gas_used == 21_000 + _data_gas(data) + OP_GAS["token.transfer"]
    assert token_balance(runner, ALICE) == 1_000 and token_balance(runner, CAROL) == 0
    assert get_account(runner.state, ALICE) == (1, balance_before - outcome.gas_used * (BASE_FEE + TIP))


@pytest.mark.parametrize(
    ("sender", "signature", "args", "reason"),
    [
        (BOB_KEY, "mint(address,uint256)", (BOB, 1), "JovayToken: caller is not the issuer"),
        (ADMIN_KEY, "mint(address,uint256)", (CAROL, 1), "JovayToken: recipient not on allowlist"),
        (ALICE_KEY, "transfer(address,uint256)", (BOB, 1_001), "ERC20: transfer amount exceeds balance"),
        (ALICE_KEY, "transfer(address,uint256)", (bytes(20), 1), "ERC20: transfer to the zero address"),
        (ALICE_KEY, "transfer(address,uint256)", (BOB, 2**128), "JovayToken: amount exceeds uint128"),
        (BOB_KEY, "transferFrom(address,address,uint256)", (ALICE, BOB, 1), "ERC20: insufficient allowance"),
        (BOB_KEY, "setAllowed(address,bool)", (CAROL, True), "IdentityRegistry: caller is not the admin"),
    ],
)
def test_reverts_carry_their_reason(sender: bytes, signature: str, args: tuple, reason: str) -> None:
    runner = Runner()
    with_token(runner)
    target = IDENTITY_REGISTRY if signature.startswith("setAllowed") else TOKEN
    outcome = runner.send(sender, target, calldata(signature, *args))
    assert outcome.status == 0
    assert decode_error(outcome.return_data) == reason
    assert outcome.logs == []


def test_approve_and_transfer_from_spend_allowance_unless_unlimited() -> None:
    runner = Runner()
    with_token(runner)
    runner.call_ok(ALICE_KEY, TOKEN, calldata("approve(address,uint256)", BOB, 300))
    runner.call_ok(BOB_KEY, TOKEN, calldata("transferFrom(address,address,uint256)", ALICE, BOB, 100))
    assert _view_uint(runner, TOKEN, calldata("allowance(address,address)", ALICE, BOB)) == 200
    runner.call_ok(ALICE_KEY, TOKEN, calldata("approve(address,uint256)", BOB, MAX_UINT256))
    runner.call_ok(BOB_KEY, TOKEN, calldata("transferFrom(address,address,uint256)", ALICE, BOB, 100))
    assert _view_uint(runner, TOKEN, calldata("allowance(address,address)", ALICE, BOB)) == MAX_UINT256
    assert (token_balance(runner, ALICE), token_balance(runner, BOB)) == (800, 200)


def _view_uint(runner: Runner, to: bytes, data: bytes) -> int:
    from jovay.stf.system import call_system_contract

    return int.from_bytes(call_system_contract(runner.state, ALICE, to, data).return_data, "big")


def test_views_answer_erc20_metadata() -> None:
    from jovay.stf.system import call_system_contract

    runner = Runner()
    with_token(runner)

    def view(signature: str, *args: object) -> bytes:
        return call_system_contract(runner.state, ALICE, TOKEN, calldata(signature, *args)).return_data

    assert decode(["string"], view("name()")) == ("Pile Revenue",)
    assert decode(["string"], view("symbol()")) == ("PILE",)
    assert decode(["uint8"], view("decimals()")) == (6,)
    assert decode(["uint256"], view("totalSupply()")) == (1_000,)
    assert decode(["address"], view("issuer()"))[0].lower() == "0x" + ADMIN.hex()


def test_out_of_gas_undoes_the_call_and_uses_all_gas() -> None:
    runner = Runner()
    with_token(runner)
    data = calldata("transfer(address,uint256)", BOB, 1)
    gas = 21_000 + _data_gas(data) + 10  # enough to enter, not to finish
    outcome = runner.send(ALICE_KEY, TOKEN, data, gas=gas)
    assert (outcome.status, outcome.gas_used, outcome.logs) == (0, gas, [])
    assert token_balance(runner, ALICE) == 1_000


def test_malformed_calldata_and_unknown_selector_revert_without_data() -> None:
    runner = Runner()
    with_token(runner)
    for data in (b"\xde\xad\xbe\xef", calldata("transfer(address,uint256)", BOB, 1)[:-1]):
        outcome = runner.send(ALICE_KEY, TOKEN, data)
        assert (outcome.status, outcome.return_data) == (0, b"")


def test_value_to_a_non_payable_system_function_reverts_and_moves_nothing() -> None:
    runner = Runner()
    before = get_account(runner.state, ALICE)[1]
    paid = 0
    for to, data in (
        (IDENTITY_REGISTRY, calldata("admin()")),
        (IDENTITY_REGISTRY, calldata("setAllowed(address,bool)", BOB, True)),
        (ASSET_REGISTRY, calldata("tokenCount()")),
        (ASSET_REGISTRY, b"\xde\xad\xbe\xef"),  # an unknown selector, with ETH
    ):
        outcome = runner.send(ALICE_KEY, to, data, value=1)
        assert outcome.status == 0
        assert decode_error(outcome.return_data) == "Jovay: function is not payable"
        assert outcome.gas_used == 21_000 + sum(4 if b == 0 else 16 for b in data) + DISPATCH_GAS
        assert get_account(runner.state, to)[1] == 0
        paid += outcome.gas_used * outcome.effective_gas_price
    assert before - get_account(runner.state, ALICE)[1] == paid  # only gas, no value moved


# --- deposits ----------------------------------------------------------------------------------------
def test_deposits_apply_in_queue_order_only() -> None:
    state = fresh_state(funded=())
    assert process_deposit(state, DepositTx(0, ALICE, BOB, 5)).status == 1
    assert get_account(state, BOB) == (0, 5)
    with pytest.raises(InvalidTransaction, match="deposit out of order"):
        process_deposit(state, DepositTx(0, ALICE, BOB, 5))  # replayed
    with pytest.raises(InvalidTransaction, match="deposit out of order"):
        process_deposit(state, DepositTx(2, ALICE, BOB, 5))  # skipped one
    assert get_account(state, BOB) == (0, 5)


def test_apply_block_rejects_a_block_with_an_invalid_transaction() -> None:
    state = fresh_state()
    good = signed_tx(ALICE_KEY, nonce=0, to=BOB, value=1, max_fee=MAX_FEE, tip=TIP)
    replay = good
    with pytest.raises(InvalidBlock, match="nonce too low"):
        apply_block(state, env(), [], [good, replay])
