# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""`Maker`: builds instances of a slots dataclass without a Python-level call (shared by the decoder,
jovay/_native/_txcodec.pyx, and the transfer fast path, jovay/_native/_transfers.pyx)."""

from cpython.object cimport PyObject, PyObject_GenericSetAttr, PyTypeObject

cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *op)

cdef tuple _NO_ARGS = ()


cdef class Maker:
    """Builds instances of a slots dataclass the way its generated __init__ does (object.__setattr__
    of each field, in order, which also serves frozen ones) without a Python-level call: ~1 us saved
    per object. Where the class is not of the shape expected (other fields, a __post_init__, no slots,
    its own __new__) it calls the class as usual.

    `untrack`: leave the objects out of the cyclic GC. Only for classes whose instances hold nothing
    that could lead back to them (ints, bytes, None, tuples of those, other such objects: a decoded
    transaction), so that young collections do not walk them; reference counting frees them as before.
    """

    def __cinit__(self, cls, tuple names, bint untrack=False):
        import dataclasses

        self.cls = cls
        self.names = names
        self.untrack = untrack
        self.direct = (
            dataclasses.is_dataclass(cls)
            and tuple(f.name for f in dataclasses.fields(cls)) == names
            and not hasattr(cls, "__post_init__")
            and "__slots__" in cls.__dict__
            and cls.__new__ is object.__new__
        )

    def __call__(self, *values):
        """make(values) from Python (tests)."""
        return self.make(values)

    cdef object make(self, tuple values):
        """cls(*values), every field given."""
        if not self.direct:
            return self.cls(*values)
        # object.__new__(cls) through the type's slot (what the call does, without the wrapper)
        obj = (<PyTypeObject *> self.cls).tp_new(self.cls, <PyObject *> _NO_ARGS, NULL)
        cdef Py_ssize_t i
        for i in range(len(self.names)):
            PyObject_GenericSetAttr(obj, self.names[i], values[i])
        if self.untrack:
            PyObject_GC_UnTrack(<void *> obj)
        return obj
