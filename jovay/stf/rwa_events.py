"""Solidity declarations of the RWA system contracts' events, for decoding logs and for ABIs.

The STF modules emit these events (their topics are computed there from the same signatures; a test
holds both equal). The regulator RPC methods decode logs with `decode_event`, and the SDK builds its
web3.py ABIs from `abi_json`. Parameters are in declaration order, so the topic is
`keccak(name(types...))` and the indexed ones sit in topics 1..3 in that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from eth_abi import decode as abi_decode

from jovay.codec import abi
from jovay.codec.blocks import Log
from jovay.params import ASSET_REGISTRY, ATTESTATION_REGISTRY, IDENTITY_REGISTRY


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    params: tuple[tuple[str, str, bool], ...]  # (name, type, indexed)

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t for _, t, _ in self.params)})"

    @property
    def topic(self) -> bytes:
        return abi.event_topic(self.signature)

    def abi_json(self) -> dict[str, Any]:
        inputs = [{"name": n, "type": t, "indexed": i} for n, t, i in self.params]
        return {"type": "event", "name": self.name, "anonymous": False, "inputs": inputs}


def _event(name: str, *params: str) -> EventSpec:
    """`_event("Foo", "uint256 indexed assetId", "bool flag")`."""
    parsed = []
    for param in params:
        words = param.split()
        parsed.append((words[-1], words[0], len(words) == 3 and words[1] == "indexed"))
    return EventSpec(name, tuple(parsed))


ASSET_REGISTRY_EVENTS: Final = (
    _event(
        "TokenCreated",
        "address indexed token",
        "address indexed issuer",
        "string name",
        "string symbol",
        "uint8 decimals",
    ),
    _event(
        "AssetRegistered",
        "uint256 indexed assetId",
        "address indexed issuer",
        "address indexed originator",
        "uint8 assetClass",
        "bytes32 metadataCommitment",
        "bytes32 documentsCommitment",
    ),
    _event("AssetStageChanged", "uint256 indexed assetId", "uint8 stage", "address indexed by"),
    _event("IssuanceApproved", "uint256 indexed assetId", "address indexed officer"),
    _event(
        "IssuanceOpened",
        "uint256 indexed assetId",
        "uint64 start",
        "uint64 end",
        "uint128 minSubscription",
        "uint128 maxSubscription",
        "uint128 price",
    ),
    _event(
        "Subscribed", "uint256 indexed assetId", "address indexed investor", "uint256 amount", "uint256 paid"
    ),
    _event(
        "AssetRulesSet",
        "uint256 indexed assetId",
        "uint32 maxHolders",
        "uint128 maxBalance",
        "uint64 lockupUntil",
    ),
    _event(
        "InvestorRequirementsSet",
        "uint256 indexed assetId",
        "bool requireKyc",
        "uint8 minInvestorClass",
        "uint16 jurisdiction",
    ),
    _event("AgentSet", "uint256 indexed assetId", "address indexed agent", "bool enabled"),
    _event(
        "AddressFrozen",
        "uint256 indexed assetId",
        "address indexed holder",
        "bool frozen",
        "address indexed agent",
    ),
    _event("AssetPaused", "uint256 indexed assetId", "bool paused", "address indexed agent"),
    _event(
        "ForcedTransfer",
        "uint256 indexed assetId",
        "address indexed from",
        "address indexed to",
        "uint256 amount",
        "address agent",
    ),
    _event(
        "TokensFrozen", "uint256 indexed assetId", "address indexed holder", "uint256 amount", "address agent"
    ),
    _event(
        "TokensUnfrozen",
        "uint256 indexed assetId",
        "address indexed holder",
        "uint256 amount",
        "address agent",
    ),
    _event(
        "RecoverySuccess",
        "uint256 indexed assetId",
        "address indexed lostWallet",
        "address indexed newWallet",
        "address agent",
    ),
    _event(
        "RevenueDeposited",
        "uint256 indexed assetId",
        "uint256 indexed period",
        "uint256 amount",
        "uint256 revenuePerUnitX64",
    ),
    _event("RevenueClaimed", "uint256 indexed assetId", "address indexed holder", "uint256 amount"),
    _event("RedemptionFunded", "uint256 indexed assetId", "uint256 amount"),
    _event(
        "Redeemed", "uint256 indexed assetId", "address indexed holder", "uint256 units", "uint256 payout"
    ),
    _event("RedemptionPoolReturned", "uint256 indexed assetId", "address indexed issuer", "uint256 amount"),
)
IDENTITY_REGISTRY_EVENTS: Final = (
    _event("AllowlistUpdated", "address indexed holder", "bool allowed"),
    _event("ComplianceOfficerUpdated", "address indexed officer", "bool enabled"),
    _event(
        "ClaimsUpdated",
        "address indexed holder",
        "uint16 jurisdiction",
        "uint8 investorClass",
        "uint64 kycExpiry",
    ),
    _event("RegulatorUpdated", "address indexed regulator", "bool enabled"),
    _event("IdentityRecovered", "address indexed lostWallet", "address indexed newWallet"),
)
ATTESTATION_REGISTRY_EVENTS: Final = (
    _event("AttestorRegistered", "address indexed attestor", "uint8 kind", "uint256 indexed assetId"),
    _event("AttestorRevoked", "address indexed attestor"),
    _event(
        "Attested",
        "address indexed attestor",
        "uint256 indexed assetId",
        "uint64 indexed sequence",
        "bytes32 dataCommitment",
        "uint64 timestamp",
    ),
)
TOKEN_EVENTS: Final = (
    _event("Transfer", "address indexed from", "address indexed to", "uint256 value"),
    _event("Approval", "address indexed owner", "address indexed spender", "uint256 value"),
)

_BY_CONTRACT: Final = {
    ASSET_REGISTRY: {e.topic: e for e in ASSET_REGISTRY_EVENTS},
    IDENTITY_REGISTRY: {e.topic: e for e in IDENTITY_REGISTRY_EVENTS},
    ATTESTATION_REGISTRY: {e.topic: e for e in ATTESTATION_REGISTRY_EVENTS},
}
_TOKEN_BY_TOPIC: Final = {e.topic: e for e in TOKEN_EVENTS}


def spec_of(log: Log) -> EventSpec | None:
    """The declaration of a system contract's log (token logs by topic), None if it is not one."""
    if not log.topics:
        return None
    table = _BY_CONTRACT.get(bytes(log.address), _TOKEN_BY_TOPIC)
    return table.get(bytes(log.topics[0]))


def decode_event(spec: EventSpec, log: Log) -> dict[str, Any]:
    """The event's arguments by name, in JSON-RPC form (see `_json_value`)."""
    indexed = [(n, t) for n, t, i in spec.params if i]
    plain = [(n, t) for n, t, i in spec.params if not i]
    values: dict[str, Any] = {}
    for (name, type_), topic in zip(indexed, log.topics[1:], strict=True):
        values[name] = abi_decode([type_], bytes(topic))[0]
    decoded = abi_decode([t for _, t in plain], bytes(log.data)) if plain else ()
    values |= {name: value for (name, _), value in zip(plain, decoded, strict=True)}
    return {name: _json_value(values[name]) for name, _, _ in spec.params}


def _json_value(value: Any) -> Any:
    """JSON-RPC conventions: integers as hex quantities, bytes and addresses as lower-case 0x-hex."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    return value
