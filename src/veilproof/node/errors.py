"""Why the node refuses a request, as types; :mod:`veilproof.node.app` maps each to an HTTP status.

Why types and not ``(status, reason)`` pairs: the service decides *what* is wrong (not assigned,
replayed, busy), the HTTP layer decides how to say it. The status table lives in one place
(:data:`veilproof.node.app.ERROR_STATUS`) and also writes the OpenAPI spec, so a route documents every
status it can answer with. The message is the reason sent back to the peer as ``{"error": ...}``:
it must never quote a client's input.
"""

from __future__ import annotations

from typing import ClassVar

from veilproof.errors import VeilproofError
from veilproof.protocol.api import RefusalCode


class NodeRefusal(VeilproofError):
    """Base of every request the node will not serve; ``reason`` goes to the peer verbatim, with the
    class's ``code`` (each refusal has its own: a client acts on it)."""

    code: ClassVar[RefusalCode] = RefusalCode.INTERNAL_ERROR

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BadInput(NodeRefusal):
    """The request is well-formed but its content is wrong (input, ciphertext, keys, digest, mode)."""

    code = RefusalCode.BAD_INPUT


class MalformedBody(NodeRefusal):
    """The body, a path parameter or a required header cannot be parsed."""

    code = RefusalCode.MALFORMED_BODY


class UnsupportedMediaType(NodeRefusal):
    """The ``Content-Type`` is not the one the endpoint takes."""

    code = RefusalCode.UNSUPPORTED_MEDIA_TYPE


class TooLarge(NodeRefusal):
    """The body is (or declares to be) larger than the node accepts."""

    code = RefusalCode.TOO_LARGE


class QuotaExceeded(TooLarge):
    """The client's uploads would exceed its quota of evaluation-key bytes on this node."""

    code = RefusalCode.QUOTA_EXCEEDED


class BadSignature(NodeRefusal):
    """The request signature is missing, malformed, or not from the job's client (nor its wallet)."""

    code = RefusalCode.BAD_SIGNATURE


class PriceBelowOffer(BadInput):
    """An order's ``max_price`` is below what this node charges for the model now (the owner's royalty
    plus the node's offer, ``NodeRegistry.set_offer``): order at the quote ``veilproof nodes --model``
    shows."""

    code = RefusalCode.PRICE_BELOW_OFFER


class NotAssigned(NodeRefusal):
    """The job is assigned to another node on chain."""

    code = RefusalCode.NOT_ASSIGNED


class UnknownJob(NodeRefusal):
    """The job does not exist on chain, or this node holds no record / output for it."""

    code = RefusalCode.UNKNOWN_JOB


class NotServed(NodeRefusal):
    """This node does not serve the job's model (or not in the requested mode)."""

    code = RefusalCode.NOT_SERVED


class TaintedLineage(NotServed):
    """The model's data lineage is refused by the node's policy: trained on a data version holding a
    revoked record (and not retrained), or lineage the node cannot check (issue #15)."""

    code = RefusalCode.TAINTED_LINEAGE


class UnknownArtifact(NodeRefusal):
    """The artifact is not in this node's store."""

    code = RefusalCode.UNKNOWN_ARTIFACT


class JobNotOpen(NodeRefusal):
    """The job is not open on chain (settled, refunded, …) or the chain refused to start it."""

    code = RefusalCode.JOB_NOT_OPEN


class DepositTooLow(JobNotOpen):
    """A pay-on-proof order is not covered by the client's deposit with this node (its unsettled orders
    + this order's max price + the claim surcharge each): deposit more, then send the same order."""

    code = RefusalCode.DEPOSIT_TOO_LOW


class Replay(NodeRefusal):
    """The job was already submitted to this node: a job is served once."""

    code = RefusalCode.REPLAY


class DeadlinePassed(NodeRefusal):
    """The job's deadline has passed or is too close to do the work."""

    code = RefusalCode.DEADLINE_PASSED


class KeysMissing(NodeRefusal):
    """The FHE evaluation keys named by the request were not uploaded (``PUT /fhe/keys`` first)."""

    code = RefusalCode.KEYS_MISSING


class Busy(NodeRefusal):
    """Every worker is busy and the queue is full: try later or another node."""

    code = RefusalCode.BUSY


class ChainUnavailable(NodeRefusal):
    """The node cannot reach its chain right now: nothing was taken on chain; retry later."""

    code = RefusalCode.CHAIN_UNAVAILABLE


class RequestTimeout(NodeRefusal):
    """The request body did not arrive within the node's body-read deadline."""

    code = RefusalCode.REQUEST_TIMEOUT


class InternalError(NodeRefusal):
    """An unexpected failure inside the node (a bug, not the peer's fault)."""

    code = RefusalCode.INTERNAL_ERROR
