# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twins of jovay.codec.transactions' `decode_transaction` and `decode_many` (same signatures,
results and errors).

The RLP walk, the range and signature-value checks, both keccak hashes (keccak.c) and the sender
recovery (libsecp256k1: the very library coincurve wraps and the pure decoder calls, its entry points
taken from coincurve's binding at run time) run in C with the GIL released, so that decoding on a pool
thread, or in an RPC handler, overlaps the sequencer thread; only the resulting Python objects (the
same classes the pure decoder builds) are made with the GIL. Only the plain, canonical shapes are
decoded here: a transaction with an access list, a malformed or non-canonical encoding, out-of-range
values, another chain's id, a signature that is not canonical or recovers no key, or anything else
unusual goes to the pure decoder, which raises the exact error (or decodes it) itself. So an input is
either decoded to the object the pure code builds, or handed to the pure code.
"""

from libc.stdint cimport uint8_t, uint64_t, uintptr_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcmp, memcpy, memset

from jovay._native._maker cimport Maker

# Field shapes of the RLP items: where the payload starts and ends in the raw bytes.
cdef struct span:
    Py_ssize_t start
    Py_ssize_t stop
    bint is_list

cdef enum:
    MAX_FIELDS = 12  # a type-2 transaction's
    MAX_TX_SIZE = 128 * 1024  # jovay.params.MAX_TX_SIZE; larger inputs go to the pure path

cdef object _pure = None


cdef Maker _DynamicFeeTx = None
cdef Maker _LegacyTx = None
cdef Maker _SignedTx = None


cdef object _pure_module():
    global _pure, _DynamicFeeTx, _LegacyTx, _SignedTx
    if _pure is None:
        from jovay.codec import transactions  # lazily: that module consults jovay._native

        _DynamicFeeTx = Maker(transactions.DynamicFeeTx, (
            "chain_id", "nonce", "max_priority_fee_per_gas", "max_fee_per_gas", "gas_limit", "to", "value",
            "data", "access_list", "y_parity", "r", "s"), untrack=True)
        _LegacyTx = Maker(transactions.LegacyTx, (
            "nonce", "gas_price", "gas_limit", "to", "value", "data", "chain_id", "y_parity", "r", "s"),
            untrack=True)
        _SignedTx = Maker(transactions.SignedTx, ("tx", "sender", "hash", "raw"), untrack=True)
        _pure = transactions
    return _pure


cdef inline int _item(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end, span *out) noexcept nogil:
    """The item at pos within [pos, end): 0 when it is canonical and fits, -1 otherwise."""
    cdef unsigned char b0 = buf[pos]
    cdef Py_ssize_t size, size_len, k
    if b0 < 0x80:
        out.start, out.stop, out.is_list = pos, pos + 1, False
        return 0
    if b0 < 0xB8:
        size = b0 - 0x80
        if size == 1 and (pos + 1 >= end or buf[pos + 1] < 0x80):
            return -1
        out.start, out.stop, out.is_list = pos + 1, pos + 1 + size, False
    elif b0 < 0xC0 or b0 >= 0xF8:
        size_len = (b0 - 0xB7) if b0 < 0xC0 else (b0 - 0xF7)
        if pos + 1 + size_len > end or buf[pos + 1] == 0 or size_len > 4:
            return -1
        size = 0
        for k in range(size_len):
            size = size << 8 | buf[pos + 1 + k]
        if size < 56:
            return -1
        out.start, out.stop, out.is_list = pos + 1 + size_len, pos + 1 + size_len + size, b0 >= 0xF8
    else:
        out.start, out.stop, out.is_list = pos + 1, pos + 1 + b0 - 0xC0, True
    return 0 if out.stop <= end else -1


cdef inline int _fields(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end,
                        span *fields) noexcept nogil:
    """The items of the one list filling buf[pos:end]; their count, or -1."""
    cdef span outer
    if pos >= end or _item(buf, pos, end, &outer) != 0 or not outer.is_list or outer.stop != end:
        return -1
    cdef int n = 0
    pos = outer.start
    while pos < end:
        if n == MAX_FIELDS or _item(buf, pos, end, &fields[n]) != 0:
            return -1
        pos = fields[n].stop
        n += 1
    return n


cdef inline Py_ssize_t _encoded_len(const span *f, const unsigned char *buf) noexcept nogil:
    """Bytes the item takes in its list (header included); the items here are canonical strings."""
    cdef Py_ssize_t n = f.stop - f.start
    if n == 1 and buf[f.start] < 0x80:
        return 1  # a single byte below 0x80 is its own encoding (_item refuses it wrapped)
    if n < 56:
        return 1 + n
    cdef Py_ssize_t size_len = 1
    while n >> (8 * size_len):
        size_len += 1
    return 1 + size_len + n


cdef inline Py_ssize_t _first_item_offset(const unsigned char *buf, Py_ssize_t pos) noexcept nogil:
    """Where the items of the (valid) list at pos begin: just past its header."""
    cdef unsigned char b0 = buf[pos]
    return pos + 1 if b0 < 0xF8 else pos + 1 + (b0 - 0xF7)


# --- checks, hashing and recovery without the GIL ----------------------------------------------------


cdef extern from "keccak.h":
    void jovay_keccak256(const uint8_t *data, size_t length, uint8_t *out) nogil

ctypedef int (*parse_compact_fn)(const void *ctx, void *sig, const uint8_t *input64, int recid) noexcept nogil
ctypedef int (*recover_fn)(const void *ctx, void *pubkey, const void *sig,
                          const uint8_t *msg32) noexcept nogil
ctypedef int (*serialize_fn)(const void *ctx, uint8_t *output, size_t *outputlen, const void *pubkey,
                             unsigned int flags) noexcept nogil

cdef struct secp_api:
    const void *ctx
    parse_compact_fn parse_compact
    recover_fn recover
    serialize_fn serialize
    unsigned int uncompressed

cdef secp_api _secp
cdef int _secp_state = 0  # 0 not looked up yet, 1 ready, -1 unavailable (the pure decoder serves)

# secp256k1's group order n and n/2, big-endian (jovay.crypto.secp256k1.SECP256K1_N / _HALF_N).
cdef uint8_t[32] _N = [
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE,
    0xBA, 0xAE, 0xDC, 0xE6, 0xAF, 0x48, 0xA0, 0x3B, 0xBF, 0xD2, 0x5E, 0x8C, 0xD0, 0x36, 0x41, 0x41]
cdef uint8_t[32] _HALF_N = [
    0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x5D, 0x57, 0x6E, 0x73, 0x57, 0xA4, 0x50, 0x1D, 0xDF, 0xE9, 0x2F, 0x46, 0x68, 0x1B, 0x20, 0xA0]

cdef enum:
    KIND_LEGACY = 0
    KIND_DYNAMIC = 2
    MAX_HEADER = 9  # an RLP list header: 1 byte + up to 8 length bytes
    SIG_STRUCT_BYTES = 65  # secp256k1_ecdsa_recoverable_signature (opaque, 65 bytes)
    PUBKEY_STRUCT_BYTES = 64  # secp256k1_pubkey (opaque, 64 bytes)


cdef struct decoded_tx:
    int ok  # 1: decoded here; 0: the pure decoder decides
    int kind
    span f[MAX_FIELDS]
    uint8_t sender[20]
    uint8_t tx_hash[32]


cdef int _load_secp() except -1:
    """libsecp256k1's entry points and context, taken from coincurve's cffi binding at run time (no
    build-time dependency on its headers or library)."""
    global _secp_state
    try:
        from coincurve._libsecp256k1 import ffi, lib
        from coincurve.context import GLOBAL_CONTEXT

        _secp.ctx = <const void *> <uintptr_t> int(ffi.cast("uintptr_t", GLOBAL_CONTEXT.ctx))
        _secp.parse_compact = <parse_compact_fn> <uintptr_t> int(
            ffi.cast("uintptr_t", ffi.addressof(lib, "secp256k1_ecdsa_recoverable_signature_parse_compact"))
        )
        _secp.recover = <recover_fn> <uintptr_t> int(
            ffi.cast("uintptr_t", ffi.addressof(lib, "secp256k1_ecdsa_recover"))
        )
        _secp.serialize = <serialize_fn> <uintptr_t> int(
            ffi.cast("uintptr_t", ffi.addressof(lib, "secp256k1_ec_pubkey_serialize"))
        )
        _secp.uncompressed = lib.SECP256K1_EC_UNCOMPRESSED
        _secp_state = 1
    except (ImportError, AttributeError, TypeError):
        _secp_state = -1
    return 0


cdef inline bint _canonical_uint(const unsigned char *buf, const span *f,
                                 Py_ssize_t max_bytes) noexcept nogil:
    """`_uint` would give a value: a string of at most max_bytes bytes without a leading zero."""
    cdef Py_ssize_t n = f.stop - f.start
    return not f.is_list and n <= max_bytes and (n == 0 or buf[f.start] != 0)


cdef inline uint64_t _u64(const unsigned char *buf, const span *f) noexcept nogil:
    """The value of a canonical integer of at most 8 bytes."""
    cdef uint64_t value = 0
    cdef Py_ssize_t k
    for k in range(f.start, f.stop):
        value = value << 8 | buf[k]
    return value


cdef inline int _cmp_uint(const unsigned char *buf, const span *a, const span *b) noexcept nogil:
    """Compare two canonical big-endian integers: <0, 0, >0."""
    cdef Py_ssize_t na = a.stop - a.start, nb = b.stop - b.start
    if na != nb:
        return -1 if na < nb else 1
    return memcmp(buf + a.start, buf + b.start, na) if na else 0


cdef inline void _pad32(const unsigned char *buf, const span *f, uint8_t *out) noexcept nogil:
    cdef Py_ssize_t n = f.stop - f.start
    memset(out, 0, 32 - n)
    memcpy(out + 32 - n, buf + f.start, n)


cdef inline bint _is_zero32(const uint8_t *v) noexcept nogil:
    cdef int k
    for k in range(32):
        if v[k]:
            return False
    return True


cdef inline Py_ssize_t _list_header(uint8_t *out, Py_ssize_t length) noexcept nogil:
    """Write the RLP list header of a payload of `length` bytes; its size."""
    if length < 56:
        out[0] = 0xC0 + length
        return 1
    cdef Py_ssize_t size_len = 1, k
    while length >> (8 * size_len):
        size_len += 1
    out[0] = 0xF7 + size_len
    for k in range(size_len):
        out[1 + k] = (length >> (8 * (size_len - 1 - k))) & 0xFF
    return 1 + size_len


cdef inline Py_ssize_t _encode_small_uint(uint8_t *out, uint64_t value) noexcept nogil:
    """RLP of an integer below 2^64 (encode_uint); its size."""
    if value == 0:
        out[0] = 0x80
        return 1
    if value < 0x80:
        out[0] = <uint8_t> value
        return 1
    cdef Py_ssize_t n = 0, k
    cdef uint64_t rest = value
    while rest:
        n += 1
        rest >>= 8
    out[0] = 0x80 + n
    for k in range(n):
        out[1 + k] = (value >> (8 * (n - 1 - k))) & 0xFF
    return 1 + n


cdef bint _check_and_recover(const unsigned char *buf, Py_ssize_t size, uint64_t want,
                             decoded_tx *d) noexcept nogil:
    """Shape, ranges, chain id, signature values; then hashes and recovers the sender into `d`.
    False where the pure decoder must decide (an error to raise, or an unusual but valid shape)."""
    cdef span *f = d.f
    cdef int i, sig_at, y_parity
    cdef uint64_t v, chain_id
    cdef Py_ssize_t list_at
    if buf[0] == 2:
        d.kind = KIND_DYNAMIC
        list_at = 1
        if _fields(buf, 1, size, f) != 12:
            return False
        for i in range(12):
            if f[i].is_list and i != 8:
                return False
        if not f[8].is_list or f[8].stop != f[8].start or f[5].stop - f[5].start != 20:
            return False
        if not (_canonical_uint(buf, &f[0], 8) and _canonical_uint(buf, &f[1], 8)
                and _canonical_uint(buf, &f[2], 32) and _canonical_uint(buf, &f[3], 32)
                and _canonical_uint(buf, &f[4], 8) and _canonical_uint(buf, &f[6], 32)
                and _canonical_uint(buf, &f[9], 1)):
            return False
        if _u64(buf, &f[0]) != want or _cmp_uint(buf, &f[2], &f[3]) > 0:
            return False
        y_parity = <int> _u64(buf, &f[9])
        sig_at = 9
    elif buf[0] > 0x7F:
        d.kind = KIND_LEGACY
        list_at = 0
        if _fields(buf, 0, size, f) != 9:
            return False
        for i in range(9):
            if f[i].is_list:
                return False
        if f[3].stop - f[3].start != 20:
            return False
        if not (_canonical_uint(buf, &f[0], 8) and _canonical_uint(buf, &f[1], 32)
                and _canonical_uint(buf, &f[2], 8) and _canonical_uint(buf, &f[4], 32)
                and _canonical_uint(buf, &f[6], 8)):
            return False
        v = _u64(buf, &f[6])
        if v < 35:
            return False
        chain_id = (v - 35) >> 1
        y_parity = <int> ((v - 35) & 1)
        if chain_id != want:
            return False
        sig_at = 6
    else:
        return False
    if _u64(buf, &f[1 if d.kind == KIND_DYNAMIC else 0]) > 0xFFFFFFFFFFFFFFFEULL:  # MAX_NONCE
        return False
    if y_parity > 1 or not (_canonical_uint(buf, &f[sig_at + 1], 32)
                            and _canonical_uint(buf, &f[sig_at + 2], 32)):
        return False
    cdef uint8_t compact[64]
    _pad32(buf, &f[sig_at + 1], compact)
    _pad32(buf, &f[sig_at + 2], compact + 32)
    if (_is_zero32(compact) or memcmp(compact, _N, 32) >= 0
            or _is_zero32(compact + 32) or memcmp(compact + 32, _HALF_N, 32) > 0):
        return False
    # The signed payload: the fields before the signature under a new list header (legacy: followed by
    # chain_id, 0, 0), after the type byte for typed transactions.
    cdef Py_ssize_t sig_len = (_encoded_len(&f[sig_at], buf) + _encoded_len(&f[sig_at + 1], buf)
                               + _encoded_len(&f[sig_at + 2], buf))
    cdef Py_ssize_t body_start = _first_item_offset(buf, list_at)
    cdef Py_ssize_t body_len = size - sig_len - body_start
    cdef uint8_t tail[12]
    cdef Py_ssize_t tail_len = 0
    if d.kind == KIND_LEGACY:
        tail_len = _encode_small_uint(tail, chain_id)
        tail[tail_len] = 0x80
        tail[tail_len + 1] = 0x80
        tail_len += 2
    cdef uint8_t *payload = <uint8_t *> malloc(1 + MAX_HEADER + body_len + tail_len)
    if payload == NULL:
        return False
    cdef Py_ssize_t at = 0
    if d.kind == KIND_DYNAMIC:
        payload[0] = 2
        at = 1
    at += _list_header(payload + at, body_len + tail_len)
    memcpy(payload + at, buf + body_start, body_len)
    memcpy(payload + at + body_len, tail, tail_len)
    cdef uint8_t msg_hash[32]
    jovay_keccak256(payload, at + body_len + tail_len, msg_hash)
    free(payload)
    cdef uint8_t signature[SIG_STRUCT_BYTES]
    cdef uint8_t public_key[PUBKEY_STRUCT_BYTES]
    cdef uint8_t serialized[65]
    cdef size_t serialized_len = 65
    if not (_secp.parse_compact(_secp.ctx, signature, compact, y_parity)
            and _secp.recover(_secp.ctx, public_key, signature, msg_hash)):
        return False
    _secp.serialize(_secp.ctx, serialized, &serialized_len, public_key, _secp.uncompressed)
    cdef uint8_t address_hash[32]
    jovay_keccak256(serialized + 1, 64, address_hash)
    memcpy(d.sender, address_hash + 12, 20)
    jovay_keccak256(buf, size, d.tx_hash)
    return True


cdef object _int_field(bytes raw, const unsigned char *buf, const span *f):
    cdef Py_ssize_t n = f.stop - f.start
    if n <= 8:
        return _u64(buf, f)
    return int.from_bytes(raw[f.start:f.stop], "big")


cdef object _build(bytes raw, const unsigned char *buf, decoded_tx *d, object pure):
    """The SignedTx the pure decoder builds, from the checked fields."""
    cdef span *f = d.f
    sender = (<char *> d.sender)[:20]
    tx_hash = (<char *> d.tx_hash)[:32]
    if d.kind == KIND_DYNAMIC:
        tx = _DynamicFeeTx.make((
            _int_field(raw, buf, &f[0]), _int_field(raw, buf, &f[1]), _int_field(raw, buf, &f[2]),
            _int_field(raw, buf, &f[3]), _int_field(raw, buf, &f[4]), raw[f[5].start:f[5].stop],
            _int_field(raw, buf, &f[6]), raw[f[7].start:f[7].stop], (), _int_field(raw, buf, &f[9]),
            _int_field(raw, buf, &f[10]), _int_field(raw, buf, &f[11]),
        ))
    else:
        v = _u64(buf, &f[6])
        tx = _LegacyTx.make((
            _int_field(raw, buf, &f[0]), _int_field(raw, buf, &f[1]), _int_field(raw, buf, &f[2]),
            raw[f[3].start:f[3].stop], _int_field(raw, buf, &f[4]), raw[f[5].start:f[5].stop],
            (v - 35) >> 1, (v - 35) & 1, _int_field(raw, buf, &f[7]), _int_field(raw, buf, &f[8]),
        ))
    return _SignedTx.make((tx, sender, tx_hash, raw))


def decode_transaction(raw, *, expected_chain_id):
    """Decode and authenticate untrusted wire bytes (legacy EIP-155, type 1, type 2)."""
    pure = _pure_module()
    if _secp_state == 0:
        _load_secp()
    if (
        _secp_state != 1
        or type(raw) is not bytes
        or type(expected_chain_id) is not int
        or not 0 <= expected_chain_id < (1 << 64)
        or not 0 < len(<bytes> raw) <= MAX_TX_SIZE
    ):
        return pure.pure_decode_transaction(raw, expected_chain_id=expected_chain_id)
    cdef decoded_tx d
    cdef const unsigned char *buf = <const unsigned char *> (<char *> (<bytes> raw))
    cdef Py_ssize_t size = len(<bytes> raw)
    cdef uint64_t want = expected_chain_id
    cdef bint ok
    with nogil:
        ok = _check_and_recover(buf, size, want, &d)
    if ok:
        return _build(raw, buf, &d, pure)
    return pure.pure_decode_transaction(raw, expected_chain_id=expected_chain_id)


def decode_many(raws, expected_chain_id):
    """[decode_transaction(raw) or the InvalidTransaction it raises, for each raw], sender recovery
    and hashing done with the GIL released."""
    pure = _pure_module()
    if _secp_state == 0:
        _load_secp()
    cdef list items = list(raws)
    cdef Py_ssize_t count = len(items), i
    cdef bint native = (
        _secp_state == 1 and type(expected_chain_id) is int and 0 <= expected_chain_id < (1 << 64)
    )
    cdef uint64_t want = expected_chain_id if native else 0
    cdef decoded_tx *work = <decoded_tx *> malloc((count or 1) * sizeof(decoded_tx))
    cdef const unsigned char **bufs = <const unsigned char **> malloc((count or 1) * sizeof(char *))
    cdef Py_ssize_t *sizes = <Py_ssize_t *> malloc((count or 1) * sizeof(Py_ssize_t))
    if work == NULL or bufs == NULL or sizes == NULL:
        free(work)
        free(bufs)
        free(sizes)
        raise MemoryError()
    cdef list out = []
    try:
        for i in range(count):
            raw = items[i]
            work[i].ok = native and type(raw) is bytes and 0 < len(<bytes> raw) <= MAX_TX_SIZE
            if work[i].ok:
                bufs[i] = <const unsigned char *> (<char *> (<bytes> raw))
                sizes[i] = len(<bytes> raw)
        with nogil:
            for i in range(count):
                if work[i].ok:
                    work[i].ok = _check_and_recover(bufs[i], sizes[i], want, &work[i])
        for i in range(count):
            raw = items[i]
            if work[i].ok:
                out.append(_build(raw, bufs[i], &work[i], pure))
                continue
            try:
                out.append(pure.pure_decode_transaction(raw, expected_chain_id=expected_chain_id))
            except pure.InvalidTransaction as exc:
                out.append(exc)
    finally:
        free(work)
        free(bufs)
        free(sizes)
    return out
