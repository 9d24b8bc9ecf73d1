"""Deploys the L1 contracts and hands out web3 contract objects for them.

Order: the Poseidon hashers, Bridge, Rollup (then `Bridge.setRollup`), OneStepProof (given the STF's
system-contract selector tables, so L1 knows which calls fail at dispatch), DisputeGame, then
`Rollup.setDisputeGame`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from jovay import params
from jovay.codec import abi
from jovay.errors import CriticalError
from jovay.l1.poseidon import PoseidonHashers, deploy_hashers
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager
from jovay.stf import system, token


@dataclass(frozen=True)
class FaultProofParams:
    """Bonds and clocks of the optimistic path (devnet values by default; production: days)."""

    proposal_bond_wei: int = 10**18
    challenge_bond_wei: int = 10**18
    challenge_window_s: int = 20
    clock_s: int = 60
    chain_id: int = params.DEFAULT_L2_CHAIN_ID
    block_gas_limit: int = params.BLOCK_GAS_LIMIT


@dataclass(frozen=True)
class L1Deployment:
    """Where the L1 contracts live; `deploy_block` (the Bridge's block) is where log scans start."""

    bridge_address: ChecksumAddress
    rollup_address: ChecksumAddress
    deploy_block: int
    bridge_abi: list[dict[str, Any]] = field(repr=False)
    rollup_abi: list[dict[str, Any]] = field(repr=False)
    dispute_game_address: ChecksumAddress | None = None
    dispute_game_abi: list[dict[str, Any]] = field(default_factory=list, repr=False)
    one_step_proof_address: ChecksumAddress | None = None
    one_step_proof_abi: list[dict[str, Any]] = field(default_factory=list, repr=False)
    hashers: PoseidonHashers | None = None

    def bridge(self, w3: Web3) -> Contract:
        return w3.eth.contract(address=self.bridge_address, abi=self.bridge_abi)

    def rollup(self, w3: Web3) -> Contract:
        return w3.eth.contract(address=self.rollup_address, abi=self.rollup_abi)

    def dispute_game(self, w3: Web3) -> Contract:
        if self.dispute_game_address is None:
            raise CriticalError("this deployment has no dispute game")
        return w3.eth.contract(address=self.dispute_game_address, abi=self.dispute_game_abi)

    def one_step_proof(self, w3: Web3) -> Contract:
        if self.one_step_proof_address is None:
            raise CriticalError("this deployment has no one-step proof contract")
        return w3.eth.contract(address=self.one_step_proof_address, abi=self.one_step_proof_abi)

    def to_json(self) -> dict[str, Any]:
        """Addresses and block only: ABIs come from the compiled artifacts again."""
        out: dict[str, Any] = {
            "bridge": self.bridge_address,
            "rollup": self.rollup_address,
            "deployBlock": self.deploy_block,
        }
        if self.dispute_game_address is not None:
            out["disputeGame"] = self.dispute_game_address
        if self.one_step_proof_address is not None:
            out["oneStepProof"] = self.one_step_proof_address
        if self.hashers is not None:
            out |= self.hashers.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], artifacts: dict[str, CompiledContract]) -> L1Deployment:
        def address(name: str) -> ChecksumAddress | None:
            return Web3.to_checksum_address(d[name]) if name in d else None

        return cls(
            Web3.to_checksum_address(d["bridge"]),
            Web3.to_checksum_address(d["rollup"]),
            int(d["deployBlock"]),
            artifacts["Bridge"].abi,
            artifacts["Rollup"].abi,
            address("disputeGame"),
            artifacts["DisputeGame"].abi,
            address("oneStepProof"),
            artifacts["OneStepProof"].abi,
            PoseidonHashers.from_json(d) if "poseidon2" in d else None,
        )


def _deploy_one(
    w3: Web3, txm: L1TxManager, artifact: CompiledContract, *args: Any
) -> tuple[ChecksumAddress, int]:
    factory = w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = factory.constructor(*args).data_in_transaction
    receipt = txm.send({"data": data})
    address = receipt.get("contractAddress")
    if not address:
        raise CriticalError(f"deploying {artifact.name} gave no contract address")
    return Web3.to_checksum_address(address), receipt["blockNumber"]


def deploy(
    w3: Web3,
    deployer_key: str | bytes,
    artifacts: dict[str, CompiledContract],
    *,
    batcher: str | None = None,
    genesis_state_root: bytes = bytes(32),
    txm: L1TxManager | None = None,
    fault: FaultProofParams | None = None,
    hashers: PoseidonHashers | None = None,
) -> L1Deployment:
    """Deploys the Poseidon hashers (unless given), Bridge(hashers), Rollup(batcher, genesisStateRoot,
    bridge, bond, window), OneStepProof and DisputeGame; then `Bridge.setRollup(rollup)` (the Rollup
    needs the Bridge's address first) and `Rollup.setDisputeGame(game)`.

    `batcher` defaults to the deployer's address; pass `txm` to share a tx manager (and its nonce)
    already used for `deployer_key`.
    """
    if len(genesis_state_root) != 32:
        raise ValueError("genesis state root must be 32 bytes")
    fault = fault or FaultProofParams()
    txm = txm or L1TxManager(w3, deployer_key)
    batcher_address = Web3.to_checksum_address(batcher or Account.from_key(deployer_key).address)
    hashers = hashers or deploy_hashers(w3, txm)
    bridge, block = _deploy_one(w3, txm, artifacts["Bridge"], *hashers.as_args())
    rollup, _ = _deploy_one(
        w3,
        txm,
        artifacts["Rollup"],
        batcher_address,
        genesis_state_root,
        bridge,
        fault.proposal_bond_wei,
        fault.challenge_window_s,
    )
    bridge_contract = w3.eth.contract(address=bridge, abi=artifacts["Bridge"].abi)
    txm.send({"to": bridge, "data": bridge_contract.encode_abi("setRollup", [rollup])})
    contracts, selectors, payable_selectors, token_selectors = system_selectors()
    if hashers.p5 is None:
        raise CriticalError("the one-step proof needs the 5-input Poseidon hasher (attestation keys)")
    attestation_steps, _ = _deploy_one(
        w3,
        txm,
        artifacts["OneStepProofAttestations"],
        list(hashers.as_args()),
        hashers.p5,
        fault.chain_id,
        Web3.to_checksum_address(params.ATTESTATION_REGISTRY),
        one_step_attestation_gas(),
    )
    asset_steps, _ = _deploy_one(
        w3,
        txm,
        artifacts["OneStepProofAssets"],
        list(hashers.as_args()),
        Web3.to_checksum_address(params.ASSET_REGISTRY),
        one_step_delegated_asset_gas(),
        attestation_steps,
    )
    osp, _ = _deploy_one(
        w3,
        txm,
        artifacts["OneStepProof"],
        list(hashers.as_args()),
        bridge,
        [fault.chain_id, fault.block_gas_limit],
        one_step_gas_schedule(),
        [
            Web3.to_checksum_address(address)
            for address in (
                params.FEE_VAULT,
                params.IDENTITY_REGISTRY,
                params.L2_BRIDGE,
                params.ASSET_REGISTRY,
            )
        ]
        + [asset_steps],
        contracts,
        selectors,
        payable_selectors,
        token_selectors,
        one_step_asset_gas(),
    )
    game, _ = _deploy_one(
        w3, txm, artifacts["DisputeGame"], rollup, osp, fault.challenge_bond_wei, fault.clock_s
    )
    rollup_contract = w3.eth.contract(address=rollup, abi=artifacts["Rollup"].abi)
    txm.send({"to": rollup, "data": rollup_contract.encode_abi("setDisputeGame", [game])})
    return L1Deployment(
        bridge,
        rollup,
        block,
        artifacts["Bridge"].abi,
        artifacts["Rollup"].abi,
        game,
        artifacts["DisputeGame"].abi,
        osp,
        artifacts["OneStepProof"].abi,
        hashers,
    )


def one_step_gas_schedule() -> list[int]:
    """The operation gas OneStepProof needs, from jovay/params.py (its constructor's `opGas`)."""
    setters = ("setAllowed", "setComplianceOfficer", "setClaims", "setRegulator")
    identity = {params.OP_GAS[f"identity.{op}"] for op in setters}
    if len(identity) != 1:
        raise CriticalError("OneStepProof assumes one gas figure for the identity registry's setters")
    tokens = [params.OP_GAS[f"token.{op}"] for op in ("transfer", "transferFrom", "approve", "mint")]
    return [
        *tokens,
        identity.pop(),
        params.OP_GAS["bridge.withdraw"],
        params.OP_GAS["identity.recoverIdentity"],
    ]


# The asset-registry functions OneStepProofAssets runs for OneStepProof (OneStepProof is near the code-size
# limit), in its constructor's gas order.
ONE_STEP_DELEGATED_ASSET_FUNCTIONS: Final = (
    "assets.depositRevenue",
    "assets.redeem",
    "assets.claimRevenue",
    "assets.claimRedemption",
    "assets.closeAsset",
    "assets.approveIssuance",
    "assets.startTrading",
    "assets.openIssuance",
    "assets.subscribe",
    "assets.registerAsset",
    "assets.structureAsset",
    "registry.createToken",
    "assets.tokenizeAsset",
)


def one_step_delegated_asset_gas() -> list[int]:
    """OneStepProofAssets' constructor `gas`: OP_GAS of the asset-registry functions it runs."""
    return [params.OP_GAS[op] for op in ONE_STEP_DELEGATED_ASSET_FUNCTIONS]


# The attestation registry's functions OneStepProofAttestations runs, in its constructor's gas order (its
# views cost DISPATCH_GAS).
ONE_STEP_ATTESTATION_FUNCTIONS: Final = (
    "attestations.registerAttestor",
    "attestations.revokeAttestor",
    "attestations.attest",
)


def one_step_attestation_gas() -> list[int]:
    """OneStepProofAttestations' constructor `gas`: OP_GAS of the attestation registry's functions."""
    return [params.OP_GAS[op] for op in ONE_STEP_ATTESTATION_FUNCTIONS]


# The asset-registry functions OneStepProof runs, by OP_GAS name; its views cost DISPATCH_GAS.
ONE_STEP_ASSET_FUNCTIONS: Final = {
    "setAssetRules(uint256,uint32,uint128,uint64)": "assets.setAssetRules",
    "setInvestorRequirements(uint256,bool,uint8,uint16)": "assets.setInvestorRequirements",
    "setAgent(uint256,address,bool)": "assets.setAgent",
    "freeze(uint256,address,bool)": "assets.freeze",
    "pauseAsset(uint256,bool)": "assets.pauseAsset",
    "freezePartialTokens(uint256,address,uint128)": "assets.freezePartialTokens",
    "unfreezePartialTokens(uint256,address,uint128)": "assets.unfreezePartialTokens",
    "forcedTransfer(uint256,address,address,uint128)": "assets.forcedTransfer",
    "recoveryAddress(uint256,address,address)": "assets.recoveryAddress",
}
ONE_STEP_ASSET_VIEWS: Final = (
    "asset(uint256)",
    "issuance(uint256)",
    "assetRules(uint256)",
    "investorRequirements(uint256)",
    "assetCount()",
    "assetOfToken(address)",
    "subscribed(uint256,address)",
    "isFrozen(uint256,address)",
    "isAgent(uint256,address)",
    "frozenTokens(uint256,address)",
    "revenueOf(uint256,address)",
    "cashFlows(uint256)",
    "tokenCount()",
    "tokenAt(uint256)",
)


def one_step_asset_gas() -> list[tuple[bytes, int]]:
    """OneStepProof's `assetOperations`: the covered asset-registry functions with their gas, the views
    with DISPATCH_GAS (each checked against the STF's dispatch table)."""
    gas = {sig: params.OP_GAS[op] for sig, op in ONE_STEP_ASSET_FUNCTIONS.items()}
    gas |= {sig: params.DISPATCH_GAS for sig in ONE_STEP_ASSET_VIEWS}
    (registry,) = [c for c in system.fixed_system_contracts() if c.address == params.ASSET_REGISTRY]
    selectors = [abi.selector(sig) for sig in gas]
    if not set(selectors) <= registry.functions:
        raise CriticalError("OneStepProof's asset-registry functions are not all in the STF's dispatch table")
    return list(zip(selectors, gas.values(), strict=True))


def system_selectors() -> tuple[list[ChecksumAddress], list[list[bytes]], list[list[bytes]], list[bytes]]:
    """The STF's dispatch tables as OneStepProof's constructor takes them: each fixed system contract
    with its selectors that take no ETH and its payable ones, and the selectors of every token (so L1
    knows which calls fail at dispatch and which receive the call's ETH)."""
    fixed = system.fixed_system_contracts()
    addresses = [Web3.to_checksum_address(contract.address) for contract in fixed]
    selectors = [sorted(contract.functions) for contract in fixed]
    payable = [sorted(contract.payable) for contract in fixed]
    return addresses, selectors, payable, sorted(token.FUNCTIONS)
