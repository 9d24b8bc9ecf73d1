"""In-process sequencer throughput: signed ETH transfers and signed RWA token transfers.

Each run pre-signs one transaction per funded account (outside the timing), then times what the node
does with them: admission (decode, sender recovery, checks, pool) and block production (execution,
Poseidon state root, receipts, LMDB write), block after block until the pool is empty. Prints TPS for
admission, for sealing, and end to end; writes benchmarks/results/sequencer_tps.json.

    .venv/bin/python benchmarks/sequencer_tps.py [--accounts 2000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_abi import encode  # noqa: E402
from eth_utils import keccak  # noqa: E402

from jovay.codec.transactions import DynamicFeeTx, sign_transaction  # noqa: E402
from jovay.crypto.secp256k1 import address_of  # noqa: E402
from jovay.params import ASSET_REGISTRY, IDENTITY_REGISTRY, MIN_BASE_FEE, TOKEN_ADDRESS_PREFIX  # noqa: E402
from jovay.sequencer.mempool import MempoolLimits  # noqa: E402
from jovay.sequencer.sequencer import Sequencer, SequencerConfig  # noqa: E402
from jovay.stf.genesis import Genesis  # noqa: E402
from jovay.storage.chain import Chain  # noqa: E402

CHAIN_ID = 202611
MAX_FEE = 10 * MIN_BASE_FEE
TOKEN = TOKEN_ADDRESS_PREFIX + (1).to_bytes(14, "big")
RESULTS = Path(__file__).resolve().parent / "results"


@dataclass
class Run:
    workload: str
    txs: int
    blocks: int
    admit_s: float
    seal_s: float

    @property
    def tps(self) -> float:
        return self.txs / (self.admit_s + self.seal_s)


def selector_call(signature: str, types: list[str], args: list[object]) -> bytes:
    return keccak(text=signature)[:4] + encode(types, args)


def sign(key: bytes, nonce: int, to: bytes, data: bytes = b"", value: int = 0, gas: int = 21_000) -> bytes:
    tx = DynamicFeeTx(
        chain_id=CHAIN_ID,
        nonce=nonce,
        max_priority_fee_per_gas=1,
        max_fee_per_gas=MAX_FEE,
        gas_limit=gas,
        to=to,
        value=value,
        data=data,
    )
    return sign_transaction(tx, key)


def new_sequencer(data_dir: Path, keys: list[bytes]) -> Sequencer:
    admin = address_of(keys[0])
    alloc = {address_of(k): 10**21 for k in keys}
    chain = Chain(data_dir, Genesis(identity_admin=admin, timestamp=int(time.time()) - 1, alloc=alloc))
    limits = MempoolLimits(max_total=len(keys) * 2 + 10)
    return Sequencer(chain, SequencerConfig(max_txs_per_block=5_000, mempool=limits))


def drain(seq: Sequencer) -> int:
    blocks = 0
    while len(seq.mempool):
        seq.produce_block()
        blocks += 1
    return blocks


def setup_token(seq: Sequencer, keys: list[bytes]) -> None:
    """Create a token, allowlist every account and give each some units (not timed)."""
    admin = keys[0]
    create = selector_call(
        "createToken(string,string,uint8)", ["string", "string", "uint8"], ["Bench", "BNC", 0]
    )
    seq.submit(sign(admin, 0, ASSET_REGISTRY, create, gas=300_000))
    drain(seq)  # the token address accepts calls once its creation is sealed
    nonce = 1
    for key in keys:
        allow = selector_call("setAllowed(address,bool)", ["address", "bool"], [address_of(key), True])
        seq.submit(sign(admin, nonce, IDENTITY_REGISTRY, allow, gas=100_000))
        mint = selector_call("mint(address,uint256)", ["address", "uint256"], [address_of(key), 10**6])
        seq.submit(sign(admin, nonce + 1, TOKEN, mint, gas=100_000))
        nonce += 2
        if nonce % 200 < 2:  # stay inside the pool's per-sender nonce gap
            drain(seq)
    drain(seq)


def workload(seq: Sequencer, keys: list[bytes], kind: str) -> list[bytes]:
    chain = seq.chain
    from jovay.state.overlay import StateOverlay
    from jovay.stf.accounts import get_account

    state = StateOverlay(chain.store.leaf)
    raws = []
    for i, key in enumerate(keys):
        nonce = get_account(state, address_of(key))[0]
        to = address_of(keys[(i + 1) % len(keys)])
        if kind == "eth":
            raws.append(sign(key, nonce, to, value=1))
        else:
            data = selector_call("transfer(address,uint256)", ["address", "uint256"], [to, 1])
            raws.append(sign(key, nonce, TOKEN, data, gas=80_000))
    return raws


def measure(seq: Sequencer, raws: list[bytes], kind: str) -> Run:
    start = time.perf_counter()
    for raw in raws:
        seq.submit(raw)
    admitted = time.perf_counter()
    blocks = drain(seq)
    sealed = time.perf_counter()
    return Run(kind, len(raws), blocks, admitted - start, sealed - admitted)


def plot(summary: dict[str, dict[str, float]], path: Path) -> None:
    """Bars of median admission, sealing and end-to-end TPS per workload."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = [
        ("median_admit_tps", "admission"),
        ("median_seal_tps", "sealing + root"),
        ("median_tps", "end to end"),
    ]
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.25
    for offset, (key, label) in enumerate(stages):
        values = [summary[kind][key] for kind in ("eth", "token")]
        ax.bar([i + offset * width for i in range(2)], values, width, label=label)
    ax.set_xticks([i + width for i in range(2)], ["signed ETH transfers", "signed token transfers"])
    ax.set_ylabel("transactions per second (median)")
    ax.set_yscale("log")
    ax.set_title("Jovay in-process sequencer (pure Python)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    keys = [(i + 1).to_bytes(32, "big") for i in range(args.accounts)]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory() as tmp:
        seq = new_sequencer(Path(tmp), keys)
        setup_token(seq, keys)
        for _ in range(args.repeats):
            for kind in ("eth", "token"):
                run = measure(seq, workload(seq, keys, kind), kind)
                runs.append(run)
                print(
                    f"{kind:5s} {run.txs} txs in {run.blocks} blocks: "
                    f"admit {run.txs / run.admit_s:8.0f} tx/s, "
                    f"seal {run.txs / run.seal_s:8.0f} tx/s, end to end {run.tps:8.0f} tx/s",
                    flush=True,
                )
        seq.chain.close()
    summary = {}
    for kind in ("eth", "token"):
        mine = [r for r in runs if r.workload == kind]
        summary[kind] = {
            "median_tps": statistics.median(r.tps for r in mine),
            "median_admit_tps": statistics.median(r.txs / r.admit_s for r in mine),
            "median_seal_tps": statistics.median(r.txs / r.seal_s for r in mine),
            "txs_per_run": mine[0].txs,
        }
        print(f"median {kind}: {summary[kind]['median_tps']:.0f} tx/s end to end (state root included)")
    RESULTS.mkdir(exist_ok=True)
    plot(summary, RESULTS / "sequencer_tps.png")
    (RESULTS / "sequencer_tps.json").write_text(
        json.dumps(
            {
                "accounts": args.accounts,
                "runs": [r.__dict__ | {"tps": r.tps} for r in runs],
                "summary": summary,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
