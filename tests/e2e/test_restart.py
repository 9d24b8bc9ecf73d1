"""A sequencer node killed with SIGKILL comes back at the same head and root, and carries on.

Runs last among the end-to-end modules (file order) because it restarts the shared devnet's node.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from jovay.devnet import Devnet
from jovay.memory import MALLOC_ARENAS
from tests.e2e.l2 import send

pytestmark = pytest.mark.e2e


def test_devnet_services_run_with_capped_malloc_arenas(devnet_processes: Devnet) -> None:
    """Each spawned service (node, batcher, proposer...) has MALLOC_ARENA_MAX in its environment."""
    for name, process in devnet_processes.processes.items():
        environ = Path(f"/proc/{process.pid}/environ").read_bytes().split(b"\0")
        expected = os.environ.get("MALLOC_ARENA_MAX", str(MALLOC_ARENAS)).encode()
        assert b"MALLOC_ARENA_MAX=" + expected in environ, name


def test_node_survives_kill_9(devnet_processes: Devnet, devnet: dict) -> None:
    w3 = Web3(Web3.HTTPProvider(devnet["rpcUrl"]))
    sender = devnet["devAccounts"][9]
    send(w3, sender["privateKey"], {"to": Account.create().address, "value": 1})
    before = w3.eth.get_block("latest")
    balances = {
        a["address"]: w3.eth.get_balance(a["address"], before["number"]) for a in devnet["devAccounts"]
    }

    devnet_processes.restart("node", hard=True)

    assert w3.eth.block_number >= before["number"]
    again = w3.eth.get_block(before["number"])
    assert (again["hash"], again["stateRoot"]) == (before["hash"], before["stateRoot"])
    for address, balance in balances.items():  # no deposit applied twice after the L1 rescan
        assert w3.eth.get_balance(address, before["number"]) == balance
    receipt = send(w3, sender["privateKey"], {"to": Account.create().address, "value": 2})
    assert receipt["status"] == 1 and receipt["blockNumber"] > before["number"]
    deadline = time.monotonic() + 5
    while w3.eth.block_number <= receipt["blockNumber"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert w3.eth.block_number > receipt["blockNumber"]  # and keeps sealing
