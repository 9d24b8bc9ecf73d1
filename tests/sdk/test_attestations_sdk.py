"""The attestation SDK: signing and the holder's check, and the web3.py client against an in-process node."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode
from eth_account import Account
from fastapi.testclient import TestClient
from web3 import Web3
from web3.exceptions import ContractLogicError
from web3.providers.base import JSONBaseProvider
from web3.types import RPCEndpoint, RPCResponse

from jovay.codec.transactions import data_gas
from jovay.crypto.keccak import keccak256
from jovay.params import OP_GAS
from jovay.rpc.methods import EthApi
from jovay.rpc.server import create_app
from jovay.sdk.attestations import (
    KIND_AUDITOR,
    KIND_DEVICE,
    AttestationClient,
    attest_calldata,
    matches_commitment,
    sign_attestation,
)
from jovay.sequencer.sequencer import Sequencer
from jovay.stf import attestations as reg
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS

ADMIN, RELAYER = ADDRESSES[:2]
ADMIN_KEY, RELAYER_KEY = KEYS[:2]
PILE_KEY, AUDITOR_KEY = KEYS[6:8]
PILE, AUDITOR = ADDRESSES[6:8]
ASSET = 42
SESSION = b'{"pile": "SH-0042", "session": 17, "kWh": 38.25, "soc_end": 0.91}'


class InProcessProvider(JSONBaseProvider):
    """web3.py over the node's ASGI app; a sent transaction is sealed at once, as a fast sequencer would."""

    def __init__(self, client: TestClient, sequencer: Sequencer) -> None:
        super().__init__()
        self.client = client
        self.sequencer = sequencer

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        raw = self.client.post("/", content=self.encode_rpc_request(method, params)).content
        response = self.decode_rpc_response(raw)
        if method == "eth_sendRawTransaction" and "result" in response:
            self.sequencer.produce_block()
        return response

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


@pytest.fixture
def w3(tmp_path: Path):
    genesis = Genesis(
        identity_admin=ADMIN, timestamp=int(time.time()) - 5, alloc={ADMIN: 10 * ETH, RELAYER: 10 * ETH}
    )
    chain = Chain(tmp_path, genesis)
    sequencer = Sequencer(chain)
    client = TestClient(create_app(EthApi(chain, sequencer).methods()))
    yield Web3(InProcessProvider(client, sequencer))
    chain.close()


# --- offline ----------------------------------------------------------------------------------------
def test_sign_attestation_commits_to_the_data_and_recovers_the_device() -> None:
    signed = sign_attestation(PILE_KEY, ASSET, 3, SESSION, 1_700_000_000, CHAIN_ID)
    assert (signed.attestor, signed.asset_id, signed.sequence) == (PILE, ASSET, 3)
    assert signed.data_commitment == keccak256(SESSION) and len(signed.signature) == 65
    digest = reg.attestation_digest(CHAIN_ID, ASSET, 3, signed.data_commitment, 1_700_000_000)
    assert reg.recover_signer(digest, signed.signature) == PILE
    assert sign_attestation(PILE_KEY, ASSET, 3, SESSION, 1_700_000_000, CHAIN_ID) == signed  # RFC 6979


def test_attest_calldata_is_the_solidity_call() -> None:
    signed = sign_attestation(PILE_KEY, ASSET, 1, SESSION, 5, CHAIN_ID)
    data = attest_calldata(signed)
    assert data[:4] == keccak256(b"attest(uint256,uint64,bytes32,uint64,bytes)")[:4]
    decoded = decode(["uint256", "uint64", "bytes32", "uint64", "bytes"], data[4:])
    assert decoded == (ASSET, 1, signed.data_commitment, 5, signed.signature)


def test_matches_commitment_is_the_holders_check() -> None:
    commitment = keccak256(SESSION)
    assert matches_commitment(SESSION, commitment)
    assert not matches_commitment(SESSION.replace(b"38.25", b"83.25"), commitment)
    assert not matches_commitment(SESSION, bytes(32))


# --- over web3.py -----------------------------------------------------------------------------------
def test_client_registers_submits_and_reads_back(w3: Web3) -> None:
    admin = AttestationClient(w3, Account.from_key(ADMIN_KEY))
    relayer = AttestationClient(w3, Account.from_key(RELAYER_KEY))
    receipt = admin.register_attestor(PILE, KIND_DEVICE, ASSET)
    assert receipt["status"] == 1
    (event,) = admin.contract.events.AttestorRegistered().process_receipt(receipt)
    assert (event["args"]["attestor"], event["args"]["kind"], event["args"]["assetId"]) == (
        Web3.to_checksum_address(PILE),
        KIND_DEVICE,
        ASSET,
    )
    assert relayer.attestor(PILE) == reg.Attestor(KIND_DEVICE, ASSET, True)

    sequence = relayer.next_sequence(PILE, ASSET)
    assert sequence == 1
    signed = sign_attestation(PILE_KEY, ASSET, sequence, SESSION, int(time.time()), w3.eth.chain_id)
    receipt = relayer.submit(signed)
    assert receipt["status"] == 1
    assert receipt["gasUsed"] == 21_000 + data_gas(attest_calldata(signed)) + OP_GAS["attestations.attest"]
    (event,) = relayer.contract.events.Attested().process_receipt(receipt)
    assert event["args"]["attestor"] == Web3.to_checksum_address(PILE)
    assert (event["args"]["assetId"], event["args"]["sequence"]) == (ASSET, 1)
    assert event["args"]["dataCommitment"] == signed.data_commitment

    recorded = relayer.attestation(PILE, ASSET, 1)
    block = w3.eth.get_block(receipt["blockNumber"])
    assert recorded == reg.Attestation(signed.data_commitment, signed.timestamp, block["timestamp"])
    assert matches_commitment(SESSION, recorded.data_commitment)
    assert relayer.last_sequence(PILE, ASSET) == 1


def test_rejections_surface_with_their_reason_before_sending(w3: Web3) -> None:
    admin = AttestationClient(w3, Account.from_key(ADMIN_KEY))
    relayer = AttestationClient(w3, Account.from_key(RELAYER_KEY))
    with pytest.raises(ContractLogicError, match=reg.NOT_ADMIN):
        relayer.register_attestor(RELAYER, KIND_AUDITOR, 0)
    admin.register_attestor(AUDITOR, KIND_AUDITOR, 0)
    now = int(time.time())
    signed = sign_attestation(AUDITOR_KEY, ASSET, 1, b"audit report v1", now, CHAIN_ID)
    relayer.submit(signed)
    with pytest.raises(ContractLogicError, match=reg.OUT_OF_ORDER):
        relayer.submit(signed)  # replay
    with pytest.raises(ContractLogicError, match=reg.NOT_ATTESTOR):
        relayer.submit(sign_attestation(PILE_KEY, ASSET, 1, b"forged", now, CHAIN_ID))
    with pytest.raises(ContractLogicError, match=reg.FUTURE_TIMESTAMP):
        relayer.submit(sign_attestation(AUDITOR_KEY, ASSET, 2, b"v2", now + 3_600, CHAIN_ID))
    admin.revoke_attestor(AUDITOR)
    assert relayer.attestor(AUDITOR) == reg.Attestor(KIND_AUDITOR, 0, False)
    with pytest.raises(ContractLogicError, match=reg.NOT_ATTESTOR):
        relayer.submit(sign_attestation(AUDITOR_KEY, ASSET, 2, b"v2", now, CHAIN_ID))
    assert relayer.last_sequence(AUDITOR, ASSET) == 1


def test_reads_need_no_account_and_sending_does(w3: Web3) -> None:
    reader = AttestationClient(w3)
    assert reader.attestor(PILE) == reg.Attestor(0, 0, False)
    assert reader.attestation(PILE, ASSET, 1) == reg.Attestation(bytes(32), 0, 0)
    with pytest.raises(ValueError, match="needs an account"):
        reader.revoke_attestor(PILE)
