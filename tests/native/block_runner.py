"""Runs a described block through the real sequencer and reports everything consensus-visible.

The differential tests (tests/native/test_blocks_native_vs_pure.py) run the same description here in
their own process (native path when built) and in a worker process started with JOVAY_PURE=1 (this
module's `__main__`: one JSON description per input line, one JSON report per output line), and
compare the reports.

A description is JSON: `{"txs": [[kind, sender, recipient, amount, nonce_shift, tamper], ...],
"split": n}`. Every transaction is submitted (its admission result is part of the report, so
decoding and sender recovery are compared too); the first `split` submissions go in one block and
the rest in the next, so later transactions see the first block's state.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from jovay._native import use_native
from jovay.codec.blocks import block_hash
from jovay.codec.transactions import (
    AccessListTx,
    DynamicFeeTx,
    LegacyTx,
    decode_transaction,
    sign_transaction,
)
from jovay.crypto.secp256k1 import address_of
from jovay.errors import JovayError
from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, TOKEN_ADDRESS_PREFIX
from jovay.sequencer.mempool import MempoolLimits
from jovay.sequencer.sequencer import Sequencer, SequencerConfig
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import get_account
from jovay.stf.block import child_env, per_transaction_roots
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import calldata

CHAIN_ID = 202611
KEYS = [(i + 11).to_bytes(32, "big") for i in range(6)]
ADDRESSES = [address_of(k) for k in KEYS]
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
# Funds: rich, rich, enough for a few transfers, about one transfer's gas, nothing, rich.
BALANCES = [10**21, 10**21, 3 * 10**15, 21_000 * 2 * MIN_BASE_FEE + 5, 0, 10**20]
HOLDERS = (0, 1, 2, 5)  # allowlisted and minted 1,000 token units; 3 and 4 are not allowlisted
# The plain transfers take the fast path (jovay/stf/transfers.py); an approve, ETH sent to a system
# contract and an access-list transfer must fall back to the general one.
KINDS = ("eth", "eth_legacy", "token", "approve", "eth_to_system", "eth_access_list")
TAMPERS = ("none", "flip_s", "flip_r", "flip_body", "chain_id")


def _sign(kind: str, key: bytes, nonce: int, to: bytes, amount: int, chain_id: int = CHAIN_ID) -> bytes:
    if kind == "token":
        data = calldata("transfer(address,uint256)", to, amount)
        tx: DynamicFeeTx | LegacyTx | AccessListTx = DynamicFeeTx(
            CHAIN_ID, nonce, 7, 4 * MIN_BASE_FEE, 80_000, TOKEN, 0, data
        )
    elif kind == "approve":
        data = calldata("approve(address,uint256)", to, amount)
        tx = DynamicFeeTx(CHAIN_ID, nonce, 7, 4 * MIN_BASE_FEE, 80_000, TOKEN, 0, data)
    elif kind == "eth_to_system":  # reverts: the identity registry takes no ETH
        tx = DynamicFeeTx(chain_id, nonce, 3, 2 * MIN_BASE_FEE, 40_000, IDENTITY_REGISTRY, amount, b"")
    elif kind == "eth_access_list":
        access_list = ((to, (bytes(32),)),)
        tx = AccessListTx(chain_id, nonce, 2 * MIN_BASE_FEE, 30_000, to, amount, b"", access_list)
    elif kind == "eth_legacy":
        tx = LegacyTx(nonce, 3 * MIN_BASE_FEE, 21_000, to, amount, b"", chain_id)
    else:
        tx = DynamicFeeTx(chain_id, nonce, 3, 2 * MIN_BASE_FEE, 21_000, to, amount, b"")
    return sign_transaction(tx, key)


def _tamper(raw: bytes, how: str) -> bytes:
    """Corrupt a signed transaction: a byte of s, of r, of the signed body (all near the end)."""
    if how == "none" or how == "chain_id":
        return raw
    offset = {"flip_s": 5, "flip_r": 40, "flip_body": 70}[how]
    at = len(raw) - offset
    return raw[:at] + bytes((raw[at] ^ 0x01,)) + raw[at + 1 :]


def _setup(seq: Sequencer) -> None:
    admin = KEYS[0]
    create = calldata("createToken(string,string,uint8)", "Diff", "DIF", 0)
    seq.submit(
        sign_transaction(
            DynamicFeeTx(CHAIN_ID, 0, 1, 4 * MIN_BASE_FEE, 300_000, ASSET_REGISTRY, 0, create), admin
        )
    )
    seq.produce_block()
    nonce = 1
    for holder in HOLDERS:
        allow = calldata("setAllowed(address,bool)", ADDRESSES[holder], True)
        mint = calldata("mint(address,uint256)", ADDRESSES[holder], 1_000)
        for to, data in ((IDENTITY_REGISTRY, allow), (TOKEN, mint)):
            tx = DynamicFeeTx(CHAIN_ID, nonce, 1, 4 * MIN_BASE_FEE, 100_000, to, 0, data)
            seq.submit(sign_transaction(tx, admin))
            nonce += 1
    seq.produce_block()


def _nonce(seq: Sequencer, sender: int, planned: dict[int, int], shift: int) -> int:
    """The sender's next nonce as the described block plans it, shifted (gaps, reuse)."""
    if sender not in planned:
        planned[sender] = get_account(StateOverlay(seq.chain.store.leaf), ADDRESSES[sender])[0]
    nonce = max(planned[sender] + shift, 0)
    if shift == 0:
        planned[sender] += 1
    return nonce


def _block_report(seq: Sequencer, number: int) -> dict[str, Any]:
    found = seq.chain.block(number)
    assert found is not None
    header, raws = found
    receipts = [
        {
            "status": r.receipt.status,
            "cumulative": r.receipt.cumulative_gas_used,
            "gas": r.gas_used,
            "price": r.effective_gas_price,
            "logs": [
                [log.address.hex(), [t.hex() for t in log.topics], log.data.hex()] for log in r.receipt.logs
            ],
            "bloom": r.receipt.bloom.hex(),
            "return": r.return_data.hex(),
        }
        for r in seq.chain.receipts(number)
    ]
    return {
        "hash": block_hash(header).hex(),
        "state_root": header.state_root.hex(),
        "transactions_root": header.transactions_root.hex(),
        "receipts_root": header.receipts_root.hex(),
        "gas_used": header.gas_used,
        "txs": [raw.hex() for raw in raws],
        "receipts": receipts,
    }


def _per_tx_roots(seq: Sequencer, number: int) -> list[str]:
    """The state root after each transaction of block `number`, recomputed from its parent."""
    chain = seq.chain
    parent, _ = chain.block(number - 1)  # type: ignore[misc]
    header, raws = chain.block(number)  # type: ignore[misc]
    tree = chain.state_tree(number - 1)  # its updates stay in memory: the store only reads
    state = StateOverlay(chain.state_reader(number - 1))
    env = child_env(parent, header.timestamp, chain.genesis.chain_id)
    txs = [decode_transaction(raw, expected_chain_id=CHAIN_ID) for raw in raws]
    return [f"{root:064x}" for root in per_transaction_roots(tree, state, env, [], txs)]


def run(description: dict[str, Any]) -> dict[str, Any]:
    """Report of a described run: admission results, then each sealed block with per-tx roots."""
    with tempfile.TemporaryDirectory() as tmp:
        alloc = dict(zip(ADDRESSES, BALANCES, strict=True))
        genesis = Genesis(
            identity_admin=ADDRESSES[0], timestamp=1_700_000_000, chain_id=CHAIN_ID, alloc=alloc
        )
        chain = Chain(Path(tmp), genesis)
        limits = MempoolLimits(max_nonce_gap=8)
        seq = Sequencer(chain, SequencerConfig(mempool=limits), clock=lambda: 1_700_000_100)
        try:
            _setup(seq)
            first = chain.head.number + 1
            admitted: list[str] = []
            planned: dict[int, int] = {}
            for index, (kind, sender, recipient, amount, shift, tamper) in enumerate(description["txs"]):
                if index == description["split"]:
                    seq.produce_block()
                nonce = _nonce(seq, sender, planned, shift)
                chain_id = CHAIN_ID + 1 if tamper == "chain_id" else CHAIN_ID
                raw = _tamper(
                    _sign(kind, KEYS[sender], nonce, ADDRESSES[recipient], amount, chain_id), tamper
                )
                try:
                    admitted.append("0x" + seq.submit(raw).hex())
                except JovayError as exc:
                    admitted.append(f"{type(exc).__name__}: {exc}")
            seq.produce_block()
            seq.produce_block()  # whatever waited on a nonce gap that the first blocks closed
            numbers = range(first, chain.head.number + 1)
            return {
                "native": use_native(),
                "admitted": admitted,
                "blocks": [_block_report(seq, n) | {"per_tx_roots": _per_tx_roots(seq, n)} for n in numbers],
                "head": chain.head_hash.hex(),
                "pool_left": len(seq.mempool),
            }
        finally:
            chain.close()


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
