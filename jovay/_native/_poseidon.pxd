# What other native modules (jovay/_native/_smt.pyx) take from _poseidon: batch hashing with the
# schedules this module builds, so the round constants exist once. `jv_fe_t` is poseidon.h's `jv_fe`
# under a second Cython name, so that _poseidon.pyx keeps its own declaration of the header.
from libc.stdint cimport uint64_t


cdef extern from "poseidon.h" nogil:
    ctypedef struct jv_fe_t "jv_fe":
        uint64_t limb[4]


cdef int hash_rows(int width, const jv_fe_t *inputs, size_t n, jv_fe_t *out) except -1
