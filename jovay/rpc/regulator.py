"""The regulator's `jovay_` methods: asset state, stage history, holders, attestations, compliance events.

Only regulators may call them: addresses the identity admin named with `setRegulator` (identity
registry state at the head). Every request carries, as its first parameter, an authorization object
signed by the regulator's key (EIP-191 `personal_sign`, any wallet can produce it):

    {"regulator": "0x…", "timestamp": "0x…" (unix seconds), "nonce": "0x…" (8 to 32 bytes),
     "signature": "0x…" (65 bytes r || s || v)}

over the text `regulator_auth.request_message(chainId, method, params, timestamp, nonce)`, where
`params` are the request's remaining parameters: the signature binds the method, its arguments, the
chain, a time and a nonce. The node refuses (code `UNAUTHORIZED`) a request without it, with a
signature that does not recover to `regulator`, one whose timestamp is more than `MAX_SKEW_S` from the
node's clock, one whose (regulator, nonce) it has already served within that window (a replay), and
one whose signer is not a regulator. All of this is read access: nothing here changes state.

Histories and holder lists come from the chain's logs (the STF keeps no lists of holders, so that each
operation stays bounded): `AssetLogIndex` reads the blocks it has not seen yet on each request and
keeps what concerns assets in memory; balances and flags are then read from state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from jovay.codec.blocks import Log, bloom_contains
from jovay.crypto.keccak import keccak256
from jovay.params import ASSET_REGISTRY, ATTESTATION_REGISTRY, IDENTITY_REGISTRY, TOKEN_ADDRESS_PREFIX
from jovay.rpc import params as p
from jovay.rpc.errors import RpcError, invalid_argument
from jovay.rpc.logs import LIMIT_EXCEEDED
from jovay.rpc.methods import EthApi
from jovay.rpc.regulator_auth import request_message
from jovay.state.overlay import StateOverlay
from jovay.stf import assets, cashflow, token
from jovay.stf.attestations import read_attestation, read_attestor, recover_signer
from jovay.stf.identity import is_regulator, read_claims
from jovay.stf.rwa_events import EventSpec, decode_event, spec_of
from jovay.storage.chain import Chain

UNAUTHORIZED: Final = -32090  # Jovay's code for a refused regulator request (docs/rpc.md)
MAX_SKEW_S: Final = 300  # how far a request's timestamp may be from the node's clock
MAX_REMEMBERED_NONCES: Final = 100_000  # requests served within the window; more are refused
MIN_NONCE_BYTES, MAX_NONCE_BYTES = 8, 32

COMPLIANCE_EVENTS: Final = frozenset(
    {
        "IssuanceApproved",
        "IssuanceOpened",
        "AssetRulesSet",
        "InvestorRequirementsSet",
        "AgentSet",
        "AddressFrozen",
        "AssetPaused",
        "ForcedTransfer",
        "TokensFrozen",
        "TokensUnfrozen",
        "RecoverySuccess",
    }
)
_WATCHED: Final = (ASSET_REGISTRY, ATTESTATION_REGISTRY, IDENTITY_REGISTRY)


def personal_digest(message: str) -> bytes:
    """EIP-191 version 0x45: keccak("\\x19Ethereum Signed Message:\\n" + len + message)."""
    raw = message.encode()
    return keccak256(b"\x19Ethereum Signed Message:\n" + str(len(raw)).encode() + raw)


def unauthorized(why: str) -> RpcError:
    return RpcError(UNAUTHORIZED, f"unauthorized: {why}")


# --- the log index ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IndexedLog:
    block: int
    timestamp: int
    tx_hash: bytes
    log_index: int
    log: Log
    spec: EventSpec

    def json(self) -> dict[str, Any]:
        return {
            "event": self.spec.name,
            "contract": p.hex_bytes(self.log.address),
            "args": decode_event(self.spec, self.log),
            "blockNumber": p.hex_int(self.block),
            "blockTimestamp": p.hex_int(self.timestamp),
            "transactionHash": p.hex_bytes(self.tx_hash),
            "logIndex": p.hex_int(self.log_index),
        }


@dataclass(slots=True)
class AssetLogIndex:
    """What the regulator methods need from logs, caught up with the chain on demand."""

    chain: Chain
    next_block: int = 1
    by_asset: dict[int, list[IndexedLog]] = field(default_factory=dict)  # asset registry events
    attestations: dict[int, list[IndexedLog]] = field(default_factory=dict)  # Attested, by asset id
    receivers: dict[bytes, dict[bytes, None]] = field(default_factory=dict)  # token -> who ever received
    identity: dict[bytes, list[IndexedLog]] = field(default_factory=dict)  # identity events, by address
    lock: threading.Lock = field(default_factory=threading.Lock)

    def catch_up(self) -> None:
        with self.lock:
            head = self.chain.head.number
            while self.next_block <= head:
                self._index_block(self.next_block)
                self.next_block += 1

    def _index_block(self, number: int) -> None:
        found = self.chain.block(number)
        if found is None:
            return
        header, raw_txs = found
        bloom = header.logs_bloom
        if not any(bloom_contains(bloom, a) for a in _WATCHED) and not bloom_contains(
            bloom, token.TRANSFER_TOPIC
        ):
            return
        log_index = 0
        for raw, stored in zip(raw_txs, self.chain.receipts(number), strict=True):
            tx_hash = keccak256(raw)
            for log in stored.receipt.logs:
                spec = spec_of(log)
                if spec is not None:
                    self._add(IndexedLog(number, header.timestamp, tx_hash, log_index, log, spec))
                log_index += 1

    def _add(self, entry: IndexedLog) -> None:
        address, topics = bytes(entry.log.address), entry.log.topics
        if address == ASSET_REGISTRY and entry.spec.name != "TokenCreated":
            self.by_asset.setdefault(int.from_bytes(topics[1], "big"), []).append(entry)
        elif address == ATTESTATION_REGISTRY and entry.spec.name == "Attested":
            self.attestations.setdefault(int.from_bytes(topics[2], "big"), []).append(entry)
        elif address == IDENTITY_REGISTRY:
            for topic in topics[1:]:
                self.identity.setdefault(bytes(topic[12:]), []).append(entry)
        elif address.startswith(TOKEN_ADDRESS_PREFIX) and entry.spec.name == "Transfer":
            self.receivers.setdefault(address, {})[bytes(topics[2][12:])] = None


# --- the methods ------------------------------------------------------------------------------------
class RegulatorApi:
    def __init__(self, chain: Chain, eth: EthApi, clock: Callable[[], float] = time.time) -> None:
        self.chain = chain
        self.eth = eth
        self.clock = clock
        self.index = AssetLogIndex(chain)
        self._seen: dict[tuple[bytes, bytes], float] = {}
        self._seen_lock = threading.Lock()

    def methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        served = {
            "jovay_assetState": self._asset_state,
            "jovay_assetStageHistory": self._stage_history,
            "jovay_assetHolders": self._holders,
            "jovay_assetAttestations": self._attestations,
            "jovay_complianceEvents": self._compliance_events,
        }
        return {name: self._guarded(name, function) for name, function in served.items()}

    def _guarded(self, method: str, function: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        def call(params: list[Any]) -> Any:
            self.authorize(method, params)
            return function(params)

        return call

    # --- authorization ---------------------------------------------------------------------------
    def authorize(self, method: str, params: list[Any]) -> bytes:
        """The regulator that signed this request; raises `RpcError` for every reason to refuse it."""
        if not params or not isinstance(params[0], dict):
            raise unauthorized(
                "regulator signature required: the first parameter must be the signed authorization "
                "{regulator, timestamp, nonce, signature}"
            )
        auth = params[0]
        missing = {"regulator", "timestamp", "nonce", "signature"} - auth.keys()
        if missing:
            raise invalid_argument(0, f"authorization is missing {', '.join(sorted(missing))}")
        regulator = p.address(auth["regulator"], 0)
        timestamp = p.quantity(auth["timestamp"], 0)
        nonce = p.data(auth["nonce"], 0)
        if not MIN_NONCE_BYTES <= len(nonce) <= MAX_NONCE_BYTES:
            raise invalid_argument(0, f"nonce must be {MIN_NONCE_BYTES} to {MAX_NONCE_BYTES} bytes")
        signature = p.fixed_bytes(auth["signature"], 0, 65, "signature")
        now = self.clock()
        if abs(now - timestamp) > MAX_SKEW_S:
            raise unauthorized(
                f"stale request: timestamp {timestamp} is {abs(int(now) - timestamp)} s from the node's "
                f"clock (at most {MAX_SKEW_S})"
            )
        message = request_message(self.eth.chain_id, method, params[1:], timestamp, nonce)
        signer = recover_signer(personal_digest(message), signature)
        if signer != regulator:
            raise unauthorized(f"invalid regulator signature for 0x{regulator.hex()}")
        if not is_regulator(self._state("latest"), regulator):
            raise unauthorized(f"0x{regulator.hex()} is not a regulator")
        self._remember(regulator, nonce, now)
        return regulator

    def _remember(self, regulator: bytes, nonce: bytes, now: float) -> None:
        """Refuse a (regulator, nonce) served within the window; forget those older than it."""
        with self._seen_lock:
            if (regulator, nonce) in self._seen:
                raise unauthorized("replayed request: this nonce was already used")
            if len(self._seen) >= MAX_REMEMBERED_NONCES:
                horizon = now - 2 * MAX_SKEW_S
                self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
                if len(self._seen) >= MAX_REMEMBERED_NONCES:
                    raise RpcError(LIMIT_EXCEEDED, "too many regulator requests: try again later")
            self._seen[(regulator, nonce)] = now

    # --- helpers ---------------------------------------------------------------------------------
    def _state(self, tag: Any) -> StateOverlay:
        """State at a block tag given as parameter 2."""
        return StateOverlay(self.chain.state_reader(self.eth.block_number_of(tag, 2)))

    def _asset_id(self, params: list[Any], state: StateOverlay) -> int:
        """Parameter 1 (after the authorization): an existing asset id."""
        asset_id = p.quantity(p.param(params, 1), 1)
        if not 1 <= asset_id <= assets.asset_count(state):
            raise invalid_argument(1, f"no such asset: {asset_id}")
        return asset_id

    # --- methods ---------------------------------------------------------------------------------
    def _asset_state(self, params: list[Any]) -> dict[str, Any]:
        state = self._state(p.param(params, 2, "latest"))
        asset_id = self._asset_id(params, state)
        return asset_state_json(state, asset_id)

    def _stage_history(self, params: list[Any]) -> list[dict[str, Any]]:
        asset_id = self._asset_id(params, self._state("latest"))
        self.index.catch_up()
        changes = [e for e in self.index.by_asset.get(asset_id, []) if e.spec.name == "AssetStageChanged"]
        return [
            {
                "stage": assets.STAGE_NAMES[int(entry.log.data[-1])],
                "stageNumber": p.hex_int(entry.log.data[-1]),
                "by": p.hex_bytes(bytes(entry.log.topics[2][12:])),
                "blockNumber": p.hex_int(entry.block),
                "blockTimestamp": p.hex_int(entry.timestamp),
                "transactionHash": p.hex_bytes(entry.tx_hash),
            }
            for entry in changes
        ]

    def _holders(self, params: list[Any]) -> dict[str, Any]:
        state = self._state(p.param(params, 2, "latest"))
        asset_id = self._asset_id(params, state)
        token_address = assets.address_field(state, asset_id, assets.F_TOKEN)
        self.index.catch_up()
        holders = []
        for holder in self.index.receivers.get(token_address, {}):
            balance = token.balance_of(state, token_address, holder)
            if balance:
                holders.append(_holder_json(state, asset_id, holder, balance))
        return {
            "token": p.hex_bytes(token_address),
            "holderCount": p.hex_int(state.get(assets.holder_count_key(token_address))),
            "holders": holders,
        }

    def _attestations(self, params: list[Any]) -> list[dict[str, Any]]:
        state = self._state("latest")
        asset_id = self._asset_id(params, state)
        self.index.catch_up()
        answer = []
        for entry in self.index.attestations.get(asset_id, []):
            attestor = bytes(entry.log.topics[1][12:])
            sequence = int.from_bytes(entry.log.topics[3], "big")
            record = read_attestation(state, attestor, asset_id, sequence)
            answer.append(
                entry.json()
                | {
                    "attestorKind": {1: "auditor", 2: "device"}.get(
                        read_attestor(state, attestor).kind, "unknown"
                    ),
                    "recordedAt": p.hex_int(record.recorded_at),
                }
            )
        return answer

    def _compliance_events(self, params: list[Any]) -> list[dict[str, Any]]:
        """The asset's compliance events and the identity events of every address that ever held it."""
        state = self._state("latest")
        asset_id = self._asset_id(params, state)
        self.index.catch_up()
        entries = [e for e in self.index.by_asset.get(asset_id, []) if e.spec.name in COMPLIANCE_EVENTS]
        token_address = assets.address_field(state, asset_id, assets.F_TOKEN)
        seen: set[tuple[int, int]] = set()
        for holder in self.index.receivers.get(token_address, {}):
            for entry in self.index.identity.get(holder, []):
                if (entry.block, entry.log_index) not in seen:
                    seen.add((entry.block, entry.log_index))
                    entries.append(entry)
        entries.sort(key=lambda e: (e.block, e.log_index))
        return [e.json() for e in entries]


def asset_state_json(state: StateOverlay, asset_id: int) -> dict[str, Any]:
    """Everything the asset registry holds about one asset, in JSON-RPC form."""
    status = assets.read_status(state, asset_id)

    def get(field: int) -> int:
        return assets.get_field(state, asset_id, field)

    terms, window = get(assets.F_TERMS), get(assets.F_WINDOW)
    rules, needs = assets.read_rules(state, asset_id), assets.read_requirements(state, asset_id)
    token_address = assets.address_field(state, asset_id, assets.F_TOKEN)
    supply = token.token_field(state, token_address, token.FIELD_TOTAL_SUPPLY)
    h = p.hex_int
    return {
        "assetId": h(asset_id),
        "stage": assets.STAGE_NAMES[status.stage],
        "stageNumber": h(status.stage),
        "paused": status.paused,
        "issuanceApproved": status.approved,
        "issuer": p.hex_bytes(assets.address_field(state, asset_id, assets.F_ISSUER)),
        "originator": p.hex_bytes(assets.address_field(state, asset_id, assets.F_ORIGINATOR)),
        "assetClass": h(status.asset_class),
        "metadataCommitment": p.hex_bytes(
            (get(assets.F_META_HI) << 128 | get(assets.F_META_LO)).to_bytes(32, "big")
        ),
        "documentsCommitment": p.hex_bytes(
            (get(assets.F_DOCS_HI) << 128 | get(assets.F_DOCS_LO)).to_bytes(32, "big")
        ),
        "terms": {
            "tranche": h(terms & 0xFF),
            "maturity": h(terms >> 8 & assets.LOW64),
            "targetYieldBps": h(terms >> 72),
            "supplyCap": h(get(assets.F_SUPPLY_CAP)),
        },
        "token": p.hex_bytes(token_address),
        "totalSupply": h(supply),
        "holderCount": h(state.get(assets.holder_count_key(token_address))),
        "issuance": {
            "start": h(window & assets.LOW64),
            "end": h(window >> 64),
            "minSubscription": h(get(assets.F_MIN_SUBSCRIPTION)),
            "maxSubscription": h(get(assets.F_MAX_SUBSCRIPTION)),
            "price": h(get(assets.F_PRICE)),
        },
        "rules": {
            "maxHolders": h(rules.max_holders),
            "maxBalance": h(rules.max_balance),
            "lockupUntil": h(rules.lockup_until),
        },
        "investorRequirements": {
            "requireKyc": needs.require_kyc,
            "minInvestorClass": h(needs.min_investor_class),
            "jurisdiction": h(needs.jurisdiction),
        },
        "cashFlows": {
            "revenuePeriods": h(get(assets.F_REVENUE_PERIODS)),
            "revenueDeposited": h(get(assets.F_REVENUE_TOTAL)),
            "revenuePerUnitX64": h(get(assets.F_REVENUE_PER_UNIT)),
            "redemptionPool": h(get(assets.F_REDEMPTION_POOL)),
        },
    }


def _holder_json(state: StateOverlay, asset_id: int, holder: bytes, balance: int) -> dict[str, Any]:
    claims = read_claims(state, holder)
    return {
        "address": p.hex_bytes(holder),
        "balance": p.hex_int(balance),
        "frozen": assets.is_frozen(state, asset_id, holder),
        "frozenTokens": p.hex_int(assets.frozen_tokens(state, asset_id, holder)),
        "revenueOwed": p.hex_int(cashflow.pending_revenue(state, asset_id, holder)),
        "claims": {
            "jurisdiction": p.hex_int(claims.jurisdiction),
            "investorClass": p.hex_int(claims.investor_class),
            "kycExpiry": p.hex_int(claims.kyc_expiry),
        },
    }
