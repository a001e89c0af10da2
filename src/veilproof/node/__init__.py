"""Compute node: a FastAPI service that sells ZK-verified and FHE-private inference."""

from veilproof.node.config import NodeConfig, ServedModel

__all__ = ["NodeConfig", "ServedModel"]
