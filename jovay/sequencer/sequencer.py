"""The sequencer: admits signed transactions, and seals a block every `block_time` (or when full).

Admission decodes and recovers the sender outside any lock, then checks the transaction against the
head's state and the next block's base fee, so that what enters the pool could enter a block. The
producer thread takes L1 deposits first, then pooled transactions, highest tip first and nonce order
per sender; a transaction that turns out invalid is dropped, never sealed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from jovay.codec.blocks import Header
from jovay.codec.transactions import DepositTx, SignedTx, decode_many, decode_transaction
from jovay.errors import InvalidTransaction
from jovay.sequencer.admission import admit, admit_many
from jovay.sequencer.mempool import Mempool, MempoolLimits
from jovay.state.keys import account_key
from jovay.state.overlay import StateOverlay
from jovay.stf.accounts import get_account
from jovay.stf.block import BlockExecution, child_env, fill_from_queues
from jovay.stf.transaction import BlockEnv, next_l1_message_index
from jovay.storage.chain import Chain

log = logging.getLogger(__name__)

MAX_DEPOSITS_PER_BLOCK = 1_000
DECODE_THREADS = 2  # sender recovery (libsecp256k1) and keccak run without the GIL: both cores help
MIN_PARALLEL_DECODE = 32  # smaller batches are decoded inline (a pool round trip costs more)
DECODE_CHUNKS = 4  # submit_many admits the first chunks while the pool still recovers the next ones
MAX_PREDECODED = 50_000  # decoded-ahead transactions waiting for their `submit`


@dataclass(frozen=True, slots=True)
class SequencerConfig:
    block_time_s: float = 0.25
    max_txs_per_block: int = 20_000
    mempool: MempoolLimits = MempoolLimits()


DepositSource = Callable[[int, int], list[DepositTx]]  # (next queue index, max count) -> deposits


class Sequencer:
    def __init__(
        self,
        chain: Chain,
        config: SequencerConfig | None = None,
        deposits: DepositSource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.chain = chain
        self.config = config or SequencerConfig()
        self.mempool = Mempool(self.config.mempool)
        self.deposits = deposits
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_block_full = False
        self.pending_listeners: list[Callable[[bytes], None]] = []
        self._decoder_pool: ThreadPoolExecutor | None = None
        self._decoder_pool_lock = threading.Lock()  # concurrent RPC batches must not start two pools
        self._predecoded: dict[bytes, SignedTx | InvalidTransaction] = {}
        self._admission_env_at: tuple[Header, BlockEnv] | None = None

    # --- admission -------------------------------------------------------------------------------
    def submit(self, raw: bytes) -> bytes:
        """Validate and pool a raw signed transaction; returns its hash or raises InvalidTransaction."""
        signed = self._decoded(raw)
        state = StateOverlay(self.chain.store.leaf)
        return admit(self.mempool, signed, state, self._admission_env(), self.pending_listeners)

    def _decoded(self, raw: bytes) -> SignedTx:
        """The transaction `predecode` decoded ahead, else decoded now; raises its decoding error."""
        decoded = self._predecoded.pop(raw, None) if type(raw) is bytes else None
        if decoded is None:
            return decode_transaction(raw, expected_chain_id=self.chain.genesis.chain_id)
        if isinstance(decoded, InvalidTransaction):
            raise decoded
        return decoded

    def _decoded_or_error(self, raw: bytes) -> SignedTx | InvalidTransaction:
        try:
            return self._decoded(raw)
        except InvalidTransaction as exc:
            return exc

    def _admission_env(self) -> BlockEnv:
        """The next block's environment as admission sees it (the head's timestamp), kept per head:
        it follows from the head alone, and admission asks for it once per transaction."""
        head = self.chain.head
        cached = self._admission_env_at
        if cached is not None and cached[0] is head:
            return cached[1]
        env = child_env(head, head.timestamp, self.chain.genesis.chain_id)
        self._admission_env_at = (head, env)  # one assignment: safe with concurrent RPC threads
        return env

    def submit_many(self, raws: Sequence[bytes]) -> list[bytes | InvalidTransaction]:
        """`submit` each in order; each one's hash or its error.

        Decoding and sender recovery run ahead on both cores, chunk by chunk, while this thread
        admits the chunks already decoded (the native decoder recovers senders without the GIL, so
        recovery overlaps admission and the sequencer thread). The stateful checks and the pool see
        the transactions one by one, in order (`admit_many`), so the outcome is the one of a loop of
        `submit` calls made at the moment of the batch's state reads: the batch reads each account
        once (admission writes no state, so only a block sealed meanwhile could change what a second
        read finds, as it could between two submits)."""
        state = StateOverlay(self.chain.store.leaf)  # one read per account per batch
        env = self._admission_env()
        out: list[bytes | InvalidTransaction] = []
        for chunk in self._decoded_chunks(raws):
            out += admit_many(self.mempool, chunk, state, env, self.pending_listeners)
        return out

    def _decoded_chunks(self, raws: Sequence[bytes]) -> Iterator[list[SignedTx | InvalidTransaction]]:
        """The raws decoded (or their decoding errors), in order, in chunks: a large batch is decoded
        on the pool, each chunk yielded as soon as it is ready; a small one, or the transactions
        `predecode` already decoded, here."""
        ahead = [type(raw) is bytes and raw not in self._predecoded for raw in raws]
        todo = [raw for raw, here in zip(raws, ahead, strict=True) if here]
        if len(todo) < MIN_PARALLEL_DECODE:
            yield [self._decoded_or_error(raw) for raw in raws]
            return
        chain_id = self.chain.genesis.chain_id
        step = max(MIN_PARALLEL_DECODE, -(-len(todo) // DECODE_CHUNKS))
        futures = [
            self._decoders().submit(_decode_all, todo[i : i + step], chain_id)
            for i in range(0, len(todo), step)
        ]
        if len(todo) == len(raws):  # (the usual case: nothing was decoded ahead)
            for future in futures:
                yield future.result()
            return
        decoded = itertools.chain.from_iterable(future.result() for future in futures)  # waits lazily
        chunk: list[SignedTx | InvalidTransaction] = []
        for raw, here in zip(raws, ahead, strict=True):
            chunk.append(next(decoded) if here else self._decoded_or_error(raw))
            if len(chunk) == step:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def predecode(self, raws: Sequence[bytes]) -> None:
        """Decode and recover the senders of transactions about to be submitted, on a thread pool.

        Decoding depends only on the bytes and the chain id, so doing it ahead changes no result;
        `submit` takes the decoded transaction (or the decoding error) from here. The native batch
        decoder recovers the senders with the GIL released, so this overlaps the sequencer thread.
        """
        todo = [raw for raw in dict.fromkeys(raws) if type(raw) is bytes and raw not in self._predecoded]
        if len(todo) < MIN_PARALLEL_DECODE or len(self._predecoded) + len(todo) > MAX_PREDECODED:
            return
        chain_id = self.chain.genesis.chain_id
        step = -(-len(todo) // DECODE_THREADS)
        chunks = [todo[i : i + step] for i in range(0, len(todo), step)]
        decoded_chunks = self._decoders().map(_decode_all, chunks, [chain_id] * len(chunks))
        for chunk, decoded in zip(chunks, decoded_chunks, strict=True):
            self._predecoded.update(zip(chunk, decoded, strict=True))

    def _decoders(self) -> ThreadPoolExecutor:
        """The decode pool, started on first use (once, even when RPC threads ask at the same time)."""
        with self._decoder_pool_lock:
            if self._decoder_pool is None:
                self._decoder_pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="decode")
            return self._decoder_pool

    def pending_nonce(self, sender: bytes) -> int:
        nonce, _ = get_account(StateOverlay(self.chain.store.leaf), sender)
        return self.mempool.pending_nonce(sender, nonce)

    # --- production ------------------------------------------------------------------------------
    def produce_block(self) -> Header:
        """Build and seal one block from pending deposits and pooled transactions."""
        execution = self.chain.new_execution(max(int(self.clock()), self.chain.head.timestamp))
        if self.deposits is not None:
            for deposit in self.deposits(next_l1_message_index(execution.state), MAX_DEPOSITS_PER_BLOCK):
                execution.add_deposit(deposit)
        included, dropped = self._fill(execution)
        header = self.chain.seal(execution)
        self.mempool.remove(included + dropped)
        return header

    def _fill(self, execution: BlockExecution) -> tuple[list[SignedTx], list[SignedTx]]:
        """Add pooled transactions by tip, nonce order per sender, until the block is full."""
        queues = self.mempool.snapshot_by_sender()
        included, dropped, stopped = fill_from_queues(execution, queues, self.config.max_txs_per_block)
        for signed, exc in dropped:
            log.info("dropped 0x%s: %s", signed.hash.hex(), exc)
        self.last_block_full = stopped  # stopped by a limit, not by running out of transactions
        return included, [signed for signed, _ in dropped]

    def run(self) -> None:
        """Seal a block every `block_time_s`; at once again while the pool holds more than fits."""
        interval = self.config.block_time_s
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self.produce_block()
            except Exception:  # a bug must not stop the chain silently: log it loudly and go on
                log.exception("block production failed")
            next_at += interval
            delay = next_at - time.monotonic()
            if delay < 0 or self.last_block_full:
                next_at = time.monotonic()
                delay = 0
            self._stop.wait(delay)

    def start(self) -> None:
        """Start sealing on a thread (again after `stop`)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="sequencer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._decoder_pool is not None:
            self._decoder_pool.shutdown(wait=False)
            self._decoder_pool = None


def _decode_all(raws: list[bytes], chain_id: int) -> list[SignedTx | InvalidTransaction]:
    """Decode on a pool thread; also derives each sender's account key (a Poseidon hash, cached), which
    admission needs next, while the GIL is free for other threads during the hash."""
    out = decode_many(raws, chain_id)
    for signed in out:
        if type(signed) is SignedTx:
            account_key(signed.sender)
    return out
