"""The L1 every parity test runs OneStepProof on: one anvil per module with the rollup deployed and a few
deposits queued on the Bridge (their senders, recipients and values are what the fixture yields)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from jovay.l1.anvil import Anvil
from jovay.l1.contracts import FaultProofParams, L1Deployment, deploy
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from tests.prover.parity import CHAIN_ID, DEPOSITS


@pytest.fixture(scope="module")
def l1() -> Iterator[tuple[Web3, L1Deployment, list[tuple[bytes, bytes, int]]]]:
    with Anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        dep = deploy(w3, anvil.dev_keys[0], compile_contracts(), fault=FaultProofParams(chain_id=CHAIN_ID))
        txm = L1TxManager(w3, anvil.dev_keys[1])
        w3.provider.make_request("anvil_setBalance", [txm.address, hex(2**127 + 2**126)])  # type: ignore[arg-type]
        bridge = dep.bridge(w3)
        queued = []
        for byte, value in DEPOSITS:
            to = bytes([byte]) * 20
            txm.send(
                {
                    "to": bridge.address,
                    "data": bridge.encode_abi("depositETH", [Web3.to_checksum_address(to)]),
                    "value": value,
                }
            )
            queued.append((bytes.fromhex(txm.address[2:]), to, value))
        yield w3, dep, queued
