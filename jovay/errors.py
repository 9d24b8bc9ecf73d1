"""The one exception hierarchy of the node.

Protocol errors (a bad transaction, block or batch) are the input's fault and never stop the node;
temporary errors may succeed on retry; critical errors mean the node must halt rather than continue
on state it cannot trust.
"""

from __future__ import annotations


class JovayError(Exception):
    """Root of every error the node raises on purpose."""


class ProtocolError(JovayError):
    """Input that breaks the protocol's rules: reject it, keep running."""


class InvalidTransaction(ProtocolError):
    """A transaction that may not enter the pool or a block.

    `rpc_code` is the JSON-RPC error code a server should answer with (geth uses -32000 for
    transaction-pool rejections and -32602 for arguments it cannot parse).
    """

    def __init__(self, message: str, rpc_code: int = -32000) -> None:
        super().__init__(message)
        self.message = message
        self.rpc_code = rpc_code


class NotYetValid(InvalidTransaction):
    """Invalid in this block but possibly in a later one (a nonce gap, a full block, a fee below the
    base fee): the sequencer keeps such a transaction pooled instead of dropping it."""


class NonceTooLow(InvalidTransaction):
    """The sender's nonce has moved past this transaction: it can never be included."""


class InvalidBlock(ProtocolError):
    """A block whose contents or header do not follow from its parent and transactions."""


class InvalidBatch(ProtocolError):
    """Batch data on L1 that cannot be decoded or does not match its commitment."""


class StateUnavailable(ProtocolError):
    """A read of state this node no longer stores (older than its retention window): geth answers
    such reads with -32000 "missing trie node"; so does the RPC server."""

    rpc_code = -32000

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TemporaryError(JovayError):
    """A failure worth retrying: an L1 endpoint timed out, a transaction was dropped."""


class CriticalError(JovayError):
    """State the node cannot trust (a replica's root differs from the L1 commitment): halt."""
