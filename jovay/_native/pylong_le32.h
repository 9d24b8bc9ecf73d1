/* CPython ints <-> 32 little-endian bytes without a temporary bytes object (what Cython itself uses;
 * Python 3.13 added an argument). Shared by _poseidon.pyx and _smt.pyx. */
#ifndef JOVAY_PYLONG_LE32_H
#define JOVAY_PYLONG_LE32_H

#include <Python.h>

/* 0, or -1 with OverflowError set when v is negative or does not fit in 256 bits. */
static int jv_long_to_le32(PyObject *v, unsigned char *out) {
#if PY_VERSION_HEX >= 0x030D0000
    return _PyLong_AsByteArray((PyLongObject *)v, out, 32, 1, 0, 1);
#else
    return _PyLong_AsByteArray((PyLongObject *)v, out, 32, 1, 0);
#endif
}

static PyObject *jv_long_from_le32(const unsigned char *bytes) {
    return _PyLong_FromByteArray(bytes, 32, 1, 0);
}

#endif /* JOVAY_PYLONG_LE32_H */
