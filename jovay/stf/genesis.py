"""The genesis state and block: shared by the sequencer, every replica and the L1 Rollup contract."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jovay.params import BLOCK_GAS_LIMIT, DEFAULT_L2_CHAIN_ID
from jovay.state.keys import account_key, pack_account, system_field_key
from jovay.stf.identity import ADMIN_FIELD


@dataclass(frozen=True)
class Genesis:
    """Chain parameters a replica must share with the sequencer to derive identical blocks."""

    identity_admin: bytes
    timestamp: int
    chain_id: int = DEFAULT_L2_CHAIN_ID
    gas_limit: int = BLOCK_GAS_LIMIT
    alloc: dict[bytes, int] = field(default_factory=dict)

    def state_writes(self) -> dict[int, int]:
        """Leaves of the genesis state: the identity admin and any pre-funded accounts."""
        writes = {system_field_key(ADMIN_FIELD): int.from_bytes(self.identity_admin, "big")}
        for address, balance in self.alloc.items():
            writes[account_key(address)] = pack_account(0, balance)
        return writes

    def to_json(self) -> dict[str, object]:
        return {
            "chainId": self.chain_id,
            "timestamp": self.timestamp,
            "gasLimit": self.gas_limit,
            "identityAdmin": "0x" + self.identity_admin.hex(),
            "alloc": {"0x" + a.hex(): str(b) for a, b in self.alloc.items()},
        }

    @classmethod
    def from_json(cls, data: dict) -> Genesis:
        return cls(
            identity_admin=bytes.fromhex(data["identityAdmin"][2:]),
            timestamp=int(data["timestamp"]),
            chain_id=int(data["chainId"]),
            gas_limit=int(data["gasLimit"]),
            alloc={bytes.fromhex(a[2:]): int(b) for a, b in data.get("alloc", {}).items()},
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))

    @classmethod
    def load(cls, path: Path) -> Genesis:
        return cls.from_json(json.loads(path.read_text()))
