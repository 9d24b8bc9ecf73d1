"""The SDK's ABIs match what the system contracts serve; event declarations match what the STF emits;
regulator authorizations verify the way the node checks them."""

from __future__ import annotations

import pytest
from eth_utils import function_abi_to_4byte_selector

from jovay.crypto.keccak import keccak256
from jovay.rpc.regulator import personal_digest
from jovay.rpc.regulator_auth import request_message
from jovay.sdk import rwa
from jovay.stf import assets, attestations, cashflow, identity, registry, rwa_events, token
from jovay.stf.attestations import recover_signer
from tests.helpers import ADDRESSES, CHAIN_ID, KEYS

ASSET_SERVED = {**assets.FUNCTIONS, **cashflow.FUNCTIONS}
ASSET_PAYABLE = {**assets.PAYABLE_FUNCTIONS, **cashflow.PAYABLE_FUNCTIONS}


def functions(abi: list[dict]) -> dict[bytes, dict]:
    return {function_abi_to_4byte_selector(e): e for e in abi if e["type"] == "function"}


@pytest.mark.parametrize(
    ("abi", "served", "payable"),
    [
        (rwa.ASSET_REGISTRY_ABI, ASSET_SERVED, ASSET_PAYABLE),
        (rwa.IDENTITY_REGISTRY_ABI, identity.FUNCTIONS, {}),
        (rwa.TOKEN_ABI, token.FUNCTIONS, {}),
    ],
)
def test_every_sdk_function_is_served_with_its_mutability(
    abi: list[dict], served: dict, payable: dict
) -> None:
    for selector, entry in functions(abi).items():
        assert selector in served or selector in payable, entry["name"]
        assert (entry["stateMutability"] == "payable") == (selector in payable), entry["name"]


def test_the_sdk_covers_every_asset_lifecycle_and_identity_function() -> None:
    listed = set(functions(rwa.ASSET_REGISTRY_ABI)) | set(functions(rwa.IDENTITY_REGISTRY_ABI))
    served = set(ASSET_SERVED) | set(ASSET_PAYABLE) | set(identity.FUNCTIONS)
    assert served - listed == set()


def test_event_declarations_match_the_topics_the_stf_emits() -> None:
    topics = {e.name: e.topic for e in rwa_events.ASSET_REGISTRY_EVENTS + rwa_events.IDENTITY_REGISTRY_EVENTS}
    topics |= {e.name: e.topic for e in rwa_events.ATTESTATION_REGISTRY_EVENTS + rwa_events.TOKEN_EVENTS}
    emitted = {
        "TokenCreated": registry.TOKEN_CREATED,
        "AssetRegistered": assets.ASSET_REGISTERED,
        "AssetStageChanged": assets.ASSET_STAGE_CHANGED,
        "IssuanceApproved": assets.ISSUANCE_APPROVED,
        "IssuanceOpened": assets.ISSUANCE_OPENED,
        "Subscribed": assets.SUBSCRIBED,
        "AssetRulesSet": assets.ASSET_RULES_SET,
        "InvestorRequirementsSet": assets.REQUIREMENTS_SET,
        "AgentSet": assets.AGENT_SET,
        "AddressFrozen": assets.ADDRESS_FROZEN,
        "AssetPaused": assets.ASSET_PAUSED,
        "ForcedTransfer": assets.FORCED_TRANSFER,
        "TokensFrozen": assets.TOKENS_FROZEN,
        "TokensUnfrozen": assets.TOKENS_UNFROZEN,
        "RecoverySuccess": assets.RECOVERY_SUCCESS,
        "RevenueDeposited": cashflow.REVENUE_DEPOSITED,
        "RevenueClaimed": cashflow.REVENUE_CLAIMED,
        "RedemptionFunded": cashflow.REDEMPTION_FUNDED,
        "Redeemed": cashflow.REDEEMED,
        "RedemptionPoolReturned": cashflow.POOL_RETURNED,
        "AllowlistUpdated": identity.ALLOWLIST_UPDATED,
        "ComplianceOfficerUpdated": identity.COMPLIANCE_OFFICER_UPDATED,
        "ClaimsUpdated": identity.CLAIMS_UPDATED,
        "RegulatorUpdated": identity.REGULATOR_UPDATED,
        "IdentityRecovered": identity.IDENTITY_RECOVERED,
        "AttestorRegistered": attestations.ATTESTOR_REGISTERED,
        "AttestorRevoked": attestations.ATTESTOR_REVOKED,
        "Attested": attestations.ATTESTED,
        "Transfer": token.TRANSFER_TOPIC,
        "Approval": token.APPROVAL_TOPIC,
    }
    assert topics == emitted


def test_a_regulator_authorization_recovers_to_the_regulator_and_binds_everything() -> None:
    params = ["0x1", "latest"]
    auth = rwa.sign_regulator_request(
        KEYS[6], CHAIN_ID, "jovay_assetHolders", params, 1_700_000_000, b"\x07" * 16
    )
    assert auth["regulator"] == "0x" + ADDRESSES[6].hex() and auth["timestamp"] == hex(1_700_000_000)
    signature = bytes.fromhex(auth["signature"][2:])

    def signer(
        method: str, signed_params: list, chain_id: int = CHAIN_ID, nonce: bytes = b"\x07" * 16
    ) -> bytes | None:
        message = request_message(chain_id, method, signed_params, 1_700_000_000, nonce)
        return recover_signer(personal_digest(message), signature)

    assert signer("jovay_assetHolders", params) == ADDRESSES[6]
    assert signer("jovay_assetState", params) != ADDRESSES[6]
    assert signer("jovay_assetHolders", ["0x2", "latest"]) != ADDRESSES[6]
    assert signer("jovay_assetHolders", params, chain_id=1) != ADDRESSES[6]
    assert signer("jovay_assetHolders", params, nonce=b"\x08" * 16) != ADDRESSES[6]


def test_the_signed_text_is_readable_and_hashes_canonical_json() -> None:
    message = request_message(5, "jovay_assetState", [{"b": 1, "a": "x"}], 9, b"\xab")
    digest = keccak256(b'[{"a":"x","b":1}]').hex()
    assert message == (
        "Jovay regulator request\nchainId: 5\nmethod: jovay_assetState\n"
        f"params: 0x{digest}\ntimestamp: 9\nnonce: 0xab"
    )
