"""ZK engine: EZKL circuits from ONNX — settings, SRS, keys, proofs, EVM verifier artifacts.

A pure engine: files in, files out. It knows nothing of the chain, HTTP or the node.
"""

from veilproof.zk.errors import (
    ArtifactHashMismatchError,
    CalibrationShapeError,
    CommitmentMismatchError,
    EzklError,
    ModelTooLargeError,
    ProofInvalidError,
    UnsupportedOpError,
    ZkError,
)
from veilproof.zk.instances import input_commitment, outputs_from_instances
from veilproof.zk.proof import Proof
from veilproof.zk.prover import CircuitFiles, EzklProver, Prover
from veilproof.zk.settings import CircuitSettings, generate_settings
from veilproof.zk.srs import Srs, UnsafeSrsWarning, get_srs

__all__ = [
    "ArtifactHashMismatchError",
    "CalibrationShapeError",
    "CircuitFiles",
    "CircuitSettings",
    "CommitmentMismatchError",
    "EzklError",
    "EzklProver",
    "ModelTooLargeError",
    "Proof",
    "ProofInvalidError",
    "Prover",
    "Srs",
    "UnsafeSrsWarning",
    "UnsupportedOpError",
    "ZkError",
    "generate_settings",
    "get_srs",
    "input_commitment",
    "outputs_from_instances",
]
