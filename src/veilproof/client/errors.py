"""Errors a buyer of inference can hit.

What a node did wrong is said by the exception's *type*, in two families, because callers act on the
difference and must not parse messages to learn it (a message can be reworded; a type cannot drift):

* :class:`NodeUnavailable` — the node did not deliver: unreachable, refused the request (one class per
  HTTP status, :data:`REFUSALS`), failed or gave up the job, timed out, or answered off-protocol.
  A validator counts it against the node's *availability*; the client simply tries another node.
  A refusal also carries the node's ``code`` (:class:`~veilproof.protocol.api.RefusalCode`), finer than
  the status: a deposit too low and a job no longer open are both 409, and only the first is mended
  by depositing.
* :class:`WrongResult` — the node delivered a result that failed verification: its proof was rejected
  on chain (it is slashed), or what it handed over differs from what it posted on chain. A validator
  counts it against the node's *correctness* (a wrong answer zeroes its weight).

Both derive from :class:`NodeMisbehaved`, so ``except NodeMisbehaved`` still catches every node failure.
"""

from __future__ import annotations

from typing import Any

from veilproof.errors import VeilproofError
from veilproof.protocol.api import RefusalCode


class ClientError(VeilproofError):
    """Base of client-side failures."""


class NoNodeAvailable(ClientError):
    """No active, staked node serves the model."""


class NodeMisbehaved(ClientError):
    """A node let the client down; the subclass says how. ``details`` (job id, challenge tx, outcome)
    are copied into :attr:`InferenceFailed.attempts`."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})


# --- the node did not deliver ------------------------------------------------------------------------
class NodeUnavailable(NodeMisbehaved):
    """The node did not deliver a result (counts against availability, not correctness)."""


class NodeUnreachable(NodeUnavailable):
    """No HTTP answer: connection refused or reset, DNS, timeout."""


class BadResponse(NodeUnavailable):
    """The node answered, but not in the protocol's shape (:mod:`veilproof.protocol.api`)."""


class NoResult(NodeUnavailable):
    """The node took the job but produced no usable result: it reported the job failed or abandoned,
    said nothing before the client's timeout, or handed over a claim the client could not challenge.
    The escrow comes back with a refund after the deadline."""


class NodeRefused(NodeUnavailable):
    """The node answered a request with an error status; ``reason`` is its ``{"error": ...}``, ``code``
    its ``"code"`` (:class:`veilproof.protocol.api.RefusalCode`; None from a node that sent none, or
    one this client does not know)."""

    def __init__(self, status: int, reason: str, request: str = "", code: RefusalCode | None = None) -> None:
        self.status = status
        self.reason = reason
        self.request = request
        self.code = code
        where = f"{request}: " if request else ""
        super().__init__(f"{where}HTTP {status}: {reason}")


class BadRequest(NodeRefused):
    """400: the request's content is wrong (input, ciphertext, keys, mode)."""


class Unauthorized(NodeRefused):
    """401: the request signature is missing or not from the job's client."""


class Forbidden(NodeRefused):
    """403: the job is assigned to another node."""


class NotFound(NodeRefused):
    """404: unknown job, model, artifact or output on this node."""


class RequestTimedOut(NodeRefused):
    """408: the request body did not reach the node in time (a slow or stalled upload)."""


class Conflict(NodeRefused):
    """409: the job is not open, or was already submitted (replay)."""


class Gone(NodeRefused):
    """410: the job's deadline has passed or is too close."""


class PayloadTooLarge(NodeRefused):
    """413: the body is larger than the node accepts."""


class UnsupportedMedia(NodeRefused):
    """415: wrong ``Content-Type``."""


class Unprocessable(NodeRefused):
    """422: the body, a path parameter or a required header is malformed."""


class PreconditionRequired(NodeRefused):
    """428: FHE evaluation keys must be uploaded first."""


class NodeServerError(NodeRefused):
    """5xx other than 503: the node failed internally."""


class NodeBusy(NodeRefused):
    """503: the node's queue is full, or it cannot reach its chain; try later or another node."""


REFUSALS: dict[int, type[NodeRefused]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    408: RequestTimedOut,
    409: Conflict,
    410: Gone,
    413: PayloadTooLarge,
    415: UnsupportedMedia,
    422: Unprocessable,
    428: PreconditionRequired,
    500: NodeServerError,
    503: NodeBusy,
}


def refusal(status: int, reason: str, request: str = "", code: object = None) -> NodeRefused:
    """The typed error for an HTTP error status (other 5xx → :class:`NodeServerError`), with the
    body's refusal code when it is one this client knows."""
    cls = REFUSALS.get(status) or (NodeServerError if status >= 500 else NodeRefused)
    try:
        known = RefusalCode(code) if isinstance(code, str) else None
    except ValueError:  # a newer node's code: the status and reason still say what happened
        known = None
    return cls(status, reason, request, known)


# --- the node delivered a wrong result -----------------------------------------------------------
class WrongResult(NodeMisbehaved):
    """The node's result failed verification (counts against correctness)."""


class ProofRejected(WrongResult):
    """The chain rejected the node's proof; the client's challenge slashed the node and refunded it."""


class ResultMismatch(WrongResult):
    """What the node handed over (instances, proof, output ciphertext) differs from what it posted on
    chain, or it will not hand over the output it posted."""


class InferenceFailed(ClientError):
    """Every node tried failed; ``attempts`` says what happened with each (JSON-friendly), ``causes``
    holds the exceptions themselves, in the same order, for callers that act on their type."""

    def __init__(
        self,
        message: str,
        attempts: list[dict[str, Any]] | None = None,
        causes: list[NodeMisbehaved] | None = None,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts or []
        self.causes = causes or []
