"""JSON shapes of blocks, transactions, receipts and logs, as geth serves them."""

from __future__ import annotations

from typing import Any

from jovay.codec.blocks import Header, Log, block_hash, encode_header
from jovay.codec.transactions import DepositTx, SignedTx, decode_deposit, decode_transaction
from jovay.rpc.params import hex_bytes, hex_int
from jovay.storage.chain import StoredReceipt

DEPOSIT_TYPE = 0x7E


def decode_stored_tx(raw: bytes, chain_id: int) -> SignedTx | DepositTx:
    """A transaction as stored in a block (already validated when it was sealed)."""
    if raw[:1] == bytes([DEPOSIT_TYPE]):
        return decode_deposit(raw)
    return decode_transaction(raw, expected_chain_id=chain_id)


def format_header(header: Header, hash_: bytes | None = None, size: int = 0) -> dict[str, Any]:
    hash_ = hash_ or block_hash(header)
    return {
        "hash": hex_bytes(hash_),
        "parentHash": hex_bytes(header.parent_hash),
        "sha3Uncles": hex_bytes(header.ommers_hash),
        "miner": hex_bytes(header.coinbase),
        "stateRoot": hex_bytes(header.state_root),
        "transactionsRoot": hex_bytes(header.transactions_root),
        "receiptsRoot": hex_bytes(header.receipts_root),
        "logsBloom": hex_bytes(header.logs_bloom),
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "number": hex_int(header.number),
        "gasLimit": hex_int(header.gas_limit),
        "gasUsed": hex_int(header.gas_used),
        "timestamp": hex_int(header.timestamp),
        "extraData": hex_bytes(header.extra_data),
        "mixHash": hex_bytes(header.mix_hash),
        "nonce": hex_bytes(header.nonce),
        "baseFeePerGas": hex_int(header.base_fee_per_gas),
        "size": hex_int(size or len(encode_header(header))),
        "uncles": [],
    }


def format_transaction(
    tx: SignedTx | DepositTx,
    tx_hash: bytes,
    *,
    block_hash_: bytes | None,
    number: int | None,
    index: int | None,
    base_fee: int | None,
) -> dict[str, Any]:
    location = {
        "blockHash": hex_bytes(block_hash_) if block_hash_ is not None else None,
        "blockNumber": hex_int(number) if number is not None else None,
        "transactionIndex": hex_int(index) if index is not None else None,
    }
    if isinstance(tx, DepositTx):
        return {**location, "hash": hex_bytes(tx_hash), **_deposit_fields(tx)}
    return {**location, "hash": hex_bytes(tx_hash), **_signed_fields(tx, base_fee)}


def _deposit_fields(tx: DepositTx) -> dict[str, Any]:
    return {
        "type": hex_int(DEPOSIT_TYPE),
        "from": hex_bytes(tx.sender),
        "to": hex_bytes(tx.to),
        "value": hex_int(tx.value),
        "nonce": hex_int(tx.queue_index),
        "queueIndex": hex_int(tx.queue_index),
        "gas": "0x0",
        "gasPrice": "0x0",
        "input": "0x",
        "v": "0x0",
        "r": "0x0",
        "s": "0x0",
    }


def _signed_fields(signed: SignedTx, base_fee: int | None) -> dict[str, Any]:
    tx = signed.tx
    fields: dict[str, Any] = {
        "type": hex_int(tx.tx_type),
        "from": hex_bytes(signed.sender),
        "to": hex_bytes(tx.to) if tx.to is not None else None,
        "value": hex_int(tx.value),
        "nonce": hex_int(tx.nonce),
        "gas": hex_int(tx.gas_limit),
        "input": hex_bytes(tx.data),
        "chainId": hex_int(tx.chain_id),
        "v": hex_int(tx.v),
        "r": hex_int(tx.r),
        "s": hex_int(tx.s),
    }
    if tx.tx_type == 0:
        fields["gasPrice"] = hex_int(tx.max_fee_per_gas)
        return fields
    fields["yParity"] = hex_int(tx.v)
    fields["accessList"] = [
        {"address": hex_bytes(address), "storageKeys": [hex_bytes(key) for key in keys]}
        for address, keys in tx.access_list
    ]
    if tx.tx_type == 1:
        fields["gasPrice"] = hex_int(tx.max_fee_per_gas)
        return fields
    fields["maxFeePerGas"] = hex_int(tx.max_fee_per_gas)
    fields["maxPriorityFeePerGas"] = hex_int(tx.max_priority_fee_per_gas)
    price = tx.max_fee_per_gas
    if base_fee is not None:
        price = min(tx.max_fee_per_gas, base_fee + tx.max_priority_fee_per_gas)
    fields["gasPrice"] = hex_int(price)
    return fields


def format_log(
    log: Log, *, block_hash_: bytes, number: int, tx_hash: bytes, tx_index: int, log_index: int
) -> dict[str, Any]:
    return {
        "address": hex_bytes(log.address),
        "topics": [hex_bytes(t) for t in log.topics],
        "data": hex_bytes(log.data),
        "blockHash": hex_bytes(block_hash_),
        "blockNumber": hex_int(number),
        "transactionHash": hex_bytes(tx_hash),
        "transactionIndex": hex_int(tx_index),
        "logIndex": hex_int(log_index),
        "removed": False,
    }


def format_receipt(
    stored: StoredReceipt,
    tx: SignedTx | DepositTx,
    tx_hash: bytes,
    *,
    block_hash_: bytes,
    number: int,
    index: int,
    first_log_index: int,
) -> dict[str, Any]:
    receipt = stored.receipt
    sender = tx.sender
    to = tx.to if isinstance(tx, DepositTx) else tx.tx.to
    return {
        "transactionHash": hex_bytes(tx_hash),
        "transactionIndex": hex_int(index),
        "blockHash": hex_bytes(block_hash_),
        "blockNumber": hex_int(number),
        "from": hex_bytes(sender),
        "to": hex_bytes(to) if to is not None else None,
        "cumulativeGasUsed": hex_int(receipt.cumulative_gas_used),
        "gasUsed": hex_int(stored.gas_used),
        "effectiveGasPrice": hex_int(stored.effective_gas_price),
        "contractAddress": None,
        "logs": [
            format_log(
                log,
                block_hash_=block_hash_,
                number=number,
                tx_hash=tx_hash,
                tx_index=index,
                log_index=first_log_index + i,
            )
            for i, log in enumerate(receipt.logs)
        ],
        "logsBloom": hex_bytes(receipt.bloom),
        "status": hex_int(receipt.status),
        "type": hex_int(receipt.tx_type),
    }
