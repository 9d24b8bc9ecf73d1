"""The `jovay_` rollup methods and `eth_getProof`: where the L2 stands against L1, and state proofs.

- `jovay_syncStatus`: unsafe, safe and finalized L2 heads with the L1 block that made each so;
- `jovay_getBatch`: one batch as the L1 Rollup contract committed it;
- `jovay_outputAtBlock`: the OP Stack style output root v0 of an L2 block;
- `eth_getProof`: Ethereum's method name, answered with a Poseidon sparse-Merkle proof of the account
  leaf (docs/rpc.md, "eth_getProof"), which `jovay.sdk.verify_account_proof` checks;
- `jovay_getWithdrawalProof`: a withdrawal leaf's proof in the form the L1 bridge takes
  (`jovay.sdk.withdrawals` turns it into `Bridge.finalizeWithdrawal`).

The L1 side comes from the node's L1 watcher. This module does not import it (rpc and l1 are siblings):
it reads the watcher through the `L1View` protocol, and any head tracker without batches (unit tests)
gets genesis for safe and finalized and null for every L1 field.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from jovay.crypto.keccak import keccak256
from jovay.rpc import params as p
from jovay.rpc.errors import SERVER_ERROR, RpcError, invalid_argument
from jovay.rpc.methods import EthApi, HeadTracker, LoadedBlock
from jovay.state.keys import account_key, unpack_account, withdrawal_key
from jovay.state.overlay import StateOverlay
from jovay.state.smt import SmtProof
from jovay.state.smt_proofs import l1_proof
from jovay.stf.system import SYSTEM_CODE, is_system_contract
from jovay.storage.chain import Chain

OUTPUT_VERSION_V0 = bytes(32)
# No L2 -> L1 messages exist yet; withdrawals (issue 6) will commit them under this root.
EMPTY_CODE_HASH = keccak256(b"")
SYSTEM_CODE_HASH = keccak256(SYSTEM_CODE)
# Jovay accounts have no EVM storage: the storage root of every account.
EMPTY_STORAGE_HASH = bytes(32)


class BatchRecord(Protocol):
    """One batch as the L1 Rollup contract committed it (the watcher's `CommittedBatch`)."""

    @property
    def index(self) -> int: ...
    @property
    def data_hash(self) -> bytes: ...
    @property
    def tx_list_commitment(self) -> bytes: ...
    @property
    def pre_state_root(self) -> bytes: ...
    @property
    def post_state_root(self) -> bytes: ...
    @property
    def last_l2_block(self) -> int: ...
    @property
    def l1_message_queue_position(self) -> int: ...
    @property
    def l1_block(self) -> int: ...
    @property
    def l1_tx_hash(self) -> bytes: ...


@runtime_checkable
class L1View(Protocol):
    """What the rollup methods read from the L1 watcher, beyond the safe and finalized heads."""

    @property
    def batches(self) -> Sequence[BatchRecord]: ...
    @property
    def l1_head(self) -> int: ...
    @property
    def l1_finalized(self) -> int: ...
    def safe_block(self) -> int: ...
    def finalized_block(self) -> int: ...


class RollupApi:
    def __init__(self, chain: Chain, heads: HeadTracker | None, eth: EthApi) -> None:
        self.chain = chain
        self.heads = heads
        self.l1: L1View | None = heads if isinstance(heads, L1View) else None
        self.eth = eth

    def methods(self) -> dict[str, Callable[[list[Any]], Any]]:
        return {
            "jovay_syncStatus": self.jovay_syncStatus,
            "jovay_getBatch": self.jovay_getBatch,
            "jovay_outputAtBlock": self.jovay_outputAtBlock,
            "eth_getProof": self.eth_getProof,
            "jovay_getWithdrawalProof": self.jovay_getWithdrawalProof,
        }

    # --- helpers ---------------------------------------------------------------------------------
    def _block(self, number: int) -> LoadedBlock:
        block = self.eth.load_block(number)
        if block is None:  # numbers come from block_number_of or the head: a gap is a store fault
            raise RpcError(SERVER_ERROR, f"block {number} not found")
        return block

    def _batches(self) -> list[BatchRecord]:
        """A snapshot: the watcher appends from its own thread."""
        return list(self.l1.batches) if self.l1 is not None else []

    def _l2_ref(self, number: int, batches: list[BatchRecord], with_origin: bool = False) -> dict[str, Any]:
        """An L2 head with the batch that carries it to L1 (none for the unsafe head or genesis)."""
        block = self._block(number)
        origin = _batch_of_block(batches, number) if with_origin else None
        return {
            "number": p.hex_int(number),
            "hash": p.hex_bytes(block.hash),
            "timestamp": p.hex_int(block.header.timestamp),
            "l1Origin": {
                "number": None if origin is None else p.hex_int(origin.l1_block),
                "transactionHash": None if origin is None else p.hex_bytes(origin.l1_tx_hash),
                "batchIndex": None if origin is None else p.hex_int(origin.index),
            },
        }

    # --- methods ---------------------------------------------------------------------------------
    def jovay_syncStatus(self, params: list[Any]) -> dict[str, Any]:
        """Unsafe, safe and finalized L2 heads and the L1 heads: one call to alert on."""
        head = self.chain.head.number
        safe = min(self.heads.safe_block(), head) if self.heads else 0
        finalized = min(self.heads.finalized_block(), safe) if self.heads else 0
        batches = self._batches()  # after the heads, so it holds the batches that made them
        return {
            "unsafeL2": self._l2_ref(head, batches),
            "safeL2": self._l2_ref(safe, batches, with_origin=True),
            "finalizedL2": self._l2_ref(finalized, batches, with_origin=True),
            "currentL1": {"number": None if self.l1 is None else p.hex_int(self.l1.l1_head)},
            "finalizedL1": {"number": None if self.l1 is None else p.hex_int(self.l1.l1_finalized)},
            "batchCount": p.hex_int(len(batches)),
        }

    def jovay_getBatch(self, params: list[Any]) -> dict[str, Any] | None:
        """A committed batch by index, with its L2 block range; null when L1 has no such batch (yet)."""
        index = p.quantity(p.param(params, 0), 0)
        batches = self._batches()
        position = _position_of_batch(batches, index)
        if position is None:
            return None
        batch = batches[position]
        first = _first_block(batches, position)
        # Final once the batch's output has finalized on L1 (challenge window passed, no game open).
        finalized = self.l1 is not None and batch.last_l2_block <= self.l1.finalized_block()
        return {
            "index": p.hex_int(batch.index),
            "firstBlock": None if first is None else p.hex_int(first),
            "lastBlock": p.hex_int(batch.last_l2_block),
            "dataHash": p.hex_bytes(batch.data_hash),
            "txListCommitment": p.hex_bytes(batch.tx_list_commitment),
            "preStateRoot": p.hex_bytes(batch.pre_state_root),
            "postStateRoot": p.hex_bytes(batch.post_state_root),
            "l1MessageQueuePosition": p.hex_int(batch.l1_message_queue_position),
            "l1BlockNumber": p.hex_int(batch.l1_block),
            "l1TransactionHash": p.hex_bytes(batch.l1_tx_hash),
            "finalized": finalized,
        }

    def jovay_outputAtBlock(self, params: list[Any]) -> dict[str, Any]:
        """The output root v0 of a block, as the OP Stack defines it, for proposers and bridges."""
        block = self._block(self.eth.block_number_of(p.param(params, 0, "latest"), 0))
        state_root = block.header.state_root
        return {
            "version": p.hex_bytes(OUTPUT_VERSION_V0),
            "outputRoot": p.hex_bytes(output_root(state_root, state_root, block.hash)),
            "stateRoot": p.hex_bytes(state_root),
            "messagePasserRoot": p.hex_bytes(state_root),
            "blockHash": p.hex_bytes(block.hash),
            "blockNumber": p.hex_int(block.header.number),
        }

    def eth_getProof(self, params: list[Any]) -> dict[str, Any]:
        """An account's leaf and its Poseidon SMT path under a block's stateRoot."""
        address = p.address(p.param(params, 0), 0)
        _check_no_storage_keys(p.param(params, 1, []))
        block = self._block(self.eth.block_number_of(p.param(params, 2, "latest"), 2))
        state_root = block.header.state_root
        tree = self.chain.state_tree(block.header.number)
        key = account_key(address)
        proof = tree.prove(key)
        value = proof.found_value if proof.found else 0
        nonce, balance = unpack_account(value)
        state = StateOverlay(tree.get)
        code_hash = SYSTEM_CODE_HASH if is_system_contract(state, address) else EMPTY_CODE_HASH
        return {
            "address": p.hex_bytes(address),
            "balance": p.hex_int(balance),
            "nonce": p.hex_int(nonce),
            "codeHash": p.hex_bytes(code_hash),
            "storageHash": p.hex_bytes(EMPTY_STORAGE_HASH),
            "storageProof": [],
            "accountProof": [field_hex(s) for s in proof.siblings],
            "smtProof": smt_proof_json(key, value, proof),
            "stateRoot": p.hex_bytes(state_root),
            "blockNumber": p.hex_int(block.header.number),
            "blockHash": p.hex_bytes(block.hash),
        }

    def jovay_getWithdrawalProof(self, params: list[Any]) -> dict[str, Any]:
        """Withdrawal `index`'s leaf under a block's stateRoot, proven in `SparseMerkle.Proof` form;
        `value` 0 (with a non-membership proof) when that block has no such withdrawal."""
        index = p.quantity(p.param(params, 0), 0)
        try:
            key = withdrawal_key(index)
        except ValueError as e:
            raise invalid_argument(0, str(e)) from None
        block = self._block(self.eth.block_number_of(p.param(params, 1, "latest"), 1))
        state_root = block.header.state_root
        tree = self.chain.state_tree(block.header.number)
        proof = l1_proof(tree.store, tree.root, key)
        value = proof.leaf_value if proof.leaf_key == key else 0
        return {
            "withdrawalIndex": p.hex_int(index),
            "key": field_hex(key),
            "value": field_hex(value),
            "proof": proof.to_json(),
            "stateRoot": p.hex_bytes(state_root),
            "blockNumber": p.hex_int(block.header.number),
            "blockHash": p.hex_bytes(block.hash),
        }


def output_root(state_root: bytes, message_root: bytes, block_hash: bytes) -> bytes:
    """keccak256(version || stateRoot || messagePasserRoot || blockHash), all 32 bytes (OP v0)."""
    return keccak256(OUTPUT_VERSION_V0 + state_root + message_root + block_hash)


def field_hex(x: int) -> str:
    """A field element as 32-byte big-endian hex, the way roots appear in headers."""
    return "0x" + x.to_bytes(32, "big").hex()


def smt_proof_json(key: int, value: int, proof: SmtProof) -> dict[str, Any]:
    """circomlib `find()`-shaped proof; the fields a circom SMTVerifier takes, in docs/rpc.md's format."""
    return {
        "key": field_hex(key),
        "value": field_hex(value),
        "siblings": [field_hex(s) for s in proof.siblings],
        "found": proof.found,
        "notFoundKey": field_hex(proof.not_found_key),
        "notFoundValue": field_hex(proof.not_found_value),
        "isOld0": proof.is_old0,
    }


def _check_no_storage_keys(keys: Any) -> None:
    """Jovay accounts have no EVM storage, so a storage proof could only be a made-up zero: refuse."""
    if not isinstance(keys, list):
        raise invalid_argument(1, "storageKeys must be an array")
    if keys:
        raise invalid_argument(
            1,
            "Jovay accounts have no storage slots: storageKeys must be empty "
            "(token balances and other system state are tree leaves, not EVM storage)",
        )


def _position_of_batch(batches: list[BatchRecord], index: int) -> int | None:
    """Where batch `index` sits in the list (batches are committed in order, so usually at `index`)."""
    if index < len(batches) and batches[index].index == index:
        return index
    return next((i for i, b in enumerate(batches) if b.index == index), None)


def _first_block(batches: list[BatchRecord], position: int) -> int | None:
    """Batch 0 starts at block 1 (genesis is the deployment's root); a later one after its predecessor."""
    batch = batches[position]
    if batch.index == 0:
        return 1
    previous = batches[position - 1] if position else None
    return previous.last_l2_block + 1 if previous is not None and previous.index == batch.index - 1 else None


def _batch_of_block(batches: list[BatchRecord], number: int) -> BatchRecord | None:
    """The first batch whose range reaches L2 block `number`; None for genesis or an unbatched block."""
    if number == 0:
        return None
    position = bisect_left(batches, number, key=lambda b: b.last_l2_block)
    return batches[position] if position < len(batches) else None
