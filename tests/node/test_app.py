"""The HTTP seam without a chain: the node app maps every refusal to its status through one table,
always with an ``{"error": ...}`` body, and ``NodeApi`` turns each status back into its typed error.

A stand-in service raises what the test asks for; the app and ``NodeApi`` are the real ones, talking
over Starlette's in-process transport (``TestClient`` is an ``httpx.Client``).
"""

from __future__ import annotations

import hashlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from veilproof.client import errors as ce
from veilproof.client.node_api import NodeApi
from veilproof.errors import InputError
from veilproof.node import errors as ne
from veilproof.node.app import ERROR_STATUS, create_app
from veilproof.protocol import api

KEYS = b"evaluation keys"
EK = hashlib.sha256(KEYS).hexdigest()


@dataclass
class _Cfg:
    max_body_bytes: int = 1024
    max_eval_key_bytes: int = 4096
    body_deadline_s: float = 10.0
    body_idle_s: float = 5.0


@dataclass
class FakeService:
    """Records calls; raises ``fail`` (if set) from every call that can refuse."""

    tmp: Path
    cfg: _Cfg = field(default_factory=_Cfg)
    fail: Exception | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            raise self.fail

    def info(self) -> api.NodeInfo:
        self._maybe_fail()
        return api.NodeInfo(
            address="0x" + "11" * 20, pubkey="0x02" + "22" * 32, chain_id=1, market="0x" + "33" * 20,
            models=[], workers=1, inflight=0, uptime_s=1.0,
        )  # fmt: skip

    def submit_zk(self, job_id: int, envelope: bytes, raw: bytes, sig: str | None) -> None:
        self._maybe_fail()
        self.calls.append(("zk", (job_id, envelope, raw, sig)))

    def submit_fhe(self, job_id: int, ct: bytes, ek: str, sig: str | None) -> None:
        self._maybe_fail()
        self.calls.append(("fhe", (job_id, ct, ek, sig)))

    def has_eval_keys(self, digest: str) -> bool:
        return digest in self.keys

    def chain_problem(self) -> str | None:
        return None

    def authorize_keys_upload(self, job_id: int, digest: str, size: int | None, sig: str | None) -> int:
        self._maybe_fail()
        self.calls.append(("keys", (job_id, digest, size, sig)))
        return job_id

    def put_eval_keys(self, data: bytes, digest: str, job: int) -> str:
        assert hashlib.sha256(data).hexdigest() == digest
        self.keys.add(digest)
        return digest

    def result(self, job_id: int) -> api.JobReport:
        self._maybe_fail()
        return api.JobReport(job_id=job_id, state=api.JobState.RUNNING, tx_hash=None, error=None)

    def output_ciphertext(self, job_id: int) -> bytes:
        self._maybe_fail()
        return b"ciphertext"

    def artifact_path(self, digest: str) -> Path:
        self._maybe_fail()
        p = self.tmp / digest
        p.write_bytes(b"blob")
        return p


@pytest.fixture
def node(tmp_path: Path) -> tuple[FakeService, NodeApi]:
    svc = FakeService(tmp_path)
    http = TestClient(create_app(svc), raise_server_exceptions=False)  # type: ignore[arg-type]
    return svc, NodeApi(str(http.base_url), http=http)


ALL_REFUSALS = sorted(
    (c for _, c in inspect.getmembers(ne, inspect.isclass) if issubclass(c, ne.NodeRefusal) and c is not ne.NodeRefusal),
    key=lambda k: k.__name__,
)  # fmt: skip


def test_every_refusal_has_a_status_in_the_one_table() -> None:
    kinds = ALL_REFUSALS
    # each refusal has its own row, or inherits its base's (QuotaExceeded is a TooLarge: 413)
    assert kinds and all(any(k in ERROR_STATUS for k in c.__mro__) for c in kinds)
    assert {k for k in ERROR_STATUS if issubclass(k, ne.NodeRefusal)} <= set(kinds)
    assert ERROR_STATUS[InputError] == 400  # the artifact store's refusal of a malformed digest
    # and the client has a typed error for every status the node can answer with
    assert set(ERROR_STATUS.values()) <= set(ce.REFUSALS)


@pytest.mark.parametrize(
    "kind",
    sorted((k for k in ERROR_STATUS if issubclass(k, ne.NodeRefusal)), key=lambda k: k.__name__),
    ids=lambda k: k.__name__,
)
def test_each_refusal_reaches_the_client_as_its_typed_error(
    node: tuple[FakeService, NodeApi], kind: type[ne.NodeRefusal]
) -> None:
    svc, nodeapi = node
    svc.fail = kind(f"because {kind.__name__}")
    status = ERROR_STATUS[kind]
    with pytest.raises(ce.REFUSALS[status]) as e:
        nodeapi.submit_zk(7, api.ZkJobRequest(encrypted_input="0xabcd"), "0xsig")
    assert e.value.status == status and e.value.reason == f"because {kind.__name__}"
    assert isinstance(e.value, ce.NodeUnavailable) and not isinstance(e.value, ce.WrongResult)
    raw = nodeapi.http.get(nodeapi.url(api.JOB, job_id=1))
    assert raw.status_code == status and api.ErrorBody.model_validate(raw.json()).error


def test_each_refusal_has_its_own_code_and_every_code_is_answered() -> None:
    """A client acts on ``ErrorBody.code`` (top up, sign again at the node's price, retry later): two
    refusals sharing a status must still differ there (409: a deposit too low, a job no longer open)."""
    codes = [k.code for k in ALL_REFUSALS]
    assert len(set(codes)) == len(codes), codes
    # and no code is promised in the spec that no answer can carry
    from_the_framework = {api.RefusalCode.NO_ROUTE, api.RefusalCode.METHOD_NOT_ALLOWED}
    assert set(codes) | from_the_framework == set(api.RefusalCode)


@pytest.mark.parametrize("kind", ALL_REFUSALS, ids=lambda k: k.__name__)
def test_each_refusal_reaches_the_client_with_its_code(
    node: tuple[FakeService, NodeApi], kind: type[ne.NodeRefusal]
) -> None:
    svc, nodeapi = node
    svc.fail = kind(f"because {kind.__name__}")
    with pytest.raises(ce.NodeRefused) as e:
        nodeapi.submit_zk(7, api.ZkJobRequest(encrypted_input="0xabcd"), "0xsig")
    assert e.value.code is kind.code
    assert isinstance(e.value, ce.REFUSALS[e.value.status])
    raw = nodeapi.http.get(nodeapi.url(api.JOB, job_id=1))
    assert api.ErrorBody.model_validate(raw.json()).code is kind.code


def test_a_code_the_client_does_not_know_is_none_and_the_status_still_types_it() -> None:
    """A newer node may send a code this client has never heard of: the refusal is still typed by its
    status and keeps its reason; ``code`` is None rather than a string nobody checks for."""
    e = ce.refusal(409, "order refused: something new", "POST /zk/orders", "something_new")
    assert isinstance(e, ce.Conflict) and e.code is None and e.reason == "order refused: something new"
    assert ce.refusal(409, "x", code="deposit_too_low").code is api.RefusalCode.DEPOSIT_TOO_LOW
    assert ce.refusal(503, "x").code is None  # a proxy's answer: no body code


def test_requests_carry_the_protocol_headers_and_bodies(node: tuple[FakeService, NodeApi]) -> None:
    svc, nodeapi = node
    req = api.ZkJobRequest(encrypted_input="0xabcd")
    accepted = nodeapi.submit_zk(7, req, "0xsig")
    assert accepted == api.Accepted(job_id=7, state=api.JobState.ACCEPTED)
    assert svc.calls[-1] == ("zk", (7, bytes.fromhex("abcd"), req.encode(), "0xsig"))

    assert not nodeapi.has_eval_keys(EK)
    upload = api.EvalKeysUpload(keys=KEYS, job_id=8, eval_keys_sha256=EK, signature="0xk")
    assert nodeapi.put_eval_keys(upload) == api.KeysStored(digest=EK, size=len(KEYS))
    assert svc.calls[-1] == ("keys", (8, EK, len(KEYS), "0xk"))
    assert nodeapi.has_eval_keys(EK)
    nodeapi.submit_fhe(8, api.FheJobRequest(ciphertext=b"ct", eval_keys_sha256=EK, signature="0xs"))
    assert svc.calls[-1] == ("fhe", (8, b"ct", EK, "0xs"))

    st = nodeapi.job(8)
    assert st.state is api.JobState.RUNNING and not st.state.finished
    # "zk" / "fhe" appear on the wire only once there is a result
    assert set(nodeapi.http.get(nodeapi.url(api.JOB, job_id=8)).json()) == {
        "job_id",
        "state",
        "tx_hash",
        "error",
    }
    assert nodeapi.fhe_output(8) == b"ciphertext"
    assert nodeapi.artifact("ab" * 32) == b"blob"
    assert nodeapi.health().status == "ok" and nodeapi.info().chain_id == 1


@pytest.mark.parametrize(
    "method,path,kw,status,error",
    [
        ("POST", "/zk/jobs/7", {"content": b"{}", "headers": {"Content-Type": "text/plain"}}, 415, ce.UnsupportedMedia),
        ("POST", "/zk/jobs/7", {"content": b"{not json", "headers": {"Content-Type": api.JSON}}, 422, ce.Unprocessable),
        ("POST", "/zk/jobs/7", {"content": b"x" * 2048, "headers": {"Content-Type": api.JSON}}, 413, ce.PayloadTooLarge),
        ("GET", "/jobs/not-a-number", {}, 422, ce.Unprocessable),
        ("POST", "/fhe/jobs/7", {"content": b"ct", "headers": {"Content-Type": api.OCTET_STREAM}}, 422, ce.Unprocessable),
        ("POST", "/fhe/jobs/7", {"content": b"ct", "headers": {"Content-Type": api.OCTET_STREAM, api.EVAL_KEYS_HEADER: "zz"}}, 400, ce.BadRequest),
        ("PUT", "/fhe/keys", {"content": b"k" * 5000, "headers": {"Content-Type": api.OCTET_STREAM}}, 422, ce.Unprocessable),
        ("GET", "/artifacts/NOT-HEX", {}, 400, ce.BadRequest),
        # hostile-traffic findings (#12): ids beyond SQLite's int64 and a digest with a trailing newline
        # used to reach the store and answer 500; id 0 does not exist on any chain
        ("GET", f"/jobs/{2**64}", {}, 422, ce.Unprocessable),
        ("GET", f"/fhe/jobs/{2**63}/output", {}, 422, ce.Unprocessable),
        ("GET", "/jobs/0", {}, 422, ce.Unprocessable),
        ("POST", f"/zk/jobs/{2**64}", {"content": b"{}", "headers": {"Content-Type": api.JSON}}, 422, ce.Unprocessable),
        ("GET", "/artifacts/" + "a" * 64 + "%0a", {}, 400, ce.BadRequest),
        ("GET", "/no/such/route", {}, 404, ce.NotFound),
    ],
)  # fmt: skip
def test_malformed_requests_get_error_bodies(
    node: tuple[FakeService, NodeApi], method: str, path: str, kw: dict[str, Any], status: int, error: type
) -> None:
    _, nodeapi = node
    r = nodeapi.http.request(method, nodeapi.endpoint + path, **kw)
    assert r.status_code == status, r.text
    body = api.ErrorBody.model_validate(r.json())
    assert body.error
    refused = ce.refusal(r.status_code, body.error, code=r.json()["code"])
    assert isinstance(refused, error) and refused.code is body.code
    if path == "/no/such/route":
        assert body.code is api.RefusalCode.NO_ROUTE


def test_a_malformed_digest_from_the_store_is_a_400(node: tuple[FakeService, NodeApi]) -> None:
    """The artifact store's InputError is mapped once, in ERROR_STATUS: a 400 with an error body."""
    svc, nodeapi = node
    svc.fail = InputError("digest", "64 hex characters (sha256)", "zz")
    r = nodeapi.http.get(nodeapi.url(api.ARTIFACT, digest="ab" * 32))
    assert r.status_code == 400 and "digest: expected 64 hex" in r.json()["error"]


def test_a_chain_connection_error_is_a_503_error_body(node: tuple[FakeService, NodeApi]) -> None:
    """Measured in review: with the chain down, /info and submissions answered plain-text 500s."""
    import requests

    svc, nodeapi = node
    svc.fail = requests.exceptions.ConnectionError("Connection refused")
    r = nodeapi.http.post(nodeapi.url(api.ZK_JOB, job_id=7), content=b'{"encrypted_input": "0x00"}',
                          headers={"Content-Type": api.JSON})  # fmt: skip
    assert r.status_code == 503 and "chain unreachable" in r.json()["error"]
    with pytest.raises(ce.NodeBusy):
        nodeapi.info()


def test_an_unexpected_crash_is_a_500_error_body(node: tuple[FakeService, NodeApi]) -> None:
    svc, nodeapi = node
    svc.fail = RuntimeError("secret input 42")
    with pytest.raises(ce.NodeServerError) as e:
        nodeapi.job(1)
    assert e.value.status == 500 and "RuntimeError" in e.value.reason and "42" not in e.value.reason


def test_unreachable_node_is_a_typed_error() -> None:
    with NodeApi("http://127.0.0.1:1", timeout=2) as nodeapi, pytest.raises(ce.NodeUnreachable):
        nodeapi.health()


def test_off_protocol_answer_is_a_bad_response(node: tuple[FakeService, NodeApi]) -> None:
    _, nodeapi = node
    with pytest.raises(ce.BadResponse):
        nodeapi._parse(nodeapi.http.get(nodeapi.url(api.HEALTH)), api.NodeInfo)
