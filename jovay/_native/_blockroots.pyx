# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twins of jovay.codec.blocks' `pure_indexed_root` and of `keccak256` (same signatures, results).

The header's transactionsRoot and receiptsRoot are Merkle-Patricia tries over `rlp(i) -> value`;
building one for a block of 20,000 transactions costs ~0.7 s in Python and a few ms here (keccak.c),
with the GIL released so that admission runs on the other core meanwhile.
"""

from libc.stdint cimport uint8_t
from libc.stdlib cimport free, malloc

cdef extern from "keccak.h":
    void jovay_keccak256(const uint8_t *data, size_t length, uint8_t *out) nogil
    int jovay_indexed_mpt_root(const uint8_t *const *values, const size_t *lengths, size_t count,
                               uint8_t *out) nogil


cdef enum:
    NOGIL_KECCAK_BYTES = 65536  # shorter inputs hash in ~1 us: giving the GIL away would cost more


def keccak256(data) -> bytes:
    """Keccak-256 digest (32 bytes) of `data` (the C implementation the roots use)."""
    cdef bytes raw = data if type(data) is bytes else bytes(data)
    cdef uint8_t out[32]
    cdef const uint8_t *ptr = <const uint8_t *> (<char *> raw)
    cdef size_t length = len(raw)
    if length < NOGIL_KECCAK_BYTES:
        jovay_keccak256(ptr, length, out)
    else:
        with nogil:
            jovay_keccak256(ptr, length, out)
    return (<char *> out)[:32]


def indexed_root(values) -> bytes:
    """Root of the Merkle-Patricia trie holding rlp(i) -> values[i] (non-empty byte strings)."""
    cdef list held = [v if type(v) is bytes else bytes(v) for v in values]
    cdef size_t count = len(held)
    cdef size_t i
    cdef bytes value
    for value in held:
        if not value:
            raise ValueError("empty trie value (an MPT deletes the key instead)")
    cdef const uint8_t **ptrs = <const uint8_t **> malloc((count or 1) * sizeof(uint8_t *))
    cdef size_t *lengths = <size_t *> malloc((count or 1) * sizeof(size_t))
    cdef uint8_t out[32]
    cdef int rc
    if ptrs == NULL or lengths == NULL:
        free(ptrs)
        free(lengths)
        raise MemoryError()
    try:
        for i in range(count):
            value = held[i]
            ptrs[i] = <const uint8_t *> (<char *> value)
            lengths[i] = len(value)
        with nogil:
            rc = jovay_indexed_mpt_root(ptrs, lengths, count, out)
    finally:
        free(ptrs)
        free(lengths)
    if rc != 0:
        raise MemoryError("indexed_root: out of memory")
    return (<char *> out)[:32]
