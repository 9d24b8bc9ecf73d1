"""A real L2 `withdraw` transaction, read back from its receipt, proven with the SDK, paid on L1 once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from jovay.crypto.keccak import keccak256
from jovay.l1.txmanager import TxReverted
from jovay.l1.watcher import CommittedBatch
from jovay.params import L2_BRIDGE, MIN_BASE_FEE, SUGGESTED_PRIORITY_FEE
from jovay.rpc.methods import EthApi
from jovay.rpc.rollup import RollupApi
from jovay.rpc.server import create_app
from jovay.sdk.withdrawals import (
    WITHDRAWAL_INITIATED,
    is_claimed,
    prove_withdrawal,
    submit_withdrawal,
    withdraw_tx,
    withdrawals_in_receipt,
)
from jovay.sequencer.sequencer import Sequencer
from jovay.stf import bridge as l2_bridge
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, ETH, KEYS, raw_tx
from tests.sdk.test_withdrawals import FakeL1, _rpc, bridge_with_final_root


def test_real_withdraw_roundtrip(tmp_path: Path) -> None:
    alice, carol = ADDRESSES[0], bytes.fromhex("c0" * 20)
    chain = Chain(
        tmp_path, Genesis(identity_admin=alice, timestamp=int(time.time()) - 5, alloc={alice: 10 * ETH})
    )
    sequencer = Sequencer(chain)
    assert WITHDRAWAL_INITIATED == l2_bridge.WITHDRAWAL_INITIATED
    fields = withdraw_tx(carol, 3 * ETH)
    tx = raw_tx(
        KEYS[0],
        nonce=0,
        to=L2_BRIDGE,
        value=fields["value"],
        data=bytes.fromhex(fields["data"][2:]),
        gas=200_000,
        max_fee=4 * MIN_BASE_FEE,
        tip=SUGGESTED_PRIORITY_FEE,
    )
    sequencer.submit(tx)
    header = sequencer.produce_block()
    assert chain.receipts(1)[0].receipt.status == 1
    l1 = FakeL1([CommittedBatch(0, bytes(32), bytes(32), bytes(32), header.state_root, 1, 0, 1, bytes(32))])
    eth = EthApi(chain, sequencer, l1)
    rpc = _rpc(TestClient(create_app(eth.methods() | RollupApi(chain, l1, eth).methods())))
    tx_hash = "0x" + keccak256(tx).hex()
    [withdrawal] = withdrawals_in_receipt(rpc("eth_getTransactionReceipt", [tx_hash]))
    assert (withdrawal.index, withdrawal.l2_sender, withdrawal.l1_recipient, withdrawal.amount) == (
        0,
        alice,
        carol,
        3 * ETH,
    )
    proven = prove_withdrawal(rpc, withdrawal, 0)
    with bridge_with_final_root(header.state_root) as (w3, txm, bridge):
        submit_withdrawal(txm, bridge.address, proven)
        assert w3.eth.get_balance(Web3.to_checksum_address(carol)) == 3 * ETH
        assert is_claimed(w3, bridge.address, 0)
        with pytest.raises(TxReverted, match="already claimed"):
            submit_withdrawal(txm, bridge.address, proven)
    chain.close()
