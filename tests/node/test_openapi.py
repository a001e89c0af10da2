from __future__ import annotations

from pathlib import Path

from veilproof.node.openapi import render

SPEC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_openapi_spec_is_current() -> None:
    """docs/openapi.json must match the code: regenerate with `python -m veilproof.node.openapi`."""
    assert SPEC.read_text() == render()


def test_spec_lists_the_job_endpoints() -> None:
    import json

    paths = json.loads(render())["paths"]
    for p in (
        "/zk/jobs/{job_id}",
        "/fhe/jobs/{job_id}",
        "/fhe/keys",
        "/jobs/{job_id}",
        "/artifacts/{digest}",
        "/info",
    ):
        assert p in paths
