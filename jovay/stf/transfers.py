"""The fast path of the two transactions a busy chain is made of: a plain ETH transfer and an RWA token
`transfer(address,uint256)` of a token that no asset lifecycle governs.

`apply_transfer` gives the outcome `process_transaction` would give, after the very same state writes
in the same order, or None with the state left as it was for anything else (an invalid transaction, a
revert, a system call, an access list, an overflow...), which then takes the general path. So it
can only ever change how fast a result comes, never the result; tests/native/test_transfers_fast_path.py
compares the two over random transactions.

This module is the pure-Python twin of jovay/_native/_transfers.pyx (same signature and results);
`select_apply_transfer` picks the native one unless JOVAY_PURE=1 or it is not built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final, cast

from jovay.codec import abi
from jovay.codec.blocks import Log
from jovay.params import (
    MAX_NONCE,
    MAX_UINT128,
    OP_GAS,
    TOKEN_ADDRESS_PREFIX,
    TX_BASE_GAS,
    TX_DATA_NONZERO_GAS,
    TX_DATA_ZERO_GAS,
    ZERO_ADDRESS,
)
from jovay.state.keys import account_key, allowlist_key, system_field_key, token_balance_key
from jovay.state.overlay import StateOverlay
from jovay.stf.assets import token_asset_key
from jovay.stf.registry import TOKEN_COUNT_FIELD
from jovay.stf.system import FIXED_SYSTEM_ADDRESSES
from jovay.stf.token import TRANSFER_TOPIC

if TYPE_CHECKING:
    from jovay.codec.transactions import SignedTx
    from jovay.stf.transaction import BlockEnv, TxOutcome

TRANSFER_SELECTOR: Final = abi.selector("transfer(address,uint256)")
TRANSFER_GAS: Final = OP_GAS["token.transfer"]
TRANSFER_RETURN: Final = abi.bool_word(True)
TRANSFER_CALLDATA_BYTES: Final = 4 + 2 * 32
ACCOUNT_VALUE_LIMIT: Final = 1 << 192  # nonce < 2^64 above a 128-bit balance (keys.unpack_account)
_DIRTY_ADDRESS_BYTES: Final = slice(4, 16)
_ZERO_12: Final = bytes(12)
_PREFIX_LENGTH: Final = len(TOKEN_ADDRESS_PREFIX)

ApplyTransfer = Callable[[StateOverlay, "BlockEnv", "SignedTx", int], "TxOutcome | None"]
CheckAdmission = Callable[[StateOverlay, "BlockEnv", "SignedTx"], int]


def _credit(state: StateOverlay, key: int, amount: int) -> bool:
    """accounts.add_balance on a key: False (nothing written) where it would raise instead."""
    value = state.get(key)
    if not 0 <= value < ACCOUNT_VALUE_LIMIT or (value & MAX_UINT128) + amount > MAX_UINT128:
        return False
    state.set(key, value + amount)  # nonce << 128 | balance: adding to the balance bits
    return True


def apply_transfer(
    state: StateOverlay, env: BlockEnv, signed_tx: SignedTx, gas_left: int
) -> TxOutcome | None:
    """`process_transaction` for a valid, successful plain transfer; None (state untouched) otherwise."""
    from jovay.stf.transaction import TxOutcome  # (that module imports this one)

    tx = signed_tx.tx
    to, data = tx.to, tx.data
    if to is None or tx.access_list:
        return None
    is_token = bool(data)
    if is_token:
        if (
            len(data) != TRANSFER_CALLDATA_BYTES
            or data[:4] != TRANSFER_SELECTOR
            or data[_DIRTY_ADDRESS_BYTES] != _ZERO_12
            or tx.value
            or not to.startswith(TOKEN_ADDRESS_PREFIX)
        ):
            return None
        zeros = data.count(0)
        intrinsic = TX_BASE_GAS + zeros * TX_DATA_ZERO_GAS + (len(data) - zeros) * TX_DATA_NONZERO_GAS
        gas_used = intrinsic + TRANSFER_GAS
    elif to in FIXED_SYSTEM_ADDRESSES or to.startswith(TOKEN_ADDRESS_PREFIX):
        return None
    else:
        gas_used = TX_BASE_GAS
    gas_limit, max_fee, tip_cap = tx.gas_limit, tx.max_fee_per_gas, tx.max_priority_fee_per_gas
    base_fee = env.base_fee
    if gas_used > gas_limit or gas_limit > env.gas_limit or gas_limit > gas_left:
        return None
    if tip_cap > max_fee or max_fee < base_fee:
        return None
    sender = signed_tx.sender
    sender_key = account_key(sender)
    account = state.get(sender_key)
    if not 0 <= account < ACCOUNT_VALUE_LIMIT:
        return None
    nonce, balance = account >> 128, account & MAX_UINT128
    if tx.nonce != nonce or nonce >= MAX_NONCE or balance < gas_limit * max_fee + tx.value:
        return None
    if is_token:
        token_id = int.from_bytes(to[_PREFIX_LENGTH:], "big")
        dst, amount = data[16:36], int.from_bytes(data[36:], "big")
        src_key = token_balance_key(to, sender)
        if (
            not 1 <= token_id <= state.get(system_field_key(TOKEN_COUNT_FIELD))
            or amount > MAX_UINT128
            or dst == ZERO_ADDRESS
            or state.get(allowlist_key(dst)) != 1
            or amount > state.get(src_key)
            or state.get(token_asset_key(to))
        ):
            return None
    price = min(max_fee, base_fee + tip_cap)
    snapshot = state.snapshot()
    state.set(sender_key, (nonce + 1) << 128 | (balance - gas_limit * price))
    logs: list[Log] = []
    if is_token:
        state.set(src_key, state.get(src_key) - amount)
        dst_key = token_balance_key(to, dst)
        state.set(dst_key, state.get(dst_key) + amount)
        logs.append(Log(to, [TRANSFER_TOPIC, _ZERO_12 + sender, _ZERO_12 + dst], amount.to_bytes(32, "big")))
    else:
        value = tx.value
        state.set(sender_key, state.get(sender_key) - value)  # covered: balance >= gas * max fee + value
        if not _credit(state, account_key(to), value):
            state.revert(snapshot)
            return None
    if not (
        _credit(state, sender_key, (gas_limit - gas_used) * price)
        and _credit(state, account_key(env.coinbase), gas_used * (price - base_fee))
    ):
        state.revert(snapshot)
        return None
    if is_token:
        return TxOutcome(1, gas_used, price, logs, TRANSFER_RETURN)
    return TxOutcome(1, gas_used, price)


def select_check_admission() -> CheckAdmission:
    """jovay.stf.transaction.pure_check_admission, or its native twin (jovay/_native/_transfers.pyx)
    when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import transfers_impl
    from jovay.stf.transaction import pure_check_admission  # (that module imports this one)

    native = transfers_impl()
    return pure_check_admission if native is None else cast(CheckAdmission, native.check_admission)


def select_apply_transfer() -> ApplyTransfer:
    """The native twin (jovay/_native/_transfers.pyx) when it is built and JOVAY_PURE=1 is not set."""
    from jovay._native import transfers_impl

    native = transfers_impl()
    return apply_transfer if native is None else cast(ApplyTransfer, native.apply_transfer)
