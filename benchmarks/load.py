"""Load generation shared by the JSON-RPC benchmarks (`rpc_vs_anvil.py`, `receipt_latency.py`, `soak.py`).

The same code drives the Jovay node and anvil so that the two sides differ only in the server:
deterministic load keys funded by plain transfers from dev keys; EIP-1559 transfers signed before any
clock starts (a round-robin stream of (sender, nonce), cached on disk under the Jovay cache dir, since
signing costs ~100 us a transaction and the load process shares the machine's two cores with the
node); JSON-RPC batch bodies serialized ahead; a separate load process (spawned, so it shares no
interpreter or GIL with the observer) that offers them at a steady rate over keep-alive HTTP
connections on raw sockets and reports the rate it actually offered and the CPU it spent; and a block
watcher that stamps each block when its `newHeads` notification arrives. Times are `time.monotonic()`,
which on Linux is one system-wide clock, comparable across processes.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import multiprocessing
import os
import queue
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, Protocol

import httpx
from coincurve import PrivateKey
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from jovay.codec.transactions import DynamicFeeTx, encode_transaction, signing_hash
from jovay.crypto.keccak import keccak256
from jovay.crypto.secp256k1 import address_of
from jovay.devnet import Devnet, DevnetConfig
from jovay.l1.anvil import free_port
from jovay.l1.solc import cache_root

TRANSFER_GAS = 21_000
FUND_ROUND = 200  # per funder and round: under the Jovay pool's nonce gap of 256
MAX_RPC_BATCH = 500  # requests per JSON-RPC batch for setup calls (Jovay allows 1000)
FEE_HEADROOM = 4  # max fee >= FEE_HEADROOM * base fee + tip: survives base fee rises during a run
RECEIPT_PROBE_EVERY = 8  # blocks
PREFETCH_BYTES = 64 * 2**20  # batch bodies serialized ahead of the sender (all of them in short runs)


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
    """The chain's suggested tip and a fee cap with headroom over the latest base fee, rounded up to a
    power of two so that runs on a fresh chain sign the same transactions (and reuse the cache)."""
    chain_id = int(rpc.call("eth_chainId"), 16)
    tip = int(rpc.call("eth_maxPriorityFeePerGas"), 16)
    base_fee = int(rpc.call("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    return Fees(chain_id, tip, 1 << (FEE_HEADROOM * base_fee + tip - 1).bit_length())


class TransferSigner:
    """Signs 1-wei EIP-1559 transfers from one key, with its secp256k1 context built once (building it
    costs more than the signature itself); the codec's signing hash and encoding, as `sign_transaction`."""

    def __init__(self, key: bytes, fees: Fees) -> None:
        self._key = PrivateKey(key)
        self._fees = fees

    def sign(self, nonce: int, to: bytes, value: int = 1) -> bytes:
        fees = self._fees
        tx = DynamicFeeTx(fees.chain_id, nonce, fees.tip, fees.max_fee, TRANSFER_GAS, to, value, b"")
        signature = self._key.sign_recoverable(signing_hash(tx), hasher=None)
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:64], "big")
        return encode_transaction(dataclasses.replace(tx, y_parity=signature[64], r=r, s=s))


def sign_transfer(key: bytes, fees: Fees, nonce: int, to: bytes, value: int) -> bytes:
    return TransferSigner(key, fees).sign(nonce, to, value)


def tx_hash(raw: bytes) -> str:
    return "0x" + keccak256(raw).hex()


def nonces_of(rpc: Rpc, addresses: Sequence[bytes], block: str = "latest") -> list[int]:
    params = [["0x" + a.hex(), block] for a in addresses]
    return [int(n, 16) for n in results_of(rpc.batch("eth_getTransactionCount", params))]


# --- the presigned stream -------------------------------------------------------------------------------
SLOT = 128  # bytes per cached transaction: a length byte, then the raw transaction (transfers take ~115)
SIGN_CHUNK = 5_000


@dataclass(frozen=True)
class TransferStream:
    """Transaction k of the stream is a 1-wei transfer from key k % senders, at nonce k // senders, to the
    next key's address. Any prefix leaves every sender at the nonce the rest of the stream continues
    from, so a run sends stream[first:first + count] on a chain where the load keys were fresh and the
    earlier runs sent stream[:first]. Signing is deterministic (RFC 6979): a stream is cached once per
    (seed, senders, fees) under `$JOVAY_CACHE_DIR/presigned/` in fixed-size slots."""

    seed: str
    senders: int
    fees: Fees

    def keys(self) -> list[bytes]:
        return load_keys(self.senders, self.seed)

    def addresses(self) -> list[bytes]:
        return [address_of(k) for k in self.keys()]

    def nonces_after(self, count: int) -> list[int]:
        """Every sender's next nonce once stream[:count] is sealed."""
        return [count // self.senders + (1 if i < count % self.senders else 0) for i in range(self.senders)]

    @property
    def path(self) -> Path:
        fees = self.fees
        ident = f"v1:{self.seed}:{self.senders}:{fees.chain_id}:{fees.tip}:{fees.max_fee}:{TRANSFER_GAS}"
        digest = hashlib.sha256(ident.encode()).hexdigest()[:16]
        return cache_root().parent / "presigned" / f"transfers-{digest}.bin"  # $JOVAY_CACHE_DIR/presigned

    def cached(self) -> int:
        return self.path.stat().st_size // SLOT if self.path.exists() else 0

    def ensure(self, count: int, processes: int = 2) -> None:
        """Sign what the cache lacks of stream[:count] on `processes` processes (before any timing)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as cache:
            fcntl.flock(cache, fcntl.LOCK_EX)  # one writer; a second run waits and then finds it signed
            have = os.fstat(cache.fileno()).st_size // SLOT
            cache.truncate(have * SLOT)  # a run stopped mid-write leaves a partial slot
            if have >= count:
                return
            started = time.monotonic()
            print(f"signing transfers {have:,}..{count:,} into {self.path}", flush=True)
            chunks = [(self, lo, min(lo + SIGN_CHUNK, count)) for lo in range(have, count, SIGN_CHUNK)]
            with multiprocessing.get_context("spawn").Pool(processes) as pool:
                for slots in pool.imap(_sign_slots, chunks):
                    cache.write(slots)
            cache.flush()
            print(f"signed {count - have:,} transfers in {time.monotonic() - started:.0f} s", flush=True)

    def read(self, first: int, count: int) -> list[bytes]:
        """stream[first:first + count], signing it first where the cache lacks it."""
        self.ensure(first + count)
        return list(self.iterate(first, count))

    def iterate(self, first: int, count: int) -> Iterator[bytes]:
        """stream[first:first + count] from the cache, which must hold it (`ensure`): a load process
        reads as it goes and never signs."""
        if self.cached() < first + count:
            raise RuntimeError(f"{self.path} holds {self.cached()} transactions, not {first + count}")
        with open(self.path, "rb") as cache:
            cache.seek(first * SLOT)
            left = count
            while left:
                block = cache.read(min(left, 4096) * SLOT)
                for offset in range(0, len(block), SLOT):
                    yield block[offset + 1 : offset + 1 + block[offset]]
                left -= len(block) // SLOT


def _sign_slots(job: tuple[TransferStream, int, int]) -> bytes:
    """Worker: stream[lo:hi] as cache slots."""
    stream, lo, hi = job
    keys = stream.keys()
    addresses = [address_of(k) for k in keys]
    signers: dict[int, TransferSigner] = {}
    out = bytearray()
    for k in range(lo, hi):
        i = k % stream.senders
        signer = signers.get(i) or signers.setdefault(i, TransferSigner(keys[i], stream.fees))
        raw = signer.sign(k // stream.senders, addresses[(i + 1) % stream.senders])
        if len(raw) >= SLOT:
            raise ValueError(f"a {len(raw)}-byte transfer does not fit a {SLOT}-byte cache slot")
        out += bytes((len(raw),)) + raw + bytes(SLOT - 1 - len(raw))
    return bytes(out)


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
    """What the load process did: one (start, end, first index, count, errors) row per HTTP request, the
    load indexes the server refused, and the load process's own CPU time while sending."""

    requests: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    rejected_ids: list[int] = field(default_factory=list)
    cpu_s: float = 0.0
    target_rate: float = 0.0  # 0: unpaced (as fast as the server answers)

    @property
    def sent(self) -> int:
        return sum(r[3] for r in self.requests)

    @property
    def rejected(self) -> int:
        return sum(r[4] for r in self.requests)

    @property
    def offered_tps(self) -> float:
        """The rate requests were started at: transactions before the last request over the time from
        the first request's start to the last one's (exactly the target when pacing kept up)."""
        starts = sorted(self.requests)
        if len(starts) < 2 or starts[-1][0] <= starts[0][0]:
            return 0.0
        return (self.sent - starts[-1][3]) / (starts[-1][0] - starts[0][0])

    @property
    def cpu_us_per_tx(self) -> float:
        return 1e6 * self.cpu_s / self.sent if self.sent else 0.0

    def send_times(self) -> dict[int, float]:
        """Transaction index -> start of the HTTP request that carried it."""
        return {first + k: start for start, _, first, count, _ in self.requests for k in range(count)}

    def summary(self) -> str:
        target = f"target {self.target_rate:.0f} tx/s, " if self.target_rate else "unpaced, "
        return (
            f"load process: {target}offered {self.offered_tps:.0f} tx/s ({self.sent} sent, "
            f"{self.rejected} rejected), {self.cpu_us_per_tx:.1f} us CPU per tx"
        )


class KeepAlive:
    """JSON POSTs over one keep-alive HTTP/1.1 connection on a raw socket: a request costs the load
    process one `sendall` and a few `recv`s, and a reply is not parsed beyond its headers."""

    def __init__(self, url: str, timeout_s: float = 60.0) -> None:
        parts = urllib.parse.urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._timeout_s = timeout_s
        self._head = (
            f"POST {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nContent-Length: "
        ).encode()
        self._sock: socket.socket | None = None
        self._buffer = b""

    def connect(self) -> None:
        self.close()
        self._sock = socket.create_connection(self._address, timeout=self._timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def post(self, body: bytes) -> tuple[int, bytes]:
        """(HTTP status, response body)."""
        if self._sock is None:
            self.connect()
        assert self._sock is not None
        self._sock.sendall(b"%s%d\r\n\r\n%s" % (self._head, len(body), body))
        head = self._read_until(b"\r\n\r\n")
        status = int(head[9:12])
        headers = head.lower() + b"\r\n"
        at = headers.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"reply without Content-Length: {head[:200]!r}")
        length = int(headers[at + 17 : headers.index(b"\r\n", at + 2)])
        reply = self._read_exactly(length)
        if b"\r\nconnection: close" in headers:
            self.close()
        return status, reply

    def _read_until(self, marker: bytes) -> bytes:
        while (at := self._buffer.find(marker)) < 0:
            self._buffer += self._recv()
        found, self._buffer = self._buffer[:at], self._buffer[at + len(marker) :]
        return found

    def _read_exactly(self, length: int) -> bytes:
        chunks = [self._buffer]
        have = len(self._buffer)
        while have < length:
            chunk = self._recv()
            chunks.append(chunk)
            have += len(chunk)
        data = b"".join(chunks)
        self._buffer = data[length:]
        return data[:length]

    def _recv(self) -> bytes:
        assert self._sock is not None
        chunk = self._sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def batch_body(raws: Sequence[bytes], first: int) -> bytes:
    """A JSON-RPC batch of eth_sendRawTransaction; request ids are the load indexes."""
    request = b'{"jsonrpc":"2.0","id":%d,"method":"eth_sendRawTransaction","params":["0x%s"]}'
    parts = [request % (first + k, raw.hex().encode()) for k, raw in enumerate(raws)]
    return b"[" + b",".join(parts) + b"]"


class TxSource(Protocol):
    """What a load process sends: `count` transactions with load indexes first..first + count - 1."""

    first: int
    count: int

    def raws(self) -> Iterator[bytes]: ...


@dataclass
class InMemory:
    raws_list: list[bytes]
    first: int = 0

    @property
    def count(self) -> int:
        return len(self.raws_list)

    def raws(self) -> Iterator[bytes]:
        return iter(self.raws_list)


@dataclass
class FromStream:
    """A slice of a presigned stream, read from its cache file as the load process goes (long runs)."""

    stream: TransferStream
    first: int
    count: int

    def raws(self) -> Iterator[bytes]:
        return self.stream.iterate(self.first, self.count)


class Prefetch:
    """Serializes batch bodies ahead of the sender on a thread, at most PREFETCH_BYTES of them: a short
    run is wholly serialized before its clock starts, a long one stays that far ahead."""

    def __init__(self, source: TxSource, batch_size: int) -> None:
        self._source, self._batch_size = source, batch_size
        self._queue: queue.Queue[tuple[int, int, bytes] | None] = queue.Queue()
        self._room = threading.Semaphore(max(1, PREFETCH_BYTES // (batch_size * 250)))
        self._full = threading.Event()
        self._error: BaseException | None = None
        threading.Thread(target=self._fill, name="prefetch", daemon=True).start()

    def _fill(self) -> None:
        try:
            self._serialize()
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._queue.put(None)
            self._full.set()

    def _serialize(self) -> None:
        raws = self._source.raws()
        first = self._source.first
        end = first + self._source.count
        while first < end:
            count = min(self._batch_size, end - first)
            chunk = [next(raws) for _ in range(count)]
            if not self._room.acquire(blocking=False):
                self._full.set()
                self._room.acquire()
            self._queue.put((first, count, batch_body(chunk, first)))
            first += count

    def wait_ready(self, timeout_s: float) -> None:
        self._full.wait(timeout_s)

    def __iter__(self) -> Iterator[tuple[int, int, bytes]]:
        while (item := self._queue.get()) is not None:
            self._room.release()
            yield item
        if self._error is not None:
            raise RuntimeError("serializing the load failed") from self._error


class Senders:
    """`connections` threads, each with its own keep-alive connection; `send` hands a batch to an idle
    one and blocks while all are busy (so a slow server caps the requests in flight)."""

    def __init__(self, url: str, connections: int, log: SendLog, timeout_s: float) -> None:
        self.log = log
        self._idle = threading.Semaphore(connections)
        self._work: queue.Queue[tuple[int, int, bytes] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._connections = [KeepAlive(url, timeout_s) for _ in range(connections)]
        for connection in self._connections:  # connect and warm up before the clock starts
            connection.post(b'{"jsonrpc":"2.0","id":0,"method":"eth_chainId","params":[]}')
        self._threads = [threading.Thread(target=self._run, args=(c,)) for c in self._connections]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def reconnect(self) -> None:
        """Fresh connections (a server closes idle keep-alive connections after a few seconds)."""
        for connection in self._connections:
            connection.connect()

    def send(self, first: int, count: int, body: bytes) -> None:
        self._idle.acquire()
        self._work.put((first, count, body))

    def close(self) -> None:
        """Waits for the requests in flight."""
        for _ in self._threads:
            self._work.put(None)
        for thread in self._threads:
            thread.join()
        for connection in self._connections:
            connection.close()

    def _run(self, connection: KeepAlive) -> None:
        while (item := self._work.get()) is not None:
            first, count, body = item
            start = time.monotonic()
            try:
                status, reply = connection.post(body)
            except OSError as exc:
                status, reply = 0, str(exc).encode()
                connection.close()
            end = time.monotonic()
            self._record(start, end, first, count, status, reply)
            self._idle.release()

    def _record(self, start: float, end: float, first: int, count: int, status: int, reply: bytes) -> None:
        """Counts the refused transactions; only a reply holding errors is parsed."""
        errors: list[tuple[int, str]] = []
        if status != 200:
            errors = [(first + k, f"HTTP {status}: {reply[:200]!r}") for k in range(count)]
        elif b'"error"' in reply:
            answers = json.loads(reply)
            answers = answers if isinstance(answers, list) else [answers]
            errors = [(a.get("id", -1), str(a["error"].get("message"))) for a in answers if "error" in a]
        with self._lock:
            self.log.requests.append((start, end, first, count, len(errors)))
            self.log.rejected_ids += [i for i, _ in errors]
            self.log.error_samples += [m for _, m in errors[: max(0, 5 - len(self.log.error_samples))]]


def offer(
    url: str,
    source: TxSource,
    batch_size: int,
    rate: float,
    connections: int,
    limit_s: float,
    ready: Event,
    go: Event,
    out: Any,
) -> None:
    """Load process body: send `source` in batches of `batch_size`, batch k started when its first
    transaction is due at `rate` tx/s (0: as fast as connections free up), with at most `connections`
    requests in flight; a batch that finds them all busy waits, so the rate offered (reported) falls
    below the target only when the server is slower than it. Stops sending after `limit_s`."""
    log = SendLog(target_rate=rate)
    bodies = Prefetch(source, batch_size)
    senders = Senders(url, connections, log, timeout_s=max(60.0, limit_s))
    bodies.wait_ready(600)
    ready.set()
    go.wait(120)
    senders.reconnect()
    cpu_started, start = time.process_time(), time.monotonic()
    for first, count, body in bodies:
        now = time.monotonic()
        if now > start + limit_s:
            break
        if rate:
            due = start + (first - source.first) / rate
            if due > now:
                time.sleep(due - now)
        senders.send(first, count, body)
    senders.close()
    log.cpu_s = time.process_time() - cpu_started
    out.put(log)


class LoadProcess:
    """Runs `offer` in a spawned process; `go()` starts the clock, `result()` collects."""

    def __init__(self, *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._go, self._out = ctx.Event(), ctx.Event(), ctx.Queue()
        self._process = ctx.Process(target=offer, args=(*args, self._ready, self._go, self._out), daemon=True)

    def start(self, timeout_s: float = 600) -> LoadProcess:
        self._process.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise RuntimeError(f"the load process did not get ready within {timeout_s} s")
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
    `check_receipts` confirms it for one tracked transaction in every RECEIPT_PROBE_EVERY-th block
    holding some (a receipt lookup makes the node decode the whole block's receipts: probing every
    block would cost the node under test several percent of a core at thousands of tx/s).
    """

    def __init__(self, rpc: Rpc, tracked: dict[str, int], check_receipts: bool = False) -> None:
        self.rpc = rpc
        self.tracked = tracked  # tx hash -> load index
        self.check_receipts = check_receipts
        self.included: dict[int, float] = {}  # load index -> inclusion time
        self.blocks: list[SeenBlock] = []
        self.receipt_misses = 0
        self.receipt_probes = 0
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
            if self.check_receipts and mine and n % RECEIPT_PROBE_EVERY == 0:
                self.receipt_probes += 1
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
    """Pumps blocks until every accepted load transaction is sealed, or inclusion stalls for `stall_s`,
    or `limit_s` passes, once the load process has reported (it stops sending after its own limit,
    which must be shorter: without its log nothing can be counted)."""
    deadline = time.monotonic() + limit_s
    log: SendLog | None = None
    last_progress, last_count = time.monotonic(), 0
    while True:
        watcher.pump(0.1)
        if len(watcher.included) != last_count:
            last_progress, last_count = time.monotonic(), len(watcher.included)
        if log is None and load.done():
            log = load.result()
            total = log.sent - log.rejected
        if log is not None and (last_count >= total or time.monotonic() - last_progress > stall_s):
            return log
        if time.monotonic() > deadline:
            if log is None:
                load.stop()
                raise RuntimeError(f"the load process did not report within {limit_s:.0f} s")
            return log


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process (all its threads) has used so far, from /proc/<pid>/stat: the
    server's CPU per transaction is steadier than its rate on a machine shared with other work."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class JovayDevnet:
    url: str
    dev_keys: list[str]
    node_pid: int


@contextmanager
def jovay_devnet(block_time_ms: int, prefix: str) -> Iterator[JovayDevnet]:
    """A throwaway devnet on free ports: its RPC URL, funded dev keys and the node's PID; every process
    stops on exit."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        config = DevnetConfig(
            data_dir=Path(tmp), rpc_port=free_port(), l1_port=free_port(), block_time_ms=block_time_ms
        )
        devnet = Devnet(config)
        try:
            info = devnet.start()
            print(f"jovay devnet: {info['rpcUrl']}, block time {block_time_ms} ms", flush=True)
            keys = [str(a["privateKey"]) for a in info["devAccounts"]]  # type: ignore[attr-defined]
            yield JovayDevnet(str(info["rpcUrl"]), keys, devnet.processes["node"].pid)
        finally:
            devnet.stop()


# --- what the generator itself can offer ----------------------------------------------------------------
def null_server(listener: socket.socket) -> None:
    """Answers every POST on each connection with the same small JSON body, reading nothing but the
    Content-Length: a stand-in server that costs next to nothing, to measure the generator alone."""
    reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]"

    def serve(connection: socket.socket) -> None:
        buffer = b""
        with connection:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = connection.recv(1 << 20)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                headers = head.lower() + b"\r\n"
                at = headers.index(b"\r\ncontent-length:") + 17
                length = int(headers[at : headers.index(b"\r\n", at)])
                while len(buffer) < length:
                    buffer += connection.recv(1 << 20)
                buffer = buffer[length:]
                connection.sendall(reply)

    while True:
        connection, _ = listener.accept()
        threading.Thread(target=serve, args=(connection,), daemon=True).start()


def main() -> None:
    """`python benchmarks/load.py [--rate 5000] [--seconds 10]`: the rate the generator offers to a
    server that answers at once, and its CPU per transaction (signing excluded: the stream is cached)."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rate", type=float, default=5_000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--tick-ms", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=4)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=null_server, args=(listener,), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stream = TransferStream("jovay-bench", 1_000, Fees(202_611, 1_000_000, 1 << 26))
    count = round(args.rate * args.seconds)
    stream.ensure(count)
    source = FromStream(stream, 0, count)
    batch = max(1, round(args.rate * args.tick_ms / 1000))
    load = LoadProcess(url, source, batch, args.rate, args.connections, args.seconds + 30).start()
    load.go()
    log = load.result(args.seconds + 60)
    print(log.summary())


if __name__ == "__main__":
    main()
