"""An EZKL proof as a value: its JSON, the authenticated instances, and the raw proof bytes."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from veilproof.zk.instances import felt_hex_to_int, int_to_felt_hex


@dataclass(frozen=True)
class Proof:
    """Wraps EZKL's proof.json. Only ``instances`` and ``proof`` are authenticated by verification."""

    data: dict[str, Any]

    @classmethod
    def from_bytes(cls, raw: bytes) -> Proof:
        return cls(json.loads(raw))

    def to_bytes(self) -> bytes:
        return json.dumps(self.data, separators=(",", ":")).encode()

    @property
    def instances(self) -> list[int]:
        """Public instances as integers (one circuit, so one instance column)."""
        cols = self.data["instances"]
        return [felt_hex_to_int(h) for h in cols[0]]

    @property
    def proof_bytes(self) -> bytes:
        return bytes(self.data["proof"])

    def with_instances(self, values: list[int]) -> Proof:
        """A copy with other instances (used to show that edited outputs fail verification)."""
        d = copy.deepcopy(self.data)
        d["instances"] = [[int_to_felt_hex(v) for v in values]]
        return Proof(d)

    def with_proof_bytes(self, raw: bytes) -> Proof:
        d = copy.deepcopy(self.data)
        d["proof"] = list(raw)
        d["hex_proof"] = "0x" + raw.hex()
        return Proof(d)
