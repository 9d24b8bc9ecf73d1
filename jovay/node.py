"""Node roles wired together: the sequencer node, the replica node and the batcher.

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
from web3 import Web3

from jovay.l1.batcher import Batcher, BatcherConfig, L2Client
from jovay.l1.contracts import L1Deployment
from jovay.l1.derivation import Deriver
from jovay.l1.solc import compile_contracts
from jovay.l1.txmanager import L1TxManager
from jovay.l1.watcher import L1Watcher
from jovay.rpc.api import connect_events, rpc_methods
from jovay.rpc.events import EventHub
from jovay.rpc.server import create_app
from jovay.sequencer.sequencer import Sequencer, SequencerConfig
from jovay.stf.genesis import Genesis
from jovay.storage.chain import Chain

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


def load_deployment(path: Path) -> L1Deployment:
    return L1Deployment.from_json(json.loads(path.read_text()), compile_contracts())


def run_node(config: NodeConfig) -> None:
    """Serve JSON-RPC over a chain that is either sequenced here or derived from L1."""
    chain = Chain(config.data_dir, Genesis.load(config.genesis_path))
    w3 = Web3(Web3.HTTPProvider(config.l1_rpc, request_kwargs={"timeout": 30}))
    deployment = load_deployment(config.l1_contracts_path)
    watcher = L1Watcher(w3, deployment)
    hub = EventHub()
    sequencer: Sequencer | None = None
    deriver: Deriver | None = None
    if config.replica:
        deriver = Deriver(chain, watcher, w3, deployment)
    else:
        sequencer_config = SequencerConfig(block_time_s=config.block_time_ms / 1000)
        sequencer = Sequencer(chain, sequencer_config, deposits=watcher.deposits)
    connect_events(chain, sequencer, hub)
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


def run_batcher(config: BatcherRoleConfig) -> None:
    w3 = Web3(Web3.HTTPProvider(config.l1_rpc, request_kwargs={"timeout": 30}))
    deployment = load_deployment(config.l1_contracts_path)
    txm = L1TxManager(w3, config.private_key)
    batcher = Batcher(
        w3, deployment, txm, L2Client(config.l2_rpc), BatcherConfig(interval_s=config.interval_s)
    )
    stop_on_signals(batcher.stop)
    batcher.run()


def stop_on_signals(stop: Callable[[], None]) -> None:
    """Make SIGTERM and SIGINT call `stop` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop())
