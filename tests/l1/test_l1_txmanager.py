"""L1TxManager on a real anvil: nonces, drops, fee bumps, timeouts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from web3 import Web3

from jovay.errors import TemporaryError
from jovay.l1.anvil import Anvil
from jovay.l1.txmanager import L1TxManager

pytestmark = pytest.mark.usefixtures("snapshot")
GWEI = 10**9


def _rpc(w3: Web3, method: str, *params: Any) -> Any:
    answer = w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
    assert "error" not in answer, answer
    return answer["result"]


def _wait_for(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _pending(w3: Web3) -> list[dict[str, Any]]:
    content = _rpc(w3, "txpool_content")["pending"]
    return [tx for by_nonce in content.values() for tx in by_nonce.values()]


@pytest.fixture()
def manual_mining(w3: Web3) -> Iterator[None]:
    _rpc(w3, "evm_setAutomine", False)
    try:
        yield
    finally:
        _rpc(w3, "evm_setAutomine", True)


@pytest.fixture()
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(4) as ex:
        yield ex


def _transfer(anvil: Anvil, **extra: Any) -> dict[str, Any]:
    return {"to": "0x000000000000000000000000000000000000dEaD", "value": 1, **extra}


def test_send_fills_and_tracks_nonces(w3: Web3, anvil: Anvil, pool: ThreadPoolExecutor) -> None:
    txm = L1TxManager(w3, anvil.dev_keys[3])
    start = w3.eth.get_transaction_count(txm.address)
    receipts = list(pool.map(lambda _: txm.send(_transfer(anvil)), range(8)))
    assert all(r["status"] == 1 for r in receipts)
    nonces = sorted(w3.eth.get_transaction(r["transactionHash"])["nonce"] for r in receipts)
    assert nonces == list(range(start, start + 8))
    tx = w3.eth.get_transaction(receipts[0]["transactionHash"])
    assert tx["type"] == 2 and tx["chainId"] == 31337
    assert tx["maxFeePerGas"] >= tx["maxPriorityFeePerGas"] > 0


@pytest.mark.usefixtures("manual_mining")
@pytest.mark.parametrize("drop_all", [False, True])
def test_resubmits_dropped_tx(w3: Web3, anvil: Anvil, pool: ThreadPoolExecutor, drop_all: bool) -> None:
    txm = L1TxManager(w3, anvil.dev_keys[4], bump_after_s=60, poll_interval_s=0.05)
    fut: Future[Any] = pool.submit(txm.send, _transfer(anvil))
    _wait_for(lambda: len(_pending(w3)) == 1)
    [sent] = _pending(w3)
    if drop_all:
        _rpc(w3, "anvil_dropAllTransactions")
    else:
        _rpc(w3, "anvil_dropTransaction", sent["hash"])
    _wait_for(lambda: len(_pending(w3)) == 1)  # only the manager can have put it back
    _rpc(w3, "evm_mine")
    receipt = fut.result(timeout=10)
    assert receipt["status"] == 1 and receipt["transactionHash"].to_0x_hex() == sent["hash"]


@pytest.mark.usefixtures("manual_mining")
def test_bumps_fees_while_not_mined(w3: Web3, anvil: Anvil, pool: ThreadPoolExecutor) -> None:
    txm = L1TxManager(w3, anvil.dev_keys[5], bump_after_s=0.3, max_bumps=2, poll_interval_s=0.05)
    fees = {"maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": 2 * GWEI}
    fut: Future[Any] = pool.submit(txm.send, _transfer(anvil, **fees))

    def twice_bumped() -> bool:
        txs = _pending(w3)
        return len(txs) == 1 and int(txs[0]["maxPriorityFeePerGas"], 16) >= 2 * GWEI * 1.125**2

    _wait_for(twice_bumped)  # replacements, not extra transactions: one pending tx
    _rpc(w3, "evm_mine")
    receipt = fut.result(timeout=10)
    mined = w3.eth.get_transaction(receipt["transactionHash"])
    assert mined["maxFeePerGas"] >= 10 * GWEI * 1.125**2
    assert mined["maxPriorityFeePerGas"] >= 2 * GWEI * 1.125**2
    assert receipt["status"] == 1 and w3.eth.get_transaction_count(txm.address) == mined["nonce"] + 1


@pytest.mark.usefixtures("manual_mining")
def test_times_out_into_temporary_error(w3: Web3, anvil: Anvil) -> None:
    txm = L1TxManager(w3, anvil.dev_keys[6], receipt_timeout_s=0.5, bump_after_s=0.2, max_bumps=1)
    with pytest.raises(TemporaryError, match="not mined"):
        txm.send(_transfer(anvil))
    _rpc(w3, "anvil_dropAllTransactions")


def test_waits_for_confirmations(w3: Web3, anvil: Anvil, pool: ThreadPoolExecutor) -> None:
    txm = L1TxManager(w3, anvil.dev_keys[7], confirmations=2, poll_interval_s=0.05)
    fut: Future[Any] = pool.submit(txm.send, _transfer(anvil))
    _wait_for(lambda: w3.eth.get_transaction_count(txm.address) == 1)
    mined_at = w3.eth.block_number
    _rpc(w3, "evm_mine")
    time.sleep(0.3)
    assert not fut.done()
    _rpc(w3, "evm_mine")
    assert fut.result(timeout=10)["blockNumber"] == mined_at
