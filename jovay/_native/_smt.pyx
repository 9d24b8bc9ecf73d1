# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False, cdivision=True
"""Native twin of `SparseMerkleTree.pure_update_many` (jovay/state/smt.py): one batched tree update.

`update_many(store, root, items)` walks the same nodes in the same order as the Python walk (so the
store sees the same `get` calls), then makes the same `put` calls (same hashes, same (tag, a, b)
tuples, in the same order) and the same `drop` call, and returns the same new root; errors are the
same too (ValueError for out-of-range keys and values, CriticalError for a missing node). A store with
`cached_nodes` (the node's LmdbNodeStore) is looked up in the dicts it names before its `get`, and its
new nodes are inserted there instead of `put`: what those calls would have done, without a Python call
per node.

What changes is the representation: the writes are sorted once in path order (a key's bits, least
significant first), so the writes below any node are a contiguous range of that array and a level's
split is a binary search; new nodes wait in a C array with their field elements as 4 x 64-bit limbs;
each height of new nodes is hashed in one call with the GIL released (`hash_rows` of _poseidon, which
owns the round constants). Python ints are made only for what the store receives.

Anything outside what real trees hold (keys or values that are not plain ints, stored nodes that are
not 3-tuples of plain ints in range, chains deeper than 256 levels) raises `NotMirrored` before the
store is written: the caller then runs the Python walk, which decides what happens.
"""

from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.exc cimport PyErr_Clear
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport Py_EQ, Py_GE, PyObject, PyObject_IsTrue, PyObject_RichCompareBool
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint64_t
from libc.stdlib cimport qsort
from libc.string cimport memset

from jovay._native._poseidon cimport hash_rows, jv_fe_t

from jovay._native._poseidon import FIELD_MODULUS

# The node format of jovay/state/smt.py (tests/native/test_smt_native.py checks they agree).
cdef enum:
    DEPTH = 256  # keys have 256 bits

LEAF = 1
INNER = 0
MAX_DEPTH = DEPTH


class NotMirrored(Exception):
    """Input this walk does not mirror exactly (see the module docstring): use the Python walk."""


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(object op)


# CPython's int <-> 32 little-endian bytes (pylong_le32.h, shared with _poseidon.pyx).
cdef extern from "pylong_le32.h":
    int jv_long_to_le32(PyObject *v, unsigned char *out)
    object jv_long_from_le32(const unsigned char *bytes)


cdef extern from *:
    """
    static inline uint64_t jv_smt_bitrev64(uint64_t x) {
        x = ((x >> 1) & 0x5555555555555555ULL) | ((x & 0x5555555555555555ULL) << 1);
        x = ((x >> 2) & 0x3333333333333333ULL) | ((x & 0x3333333333333333ULL) << 2);
        x = ((x >> 4) & 0x0F0F0F0F0F0F0F0FULL) | ((x & 0x0F0F0F0F0F0F0F0FULL) << 4);
        return __builtin_bswap64(x);
    }
    """
    uint64_t jv_smt_bitrev64(uint64_t x) nogil


# --- field elements --------------------------------------------------------------------------------

cdef jv_fe_t _P  # the field modulus as limbs, for range checks (set below from FIELD_MODULUS)
cdef jv_fe_t _ONE


cdef inline void _fe_from_le32(jv_fe_t *out, const unsigned char *b) noexcept nogil:
    cdef int i, j
    cdef uint64_t limb
    for i in range(4):
        limb = 0
        for j in range(8):
            limb |= (<uint64_t>b[8 * i + j]) << (8 * j)
        out.limb[i] = limb


cdef inline void _fe_to_le32(unsigned char *b, const jv_fe_t *a) noexcept nogil:
    cdef int i, j
    for i in range(4):
        for j in range(8):
            b[8 * i + j] = <unsigned char>(a.limb[i] >> (8 * j))


cdef inline bint _fe_below_p(const jv_fe_t *a) noexcept nogil:
    cdef int i
    for i in range(3, -1, -1):
        if a.limb[i] != _P.limb[i]:
            return a.limb[i] < _P.limb[i]
    return False


cdef inline bint _fe_eq(const jv_fe_t *a, const jv_fe_t *b) noexcept nogil:
    return (a.limb[0] == b.limb[0] and a.limb[1] == b.limb[1] and a.limb[2] == b.limb[2]
            and a.limb[3] == b.limb[3])


cdef int _to_fe_256(object x, jv_fe_t *out) except -1:
    """x as 4 limbs when it is a plain int in [0, 2^256): returns 1, else 0 (nothing raised)."""
    cdef unsigned char buf[32]
    if not PyLong_CheckExact(x):
        return 0
    if jv_long_to_le32(<PyObject *>x, buf) < 0:  # negative or >= 2^256: OverflowError
        PyErr_Clear()
        return 0
    _fe_from_le32(out, buf)
    return 1


cdef inline bint _to_field(object x, jv_fe_t *out) except -1:
    """x as a canonical element when it is a plain int in [0, p), else False."""
    return _to_fe_256(x, out) == 1 and _fe_below_p(out)


cdef inline object _from_fe(const jv_fe_t *a):
    cdef unsigned char buf[32]
    _fe_to_le32(buf, a)
    return jv_long_from_le32(buf)


def _init_constants():
    if not _to_fe_256(FIELD_MODULUS, &_P):
        raise RuntimeError("FIELD_MODULUS is not a 256-bit int")
    memset(&_ONE, 0, sizeof(jv_fe_t))
    _ONE.limb[0] = 1


_init_constants()


# --- the writes, in path order ---------------------------------------------------------------------

ctypedef struct Entry:
    uint64_t order[4]  # the key's bits reversed: comparing these compares paths (bit 0 first)
    jv_fe_t key
    jv_fe_t value
    PyObject *key_obj  # borrowed: the caller's objects, kept alive by _Update.owners
    PyObject *value_obj
    bint nonzero


cdef inline void _path_order(Entry *e) noexcept nogil:
    cdef int i
    for i in range(4):
        e.order[i] = jv_smt_bitrev64(e.key.limb[i])


cdef int _compare_paths(const void *x, const void *y) noexcept nogil:
    cdef const Entry *a = <const Entry *>x
    cdef const Entry *b = <const Entry *>y
    cdef int i
    for i in range(4):
        if a.order[i] != b.order[i]:
            return -1 if a.order[i] < b.order[i] else 1
    return 0


cdef inline int _bit(const jv_fe_t *key, int level) noexcept nogil:
    """Bit `level` of the key: which side of a node at depth level its path takes (0 past 256 bits)."""
    if level >= DEPTH:
        return 0
    return <int>((key.limb[level >> 6] >> (level & 63)) & 1)


# --- subtrees during the walk ----------------------------------------------------------------------

cdef enum RefKind:
    EMPTY = 0  # the empty subtree (hash 0)
    OLD = 1    # a node already in the store: `obj` is its hash as the store gave it
    NEW = 2    # a node of this update, not hashed yet: `index` into _Update.pending


ctypedef struct Ref:
    RefKind kind
    Py_ssize_t index
    PyObject *obj  # borrowed, kept alive by _Update.owners


ctypedef struct Pending:
    bint is_leaf
    int height  # leaves 0; inner nodes one more than their highest new child (at least 1)
    Ref a       # inner: the children; leaf: key and value objects (kind OLD)
    Ref b
    jv_fe_t key  # leaf only
    jv_fe_t value


cdef inline Ref _old(object obj):
    cdef Ref r
    r.kind = OLD
    r.index = -1
    r.obj = <PyObject *>obj
    return r


cdef inline Ref _empty():
    cdef Ref r
    r.kind = EMPTY
    r.index = -1
    r.obj = NULL
    return r


cdef int _NO = 0
cdef int _YES = 1
cdef int _UNKNOWN = -1  # "is it a leaf?" for a side the writes did not touch (the Python walk's None)


cdef class _Update:
    """One update_many call: the walk's state, C arrays freed with the object."""

    cdef object store
    cdef object get
    cdef object cached       # the store's `cached_nodes` (None: every lookup calls `get`)
    cdef dict store_pending  # where the store answers first with no side effect: its pending nodes,
    cdef dict store_young    # then its young cache generation (None: call `get`)
    cdef list owners    # every object whose pointer the C arrays hold
    cdef list replaced  # old nodes the walk rewrote, in the Python walk's order
    cdef Entry *writes
    cdef Py_ssize_t n
    cdef Py_ssize_t *nonzero_before  # nonzero_before[i]: nonzero-valued writes among writes[:i]
    cdef Pending *pending
    cdef Py_ssize_t n_pending
    cdef Py_ssize_t cap_pending

    def __cinit__(self):
        self.writes = NULL
        self.nonzero_before = NULL
        self.pending = NULL
        self.n = 0
        self.n_pending = 0
        self.cap_pending = 0

    def __dealloc__(self):
        PyMem_Free(self.writes)
        PyMem_Free(self.nonzero_before)
        PyMem_Free(self.pending)

    # --- input ---

    cdef int load(self, object store, object items) except -1:
        """Check and convert the writes in the Python walk's order (its errors), then sort them."""
        self.store = store
        self.owners = []
        self.replaced = []
        cdef Py_ssize_t size = len(items)
        self.writes = <Entry *>PyMem_Malloc(max(size, 1) * sizeof(Entry))
        self.nonzero_before = <Py_ssize_t *>PyMem_Malloc((size + 1) * sizeof(Py_ssize_t))
        if self.writes == NULL or self.nonzero_before == NULL:
            raise MemoryError()
        cdef Py_ssize_t i = 0
        cdef Entry *e
        for pair in items.items():
            key, value = pair
            if i >= size:
                raise NotMirrored("the mapping grew while it was read")
            e = &self.writes[i]
            _check_write("key", key, &e.key)
            _check_write("value", value, &e.value)
            e.key_obj = <PyObject *>key
            e.value_obj = <PyObject *>value
            e.nonzero = not (e.value.limb[0] == 0 and e.value.limb[1] == 0 and e.value.limb[2] == 0
                             and e.value.limb[3] == 0)
            _path_order(e)
            PyList_Append(self.owners, pair)
            i += 1
        self.n = i
        with nogil:
            qsort(self.writes, <size_t>self.n, sizeof(Entry), _compare_paths)
        self.nonzero_before[0] = 0
        for i in range(self.n):
            self.nonzero_before[i + 1] = self.nonzero_before[i] + self.writes[i].nonzero
        self.get = store.get
        self.cached = getattr(store, "cached_nodes", None)
        self.refresh_cached()
        return 0

    cdef int refresh_cached(self) except -1:
        """The store's side-effect-free lookup dicts, again after a `get` that may have replaced them."""
        if self.cached is None:
            self.store_pending = self.store_young = None
        else:
            self.store_pending, self.store_young = self.cached()
        return 0

    # --- ranges of writes ---

    cdef inline Py_ssize_t nonzero_in(self, Py_ssize_t lo, Py_ssize_t hi) noexcept:
        return self.nonzero_before[hi] - self.nonzero_before[lo]

    cdef Py_ssize_t split(self, int level, Py_ssize_t lo, Py_ssize_t hi) noexcept:
        """The first write of [lo, hi) whose path goes right at depth level (writes below one node
        share their lower bits, so in path order the left-going ones come first)."""
        cdef Py_ssize_t mid
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if _bit(&self.writes[mid].key, level):
                hi = mid
            else:
                lo = mid + 1
        return lo

    cdef Py_ssize_t first_nonzero(self, Py_ssize_t lo, Py_ssize_t hi) noexcept:
        """The first nonzero-valued write of [lo, hi) (there is one)."""
        cdef Py_ssize_t before = self.nonzero_before[lo]
        cdef Py_ssize_t mid
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if self.nonzero_before[mid + 1] > before:
                hi = mid
            else:
                lo = mid + 1
        return lo

    cdef Py_ssize_t find_key(self, const jv_fe_t *key, Py_ssize_t lo, Py_ssize_t hi) noexcept:
        """The write of [lo, hi) to key, or -1."""
        cdef Entry probe
        probe.key = key[0]
        _path_order(&probe)
        cdef Py_ssize_t mid
        cdef int c
        while lo < hi:
            mid = lo + (hi - lo) // 2
            c = _compare_paths(&self.writes[mid], &probe)
            if c == 0:
                return mid
            if c < 0:
                lo = mid + 1
            else:
                hi = mid
        return -1

    # --- the store ---

    cdef tuple node(self, object h):
        """The stored node h (the Python walk's `_node`), checked to be a plain 3-tuple. A store with
        `cached_nodes` is looked up there first, as its `get` would (without a Python call per node)."""
        cdef PyObject *found = NULL
        if self.store_pending is not None:
            found = PyDict_GetItem(self.store_pending, h)
            if found == NULL:
                found = PyDict_GetItem(self.store_young, h)
        if found != NULL and PyObject_IsTrue(<object>found):
            node = <object>found
        else:
            node = self.get(h)
            self.refresh_cached()
        if node is None:
            from jovay.errors import CriticalError  # lazily: jovay._native imports nothing at import

            raise CriticalError(f"state tree node {h:#066x} is missing from the node store")
        if not PyTuple_CheckExact(node) or PyTuple_GET_SIZE(node) != 3:
            raise NotMirrored("a stored node is not a 3-tuple")
        PyList_Append(self.owners, node)
        return <tuple>node

    # --- new nodes ---

    cdef Py_ssize_t add(self) except -1:
        cdef Py_ssize_t cap
        cdef Pending *grown
        if self.n_pending == self.cap_pending:
            cap = max(64, 2 * self.cap_pending)
            grown = <Pending *>PyMem_Realloc(self.pending, cap * sizeof(Pending))
            if grown == NULL:
                raise MemoryError()
            self.pending, self.cap_pending = grown, cap
        self.n_pending += 1
        return self.n_pending - 1

    cdef Ref add_leaf(self, const Entry *entry) except *:
        cdef Py_ssize_t index = self.add()
        cdef Pending *p = &self.pending[index]
        p.is_leaf = True
        p.height = 0
        p.a = _old(<object>entry.key_obj)
        p.b = _old(<object>entry.value_obj)
        p.key = entry.key
        p.value = entry.value
        cdef Ref r
        r.kind = NEW
        r.index = index
        r.obj = NULL
        return r

    cdef Ref add_inner(self, Ref left, Ref right) except *:
        cdef int height = 0
        if left.kind == NEW:
            height = self.pending[left.index].height
        if right.kind == NEW and self.pending[right.index].height > height:
            height = self.pending[right.index].height
        cdef Py_ssize_t index = self.add()
        cdef Pending *p = &self.pending[index]
        p.is_leaf = False
        p.height = height + 1
        p.a = left
        p.b = right
        cdef Ref r
        r.kind = NEW
        r.index = index
        r.obj = NULL
        return r

    # --- the walk (line for line the Python walk's _apply, _merge_leaf, _build) ---

    cdef int apply(self, object h, int level, Py_ssize_t lo, Py_ssize_t hi, Ref *out, int *is_leaf) except -1:
        """New subtree of old subtree h at depth level after writes[lo:hi] (not empty, all below h)."""
        if not PyObject_IsTrue(h):
            return self.build(level, lo, hi, NULL, out, is_leaf)
        if level > DEPTH:
            raise NotMirrored("a stored path is deeper than 256 levels")
        cdef tuple node = self.node(h)
        tag = <object>PyTuple_GET_ITEM(node, 0)
        a = <object>PyTuple_GET_ITEM(node, 1)
        b = <object>PyTuple_GET_ITEM(node, 2)
        if _is_leaf_tag(tag):
            self.merge_leaf(h, a, b, level, lo, hi, out, is_leaf)
            return 0
        cdef Py_ssize_t mid = self.split(level, lo, hi)
        cdef Ref new_a, new_b, only
        cdef int a_leaf = _UNKNOWN, b_leaf = _UNKNOWN, only_leaf
        if lo < mid:
            self.apply(a, level + 1, lo, mid, &new_a, &a_leaf)
        else:
            new_a = _old(a)
        if mid < hi:
            self.apply(b, level + 1, mid, hi, &new_b, &b_leaf)
        else:
            new_b = _old(b)
        if _same(new_a, a) and _same(new_b, b):
            out[0] = _old(h)
            is_leaf[0] = _NO
            return 0
        PyList_Append(self.replaced, h)
        if not _truthy(new_a) or not _truthy(new_b):  # a subtree of one leaf is that leaf: it moves up
            if not _truthy(new_a):
                only, only_leaf = new_b, b_leaf
            else:
                only, only_leaf = new_a, a_leaf
            if not _truthy(only):
                out[0] = _empty()
                is_leaf[0] = _NO
                return 0
            if only_leaf == _UNKNOWN:  # the untouched side: look it up only now
                only_leaf = _YES if _is_leaf_tag(<object>PyTuple_GET_ITEM(self.node(<object>only.obj), 0)) else _NO
            if only_leaf == _YES:
                out[0] = only
                is_leaf[0] = _YES
                return 0
        out[0] = self.add_inner(new_a, new_b)
        is_leaf[0] = _NO
        return 0

    cdef int merge_leaf(self, object h, object key, object value, int level, Py_ssize_t lo, Py_ssize_t hi,
                        Ref *out, int *is_leaf) except -1:
        cdef Entry old
        if not _to_field(key, &old.key) or not _to_field(value, &old.value):
            raise NotMirrored("a stored leaf is not a pair of field elements")
        old.key_obj = <PyObject *>key
        old.value_obj = <PyObject *>value
        cdef Py_ssize_t nonzero = self.nonzero_in(lo, hi)
        cdef Py_ssize_t same_key = self.find_key(&old.key, lo, hi)
        if same_key < 0:
            if nonzero == 0:
                out[0] = _old(h)
                is_leaf[0] = _YES
                return 0
            self.build(level, lo, hi, &old, out, is_leaf)
        elif (nonzero == 1 and self.writes[same_key].nonzero
              and _fe_eq(&self.writes[same_key].value, &old.value)):
            out[0] = _old(h)
            is_leaf[0] = _YES
            return 0
        else:
            self.build(level, lo, hi, NULL, out, is_leaf)
        PyList_Append(self.replaced, h)  # the result is new or empty, never h
        return 0

    cdef int build(self, int level, Py_ssize_t lo, Py_ssize_t hi, const Entry *extra, Ref *out,
                   int *is_leaf) except -1:
        """The canonical subtree at depth level holding the nonzero writes of [lo, hi) and extra."""
        cdef Py_ssize_t nonzero = self.nonzero_in(lo, hi)
        cdef Py_ssize_t count = nonzero + (1 if extra != NULL else 0)
        if count == 0:
            out[0] = _empty()
            is_leaf[0] = _NO
            return 0
        if count == 1:
            out[0] = self.add_leaf(extra if nonzero == 0 else &self.writes[self.first_nonzero(lo, hi)])
            is_leaf[0] = _YES
            return 0
        if level >= DEPTH:
            raise ValueError("tree keys collide on all 256 bits")
        cdef Py_ssize_t mid = self.split(level, lo, hi)
        cdef const Entry *extra_left = NULL
        cdef const Entry *extra_right = NULL
        if extra != NULL:
            if _bit(&extra.key, level):
                extra_right = extra
            else:
                extra_left = extra
        cdef Ref left, right
        cdef int ignored
        self.build(level + 1, lo, mid, extra_left, &left, &ignored)
        self.build(level + 1, mid, hi, extra_right, &right, &ignored)
        out[0] = self.add_inner(left, right)
        is_leaf[0] = _NO
        return 0

    # --- hashing and storing the new nodes ---

    cdef list hash_all(self):
        """Every new node's hash (by index), one batch per height with the GIL released; then stores
        them in the Python walk's order (by height, then index). Nothing is stored if an input is out
        of range (NotMirrored)."""
        cdef Py_ssize_t count = self.n_pending
        cdef int top = 0
        cdef Py_ssize_t i, k, m, start
        for i in range(count):
            if self.pending[i].height > top:
                top = self.pending[i].height
        cdef Py_ssize_t *level_start = <Py_ssize_t *>PyMem_Malloc((top + 2) * sizeof(Py_ssize_t))
        cdef Py_ssize_t *order = <Py_ssize_t *>PyMem_Malloc(max(count, 1) * sizeof(Py_ssize_t))
        cdef jv_fe_t *hashes = <jv_fe_t *>PyMem_Malloc(max(count, 1) * sizeof(jv_fe_t))
        cdef jv_fe_t *inputs = <jv_fe_t *>PyMem_Malloc(max(count, 1) * 3 * sizeof(jv_fe_t))
        cdef jv_fe_t *results = <jv_fe_t *>PyMem_Malloc(max(count, 1) * sizeof(jv_fe_t))
        cdef int height
        cdef Pending *p
        cdef jv_fe_t *row
        try:
            if level_start == NULL or order == NULL or hashes == NULL or inputs == NULL or results == NULL:
                raise MemoryError()
            # Counting sort by height, stable: each height's members in index order.
            memset(level_start, 0, (top + 2) * sizeof(Py_ssize_t))
            for i in range(count):
                level_start[self.pending[i].height + 1] += 1
            for height in range(top + 1):
                level_start[height + 1] += level_start[height]
            for i in range(count):  # level_start[h] runs ahead while filling, then is restored
                height = self.pending[i].height
                order[level_start[height]] = i
                level_start[height] += 1
            for height in range(top, 0, -1):
                level_start[height] = level_start[height - 1]
            level_start[0] = 0
            for height in range(top + 1):
                start = level_start[height]
                m = level_start[height + 1] - start
                if m == 0:
                    continue
                for k in range(m):
                    p = &self.pending[order[start + k]]
                    if height == 0:
                        row = &inputs[3 * k]
                        row[0] = p.key
                        row[1] = p.value
                        row[2] = _ONE
                    else:
                        row = &inputs[2 * k]
                        self.child_fe(p.a, hashes, &row[0])
                        self.child_fe(p.b, hashes, &row[1])
                hash_rows(4 if height == 0 else 3, inputs, <size_t>m, results)
                for k in range(m):
                    hashes[order[start + k]] = results[k]
            return self.store_all(order, hashes)
        finally:
            PyMem_Free(level_start)
            PyMem_Free(order)
            PyMem_Free(hashes)
            PyMem_Free(inputs)
            PyMem_Free(results)

    cdef int child_fe(self, Ref child, const jv_fe_t *hashes, jv_fe_t *out) except -1:
        if child.kind == NEW:
            out[0] = hashes[child.index]
        elif child.kind == EMPTY:
            memset(out, 0, sizeof(jv_fe_t))
        elif not _to_field(<object>child.obj, out):
            raise NotMirrored("a stored child hash is not a field element")
        return 0

    cdef list store_all(self, const Py_ssize_t *order, const jv_fe_t *hashes):
        cdef Py_ssize_t count = self.n_pending
        cdef list made = [None] * count
        cdef Py_ssize_t k, index
        cdef Pending *p
        cdef tuple node
        cdef dict direct = self.pending_dict()
        put = self.store.put
        for k in range(count):
            index = order[k]
            p = &self.pending[index]
            h = _from_fe(&hashes[index])
            made[index] = h
            if p.is_leaf:
                node = (LEAF, <object>p.a.obj, <object>p.b.obj)
            else:
                node = (INNER, _child_obj(p.a, made), _child_obj(p.b, made))
            PyObject_GC_UnTrack(node)  # three plain ints: never in a cycle, no collector pass need visit it
            if direct is not None:
                PyDict_SetItem(direct, h, node)
            else:
                put(h, node)
        return made

    cdef dict pending_dict(self):
        """The store's pending dict when its `put` is exactly an insert there (`cached_nodes`), else None."""
        if self.cached is None:
            return None
        return self.store_pending

    # --- the whole update ---

    cdef object run(self, object root):
        cdef Ref new_root
        cdef int ignored
        self.apply(root, 0, 0, self.n, &new_root, &ignored)
        cdef list created = []
        if new_root.kind == NEW:
            created = self.hash_all()
            result = created[new_root.index]
        elif new_root.kind == OLD:
            result = <object>new_root.obj
        else:
            result = 0
        again = set(created)  # a rewritten node can come back with the same hash (a leaf that moved)
        gone = [h for h in self.replaced if h not in again]
        if gone:
            self.store.drop(gone)
        return result


cdef inline object _child_obj(Ref child, list made):
    if child.kind == NEW:
        return made[child.index]
    if child.kind == EMPTY:
        return 0
    return <object>child.obj


cdef inline bint _truthy(Ref r) except -1:
    """The Python walk's `bool(hash)`: placeholders are nonzero."""
    if r.kind == EMPTY:
        return False
    if r.kind == NEW:
        return True
    return PyObject_IsTrue(<object>r.obj)


cdef bint _same(Ref r, object old) except -1:
    """The Python walk's `new == old` for a child hash `old` from the store."""
    if r.kind == OLD:
        return r.obj == <PyObject *>old or PyObject_RichCompareBool(<object>r.obj, old, Py_EQ)
    if r.kind == EMPTY:
        return PyObject_RichCompareBool(0, old, Py_EQ)
    # A placeholder is negative, a hash never is: unequal, unless the store holds a negative "hash".
    if not PyLong_CheckExact(old) or not PyObject_RichCompareBool(old, 0, Py_GE):
        raise NotMirrored("a stored child hash is negative or not an int")
    return False


cdef inline bint _is_leaf_tag(object tag) except -1:
    return PyObject_RichCompareBool(tag, LEAF, Py_EQ)


cdef int _check_write(str what, object x, jv_fe_t *out) except -1:
    """The Python walk's `_check_field`: ValueError (its message) unless 0 <= x < p."""
    if not PyLong_CheckExact(x):
        raise NotMirrored(f"tree {what} is not a plain int")
    if not _to_field(x, out):
        raise ValueError(f"tree {what} out of field range [0, p): {x}")
    return 0


def update_many(store, root, items):
    """The new root after writing items (key -> value, 0 deletes) into the tree at root in store:
    stores the new nodes and drops the lost ones exactly as `SparseMerkleTree.pure_update_many`."""
    if not items:
        return root
    if not PyLong_CheckExact(root):
        raise NotMirrored("the root is not a plain int")
    cdef _Update update = _Update()
    update.load(store, items)
    return update.run(root)
