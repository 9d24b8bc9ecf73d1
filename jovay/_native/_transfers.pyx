# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Native twin of jovay.stf.transfers.apply_transfer (same signature, same writes, same results).

The fast path of plain ETH transfers and RWA token `transfer(address,uint256)`: compiled, it skips the
interpreter's per-operation cost on the sequencer's hottest loop. Everything it does not fully handle
it declines (None, state untouched), and the general path in jovay/stf/transaction.py takes over;
tests/native/test_transfers_fast_path.py checks both twins against that general path.
"""

cdef object _TxOutcome = None
cdef object _Log = None
cdef object _account_key = None
cdef object _allowlist_key = None
cdef object _token_balance_key = None
cdef object _token_asset_key = None
cdef object _token_count_key = 0
cdef object _FIXED = None
cdef bytes _PREFIX = b""
cdef bytes _SELECTOR = b""
cdef bytes _TOPIC = b""
cdef bytes _RETURN = b""
cdef bytes _ZERO_12 = bytes(12)
cdef bytes _ZERO_ADDRESS = bytes(20)
cdef object _TX_BASE_GAS = 0
cdef object _TRANSFER_GAS = 0
cdef object _ZERO_GAS = 0
cdef object _NONZERO_GAS = 0
cdef object _MAX_NONCE = 0
cdef object _MAX_UINT128 = 0
cdef object _ACCOUNT_LIMIT = 0
cdef bint _ready = False


cdef void _load():
    """The pure module's constants and key functions, read once (lazily: jovay imports this module)."""
    global _TxOutcome, _Log, _account_key, _allowlist_key, _token_balance_key, _token_asset_key
    global _token_count_key, _FIXED, _PREFIX, _SELECTOR, _TOPIC, _RETURN, _TX_BASE_GAS, _TRANSFER_GAS
    global _ZERO_GAS, _NONZERO_GAS, _MAX_NONCE, _MAX_UINT128, _ACCOUNT_LIMIT, _ready
    from jovay.stf import transfers as pure
    from jovay.stf.transaction import TxOutcome

    _TxOutcome, _Log = TxOutcome, pure.Log
    _account_key, _allowlist_key = pure.account_key, pure.allowlist_key
    _token_balance_key, _token_asset_key = pure.token_balance_key, pure.token_asset_key
    _token_count_key = pure.system_field_key(pure.TOKEN_COUNT_FIELD)
    _FIXED = pure.FIXED_SYSTEM_ADDRESSES
    _PREFIX, _SELECTOR, _TOPIC = pure.TOKEN_ADDRESS_PREFIX, pure.TRANSFER_SELECTOR, pure.TRANSFER_TOPIC
    _RETURN = pure.TRANSFER_RETURN
    _TX_BASE_GAS, _TRANSFER_GAS = pure.TX_BASE_GAS, pure.TRANSFER_GAS
    _ZERO_GAS, _NONZERO_GAS = pure.TX_DATA_ZERO_GAS, pure.TX_DATA_NONZERO_GAS
    _MAX_NONCE, _MAX_UINT128, _ACCOUNT_LIMIT = pure.MAX_NONCE, pure.MAX_UINT128, pure.ACCOUNT_VALUE_LIMIT
    _ready = True


cdef bint _credit(object state, object key, object amount) except -1:
    """accounts.add_balance on a key: False (nothing written) where it would raise instead."""
    value = state.get(key)
    if not 0 <= value < _ACCOUNT_LIMIT or (value & _MAX_UINT128) + amount > _MAX_UINT128:
        return False
    state.set(key, value + amount)
    return True


def apply_transfer(state, env, signed_tx, gas_left):
    """`process_transaction` for a valid, successful plain transfer; None (state untouched) otherwise."""
    if not _ready:
        _load()
    tx = signed_tx.tx
    to = tx.to
    cdef bytes data = tx.data
    if to is None or tx.access_list:
        return None
    cdef bint is_token = len(data) != 0
    cdef Py_ssize_t zeros
    if is_token:
        if (
            len(data) != 68
            or data[:4] != _SELECTOR
            or data[4:16] != _ZERO_12
            or tx.value
            or not to.startswith(_PREFIX)
        ):
            return None
        zeros = data.count(0)
        gas_used = _TX_BASE_GAS + zeros * _ZERO_GAS + (68 - zeros) * _NONZERO_GAS + _TRANSFER_GAS
    elif to in _FIXED or to.startswith(_PREFIX):
        return None
    else:
        gas_used = _TX_BASE_GAS
    gas_limit = tx.gas_limit
    max_fee = tx.max_fee_per_gas
    tip_cap = tx.max_priority_fee_per_gas
    base_fee = env.base_fee
    if gas_used > gas_limit or gas_limit > env.gas_limit or gas_limit > gas_left:
        return None
    if tip_cap > max_fee or max_fee < base_fee:
        return None
    sender = signed_tx.sender
    sender_key = _account_key(sender)
    account = state.get(sender_key)
    if not 0 <= account < _ACCOUNT_LIMIT:
        return None
    nonce = account >> 128
    balance = account & _MAX_UINT128
    if tx.nonce != nonce or nonce >= _MAX_NONCE or balance < gas_limit * max_fee + tx.value:
        return None
    if is_token:
        token_id = int.from_bytes(to[len(_PREFIX):], "big")
        dst = data[16:36]
        amount = int.from_bytes(data[36:], "big")
        src_key = _token_balance_key(to, sender)
        if (
            not 1 <= token_id <= state.get(_token_count_key)
            or amount > _MAX_UINT128
            or dst == _ZERO_ADDRESS
            or state.get(_allowlist_key(dst)) != 1
            or amount > state.get(src_key)
            or state.get(_token_asset_key(to))
        ):
            return None
    price = min(max_fee, base_fee + tip_cap)
    snapshot = state.snapshot()
    state.set(sender_key, (nonce + 1) << 128 | (balance - gas_limit * price))
    cdef list logs = []
    if is_token:
        state.set(src_key, state.get(src_key) - amount)
        dst_key = _token_balance_key(to, dst)
        state.set(dst_key, state.get(dst_key) + amount)
        logs.append(_Log(to, [_TOPIC, _ZERO_12 + sender, _ZERO_12 + dst], amount.to_bytes(32, "big")))
    else:
        value = tx.value
        state.set(sender_key, state.get(sender_key) - value)
        if not _credit(state, _account_key(to), value):
            state.revert(snapshot)
            return None
    if not (
        _credit(state, sender_key, (gas_limit - gas_used) * price)
        and _credit(state, _account_key(env.coinbase), gas_used * (price - base_fee))
    ):
        state.revert(snapshot)
        return None
    if is_token:
        return _TxOutcome(1, gas_used, price, logs, _RETURN)
    return _TxOutcome(1, gas_used, price)
