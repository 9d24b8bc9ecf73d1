# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twin of jovay.sequencer.admission.pure_admit_many (same signature and results).

A JSON-RPC batch or a `submit_many` call admits hundreds of decoded transactions in a row, each with
the GIL held: the stateful checks (`check_admission`), then `Mempool.add`, then the listeners. Here the
loop is compiled and the pool insertion that succeeds (the usual case: a new nonce within the gap, a
sender and a pool under their limits) is made on the pool's own dictionaries, the very entries
`Mempool.add` writes, in its order, under its lock. Whatever that fast path does not settle (a known
hash, a nonce out of range, a replacement, a limit reached: every error) is `Mempool.add`'s to decide,
so errors and replacements are the pure path's own.
"""

from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject

cdef object _InvalidTransaction = None
cdef object _check_admission = None
cdef object _SignedTx = None
cdef bint _ready = False


cdef void _load():
    """The pure modules' names, read once (lazily: jovay imports this module)."""
    global _InvalidTransaction, _check_admission, _SignedTx, _ready
    from jovay.codec.transactions import SignedTx
    from jovay.errors import InvalidTransaction
    from jovay.stf.transaction import check_admission

    _InvalidTransaction, _check_admission, _SignedTx = InvalidTransaction, check_admission, SignedTx
    _ready = True


cdef bint _insert_new(object pool, object signed, object account_nonce) except -1:
    """`pool.add(signed, account_nonce)` where it would add a transaction under a new nonce without
    replacing one (True, done under the pool's lock); False, nothing done, for anything else."""
    tx = signed.tx
    sender = signed.sender
    tx_hash = signed.hash
    nonce = tx.nonce
    limits = pool.limits
    cdef dict by_hash = pool._by_hash
    cdef dict by_sender = pool._by_sender
    cdef dict in_order = pool._in_order
    cdef dict queue
    cdef PyObject *found
    lock = pool._lock
    lock.acquire()
    try:
        if tx_hash in by_hash or nonce < account_nonce or nonce > account_nonce + limits.max_nonce_gap:
            return False
        if len(by_hash) >= limits.max_total:
            return False
        found = PyDict_GetItem(by_sender, sender)
        if found == NULL:
            queue = {}
            PyDict_SetItem(by_sender, sender, queue)
        else:
            queue = <dict> found
            if nonce in queue or len(queue) >= limits.max_per_sender:
                return False
        in_order.pop(sender, None)
        PyDict_SetItem(queue, nonce, signed)
        PyDict_SetItem(by_hash, tx_hash, signed)
        return True
    finally:
        lock.release()


def admit_many(pool, decoded, state, env, listeners):
    """[each decoded transaction's hash once checked and pooled, or its InvalidTransaction], in order,
    each one admitted after the one before (jovay.sequencer.admission.pure_admit_many)."""
    if not _ready:
        _load()
    cdef list out = []
    for item in decoded:
        if isinstance(item, _InvalidTransaction):
            out.append(item)
            continue
        try:
            nonce = _check_admission(state, env, item)
            if type(item) is not _SignedTx or not _insert_new(pool, item, nonce):
                pool.add(item, nonce)
            tx_hash = item.hash
            for listener in listeners:
                listener(tx_hash)
        except _InvalidTransaction as exc:
            out.append(exc)
            continue
        out.append(tx_hash)
    return out


cdef list _in_nonce_order(dict queue):
    """jovay.sequencer.mempool._in_nonce_order."""
    if len(queue) == 1:
        return list(queue.values())
    return [queue[n] for n in sorted(queue)]


def snapshot_by_sender(pool):
    """jovay.sequencer.mempool.Mempool.pure_snapshot_by_sender (same result, same cached lists): each
    sender's transactions in nonce order, for the block producer."""
    cdef dict by_sender = pool._by_sender
    cdef dict in_order = pool._in_order
    cdef list out = []
    cdef PyObject *found
    lock = pool._lock
    lock.acquire()
    try:
        for sender, queue in by_sender.items():
            if not queue:  # (left by an `add` that was refused)
                continue
            found = PyDict_GetItem(in_order, sender)
            if found == NULL:
                ordered = _in_nonce_order(queue)
                PyDict_SetItem(in_order, sender, ordered)
                out.append(ordered)
            else:
                out.append(<object> found)
    finally:
        lock.release()
    return out


def remove(pool, txs):
    """jovay.sequencer.mempool.Mempool.pure_remove: drop these transactions (those still pooled)."""
    cdef dict by_hash = pool._by_hash
    cdef dict by_sender = pool._by_sender
    cdef dict in_order = pool._in_order
    cdef PyObject *found
    cdef dict queue
    lock = pool._lock
    lock.acquire()
    try:
        for signed in txs:
            if by_hash.pop(signed.hash, None) is None:
                continue
            sender = signed.sender
            found = PyDict_GetItem(by_sender, sender)
            if found != NULL:
                queue = <dict> found
                in_order.pop(sender, None)
                queue.pop(signed.tx.nonce, None)
                if not queue:
                    del by_sender[sender]
    finally:
        lock.release()
