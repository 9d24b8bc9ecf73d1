"""Deploys the L1 contracts (Poseidon hashers, Bridge, Rollup; then wires the Rollup into the Bridge)
and hands out web3 contract objects for them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from jovay.errors import CriticalError
from jovay.l1.poseidon import PoseidonHashers, deploy_hashers
from jovay.l1.solc import CompiledContract
from jovay.l1.txmanager import L1TxManager


@dataclass(frozen=True)
class L1Deployment:
    """Where the L1 contracts live; `deploy_block` (the Bridge's block) is where log scans start."""

    bridge_address: ChecksumAddress
    rollup_address: ChecksumAddress
    deploy_block: int
    bridge_abi: list[dict[str, Any]] = field(repr=False)
    rollup_abi: list[dict[str, Any]] = field(repr=False)
    hashers: PoseidonHashers | None = None

    def bridge(self, w3: Web3) -> Contract:
        return w3.eth.contract(address=self.bridge_address, abi=self.bridge_abi)

    def rollup(self, w3: Web3) -> Contract:
        return w3.eth.contract(address=self.rollup_address, abi=self.rollup_abi)

    def to_json(self) -> dict[str, Any]:
        """Addresses and block only: ABIs come from the compiled artifacts again."""
        out: dict[str, Any] = {
            "bridge": self.bridge_address,
            "rollup": self.rollup_address,
            "deployBlock": self.deploy_block,
        }
        if self.hashers is not None:
            out |= self.hashers.to_json()
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], artifacts: dict[str, CompiledContract]) -> L1Deployment:
        return cls(
            Web3.to_checksum_address(d["bridge"]),
            Web3.to_checksum_address(d["rollup"]),
            int(d["deployBlock"]),
            artifacts["Bridge"].abi,
            artifacts["Rollup"].abi,
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
    hashers: PoseidonHashers | None = None,
) -> L1Deployment:
    """Deploys the Poseidon hashers (unless given), Bridge(hashers), Rollup(batcher, genesisStateRoot,
    bridge), then `Bridge.setRollup(rollup)` (the Rollup needs the Bridge's address first).

    `batcher` defaults to the deployer's address; pass `txm` to share a tx manager (and its nonce)
    already used for `deployer_key`.
    """
    if len(genesis_state_root) != 32:
        raise ValueError("genesis state root must be 32 bytes")
    txm = txm or L1TxManager(w3, deployer_key)
    batcher_address = Web3.to_checksum_address(batcher or Account.from_key(deployer_key).address)
    hashers = hashers or deploy_hashers(w3, txm)
    bridge, block = _deploy_one(w3, txm, artifacts["Bridge"], *hashers.as_args())
    rollup, _ = _deploy_one(w3, txm, artifacts["Rollup"], batcher_address, genesis_state_root, bridge)
    bridge_contract = w3.eth.contract(address=bridge, abi=artifacts["Bridge"].abi)
    txm.send({"to": bridge, "data": bridge_contract.encode_abi("setRollup", [rollup])})
    return L1Deployment(bridge, rollup, block, artifacts["Bridge"].abi, artifacts["Rollup"].abi, hashers)
