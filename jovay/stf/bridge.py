"""The L2 side of the bridge (0x4a6f...0003): ETH withdrawals to L1.

`withdraw(address l1Recipient)` (payable) burns the ETH sent with it on L2 and records the message as one
state leaf, `withdrawal_key(index) = withdrawal_value(sender, l1Recipient, amount)`, with `index` taken
from system field 3. The L2-to-L1 message root is therefore the state root itself: once the output of
the withdrawal's batch is final on L1, the Bridge pays whoever's proof of that leaf checks out, once
(contracts/Bridge.sol `finalizeWithdrawal`). One leaf per withdrawal keeps the operation a fixed number
of reads and writes, as the one-step proof and the circuits need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from jovay.codec import abi
from jovay.codec.blocks import Log
from jovay.params import DISPATCH_GAS, L2_BRIDGE, MAX_UINT128, OP_GAS, ZERO_ADDRESS
from jovay.state.keys import system_field_key, withdrawal_key, withdrawal_value
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import sub_balance
from jovay.stf.results import CallResult, Revert

if TYPE_CHECKING:
    from jovay.stf.transaction import BlockEnv

NEXT_WITHDRAWAL_FIELD: Final = 3

WITHDRAWAL_INITIATED: Final = abi.event_topic("WithdrawalInitiated(uint256,address,address,uint256)")
ZERO_WITHDRAWAL: Final = "Bridge: withdrawal of zero"
ZERO_RECIPIENT: Final = "Bridge: L1 recipient is the zero address"
TOO_LARGE: Final = "Bridge: withdrawal above 2^128 - 1 wei"


def next_withdrawal_index(state: StateOverlay) -> int:
    return state.get(system_field_key(NEXT_WITHDRAWAL_FIELD))


def withdraw(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None, value: int) -> CallResult:
    """Burn `value` (already moved to the bridge's account) and record the withdrawal; returns its index."""
    gas = OP_GAS["bridge.withdraw"]
    (recipient_word,) = abi.words(data, 1)
    recipient = abi.word_address(recipient_word)
    if value == 0:
        raise Revert(ZERO_WITHDRAWAL, gas)
    if value > MAX_UINT128:
        raise Revert(TOO_LARGE, gas)
    if recipient == ZERO_ADDRESS:
        raise Revert(ZERO_RECIPIENT, gas)
    sub_balance(state, L2_BRIDGE, value)
    index = next_withdrawal_index(state)
    state.set(withdrawal_key(index), withdrawal_value(sender, recipient, value))
    state.set(system_field_key(NEXT_WITHDRAWAL_FIELD), index + 1)
    topics = [WITHDRAWAL_INITIATED, abi.uint_word(index), abi.address_word(sender), recipient_word]
    return CallResult(gas, abi.uint_word(index), [Log(L2_BRIDGE, topics, abi.uint_word(value))])


def withdrawal_count(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """How many withdrawals L2 has recorded (the next index)."""
    return CallResult(DISPATCH_GAS, abi.uint_word(next_withdrawal_index(state)))


def withdrawal_hash(state: StateOverlay, sender: bytes, data: bytes, env: BlockEnv | None) -> CallResult:
    """The leaf value recorded for withdrawal `index` (0 if none)."""
    (index_word,) = abi.words(data, 1)
    index = int.from_bytes(index_word, "big")
    value = state.get(withdrawal_key(index)) if index < 1 << 64 else 0
    return CallResult(DISPATCH_GAS, abi.uint_word(value))


FUNCTIONS: Final = {
    abi.selector("withdrawalCount()"): withdrawal_count,
    abi.selector("withdrawalHash(uint256)"): withdrawal_hash,
}
PAYABLE_FUNCTIONS: Final = {abi.selector("withdraw(address)"): withdraw}
