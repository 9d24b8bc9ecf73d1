"""Account reads and writes: nonce and ETH balance packed in one tree leaf."""

from __future__ import annotations

from jovay.params import MAX_UINT128
from jovay.state.keys import account_key, pack_account, unpack_account
from jovay.state.overlay import StateOverlay


class BalanceOverflow(ArithmeticError):
    """A balance would pass 2^128 wei, the most one leaf holds."""


def get_account(state: StateOverlay, address: bytes) -> tuple[int, int]:
    """(nonce, balance) of an address; absent accounts are (0, 0)."""
    return unpack_account(state.get(account_key(address)))


def set_account(state: StateOverlay, address: bytes, nonce: int, balance: int) -> None:
    state.set(account_key(address), pack_account(nonce, balance))


def get_balance(state: StateOverlay, address: bytes) -> int:
    return get_account(state, address)[1]


def get_nonce(state: StateOverlay, address: bytes) -> int:
    return get_account(state, address)[0]


def add_balance(state: StateOverlay, address: bytes, amount: int) -> None:
    nonce, balance = get_account(state, address)
    if balance + amount > MAX_UINT128:
        raise BalanceOverflow(f"balance of 0x{address.hex()} would exceed 2^128 wei")
    set_account(state, address, nonce, balance + amount)


def sub_balance(state: StateOverlay, address: bytes, amount: int) -> None:
    """Debit; callers check the balance first, so a shortfall here is a bug, not input."""
    nonce, balance = get_account(state, address)
    if amount > balance:
        raise ArithmeticError(f"debit {amount} exceeds balance {balance} of 0x{address.hex()}")
    set_account(state, address, nonce, balance - amount)
