"""FHE engine: build FHE models, client keygen/encrypt/decrypt, isolated server evaluation, re-execution.

A pure engine: knows models, keys and ciphertexts; nothing of the chain, HTTP or nodes.

    bundle = package(concrete_model, store, kind=..., ...)        # publisher (examples: models.fhe_examples)
    c = FheClient(bundle.client_zip_path, key_dir, expected_client_hash=bundle.client_zip_hash)
    s = FheServer(bundle.server_zip_path, expected_hash=bundle.server_zip_hash)   # node
    out = s.run(c.encrypt(x), c.evaluation_keys())
    probs = c.decrypt(out)
    reexecute(s, c.evaluation_keys(), ct, reported_output_hash)  # anyone, no secret key
"""

import os

# Concrete's runtime (HPX, its dataflow scheduler) starts worker threads in every process that loads it
# (a node's FHE worker, a client), and they wake while idle: measured, an idle FHE worker used 1.2% of a
# core, and a run 0.2 s after the last one cost 7.2 ms of CPU instead of 4.2. One scheduler thread and a
# 10 s idle back-off: 0.1% and 4.8 ms (Concrete ML compiles without dataflow parallelism, which is what
# these threads serve). Defaults only: set before Concrete is imported (this package imports it), and
# an operator's own values win.
os.environ.setdefault("DFR_NUM_THREADS", "1")
os.environ.setdefault("HPX_MAX_IDLE_BACKOFF_TIME", "10000")

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
