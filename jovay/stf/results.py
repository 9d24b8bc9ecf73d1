"""What executing a call or transaction produces: logs, return data, gas, and reverts."""

from __future__ import annotations

from dataclasses import dataclass, field

from jovay.codec.abi import encode_error
from jovay.codec.blocks import Log


class Revert(Exception):
    """A system-contract call that fails: its writes are undone, its gas is still paid.

    `data` is the revert data returned to the caller (Solidity `Error(string)` for a reason, empty for
    malformed calldata, as Solidity's ABI decoder would give).
    """

    def __init__(self, reason: str | None, gas: int) -> None:
        super().__init__(reason or "execution reverted")
        self.reason = reason
        self.gas = gas
        self.data = encode_error(reason) if reason is not None else b""


@dataclass(slots=True)
class CallResult:
    """A successful system-contract call."""

    gas: int
    return_data: bytes = b""
    logs: list[Log] = field(default_factory=list)
