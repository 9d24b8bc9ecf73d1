"""L1 gas of the rollup's proof machinery, measured on a local anvil.

Sections (each a function of a shared `GasBench`, registered in `SECTIONS`; add a section for new
contracts, e.g. dispute moves and one-step proofs, and it is printed and written with the rest):
- `poseidon`: one circomlib Poseidon hash by input count (2 to 5) through `contracts/Poseidon.sol`,
  the hasher cold (first touch in the transaction, +2,500 for the account access) and warm; the same
  for circomlibjs's contracts (`circomlibjs_inputsN`), which the generated 2- and 3-input ones replace;
- `smt`: `SparseMerkle.verify` (membership) and `SparseMerkle.update` (value change) of a key whose
  leaf sits at depth 10, 20 and 30 (library gas, by gasleft() deltas in tests/l1/contracts's harness);
- `dispute`: one game played to the end on a committed batch of 10 items (2 deposits, 8 transfers): the
  gas of `commitBatch`, `proposeOutput`, `createGame`, each `claimMidpoint` / `chooseHalf` (mean), the
  final `step`, `finalizeOutput`, and a `timeout`; the number of moves it took;
- `one_step`: `OneStepProof.execute` (a whole transaction: intrinsic, calldata with the witness, the
  item proof, the Poseidon SMT proofs, the rules) per operation type, including rejections;
- `moves`: L1 transactions of a game played to the end for batches of 10, 1,000 and 100,000 items:
  create + 2 per halving (ceil(log2 n) halvings) + the step;
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

from jovay.codec.abi import encode_values  # noqa: E402
from jovay.codec.abi import selector as _asset_selector  # noqa: E402
from jovay.codec.batch import (  # noqa: E402  # noqa: E402
    ITEM_DEPOSIT,
    ITEM_TRANSACTION,
    BatchItem,
    deposit_payload,
    item_leaf,
    items_commitment,
)
from jovay.codec.transactions import AccessListTx, DynamicFeeTx, LegacyTx, sign_transaction  # noqa: E402
from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.l1.anvil import Anvil  # noqa: E402
from jovay.l1.contracts import FaultProofParams, deploy  # noqa: E402
from jovay.l1.poseidon import PoseidonHashers, circomlibjs_artifacts, deploy_hashers  # noqa: E402
from jovay.l1.solc import CompiledContract, compile_contracts  # noqa: E402
from jovay.l1.txmanager import L1TxManager  # noqa: E402
from jovay.params import (  # noqa: E402
    ASSET_REGISTRY,
    ATTESTATION_REGISTRY,
    BLOCK_GAS_LIMIT,
    DEFAULT_L2_CHAIN_ID,
    IDENTITY_REGISTRY,
    L2_BRIDGE,
    TOKEN_ADDRESS_PREFIX,
)
from jovay.sdk.attestations import attest_calldata, sign_commitment  # noqa: E402
from jovay.sdk.withdrawals import Withdrawal, WithdrawalProof, submit_withdrawal  # noqa: E402
from jovay.state.keys import (  # noqa: E402
    account_key,
    allowlist_key,
    pack_account,
    system_field_key,
    token_balance_key,
    withdrawal_key,
    withdrawal_value,
)
from jovay.state.smt import MemoryNodeStore, SparseMerkleTree  # noqa: E402
from jovay.state.smt_proofs import l1_proof  # noqa: E402
from jovay.stf import attestations  # noqa: E402
from jovay.stf.assets import (  # noqa: E402
    F_ISSUER,
    F_REQUIREMENTS,
    F_REVENUE_PER_UNIT,
    F_RULES,
    F_STATUS,
    F_TOKEN,
    asset_field_key,
    holder_count_key,
    token_asset_key,
)
from jovay.stf.identity import claims_key  # noqa: E402
from prover.fault.execution import ItemRules, item_roots, step_witness  # noqa: E402
from prover.fault.game import moves_for, read_game  # noqa: E402

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


CHAIN_ID = DEFAULT_L2_CHAIN_ID
RULES = ItemRules(CHAIN_ID, BLOCK_GAS_LIMIT)
USER_KEY = bytes([7]) * 32
USER = address_of(USER_KEY)
FRIEND = b"\x11" * 20
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
BASE_FEE = 10**7


def _l2_state() -> tuple[MemoryNodeStore, int]:
    """A user with ETH and tokens, an allowlisted friend, one token: what the benchmarked items touch."""
    store = MemoryNodeStore()
    root = SparseMerkleTree(store).update_many(
        {
            account_key(USER): pack_account(0, 10**20),
            system_field_key(1): 1,
            token_balance_key(TOKEN, USER): 10**9,
            allowlist_key(FRIEND): 1,
        }
        | {account_key(bytes([0x30 + i]) * 20): pack_account(0, 1) for i in range(40)}  # some depth
    )
    return store, root


def _transfer(
    nonce: int, kind: str = "1559", to: bytes = FRIEND, data: bytes = b"", gas: int = 21_000
) -> bytes:
    if kind == "legacy":
        return sign_transaction(LegacyTx(nonce, 10**9, gas, to, 10**15, data, CHAIN_ID), USER_KEY)
    if kind == "2930":
        access = ((b"\x22" * 20, (b"\x33" * 32,)),)
        return sign_transaction(
            AccessListTx(CHAIN_ID, nonce, 10**9, gas + 4_300, to, 10**15, data, access), USER_KEY
        )
    value = 0 if data else 10**15
    return sign_transaction(DynamicFeeTx(CHAIN_ID, nonce, 10**6, 10**9, gas, to, value, data), USER_KEY)


WITHDRAW = bytes.fromhex("51cff8d9")  # withdraw(address)
CREATE_TOKEN = _asset_selector("createToken(string,string,uint8)") + encode_values(
    ["string", "string", "uint8"], ["Charging Pile Revenue", "PILE", 6]
)


def _tx_item(raw: bytes) -> BatchItem:
    return BatchItem(ITEM_TRANSACTION, 1, 1_700_000_000, BASE_FEE, raw)


def _deploy_rollup(bench: GasBench, genesis_root: int) -> Any:
    params = FaultProofParams(10**18, 10**18, 100, 100, CHAIN_ID)
    return deploy(
        bench.w3,
        bench.anvil.dev_keys[0],
        bench.artifacts,
        genesis_state_root=genesis_root.to_bytes(32, "big"),
        txm=bench.txm,
        fault=params,
        hashers=bench.hashers,
    )


def _advance(w3: Web3, seconds: int) -> None:
    w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def dispute_gas(bench: GasBench) -> dict[str, Any]:
    store, root = _l2_state()
    dep = _deploy_rollup(bench, root)
    rollup, game, bridge = dep.rollup(bench.w3), dep.dispute_game(bench.w3), dep.bridge(bench.w3)
    deposits = []
    for i in range(2):
        to = Web3.to_checksum_address(bytes([0x40 + i]) * 20)
        bench.send(bridge, "depositETH", to, value=ETH)
        deposits.append(deposit_payload(i, bytes.fromhex(bench.txm.address[2:]), bytes([0x40 + i]) * 20, ETH))
    items = [BatchItem(ITEM_DEPOSIT, 1, 1_700_000_000, BASE_FEE, d) for d in deposits]
    items += [_tx_item(_transfer(n)) for n in range(8)]
    roots = item_roots(store, root, items, RULES.apply)
    wrong = [*roots[:6], *[r ^ 1 for r in roots[6:]]]  # item 5 executed wrongly by the proposer
    out: dict[str, Any] = {}
    commit = bench.send(
        rollup, "commitBatch", 0, b"\x01", items_commitment(items), len(items), bytes(32), bytes(32), 1, 2
    )
    out["commitBatch"] = commit["gasUsed"]
    out["proposeOutput"] = bench.send(rollup, "proposeOutput", 0, wrong[-1].to_bytes(32, "big"), value=ETH)[
        "gasUsed"
    ]
    out["createGame"] = bench.send(game, "createGame", 0, value=ETH)["gasUsed"]
    claims, choices, moves = [], [], 1
    while (g := read_game(game, 0)).hi - g.lo > 1:
        claims.append(bench.send(game, "claimMidpoint", 0, wrong[g.mid].to_bytes(32, "big"))["gasUsed"])
        choices.append(bench.send(game, "chooseHalf", 0, wrong[g.mid] == roots[g.mid])["gasUsed"])
        moves += 2
    witness = step_witness(store, roots[g.lo], items, g.lo, RULES.apply)
    out["step"] = bench.send(game, "step", 0, witness.encode())["gasUsed"]
    out["claimMidpoint_mean"] = sum(claims) // len(claims)
    out["chooseHalf_mean"] = sum(choices) // len(choices)
    out["moves_for_10_items"] = moves + 1
    bench.send(rollup, "proposeOutput", 0, roots[-1].to_bytes(32, "big"), value=ETH)
    bench.send(game, "createGame", 0, value=ETH)
    _advance(bench.w3, 101)
    out["timeout"] = bench.send(game, "timeout", 1)["gasUsed"]
    bench.send(rollup, "proposeOutput", 0, roots[-1].to_bytes(32, "big"), value=ETH)
    _advance(bench.w3, 101)
    out["finalizeOutput"] = bench.send(rollup, "finalizeOutput", 0)["gasUsed"]
    return out


def one_step_gas(bench: GasBench) -> dict[str, Any]:
    store, root = _l2_state()
    dep = _deploy_rollup(bench, root)
    osp, bridge = dep.one_step_proof(bench.w3), dep.bridge(bench.w3)
    bench.send(bridge, "depositETH", Web3.to_checksum_address(FRIEND), value=ETH)
    token_data = bytes.fromhex("a9059cbb") + FRIEND.rjust(32, b"\x00") + (5).to_bytes(32, "big")
    stranger_data = bytes.fromhex("a9059cbb") + (b"\x22" * 20).rjust(32, b"\x00") + (5).to_bytes(32, "big")
    cases = {
        "eth_transfer_1559": _tx_item(_transfer(0)),
        "eth_transfer_legacy": _tx_item(_transfer(0, "legacy")),
        "eth_transfer_2930": _tx_item(_transfer(0, "2930")),
        "deposit": BatchItem(
            ITEM_DEPOSIT,
            1,
            1,
            BASE_FEE,
            deposit_payload(0, bytes.fromhex(bench.txm.address[2:]), FRIEND, ETH),
        ),
        "token_transfer": _tx_item(_transfer(0, to=TOKEN, data=token_data, gas=60_000)),
        "token_transfer_reverted": _tx_item(_transfer(0, to=TOKEN, data=stranger_data, gas=60_000)),
        "token_approve": _tx_item(
            _transfer(0, to=TOKEN, data=bytes.fromhex("095ea7b3") + token_data[4:], gas=60_000)
        ),
        "token_mint_refused": _tx_item(
            _transfer(0, to=TOKEN, data=bytes.fromhex("40c10f19") + token_data[4:], gas=60_000)
        ),
        "identity_setAllowed_refused": _tx_item(
            _transfer(0, to=IDENTITY_REGISTRY, data=bytes.fromhex("4697f05d") + token_data[4:], gas=60_000)
        ),
        "bridge_withdraw": _tx_item(
            sign_transaction(
                DynamicFeeTx(
                    CHAIN_ID, 0, 10**6, 10**9, 100_000, L2_BRIDGE, ETH // 10, WITHDRAW + token_data[4:36]
                ),
                USER_KEY,
            )
        ),
        "asset_createToken": _tx_item(_transfer(0, to=ASSET_REGISTRY, data=CREATE_TOKEN, gas=200_000)),
        "system_call_dispatch_failure": _tx_item(
            _transfer(0, to=TOKEN, data=b"\x01\x02\x03\x04", gas=60_000)
        ),
        "rejected_wrong_nonce": _tx_item(_transfer(3)),
        "rejected_bad_signature": _tx_item(_transfer(0)[:-1] + b"\x01"),
        "rejected_undecodable": _tx_item(b"\x02\xc0"),
    }
    asset_root = SparseMerkleTree(store, root).update_many(_asset_leaves())
    forced = _asset_selector("forcedTransfer(uint256,address,address,uint128)") + b"".join(
        word.rjust(32, b"\x00") for word in (b"\x01", USER, FRIEND, b"\x05")
    )
    asset_cases = {
        "lifecycle_token_transfer": _tx_item(_transfer(0, to=TOKEN, data=token_data, gas=60_000)),
        "asset_forcedTransfer": _tx_item(_transfer(0, to=ASSET_REGISTRY, data=forced, gas=100_000)),
    }
    attest_root = SparseMerkleTree(store, root).update_many(_attestor_leaves())
    attest_cases = {
        "attestation_attest": _tx_item(
            _transfer(0, to=ATTESTATION_REGISTRY, data=_attest_data(), gas=200_000)
        )
    }
    out: dict[str, Any] = {}
    for pre, named in ((root, cases), (asset_root, asset_cases), (attest_root, attest_cases)):
        for name, item in named.items():
            witness = step_witness(store, pre, [item], 0, RULES.apply)
            call = osp.functions.execute(pre.to_bytes(32, "big"), item_leaf(item), 1, 0, witness.encode())
            if int.from_bytes(call.call(), "big") != witness.post_root:
                raise RuntimeError(f"one-step proof disagrees with the Python STF on {name}")
            out[name] = {"gas": call.estimate_gas(), "leaves": len(witness.leaves)}
    return out


def _asset_leaves() -> dict[int, int]:
    """TOKEN as the token of asset 1 (USER its issuer), Trading, with every rule the hook checks set:
    a holder limit, a KYC requirement FRIEND meets, and revenue to settle on both sides."""
    return {
        asset_field_key(0, 0): 1,
        asset_field_key(1, F_ISSUER): int.from_bytes(USER, "big"),
        asset_field_key(1, F_TOKEN): int.from_bytes(TOKEN, "big"),
        asset_field_key(1, F_STATUS): 4,
        asset_field_key(1, F_RULES): 10,
        asset_field_key(1, F_REQUIREMENTS): 1,
        asset_field_key(1, F_REVENUE_PER_UNIT): 1 << 64,
        token_asset_key(TOKEN): 1,
        holder_count_key(TOKEN): 1,
        claims_key(FRIEND): 2**40 << 24,
    }


DEVICE_KEY = b"\x51" * 32
DEVICE_ASSET = 7


def _attestor_leaves() -> dict[int, int]:
    """A device registered for DEVICE_ASSET with three attestations recorded (USER relays the fourth)."""
    device = address_of(DEVICE_KEY)
    return {
        attestations.attestor_key(device, attestations.ATTESTOR_STATUS): attestations.KIND_DEVICE | 1 << 8,
        attestations.attestor_key(device, attestations.ATTESTOR_ASSET_LO): DEVICE_ASSET,
        attestations.last_sequence_key(device, DEVICE_ASSET): 3,
    }


def _attest_data() -> bytes:
    """The device's attestation 4, signed (EIP-712) a minute before the block."""
    signed = sign_commitment(DEVICE_KEY, DEVICE_ASSET, 4, b"\x42" * 32, 1_700_000_000 - 60, CHAIN_ID)
    return attest_calldata(signed)


def moves_figures(bench: GasBench) -> dict[str, Any]:
    return {
        f"items_{n}": {"halvings": (n - 1).bit_length(), "moves": moves_for(n)} for n in (10, 1_000, 100_000)
    }


SECTIONS: dict[str, Callable[[GasBench], dict[str, Any]]] = {
    "poseidon": poseidon_gas,
    "smt": smt_gas,
    "withdrawal": withdrawal_gas,
    "dispute": dispute_gas,
    "one_step": one_step_gas,
    "moves": moves_figures,
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
