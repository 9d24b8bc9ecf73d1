"""Client side of Jovay's real-world-asset contracts over web3.py: the whole lifecycle in typed calls.

- `IdentityClient`: the identity registry (allowlist, claims, compliance officers, regulators, identity
  recovery); its writes are the identity admin's.
- `AssetClient`: the asset registry: register, structure, tokenize, approve, open the issuance,
  subscribe (paying `amount * price` wei), start trading, rules and agent actions, revenue deposits and
  claims, redemption and close; and `token(address)` for the asset's ERC-20.
- `TokenClient`: one asset token (ERC-20 with compliance checks on every transfer).
- `RegulatorClient`: the signed `jovay_` regulator queries (see `jovay.rpc.regulator`).
- Attestations (devices, auditors) are `jovay.sdk.attestations`.

Every write signs locally with the client's account, estimates gas first (so a refused call raises
web3's `ContractLogicError` with the contract's reason before anything is sent) and waits for the
receipt; a receipt with status 0 raises `TransactionFailed`.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Any, Final

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxReceipt

from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY
from jovay.rpc.regulator_auth import request_message
from jovay.stf.rwa_events import (
    ASSET_REGISTRY_EVENTS,
    IDENTITY_REGISTRY_EVENTS,
    TOKEN_EVENTS,
)

__all__ = [
    "ASSET_REGISTRY_ABI",
    "IDENTITY_REGISTRY_ABI",
    "TOKEN_ABI",
    "AssetClient",
    "AssetInfo",
    "IdentityClient",
    "Issuance",
    "RegulatorClient",
    "RegulatorError",
    "STAGES",
    "TokenClient",
    "TransactionFailed",
    "sign_regulator_request",
]

STAGES: Final = ("Registered", "Structured", "Tokenized", "Issuing", "Trading", "Redeemed", "Closed")

_DECLARATION = re.compile(r"^(\w+)\((.*?)\)\s*(payable|view)?\s*(?:returns \((.*)\))?$")


def _params(text: str) -> list[dict[str, str]]:
    params = []
    for i, item in enumerate(p.strip() for p in text.split(",") if p.strip()):
        words = item.split()
        params.append({"name": words[1] if len(words) > 1 else f"out{i}", "type": words[0]})
    return params


def _abi(*declarations: str) -> list[dict[str, Any]]:
    """Function ABI entries from `name(type arg, ...) [payable|view] [returns (type name, ...)]`."""
    entries = []
    for declaration in declarations:
        match = _DECLARATION.match(declaration)
        if match is None:
            raise ValueError(f"bad declaration: {declaration}")
        name, inputs, mutability, outputs = match.groups()
        entries.append(
            {
                "type": "function",
                "name": name,
                "stateMutability": mutability or "nonpayable",
                "inputs": _params(inputs),
                "outputs": _params(outputs or ""),
            }
        )
    return entries


IDENTITY_REGISTRY_ABI: Final = _abi(
    "setAllowed(address holder, bool allowed) returns (bool ok)",
    "isAllowed(address holder) view returns (bool allowed)",
    "admin() view returns (address admin)",
    "setComplianceOfficer(address officer, bool enabled) returns (bool ok)",
    "isComplianceOfficer(address officer) view returns (bool enabled)",
    "setClaims(address holder, uint16 jurisdiction, uint8 investorClass, uint64 kycExpiry)",
    "claims(address holder) view returns (uint16 jurisdiction, uint8 investorClass, uint64 kycExpiry)",
    "setRegulator(address regulator, bool enabled) returns (bool ok)",
    "isRegulator(address regulator) view returns (bool enabled)",
    "recoverIdentity(address lostWallet, address newWallet) returns (bool ok)",
) + [e.abi_json() for e in IDENTITY_REGISTRY_EVENTS]

ASSET_REGISTRY_ABI: Final = _abi(
    "registerAsset(address originator, uint8 assetClass, bytes32 metadataCommitment, "
    "bytes32 documentsCommitment) returns (uint256 assetId)",
    "structureAsset(uint256 assetId, uint8 tranche, uint64 maturity, uint32 targetYieldBps, "
    "uint128 supplyCap)",
    "tokenizeAsset(uint256 assetId, string name, string symbol, uint8 decimals) returns (address token)",
    "approveIssuance(uint256 assetId)",
    "openIssuance(uint256 assetId, uint64 start, uint64 end, uint128 minSubscription, "
    "uint128 maxSubscription, uint128 price)",
    "subscribe(uint256 assetId, uint128 amount) payable",
    "startTrading(uint256 assetId)",
    "redeem(uint256 assetId) payable",
    "claimRedemption(uint256 assetId, address holder) returns (uint256 payout)",
    "closeAsset(uint256 assetId)",
    "depositRevenue(uint256 assetId) payable returns (uint256 period)",
    "claimRevenue(uint256 assetId, address holder) returns (uint256 amount)",
    "setAssetRules(uint256 assetId, uint32 maxHolders, uint128 maxBalance, uint64 lockupUntil)",
    "setInvestorRequirements(uint256 assetId, bool requireKyc, uint8 minInvestorClass, uint16 jurisdiction)",
    "setAgent(uint256 assetId, address agent, bool enabled)",
    "freeze(uint256 assetId, address holder, bool frozen)",
    "freezePartialTokens(uint256 assetId, address holder, uint128 amount)",
    "unfreezePartialTokens(uint256 assetId, address holder, uint128 amount)",
    "pauseAsset(uint256 assetId, bool paused)",
    "forcedTransfer(uint256 assetId, address from, address to, uint128 amount)",
    "recoveryAddress(uint256 assetId, address lostWallet, address newWallet) returns (bool ok)",
    "asset(uint256 assetId) view returns (uint8 stage, address issuer, address originator, uint8 assetClass, "
    "bytes32 metadataCommitment, bytes32 documentsCommitment, uint8 tranche, uint64 maturity, "
    "uint32 targetYieldBps, uint128 supplyCap, address token)",
    "issuance(uint256 assetId) view returns (bool approved, uint64 start, uint64 end, "
    "uint128 minSubscription, uint128 maxSubscription, uint128 price)",
    "assetRules(uint256 assetId) view returns (uint32 maxHolders, uint128 maxBalance, uint64 lockupUntil, "
    "bool paused, uint32 holderCount)",
    "cashFlows(uint256 assetId) view returns (uint256 revenuePeriods, uint256 revenueDeposited, "
    "uint256 revenuePerUnitX64, uint256 redemptionPool)",
    "revenueOf(uint256 assetId, address holder) view returns (uint256 amount)",
    "frozenTokens(uint256 assetId, address holder) view returns (uint256 amount)",
    "isFrozen(uint256 assetId, address holder) view returns (bool frozen)",
    "subscribed(uint256 assetId, address investor) view returns (uint256 amount)",
    "assetCount() view returns (uint256 count)",
    "assetOfToken(address token) view returns (uint256 assetId)",
    "isAgent(uint256 assetId, address agent) view returns (bool agent)",
    "investorRequirements(uint256 assetId) view returns (bool requireKyc, uint8 minInvestorClass, "
    "uint16 jurisdiction)",
) + [e.abi_json() for e in ASSET_REGISTRY_EVENTS]

TOKEN_ABI: Final = _abi(
    "name() view returns (string name)",
    "symbol() view returns (string symbol)",
    "decimals() view returns (uint8 decimals)",
    "totalSupply() view returns (uint256 supply)",
    "balanceOf(address holder) view returns (uint256 balance)",
    "allowance(address owner, address spender) view returns (uint256 amount)",
    "transfer(address to, uint256 amount) returns (bool ok)",
    "transferFrom(address from, address to, uint256 amount) returns (bool ok)",
    "approve(address spender, uint256 amount) returns (bool ok)",
) + [e.abi_json() for e in TOKEN_EVENTS]


class TransactionFailed(RuntimeError):
    """A transaction was included with status 0."""

    def __init__(self, receipt: TxReceipt) -> None:
        super().__init__(f"transaction 0x{bytes(receipt['transactionHash']).hex()} failed (status 0)")
        self.receipt = receipt


@dataclass(frozen=True, slots=True)
class AssetInfo:
    stage: str
    issuer: str
    originator: str
    asset_class: int
    metadata_commitment: bytes
    documents_commitment: bytes
    tranche: int
    maturity: int
    target_yield_bps: int
    supply_cap: int
    token: str


@dataclass(frozen=True, slots=True)
class Issuance:
    approved: bool
    start: int
    end: int
    min_subscription: int
    max_subscription: int
    price: int


def _address(value: bytes | str) -> ChecksumAddress:
    return Web3.to_checksum_address(value)


class _Sender:
    """Signs, estimates and sends one contract call at a time for `account`."""

    def __init__(self, w3: Web3, account: LocalAccount | None) -> None:
        self.w3 = w3
        self.account = account

    def send(self, call: Any, value: int = 0) -> TxReceipt:
        if self.account is None:
            raise ValueError(f"{type(self).__name__} needs an account to send transactions")
        eth = self.w3.eth
        tx = call.build_transaction(
            {
                "from": self.account.address,
                "value": value,
                "chainId": eth.chain_id,
                "nonce": eth.get_transaction_count(self.account.address, "pending"),
                "maxPriorityFeePerGas": eth.max_priority_fee,
                "maxFeePerGas": 2 * eth.gas_price,
            }
        )
        tx_hash = eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)
        receipt = eth.wait_for_transaction_receipt(tx_hash, timeout=30, poll_latency=0.05)
        if receipt["status"] != 1:
            raise TransactionFailed(receipt)
        return receipt


class IdentityClient(_Sender):
    """The identity registry at `IDENTITY_REGISTRY`; writes are for the identity admin."""

    def __init__(self, w3: Web3, account: LocalAccount | None = None) -> None:
        super().__init__(w3, account)
        self.contract = w3.eth.contract(address=_address(IDENTITY_REGISTRY), abi=IDENTITY_REGISTRY_ABI)

    def set_allowed(self, holder: str, allowed: bool = True) -> TxReceipt:
        return self.send(self.contract.functions.setAllowed(_address(holder), allowed))

    def set_claims(self, holder: str, jurisdiction: int, investor_class: int, kyc_expiry: int) -> TxReceipt:
        """Jurisdiction code (e.g. ISO 3166 numeric), investor class (higher = more qualified), KYC
        expiry (unix seconds)."""
        return self.send(
            self.contract.functions.setClaims(_address(holder), jurisdiction, investor_class, kyc_expiry)
        )

    def set_compliance_officer(self, officer: str, enabled: bool = True) -> TxReceipt:
        return self.send(self.contract.functions.setComplianceOfficer(_address(officer), enabled))

    def set_regulator(self, regulator: str, enabled: bool = True) -> TxReceipt:
        return self.send(self.contract.functions.setRegulator(_address(regulator), enabled))

    def recover_identity(self, lost_wallet: str, new_wallet: str) -> TxReceipt:
        return self.send(self.contract.functions.recoverIdentity(_address(lost_wallet), _address(new_wallet)))

    def is_allowed(self, holder: str) -> bool:
        return bool(self.contract.functions.isAllowed(_address(holder)).call())

    def is_regulator(self, address: str) -> bool:
        return bool(self.contract.functions.isRegulator(_address(address)).call())

    def claims(self, holder: str) -> tuple[int, int, int]:
        """(jurisdiction, investorClass, kycExpiry)."""
        jurisdiction, investor_class, expiry = self.contract.functions.claims(_address(holder)).call()
        return int(jurisdiction), int(investor_class), int(expiry)


class TokenClient(_Sender):
    """One asset token: an ERC-20 whose transfers the asset's compliance rules check."""

    def __init__(self, w3: Web3, address: str, account: LocalAccount | None = None) -> None:
        super().__init__(w3, account)
        self.address = _address(address)
        self.contract = w3.eth.contract(address=self.address, abi=TOKEN_ABI)

    def transfer(self, to: str, amount: int) -> TxReceipt:
        return self.send(self.contract.functions.transfer(_address(to), amount))

    def approve(self, spender: str, amount: int) -> TxReceipt:
        return self.send(self.contract.functions.approve(_address(spender), amount))

    def transfer_from(self, owner: str, to: str, amount: int) -> TxReceipt:
        return self.send(self.contract.functions.transferFrom(_address(owner), _address(to), amount))

    def balance_of(self, holder: str) -> int:
        return int(self.contract.functions.balanceOf(_address(holder)).call())

    def total_supply(self) -> int:
        return int(self.contract.functions.totalSupply().call())


class AssetClient(_Sender):
    """The asset registry at `ASSET_REGISTRY`: lifecycle, compliance, cash flows. Which calls the account
    may make depends on its role for the asset (issuer, agent, compliance officer, investor)."""

    def __init__(self, w3: Web3, account: LocalAccount | None = None) -> None:
        super().__init__(w3, account)
        self.contract = w3.eth.contract(address=_address(ASSET_REGISTRY), abi=ASSET_REGISTRY_ABI)
        self.f = self.contract.functions

    def _event(self, receipt: TxReceipt, name: str) -> dict[str, Any]:
        # The receipt also holds other contracts' logs (a token's Transfer): skip them quietly.
        events = self.contract.events[name]().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise ValueError(f"no {name} event in transaction 0x{bytes(receipt['transactionHash']).hex()}")
        return dict(events[0]["args"])

    # --- lifecycle (issuer, unless said otherwise) -----------------------------------------------
    def register_asset(
        self, originator: str, asset_class: int, metadata_commitment: bytes, documents_commitment: bytes
    ) -> tuple[int, TxReceipt]:
        """The caller becomes the issuer; returns the new asset id and the receipt."""
        receipt = self.send(
            self.f.registerAsset(_address(originator), asset_class, metadata_commitment, documents_commitment)
        )
        return int(self._event(receipt, "AssetRegistered")["assetId"]), receipt

    def structure_asset(
        self, asset_id: int, tranche: int, maturity: int, target_yield_bps: int, supply_cap: int
    ) -> TxReceipt:
        return self.send(self.f.structureAsset(asset_id, tranche, maturity, target_yield_bps, supply_cap))

    def tokenize_asset(self, asset_id: int, name: str, symbol: str, decimals: int) -> tuple[str, TxReceipt]:
        """Needs an auditor's attestation of the asset; returns the token address and the receipt."""
        receipt = self.send(self.f.tokenizeAsset(asset_id, name, symbol, decimals))
        return _address(self._event(receipt, "TokenCreated")["token"]), receipt

    def approve_issuance(self, asset_id: int) -> TxReceipt:
        """A compliance officer's call."""
        return self.send(self.f.approveIssuance(asset_id))

    def open_issuance(
        self, asset_id: int, start: int, end: int, min_subscription: int, max_subscription: int, price: int
    ) -> TxReceipt:
        """Subscriptions in `[start, end)` (block time), per-investor limits, `price` wei per unit."""
        return self.send(self.f.openIssuance(asset_id, start, end, min_subscription, max_subscription, price))

    def subscribe(self, asset_id: int, amount: int) -> TxReceipt:
        """An investor's call: pays `amount * price` wei (the price is read from the chain)."""
        return self.send(self.f.subscribe(asset_id, amount), value=amount * self.issuance(asset_id).price)

    def start_trading(self, asset_id: int) -> TxReceipt:
        return self.send(self.f.startTrading(asset_id))

    def deposit_revenue(self, asset_id: int, amount_wei: int) -> tuple[int, TxReceipt]:
        """One period's revenue, owed pro rata to the balances now; returns the period number."""
        receipt = self.send(self.f.depositRevenue(asset_id), value=amount_wei)
        return int(self._event(receipt, "RevenueDeposited")["period"]), receipt

    def claim_revenue(self, asset_id: int, holder: str) -> tuple[int, TxReceipt]:
        """Anyone may submit it; pays the holder. Returns the wei paid."""
        receipt = self.send(self.f.claimRevenue(asset_id, _address(holder)))
        return int(self._event(receipt, "RevenueClaimed")["amount"]), receipt

    def redeem(self, asset_id: int, pool_wei: int) -> TxReceipt:
        """At or after maturity: fund the redemption pool; transfers stop."""
        return self.send(self.f.redeem(asset_id), value=pool_wei)

    def claim_redemption(self, asset_id: int, holder: str) -> tuple[int, TxReceipt]:
        """Anyone may submit it: burns the holder's units and pays its share. Returns the wei paid."""
        receipt = self.send(self.f.claimRedemption(asset_id, _address(holder)))
        return int(self._event(receipt, "Redeemed")["payout"]), receipt

    def close_asset(self, asset_id: int) -> TxReceipt:
        return self.send(self.f.closeAsset(asset_id))

    # --- rules and agent actions -----------------------------------------------------------------
    def set_asset_rules(
        self, asset_id: int, max_holders: int, max_balance: int, lockup_until: int
    ) -> TxReceipt:
        return self.send(self.f.setAssetRules(asset_id, max_holders, max_balance, lockup_until))

    def set_investor_requirements(
        self, asset_id: int, require_kyc: bool, min_investor_class: int, jurisdiction: int
    ) -> TxReceipt:
        return self.send(
            self.f.setInvestorRequirements(asset_id, require_kyc, min_investor_class, jurisdiction)
        )

    def set_agent(self, asset_id: int, agent: str, enabled: bool = True) -> TxReceipt:
        return self.send(self.f.setAgent(asset_id, _address(agent), enabled))

    def freeze(self, asset_id: int, holder: str, frozen: bool = True) -> TxReceipt:
        return self.send(self.f.freeze(asset_id, _address(holder), frozen))

    def freeze_partial(self, asset_id: int, holder: str, amount: int) -> TxReceipt:
        return self.send(self.f.freezePartialTokens(asset_id, _address(holder), amount))

    def unfreeze_partial(self, asset_id: int, holder: str, amount: int) -> TxReceipt:
        return self.send(self.f.unfreezePartialTokens(asset_id, _address(holder), amount))

    def pause(self, asset_id: int, paused: bool = True) -> TxReceipt:
        return self.send(self.f.pauseAsset(asset_id, paused))

    def forced_transfer(self, asset_id: int, src: str, dst: str, amount: int) -> TxReceipt:
        return self.send(self.f.forcedTransfer(asset_id, _address(src), _address(dst), amount))

    def recover(self, asset_id: int, lost_wallet: str, new_wallet: str) -> TxReceipt:
        return self.send(self.f.recoveryAddress(asset_id, _address(lost_wallet), _address(new_wallet)))

    # --- reads -----------------------------------------------------------------------------------
    def asset(self, asset_id: int) -> AssetInfo:
        v = self.f.asset(asset_id).call()
        return AssetInfo(
            stage=STAGES[v[0]],
            issuer=v[1],
            originator=v[2],
            asset_class=v[3],
            metadata_commitment=bytes(v[4]),
            documents_commitment=bytes(v[5]),
            tranche=v[6],
            maturity=v[7],
            target_yield_bps=v[8],
            supply_cap=v[9],
            token=v[10],
        )

    def issuance(self, asset_id: int) -> Issuance:
        return Issuance(*self.f.issuance(asset_id).call())

    def revenue_of(self, asset_id: int, holder: str) -> int:
        return int(self.f.revenueOf(asset_id, _address(holder)).call())

    def cash_flows(self, asset_id: int) -> dict[str, int]:
        periods, deposited, per_unit, pool = self.f.cashFlows(asset_id).call()
        return {
            "revenuePeriods": periods,
            "revenueDeposited": deposited,
            "revenuePerUnitX64": per_unit,
            "redemptionPool": pool,
        }

    def token(self, asset_id: int, account: LocalAccount | None = None) -> TokenClient:
        """The asset's token, for `account` (default: this client's)."""
        return TokenClient(self.w3, self.asset(asset_id).token, account or self.account)


# --- the regulator's queries ------------------------------------------------------------------------
class RegulatorError(RuntimeError):
    """The node refused a regulator request (JSON-RPC error `code`)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


def sign_regulator_request(
    private_key: bytes | str,
    chain_id: int,
    method: str,
    params: list[Any],
    timestamp: int | None = None,
    nonce: bytes | None = None,
) -> dict[str, str]:
    """The authorization object (first parameter) of one regulator request, signed with personal_sign."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = os.urandom(16) if nonce is None else nonce
    account = Account.from_key(private_key)
    message = request_message(chain_id, method, params, timestamp, nonce)
    signed = account.sign_message(encode_defunct(text=message))
    return {
        "regulator": account.address.lower(),
        "timestamp": hex(timestamp),
        "nonce": "0x" + nonce.hex(),
        "signature": "0x" + bytes(signed.signature).hex(),
    }


class RegulatorClient:
    """Signed queries of the node's regulator methods; the key must belong to a regulator on chain."""

    def __init__(self, w3: Web3, private_key: bytes | str) -> None:
        self.w3 = w3
        self.private_key = private_key
        self.chain_id = w3.eth.chain_id

    def request(self, method: str, *params: Any) -> Any:
        auth = sign_regulator_request(self.private_key, self.chain_id, method, list(params))
        answer = self.w3.provider.make_request(method, [auth, *params])  # type: ignore[arg-type]
        if "error" in answer:
            error = answer["error"]
            raise RegulatorError(int(error["code"]), str(error["message"]))
        return answer["result"]

    def asset_state(self, asset_id: int, block: str = "latest") -> dict[str, Any]:
        return self.request("jovay_assetState", hex(asset_id), block)  # type: ignore[no-any-return]

    def stage_history(self, asset_id: int) -> list[dict[str, Any]]:
        return self.request("jovay_assetStageHistory", hex(asset_id))  # type: ignore[no-any-return]

    def holders(self, asset_id: int, block: str = "latest") -> dict[str, Any]:
        return self.request("jovay_assetHolders", hex(asset_id), block)  # type: ignore[no-any-return]

    def attestations(self, asset_id: int) -> list[dict[str, Any]]:
        return self.request("jovay_assetAttestations", hex(asset_id))  # type: ignore[no-any-return]

    def compliance_events(self, asset_id: int) -> list[dict[str, Any]]:
        return self.request("jovay_complianceEvents", hex(asset_id))  # type: ignore[no-any-return]
