"""Sends L1 transactions from one key and sees them mined.

The batcher must not stall on a transaction the L1 pool dropped or priced out, and must not reuse
or skip nonces: the manager keeps the nonce locally (under a lock), re-signs the same nonce with
bumped fees when a transaction sits unmined, resubmits it when it vanished from the node, and turns
reverts into `TxReverted` carrying the revert reason.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError
from web3.types import TxReceipt

from jovay.errors import JovayError, TemporaryError

log = logging.getLogger(__name__)

BUMP_NUMERATOR, BUMP_DENOMINATOR = 1125, 1000  # +12.5%: geth's and anvil's replacement minimum
ALREADY_KNOWN = ("already known", "already imported", "nonce too low", "known transaction")


class TxReverted(JovayError):
    """The transaction reverted (at estimation or on chain); `reason` is the revert string if known."""

    def __init__(self, reason: str, receipt: TxReceipt | None = None) -> None:
        super().__init__(f"L1 transaction reverted: {reason}")
        self.reason = reason
        self.receipt = receipt


@dataclass
class _Pending:
    """The signed attempts of one nonce; every hash ever sent may be the one that gets mined."""

    tx: dict[str, Any]
    raw: bytes
    hashes: list[HexBytes]


def _bump(fee: int) -> int:
    return -(-fee * BUMP_NUMERATOR // BUMP_DENOMINATOR) + 1


def _revert_reason(err: ContractLogicError) -> str:
    msg = err.message or str(err)
    return msg.removeprefix("execution reverted: ")


class L1TxManager:
    """One sender's L1 transactions: `send(tx)` returns the receipt once mined (and confirmed)."""

    def __init__(
        self,
        w3: Web3,
        private_key: str | bytes,
        *,
        confirmations: int = 0,
        receipt_timeout_s: float = 120.0,
        bump_after_s: float = 20.0,
        max_bumps: int = 5,
        gas_margin: float = 0.2,
        poll_interval_s: float = 0.1,
    ) -> None:
        self.w3 = w3
        self.account = Account.from_key(private_key)
        self.address = self.account.address
        self.confirmations = confirmations
        self.receipt_timeout_s = receipt_timeout_s
        self.bump_after_s = bump_after_s
        self.max_bumps = max_bumps
        self.gas_margin = gas_margin
        self.poll_interval_s = poll_interval_s
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id: int | None = None

    def send(self, tx: dict[str, Any]) -> TxReceipt:
        """Fills, signs, submits and waits for `tx`; raises TxReverted or TemporaryError."""
        with self._lock:
            try:
                pending = self._submit_new(tx)
            except OSError as e:  # connection errors (requests' included) while preparing or sending
                self._nonce = None
                raise TemporaryError(f"L1 endpoint failed: {e}") from e
        return self._wait(pending)

    # --- building and submitting ------------------------------------------------------------------

    def _fill(self, tx: dict[str, Any], nonce: int) -> dict[str, Any]:
        """Chain id, nonce, EIP-1559 fees and gas; fields the caller set are kept."""
        full = {"value": 0, "data": b"", **tx, "from": self.address, "nonce": nonce, "type": 2}
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        full.setdefault("chainId", self._chain_id)
        if "maxPriorityFeePerGas" not in full or "maxFeePerGas" not in full:
            tip, max_fee = self._suggested_fees()
            full.setdefault("maxPriorityFeePerGas", tip)
            full.setdefault("maxFeePerGas", max(max_fee, full["maxPriorityFeePerGas"]))
        if "gas" not in full:
            try:
                estimate = self.w3.eth.estimate_gas(full)  # type: ignore[arg-type]
            except ContractLogicError as e:
                raise TxReverted(_revert_reason(e)) from e
            except Web3RPCError as e:
                raise TemporaryError(f"L1 gas estimation failed: {e.message}") from e
            full["gas"] = int(estimate * (1 + self.gas_margin))
        return full

    def _suggested_fees(self) -> tuple[int, int]:
        """(tip, maxFee): the node's tip suggestion and room for the base fee to double."""
        base_fee = int(self.w3.eth.get_block("latest").get("baseFeePerGas", 0))
        tip = int(self.w3.eth.max_priority_fee)
        return tip, 2 * base_fee + tip

    def _sign(self, tx: dict[str, Any]) -> _Pending:
        signable = {k: v for k, v in tx.items() if k != "from"}
        signed = self.account.sign_transaction(signable)
        return _Pending(tx, bytes(signed.raw_transaction), [HexBytes(signed.hash)])

    def _submit_new(self, tx: dict[str, Any]) -> _Pending:
        """Takes the next nonce and sends; the nonce is only used up once the node accepted the tx."""
        if self._nonce is None:
            self._nonce = self.w3.eth.get_transaction_count(self.address, "pending")
        pending = self._sign(self._fill(tx, self._nonce))
        try:
            self.w3.eth.send_raw_transaction(pending.raw)
        except Web3RPCError as e:
            self._nonce = None  # re-read from the node next time: someone else may use this key
            raise TemporaryError(f"L1 rejected transaction: {e.message}") from e
        self._nonce += 1
        log.info("sent L1 tx %s nonce %d", pending.hashes[-1].to_0x_hex(), pending.tx["nonce"])
        return pending

    def _resend(self, raw: bytes) -> bool:
        """Submits a signed attempt again; False when the node refused it ('already known' is fine)."""
        try:
            self.w3.eth.send_raw_transaction(raw)
        except Web3RPCError as e:
            if not any(s in e.message.lower() for s in ALREADY_KNOWN):
                log.warning("L1 refused resubmission: %s", e.message)
                return False
        return True

    def _bump_fees(self, pending: _Pending) -> None:
        """Re-signs the same nonce with both fees raised >= 12.5% (and at least today's suggestion)."""
        tip, max_fee = self._suggested_fees()
        tx = dict(pending.tx)
        tx["maxPriorityFeePerGas"] = max(_bump(tx["maxPriorityFeePerGas"]), tip)
        tx["maxFeePerGas"] = max(_bump(tx["maxFeePerGas"]), max_fee, tx["maxPriorityFeePerGas"])
        bumped = self._sign(tx)
        log.info(
            "bumping L1 tx nonce %d to maxFee %d tip %d",
            tx["nonce"],
            tx["maxFeePerGas"],
            tx["maxPriorityFeePerGas"],
        )
        if self._resend(bumped.raw):  # a refused bump must not become the attempt we watch
            pending.tx, pending.raw = bumped.tx, bumped.raw
            pending.hashes.append(bumped.hashes[0])

    # --- waiting ----------------------------------------------------------------------------------

    def _find_receipt(self, pending: _Pending) -> TxReceipt | None:
        for h in pending.hashes:
            try:
                return self.w3.eth.get_transaction_receipt(h)
            except TransactionNotFound:
                continue
        return None

    def _vanished(self, pending: _Pending) -> bool:
        try:
            return self.w3.eth.get_transaction(pending.hashes[-1]) is None
        except TransactionNotFound:
            return True

    def _wait(self, pending: _Pending) -> TxReceipt:
        """Polls until mined and confirmed; bumps, resubmits, times out into TemporaryError."""
        start = time.monotonic()
        deadline = start + self.receipt_timeout_s
        next_bump, bumps = start + self.bump_after_s, 0
        while time.monotonic() < deadline:
            try:
                receipt = self._find_receipt(pending)
                if receipt is not None:
                    if self._confirmed(receipt):
                        return self._check_status(pending, receipt)
                elif self._vanished(pending) and self._find_receipt(pending) is None:
                    log.warning("L1 tx %s dropped by the node: resubmitting", pending.hashes[-1].to_0x_hex())
                    self._resend(pending.raw)
                elif time.monotonic() >= next_bump and bumps < self.max_bumps:
                    self._bump_fees(pending)
                    bumps += 1
                    next_bump = time.monotonic() + self.bump_after_s
            except OSError as e:  # the endpoint hiccuped: keep polling until the deadline
                log.warning("polling L1 for nonce %d failed: %s", pending.tx["nonce"], e)
            time.sleep(self.poll_interval_s)
        raise TemporaryError(
            f"L1 tx nonce {pending.tx['nonce']} not mined within {self.receipt_timeout_s}s ({bumps} bumps)"
        )

    def _confirmed(self, receipt: TxReceipt) -> bool:
        return self.w3.eth.block_number - receipt["blockNumber"] >= self.confirmations

    def _check_status(self, pending: _Pending, receipt: TxReceipt) -> TxReceipt:
        if receipt["status"] == 1:
            return receipt
        raise TxReverted(self._replay_reason(pending, receipt), receipt)

    def _replay_reason(self, pending: _Pending, receipt: TxReceipt) -> str:
        """The revert string, recovered by eth_call of the same tx at the block it was mined in."""
        call = {k: pending.tx[k] for k in ("from", "to", "data", "value", "gas") if k in pending.tx}
        try:
            self.w3.eth.call(call, receipt["blockNumber"])  # type: ignore[arg-type]
        except ContractLogicError as e:
            return _revert_reason(e)
        except Web3RPCError as e:
            return f"unknown ({e.message})"
        return "unknown (the call succeeds when replayed)"
