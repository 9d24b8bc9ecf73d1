"""What end-to-end tests share about the L2: system-contract ABIs and a dApp-style send."""

from __future__ import annotations

from eth_account import Account
from web3 import Web3

ERC20_ABI = [
    {"type": "function", "name": n, "stateMutability": m, "inputs": i, "outputs": o}
    for n, m, i, o in [
        ("name", "view", [], [{"name": "", "type": "string"}]),
        ("symbol", "view", [], [{"name": "", "type": "string"}]),
        ("decimals", "view", [], [{"name": "", "type": "uint8"}]),
        ("totalSupply", "view", [], [{"name": "", "type": "uint256"}]),
        ("balanceOf", "view", [{"name": "a", "type": "address"}], [{"name": "", "type": "uint256"}]),
        (
            "transfer",
            "nonpayable",
            [{"name": "to", "type": "address"}, {"name": "v", "type": "uint256"}],
            [{"name": "", "type": "bool"}],
        ),
        (
            "mint",
            "nonpayable",
            [{"name": "to", "type": "address"}, {"name": "v", "type": "uint256"}],
            [{"name": "", "type": "bool"}],
        ),
    ]
] + [
    {
        "type": "event",
        "name": "Transfer",
        "anonymous": False,
        "inputs": [
            {"name": "from", "type": "address", "indexed": True},
            {"name": "to", "type": "address", "indexed": True},
            {"name": "value", "type": "uint256", "indexed": False},
        ],
    }
]
REGISTRY_ABI = [
    {
        "type": "function",
        "name": "createToken",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "n", "type": "string"},
            {"name": "s", "type": "string"},
            {"name": "d", "type": "uint8"},
        ],
        "outputs": [{"name": "", "type": "address"}],
    },
    {
        "type": "function",
        "name": "tokenCount",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "tokenAt",
        "stateMutability": "view",
        "inputs": [{"name": "i", "type": "uint256"}],
        "outputs": [{"name": "", "type": "address"}],
    },
]
IDENTITY_ABI = [
    {
        "type": "function",
        "name": "setAllowed",
        "stateMutability": "nonpayable",
        "inputs": [{"name": "h", "type": "address"}, {"name": "a", "type": "bool"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
]


def send(w3: Web3, key: str, tx: dict) -> dict:
    """Sign locally and send like a dApp: fill nonce, chain id, EIP-1559 fees and gas from the node."""
    account = Account.from_key(key)
    tx = {
        "from": account.address,
        "chainId": w3.eth.chain_id,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "maxPriorityFeePerGas": w3.eth.max_priority_fee,
        "maxFeePerGas": 2 * w3.eth.gas_price,
        **tx,
    }
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=30)
