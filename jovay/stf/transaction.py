"""process_transaction: one signed transaction or L1 deposit applied to a block's working state.

Validity rules (the ones that keep a transaction out of a block) raise `InvalidTransaction` with
geth's wording; a valid transaction whose call fails still lands, with status 0, paying its gas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jovay.codec.blocks import Log
from jovay.codec.transactions import DepositTx, SignedTx, intrinsic_gas
from jovay.errors import InvalidTransaction, NonceTooLow, NotYetValid
from jovay.params import FEE_VAULT, MAX_NONCE, ZERO_ADDRESS
from jovay.state.keys import system_field_key
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import BalanceOverflow, add_balance, get_account, set_account, sub_balance
from jovay.stf.results import Revert
from jovay.stf.system import call_system_contract, is_system_contract

NEXT_L1_MESSAGE_FIELD = 2


@dataclass(frozen=True, slots=True)
class BlockEnv:
    """What a transaction may know about its block."""

    number: int
    timestamp: int
    base_fee: int
    gas_limit: int
    chain_id: int
    coinbase: bytes = FEE_VAULT


@dataclass(slots=True)
class TxOutcome:
    status: int
    gas_used: int
    effective_gas_price: int
    logs: list[Log] = field(default_factory=list)
    return_data: bytes = b""


def effective_gas_price(tx: SignedTx, base_fee: int) -> int:
    return min(tx.tx.max_fee_per_gas, base_fee + tx.tx.max_priority_fee_per_gas)


def check_static_rules(state: StateOverlay, env: BlockEnv, signed: SignedTx) -> int:
    """Rules that do not depend on the sender's nonce or balance; returns the intrinsic gas."""
    tx = signed.tx
    if tx.to is None:
        raise InvalidTransaction("contract creation is not supported: Jovay runs system contracts only")
    if tx.data and not is_system_contract(state, tx.to):
        raise InvalidTransaction(f"calldata to 0x{tx.to.hex()} rejected: not a system contract")
    needed = intrinsic_gas(tx)
    if tx.gas_limit < needed:
        raise InvalidTransaction(f"intrinsic gas too low: gas {tx.gas_limit}, minimum needed {needed}")
    if tx.gas_limit > env.gas_limit:
        raise InvalidTransaction(f"exceeds block gas limit: gas {tx.gas_limit}, limit {env.gas_limit}")
    if tx.max_priority_fee_per_gas > tx.max_fee_per_gas:
        raise InvalidTransaction(
            f"max priority fee per gas higher than max fee per gas: address 0x{signed.sender.hex()}, "
            f"maxPriorityFeePerGas: {tx.max_priority_fee_per_gas}, maxFeePerGas: {tx.max_fee_per_gas}"
        )
    if tx.max_fee_per_gas < env.base_fee:
        raise NotYetValid(
            f"max fee per gas less than block base fee: address 0x{signed.sender.hex()}, "
            f"maxFeePerGas: {tx.max_fee_per_gas}, baseFee: {env.base_fee}"
        )
    return needed


def check_funds(signed: SignedTx, balance: int) -> None:
    tx = signed.tx
    cost = tx.gas_limit * tx.max_fee_per_gas + tx.value
    if balance < cost:
        raise InvalidTransaction(
            f"insufficient funds for gas * price + value: address 0x{signed.sender.hex()} "
            f"have {balance} want {cost}"
        )


def pure_check_admission(state: StateOverlay, env: BlockEnv, signed: SignedTx) -> int:
    """What admission checks against the head's state and the next block's base fee: the static rules,
    then the funds; returns the sender's account nonce (the pool checks the transaction's nonce).

    The pure twin of jovay/_native/_transfers.pyx's `check_admission` (`check_admission` below is the
    one in use), which checks plain transfers in C and hands anything else, and every error, to this."""
    check_static_rules(state, env, signed)
    nonce, balance = get_account(state, signed.sender)
    check_funds(signed, balance)
    return nonce


def check_nonce(signed: SignedTx, state_nonce: int) -> None:
    nonce = signed.tx.nonce
    address = "0x" + signed.sender.hex()
    if nonce < state_nonce:
        raise NonceTooLow(f"nonce too low: address {address}, tx: {nonce} state: {state_nonce}")
    if nonce > state_nonce:
        raise NotYetValid(f"nonce too high: address {address}, tx: {nonce} state: {state_nonce}")
    if nonce >= MAX_NONCE:
        raise InvalidTransaction(f"nonce has max value: address {address}, nonce: {nonce}")


def process_transaction(state: StateOverlay, env: BlockEnv, signed: SignedTx, gas_left: int) -> TxOutcome:
    """Apply one signed transaction; raises `InvalidTransaction` if it may not be in this block.

    Plain ETH and token transfers that succeed take jovay/stf/transfers.py's fast path (same writes,
    same outcome); everything else, and every error, comes from `process_transaction_general`.
    """
    outcome = _apply_transfer(state, env, signed, gas_left)
    if outcome is not None:
        return outcome
    return process_transaction_general(state, env, signed, gas_left)


def process_transaction_general(
    state: StateOverlay, env: BlockEnv, signed: SignedTx, gas_left: int
) -> TxOutcome:
    """The reference rules for any transaction (the fast path's results are checked against these)."""
    intrinsic = check_static_rules(state, env, signed)
    tx, sender = signed.tx, signed.sender
    if tx.gas_limit > gas_left:
        raise NotYetValid(f"gas limit reached: tx gas {tx.gas_limit}, block gas left {gas_left}")
    nonce, balance = get_account(state, sender)
    check_nonce(signed, nonce)
    check_funds(signed, balance)
    price = effective_gas_price(signed, env.base_fee)
    set_account(state, sender, nonce + 1, balance - tx.gas_limit * price)
    outcome = _execute(state, env, signed, tx.to or ZERO_ADDRESS, intrinsic, price)
    add_balance(state, sender, (tx.gas_limit - outcome.gas_used) * price)
    add_balance(state, env.coinbase, outcome.gas_used * (price - env.base_fee))
    return outcome


def _execute(
    state: StateOverlay, env: BlockEnv, signed: SignedTx, to: bytes, intrinsic: int, price: int
) -> TxOutcome:
    """The value transfer or system call to `to`, undone entirely if it reverts or runs out of gas."""
    tx = signed.tx
    snapshot = state.snapshot()
    try:
        if is_system_contract(state, to):
            result = call_system_contract(state, signed.sender, to, tx.data, env, tx.value)
            outcome = TxOutcome(1, intrinsic + result.gas, price, result.logs, result.return_data)
        else:
            sub_balance(state, signed.sender, tx.value)
            add_balance(state, to, tx.value)
            outcome = TxOutcome(1, intrinsic, price)
    except Revert as revert:
        state.revert(snapshot)
        outcome = TxOutcome(0, intrinsic + revert.gas, price, return_data=revert.data)
    except BalanceOverflow as overflow:
        state.revert(snapshot)
        outcome = TxOutcome(0, intrinsic, price, return_data=Revert(str(overflow), 0).data)
    if outcome.gas_used > tx.gas_limit:
        state.revert(snapshot)
        outcome = TxOutcome(0, tx.gas_limit, price)
    return outcome


def next_l1_message_index(state: StateOverlay) -> int:
    return state.get(system_field_key(NEXT_L1_MESSAGE_FIELD))


def process_deposit(state: StateOverlay, deposit: DepositTx) -> TxOutcome:
    """Credit an L1 deposit; deposits must arrive in queue order, each exactly once."""
    expected = next_l1_message_index(state)
    if deposit.queue_index != expected:
        raise InvalidTransaction(
            f"deposit out of order: queue index {deposit.queue_index}, expected {expected}"
        )
    state.set(system_field_key(NEXT_L1_MESSAGE_FIELD), expected + 1)
    snapshot = state.snapshot()
    try:
        add_balance(state, deposit.to, deposit.value)
    except BalanceOverflow:
        state.revert(snapshot)
        return TxOutcome(0, 0, 0)
    return TxOutcome(1, 0, 0)


# Last: jovay/stf/transfers.py imports this module's names.
from jovay.stf.transfers import select_apply_transfer, select_check_admission  # noqa: E402

_apply_transfer = select_apply_transfer()
check_admission = select_check_admission()
