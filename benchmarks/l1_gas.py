"""L1 gas of the rollup's proof machinery, measured on a local anvil.

Sections (each a function of a shared `GasBench`, registered in `SECTIONS`; add a section for new
contracts, e.g. dispute moves and one-step proofs, and it is printed and written with the rest):
- `poseidon`: one circomlib Poseidon hash by input count (2 to 5) through `contracts/Poseidon.sol`,
  the hasher cold (first touch in the transaction, +2,500 for the account access) and warm; the same
  for circomlibjs's contracts (`circomlibjs_inputsN`), which the generated 2- and 3-input ones replace;
- `smt`: `SparseMerkle.verify` (membership) and `SparseMerkle.update` (value change) of a key whose
  leaf sits at depth 10, 20 and 30 (library gas, by gasleft() deltas in tests/l1/contracts's harness);
- `withdrawal`: a whole `Bridge.finalizeWithdrawal` transaction (gasUsed: intrinsic, calldata, proof,
  claim flag, ETH transfer) for a withdrawal leaf at depth 10, 20 and 30, against a finalized root from
  the test-only MockRollupOutputs (a mapping read, like the rollup's).

A random state of n leaves puts a key at depth about log2(n) + 1: 10 is ~1,000 leaves, 20 ~1M, 30 ~1G.
Writes benchmarks/results/l1_gas.json.

    .venv/bin/python benchmarks/l1_gas.py
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web3 import Web3  # noqa: E402
from web3.contract import Contract  # noqa: E402

from jovay.l1.anvil import Anvil  # noqa: E402
from jovay.l1.poseidon import PoseidonHashers, circomlibjs_artifacts, deploy_hashers  # noqa: E402
from jovay.l1.solc import CompiledContract, compile_contracts  # noqa: E402
from jovay.l1.txmanager import L1TxManager  # noqa: E402
from jovay.sdk.withdrawals import Withdrawal, WithdrawalProof, submit_withdrawal  # noqa: E402
from jovay.state.keys import withdrawal_key, withdrawal_value  # noqa: E402
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree  # noqa: E402
from jovay.state.smt_proofs import l1_proof  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
TEST_CONTRACTS = REPO / "tests" / "l1" / "contracts"
DEPTHS = (10, 20, 30)
ETH = 10**18


@dataclass
class GasBench:
    """A fresh anvil with the hashers deployed; sections deploy what else they need."""

    w3: Web3
    anvil: Anvil
    txm: L1TxManager
    artifacts: dict[str, CompiledContract]
    hashers: PoseidonHashers

    def deploy(self, name: str, *args: Any) -> Contract:
        art = self.artifacts[name]
        data = self.w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor(*args).data_in_transaction
        receipt = self.txm.send({"data": data})
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)

    def send(self, contract: Contract, fn: str, *args: Any, value: int = 0) -> Any:
        data = contract.encode_abi(fn, list(args))
        return self.txm.send({"to": contract.address, "data": data, "value": value})


def tree_with_leaf_at_depth(key: int, value: int, depth: int) -> SparseMerkleTree:
    """key's leaf at exactly `depth`: for each level i < depth one neighbour key differing at bit i."""
    tree = SparseMerkleTree(MemoryNodeStore())
    tree.update_many({key: value} | {key ^ (1 << i): i + 1 for i in range(depth)})
    return tree


def poseidon_gas(bench: GasBench) -> dict[str, Any]:
    """The deployed hashers, and circomlibjs's contracts for comparison (what the generator replaces)."""
    reference = [
        bench.txm.send({"data": a.bytecode})["contractAddress"] for a in circomlibjs_artifacts().values()
    ]
    out: dict[str, Any] = {}
    for label, addresses in (("", (*bench.hashers.as_args(), bench.hashers.p5)), ("circomlibjs_", reference)):
        harness = bench.deploy("SparseMerkleHarness", *addresses)
        for n in (2, 3, 4, 5):
            cold, warm = harness.functions.hashGas(n).call()
            out[f"{label}inputs{n}"] = {"cold": cold, "warm": warm}
    return out


def smt_gas(bench: GasBench) -> dict[str, Any]:
    harness = bench.deploy("SparseMerkleHarness", *bench.hashers.as_args(), bench.hashers.p5)
    key = 0x1234567890ABCDEF << 180 | 0x5A5A5A5A5A
    out: dict[str, Any] = {}
    for depth in DEPTHS:
        tree = tree_with_leaf_at_depth(key, 77, depth)
        proof = l1_proof(tree._store, tree.root, key)  # noqa: SLF001 - our own tree
        assert len(proof.siblings) == depth
        ok, verify = harness.functions.verifyGas(tree.root, key, 77, proof.as_abi()).call()
        new_root, update = harness.functions.updateGas(tree.root, key, 77, 78, proof.as_abi()).call()
        if not ok or new_root != tree.set(key, 78):
            raise RuntimeError(f"SparseMerkle disagrees with the Python tree at depth {depth}")
        out[f"depth{depth}"] = {"verify": verify, "update": update}
    return out


def withdrawal_gas(bench: GasBench) -> dict[str, Any]:
    bridge = bench.deploy("Bridge", *bench.hashers.as_args())
    outputs = bench.deploy("MockRollupOutputs")
    bench.send(bridge, "setRollup", outputs.address)
    bench.send(bridge, "depositETH", bench.txm.address, value=10 * ETH)
    out: dict[str, Any] = {}
    for batch, depth in enumerate(DEPTHS):
        w = Withdrawal(batch, b"\x11" * 20, bytes([0x20 + batch]) * 20, ETH)
        key = withdrawal_key(w.index)
        tree = tree_with_leaf_at_depth(key, withdrawal_value(w.l2_sender, w.l1_recipient, w.amount), depth)
        bench.send(outputs, "finalize", batch, tree.root.to_bytes(32, "big"))
        proof = l1_proof(tree._store, tree.root, key)  # noqa: SLF001 - our own tree
        receipt = submit_withdrawal(bench.txm, bridge.address, WithdrawalProof(w, batch, bytes(32), proof))
        out[f"depth{depth}"] = {"finalizeWithdrawal": receipt["gasUsed"]}
    return out


SECTIONS: dict[str, Callable[[GasBench], dict[str, Any]]] = {
    "poseidon": poseidon_gas,
    "smt": smt_gas,
    "withdrawal": withdrawal_gas,
}


def _print(section: str, figures: dict[str, Any]) -> None:
    for name, value in figures.items():
        shown = ", ".join(f"{k} {v:,}" for k, v in value.items()) if isinstance(value, dict) else f"{value:,}"
        print(f"{section:>12} {name:<24} {shown}")


def main() -> int:
    artifacts = compile_contracts(extra_dirs=[TEST_CONTRACTS])
    results: dict[str, Any] = {}
    with Anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.url))
        txm = L1TxManager(w3, anvil.dev_keys[0])
        bench = GasBench(w3, anvil, txm, artifacts, deploy_hashers(w3, txm))
        for section, measure in SECTIONS.items():
            results[section] = measure(bench)
            _print(section, results[section])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "l1_gas.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS / 'l1_gas.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
