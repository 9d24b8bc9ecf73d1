"""One real devnet (anvil, contracts, sequencer node, batcher) for the end-to-end tests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jovay.devnet import Devnet, DevnetConfig
from jovay.l1.anvil import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def devnet_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    data_dir = tmp_path_factory.mktemp("devnet")
    config = DevnetConfig(
        data_dir=data_dir, rpc_port=free_port(), l1_port=free_port(), block_time_ms=100, batch_interval_s=0.5
    )
    net = Devnet(config)
    try:
        info = net.start()
        assert json.loads((data_dir / "devnet.json").read_text()) == info
        yield net
    finally:
        net.stop()
        for name in ("node", "batcher"):
            log = Path(data_dir / f"{name}.log")
            if log.exists():
                print(f"--- {name}.log (tail) ---\n" + "\n".join(log.read_text().splitlines()[-30:]))


@pytest.fixture(scope="session")
def devnet(devnet_processes: Devnet) -> dict:
    """What devnet.json says: URLs, chain ids, contract addresses, dev keys."""
    return devnet_processes.info
