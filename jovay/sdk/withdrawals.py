"""Client side of withdrawals: prove an L2 withdrawal on L1 and collect the ETH.

A withdrawal burned on L2 is a state leaf (key `P(33, index)`, value `P(sender, l1Recipient, amount)`,
docs/architecture.md, "Withdrawals"), so once a batch whose state contains it is finalized on L1, its
Merkle path against that batch's state root is all the L1 bridge needs. `prove_withdrawal` asks the L2
node for the path (`jovay_getWithdrawalProof` at the batch's last block) and checks it locally against
the batch's root; `finalize_withdrawal_tx` builds the `Bridge.finalizeWithdrawal` call and
`submit_withdrawal` sends it. The node is not trusted: a wrong answer fails the local check (and would
fail on L1 anyway). On the L2 side, `withdraw_tx` builds the L2 bridge call and
`withdrawals_in_receipt` reads the `WithdrawalInitiated` logs of its receipt back as `Withdrawal`s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.types import TxReceipt

from jovay.codec import abi
from jovay.errors import JovayError
from jovay.l1.txmanager import L1TxManager
from jovay.params import L2_BRIDGE
from jovay.state.keys import withdrawal_key, withdrawal_value
from jovay.state.smt_proofs import L1SmtProof, verify_l1_proof

__all__ = [
    "BRIDGE_WITHDRAWAL_ABI",
    "L2Rpc",
    "Withdrawal",
    "WithdrawalError",
    "WithdrawalProof",
    "batch_of_block",
    "finalize_withdrawal_tx",
    "is_claimed",
    "prove_withdrawal",
    "submit_withdrawal",
    "web3_rpc",
    "withdraw_tx",
    "withdrawals_in_receipt",
]

WITHDRAW_SELECTOR: Final = abi.selector("withdraw(address)")
WITHDRAWAL_INITIATED: Final = abi.event_topic("WithdrawalInitiated(uint256,address,address,uint256)")
"""L2 bridge log: topics (index, sender, l1Recipient), data amount."""

L2Rpc = Callable[[str, list[Any]], Any]
"""Calls one JSON-RPC method of the L2 node and returns its result (raises on a JSON-RPC error)."""

_PROOF_COMPONENTS: Final = [
    {"name": "siblings", "type": "uint256[]"},
    {"name": "leafKey", "type": "uint256"},
    {"name": "leafValue", "type": "uint256"},
    {"name": "siblingIsLeaf", "type": "bool"},
    {"name": "siblingLeft", "type": "uint256"},
    {"name": "siblingRight", "type": "uint256"},
]
BRIDGE_WITHDRAWAL_ABI: Final[list[dict[str, Any]]] = [
    {
        "type": "function",
        "name": "finalizeWithdrawal",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "batchIndex", "type": "uint256"},
            {"name": "withdrawalIndex", "type": "uint256"},
            {"name": "l2Sender", "type": "address"},
            {"name": "l1Recipient", "type": "address"},
            {"name": "amount", "type": "uint256"},
            {"name": "proof", "type": "tuple", "components": _PROOF_COMPONENTS},
        ],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "withdrawalClaimed",
        "stateMutability": "view",
        "inputs": [{"name": "", "type": "uint256"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
]
"""The part of contracts/Bridge.sol the SDK calls (tests hold it equal to the compiled ABI)."""


class WithdrawalError(JovayError):
    """A withdrawal that cannot be proven: unknown, not in the batch, or a node answer that is wrong."""


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """What the L2 `withdraw` call recorded: its index, who burned the ETH, who gets it on L1, how much."""

    index: int
    l2_sender: bytes
    l1_recipient: bytes
    amount: int

    @property
    def key(self) -> int:
        return withdrawal_key(self.index)

    @property
    def value(self) -> int:
        return withdrawal_value(self.l2_sender, self.l1_recipient, self.amount)


@dataclass(frozen=True, slots=True)
class WithdrawalProof:
    """A withdrawal with its path under the state root of batch `batch_index`."""

    withdrawal: Withdrawal
    batch_index: int
    state_root: bytes
    proof: L1SmtProof


def withdraw_tx(l1_recipient: bytes, amount: int) -> dict[str, Any]:
    """The L2 transaction fields (`to`, `data`, `value`) that withdraw `amount` wei to `l1_recipient`."""
    return {
        "to": _checksum(L2_BRIDGE),
        "data": "0x" + (WITHDRAW_SELECTOR + abi.address_word(l1_recipient)).hex(),
        "value": amount,
    }


def withdrawals_in_receipt(receipt: Mapping[str, Any]) -> list[Withdrawal]:
    """The withdrawals an L2 receipt records (JSON-RPC hex fields or web3's HexBytes alike)."""
    found = []
    for log in receipt.get("logs", []):
        topics = [_raw(t) for t in log["topics"]]
        if _raw(log["address"]) != L2_BRIDGE or len(topics) != 4 or topics[0] != WITHDRAWAL_INITIATED:
            continue
        index, sender, recipient = abi.word_uint(topics[1]), topics[2][12:], topics[3][12:]
        found.append(Withdrawal(index, sender, recipient, abi.word_uint(_raw(log["data"]))))
    return found


def web3_rpc(w3: Web3) -> L2Rpc:
    """An L2Rpc over a web3 provider (any URL the node serves)."""

    def call(method: str, params: list[Any]) -> Any:
        response = w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise WithdrawalError(f"{method} failed: {response['error']}")
        return response.get("result")

    return call


def batch_of_block(rpc: L2Rpc, block_number: int) -> int | None:
    """The index of the committed batch that carries L2 block `block_number`; None while no batch does
    yet. Batches cover consecutive block ranges, so a binary search over `jovay_getBatch` finds it."""
    count = int(rpc("jovay_syncStatus", [])["batchCount"], 16)
    lo, hi = 0, count  # the first batch whose lastBlock >= block_number lies in [lo, hi)
    while lo < hi:
        mid = (lo + hi) // 2
        batch = rpc("jovay_getBatch", [hex(mid)])
        if batch is None:
            raise WithdrawalError(f"the node counts {count} batches but has no batch {mid}")
        if int(batch["lastBlock"], 16) < block_number:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < count else None


def prove_withdrawal(rpc: L2Rpc, withdrawal: Withdrawal, batch_index: int) -> WithdrawalProof:
    """The withdrawal's path under batch `batch_index`'s post-state root, checked here first."""
    batch = rpc("jovay_getBatch", [hex(batch_index)])
    if batch is None:
        raise WithdrawalError(f"L1 has no batch {batch_index} yet")
    state_root = _bytes32(batch["postStateRoot"], "postStateRoot")
    answer = rpc("jovay_getWithdrawalProof", [hex(withdrawal.index), batch["lastBlock"]])
    if _bytes32(answer["stateRoot"], "stateRoot") != state_root:
        raise WithdrawalError(
            f"the node proved against {answer['stateRoot']}, but batch {batch_index} committed "
            f"{batch['postStateRoot']}"
        )
    proof = L1SmtProof.from_json(answer["proof"])
    leaf_value = int(answer["value"], 16)
    if leaf_value == 0:
        raise WithdrawalError(f"withdrawal {withdrawal.index} is not in the state of batch {batch_index}")
    if leaf_value != withdrawal.value:
        raise WithdrawalError(
            f"withdrawal {withdrawal.index} in batch {batch_index} is for another sender, recipient or amount"
        )
    if not verify_l1_proof(int.from_bytes(state_root, "big"), withdrawal.key, withdrawal.value, proof):
        raise WithdrawalError(
            f"the node's proof of withdrawal {withdrawal.index} does not reach the batch root"
        )
    return WithdrawalProof(withdrawal, batch_index, state_root, proof)


def finalize_withdrawal_tx(bridge_address: str, proven: WithdrawalProof) -> dict[str, Any]:
    """The L1 transaction (`to`, `data`) that pays the withdrawal out; anyone may send it."""
    w = proven.withdrawal
    bridge = Web3().eth.contract(address=_checksum(bridge_address), abi=BRIDGE_WITHDRAWAL_ABI)
    data = bridge.encode_abi(
        "finalizeWithdrawal",
        [
            proven.batch_index,
            w.index,
            _checksum(w.l2_sender),
            _checksum(w.l1_recipient),
            w.amount,
            proven.proof.as_abi(),
        ],
    )
    return {"to": bridge.address, "data": data}


def submit_withdrawal(txm: L1TxManager, bridge_address: str, proven: WithdrawalProof) -> TxReceipt:
    """Sends `finalizeWithdrawal` through the L1 tx manager; raises TxReverted with the bridge's reason."""
    return txm.send(finalize_withdrawal_tx(bridge_address, proven))


def is_claimed(l1: Web3, bridge_address: str, index: int) -> bool:
    """Whether the bridge already paid withdrawal `index`."""
    bridge = l1.eth.contract(address=_checksum(bridge_address), abi=BRIDGE_WITHDRAWAL_ABI)
    return bool(bridge.functions.withdrawalClaimed(index).call())


def _checksum(address: bytes | str) -> ChecksumAddress:
    return Web3.to_checksum_address(address)


def _raw(value: Any) -> bytes:
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def _bytes32(value: Any, what: str) -> bytes:
    try:
        raw = bytes.fromhex(value[2:]) if isinstance(value, str) and value.startswith("0x") else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise WithdrawalError(f"node answered a malformed {what}: {value!r}")
    return raw
