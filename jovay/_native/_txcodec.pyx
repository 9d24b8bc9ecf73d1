# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twin of jovay.codec.transactions.decode_transaction (same signature, results and errors).

The RLP walk and the integer fields are done here in C; the hashing and sender recovery call the
very functions the pure decoder calls (keccak256, recover_address), and the result is built from
the same classes. Only the plain, canonical shapes are decoded here: a transaction with an access
list, a malformed or non-canonical encoding, out-of-range values, another chain's id or anything
else unusual goes to the pure decoder, which raises the exact error (or decodes it) itself. So an
input is either decoded to the object the pure code builds, or handed to the pure code.
"""

from libc.string cimport memcmp

# Field shapes of the RLP items: where the payload starts and ends in the raw bytes.
cdef struct span:
    Py_ssize_t start
    Py_ssize_t stop
    bint is_list

cdef enum:
    MAX_FIELDS = 12  # a type-2 transaction's
    MAX_TX_SIZE = 128 * 1024  # jovay.params.MAX_TX_SIZE; larger inputs go to the pure path

cdef object _pure = None


cdef object _pure_module():
    global _pure
    if _pure is None:
        from jovay.codec import transactions  # lazily: that module consults jovay._native

        _pure = transactions
    return _pure


cdef inline int _item(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end, span *out) noexcept:
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


cdef inline int _fields(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end, span *fields) noexcept:
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


cdef inline object _uint(const unsigned char *buf, const span *f, Py_ssize_t max_bytes):
    """A canonical unsigned integer of at most max_bytes bytes, or None (leading zero, too long, list)."""
    cdef Py_ssize_t n = f.stop - f.start
    if f.is_list or n > max_bytes or (n and buf[f.start] == 0):
        return None
    cdef unsigned long long small = 0
    cdef Py_ssize_t k
    if n <= 8:
        for k in range(f.start, f.stop):
            small = small << 8 | buf[k]
        return small
    return int.from_bytes(buf[f.start:f.stop], "big")


cdef inline Py_ssize_t _encoded_len(const span *f, const unsigned char *buf) noexcept:
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


def decode_transaction(raw, *, expected_chain_id):
    """Decode and authenticate untrusted wire bytes (legacy EIP-155, type 1, type 2)."""
    pure = _pure_module()
    if type(raw) is not bytes or type(expected_chain_id) is not int:
        return pure.pure_decode_transaction(raw, expected_chain_id=expected_chain_id)
    cdef const unsigned char *buf = raw
    cdef Py_ssize_t size = len(raw)
    if size == 0 or size > MAX_TX_SIZE:
        return pure.pure_decode_transaction(raw, expected_chain_id=expected_chain_id)
    result = None
    if buf[0] == 2:
        result = _decode_dynamic(raw, buf, size, expected_chain_id, pure)
    elif buf[0] > 0x7F:
        result = _decode_legacy(raw, buf, size, expected_chain_id, pure)
    if result is None:
        return pure.pure_decode_transaction(raw, expected_chain_id=expected_chain_id)
    return result


cdef object _decode_dynamic(bytes raw, const unsigned char *buf, Py_ssize_t size, object want, object pure):
    cdef span f[MAX_FIELDS]
    if _fields(buf, 1, size, f) != 12:
        return None
    cdef int i
    for i in range(12):
        if f[i].is_list and i != 8:
            return None
    # access list: only the empty one here (0xc0)
    if not f[8].is_list or f[8].stop != f[8].start:
        return None
    if f[5].stop - f[5].start != 20:  # to: an address (creation and odd sizes go to the pure path)
        return None
    chain_id = _uint(buf, &f[0], 32)
    nonce = _uint(buf, &f[1], 8)
    tip = _uint(buf, &f[2], 32)
    fee_cap = _uint(buf, &f[3], 32)
    gas_limit = _uint(buf, &f[4], 8)
    value = _uint(buf, &f[6], 32)
    y_parity = _uint(buf, &f[9], 1)
    r = _uint(buf, &f[10], 32)
    s = _uint(buf, &f[11], 32)
    if None in (chain_id, nonce, tip, fee_cap, gas_limit, value, y_parity, r, s):
        return None
    if nonce > pure.MAX_NONCE or tip > fee_cap or chain_id != want:
        return None
    cdef Py_ssize_t sig_len = _encoded_len(&f[9], buf) + _encoded_len(&f[10], buf) + _encoded_len(&f[11], buf)
    body = raw[_first_item_offset(buf, 1) : size - sig_len]  # the signed fields, headers included
    keccak256 = pure.keccak256
    sender = pure.recover_address(keccak256(b"\x02" + pure.encode_list((body,))), y_parity, r, s)
    to = raw[f[5].start : f[5].stop]
    data = raw[f[7].start : f[7].stop]
    tx = pure.DynamicFeeTx(chain_id, nonce, tip, fee_cap, gas_limit, to, value, data, (), y_parity, r, s)
    return pure.SignedTx(tx, sender, keccak256(raw), raw)


cdef object _decode_legacy(bytes raw, const unsigned char *buf, Py_ssize_t size, object want, object pure):
    cdef span f[MAX_FIELDS]
    if _fields(buf, 0, size, f) != 9:
        return None
    cdef int i
    for i in range(9):
        if f[i].is_list:
            return None
    if f[3].stop - f[3].start != 20:
        return None
    nonce = _uint(buf, &f[0], 8)
    gas_price = _uint(buf, &f[1], 32)
    gas_limit = _uint(buf, &f[2], 8)
    value = _uint(buf, &f[4], 32)
    v = _uint(buf, &f[6], 32)
    r = _uint(buf, &f[7], 32)
    s = _uint(buf, &f[8], 32)
    if None in (nonce, gas_price, gas_limit, value, v, r, s):
        return None
    if nonce > pure.MAX_NONCE or v < 35:
        return None
    chain_id, y_parity = divmod(v - 35, 2)
    if chain_id != want:
        return None
    cdef Py_ssize_t sig_len = _encoded_len(&f[6], buf) + _encoded_len(&f[7], buf) + _encoded_len(&f[8], buf)
    body = raw[_first_item_offset(buf, 0) : size - sig_len]
    tail = pure.encode_uint(chain_id) + b"\x80\x80"
    keccak256 = pure.keccak256
    sender = pure.recover_address(keccak256(pure.encode_list((body, tail))), y_parity, r, s)
    to = raw[f[3].start : f[3].stop]
    data = raw[f[5].start : f[5].stop]
    tx = pure.LegacyTx(nonce, gas_price, gas_limit, to, value, data, chain_id, y_parity, r, s)
    return pure.SignedTx(tx, sender, keccak256(raw), raw)


cdef inline Py_ssize_t _first_item_offset(const unsigned char *buf, Py_ssize_t pos) noexcept:
    """Where the items of the (valid) list at pos begin: just past its header."""
    cdef unsigned char b0 = buf[pos]
    return pos + 1 if b0 < 0xF8 else pos + 1 + (b0 - 0xF7)
