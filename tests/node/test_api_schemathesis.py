"""Property-based tests of the node's HTTP API against its own OpenAPI spec (Schemathesis).

Why: the spec (``docs/openapi.json``) is the contract every client codes against. Schemathesis reads
it, generates requests that fit it (and requests that break it: wrong types, missing headers, odd
paths), sends them to a real node and checks each answer: never a 5xx, every status one the spec lists
for that route, every body the schema the spec gives for that status. Hostile traffic found 500s
(int64 overflow in SQLite, a trailing newline accepted by a ``$`` regex); this keeps such holes shut.

The node is real: a :class:`NodeService` serving the example MLP in ZK mode, registered and staked on
a fresh embedded chain, behind the real FastAPI app (Starlette's in-process ASGI transport, so no
port). A few jobs are open on chain for it; a share of the generated job submissions is pointed at
one of those jobs and signed by its client, so generated bodies reach the input decoding and
commitment checks behind the signature check (random bytes never decrypt, so no job is consumed).

Bounded and derandomized like the rest of the suite (``tests/conftest.py``); set
``VEILPROOF_SCHEMATHESIS_EXAMPLES`` to search longer and ``VEILPROOF_HYPOTHESIS_EXPLORE=1`` for fresh
randomness.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import schemathesis
from eth_account.signers.local import LocalAccount
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from veilproof.chain import connect
from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_suite, deploy_zk_verifier
from veilproof.chain.job_market import JobMode
from veilproof.chain.suite import Suite
from veilproof.client.payer import DirectPayer
from veilproof.client.publish import publish_model
from veilproof.node.app import create_app
from veilproof.node.config import NodeConfig, ServedModel
from veilproof.node.service import NodeService
from veilproof.protocol import api
from veilproof.protocol.fhe_payload import fhe_signed_payload
from veilproof.protocol.signing import RequestSig, sign_request

EXAMPLES = int(os.environ.get("VEILPROOF_SCHEMATHESIS_EXAMPLES", "25"))  # per operation (9 operations)
PRICE = 2 * ONE_VEIL

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
]

# What a request that breaks the spec may be answered with: a refusal naming the field (4xx), never a
# 5xx (Schemathesis' default allows 5xx here; not_a_server_error forbids it anyway). A missing required
# header is a malformed request (422), or an unauthenticated one (401) for the signature.
_REFUSED = ["400", "401", "404", "405", "413", "415", "422", "428"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "negative_data_rejection": {"expected-statuses": _REFUSED},
            "missing_required_header": {"expected-statuses": ["401", "422"]},
        }
    }
)


@dataclass
class LiveNode:
    svc: NodeService
    suite: Suite
    client: LocalAccount
    zk_jobs: list[int]  # open ZK jobs assigned to the node (the client signs requests for them)
    fhe_jobs: list[int]  # open FHE jobs for a model the node serves only in ZK mode
    eval_keys: str  # digest of evaluation keys uploaded to the node


EVAL_KEYS = b"evaluation keys"  # the FHE job's committed keys (bytes the node only stores)


def _open(
    payer: DirectPayer, model_id: int, node: str, commitment: bytes, mode: JobMode, deadline: int
) -> int:
    """The one place this test opens a job (the JobMarket's open_job arguments change over time)."""
    # FHE jobs commit the sha256 of the client's evaluation keys (issue #12 item 1)
    keys_hash = hashlib.sha256(EVAL_KEYS).digest() if mode == JobMode.FHE else None
    job_id, _ = payer.open_job(model_id, node, commitment, int(mode), deadline, PRICE, keys_hash)
    return job_id


@pytest.fixture(scope="module")
def live_node(mlp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:  # type: ignore[no-untyped-def]
    from veilproof.zk import evm
    from veilproof.zk.srs import UnsafeSrsWarning

    warnings.simplefilter("ignore", UnsafeSrsWarning)
    home = tmp_path_factory.mktemp("schemathesis-node")
    net = connect()
    owner, client, node_acct = net.new_accounts(3)
    d = deploy_suite(net, owner, SuiteParams.dev())
    v = evm.compile_reusable_verifier()
    deploy_zk_verifier(net, owner, d, v.abi, v.bytecode)
    suite = Suite.attach(net, d)
    pkg = mlp.package
    onnx = pkg.commitments()["onnx_hash"]
    zk_model = publish_model(suite, owner, name="mlp", price=PRICE, onnx_hash=onnx, zk=pkg).model_id
    # Registered with FHE commitments, but this node serves it in ZK mode only.
    fhe_model = publish_model(
        suite, owner, name="mlp-fhe", price=PRICE, onnx_hash=onnx, zk=pkg,
        fhe_client_hash="11" * 32, fhe_server_hash="22" * 32,
    ).model_id  # fmt: skip
    (home / "artifacts").symlink_to(pkg.store.root, target_is_directory=True)
    cfg = NodeConfig(
        home=home,
        chain_url="embedded",
        deployment_file=home / "deployment.json",
        account_name="node",
        models=[
            ServedModel(zk_model, zk_package=pkg.manifest_digest),
            ServedModel(fhe_model, zk_package=pkg.manifest_digest),
        ],
        max_body_bytes=64 * 1024,
        max_eval_key_bytes=64 * 1024,
    )
    suite.token.mint(node_acct.address, cfg.stake, sender=owner)
    suite.token.mint(client.address, 100 * PRICE, sender=owner)
    svc = NodeService(cfg, net, suite, node_acct)
    svc.load_models()
    svc.ensure_registered_and_staked("http://127.0.0.1:1")
    payer = DirectPayer(suite, client)
    deadline = net.now() + 3000
    zk_jobs = [
        _open(payer, zk_model, svc.address, bytes([0, i + 1]) + b"\x00" * 30, JobMode.ZK, deadline)
        for i in range(2)
    ]
    fhe_jobs = [_open(payer, fhe_model, svc.address, b"\x33" * 32, JobMode.FHE, deadline)]
    try:
        yield LiveNode(
            svc,
            suite,
            client,
            zk_jobs,
            fhe_jobs,
            svc.put_eval_keys(
                EVAL_KEYS, hashlib.sha256(EVAL_KEYS).hexdigest(), suite.market.read_job(fhe_jobs[0])
            ),
        )
    finally:
        svc.pool.shutdown(wait=False)
        svc.prover.close()
        net.close()


@pytest.fixture(scope="module")
def node_schema(live_node: LiveNode):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(live_node.svc), config=CONFIG)


schema = schemathesis.pytest.from_fixture("node_schema")


def _sign_for_a_real_job(case, node: LiveNode) -> None:  # type: ignore[no-untyped-def]
    """Point a generated job submission at a job open on chain and sign its exact body as the job's
    client, so the generated body is checked past the signature (decoding, commitment, keys)."""
    params = case.path_parameters if isinstance(case.path_parameters, dict) else {}
    job_id = params.get("job_id")
    if not isinstance(job_id, int) or job_id % 2:  # half the draws; the rest stay as generated
        return
    headers = dict(case.headers) if isinstance(case.headers, dict) else {}
    if case.path == api.ZK_JOB:
        real = node.zk_jobs[job_id // 2 % len(node.zk_jobs)]
        body = case.body if isinstance(case.body, bytes) else json.dumps(case.body).encode()
        case.body = body  # sent as exactly these bytes
        signed = body
    elif case.path == api.FHE_JOB:
        real = node.fhe_jobs[0]
        ct = case.body if isinstance(case.body, bytes) else bytes(getattr(case.body, "data", b""))
        ek = str(headers.get(api.EVAL_KEYS_HEADER, ""))
        if not re.fullmatch(r"[0-9a-f]{64}", ek):
            ek = headers[api.EVAL_KEYS_HEADER] = node.eval_keys
        signed = fhe_signed_payload(hashlib.sha256(ct).hexdigest(), ek)
    else:
        return
    case.path_parameters = {**params, "job_id": real}
    ctx = RequestSig(node.svc.net.chain_id, node.suite.market.address, node.svc.address, real)
    case.headers = {**headers, api.SIGNATURE_HEADER: sign_request(node.client, ctx, signed)}


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
def test_node_api_conforms_to_its_openapi_spec(case, live_node: LiveNode) -> None:  # type: ignore[no-untyped-def]
    """No 5xx, no status the spec does not list for the route, bodies and content types as specified."""
    _sign_for_a_real_job(case, live_node)
    case.call_and_validate(checks=CHECKS)


def test_the_spec_under_test_is_the_committed_one(node_schema) -> None:  # type: ignore[no-untyped-def]
    """Schemathesis tests the app's live spec; it must be the committed docs/openapi.json."""
    committed = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    assert node_schema.raw_schema == committed


def test_a_wrong_method_is_405_naming_the_methods_the_route_has(live_node: LiveNode) -> None:
    """Found by this suite's ``unsupported_method`` check: the node's error handler dropped Starlette's
    ``Allow`` header, so a 405 did not say what the route accepts (RFC 9110 requires it)."""
    from fastapi.testclient import TestClient

    http = TestClient(create_app(live_node.svc))
    r = http.request("TRACE", api.HEALTH)
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert api.ErrorBody.model_validate(r.json()).code is api.RefusalCode.METHOD_NOT_ALLOWED
    assert api.ErrorBody.model_validate(r.json()).error
    assert http.delete(api.JOB.format(job_id=1)).headers["allow"] == "GET"
