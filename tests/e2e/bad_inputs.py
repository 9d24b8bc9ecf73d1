"""Every kind of bad raw transaction the node must refuse, with the JSON-RPC error it must give."""

from __future__ import annotations

import rlp
from eth_account import Account
from web3 import Web3

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
TX_POOL_ERROR = -32000


def _sign(key: str, **fields: object) -> bytes:
    return bytes(Account.sign_transaction(fields, key).raw_transaction)


def _high_s(raw_legacy: bytes) -> bytes:
    """The same legacy transaction with the other valid-looking signature (s -> n - s, v flipped)."""
    nonce, gas_price, gas, to, value, data, v, r, s = rlp.decode(raw_legacy)
    v_int, s_int = int.from_bytes(v, "big"), int.from_bytes(s, "big")
    flipped_v = v_int + 1 if v_int % 2 == 1 else v_int - 1
    fields = [nonce, gas_price, gas, to, value, data, flipped_v, r, SECP256K1_N - s_int]
    return rlp.encode(fields)


def bad_raw_transactions(devnet: dict, w3: Web3) -> list[tuple[str, bytes, int, str]]:
    """(name, raw bytes, expected error code, expected message fragment) for each rejection."""
    account = devnet["devAccounts"][6]
    key, address = account["privateKey"], account["address"]
    chain_id = devnet["chainId"]
    nonce = w3.eth.get_transaction_count(address, "pending")
    price = 4 * w3.eth.gas_price
    base = {
        "chainId": chain_id,
        "nonce": nonce,
        "to": devnet["devAccounts"][7]["address"],
        "value": 1,
        "gas": 21_000,
        "maxFeePerGas": price,
        "maxPriorityFeePerGas": 1,
    }
    legacy = {k: v for k, v in base.items() if not k.startswith("max")} | {"gasPrice": price}
    used = devnet["devAccounts"][0]
    registry = devnet["contracts"]["l2"]["assetRegistry"]
    return [
        ("malformed RLP", b"\xf8\x05\x01\x02", TX_POOL_ERROR, "rlp"),
        (
            "unsupported type",
            b"\x05" + rlp.encode([1, 2, 3]),
            TX_POOL_ERROR,
            "transaction type not supported",
        ),
        (
            "wrong chain id",
            _sign(key, **(base | {"chainId": 1})),
            TX_POOL_ERROR,
            "invalid chain id for signer",
        ),
        (
            "high-s signature",
            _high_s(_sign(key, **legacy)),
            TX_POOL_ERROR,
            "invalid transaction v, r, s values",
        ),
        (
            "oversized",
            _sign(key, **(base | {"to": registry, "data": b"\x01" * 140_000, "gas": 3_000_000})),
            TX_POOL_ERROR,
            "oversized data",
        ),
        ("nonce too low", _sign(used["privateKey"], **(base | {"nonce": 0})), TX_POOL_ERROR, "nonce too low"),
        ("nonce gap", _sign(key, **(base | {"nonce": nonce + 100_000})), TX_POOL_ERROR, "nonce too high"),
        (
            "insufficient funds",
            _sign(Account.create().key, **(base | {"nonce": 0})),
            TX_POOL_ERROR,
            "insufficient funds for gas * price + value",
        ),
        (
            "max fee below base fee",
            _sign(key, **(base | {"maxFeePerGas": 1, "maxPriorityFeePerGas": 1})),
            TX_POOL_ERROR,
            "max fee per gas less than block base fee",
        ),
        (
            "intrinsic gas too low",
            _sign(key, **(base | {"gas": 20_000})),
            TX_POOL_ERROR,
            "intrinsic gas too low",
        ),
        (
            "contract creation",
            _sign(
                key, **({k: v for k, v in base.items() if k != "to"} | {"data": b"\x60\x00", "gas": 100_000})
            ),
            TX_POOL_ERROR,
            "contract creation is not supported",
        ),
        (
            "calldata to a plain account",
            _sign(key, **(base | {"data": b"\x12\x34", "gas": 30_000})),
            TX_POOL_ERROR,
            "not a system contract",
        ),
    ]
