"""One real devnet (anvil, contracts, sequencer node, batcher/proposer, challenger) for the end-to-end
tests, and a factory for tests that need their own (a faulty proposer, say)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jovay.devnet import Devnet, DevnetConfig
from jovay.l1.anvil import free_port

pytestmark = pytest.mark.e2e


def _print_logs(data_dir: Path) -> None:
    for name in ("node", "batcher", "challenger"):
        log = Path(data_dir / f"{name}.log")
        if log.exists():
            print(f"--- {name}.log (tail) ---\n" + "\n".join(log.read_text().splitlines()[-30:]))


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
        _print_logs(data_dir)


@pytest.fixture()
def devnet_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Devnet]]:
    """Starts a devnet of its own per call (e.g. `devnet_factory(faulty="wrong-root")`); stops them all."""
    started: list[Devnet] = []

    def start(**overrides: Any) -> Devnet:
        data_dir = tmp_path_factory.mktemp("devnet")
        options: dict[str, Any] = {"block_time_ms": 100, "batch_interval_s": 0.5, **overrides}
        net = Devnet(DevnetConfig(data_dir=data_dir, rpc_port=free_port(), l1_port=free_port(), **options))
        started.append(net)
        net.start()
        return net

    try:
        yield start
    finally:
        for net in started:
            net.stop()
            _print_logs(net.config.data_dir)


@pytest.fixture(scope="session")
def devnet(devnet_processes: Devnet) -> dict:
    """What devnet.json says: URLs, chain ids, contract addresses, dev keys."""
    return devnet_processes.info
