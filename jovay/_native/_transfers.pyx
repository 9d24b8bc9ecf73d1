# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twin of jovay.stf.transfers.apply_transfer (same signature, same writes, same results).

The fast path of plain ETH transfers and RWA token `transfer(address,uint256)`: compiled, it skips the
interpreter's per-operation cost on the sequencer's hottest loop. Everything it does not fully handle
it declines (None, state untouched), and the general path in jovay/stf/transaction.py takes over;
tests/native/test_transfers_fast_path.py checks both twins against that general path.

It reads and writes a `StateOverlay`'s dictionaries and journal directly (the very entries
`StateOverlay.get`/`set` would touch, in the same order), which saves a Python method call per access.
`fill_from_queues` is the native twin of jovay.stf.block.fill_from_queues: the sequencer's loop that
picks pooled transactions by tip and runs them, with the fast path inlined; once the block's gas is
spent, the pooled transactions left that would only wait (NotYetValid) are passed over here, not
through the general path, and set aside from the heap in one pass rather than popped one by one. `build_receipts` and `combined_bloom` are the twins of jovay.stf.block's
`pure_build_receipts` and `pure_combined_bloom`: log blooms hashed in C (keccak.c).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from libc.stdint cimport uint8_t, uint16_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset
import heapq

from jovay._native._maker cimport Maker

cdef extern from "keccak.h":
    void jovay_keccak256(const uint8_t *data, size_t length, uint8_t *out) nogil

cdef enum:
    BLOOM_BYTES = 256
    BLOOM_VALUE_MAX = 32  # the longest value the bloom-bits cache holds: a topic (an address: 20)

cdef Maker _TxOutcome = None
cdef Maker _Log = None
cdef Maker _ExecutedTx = None
cdef Maker _Receipt = None
cdef object _StateOverlay = None
cdef object _NotYetValid = None
cdef object _InvalidTransaction = None
cdef object _NonceTooLow = None
cdef object _pure_apply = None
cdef object _pure_check_admission = None
cdef object _account_key = None
cdef object _allowlist_key = None
cdef object _token_balance_key = None
cdef object _token_asset_key = None
cdef object _token_count_key = 0
cdef object _FIXED = None
cdef bytes _EMPTY_BLOOM = b""
cdef object _pure_logs_bloom = None
cdef object _pure_combined_bloom = None
cdef bytes _PREFIX = b""
cdef bytes _SELECTOR = b""
cdef bytes _TOPIC = b""
cdef bytes _RETURN = b""
cdef bytes _ZERO_12 = bytes(12)
cdef bytes _ZERO_ADDRESS = bytes(20)
cdef object _ABSENT = -1
cdef object _TX_BASE_GAS = 0
cdef object _TRANSFER_GAS = 0
cdef object _ZERO_GAS = 0
cdef object _NONZERO_GAS = 0
cdef object _MAX_NONCE = 0
cdef object _MAX_UINT128 = 0
cdef object _ACCOUNT_LIMIT = 0
cdef Py_ssize_t _BLOOM_SLOTS = 1 << 18  # jovay.codec.blocks.BLOOM_CACHE_SIZE, read by _load
cdef bint _ready = False
_heappop = heapq.heappop
_heappush = heapq.heappush
_heapify = heapq.heapify


cdef void _load():
    """The pure module's constants and key functions, read once (lazily: jovay imports this module)."""
    global _TxOutcome, _Log, _ExecutedTx, _StateOverlay, _NotYetValid, _InvalidTransaction, _NonceTooLow
    global _pure_apply, _pure_check_admission, _account_key, _allowlist_key, _token_balance_key, _token_asset_key, _ABSENT
    global _token_count_key, _FIXED, _PREFIX, _SELECTOR, _TOPIC, _RETURN, _TX_BASE_GAS, _TRANSFER_GAS
    global _ZERO_GAS, _NONZERO_GAS, _MAX_NONCE, _MAX_UINT128, _ACCOUNT_LIMIT, _ready
    global _Receipt, _EMPTY_BLOOM, _pure_logs_bloom, _pure_combined_bloom, _BLOOM_SLOTS
    from jovay.codec import blocks as codec_blocks
    from jovay.errors import InvalidTransaction, NonceTooLow, NotYetValid
    from jovay.state import overlay
    from jovay.stf import transfers as pure
    from jovay.stf import block
    from jovay.stf.block import ExecutedTx
    from jovay.stf import transaction
    from jovay.stf.transaction import TxOutcome

    _TxOutcome = Maker(TxOutcome, ("status", "gas_used", "effective_gas_price", "logs", "return_data"))
    _Log = Maker(pure.Log, ("address", "topics", "data"))
    _ExecutedTx = Maker(ExecutedTx, ("encoded", "tx_hash", "sender", "tx", "outcome"))
    _StateOverlay, _ABSENT = overlay.StateOverlay, overlay._ABSENT
    _NotYetValid, _InvalidTransaction, _NonceTooLow = NotYetValid, InvalidTransaction, NonceTooLow
    _pure_apply = pure.apply_transfer
    _pure_check_admission = transaction.pure_check_admission
    _account_key, _allowlist_key = pure.account_key, pure.allowlist_key
    _token_balance_key, _token_asset_key = pure.token_balance_key, pure.token_asset_key
    _token_count_key = pure.system_field_key(pure.TOKEN_COUNT_FIELD)
    _FIXED = pure.FIXED_SYSTEM_ADDRESSES
    _PREFIX, _SELECTOR, _TOPIC = pure.TOKEN_ADDRESS_PREFIX, pure.TRANSFER_SELECTOR, pure.TRANSFER_TOPIC
    _RETURN = pure.TRANSFER_RETURN
    _TX_BASE_GAS, _TRANSFER_GAS = pure.TX_BASE_GAS, pure.TRANSFER_GAS
    _ZERO_GAS, _NONZERO_GAS = pure.TX_DATA_ZERO_GAS, pure.TX_DATA_NONZERO_GAS
    _MAX_NONCE, _MAX_UINT128, _ACCOUNT_LIMIT = pure.MAX_NONCE, pure.MAX_UINT128, pure.ACCOUNT_VALUE_LIMIT
    _Receipt = Maker(codec_blocks.Receipt, ("tx_type", "status", "cumulative_gas_used", "logs", "bloom"))
    _EMPTY_BLOOM = codec_blocks.EMPTY_BLOOM
    _pure_logs_bloom, _pure_combined_bloom = codec_blocks.logs_bloom, block.pure_combined_bloom
    _BLOOM_SLOTS = codec_blocks.BLOOM_CACHE_SIZE
    _ready = True


cdef class _State:
    """A StateOverlay's innards, for `get`/`set`/`revert` without a Python method call each."""

    cdef object overlay
    cdef dict writes
    cdef list journal
    cdef dict cache
    cdef object read

    def __cinit__(self, overlay):
        self.overlay = overlay
        self.writes = overlay._writes
        self.journal = overlay._journal
        self.cache = overlay._read_cache
        self.read = overlay._read

    cdef inline object get(self, object key):
        """StateOverlay.get."""
        cdef PyObject *found = PyDict_GetItem(self.writes, key)
        if found != NULL:
            return <object> found
        found = PyDict_GetItem(self.cache, key)
        if found != NULL:
            return <object> found
        value = self.read(key)
        self.cache[key] = value
        return value

    cdef inline void set(self, object key, object value) except *:
        """StateOverlay.set: journal the previous pending value, then write."""
        cdef PyObject *previous = PyDict_GetItem(self.writes, key)
        self.journal.append((key, <object> previous if previous != NULL else _ABSENT))
        self.writes[key] = value


cdef bint _credit(_State state, object key, object amount) except -1:
    """accounts.add_balance on a key: False (nothing written) where it would raise instead."""
    value = state.get(key)
    if not 0 <= value < _ACCOUNT_LIMIT or (value & _MAX_UINT128) + amount > _MAX_UINT128:
        return False
    state.set(key, value + amount)
    return True


def apply_transfer(state, env, signed_tx, gas_left):
    """`process_transaction` for a valid, successful plain transfer; None (state untouched) otherwise."""
    if not _ready:
        _load()
    if type(state) is not _StateOverlay:
        return _pure_apply(state, env, signed_tx, gas_left)
    return _apply(_State(state), env.gas_limit, env.base_fee, env.coinbase, signed_tx, gas_left)


cdef dict _asset_keys = {}  # token address -> token_asset_key(token): the few token addresses in use


cdef object _asset_key_of(object token):
    """token_asset_key(token), kept here: a dict lookup instead of the LRU wrapper's call."""
    cdef PyObject *found = PyDict_GetItem(_asset_keys, token)
    if found != NULL:
        return <object> found
    key = _token_asset_key(token)
    if len(_asset_keys) >= 4096:
        _asset_keys.clear()
    _asset_keys[token] = key
    return key


cdef tuple _coinbase_cache = (None, None)  # (the last coinbase, its account key): one per block


cdef object _coinbase_key(object coinbase):
    """account_key(coinbase) (raising as it does), the last one kept: every transfer of a block pays
    the same coinbase. One tuple, so that a reader on another thread never pairs two blocks' halves."""
    global _coinbase_cache
    cdef tuple cached = _coinbase_cache
    if cached[0] is coinbase:
        return cached[1]
    key = _account_key(coinbase)
    _coinbase_cache = (coinbase, key)
    return key


cdef object _apply(_State state, object block_gas_limit, object base_fee, bytes coinbase, object signed_tx,
                   object gas_left):
    tx = signed_tx.tx
    to = tx.to
    cdef bytes data = tx.data
    if to is None or tx.access_list:
        return None
    cdef bint is_token = len(data) != 0
    cdef Py_ssize_t zeros
    if is_token:
        if (
            len(data) != 68
            or data[:4] != _SELECTOR
            or data[4:16] != _ZERO_12
            or tx.value
            or not to.startswith(_PREFIX)
        ):
            return None
        zeros = data.count(0)
        gas_used = _TX_BASE_GAS + zeros * _ZERO_GAS + (68 - zeros) * _NONZERO_GAS + _TRANSFER_GAS
    elif to in _FIXED or to.startswith(_PREFIX):
        return None
    else:
        gas_used = _TX_BASE_GAS
    gas_limit = tx.gas_limit
    max_fee = tx.max_fee_per_gas
    tip_cap = tx.max_priority_fee_per_gas
    if gas_used > gas_limit or gas_limit > block_gas_limit or gas_limit > gas_left:
        return None
    if tip_cap > max_fee or max_fee < base_fee:
        return None
    sender = signed_tx.sender
    sender_key = _account_key(sender)
    account = state.get(sender_key)
    if not 0 <= account < _ACCOUNT_LIMIT:
        return None
    nonce = account >> 128
    balance = account & _MAX_UINT128
    if tx.nonce != nonce or nonce >= _MAX_NONCE or balance < gas_limit * max_fee + tx.value:
        return None
    if is_token:
        token_id = int.from_bytes(to[len(_PREFIX):], "big")
        dst = data[16:36]
        amount = int.from_bytes(data[36:], "big")
        src_key = _token_balance_key(to, sender)
        if (
            not 1 <= token_id <= state.get(_token_count_key)
            or amount > _MAX_UINT128
            or dst == _ZERO_ADDRESS
            or state.get(_allowlist_key(dst)) != 1
            or amount > state.get(src_key)
            or state.get(_asset_key_of(to))
        ):
            return None
    price = min(max_fee, base_fee + tip_cap)
    cdef Py_ssize_t snapshot = len(state.journal)
    state.set(sender_key, (nonce + 1) << 128 | (balance - gas_limit * price))
    cdef list logs = []
    if is_token:
        state.set(src_key, state.get(src_key) - amount)
        dst_key = _token_balance_key(to, dst)
        state.set(dst_key, state.get(dst_key) + amount)
        # the recipient's topic and the data are the calldata's words (its address bytes 4:16 are zero)
        logs.append(_Log.make((to, [_TOPIC, _ZERO_12 + sender, data[4:36]], data[36:])))
    else:
        value = tx.value
        state.set(sender_key, state.get(sender_key) - value)
        if not _credit(state, _account_key(to), value):
            state.overlay.revert(snapshot)
            return None
    if not (
        _credit(state, sender_key, (gas_limit - gas_used) * price)
        and _credit(state, _coinbase_key(coinbase), gas_used * (price - base_fee))
    ):
        state.overlay.revert(snapshot)
        return None
    if is_token:
        return _TxOutcome.make((1, gas_used, price, logs, _RETURN))
    return _TxOutcome.make((1, gas_used, price, logs, b""))  # (logs: the empty list of the default)


cdef object _token_number(object to):
    """jovay.stf.system.is_system_contract's address test: -1 for a fixed system contract, the token's
    number for an address in the token range (a system contract if 1 <= number <= tokens created), None
    otherwise."""
    if to in _FIXED:
        return -1
    if not to.startswith(_PREFIX):
        return None
    return int.from_bytes(to[len(_PREFIX):], "big")


cdef bint _is_system(object state, object to) except -1:
    """jovay.stf.system.is_system_contract: a fixed system contract, or a token created so far."""
    number = _token_number(to)
    return number is not None and (number == -1 or 1 <= number <= state.get(_token_count_key))


cdef bint _is_system_in(_State state, object to) except -1:
    """`_is_system` on a block's overlay innards."""
    number = _token_number(to)
    return number is not None and (number == -1 or 1 <= number <= state.get(_token_count_key))


cdef bint _waits(_State state, object block_gas_limit, object base_fee, object signed_tx,
                 object gas_left) except -1:
    """Whether the general path would raise NotYetValid from its static checks and the gas left (a
    fee below the base fee, or no room left in the block) without touching the state: every rule
    before those holds. Once a block is full, every pooled transaction left gets here; the general
    path would cost a Python call chain and an exception each."""
    tx = signed_tx.tx
    to = tx.to
    cdef bytes data = tx.data
    if to is None or tx.access_list or (data and not _is_system_in(state, to)):
        return False
    cdef Py_ssize_t zeros = data.count(0)
    needed = _TX_BASE_GAS + zeros * _ZERO_GAS + (len(data) - zeros) * _NONZERO_GAS
    gas_limit = tx.gas_limit
    max_fee = tx.max_fee_per_gas
    if gas_limit < needed or gas_limit > block_gas_limit or tx.max_priority_fee_per_gas > max_fee:
        return False
    return max_fee < base_fee or gas_limit > gas_left


def check_admission(state, env, signed_tx):
    """jovay.stf.transaction.pure_check_admission: the sender's account nonce for a transaction that
    passes admission's checks; whatever it does not settle here (an access list, contract creation, a
    failing check: every error) is the pure function's to decide."""
    if not _ready:
        _load()
    tx = signed_tx.tx
    to = tx.to
    cdef bytes data = tx.data
    if to is None or tx.access_list or (data and not _is_system(state, to)):
        return _pure_check_admission(state, env, signed_tx)
    cdef Py_ssize_t zeros = data.count(0)
    needed = _TX_BASE_GAS + zeros * _ZERO_GAS + (len(data) - zeros) * _NONZERO_GAS
    gas_limit = tx.gas_limit
    max_fee = tx.max_fee_per_gas
    if (
        gas_limit < needed
        or gas_limit > env.gas_limit
        or tx.max_priority_fee_per_gas > max_fee
        or max_fee < env.base_fee
    ):
        return _pure_check_admission(state, env, signed_tx)
    account = state.get(_account_key(signed_tx.sender))
    if not 0 <= account < _ACCOUNT_LIMIT or (account & _MAX_UINT128) < gas_limit * max_fee + tx.value:
        return _pure_check_admission(state, env, signed_tx)
    return account >> 128


cdef inline object _tip(object signed, object base_fee):
    tx = signed.tx
    return min(tx.max_priority_fee_per_gas, tx.max_fee_per_gas - base_fee)


cdef object _LOW_64 = (1 << 64) - 1


cdef inline object _heap_key(object signed, object base_fee, Py_ssize_t queue, Py_ssize_t pos):
    """The pure fill's heap entry `(-tip, queue, pos)` as one int that orders the same way
    (`-tip * 2^64 + queue * 2^32 + pos`; queue and pos < 2^32): an int comparison instead of a
    tuple's, which with equal tips compared two items per step, and no tuple per entry."""
    return (-_tip(signed, base_fee) << 64) | (<unsigned long long> queue << 32 | <unsigned long long> pos)


cdef Py_ssize_t _purge_min_heap = 64  # smaller pools are passed over one pop at a time
cdef Py_ssize_t _PURGE_PERIOD = 8  # another purge once the pops since the last reach len(heap) / 8


def _set_purge_min_heap(Py_ssize_t size):
    """Tests: the smallest heap `fill_from_queues` purges (so small pools exercise it); the old value."""
    global _purge_min_heap
    old, _purge_min_heap = _purge_min_heap, size
    return old


def fill_from_queues(execution, queues, limit):
    """jovay.stf.block.fill_from_queues (same signature and results), the transfer fast path inlined.

    Once a pooled transaction can only wait (`_waits`), the heap is purged of every entry whose
    next transaction can only wait too, in one pass, instead of popping each in turn: a full token
    block leaves most of the pool to the next one, and popping it cost ~2 us per pooled transaction
    per block. Waiting stays true for the rest of the block (the gas left only shrinks, the base fee
    and a transaction's static rules do not change, tokens are only ever added), and an entry that
    waits has no effect (no write, its sender's later transactions not tried), so the block's
    transactions, drops and order are those of the plain loop; `stopped` is too (`_purged_left`)."""
    if not _ready:
        _load()
    overlay = execution.state
    if type(overlay) is not _StateOverlay:
        from jovay.stf import block

        return block.pure_fill_from_queues(execution, queues, limit)
    cdef _State state = _State(overlay)
    env = execution.env
    base_fee = env.base_fee
    block_gas_limit = env.gas_limit
    cdef bytes coinbase = env.coinbase
    cdef list executed = execution.executed
    if len(queues) >= (<Py_ssize_t> 1 << 32):  # (the heap keys' bound; a pool never comes near it)
        from jovay.stf import block

        return block.pure_fill_from_queues(execution, queues, limit)
    cdef Py_ssize_t i
    cdef list heap = [_heap_key(queue[0], base_fee, i, 0) for i, queue in enumerate(queues)]
    _heapify(heap)
    cdef list included = []
    cdef list dropped = []
    cdef Py_ssize_t max_count = limit
    cdef Py_ssize_t pos
    cdef list queue
    cdef unsigned long long low
    cdef list purged_largest = []  # per purge: the largest heap entry it set aside
    cdef list purged_marks = []  # per purge: how many entries had been popped after the first purge
    cdef list popped = []  # the heap entries popped since the first purge
    cdef Py_ssize_t pops_since_purge = 0
    while heap and len(included) < max_count and block_gas_limit - execution.gas_used >= _TX_BASE_GAS:
        entry = _heappop(heap)
        if purged_largest:
            popped.append(entry)
        pops_since_purge += 1
        low = entry & _LOW_64
        i = <Py_ssize_t> (low >> 32)
        pos = <Py_ssize_t> (low & 0xFFFFFFFF)
        queue = queues[i]
        signed = queue[pos]
        gas_left = block_gas_limit - execution.gas_used
        outcome = _apply(state, block_gas_limit, base_fee, coinbase, signed, gas_left)
        if outcome is not None:
            execution.gas_used += (<object> outcome).gas_used
            execution.has_transactions = True
            executed.append(_ExecutedTx.make((signed.raw, signed.hash, signed.sender, signed, outcome)))
            included.append(signed)
        elif _waits(state, block_gas_limit, base_fee, signed, gas_left):
            # NotYetValid, as below, decided without the general path's call and exception
            if len(heap) >= _purge_min_heap and (
                not purged_largest or pops_since_purge * _PURGE_PERIOD >= len(heap)
            ):
                heap, largest = _purge(state, heap, queues, block_gas_limit, base_fee, gas_left)
                pops_since_purge = 0
                if largest is not None:
                    purged_largest.append(largest)
                    purged_marks.append(len(popped))
            continue
        else:
            try:
                execution.add_transaction(signed)
            except _NotYetValid:
                continue  # a nonce gap, a full block or a fee below the base fee: wait for a later block
            except _InvalidTransaction as exc:
                dropped.append((signed, exc))
                if not isinstance(exc, _NonceTooLow):
                    continue  # the sender's later transactions cannot follow this one in this block
            else:
                included.append(signed)
        if pos + 1 < len(queue):
            _heappush(heap, _heap_key(queue[pos + 1], base_fee, i, pos + 1))
    if heap or not purged_largest:
        return included, dropped, bool(heap)
    if len(included) < max_count and block_gas_limit - execution.gas_used >= _TX_BASE_GAS:
        return included, dropped, False  # the plain loop would pop the set-aside entries (all wait)
    return included, dropped, _purged_left(purged_largest, purged_marks, popped)


cdef tuple _purge(_State state, list heap, list queues, object block_gas_limit, object base_fee,
                  object gas_left):
    """(the heap without the entries whose next transaction can only wait, re-heapified; the largest
    entry set aside, None when none was)."""
    cdef list kept = []
    cdef unsigned long long low
    largest = None
    for entry in heap:
        low = entry & _LOW_64
        signed = (<list> queues[<Py_ssize_t> (low >> 32)])[<Py_ssize_t> (low & 0xFFFFFFFF)]
        if _waits(state, block_gas_limit, base_fee, signed, gas_left):
            if largest is None or entry > largest:
                largest = entry
        else:
            kept.append(entry)
    if largest is None:
        return heap, None
    _heapify(kept)
    return kept, largest


cdef bint _purged_left(list purged_largest, list purged_marks, list popped) except -1:
    """Whether the plain loop, stopped by a limit, would still hold an entry a purge set aside. The
    loop pops an entry once it is the smallest left, so an entry set aside is gone by the time the
    loop stops if and only if an entry larger than it was popped after its purge."""
    largest_after = None
    cdef Py_ssize_t k = len(popped)
    cdef Py_ssize_t b
    for b in range(len(purged_largest) - 1, -1, -1):
        while k > <Py_ssize_t> purged_marks[b]:
            k -= 1
            if largest_after is None or popped[k] > largest_after:
                largest_after = popped[k]
        if largest_after is None or purged_largest[b] > largest_after:
            return True
    return False


cdef struct bloom_slot:
    uint8_t value[BLOOM_VALUE_MAX]  # the address or topic, its first `length` bytes
    uint16_t bits[3]  # its three bloom bit numbers (< 2048)
    uint8_t length  # 0: an empty slot (an empty value is never cached)


cdef bloom_slot *_bloom_slots = NULL  # the bloom-bits cache: direct-mapped, allocated on first use
cdef Py_ssize_t _bloom_slot_count = 0  # its size, a power of two (BLOOM_CACHE_SIZE of jovay.codec.blocks)
cdef unsigned long long _bloom_hits = 0
cdef unsigned long long _bloom_misses = 0


cdef bint _bloom_table(Py_ssize_t slots) except -1:
    """(Re)allocate the bloom-bits cache with `slots` empty slots (a power of two); False when the
    memory is not there (every value is then hashed)."""
    global _bloom_slots, _bloom_slot_count
    free(_bloom_slots)
    _bloom_slots = <bloom_slot *> calloc(slots, sizeof(bloom_slot))
    _bloom_slot_count = slots if _bloom_slots != NULL else 0
    return _bloom_slots != NULL


def _set_bloom_cache_slots(Py_ssize_t slots):
    """Tests and benchmarks: a fresh, empty bloom-bits cache of `slots` slots (a power of two >= 1)."""
    if slots < 1 or slots & (slots - 1):
        raise ValueError(f"bloom cache slots must be a power of two, not {slots}")
    _bloom_table(slots)


def _bloom_cache_stats():
    """(hits, misses) of the bloom-bits cache since the process started (benchmarks)."""
    return _bloom_hits, _bloom_misses


cdef inline size_t _bloom_slot_of(const uint8_t *value, size_t length) noexcept:
    """The slot of a value of at most BLOOM_VALUE_MAX bytes: its bytes mixed 8 at a time (an
    address's or a holder word's varying bytes are at its end, so all of them count)."""
    cdef uint8_t padded[BLOOM_VALUE_MAX]
    cdef uint64_t lane, h = length * 0x9E3779B97F4A7C15ULL
    cdef int i
    memset(padded, 0, BLOOM_VALUE_MAX)
    memcpy(padded, value, length)
    for i in range(0, BLOOM_VALUE_MAX, 8):
        memcpy(&lane, padded + i, 8)
        h = (h ^ lane) * 0xFF51AFD7ED558CCDULL
        h ^= h >> 32
    return <size_t> (h & <uint64_t> (_bloom_slot_count - 1))


cdef inline void _bloom_bits_of(const uint8_t *value, size_t length, uint16_t bits[3]) noexcept:
    """The three bloom bit numbers of a value (yellow paper M3:2048): keccak.c."""
    cdef uint8_t digest[32]
    cdef int i
    jovay_keccak256(value, length, digest)
    for i in range(3):
        bits[i] = ((<uint16_t> digest[2 * i] << 8) | digest[2 * i + 1]) & 2047


cdef void _bloom_add(uint8_t *bloom, bytes value) except *:
    """Set the three bloom bits of one address or topic in a big-endian bloom. A keccak costs ~0.5 us,
    so the bit numbers of recent values are kept in a direct-mapped table of plain C slots (a slot
    holds the value itself, so a hit is exact; a collision only evicts): the token addresses and
    topics come back in every block, a holder's word whenever it transfers again, and with 100k
    holders the dictionary that cleared itself at 2^16 entries missed most of them."""
    global _bloom_hits, _bloom_misses
    cdef const uint8_t *data = <const uint8_t *> PyBytes_AS_STRING(value)
    cdef size_t length = <size_t> PyBytes_GET_SIZE(value)
    cdef uint16_t computed[3]
    cdef const uint16_t *bits = computed
    cdef bloom_slot *slot = NULL
    cdef int i
    if 0 < length <= BLOOM_VALUE_MAX and (_bloom_slots != NULL or _bloom_table(_BLOOM_SLOTS)):
        slot = &_bloom_slots[_bloom_slot_of(data, length)]
        if slot.length == length and memcmp(slot.value, data, length) == 0:
            _bloom_hits += 1
            bits = slot.bits
        else:
            _bloom_misses += 1
            _bloom_bits_of(data, length, slot.bits)
            memcpy(slot.value, data, length)
            slot.length = <uint8_t> length
            bits = slot.bits
    else:
        _bloom_bits_of(data, length, computed)
    for i in range(3):
        bloom[BLOOM_BYTES - 1 - (bits[i] >> 3)] |= <uint8_t> (1 << (bits[i] & 7))


cdef object _logs_bloom(object logs):
    """jovay.codec.blocks.logs_bloom of a non-empty log list, keccak in C; a log whose address or
    topics are not plain bytes goes to the pure function whole."""
    cdef uint8_t bloom[BLOOM_BYTES]
    memset(bloom, 0, BLOOM_BYTES)
    for log in logs:
        address = log.address
        if type(address) is not bytes:
            return _pure_logs_bloom(logs)
        _bloom_add(bloom, <bytes> address)
        for topic in log.topics:
            if type(topic) is not bytes:
                return _pure_logs_bloom(logs)
            _bloom_add(bloom, <bytes> topic)
    return PyBytes_FromStringAndSize(<char *> bloom, BLOOM_BYTES)


def build_receipts(executed):
    """jovay.stf.block.pure_build_receipts (same signature and results), the log blooms in C."""
    if not _ready:
        _load()
    cdef list receipts = []
    cumulative = 0
    for item in executed:
        outcome = item.outcome
        cumulative += outcome.gas_used
        logs = outcome.logs
        bloom = _logs_bloom(logs) if logs else _EMPTY_BLOOM
        receipts.append(_Receipt.make((item.tx_type, outcome.status, cumulative, logs, bloom)))
    return receipts


def combined_bloom(receipts):
    """jovay.stf.block.pure_combined_bloom: the OR of the receipts' blooms (the header's logsBloom),
    byte by byte; a bloom that is not 256 plain bytes goes to the pure function."""
    if not _ready:
        _load()
    cdef uint8_t bloom[BLOOM_BYTES]
    cdef const uint8_t *other
    cdef Py_ssize_t i
    memset(bloom, 0, BLOOM_BYTES)
    for receipt in receipts:
        value = receipt.bloom
        if value is _EMPTY_BLOOM:
            continue
        if type(value) is not bytes or PyBytes_GET_SIZE(value) != BLOOM_BYTES:
            return _pure_combined_bloom(receipts)
        other = <const uint8_t *> PyBytes_AS_STRING(value)
        for i in range(BLOOM_BYTES):
            bloom[i] |= other[i]
    return PyBytes_FromStringAndSize(<char *> bloom, BLOOM_BYTES)
