# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twins of jovay/storage/records.py and of jovay.codec.blocks' `pure_encode_receipt`.

What `Chain.seal` writes after the state root is known, built in one call per block instead of a few
Python calls per tree node, leaf and receipt: the LMDB (key, record) pairs of the block's new tree
nodes and leaf writes (sorted by key: LMDB inserts sorted keys ~25% faster, its cursor stays near
the previous page), the stale list, the transaction index, and the RLP of the block's receipts.
Every function returns exactly what its pure twin returns (tests/native/test_blockwrite_native.py).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_AsUnsignedLongLong
from libc.stdint cimport uint8_t, uint64_t
from libc.stdlib cimport free, malloc, qsort, realloc
from libc.string cimport memcmp, memcpy, memmove

cdef extern from *:
    """
    #include <Python.h>
    /* int -> n bytes big-endian, unsigned; -1 with OverflowError (too big or negative). */
    static int jovay_int_to_be(PyObject *v, unsigned char *out, size_t n) {
    #if PY_VERSION_HEX >= 0x030D0000
        return _PyLong_AsByteArray((PyLongObject *)v, out, n, 0, 0, 1);
    #else
        return _PyLong_AsByteArray((PyLongObject *)v, out, n, 0, 0);
    #endif
    }
    static size_t jovay_int_bits(PyObject *v) { return _PyLong_NumBits(v); }
    """
    int jovay_int_to_be(object v, unsigned char *out, size_t n) except -1
    size_t jovay_int_bits(object v) except? <size_t>-1

cdef enum:
    HASH_SIZE = 32
    NODE_SIZE = 65  # tag, then two 32-byte field elements (jovay.state.smt.encode_node)
    MAX_HEADER = 9  # an RLP header: one byte, then up to 8 length bytes


# --- fixed-width records ----------------------------------------------------------------------------

cdef inline void _put_u64(unsigned char *out, uint64_t n) noexcept:
    cdef int i
    for i in range(7, -1, -1):
        out[i] = <unsigned char> (n & 0xFF)
        n >>= 8


cdef inline bytes _key32(object n):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, HASH_SIZE)
    jovay_int_to_be(n, <unsigned char *> PyBytes_AS_STRING(out), HASH_SIZE)
    return out


cdef extern from "Python.h":
    int PyGC_Disable()
    int PyGC_Enable()
    void PyObject_GC_UnTrack(object op)


cdef inline tuple _pair(object first, object second):
    """(first, second) of two bytes: never in a cycle, so untracked at once (no collector pass visits it)."""
    cdef tuple pair = (first, second)
    PyObject_GC_UnTrack(pair)
    return pair


cdef struct KeyIndex:
    uint64_t prefix  # the key's first 8 bytes, big-endian: most comparisons end there
    unsigned char key[HASH_SIZE]
    Py_ssize_t index


cdef int _compare_keys(const void *a, const void *b) noexcept nogil:
    cdef const KeyIndex *x = <const KeyIndex *> a
    cdef const KeyIndex *y = <const KeyIndex *> b
    if x.prefix != y.prefix:
        return -1 if x.prefix < y.prefix else 1
    return memcmp(x.key, y.key, HASH_SIZE)


cdef inline uint64_t _prefix(const unsigned char *key) noexcept nogil:
    cdef uint64_t n = 0
    cdef int i
    for i in range(8):
        n = (n << 8) | key[i]
    return n


cdef enum:
    NOGIL_SORT_KEYS = 1024  # fewer keys sort in < ~50 us: giving the GIL away would cost more


cdef void _sort_keys(KeyIndex *order, Py_ssize_t n) noexcept:
    """qsort by key, with the GIL released for a block's worth of keys (admission runs meanwhile)."""
    if n < NOGIL_SORT_KEYS:
        qsort(order, n, sizeof(KeyIndex), _compare_keys)
    else:
        with nogil:
            qsort(order, n, sizeof(KeyIndex), _compare_keys)


cdef list _sorted_pairs(list keys, list values):
    """[(keys[i], values[i])] in key order (keys: distinct 32-byte strings)."""
    cdef Py_ssize_t n = len(keys), i
    cdef KeyIndex *order = <KeyIndex *> malloc((n or 1) * sizeof(KeyIndex))
    cdef list out = [None] * n
    cdef const unsigned char *key
    if order == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            key = <const unsigned char *> PyBytes_AS_STRING(keys[i])
            order[i].prefix = _prefix(key)
            memcpy(order[i].key, key, HASH_SIZE)
            order[i].index = i
        _sort_keys(order, n)
        for i in range(n):
            out[i] = _pair(keys[order[i].index], values[order[i].index])
    finally:
        free(order)
    return out


def node_records(items) -> list:
    """[(key32(hash), encode_node(node))] for the (hash, (tag, a, b)) `items`, by key."""
    cdef int gc_was_on = PyGC_Disable()  # ~100k new tuples, none cyclic: no collection passes meanwhile
    try:
        return _node_records(items)
    finally:
        if gc_was_on:
            PyGC_Enable()


cdef list _node_records(items):
    cdef list keys = []
    cdef list values = []
    cdef bytes record
    cdef unsigned char *out
    cdef object node_hash, node, tag
    cdef tuple triple
    for node_hash, node in items:
        triple = <tuple?> node
        if len(triple) != 3:
            raise ValueError(f"not a tree node: {node!r}")
        tag = triple[0]
        if tag != 0 and tag != 1:
            raise ValueError(f"unknown tree node tag {tag!r}")
        record = PyBytes_FromStringAndSize(NULL, NODE_SIZE)
        out = <unsigned char *> PyBytes_AS_STRING(record)
        out[0] = 1 if tag == 1 else 0
        jovay_int_to_be(triple[1], out + 1, HASH_SIZE)
        jovay_int_to_be(triple[2], out + 1 + HASH_SIZE, HASH_SIZE)
        keys.append(_key32(node_hash))
        values.append(record)
    return _sorted_pairs(keys, values)


def leaf_records(items) -> tuple:
    """([(key32(key), key32(value))] for the (key, value) `items` with a non-zero value, by key;
    [key32(key)] for the zeros)."""
    cdef int gc_was_on = PyGC_Disable()  # (as in node_records)
    try:
        return _leaf_records(items)
    finally:
        if gc_was_on:
            PyGC_Enable()


cdef tuple _leaf_records(items):
    cdef list keys = []
    cdef list values = []
    cdef list deleted = []
    cdef object key, value
    for key, value in items:
        if value:
            keys.append(_key32(key))
            values.append(_key32(value))
        else:
            deleted.append(_key32(key))
    return _sorted_pairs(keys, values), deleted


def joined_keys(hashes) -> bytes:
    """b"".join(sorted(key32(h) for h in hashes)): a block's stale list as the store takes it."""
    cdef list held = hashes if type(hashes) is list else list(hashes)
    cdef Py_ssize_t n = len(held), i
    cdef bytes out = PyBytes_FromStringAndSize(NULL, n * HASH_SIZE)
    cdef unsigned char *ptr = <unsigned char *> PyBytes_AS_STRING(out)
    cdef KeyIndex *order = <KeyIndex *> malloc((n or 1) * sizeof(KeyIndex))
    if order == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            jovay_int_to_be(held[i], order[i].key, HASH_SIZE)
            order[i].prefix = _prefix(order[i].key)
        _sort_keys(order, n)
        for i in range(n):
            memcpy(ptr + i * HASH_SIZE, order[i].key, HASH_SIZE)
    finally:
        free(order)
    return out


def history_records(pop, bytes stale_keys, bytes number_key) -> list:
    """[(number_key, key + pop(key))] for each 32-byte key of `stale_keys` that `pop` finds (not None), in
    order: the store moving a block's dropped nodes into its history (jovay.storage.store's
    `history_records`), one C loop instead of a Python one per node."""
    cdef Py_ssize_t n = PyBytes_GET_SIZE(stale_keys), start
    cdef const char *keys = PyBytes_AS_STRING(stale_keys)
    cdef list moved = []
    cdef bytes key, record, found
    cdef Py_ssize_t size
    if n % HASH_SIZE:
        raise ValueError(f"stale keys of {n} bytes are not 32-byte keys end to end")
    for start in range(0, n, HASH_SIZE):
        key = PyBytes_FromStringAndSize(keys + start, HASH_SIZE)
        node = pop(key)
        if node is None:
            continue
        found = node if type(node) is bytes else bytes(node)
        size = PyBytes_GET_SIZE(found)
        record = PyBytes_FromStringAndSize(NULL, HASH_SIZE + size)
        memcpy(PyBytes_AS_STRING(record), keys + start, HASH_SIZE)
        memcpy(PyBytes_AS_STRING(record) + HASH_SIZE, PyBytes_AS_STRING(found), size)
        moved.append(_pair(number_key, record))
    return moved


def tx_locations(tx_hashes, uint64_t number) -> list:
    """[(tx_hash, u64(number) + u32(index))]: the transaction index entries of one block."""
    cdef int gc_was_on = PyGC_Disable()  # (as in node_records)
    try:
        return _tx_locations(tx_hashes, number)
    finally:
        if gc_was_on:
            PyGC_Enable()


cdef list _tx_locations(tx_hashes, uint64_t number):
    cdef list out = []
    cdef bytes location
    cdef unsigned char *ptr
    cdef Py_ssize_t index = 0
    for tx_hash in tx_hashes:
        location = PyBytes_FromStringAndSize(NULL, 12)
        ptr = <unsigned char *> PyBytes_AS_STRING(location)
        _put_u64(ptr, number)
        ptr[8] = <unsigned char> ((index >> 24) & 0xFF)
        ptr[9] = <unsigned char> ((index >> 16) & 0xFF)
        ptr[10] = <unsigned char> ((index >> 8) & 0xFF)
        ptr[11] = <unsigned char> (index & 0xFF)
        if index > 0xFFFFFFFF:
            raise OverflowError("more than 2**32 transactions in a block")
        out.append(_pair(tx_hash, location))
        index += 1
    return out


# --- RLP writer -------------------------------------------------------------------------------------

cdef struct Writer:
    unsigned char *buf
    size_t length
    size_t capacity


cdef int _reserve(Writer *w, size_t extra) except -1:
    cdef size_t wanted = w.length + extra
    cdef size_t capacity = w.capacity or 4096
    cdef unsigned char *grown
    if wanted <= w.capacity:
        return 0
    while capacity < wanted:
        capacity *= 2
    grown = <unsigned char *> realloc(w.buf, capacity)
    if grown == NULL:
        raise MemoryError()
    w.buf = grown
    w.capacity = capacity
    return 0


cdef inline size_t _length_bytes(size_t n) noexcept:
    cdef size_t count = 0
    while n:
        count += 1
        n >>= 8
    return count


cdef int _header(Writer *w, size_t payload, unsigned char offset) except -1:
    """An RLP string (offset 0x80) or list (0xc0) header for a payload of `payload` bytes."""
    cdef size_t count, i
    _reserve(w, MAX_HEADER)
    if payload < 56:
        w.buf[w.length] = offset + <unsigned char> payload
        w.length += 1
        return 0
    count = _length_bytes(payload)
    w.buf[w.length] = offset + 55 + <unsigned char> count
    for i in range(count):
        w.buf[w.length + count - i] = <unsigned char> ((payload >> (8 * i)) & 0xFF)
    w.length += 1 + count
    return 0


cdef int _raw(Writer *w, const unsigned char *data, size_t n) except -1:
    _reserve(w, n)
    memcpy(w.buf + w.length, data, n)
    w.length += n
    return 0


cdef int _string(Writer *w, const unsigned char *data, size_t n) except -1:
    """RLP of a byte string (`encode_bytes`)."""
    if n == 1 and data[0] < 0x80:
        return _raw(w, data, 1)
    _header(w, n, 0x80)
    return _raw(w, data, n)


cdef int _bytes(Writer *w, object data) except -1:
    cdef bytes raw = data if type(data) is bytes else bytes(data)
    return _string(w, <const unsigned char *> PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))


cdef int _uint(Writer *w, object value) except -1:
    """RLP of a non-negative integer (`encode_uint`)."""
    cdef unsigned char small[64]
    cdef size_t nbytes
    cdef bytes big
    if value < 0:
        raise ValueError(f"cannot RLP-encode negative integer {value}")
    nbytes = (jovay_int_bits(value) + 7) // 8
    if nbytes == 0:
        return _raw(w, <const unsigned char *> b"\x80", 1)
    if nbytes <= 64:
        jovay_int_to_be(value, small, nbytes)
        return _string(w, small, nbytes)
    big = value.to_bytes(nbytes, "big")
    return _string(w, <const unsigned char *> PyBytes_AS_STRING(big), nbytes)


cdef inline size_t _open_list(Writer *w) except? <size_t>-1:
    """Room for the list's header; `_close_list` writes it once the payload length is known."""
    cdef size_t start = w.length
    _reserve(w, MAX_HEADER)
    w.length += MAX_HEADER
    return start


cdef int _close_list(Writer *w, size_t start) except -1:
    cdef size_t payload = w.length - start - MAX_HEADER
    cdef size_t header_end
    w.length = start
    _header(w, payload, 0xC0)
    header_end = w.length
    memmove(w.buf + header_end, w.buf + start + MAX_HEADER, payload)
    w.length = header_end + payload
    return 0


cdef int _logs(Writer *w, object logs) except -1:
    """[[address, [topics...], data]...] (the same shape in both receipt encodings)."""
    cdef size_t outer = _open_list(w), one, topics
    for log in logs:
        one = _open_list(w)
        _bytes(w, log.address)
        topics = _open_list(w)
        for topic in log.topics:
            _bytes(w, topic)
        _close_list(w, topics)
        _bytes(w, log.data)
        _close_list(w, one)
    _close_list(w, outer)
    return 0


cdef bytes _finish(Writer *w):
    try:
        return PyBytes_FromStringAndSize(<char *> w.buf, w.length)
    finally:
        free(w.buf)
        w.buf = NULL


def encode_receipts(executed, receipts) -> bytes:
    """A block's receipts as stored (jovay.storage.records.encode_receipts): per transaction
    [type, status, cumulative gas, logs, bloom, gas used, effective gas price, return data]."""
    cdef Writer w = Writer(NULL, 0, 0)
    cdef size_t outer, row
    cdef list items = executed if type(executed) is list else list(executed)
    cdef list rows = receipts if type(receipts) is list else list(receipts)
    if len(items) != len(rows):
        raise ValueError(f"{len(items)} executed transactions but {len(rows)} receipts")
    try:
        outer = _open_list(&w)
        for item, receipt in zip(items, rows):
            outcome = item.outcome
            row = _open_list(&w)
            _uint(&w, receipt.tx_type)
            _uint(&w, receipt.status)
            _uint(&w, receipt.cumulative_gas_used)
            _logs(&w, receipt.logs)
            _bytes(&w, receipt.bloom)
            _uint(&w, outcome.gas_used)
            _uint(&w, outcome.effective_gas_price)
            _bytes(&w, outcome.return_data)
            _close_list(&w, row)
        _close_list(&w, outer)
    except BaseException:
        free(w.buf)
        raise
    return _finish(&w)


def encode_receipt(receipt) -> bytes:
    """`type || rlp([status, cumulativeGasUsed, bloom, logs])`, no type byte for legacy
    (jovay.codec.blocks.pure_encode_receipt)."""
    cdef Writer w = Writer(NULL, 0, 0)
    cdef size_t body
    cdef unsigned char type_byte
    tx_type = receipt.tx_type
    try:
        if tx_type != 0:
            if not 0 < tx_type < 256:
                raise ValueError(f"receipt type {tx_type} does not fit in a byte")
            type_byte = <unsigned char> tx_type
            _raw(&w, &type_byte, 1)
        body = _open_list(&w)
        _uint(&w, receipt.status)
        _uint(&w, receipt.cumulative_gas_used)
        _bytes(&w, receipt.bloom)
        _logs(&w, receipt.logs)
        _close_list(&w, body)
    except BaseException:
        free(w.buf)
        raise
    return _finish(&w)


def encode_bytes_list(items) -> bytes:
    """RLP of a list of byte strings (a block's raw transactions: jovay.codec.blocks'
    `pure_encode_bytes_list`)."""
    cdef Writer w = Writer(NULL, 0, 0)
    cdef size_t outer
    try:
        outer = _open_list(&w)
        for item in items:
            _bytes(&w, item)
        _close_list(&w, outer)
    except BaseException:
        free(w.buf)
        raise
    return _finish(&w)


def drop_keys(dict mapping, keys) -> None:
    """Remove `keys` from `mapping` where present (the node cache forgetting a block's stale nodes): one
    lookup per key (a 256-bit int's hash is not cached, and the entry is a cache miss in a big dict)."""
    for key in keys:
        mapping.pop(key, None)
