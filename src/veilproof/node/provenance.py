"""Check what a node is about to serve against the chain before it serves it.

A node refuses a model when any artifact's sha256 differs from the on-chain commitment, or when its
lineage (parent models, datasets) is not registered — an auditor must be able to walk the whole
provenance of anything the network serves.
"""

from __future__ import annotations

from veilproof.chain.suite import Suite
from veilproof.errors import IntegrityError, VeilproofError


class ProvenanceError(VeilproofError):
    """A model's lineage on chain is incomplete or inconsistent."""


def check_lineage(suite: Suite, model_id: int, max_depth: int = 32) -> list[int]:
    """Walk parents breadth-first; every ancestor and every dataset must be registered."""
    models = suite.models
    seen: list[int] = []
    frontier = [model_id]
    while frontier:
        mid = frontier.pop(0)
        if mid in seen:
            continue
        if len(seen) >= max_depth:
            raise ProvenanceError(f"model {model_id}: lineage deeper than {max_depth}")
        if not models.exists(mid):
            raise ProvenanceError(f"model {model_id}: ancestor {mid} is not registered")
        for ds in models.datasets(mid):
            if not models.read_dataset(ds).registered:
                raise ProvenanceError(f"model {mid}: dataset {ds} is not registered")
        seen.append(mid)
        frontier.extend(models.parents(mid))
    return seen


def require_equal(name: str, committed_hex: str, actual_hex: str) -> None:
    """Raise IntegrityError unless an artifact's digest equals its on-chain commitment."""
    if committed_hex.lower().removeprefix("0x") != actual_hex.lower().removeprefix("0x"):
        raise IntegrityError(name, committed_hex, actual_hex)
