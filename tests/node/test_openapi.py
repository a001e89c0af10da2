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


# Every status each route can answer with (success first); kept by hand so that a route that starts
# raising a new refusal without declaring it, or the table changing a status, shows up here.
ROUTE_STATUSES = {
    # 503: any route when the node cannot reach its chain (ChainUnavailable), admission when busy too
    ("get", "/health"): {"200", "500", "503"},
    ("get", "/info"): {"200", "500", "503"},
    ("get", "/artifacts/{digest}"): {"200", "400", "404", "500", "503"},
    ("post", "/zk/jobs/{job_id}"): {
        "202", "400", "401", "403", "404", "408", "409", "410", "413", "415", "422", "500", "503",
    },
    ("head", "/fhe/keys/{digest}"): {"200", "404"},
    ("put", "/fhe/keys"): {
        "200", "400", "401", "403", "404", "408", "409", "410", "413", "415", "422", "500", "503",
    },
    ("post", "/fhe/jobs/{job_id}"): {
        "202", "400", "401", "403", "404", "408", "409", "410", "413", "415", "422", "428", "500", "503",
    },
    ("get", "/jobs/{job_id}"): {"200", "404", "422", "500", "503"},
    ("get", "/fhe/jobs/{job_id}/output"): {"200", "404", "422", "500", "503"},
    ("post", "/zk/orders"): {"202", "400", "401", "404", "408", "409", "410", "413", "415", "422", "500", "503"},
    ("get", "/zk/orders/{order_hash}"): {"200", "404", "422", "500", "503"},
    ("post", "/zk/orders/{order_hash}/receipt"): {"200", "400", "401", "404", "408", "409", "413", "415", "422",
                                                  "500", "503"},
    ("post", "/pipelines/jobs/{job_id}/stages/{stage}"): {
        "202", "400", "401", "404", "408", "409", "410", "413", "415", "422", "500", "503",
    },
}  # fmt: skip


def test_spec_lists_every_status_of_every_route_with_the_error_body() -> None:
    import json

    spec = json.loads(render())
    found = {(m, p): set(op["responses"]) for p, ops in spec["paths"].items() for m, op in ops.items()}
    assert found == ROUTE_STATUSES
    for (method, path), statuses in found.items():
        for status in statuses:
            resp = spec["paths"][path][method]["responses"][status]
            if int(status) >= 400 and method != "head":  # HEAD answers have no body
                ref = resp["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/ErrorBody", (method, path, status)
    assert "HTTPValidationError" not in json.dumps(spec)  # 422s are ErrorBody too


def test_spec_types_the_job_status_and_octet_stream_bodies() -> None:
    import json

    spec = json.loads(render())
    job = spec["paths"]["/jobs/{job_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert job["schema"]["$ref"] == "#/components/schemas/JobReport"
    states = spec["components"]["schemas"]["JobState"]["enum"]
    assert set(states) == {"accepted", "running", "submitted", "failed", "abandoned"}
    for method, path in (("post", "/fhe/jobs/{job_id}"), ("put", "/fhe/keys")):
        body = spec["paths"][path][method]["requestBody"]["content"]
        assert body["application/octet-stream"]["schema"]["format"] == "binary"
    zk = spec["paths"]["/zk/jobs/{job_id}"]["post"]["requestBody"]["content"]["application/json"]
    assert "encrypted_input" in zk["schema"]["properties"]
