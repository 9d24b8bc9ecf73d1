"""RWA token system contracts: one ERC-20-compatible address per token, transfers only to allowlisted
holders (ERC-3643 style), minting by the issuer only.

A token created by the asset lifecycle (jovay/stf/assets.py) is also held to its asset's stage and
compliance rules: `_move` makes one call into assets.before_transfer, which returns at once for tokens
that createToken made alone.

Amounts are uint128 (one tree leaf each); `approve(type(uint256).max)` is kept as an unlimited
allowance that `transferFrom` does not spend, as OpenZeppelin's ERC-20 does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from jovay.codec import abi
from jovay.params import DISPATCH_GAS, MAX_UINT128, MAX_UINT256, OP_GAS, UNLIMITED_ALLOWANCE, ZERO_ADDRESS
from jovay.state.keys import allowance_key, token_balance_key, token_field_key, unpack_string
from jovay.state.overlay import StateOverlay
from jovay.stf import assets  # a cycle: assets uses this module only inside its functions
from jovay.stf.identity import is_allowed
from jovay.stf.results import CallResult, Log, Revert

if TYPE_CHECKING:
    from jovay.stf.transaction import BlockEnv

FIELD_ISSUER, FIELD_NAME, FIELD_SYMBOL, FIELD_DECIMALS, FIELD_TOTAL_SUPPLY = range(5)

TRANSFER_TOPIC = abi.event_topic("Transfer(address,address,uint256)")
APPROVAL_TOPIC = abi.event_topic("Approval(address,address,uint256)")

TokenFunction = Callable[[StateOverlay, bytes, bytes, bytes, "BlockEnv | None"], CallResult]


def token_field(state: StateOverlay, token: bytes, field: int) -> int:
    return state.get(token_field_key(token, field))


def balance_of(state: StateOverlay, token: bytes, holder: bytes) -> int:
    return state.get(token_balance_key(token, holder))


def _amount(word: bytes, gas: int) -> int:
    value = abi.word_uint(word)
    if value > MAX_UINT128:
        raise Revert("JovayToken: amount exceeds uint128", gas)
    return value


def check_recipient(state: StateOverlay, to: bytes, gas: int) -> None:
    if to == ZERO_ADDRESS:
        raise Revert("ERC20: transfer to the zero address", gas)
    if not is_allowed(state, to):
        raise Revert("JovayToken: recipient not on allowlist", gas)


def _move(
    state: StateOverlay, token: bytes, src: bytes, dst: bytes, amount: int, gas: int, env: BlockEnv | None
) -> Log:
    """Move `amount` from `src` to `dst` and return the `Transfer` log."""
    check_recipient(state, dst, gas)
    if amount > balance_of(state, token, src):
        raise Revert("ERC20: transfer amount exceeds balance", gas)
    assets.before_transfer(state, token, src, dst, amount, env, gas)
    return move_balance(state, token, src, dst, amount, gas)


def move_balance(state: StateOverlay, token: bytes, src: bytes, dst: bytes, amount: int, gas: int) -> Log:
    """The bare balance move, with only the balance check: an agent's forcedTransfer needs no more."""
    src_key = token_balance_key(token, src)
    src_balance = state.get(src_key)
    if amount > src_balance:
        raise Revert("ERC20: transfer amount exceeds balance", gas)
    state.set(src_key, src_balance - amount)
    dst_key = token_balance_key(token, dst)
    state.set(dst_key, state.get(dst_key) + amount)  # sum <= totalSupply < 2^128
    return _transfer_log(token, src, dst, amount)


def _transfer_log(token: bytes, src: bytes, dst: bytes, amount: int) -> Log:
    topics = [TRANSFER_TOPIC, abi.address_word(src), abi.address_word(dst)]
    return Log(token, topics, abi.uint_word(amount))


def transfer(
    state: StateOverlay, token: bytes, sender: bytes, data: bytes, env: BlockEnv | None
) -> CallResult:
    gas = OP_GAS["token.transfer"]
    to_word, amount_word = abi.words(data, 2)
    log = _move(state, token, sender, abi.word_address(to_word), _amount(amount_word, gas), gas, env)
    return CallResult(gas, abi.bool_word(True), [log])


def transfer_from(
    state: StateOverlay, token: bytes, sender: bytes, data: bytes, env: BlockEnv | None
) -> CallResult:
    gas = OP_GAS["token.transferFrom"]
    from_word, to_word, amount_word = abi.words(data, 3)
    owner, amount = abi.word_address(from_word), _amount(amount_word, gas)
    key = allowance_key(token, owner, sender)
    allowance = state.get(key)
    if allowance != UNLIMITED_ALLOWANCE:
        if amount > allowance:
            raise Revert("ERC20: insufficient allowance", gas)
        state.set(key, allowance - amount)
    log = _move(state, token, owner, abi.word_address(to_word), amount, gas, env)
    return CallResult(gas, abi.bool_word(True), [log])


def approve(
    state: StateOverlay, token: bytes, sender: bytes, data: bytes, env: BlockEnv | None
) -> CallResult:
    gas = OP_GAS["token.approve"]
    spender_word, amount_word = abi.words(data, 2)
    spender, requested = abi.word_address(spender_word), abi.word_uint(amount_word)
    if spender == ZERO_ADDRESS:
        raise Revert("ERC20: approve to the zero address", gas)
    stored = UNLIMITED_ALLOWANCE if requested == MAX_UINT256 else _amount(amount_word, gas)
    state.set(allowance_key(token, sender, spender), stored)
    topics = [APPROVAL_TOPIC, abi.address_word(sender), abi.address_word(spender)]
    return CallResult(gas, abi.bool_word(True), [Log(token, topics, abi.uint_word(requested))])


def mint(state: StateOverlay, token: bytes, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """Issuer-only creation of new units, to an allowlisted holder; asset tokens mint by subscription."""
    gas = OP_GAS["token.mint"]
    to_word, amount_word = abi.words(data, 2)
    to, amount = abi.word_address(to_word), _amount(amount_word, gas)
    if sender != token_field(state, token, FIELD_ISSUER).to_bytes(20, "big"):
        raise Revert("JovayToken: caller is not the issuer", gas)
    if assets.asset_of_token(state, token):
        raise Revert("JovayToken: asset tokens are issued by subscription", gas)
    return CallResult(gas, abi.bool_word(True), [issue(state, token, to, amount, gas)])


def issue(state: StateOverlay, token: bytes, to: bytes, amount: int, gas: int) -> Log:
    """Mint `amount` to an allowlisted `to` (mint, and the asset lifecycle's subscribe)."""
    check_recipient(state, to, gas)
    supply_key = token_field_key(token, FIELD_TOTAL_SUPPLY)
    supply = state.get(supply_key) + amount
    if supply > MAX_UINT128:
        raise Revert("JovayToken: total supply exceeds uint128", gas)
    state.set(supply_key, supply)
    balance_key = token_balance_key(token, to)
    state.set(balance_key, state.get(balance_key) + amount)
    return _transfer_log(token, ZERO_ADDRESS, to, amount)


def _view(read: Callable[[StateOverlay, bytes, list[bytes]], bytes], arg_count: int) -> TokenFunction:
    """Wrap a read-only function: it costs the dispatch gas and writes nothing."""

    def call(
        state: StateOverlay, token: bytes, sender: bytes, data: bytes, env: BlockEnv | None
    ) -> CallResult:
        return CallResult(DISPATCH_GAS, read(state, token, abi.words(data, arg_count)))

    return call


def _string_field(field: int) -> TokenFunction:
    def read(state: StateOverlay, token: bytes, args: list[bytes]) -> bytes:
        text = unpack_string(token_field(state, token, field)).decode("utf-8", "replace")
        return abi.encode_values(["string"], [text])

    return _view(read, 0)


def _uint_field(field: int) -> TokenFunction:
    return _view(lambda state, token, args: abi.uint_word(token_field(state, token, field)), 0)


def _read_balance(state: StateOverlay, token: bytes, args: list[bytes]) -> bytes:
    return abi.uint_word(balance_of(state, token, abi.word_address(args[0])))


def _read_allowance(state: StateOverlay, token: bytes, args: list[bytes]) -> bytes:
    owner, spender = abi.word_address(args[0]), abi.word_address(args[1])
    stored = state.get(allowance_key(token, owner, spender))
    return abi.uint_word(MAX_UINT256 if stored == UNLIMITED_ALLOWANCE else stored)


def _read_issuer(state: StateOverlay, token: bytes, args: list[bytes]) -> bytes:
    return abi.address_word(token_field(state, token, FIELD_ISSUER).to_bytes(20, "big"))


FUNCTIONS: dict[bytes, TokenFunction] = {
    abi.selector("transfer(address,uint256)"): transfer,
    abi.selector("transferFrom(address,address,uint256)"): transfer_from,
    abi.selector("approve(address,uint256)"): approve,
    abi.selector("mint(address,uint256)"): mint,
    abi.selector("name()"): _string_field(FIELD_NAME),
    abi.selector("symbol()"): _string_field(FIELD_SYMBOL),
    abi.selector("decimals()"): _uint_field(FIELD_DECIMALS),
    abi.selector("totalSupply()"): _uint_field(FIELD_TOTAL_SUPPLY),
    abi.selector("balanceOf(address)"): _view(_read_balance, 1),
    abi.selector("allowance(address,address)"): _view(_read_allowance, 2),
    abi.selector("issuer()"): _view(_read_issuer, 0),
}
