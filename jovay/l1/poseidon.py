"""circomlib's Poseidon on L1: circomlibjs's hand-written EVM hashers, generated, cached and deployed.

The state commitment is Poseidon over BN254 with circomlib's parameters (docs/architecture.md, "State
commitment"), so L1 uses circomlibjs's own generator (`poseidonContract.createCode(n)`): the reference
implementation's constants by construction, no transcription. One hasher contract per input count
(2 and 3 for tree nodes, 2 to 4 for state keys); Solidity reaches them through `contracts/Poseidon.sol`.
The generated init code is cached like the compiled contracts (`jovay.l1.solc.cache_root()`).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from jovay.errors import CriticalError
from jovay.l1.solc import REPO_ROOT, CompiledContract, cache_root
from jovay.l1.txmanager import L1TxManager

NODE_SCRIPT = Path(__file__).with_name("poseidon_gencontract.cjs")
CIRCOMLIBJS_PACKAGE_JSON = REPO_ROOT / "node_modules" / "circomlibjs" / "package.json"
HASHER_INPUTS: tuple[int, ...] = (2, 3, 4)
GENERATE_TIMEOUT_S = 120


def hasher_name(n_inputs: int) -> str:
    """`Poseidon2`, `Poseidon3`, `Poseidon4`: named by input count."""
    return f"Poseidon{n_inputs}"


def _cache_key() -> str:
    try:
        version = json.loads(CIRCOMLIBJS_PACKAGE_JSON.read_text())["version"]
    except (OSError, ValueError, KeyError) as e:
        raise CriticalError(f"circomlibjs not installed ({CIRCOMLIBJS_PACKAGE_JSON}): run `npm ci`") from e
    material = {"circomlibjs": version, "script": NODE_SCRIPT.read_text(), "inputs": HASHER_INPUTS}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _generate() -> dict[str, Any]:
    try:
        proc = subprocess.run(
            ["node", str(NODE_SCRIPT), *map(str, HASHER_INPUTS)],
            capture_output=True,
            timeout=GENERATE_TIMEOUT_S,
            cwd=REPO_ROOT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CriticalError(f"cannot run circomlibjs through node: {e}") from e
    if proc.returncode != 0:
        raise CriticalError(f"circomlibjs poseidon generator failed: {proc.stderr.decode(errors='replace')}")
    generated: dict[str, Any] = json.loads(proc.stdout)
    return generated


def poseidon_artifacts(out_dir: Path | None = None) -> dict[int, CompiledContract]:
    """The hasher contracts by input count, from the cache (`<root>/poseidon-<key>.json`) when present."""
    path = (out_dir or cache_root()) / f"poseidon-{_cache_key()}.json"
    try:
        generated = json.loads(path.read_text())
    except (OSError, ValueError):
        generated = _generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{id(generated)}.tmp")
        tmp.write_text(json.dumps(generated))
        tmp.replace(path)  # atomic: readers never see half a file
    return {
        n: CompiledContract(hasher_name(n), generated[str(n)]["abi"], generated[str(n)]["bytecode"], "0x")
        for n in HASHER_INPUTS
    }


@dataclass(frozen=True)
class PoseidonHashers:
    """Addresses of the deployed hashers (what `Poseidon.Hashers` holds in Solidity)."""

    p2: ChecksumAddress
    p3: ChecksumAddress
    p4: ChecksumAddress

    def as_args(self) -> tuple[ChecksumAddress, ChecksumAddress, ChecksumAddress]:
        return self.p2, self.p3, self.p4

    def to_json(self) -> dict[str, str]:
        return {"poseidon2": self.p2, "poseidon3": self.p3, "poseidon4": self.p4}

    @classmethod
    def from_json(cls, d: dict[str, str]) -> PoseidonHashers:
        return cls(*(Web3.to_checksum_address(d[f"poseidon{n}"]) for n in HASHER_INPUTS))


def deploy_hashers(
    w3: Web3, txm: L1TxManager, artifacts: dict[int, CompiledContract] | None = None
) -> PoseidonHashers:
    """Deploys one hasher per input count (init code as generated; no constructor arguments)."""
    artifacts = artifacts or poseidon_artifacts()
    addresses: list[ChecksumAddress] = []
    for n in HASHER_INPUTS:
        receipt = txm.send({"data": artifacts[n].bytecode})
        address = receipt.get("contractAddress")
        if not address or not w3.eth.get_code(address):
            raise CriticalError(f"deploying {hasher_name(n)} gave no contract")
        addresses.append(Web3.to_checksum_address(address))
    return PoseidonHashers(*addresses)
