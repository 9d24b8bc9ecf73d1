"""Load generation shared by the JSON-RPC benchmarks (`rpc_vs_anvil.py`, `receipt_latency.py`).

The same code drives the Jovay node and anvil so that the two sides differ only in the server:
deterministic load keys funded by plain transfers from dev keys, pre-signed EIP-1559 transfers, a
separate load process (spawned, so it shares no interpreter or GIL with the observer), and a block
watcher that stamps each block when its `newHeads` notification arrives. Times are
`time.monotonic()`, which on Linux is one system-wide clock, comparable across processes.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from jovay.codec.transactions import DynamicFeeTx, sign_transaction
from jovay.crypto.keccak import keccak256
from jovay.crypto.secp256k1 import address_of
from jovay.devnet import Devnet, DevnetConfig
from jovay.l1.anvil import free_port

TRANSFER_GAS = 21_000
FUND_ROUND = 200  # per funder and round: under the Jovay pool's nonce gap of 256
MAX_RPC_BATCH = 500  # requests per JSON-RPC batch for setup calls (Jovay allows 1000)
FEE_HEADROOM = 4  # max fee = FEE_HEADROOM * base fee + tip: survives base fee rises during a run


# --- JSON-RPC -------------------------------------------------------------------------------------------
class RpcError(RuntimeError):
    pass


class Rpc:
    """A small synchronous JSON-RPC client over one keep-alive HTTP connection."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout_s)

    def call(self, method: str, params: Sequence[Any] = ()) -> Any:
        answer = self.client.post(self.url, json=_request(0, method, params)).json()
        if "error" in answer:
            raise RpcError(f"{method}: {answer['error']}")
        return answer["result"]

    def batch(self, method: str, params_list: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
        """One method over many params, in JSON-RPC batches; the answers in the order of `params_list`."""
        answers: list[dict[str, Any]] = []
        for start in range(0, len(params_list), MAX_RPC_BATCH):
            chunk = params_list[start : start + MAX_RPC_BATCH]
            body = [_request(i, method, p) for i, p in enumerate(chunk)]
            reply = self.client.post(self.url, json=body).json()
            if not isinstance(reply, list):
                raise RpcError(f"{method} batch: {reply}")
            answers += sorted(reply, key=lambda a: a["id"])
        return answers

    def close(self) -> None:
        self.client.close()


def _request(request_id: int, method: str, params: Sequence[Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}


def results_of(answers: list[dict[str, Any]]) -> list[Any]:
    """The results of a batch, raising on the first error (setup calls must all succeed)."""
    for answer in answers:
        if "error" in answer:
            raise RpcError(str(answer["error"]))
    return [a["result"] for a in answers]


# --- keys, fees, signing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fees:
    chain_id: int
    tip: int
    max_fee: int


def load_keys(count: int, seed: str = "jovay-bench") -> list[bytes]:
    """Deterministic private keys, so every run loads the same senders."""
    return [keccak256(f"{seed}:{i}".encode()) for i in range(count)]


def current_fees(rpc: Rpc) -> Fees:
    """The chain's suggested tip and a fee cap with headroom over the latest base fee."""
    chain_id = int(rpc.call("eth_chainId"), 16)
    tip = int(rpc.call("eth_maxPriorityFeePerGas"), 16)
    base_fee = int(rpc.call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    return Fees(chain_id, tip, FEE_HEADROOM * base_fee + tip)


def sign_transfer(key: bytes, fees: Fees, nonce: int, to: bytes, value: int) -> bytes:
    tx = DynamicFeeTx(
        chain_id=fees.chain_id,
        nonce=nonce,
        max_priority_fee_per_gas=fees.tip,
        max_fee_per_gas=fees.max_fee,
        gas_limit=TRANSFER_GAS,
        to=to,
        value=value,
        data=b"",
    )
    return sign_transaction(tx, key)


def tx_hash(raw: bytes) -> str:
    return "0x" + keccak256(raw).hex()


def nonces_of(rpc: Rpc, addresses: Sequence[bytes], block: str = "latest") -> list[int]:
    params = [["0x" + a.hex(), block] for a in addresses]
    return [int(n, 16) for n in results_of(rpc.batch("eth_getTransactionCount", params))]


def presign_transfers(rpc: Rpc, keys: Sequence[bytes], fees: Fees, per_sender: int) -> list[bytes]:
    """`per_sender` 1-wei transfers from each key to the next key's address, from its current nonce.

    Ordered round-robin (every sender's first nonce, then every second, ...) so that each batch
    carries many distinct senders and no sender runs ahead of its nonce.
    """
    addresses = [address_of(k) for k in keys]
    nonces = nonces_of(rpc, addresses)
    raws = []
    for step in range(per_sender):
        for i, key in enumerate(keys):
            raws.append(sign_transfer(key, fees, nonces[i] + step, addresses[(i + 1) % len(keys)], 1))
    return raws


# --- funding --------------------------------------------------------------------------------------------
def funding_amount(fees: Fees, txs_per_sender: int) -> int:
    """Enough wei for `txs_per_sender` transfers at the fee cap, twice over."""
    return 2 * txs_per_sender * (TRANSFER_GAS * fees.max_fee + 1) + 10**15


def fund_accounts(
    rpc: Rpc, funder_keys: Sequence[str], recipients: Sequence[bytes], amount: int, timeout_s: float = 180.0
) -> None:
    """Send `amount` to each recipient from the funders, in rounds of FUND_ROUND per funder.

    Genesis cannot pre-fund the load accounts on the devnet, so both chains fund them the same way:
    plain transfers in JSON-RPC batches, waiting for each round to be sealed before the next.
    """
    fees = current_fees(rpc)
    keys = [bytes.fromhex(k.removeprefix("0x")) for k in funder_keys]
    shares = [list(recipients[i :: len(keys)]) for i in range(len(keys))]
    for start in range(0, max(len(s) for s in shares), FUND_ROUND):
        nonces = nonces_of(rpc, [address_of(k) for k in keys], "pending")
        raws: list[bytes] = []
        for key, share, nonce in zip(keys, shares, nonces, strict=True):
            chunk = share[start : start + FUND_ROUND]
            raws += [sign_transfer(key, fees, nonce + j, to, amount) for j, to in enumerate(chunk)]
        results_of(rpc.batch("eth_sendRawTransaction", [["0x" + r.hex()] for r in raws]))
        expected = [n + len(s[start : start + FUND_ROUND]) for n, s in zip(nonces, shares, strict=True)]
        _wait_for_nonces(rpc, [address_of(k) for k in keys], expected, timeout_s)


def _wait_for_nonces(rpc: Rpc, addresses: list[bytes], expected: list[int], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while nonces_of(rpc, addresses) != expected:
        if time.monotonic() > deadline:
            raise RpcError(f"funding transfers not sealed within {timeout_s} s")
        time.sleep(0.2)


# --- the load process -----------------------------------------------------------------------------------
@dataclass
class SendLog:
    """What the load process did: one (start, end, first index, count, errors) row per HTTP request."""

    requests: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(r[3] for r in self.requests)

    @property
    def rejected(self) -> int:
        return sum(r[4] for r in self.requests)

    def send_times(self) -> dict[int, float]:
        """Transaction index -> start of the HTTP request that carried it."""
        return {first + k: start for start, _, first, count, _ in self.requests for k in range(count)}


def _batch_body(raws: Sequence[str], first: int) -> bytes:
    requests = [_request(first + k, "eth_sendRawTransaction", [raw]) for k, raw in enumerate(raws)]
    return json.dumps(requests, separators=(",", ":")).encode()


def _post(client: httpx.Client, url: str, body: bytes, first: int, count: int, log: SendLog) -> None:
    start = time.monotonic()
    reply = client.post(url, content=body, headers={"Content-Type": "application/json"}).json()
    end = time.monotonic()
    answers = reply if isinstance(reply, list) else [reply]
    errors = [str(a["error"].get("message")) for a in answers if "error" in a]
    log.requests.append((start, end, first, count, len(errors)))
    log.error_samples += errors[: max(0, 5 - len(log.error_samples))]


def flood(
    url: str, raws: list[str], batch_size: int, limit_s: float, ready: Event, go: Event, out: Any
) -> None:
    """Load process body: send every transaction in back-to-back batches, as fast as the server answers."""
    bodies = [(_batch_body(raws[i : i + batch_size], i), i) for i in range(0, len(raws), batch_size)]
    log = SendLog()
    with httpx.Client(timeout=limit_s) as client:
        client.post(url, json=_request(0, "eth_chainId", []))  # connect before the clock starts
        ready.set()
        go.wait(60)
        deadline = time.monotonic() + limit_s
        for body, first in bodies:
            if time.monotonic() > deadline:
                break
            _post(client, url, body, first, min(batch_size, len(raws) - first), log)
    out.put(log)


def steady(url: str, raws: list[str], rate: float, tick_s: float, ready: Event, go: Event, out: Any) -> None:
    """Load process body: send at `rate` tx/s, one batch per tick, catching up (to 500) when late."""
    per_tick = max(1, round(rate * tick_s))
    log = SendLog()
    with httpx.Client(timeout=30) as client:
        client.post(url, json=_request(0, "eth_chainId", []))
        ready.set()
        go.wait(60)
        start = time.monotonic()
        deadline = start + len(raws) / rate + 10  # bounded even when the server falls behind
        sent = 0
        while sent < len(raws) and time.monotonic() < deadline:
            due = min(len(raws), int((time.monotonic() - start) * rate))
            if due - sent < per_tick and due < len(raws):
                time.sleep(max(0.0, start + (sent + per_tick) / rate - time.monotonic()))
                continue
            count = min(due - sent, MAX_RPC_BATCH)
            _post(client, url, _batch_body(raws[sent : sent + count], sent), sent, count, log)
            sent += count
    out.put(log)


class LoadProcess:
    """Runs `flood` or `steady` in a spawned process; `go()` starts the clock, `result()` collects."""

    def __init__(self, target: Any, *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._go, self._out = ctx.Event(), ctx.Event(), ctx.Queue()
        self._process = ctx.Process(
            target=target, args=(*args, self._ready, self._go, self._out), daemon=True
        )

    def start(self) -> LoadProcess:
        self._process.start()
        if not self._ready.wait(120):
            self.stop()
            raise RuntimeError("the load process did not get ready within 120 s")
        return self

    def go(self) -> float:
        started = time.monotonic()
        self._go.set()
        return started

    def done(self) -> bool:
        return not self._process.is_alive() or not self._out.empty()

    def result(self, timeout_s: float = 120.0) -> SendLog:
        log: SendLog = self._out.get(timeout=timeout_s)
        self._process.join(10)
        return log

    def stop(self) -> None:
        """Ends the process we started, by its handle, if it is still running."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(10)


# --- watching blocks ------------------------------------------------------------------------------------
@dataclass
class SeenBlock:
    number: int
    arrival: float  # when its newHeads notification arrived (monotonic)
    tx_count: int
    load_count: int


class BlockWatcher:
    """Marks every transaction of a block as included at the moment the block's newHeads arrives.

    A reader thread only timestamps notifications, so fetching a block's transaction hashes never
    delays the stamp of the next block. A chain announces a block after committing it, so a receipt
    is available by the stamp: the stamp bounds `eth_getTransactionReceipt` latency from above, and
    `check_receipts` confirms it for one tracked transaction per block.
    """

    def __init__(self, rpc: Rpc, tracked: dict[str, int], check_receipts: bool = False) -> None:
        self.rpc = rpc
        self.tracked = tracked  # tx hash -> load index
        self.check_receipts = check_receipts
        self.included: dict[int, float] = {}  # load index -> inclusion time
        self.blocks: list[SeenBlock] = []
        self.receipt_misses = 0
        self._stamps: queue.Queue[tuple[float, int]] = queue.Queue()
        self._ws: ClientConnection | None = None
        self._thread: threading.Thread | None = None
        self._next = 0

    def start(self) -> BlockWatcher:
        ws_url = self.rpc.url.replace("http://", "ws://", 1)
        self._ws = connect(ws_url, max_size=None, open_timeout=10)
        self._ws.send(json.dumps(_request(1, "eth_subscribe", ["newHeads"])))
        json.loads(self._ws.recv(timeout=10))  # the subscription id
        self._next = int(self.rpc.call("eth_blockNumber"), 16) + 1
        self._thread = threading.Thread(target=self._read, name="newHeads", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._ws is not None
        try:
            for message in self._ws:
                stamp = time.monotonic()
                head = json.loads(message).get("params", {}).get("result", {})
                if "number" in head:
                    self._stamps.put((stamp, int(head["number"], 16)))
        except ConnectionClosed:
            pass

    def wait_for_block(self, timeout_s: float = 10.0) -> float:
        """Waits for a block that arrives after the call and returns its stamp (aligns a run to a block)."""
        self.pump(0.0)  # stamps queued earlier (while the load process started) are stale
        count = len(self.blocks)
        deadline = time.monotonic() + timeout_s
        while len(self.blocks) == count and time.monotonic() < deadline:
            self.pump(0.05)
        if len(self.blocks) == count:
            raise RuntimeError(f"no block within {timeout_s} s")
        return self.blocks[-1].arrival

    def pump(self, timeout_s: float) -> None:
        """Handles the notifications that arrive within `timeout_s` (and any already queued)."""
        try:
            stamp, number = self._stamps.get(timeout=timeout_s)
        except queue.Empty:
            return
        self._record(stamp, number)
        while not self._stamps.empty():
            self._record(*self._stamps.get_nowait())

    def _record(self, stamp: float, number: int) -> None:
        """Blocks up to `number` (filling any the subscription skipped) arrived at `stamp`."""
        numbers = list(range(self._next, number + 1))
        if not numbers:
            return
        self._next = number + 1
        blocks = results_of(self.rpc.batch("eth_getBlockByNumber", [[hex(n), False] for n in numbers]))
        for n, block in zip(numbers, blocks, strict=True):
            hashes = block["transactions"]
            mine = [self.tracked[h] for h in hashes if h in self.tracked]
            for index in mine:
                self.included[index] = stamp
            self.blocks.append(SeenBlock(n, stamp, len(hashes), len(mine)))
            if self.check_receipts and mine:
                probe = next(h for h in reversed(hashes) if h in self.tracked)
                if self.rpc.call("eth_getTransactionReceipt", [probe]) is None:
                    self.receipt_misses += 1

    def stop(self) -> None:
        if self._ws is not None:
            self._ws.close()
        if self._thread is not None:
            self._thread.join(5)


def watch_until_included(
    watcher: BlockWatcher, load: LoadProcess, total: int, limit_s: float, stall_s: float = 15.0
) -> SendLog:
    """Pumps blocks until every accepted load transaction is sealed, the load stalls, or `limit_s` passes."""
    deadline = time.monotonic() + limit_s
    log: SendLog | None = None
    last_progress, last_count = time.monotonic(), 0
    while time.monotonic() < deadline:
        watcher.pump(0.1)
        if len(watcher.included) != last_count:
            last_progress, last_count = time.monotonic(), len(watcher.included)
        if log is None and load.done():
            log = load.result()
            total = log.sent - log.rejected
        if log is not None and (last_count >= total or time.monotonic() - last_progress > stall_s):
            return log
    load.stop()
    return log if log is not None else SendLog()


# --- figures --------------------------------------------------------------------------------------------
def window_rate(blocks: list[SeenBlock], start_stamp: float) -> tuple[float, int, float]:
    """Included load tx/s over the blocks from the first holding a load tx to the last.

    The window opens at the arrival of the block before the first load block (the run is aligned
    to a block, so that one was seen; else `start_stamp`) and closes at the last load block's arrival,
    so each counted block contributes its whole interval. Returns (tx/s, load txs, seconds).
    """
    loaded = [i for i, b in enumerate(blocks) if b.load_count]
    if not loaded:
        return 0.0, 0, 0.0
    first, last = loaded[0], loaded[-1]
    opened = blocks[first - 1].arrival if first > 0 else start_stamp
    txs = sum(b.load_count for b in blocks[first : last + 1])
    seconds = blocks[last].arrival - opened
    return (txs / seconds if seconds > 0 else 0.0), txs, seconds


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def mean_interval(blocks: list[SeenBlock]) -> float:
    """Mean time between blocks over a run: first to last arrival over the blocks in between.

    Not a median of gaps: a node busy with RPC pushes several notifications back to back, which makes
    gaps between arrivals short though blocks were not sealed any faster.
    """
    if len(blocks) < 2 or blocks[-1].number == blocks[0].number:
        return 0.0
    return (blocks[-1].arrival - blocks[0].arrival) / (blocks[-1].number - blocks[0].number)


@contextmanager
def jovay_devnet(block_time_ms: int, prefix: str) -> Iterator[tuple[str, list[str]]]:
    """A throwaway devnet on free ports: its RPC URL and funded dev keys; every process stops on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        config = DevnetConfig(
            data_dir=Path(tmp), rpc_port=free_port(), l1_port=free_port(), block_time_ms=block_time_ms
        )
        devnet = Devnet(config)
        try:
            info = devnet.start()
            print(f"jovay devnet: {info['rpcUrl']}, block time {block_time_ms} ms", flush=True)
            keys = [str(a["privateKey"]) for a in info["devAccounts"]]  # type: ignore[attr-defined]
            yield str(info["rpcUrl"]), keys
        finally:
            devnet.stop()
