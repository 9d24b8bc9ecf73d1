"""Compiles `contracts/*.sol` with the repository's solcjs and caches the artifacts.

There is no native solc: a small node script (`solc_compile.cjs`) runs solcjs on standard JSON. A
cold compile takes seconds, so artifacts (abi + bytecode JSON per contract) are cached outside the
repository under a key of the sources, the settings and the solc version, and reused while unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jovay.errors import CriticalError

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACTS_DIR = REPO_ROOT / "contracts"
NODE_SCRIPT = Path(__file__).with_name("solc_compile.cjs")
SOLC_PACKAGE_JSON = REPO_ROOT / "node_modules" / "solc" / "package.json"
SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}
COMPILE_TIMEOUT_S = 300


@dataclass(frozen=True)
class CompiledContract:
    """One contract's ABI and bytecode (hex strings with 0x; "0x" for interfaces)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "deployedBytecode": self.deployed_bytecode,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> CompiledContract:
        return cls(d["name"], d["abi"], d["bytecode"], d["deployedBytecode"])


def cache_root() -> Path:
    """`$JOVAY_CACHE_DIR/contracts`, default `~/.cache/jovay/contracts`: outside the repository."""
    base = os.environ.get("JOVAY_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "jovay") / "contracts"


def solc_version() -> str:
    """The solcjs package version: part of the cache key, read without starting node."""
    try:
        return str(json.loads(SOLC_PACKAGE_JSON.read_text())["version"])
    except (OSError, ValueError, KeyError) as e:
        raise CriticalError(f"solcjs not installed ({SOLC_PACKAGE_JSON}): run `npm ci`") from e


def _read_sources(sources_dir: Path, extra_dirs: Sequence[Path] = ()) -> dict[str, str]:
    """`*.sol` of sources_dir, then of each extra dir (test-only contracts), keyed by file name: a
    test contract imports a production one as `./Name.sol`."""
    sources = {p.name: p.read_text() for p in sorted(sources_dir.glob("*.sol"))}
    if not sources:
        raise CriticalError(f"no Solidity sources in {sources_dir}")
    for extra in extra_dirs:
        for p in sorted(extra.glob("*.sol")):
            if p.name in sources:
                raise CriticalError(f"Solidity source {p.name} defined twice (again in {extra})")
            sources[p.name] = p.read_text()
    return sources


def _cache_key(sources: dict[str, str]) -> str:
    """sha256 over the sources, settings, driver script and solc version."""
    h = hashlib.sha256()
    material = {
        "sources": sources,
        "settings": SETTINGS,
        "solc": solc_version(),
        "script": NODE_SCRIPT.read_text(),
    }
    h.update(json.dumps(material, sort_keys=True).encode())
    return h.hexdigest()


def _run_solc(sources: dict[str, str]) -> dict[str, Any]:
    """Runs solcjs via node on standard JSON; raises CriticalError with solc's messages on errors."""
    std_input = {
        "language": "Solidity",
        "sources": {name: {"content": text} for name, text in sources.items()},
        "settings": SETTINGS,
    }
    try:
        proc = subprocess.run(
            ["node", str(NODE_SCRIPT)],
            input=json.dumps(std_input).encode(),
            capture_output=True,
            timeout=COMPILE_TIMEOUT_S,
            cwd=REPO_ROOT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CriticalError(f"cannot run solcjs through node: {e}") from e
    if proc.returncode != 0:
        raise CriticalError(f"solcjs failed (exit {proc.returncode}): {proc.stderr.decode(errors='replace')}")
    output: dict[str, Any] = json.loads(proc.stdout)["output"]
    messages = output.get("errors", [])
    errors = [m["formattedMessage"] for m in messages if m.get("severity") == "error"]
    if errors:
        raise CriticalError("Solidity compilation failed:\n" + "\n".join(errors))
    for m in messages:
        log.warning("solc: %s", m.get("formattedMessage", m.get("message")))
    return output


def _extract(output: dict[str, Any]) -> dict[str, CompiledContract]:
    contracts: dict[str, CompiledContract] = {}
    for file_name, by_name in output.get("contracts", {}).items():
        for name, c in by_name.items():
            if name in contracts:
                raise CriticalError(f"contract name {name} defined twice (again in {file_name})")
            contracts[name] = CompiledContract(
                name=name,
                abi=c["abi"],
                bytecode="0x" + c["evm"]["bytecode"]["object"],
                deployed_bytecode="0x" + c["evm"]["deployedBytecode"]["object"],
            )
    return contracts


def _load(artifact_dir: Path) -> dict[str, CompiledContract]:
    return {
        p.stem: CompiledContract.from_json(json.loads(p.read_text())) for p in artifact_dir.glob("*.json")
    }


def _store(artifact_dir: Path, contracts: dict[str, CompiledContract]) -> None:
    """Writes into a temporary sibling, then renames: readers never see half a cache entry."""
    artifact_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=artifact_dir.parent))
    try:
        for name, c in contracts.items():
            (tmp / f"{name}.json").write_text(json.dumps(c.to_json(), indent=1))
        try:
            tmp.rename(artifact_dir)
        except OSError:
            if not artifact_dir.is_dir():  # a concurrent compile won the race: fine
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def artifact_dir_for(sources_dir: Path = CONTRACTS_DIR, out_dir: Path | None = None) -> Path:
    """Where artifacts of the current sources live (or would): `<root>/<cache key>/`."""
    return (out_dir or cache_root()) / _cache_key(_read_sources(sources_dir))


def compile_contracts(
    out_dir: Path | None = None, *, sources_dir: Path = CONTRACTS_DIR, extra_dirs: Sequence[Path] = ()
) -> dict[str, CompiledContract]:
    """Compiled contracts by name, from the cache when the sources are unchanged.

    `out_dir` replaces the cache root (`$JOVAY_CACHE_DIR/contracts`, default
    `~/.cache/jovay/contracts`); artifacts go to `<root>/<sha256 key>/<Name>.json`. `extra_dirs` adds
    test-only contracts (e.g. tests/l1/contracts) compiled together with the production ones.
    """
    sources = _read_sources(sources_dir, extra_dirs)
    artifact_dir = (out_dir or cache_root()) / _cache_key(sources)
    if artifact_dir.is_dir():
        cached = _load(artifact_dir)
        if cached:
            return cached
    contracts = _extract(_run_solc(sources))
    _store(artifact_dir, contracts)
    return contracts


def main(argv: list[str] | None = None) -> int:
    """`python -m jovay.l1.solc [OUT_DIR]`: compile (or reuse the cache) and print the artifact dir."""
    args = sys.argv[1:] if argv is None else argv
    out_dir = Path(args[0]) if args else None
    try:
        contracts = compile_contracts(out_dir)
    except CriticalError as e:
        print(e, file=sys.stderr)
        return 1
    print(artifact_dir_for(out_dir=out_dir))
    for name in sorted(contracts):
        print(f"  {name}.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
