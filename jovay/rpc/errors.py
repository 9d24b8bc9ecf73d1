"""JSON-RPC error codes and the exception that carries one to the client."""

from __future__ import annotations

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_ERROR = -32000  # geth's code for transaction-pool and state errors
EXECUTION_REVERTED = 3  # geth's code for a reverted eth_call / eth_estimateGas, with `data`


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, object]:
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_argument(index: int, why: str) -> RpcError:
    """geth's wording for a parameter it cannot parse."""
    return RpcError(INVALID_PARAMS, f"invalid argument {index}: {why}")
