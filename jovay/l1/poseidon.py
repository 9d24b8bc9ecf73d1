"""circomlib's Poseidon on L1: one hasher contract per input count, generated, cached and deployed.

The state commitment is Poseidon over BN254 with circomlib's parameters (docs/architecture.md, "State
commitment"). The tree hashes 2 inputs (inner nodes) and 3 (leaves); state keys take 2 to 4. Two
generators, same ABI (`poseidon(uint256[n])`), so `contracts/Poseidon.sol` calls either:
- 2 and 3 inputs: `jovay.l1.poseidon_evm`, the optimized round schedule of jovay.crypto.poseidon as
  straight-line EVM code: 14.5k and 19.6k gas, against 29k and 45k for circomlibjs's contracts;
- 4 and 5 inputs: circomlibjs's own generator (`poseidonContract.createCode(n)`, through node),
  because the optimized form does not fit the 24,576-byte code limit at those widths, and such hashes
  (allowance and attestation keys) are rare next to tree hashes.
circomlibjs's contracts for 2 and 3 inputs are generated too: the tests hold both implementations equal.
The output is cached like the compiled contracts (`jovay.l1.solc.cache_root()`).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from jovay.errors import CriticalError
from jovay.l1 import poseidon_evm
from jovay.l1.solc import REPO_ROOT, CompiledContract, cache_root
from jovay.l1.txmanager import L1TxManager

NODE_SCRIPT = Path(__file__).with_name("poseidon_gencontract.cjs")
CIRCOMLIBJS_PACKAGE_JSON = REPO_ROOT / "node_modules" / "circomlibjs" / "package.json"
HASHER_INPUTS: tuple[int, ...] = (2, 3, 4, 5)  # 5: attestation keys P(18|19, attestor, hi, lo, seq)
GENERATE_TIMEOUT_S = 120


def hasher_name(n_inputs: int) -> str:
    """`Poseidon2`, `Poseidon3`, `Poseidon4`: named by input count."""
    return f"Poseidon{n_inputs}"


def _cache_key() -> str:
    try:
        version = json.loads(CIRCOMLIBJS_PACKAGE_JSON.read_text())["version"]
    except (OSError, ValueError, KeyError) as e:
        raise CriticalError(f"circomlibjs not installed ({CIRCOMLIBJS_PACKAGE_JSON}): run `npm ci`") from e
    material = {
        "circomlibjs": version,
        "script": NODE_SCRIPT.read_text(),
        "generator": Path(poseidon_evm.__file__).read_text(),
        "inputs": HASHER_INPUTS,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


def _generate() -> dict[str, Any]:
    """{"circomlibjs": {n: {bytecode, abi}}, "generated": {n: {bytecode}}} for every input count."""
    return {
        "circomlibjs": _generate_circomlibjs(),
        "generated": {
            str(n): {"bytecode": "0x" + poseidon_evm.init_code(n).hex()}
            for n in poseidon_evm.GENERATED_INPUTS
        },
    }


def _generate_circomlibjs() -> dict[str, Any]:
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


def _cached(out_dir: Path | None) -> dict[str, Any]:
    path = (out_dir or cache_root()) / f"poseidon-{_cache_key()}.json"
    try:
        cached: dict[str, Any] = json.loads(path.read_text())
        return cached
    except (OSError, ValueError):
        pass
    generated = _generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(generated))
    tmp.replace(path)  # atomic: readers never see half a file
    return generated


def circomlibjs_artifacts(out_dir: Path | None = None) -> dict[int, CompiledContract]:
    """circomlibjs's hasher contracts by input count (the reference implementation)."""
    generated = _cached(out_dir)["circomlibjs"]
    return {
        n: CompiledContract(hasher_name(n), generated[str(n)]["abi"], generated[str(n)]["bytecode"], "0x")
        for n in HASHER_INPUTS
    }


def poseidon_artifacts(out_dir: Path | None = None) -> dict[int, CompiledContract]:
    """The hashers deployed by default, by input count: generated where it fits, else circomlibjs's
    (see the module docstring); `out_dir` replaces the cache root."""
    cached = _cached(out_dir)
    artifacts = circomlibjs_artifacts(out_dir)
    for n, entry in cached["generated"].items():
        reference = artifacts[int(n)]
        artifacts[int(n)] = CompiledContract(reference.name, reference.abi, entry["bytecode"], "0x")
    return artifacts


@dataclass(frozen=True)
class PoseidonHashers:
    """Addresses of the deployed hashers. `as_args()` is what `Poseidon.Hashers` holds in Solidity
    (2 to 4 inputs); the 5-input one goes to `Poseidon.hash5` on its own (None in deployments made
    before it existed)."""

    p2: ChecksumAddress
    p3: ChecksumAddress
    p4: ChecksumAddress
    p5: ChecksumAddress | None = None

    def as_args(self) -> tuple[ChecksumAddress, ChecksumAddress, ChecksumAddress]:
        return self.p2, self.p3, self.p4

    def to_json(self) -> dict[str, str]:
        out: dict[str, str] = {"poseidon2": self.p2, "poseidon3": self.p3, "poseidon4": self.p4}
        if self.p5 is not None:
            out["poseidon5"] = self.p5
        return out

    @classmethod
    def from_json(cls, d: dict[str, str]) -> PoseidonHashers:
        p2, p3, p4 = (Web3.to_checksum_address(d[f"poseidon{n}"]) for n in (2, 3, 4))
        p5 = Web3.to_checksum_address(d["poseidon5"]) if "poseidon5" in d else None
        return cls(p2, p3, p4, p5)


def deploy_hashers(
    w3: Web3, txm: L1TxManager, artifacts: dict[int, CompiledContract] | None = None
) -> PoseidonHashers:
    """Deploys one hasher per input count (init code as generated; no constructor arguments)."""
    artifacts = artifacts or poseidon_artifacts()
    addresses: dict[int, ChecksumAddress] = {}
    for n in HASHER_INPUTS:
        receipt = txm.send({"data": artifacts[n].bytecode})
        address = receipt.get("contractAddress")
        if not address or not w3.eth.get_code(address):
            raise CriticalError(f"deploying {hasher_name(n)} gave no contract")
        addresses[n] = Web3.to_checksum_address(address)
    return PoseidonHashers(addresses[2], addresses[3], addresses[4], addresses[5])
