# What the other native modules (_txcodec.pyx, _transfers.pyx) take from _maker: one way to build
# instances of a slots dataclass without a Python-level call.


cdef class Maker:
    cdef object cls
    cdef tuple names
    cdef bint direct
    cdef bint untrack

    cdef object make(self, tuple values)
