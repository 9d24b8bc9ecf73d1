"""Faulty modes, for tests on the devnet only: a proposer (and its batcher) that break one rule.

Each mode makes the proposer's output of one batch wrong in one way, and makes it defend that output
with the per-item roots its faulty rule gives, so the bisection really narrows the dispute to the item
where the rule was broken and the one-step proof on L1 must decide it:

- `inflate-balance`: credits 1000 ETH to the recipient of every transaction;
- `drop-deposit`: takes deposits off the queue without crediting them;
- `forged-signature`: the batcher posts a transfer from its own L2 account whose signature is not the
  canonical one (high s, which `ecrecover` accepts and Ethereum refuses); the proposer executes it;
- `skip-nonce`: the batcher posts a transfer from its account with a nonce far ahead; the proposer
  executes it anyway;
- `skip-compliance`: lets a token `transfer` to a holder that is not on the allowlist go through;
- `wrong-root`: the output root does not match the data at all (midpoints honest, last root wrong).

A mode is active until the proposer's first output is reverted, then the proposer turns honest, so the
chain continues with correct outputs. `jovay batcher --faulty MODE` refuses to start unless L1 is the
devnet (chain id 31337) and `--devnet` is given (jovay/node.py).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from jovay.codec._rlp import RLPError, decode_list, encode_bytes, encode_list, encode_uint, uint
from jovay.codec.batch import ITEM_DEPOSIT, ITEM_TRANSACTION, BatchBlock, BatchItem, decode_deposit_payload
from jovay.codec.transactions import (
    DynamicFeeTx,
    SignedTx,
    decode_transaction,
    encode_transaction,
    sign_transaction,
)
from jovay.crypto.secp256k1 import SECP256K1_N
from jovay.errors import InvalidTransaction
from jovay.state.keys import allowlist_key
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import BalanceOverflow, add_balance, get_account, set_account
from jovay.stf.transaction import process_transaction
from prover.fault.execution import Executor, ItemRules

FAULTY_MODES = (
    "inflate-balance",
    "drop-deposit",
    "forged-signature",
    "skip-nonce",
    "skip-compliance",
    "wrong-root",
)
TRANSFER_SELECTOR = bytes.fromhex("a9059cbb")  # transfer(address,uint256)
DEVNET_L1_CHAIN_ID = 31337
INFLATION_WEI = 1_000 * 10**18
INJECTED_NONCE_GAP = 1_000_000
BURN_ADDRESS = bytes.fromhex("000000000000000000000000000000000000dEaD")


class FaultyMode:
    """One faulty mode: a faulty item executor for the proposer and, for some, a batch tamper."""

    def __init__(self, name: str, rules: ItemRules) -> None:
        if name not in FAULTY_MODES:
            raise ValueError(f"unknown faulty mode {name!r}: choose from {', '.join(FAULTY_MODES)}")
        self.name = name
        self.rules = rules
        self.active = True

    # --- proposer side ---------------------------------------------------------------------------------

    def executor(self) -> Executor:
        """The item rule the faulty proposer computes its roots with (honest once inactive)."""
        faulty: dict[str, Executor] = {
            "inflate-balance": self._inflate,
            "drop-deposit": self._drop_deposit,
            "forged-signature": self._accept_forged,
            "skip-nonce": self._skip_nonce,
            "skip-compliance": self._skip_allowlist,
        }
        broken = faulty.get(self.name, self.rules.apply)

        def execute(state: StateOverlay, item: BatchItem) -> None:
            (broken if self.active else self.rules.apply)(state, item)

        return execute

    def wrong_root(self, root: int) -> int:
        """The output root the proposer posts for a batch whose honest root is `root`."""
        return (root + 1) % (1 << 253) if self.active and self.name == "wrong-root" else root

    def _inflate(self, state: StateOverlay, item: BatchItem) -> None:
        self.rules.apply(state, item)
        signed = _decode(item, self.rules.chain_id)
        if signed is not None and signed.tx.to is not None:
            try:
                add_balance(state, signed.tx.to, INFLATION_WEI)
            except BalanceOverflow:
                pass

    def _drop_deposit(self, state: StateOverlay, item: BatchItem) -> None:
        deposit = decode_deposit_payload(item.payload) if item.kind == ITEM_DEPOSIT else None
        if deposit is None:
            self.rules.apply(state, item)
            return
        nonce, balance = get_account(state, deposit.to)
        self.rules.apply(state, item)  # the queue index moves on...
        set_account(state, deposit.to, nonce, balance)  # ...but the ETH never arrives

    def _accept_forged(self, state: StateOverlay, item: BatchItem) -> None:
        if item.kind == ITEM_TRANSACTION and _decode(item, self.rules.chain_id) is None:
            canonical = _low_s(item.payload)
            if canonical is not None:
                item = dataclasses.replace(item, payload=canonical)
        self.rules.apply(state, item)

    def _skip_nonce(self, state: StateOverlay, item: BatchItem) -> None:
        signed = _decode(item, self.rules.chain_id)
        if signed is not None:
            nonce, balance = get_account(state, signed.sender)
            if signed.tx.nonce > nonce:
                snapshot = state.snapshot()
                set_account(state, signed.sender, signed.tx.nonce, balance)
                env = self.rules.env(item)
                try:
                    process_transaction(state, env, signed, env.gas_limit)
                    return
                except InvalidTransaction:
                    state.revert(snapshot)
        self.rules.apply(state, item)

    def _skip_allowlist(self, state: StateOverlay, item: BatchItem) -> None:
        signed = _decode(item, self.rules.chain_id)
        data = signed.tx.data if signed is not None else b""
        recipient = data[16:36]
        if len(data) != 68 or data[:4] != TRANSFER_SELECTOR or recipient == bytes(20):
            self.rules.apply(state, item)
            return
        key = allowlist_key(recipient)
        allowed = state.get(key)
        state.set(key, 1)  # the rule skipped: the recipient counts as allowed for this call...
        self.rules.apply(state, item)
        state.set(key, allowed)  # ...and the allowlist itself looks untouched

    # --- batcher side ----------------------------------------------------------------------------------

    def tamper(
        self, key: bytes, chain_id: int, funded: Callable[[], bool]
    ) -> Callable[[list[BatchBlock]], list[BatchBlock]]:
        """For `forged-signature` and `skip-nonce`: append one bad transfer from `key`'s L2 account to the
        first batch posted once that account is funded (before, any transfer would fail honestly too)."""
        state = {"done": self.name not in ("forged-signature", "skip-nonce"), "funded_seen": 0}

        def tamper(blocks: list[BatchBlock]) -> list[BatchBlock]:
            if state["done"] or not funded():
                return blocks
            state["funded_seen"] += 1
            if state["funded_seen"] < 2:  # the batch after the one that saw the funds: they are in it
                return blocks
            state["done"] = True
            raw = self._bad_transfer(key, chain_id)
            last = blocks[-1]
            return [*blocks[:-1], dataclasses.replace(last, raw_txs=[*last.raw_txs, raw])]

        return tamper

    def _bad_transfer(self, key: bytes, chain_id: int) -> bytes:
        nonce = INJECTED_NONCE_GAP if self.name == "skip-nonce" else 0
        tx = DynamicFeeTx(chain_id, nonce, 10**9, 10**11, 21_000, BURN_ADDRESS, 10**18, b"")
        raw = sign_transaction(tx, key)
        if self.name == "skip-nonce":
            return raw
        signed = decode_transaction(raw, expected_chain_id=chain_id)
        inner = signed.tx
        assert isinstance(inner, DynamicFeeTx)
        # The same signature with s -> n - s and the parity flipped: ecrecover still finds the sender,
        # but Ethereum (EIP-2) refuses it. The nonce is the sender's real one, read by the proposer.
        return encode_transaction(
            dataclasses.replace(inner, s=SECP256K1_N - inner.s, y_parity=1 - inner.y_parity)
        )


def _decode(item: BatchItem, chain_id: int) -> SignedTx | None:
    if item.kind != ITEM_TRANSACTION:
        return None
    try:
        return decode_transaction(item.payload, expected_chain_id=chain_id)
    except InvalidTransaction:
        return None


def _low_s(raw: bytes) -> bytes | None:
    """A high-s typed transaction re-encoded with its canonical low-s signature, if that is what it is."""
    if not raw or raw[0] != 2:
        return None
    try:
        fields = decode_list(raw[1:], "forged")
        if len(fields) != 12:
            return None
        s = uint(fields[11], "s", None)  # type: ignore[arg-type]
        parity = uint(fields[9], "v", None)  # type: ignore[arg-type]
    except RLPError:
        return None
    if not SECP256K1_N // 2 < s < SECP256K1_N or parity > 1:
        return None
    items = [_reencode(f) for f in fields[:9]] + [encode_uint(1 - parity), _reencode(fields[10])]
    return b"\x02" + encode_list([*items, encode_uint(SECP256K1_N - s)])


def _reencode(item: object) -> bytes:
    if isinstance(item, list):
        return encode_list(_reencode(i) for i in item)
    assert isinstance(item, bytes)
    return encode_bytes(item)
