"""FHE engine: build FHE models, client keygen/encrypt/decrypt, isolated server evaluation, re-execution.

A pure engine: knows models, keys and ciphertexts; nothing of the chain, HTTP or nodes.

    bundle = package(concrete_model, store, kind=..., ...)        # publisher (examples: models.fhe_examples)
    c = FheClient(bundle.client_zip_path, key_dir, expected_client_hash=bundle.client_zip_hash)
    s = FheServer(bundle.server_zip_path, expected_hash=bundle.server_zip_hash)   # node
    out = s.run(c.encrypt(x), c.evaluation_keys())
    probs = c.decrypt(out)
    reexecute(s, c.evaluation_keys(), ct, reported_output_hash)  # anyone, no secret key
"""

from veilproof.fhe.bundle import (
    DETERMINISTIC_KINDS,
    AccuracyReport,
    FheBundle,
    circuit_is_deterministic,
    package,
)
from veilproof.fhe.client import FheClient
from veilproof.fhe.errors import (
    CiphertextError,
    CircuitMismatch,
    CommitmentMismatch,
    EvaluationCrashed,
    EvaluationError,
    EvaluationKeyError,
    EvaluationTimeout,
    FheError,
    KeyStoreError,
    NotDeterministic,
    PayloadTooLarge,
)
from veilproof.fhe.hashes import job_hashes
from veilproof.fhe.reexecute import ReexecutionResult, reexecute
from veilproof.fhe.server import CircuitInfo, FheServer, ServerLimits

__all__ = [
    "DETERMINISTIC_KINDS",
    "AccuracyReport",
    "CiphertextError",
    "CircuitInfo",
    "CircuitMismatch",
    "CommitmentMismatch",
    "EvaluationCrashed",
    "EvaluationError",
    "EvaluationKeyError",
    "EvaluationTimeout",
    "FheBundle",
    "FheClient",
    "FheError",
    "FheServer",
    "KeyStoreError",
    "NotDeterministic",
    "PayloadTooLarge",
    "ReexecutionResult",
    "ServerLimits",
    "circuit_is_deterministic",
    "job_hashes",
    "package",
    "reexecute",
]
