"""Node roles wired together: the sequencer node, the replica node, the batcher (which also proposes
outputs) and the challenger.

Each role is one process; `jovay devnet` starts them side by side. A role runs until SIGINT/SIGTERM
and then stops its threads and closes its store, so a restart resumes at the same head.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from eth_account import Account
from web3 import Web3

from jovay.errors import JovayError
from jovay.l1.batcher import Batcher, BatcherConfig, BatchTamper, L2Client
from jovay.l1.connection import connect_l1
from jovay.l1.contracts import L1Deployment
from jovay.l1.derivation import Deriver
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from jovay.l1.watcher import L1Watcher
from jovay.memory import HeapTrim, prepare_process_memory
from jovay.rpc.api import connect_events, rpc_methods
from jovay.rpc.events import EventHub
from jovay.rpc.server import create_app
from jovay.sequencer.gc_policy import apply_gc_policy
from jovay.sequencer.sequencer import Sequencer, SequencerConfig
from jovay.stf.genesis import Genesis
from jovay.storage.chain import DEFAULT_MAX_HISTORY_NODES, DEFAULT_RETENTION_BLOCKS, Chain, StateRetention
from jovay.vitals import SealVitals
from prover.fault.challenger import Challenger
from prover.fault.execution import ItemRules
from prover.fault.faulty import DEVNET_L1_CHAIN_ID, FaultyMode
from prover.fault.proposer import Proposer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    genesis_path: Path
    l1_rpc: str
    l1_contracts_path: Path
    rpc_host: str = "127.0.0.1"
    rpc_port: int = 8545
    replica: bool = False
    block_time_ms: int = 250
    state_retention: int | None = DEFAULT_RETENTION_BLOCKS  # None: archive (every state kept)
    state_history_nodes: int = DEFAULT_MAX_HISTORY_NODES


def load_deployment(path: Path) -> L1Deployment:
    return L1Deployment.from_json(json.loads(path.read_text()), compile_contracts())


def run_node(config: NodeConfig) -> None:
    """Serve JSON-RPC over a chain that is either sequenced here or derived from L1."""
    prepare_process_memory()  # malloc arenas capped before any thread starts
    apply_gc_policy()  # before any work: full collections would otherwise cost ~30 us CPU per tx
    w3 = connect_l1(config.l1_rpc)
    deployment = load_deployment(config.l1_contracts_path)
    watcher = L1Watcher(w3, deployment)
    # Withdrawals are proven against finalized batches: their states outlive the recent window.
    retention = StateRetention(
        config.state_retention, config.state_history_nodes, keep_from=watcher.finalized_block
    )
    chain = Chain(config.data_dir, Genesis.load(config.genesis_path), retention)
    hub = EventHub()
    sequencer: Sequencer | None = None
    deriver: Deriver | None = None
    if config.replica:
        deriver = Deriver(chain, watcher, w3, deployment)
    else:
        sequencer_config = SequencerConfig(block_time_s=config.block_time_ms / 1000)
        sequencer = Sequencer(chain, sequencer_config, deposits=watcher.deposits)
    connect_events(chain, sequencer, hub)
    chain.listeners.append(HeapTrim())  # free heap pages back to the OS every 30 s
    if sequencer is not None:
        chain.listeners.append(SealVitals())  # a log line every 30 s: cadence, CPU per tx, memory
    app = create_app(rpc_methods(chain, sequencer, watcher, hub), hub)
    for part in (watcher, sequencer, deriver):
        if part is not None:
            part.start()
    role = "replica" if config.replica else "sequencer"
    log.info("%s at block %d, root 0x%s", role, chain.head.number, chain.head.state_root.hex())
    try:
        uvicorn.run(app, host=config.rpc_host, port=config.rpc_port, log_level="warning")
    finally:
        for part in (sequencer, deriver, watcher):
            if part is not None:
                part.stop()
        chain.close()


@dataclass(frozen=True)
class BatcherRoleConfig:
    l1_rpc: str
    l1_contracts_path: Path
    l2_rpc: str
    private_key: str
    interval_s: float = 2.0
    genesis_path: Path | None = None  # given: also propose outputs (and defend them)
    faulty: str | None = None
    devnet: bool = False


def check_faulty_allowed(w3: Web3, devnet: bool) -> None:
    """Faulty modes exist for tests: only on the devnet's L1 and with the explicit devnet flag."""
    chain_id = int(w3.eth.chain_id)
    if not devnet or chain_id != DEVNET_L1_CHAIN_ID:
        raise JovayError(
            f"--faulty is for tests on the devnet only: needs --devnet and L1 chain id {DEVNET_L1_CHAIN_ID} "
            f"(have {chain_id})"
        )


def run_batcher(config: BatcherRoleConfig) -> None:
    """Commit batches; with a genesis file, also propose each batch's output and defend it."""
    prepare_process_memory()  # malloc arenas capped before any thread starts
    apply_gc_policy()  # the proposer's replay holds every unfinalized batch's items and tree nodes
    w3 = connect_l1(config.l1_rpc)
    deployment = load_deployment(config.l1_contracts_path)
    txm = L1TxManager(w3, config.private_key)
    l2 = L2Client(config.l2_rpc)
    fault: FaultyMode | None = None
    proposer: Proposer | None = None
    tamper: BatchTamper | None = None
    if config.faulty is not None:
        check_faulty_allowed(w3, config.devnet)
    if config.genesis_path is not None:
        genesis = Genesis.load(config.genesis_path)
        if config.faulty is not None:
            fault = FaultyMode(config.faulty, ItemRules(genesis.chain_id, genesis.gas_limit))
            key = bytes.fromhex(config.private_key.removeprefix("0x"))
            tamper = fault.tamper(key, genesis.chain_id, _funded(l2, Account.from_key(key).address))
            log.warning("faulty mode %s: this proposer posts wrong outputs (devnet test)", config.faulty)
        proposer = Proposer(w3, deployment, txm, L1Watcher(w3, deployment), genesis, fault)
        proposer.start()
    batcher = Batcher(w3, deployment, txm, l2, BatcherConfig(interval_s=config.interval_s), tamper)

    def stop() -> None:
        batcher.stop()
        if proposer is not None:
            proposer.stop()

    stop_on_signals(stop)
    batcher.run()


def _funded(l2: L2Client, address: str) -> Callable[[], bool]:
    def funded() -> bool:
        return int(str(l2.call("eth_getBalance", [address, "latest"])), 16) >= 10**19

    return funded


@dataclass(frozen=True)
class ChallengerRoleConfig:
    l1_rpc: str
    l1_contracts_path: Path
    genesis_path: Path
    private_key: str
    interval_s: float = 0.5


def run_challenger(config: ChallengerRoleConfig) -> None:
    """Watch outputs, dispute wrong ones and play the games to the end (prover/fault/challenger.py)."""
    prepare_process_memory()  # malloc arenas capped before any thread starts
    apply_gc_policy()  # as the proposer: full collections would walk the replay's items and tree nodes
    w3 = connect_l1(config.l1_rpc)
    deployment = load_deployment(config.l1_contracts_path)
    txm = L1TxManager(w3, config.private_key)
    challenger = Challenger(
        w3, deployment, txm, L1Watcher(w3, deployment), Genesis.load(config.genesis_path), config.interval_s
    )
    stop_on_signals(challenger.stop)
    challenger.run()


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Make SIGTERM and SIGINT call `stop` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop())
