"""Typed failures of the FHE engine.

Why typed: the node serves ciphertexts and evaluation keys sent by strangers. Every way such bytes can
be wrong must surface as one of these (never as a native crash or a bare ``RuntimeError``), so the
node can answer "400: bad ciphertext" and keep serving, and a validator can tell a malformed request
from a misbehaving node.
"""

from __future__ import annotations

from veilproof.errors import IntegrityError, VeilproofError


class FheError(VeilproofError):
    """Base class of every FHE engine error."""


class CommitmentMismatch(FheError, IntegrityError):
    """A client.zip / server.zip does not hash to the commitment it was expected to match."""


class CiphertextError(FheError):
    """Ciphertext bytes are not a well-formed encrypted input for this circuit (truncated, random...)."""


class CircuitMismatch(CiphertextError):
    """The ciphertext is well-formed but was encrypted for another circuit (shape, bit width, params)."""


class EvaluationKeyError(FheError):
    """Evaluation keys are malformed or were generated for another circuit.

    Note: keys of *another client* for the *same* circuit cannot be detected by the server — FHE
    evaluation then succeeds and yields an output that neither client can decrypt meaningfully.
    """


class PayloadTooLarge(FheError):
    """An input exceeds the configured size limit; refused before any parsing."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(f"{what}: {size} bytes exceeds limit of {limit} bytes")


class EvaluationError(FheError):
    """Evaluation failed for a reason not attributable to a specific input field."""


class EvaluationCrashed(EvaluationError):
    """The isolated evaluation worker died (native abort / segfault); the input is treated as invalid.

    The worker is restarted automatically; the server object stays usable.
    """


class EvaluationTimeout(EvaluationError):
    """The isolated evaluation worker exceeded its time limit and was killed."""


class KeyStoreError(FheError):
    """The local secret-key store could not be read or written (permissions, corruption)."""


class NotDeterministic(FheError):
    """Re-execution was requested for a model kind whose server evaluation is not byte-deterministic."""
