# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twin of jovay/crypto/poseidon.py (`poseidon`, `poseidon2`, `poseidon3`) plus `hash_pairs`.

Same signatures, results and errors as the pure functions (jovay/_native/pure.py names the twins);
the hashing runs in C (poseidon.c) with the GIL released. One difference, outside the functions'
contract: a non-integer in the field range (1.0) raises TypeError here, while the pure code computes
with it.

Batches (hash_pairs, hash_leaves, hash_many) run on poseidon.c's 8-lane AVX-512 IFMA kernel where the
CPU has one, chosen at run time (`simd_available`, `set_simd`; JOVAY_POSEIDON_SIMD=0 keeps the scalar
loop), with the same results.

Each width's round schedule is taken from the pure module on first use and converted to Montgomery
form once, so both sides hash with the same constants. It is read lazily rather than at import
because jovay/crypto/poseidon.py imports jovay._native while it is itself being imported.
"""

import os

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.number cimport PyNumber_Index
from libc.stdint cimport uint64_t
from libc.stdlib cimport free, malloc

FIELD_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
MAX_INPUTS = 5


def _hash_threads():
    """Threads for batch hashing: JOVAY_HASH_THREADS, else the CPU count up to 4."""
    configured = os.environ.get("JOVAY_HASH_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return min(os.cpu_count() or 1, 4)


cdef int _threads = _hash_threads()


def hash_threads():
    """How many threads a large batch (hash_pairs, hash_leaves, hash_many) is split over."""
    return _threads


def set_hash_threads(int threads):
    """Sets hash_threads() for later batches (benchmarks and tests; JOVAY_HASH_THREADS sets the default)."""
    global _threads
    if threads < 1:
        raise ValueError(f"hash threads must be at least 1, got {threads}")
    _threads = threads


def simd_available():
    """Whether this CPU can run the 8-lane AVX-512 IFMA batch kernel (poseidon.c)."""
    return bool(jv_poseidon_simd_available())


def simd_enabled():
    """Whether batches use that kernel now: by default where available, unless JOVAY_POSEIDON_SIMD=0."""
    return bool(jv_poseidon_simd_enabled())


def set_simd(enabled):
    """Turns the batch kernel on (where available) or off; returns simd_enabled(). Both paths give the
    same results: tests run them side by side."""
    return bool(jv_poseidon_set_simd(1 if enabled else 0))


cdef extern from "poseidon.h" nogil:
    enum:
        JV_POSEIDON_MAX_T

    ctypedef struct jv_fe:
        uint64_t limb[4]

    ctypedef struct jv_poseidon_params:
        int t
        int rounds_p
        const jv_fe *table

    size_t jv_poseidon_table_len(int t, int rounds_p)
    void jv_fe_from_le_bytes(jv_fe *out, const unsigned char *bytes)
    void jv_fe_to_le_bytes(unsigned char *bytes, const jv_fe *a)
    int jv_fe_is_canonical(const jv_fe *a)
    void jv_fe_array_to_montgomery(jv_fe *a, size_t n)
    void jv_poseidon(const jv_poseidon_params *params, const jv_fe *inputs, jv_fe *out)
    void jv_poseidon_pairs(const jv_poseidon_params *params, const jv_fe *pairs, size_t n, jv_fe *out)
    int jv_poseidon_many_threaded(const jv_poseidon_params *params, const jv_fe *inputs, size_t n,
                                  jv_fe *out, int threads)
    int jv_poseidon_simd_available()
    int jv_poseidon_simd_enabled()
    int jv_poseidon_set_simd(int enabled)


# CPython's int <-> 32 little-endian bytes (pylong_le32.h, shared with _smt.pyx).
cdef extern from "pylong_le32.h":
    int jv_long_to_le32(object v, unsigned char *out) except -1
    object jv_long_from_le32(const unsigned char *bytes)


# --- schedules ------------------------------------------------------------------------------------

# Index t; set once per width and never freed, so a pointer read under the GIL stays valid for a
# nogil call in any thread.
cdef jv_poseidon_params *_params[JV_POSEIDON_MAX_T + 1]


cdef jv_poseidon_params *_build_params(int t) except NULL:
    """The pure module's optimized schedule for width t as a C table (Montgomery form)."""
    from jovay.crypto import poseidon as reference  # lazily: see the module docstring

    schedule = reference._schedule(t)
    entries = [x for row in schedule.full1 for x in row]
    entries += [x for row in schedule.pre_mix for x in row]
    entries += [x for row in schedule.partial for x in row]
    entries += [x for row in schedule.full2 for x in row]
    entries += [x for row in schedule.mds for x in row]
    cdef int rounds_p = len(schedule.partial)
    cdef size_t n = jv_poseidon_table_len(t, rounds_p)
    if <size_t>len(entries) != n:
        raise RuntimeError(f"poseidon schedule for t={t} has {len(entries)} entries, expected {n}")
    cdef jv_poseidon_params *params = <jv_poseidon_params *>malloc(sizeof(jv_poseidon_params))
    cdef jv_fe *table = <jv_fe *>malloc(n * sizeof(jv_fe))
    if params == NULL or table == NULL:
        free(table)
        free(params)
        raise MemoryError()
    params.table = table
    cdef size_t i
    try:
        for i in range(n):
            _to_fe(entries[i], &table[i])  # every entry is reduced mod p; checked all the same
    except BaseException:
        _free_params(params)
        raise
    jv_fe_array_to_montgomery(table, n)
    params.t = t
    params.rounds_p = rounds_p
    return params


cdef void _free_params(jv_poseidon_params *params) noexcept:
    free(<void *>params.table)
    free(params)


cdef inline const jv_poseidon_params *_params_for(int t) except NULL:
    cdef jv_poseidon_params *built
    if _params[t] == NULL:
        built = _build_params(t)
        # Building ran Python code, so another thread may have finished first: keep that one.
        if _params[t] == NULL:
            _params[t] = built
        else:
            _free_params(built)
    return _params[t]


# --- conversions and checks (the pure module's messages) ------------------------------------------

cdef inline int _check_width(Py_ssize_t n) except -1:
    if not 1 <= n <= MAX_INPUTS:
        raise ValueError(f"poseidon takes 1..{MAX_INPUTS} inputs, got {n}")
    return 0


cdef int _to_fe(object x, jv_fe *out) except -1:
    """x as a canonical element; ValueError (pure's message) unless 0 <= x < p."""
    cdef unsigned char buf[32]
    if not isinstance(x, int):
        # Compare first, as the pure check does (so e.g. a str raises the same TypeError), then
        # insist on an integer.
        if not 0 <= x < FIELD_MODULUS:
            raise ValueError(f"poseidon input out of field range [0, p): {x}")
        x = PyNumber_Index(x)
    try:
        jv_long_to_le32(x, buf)
    except OverflowError:  # negative, or >= 2^256
        raise ValueError(f"poseidon input out of field range [0, p): {x}") from None
    jv_fe_from_le_bytes(out, buf)
    if not jv_fe_is_canonical(out):
        raise ValueError(f"poseidon input out of field range [0, p): {x}")
    return 0


cdef inline object _from_fe(const jv_fe *a):
    cdef unsigned char buf[32]
    jv_fe_to_le_bytes(buf, a)
    return jv_long_from_le32(buf)


# --- the functions ---------------------------------------------------------------------------------

def poseidon(inputs):
    """circomlib `poseidon(inputs)` for 1..5 field elements (width t = len(inputs) + 1)."""
    cdef Py_ssize_t n = len(inputs)
    _check_width(n)
    cdef jv_fe xs[JV_POSEIDON_MAX_T - 1]
    cdef jv_fe out
    cdef Py_ssize_t i
    for i in range(n):
        _to_fe(inputs[i], &xs[i])
    cdef const jv_poseidon_params *params = _params_for(<int>n + 1)
    with nogil:
        jv_poseidon(params, xs, &out)
    return _from_fe(&out)


def poseidon2(a, b):
    """poseidon([a, b]): the tree's inner-node hash."""
    cdef jv_fe xs[2]
    cdef jv_fe out
    _to_fe(a, &xs[0])
    _to_fe(b, &xs[1])
    cdef const jv_poseidon_params *params = _params_for(3)
    with nogil:
        jv_poseidon(params, xs, &out)
    return _from_fe(&out)


def poseidon3(a, b, c):
    """poseidon([a, b, c]): the tree's leaf hash."""
    cdef jv_fe xs[3]
    cdef jv_fe out
    _to_fe(a, &xs[0])
    _to_fe(b, &xs[1])
    _to_fe(c, &xs[2])
    cdef const jv_poseidon_params *params = _params_for(4)
    with nogil:
        jv_poseidon(params, xs, &out)
    return _from_fe(&out)


def hash_pairs(lefts, rights):
    """[poseidon2(a, b) for a, b in zip(lefts, rights)] in one call (one GIL release for the batch,
    large batches split over threads).

    ValueError when the lengths differ; inputs are checked pair by pair, left first, as the loop of
    poseidon2 calls would.
    """
    cdef Py_ssize_t n = len(lefts)
    if len(rights) != n:
        raise ValueError(f"hash_pairs needs as many rights as lefts, got {n} lefts and {len(rights)} rights")
    return _hash_columns(lefts, rights, None, n)


def hash_leaves(keys, values):
    """[poseidon3(k, v, 1) for k, v in zip(keys, values)]: tree leaves in one call (see hash_pairs)."""
    cdef Py_ssize_t n = len(keys)
    if len(values) != n:
        raise ValueError(f"hash_leaves needs as many values as keys, got {n} keys and {len(values)} values")
    return _hash_columns(keys, values, 1, n)


def hash_many(rows):
    """[poseidon(row) for row in rows] in one call, every row of the same length 1..5 (see hash_pairs).

    Native only (no pure twin): for tests and benchmarks of the batch path at every width.
    """
    cdef Py_ssize_t n = len(rows)
    if n == 0:
        return []
    cdef Py_ssize_t arity = len(rows[0])
    _check_width(arity)
    cdef const jv_poseidon_params *params = _params_for(<int>arity + 1)
    cdef jv_fe *buf = <jv_fe *>PyMem_Malloc((arity + 1) * n * sizeof(jv_fe))  # inputs, then results
    if buf == NULL:
        raise MemoryError()
    cdef jv_fe *out = buf + arity * n
    cdef Py_ssize_t i, j
    try:
        for i in range(n):
            row = rows[i]
            if len(row) != arity:
                raise ValueError(f"hash_many needs rows of one length, got {arity} and {len(row)}")
            for j in range(arity):
                _to_fe(row[j], &buf[arity * i + j])
        with nogil:
            jv_poseidon_many_threaded(params, buf, <size_t>n, out, _threads)
        return [_from_fe(&out[i]) for i in range(n)]
    finally:
        PyMem_Free(buf)


cdef list _hash_columns(firsts, seconds, third, Py_ssize_t n):
    """poseidon(firsts[i], seconds[i][, third]) for i < n, checked row by row in input order."""
    if n == 0:
        return []
    cdef int arity = 2 if third is None else 3
    cdef const jv_poseidon_params *params = _params_for(arity + 1)
    cdef jv_fe *buf = <jv_fe *>PyMem_Malloc((arity + 1) * n * sizeof(jv_fe))  # inputs, then results
    if buf == NULL:
        raise MemoryError()
    cdef jv_fe *out = buf + arity * n
    cdef Py_ssize_t i
    try:
        for i in range(n):
            _to_fe(firsts[i], &buf[arity * i])
            _to_fe(seconds[i], &buf[arity * i + 1])
            if arity == 3:
                _to_fe(third, &buf[arity * i + 2])
        with nogil:
            jv_poseidon_many_threaded(params, buf, <size_t>n, out, _threads)
        return [_from_fe(&out[i]) for i in range(n)]
    finally:
        PyMem_Free(buf)


# --- for other native modules (declared in _poseidon.pxd) ------------------------------------------

cdef int hash_rows(int width, const jv_fe_t *inputs, size_t n, jv_fe_t *out) except -1:
    """out[i] = poseidon(inputs[(width-1)i .. (width-1)i + width-2]) for i < n: canonical elements in and
    out, hashed with the GIL released and split over threads as hash_pairs is. Callers check inputs."""
    if not 2 <= width <= JV_POSEIDON_MAX_T:
        raise ValueError(f"poseidon width must be 2..{JV_POSEIDON_MAX_T}, got {width}")
    if n == 0:
        return 0
    cdef const jv_poseidon_params *params = _params_for(width)
    with nogil:
        jv_poseidon_many_threaded(params, <const jv_fe *>inputs, n, <jv_fe *>out, _threads)
    return 0
