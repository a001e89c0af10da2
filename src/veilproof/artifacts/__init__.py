"""Content-addressed artifact store: ONNX files, circuits, keys, proofs, FHE bundles."""

from veilproof.artifacts.store import ArtifactStore, sha256_file, sha256_hex

__all__ = ["ArtifactStore", "sha256_file", "sha256_hex"]
