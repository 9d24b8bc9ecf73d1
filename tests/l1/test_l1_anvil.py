"""The Anvil process wrapper."""

from __future__ import annotations

import socket
import time

from eth_account import Account

from jovay.l1.anvil import Anvil, free_port, rpc


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_answers_with_dev_accounts_and_stops_on_exit() -> None:
    with Anvil() as node:
        assert int(str(rpc(node.url, "eth_chainId")), 16) == 31337
        accounts = rpc(node.url, "eth_accounts")
        assert isinstance(accounts, list)
        assert [Account.from_key(k).address.lower() for k in node.dev_keys] == accounts[:10]
        proc, port = node.process, node.port
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None
    assert not _port_open(port)


def test_fixed_port_and_block_time() -> None:
    port = free_port()
    with Anvil(port, block_time=0.2) as node:
        assert node.url == f"http://127.0.0.1:{port}"
        time.sleep(0.7)
        assert int(str(rpc(node.url, "eth_blockNumber")), 16) >= 2
