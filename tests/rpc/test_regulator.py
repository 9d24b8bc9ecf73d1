"""The regulator's `jovay_` methods over HTTP (in process) on a real chain: answers, and every refusal.

An asset is walked through its lifecycle by signed transactions sealed by the sequencer; the regulator's
requests are signed by the SDK (eth_account's personal_sign, an implementation independent of the
node's check).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from jovay.codec.abi import decode_error
from jovay.crypto.keccak import keccak256
from jovay.params import (
    ASSET_REGISTRY,
    ATTESTATION_REGISTRY,
    IDENTITY_REGISTRY,
    MIN_BASE_FEE,
    SUGGESTED_PRIORITY_FEE,
)
from jovay.rpc.api import rpc_methods
from jovay.rpc.events import EventHub
from jovay.rpc.methods import EthApi
from jovay.rpc.regulator import MAX_SKEW_S, UNAUTHORIZED, RegulatorApi
from jovay.rpc.server import create_app
from jovay.sdk.attestations import KIND_AUDITOR, attest_calldata, sign_attestation
from jovay.sdk.rwa import sign_regulator_request
from jovay.sequencer.sequencer import Sequencer
from jovay.stf.genesis import Genesis
from jovay.stf.registry import token_address
from jovay.storage.chain import Chain
from tests.helpers import ADDRESSES, CHAIN_ID, ETH, KEYS, address_hex, calldata, raw_tx

ADMIN, ISSUER, OFFICER, ALICE, BOB, CAROL, REGULATOR, AUDITOR = ADDRESSES
ADMIN_KEY, ISSUER_KEY, OFFICER_KEY, ALICE_KEY, BOB_KEY, CAROL_KEY, REGULATOR_KEY, AUDITOR_KEY = KEYS
T0 = 1_800_000_000
PRICE = 10**9
TOKEN = token_address(1)
REPORT = b'{"fleet":"piles 1-3","month":"2026-10","kWh":48211,"revenueWei":"4000000000000000"}'


@dataclass
class Node:
    chain: Chain
    sequencer: Sequencer
    client: TestClient
    now: list[float]
    nonces: dict[bytes, int] = field(default_factory=dict)
    tx_hashes: list[bytes] = field(default_factory=list)

    def send(self, key: bytes, to: bytes, data: bytes, value: int = 0) -> bytes:
        """One transaction in its own block; it must succeed."""
        nonce = self.nonces.get(key, 0)
        fee = {"max_fee": 4 * MIN_BASE_FEE, "tip": SUGGESTED_PRIORITY_FEE}
        raw = raw_tx(key, nonce=nonce, to=to, data=data, value=value, gas=500_000, **fee)
        self.nonces[key] = nonce + 1
        tx_hash = self.sequencer.submit(raw)
        self.sequencer.produce_block()
        (stored,) = self.chain.receipts(self.chain.head.number)
        assert stored.receipt.status == 1, decode_error(stored.return_data)
        self.tx_hashes.append(tx_hash)
        return tx_hash

    def at(self, timestamp: float) -> None:
        self.now[0] = timestamp


def call(client: TestClient, method: str, params: list[Any]) -> dict[str, Any]:
    answer = client.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
    assert set(answer) in ({"jsonrpc", "id", "result"}, {"jsonrpc", "id", "error"}), answer
    return answer


def signed(method: str, params: list[Any], key: bytes = REGULATOR_KEY, **kwargs: Any) -> list[Any]:
    """`params` with the regulator's authorization in front, signed at the node's (fake) time."""
    kwargs.setdefault("timestamp", T0 + 1_000)
    return [sign_regulator_request(key, kwargs.pop("chain_id", CHAIN_ID), method, params, **kwargs), *params]


def ask(node: Node, method: str, *params: Any) -> Any:
    answer = call(node.client, method, signed(method, list(params)))
    assert "result" in answer, answer
    return answer["result"]


def refused(node: Node, method: str, params: list[Any]) -> dict[str, Any]:
    answer = call(node.client, method, params)
    assert "error" in answer, answer
    return answer["error"]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """Asset 1 walked to Trading with a revenue period, a freeze and a partial freeze; REGULATOR named."""
    now = [float(T0)]
    genesis = Genesis(identity_admin=ADMIN, timestamp=T0, alloc={a: 10 * ETH for a in ADDRESSES})
    chain = Chain(tmp_path_factory.mktemp("regulator"), genesis)
    sequencer = Sequencer(chain, clock=lambda: now[0])
    eth = EthApi(chain, sequencer)
    methods = eth.methods() | RegulatorApi(chain, eth, clock=lambda: now[0]).methods()
    n = Node(chain, sequencer, TestClient(create_app(methods), raise_server_exceptions=False), now)

    identity = IDENTITY_REGISTRY
    n.send(ADMIN_KEY, identity, calldata("setRegulator(address,bool)", REGULATOR, True))
    n.send(ADMIN_KEY, identity, calldata("setComplianceOfficer(address,bool)", OFFICER, True))
    for investor in (ALICE, BOB):
        n.send(ADMIN_KEY, identity, calldata("setAllowed(address,bool)", investor, True))
        n.send(
            ADMIN_KEY,
            identity,
            calldata("setClaims(address,uint16,uint8,uint64)", investor, 156, 2, T0 + 10**6),
        )
    meta = keccak256(b"fleet metadata")
    n.send(
        ISSUER_KEY,
        ASSET_REGISTRY,
        calldata("registerAsset(address,uint8,bytes32,bytes32)", CAROL, 4, meta, meta),
    )
    n.send(
        ISSUER_KEY,
        ASSET_REGISTRY,
        calldata("structureAsset(uint256,uint8,uint64,uint32,uint128)", 1, 1, T0 + 500, 700, 10**6),
    )
    n.send(
        ADMIN_KEY,
        ATTESTATION_REGISTRY,
        calldata("registerAttestor(address,uint8,uint256)", AUDITOR, KIND_AUDITOR, 0),
    )
    attestation = sign_attestation(AUDITOR_KEY, 1, 1, REPORT, T0, CHAIN_ID)
    n.send(CAROL_KEY, ATTESTATION_REGISTRY, attest_calldata(attestation))
    n.send(
        ISSUER_KEY,
        ASSET_REGISTRY,
        calldata("tokenizeAsset(uint256,string,string,uint8)", 1, "Pile Revenue", "PILE", 0),
    )
    n.send(OFFICER_KEY, ASSET_REGISTRY, calldata("approveIssuance(uint256)", 1))
    n.send(
        ISSUER_KEY,
        ASSET_REGISTRY,
        calldata("setInvestorRequirements(uint256,bool,uint8,uint16)", 1, True, 1, 156),
    )
    opening = calldata(
        "openIssuance(uint256,uint64,uint64,uint128,uint128,uint128)", 1, T0, T0 + 100, 1, 10_000, PRICE
    )
    n.send(ISSUER_KEY, ASSET_REGISTRY, opening)
    n.send(ALICE_KEY, ASSET_REGISTRY, calldata("subscribe(uint256,uint128)", 1, 3_000), value=3_000 * PRICE)
    n.send(BOB_KEY, ASSET_REGISTRY, calldata("subscribe(uint256,uint128)", 1, 1_000), value=1_000 * PRICE)
    n.at(T0 + 100)
    n.send(ISSUER_KEY, ASSET_REGISTRY, calldata("startTrading(uint256)", 1))
    n.send(ALICE_KEY, TOKEN, calldata("transfer(address,uint256)", BOB, 500))
    n.send(ISSUER_KEY, ASSET_REGISTRY, calldata("depositRevenue(uint256)", 1), value=4_000)
    n.send(ISSUER_KEY, ASSET_REGISTRY, calldata("freezePartialTokens(uint256,address,uint128)", 1, BOB, 100))
    n.send(ISSUER_KEY, ASSET_REGISTRY, calldata("freeze(uint256,address,bool)", 1, ALICE, True))
    n.at(T0 + 1_000)
    yield n
    chain.close()


# --- answers ----------------------------------------------------------------------------------------
def test_asset_state_is_what_the_registry_holds(node: Node) -> None:
    state = ask(node, "jovay_assetState", "0x1")
    assert state["stage"] == "Trading" and state["stageNumber"] == "0x4"
    assert state["issuer"] == address_hex(ISSUER) and state["originator"] == address_hex(CAROL)
    assert state["token"] == address_hex(TOKEN)
    assert (state["totalSupply"], state["holderCount"]) == ("0xfa0", "0x2")
    assert state["terms"] == {
        "tranche": "0x1",
        "maturity": hex(T0 + 500),
        "targetYieldBps": "0x2bc",
        "supplyCap": hex(10**6),
    }
    assert state["issuance"]["price"] == hex(PRICE)
    assert state["investorRequirements"] == {
        "requireKyc": True,
        "minInvestorClass": "0x1",
        "jurisdiction": "0x9c",
    }
    assert state["cashFlows"]["revenuePeriods"] == "0x1" and state["cashFlows"]["revenueDeposited"] == "0xfa0"


def test_stage_history_lists_every_change_with_its_transaction(node: Node) -> None:
    history = ask(node, "jovay_assetStageHistory", "0x1")
    assert [h["stage"] for h in history] == ["Registered", "Structured", "Tokenized", "Issuing", "Trading"]
    assert all(h["by"] == address_hex(ISSUER) for h in history)
    assert {h["transactionHash"] for h in history} <= {"0x" + t.hex() for t in node.tx_hashes}
    assert history[-1]["blockTimestamp"] == hex(T0 + 100)


def test_holders_come_from_logs_and_balances_from_state(node: Node) -> None:
    answer = ask(node, "jovay_assetHolders", "0x1")
    holders = {h["address"]: h for h in answer["holders"]}
    assert set(holders) == {address_hex(ALICE), address_hex(BOB)} and answer["holderCount"] == "0x2"
    alice, bob = holders[address_hex(ALICE)], holders[address_hex(BOB)]
    assert (alice["balance"], alice["frozen"], alice["revenueOwed"]) == ("0x9c4", True, "0x9c4")
    assert (bob["balance"], bob["frozenTokens"], bob["revenueOwed"]) == ("0x5dc", "0x64", "0x5dc")
    assert alice["claims"] == {"jurisdiction": "0x9c", "investorClass": "0x2", "kycExpiry": hex(T0 + 10**6)}
    earlier = ask(node, "jovay_assetHolders", "0x1", "0x7")  # block 7 registered the asset: no token yet
    assert earlier == {"token": "0x" + "00" * 20, "holderCount": "0x0", "holders": []}
    assert refused(node, "jovay_assetHolders", signed("jovay_assetHolders", ["0x1", "0x6"]))["code"] == -32602


def test_attestations_with_attestor_kind_and_commitment(node: Node) -> None:
    (attested,) = ask(node, "jovay_assetAttestations", "0x1")
    assert attested["event"] == "Attested" and attested["attestorKind"] == "auditor"
    assert attested["args"]["attestor"] == address_hex(AUDITOR)
    assert attested["args"]["dataCommitment"] == "0x" + keccak256(REPORT).hex()
    assert attested["args"]["sequence"] == "0x1" and attested["recordedAt"] == hex(T0)


def test_compliance_events_cover_agent_actions_and_holders_identity(node: Node) -> None:
    events = ask(node, "jovay_complianceEvents", "0x1")
    names = [e["event"] for e in events]
    for expected in (
        "IssuanceApproved",
        "InvestorRequirementsSet",
        "IssuanceOpened",
        "TokensFrozen",
        "AddressFrozen",
        "AllowlistUpdated",
        "ClaimsUpdated",
    ):
        assert expected in names, (expected, names)
    frozen = next(e for e in events if e["event"] == "AddressFrozen")
    assert frozen["args"] == {
        "assetId": "0x1",
        "holder": address_hex(ALICE),
        "frozen": True,
        "agent": address_hex(ISSUER),
    }
    assert [(int(e["blockNumber"], 16), int(e["logIndex"], 16)) for e in events] == sorted(
        (int(e["blockNumber"], 16), int(e["logIndex"], 16)) for e in events
    )
    assert (
        "AgentSet" not in names and "RegulatorUpdated" not in names
    )  # neither concerns this asset's holders


def test_an_unknown_asset_is_an_invalid_param(node: Node) -> None:
    error = refused(node, "jovay_assetState", signed("jovay_assetState", ["0x9"]))
    assert error == {"code": -32602, "message": "invalid argument 1: no such asset: 9"}


# --- refusals ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("params", [[], ["0x1"], [None, "0x1"], [["0x1"]]])
def test_unsigned_requests_are_refused(node: Node, params: list[Any]) -> None:
    error = refused(node, "jovay_assetHolders", params)
    assert error["code"] == UNAUTHORIZED and "regulator signature required" in error["message"]


def test_a_signature_by_another_key_is_refused(node: Node) -> None:
    params = signed("jovay_assetState", ["0x1"], key=ALICE_KEY)
    params[0]["regulator"] = address_hex(REGULATOR)  # claims to be the regulator
    error = refused(node, "jovay_assetState", params)
    assert error == {
        "code": UNAUTHORIZED,
        "message": f"unauthorized: invalid regulator signature for {address_hex(REGULATOR)}",
    }


def test_a_signer_without_the_regulator_role_is_refused(node: Node) -> None:
    error = refused(node, "jovay_assetState", signed("jovay_assetState", ["0x1"], key=ALICE_KEY))
    assert error == {
        "code": UNAUTHORIZED,
        "message": f"unauthorized: {address_hex(ALICE)} is not a regulator",
    }


def _flipped_v(signature: str) -> str:
    return "1c" if signature.endswith("1b") else "1b"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda p: p.__setitem__(1, "0x2"),  # another asset than signed
        lambda p: p.append("0x1"),  # another block than signed
        lambda p: p[0].__setitem__("timestamp", hex(T0 + 1_001)),
        lambda p: p[0].__setitem__("nonce", "0x" + "11" * 16),
        lambda p: p[0].__setitem__("signature", p[0]["signature"][:-2] + _flipped_v(p[0]["signature"])),
    ],
)
def test_tampered_requests_are_refused(node: Node, tamper: Any) -> None:
    params = signed("jovay_assetState", ["0x1"])
    tamper(params)
    error = refused(node, "jovay_assetState", params)
    assert error["code"] == UNAUTHORIZED and "invalid regulator signature" in error["message"]


def test_a_signature_for_another_method_or_chain_is_refused(node: Node) -> None:
    params = signed("jovay_assetState", ["0x1"])
    assert refused(node, "jovay_assetHolders", params)["code"] == UNAUTHORIZED
    other_chain = signed("jovay_assetState", ["0x1"], chain_id=1)
    assert "invalid regulator signature" in refused(node, "jovay_assetState", other_chain)["message"]


@pytest.mark.parametrize("offset", [-MAX_SKEW_S - 1, MAX_SKEW_S + 1])
def test_stale_or_future_requests_are_refused(node: Node, offset: int) -> None:
    params = signed("jovay_assetState", ["0x1"], timestamp=T0 + 1_000 + offset)
    error = refused(node, "jovay_assetState", params)
    assert error["code"] == UNAUTHORIZED and "stale request" in error["message"]
    edge = signed(
        "jovay_assetState", ["0x1"], timestamp=T0 + 1_000 + (MAX_SKEW_S if offset > 0 else -MAX_SKEW_S)
    )
    assert "result" in call(node.client, "jovay_assetState", edge)


def test_a_replayed_request_is_refused(node: Node) -> None:
    params = signed("jovay_assetStageHistory", ["0x1"])
    assert "result" in call(node.client, "jovay_assetStageHistory", params)
    error = refused(node, "jovay_assetStageHistory", params)
    assert error == {
        "code": UNAUTHORIZED,
        "message": "unauthorized: replayed request: this nonce was already used",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"signature": None},
        {"signature": "0x1234"},
        {"nonce": "0x01"},
        {"timestamp": 5},
        {"regulator": "0xabc"},
    ],
)
def test_malformed_authorizations_are_invalid_params(node: Node, change: dict[str, Any]) -> None:
    params = signed("jovay_assetState", ["0x1"])
    params[0] |= change
    assert refused(node, "jovay_assetState", params)["code"] == -32602
    params = signed("jovay_assetState", ["0x1"])
    del params[0]["nonce"]
    assert refused(node, "jovay_assetState", params) == {
        "code": -32602,
        "message": "invalid argument 0: authorization is missing nonce",
    }


def test_a_revoked_regulator_is_refused(node: Node) -> None:
    node.send(ADMIN_KEY, IDENTITY_REGISTRY, calldata("setRegulator(address,bool)", REGULATOR, False))
    try:
        error = refused(node, "jovay_assetState", signed("jovay_assetState", ["0x1"]))
        assert error["message"] == f"unauthorized: {address_hex(REGULATOR)} is not a regulator"
    finally:
        node.send(ADMIN_KEY, IDENTITY_REGISTRY, calldata("setRegulator(address,bool)", REGULATOR, True))
    assert "result" in call(node.client, "jovay_assetState", signed("jovay_assetState", ["0x1"]))


def test_the_served_table_has_the_regulator_methods_with_the_wall_clock(tmp_path: Path) -> None:
    """rpc_methods serves them (checked against time.time: a request signed now is fresh)."""
    chain = Chain(tmp_path, Genesis(identity_admin=ADMIN, timestamp=1))
    client = TestClient(create_app(rpc_methods(chain, None, None, EventHub())))
    auth = sign_regulator_request(REGULATOR_KEY, CHAIN_ID, "jovay_assetState", ["0x1"])
    error = call(client, "jovay_assetState", [auth, "0x1"])["error"]
    assert error["message"] == f"unauthorized: {address_hex(REGULATOR)} is not a regulator"
    assert Account.from_key(REGULATOR_KEY).address.lower() == auth["regulator"]
    chain.close()


def test_eth_call_and_estimate_gas_carry_value_to_payable_functions_only(node: Node) -> None:
    """Wallets estimate payable calls (subscribe, depositRevenue, redeem) with their value."""
    deposit = {"from": address_hex(ISSUER), "to": address_hex(ASSET_REGISTRY), "value": hex(10**15)}
    deposit["data"] = "0x" + calldata("depositRevenue(uint256)", 1).hex()
    assert int(call(node.client, "eth_estimateGas", [deposit])["result"], 16) > 40_000
    assert call(node.client, "eth_call", [deposit])["result"] == "0x" + (2).to_bytes(32, "big").hex()
    not_payable = deposit | {"data": "0x" + calldata("assetCount()").hex()}
    error = call(node.client, "eth_estimateGas", [not_payable])["error"]
    assert (error["code"], error["message"]) == (3, "execution reverted: Jovay: function is not payable")
    too_much = deposit | {"value": hex(100 * ETH)}
    assert call(node.client, "eth_call", [too_much])["error"] == {
        "code": -32000,
        "message": "insufficient funds for transfer",
    }
