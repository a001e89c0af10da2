"""Audit failures are scored by the error's type, never by its message (fast: no network)."""

from __future__ import annotations

import pytest

from veilproof.client.errors import (
    BadResponse,
    NodeBusy,
    NodeUnreachable,
    NoResult,
    ProofRejected,
    ResultMismatch,
    Unauthorized,
    refusal,
)
from veilproof.errors import ArtifactError
from veilproof.validator.audits import failure_record


@pytest.mark.parametrize(
    "error,wrong",
    [
        (ResultMismatch("job 1: proof differs from the settled proof hash"), True),
        (ProofRejected("job 1: anything at all", {"job_id": 1, "outcome": "slashed"}), True),
        (NoResult("job 1: output ciphertext does not match the hash posted on chain"), False),
        (Unauthorized(401, "proof rejected on chain"), False),
        (NodeUnreachable("connection refused"), False),
        (BadResponse("instances differ from the settled output hash"), False),
        (NodeBusy(503, "node busy: queue full"), False),
        (ArtifactError("artifact not found on any source"), False),
    ],
)
def test_failures_are_classified_by_type_never_by_message(error: Exception, wrong: bool) -> None:
    """The messages above would fool a substring match; the types decide."""
    rec = failure_record("0xnode", 1, "zk", error, 1.0)
    assert rec.answered is wrong and rec.correct is False


def test_an_error_status_maps_to_its_typed_refusal() -> None:
    assert isinstance(refusal(401, "x"), Unauthorized)
    assert isinstance(refusal(503, "x"), NodeBusy)
    e = refusal(502, "bad gateway")
    assert e.status == 502 and not isinstance(e, NodeBusy) and "HTTP 502" in str(e)


def test_record_keeps_the_job_id_of_a_wrong_result() -> None:
    rec = failure_record("0xnode", 1, "zk", ResultMismatch("m", {"job_id": 7}), 2.0)
    assert rec.job_id == 7 and rec.latency_s == 2.0
