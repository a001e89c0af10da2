"""The node's HTTP face (FastAPI). Thin: every decision is made in :mod:`veilproof.node.service`.

Hostile input never crashes the node: bodies are size-checked before they are read, content types
are enforced, and every refusal is a 4xx/5xx JSON ``{"error": reason}`` (:class:`ErrorBody`).
The service raises typed refusals (:mod:`veilproof.node.errors`); :data:`ERROR_STATUS` is the one
place that turns them into HTTP statuses, and each route lists the refusals it can raise so the
OpenAPI spec (``docs/openapi.json``) documents every status it can answer with.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from veilproof import __version__
from veilproof.errors import InputError
from veilproof.node.changes import held_read, job_key, order_key
from veilproof.node.core import chain_down
from veilproof.node.errors import (
    BadInput,
    BadSignature,
    Busy,
    ChainUnavailable,
    DeadlinePassed,
    DepositTooLow,
    InternalError,
    JobNotOpen,
    KeysMissing,
    MalformedBody,
    NodeRefusal,
    NotAssigned,
    NotServed,
    PriceBelowOffer,
    Replay,
    RequestTimeout,
    TooLarge,
    UnknownArtifact,
    UnknownJob,
    UnsupportedMediaType,
)
from veilproof.node.service import NodeService
from veilproof.protocol import api

_HEX64 = re.compile(r"[0-9a-f]{64}")  # used with fullmatch: "$" would accept a trailing newline

#: A job id the chain can have: positive, and small enough for the node's SQLite (int64). Larger ids are
#: refused at the door (422 with an error body), never reach the database (where they overflowed: a 500).
JobId = Annotated[int, Path(ge=1, le=2**63 - 1, description="the job's id on chain")]

# The one table from the service's refusals to HTTP statuses (a subclass inherits its base's status).
# ``InputError`` is the artifact store's (and the protocol's) refusal of a malformed value: a 400 too.
ERROR_STATUS: dict[type[Exception], int] = {
    BadInput: 400,
    InputError: 400,
    BadSignature: 401,
    NotAssigned: 403,
    UnknownJob: 404,
    NotServed: 404,
    UnknownArtifact: 404,
    JobNotOpen: 409,
    Replay: 409,
    DeadlinePassed: 410,
    TooLarge: 413,
    UnsupportedMediaType: 415,
    MalformedBody: 422,
    RequestTimeout: 408,
    KeysMissing: 428,
    InternalError: 500,
    Busy: 503,
    ChainUnavailable: 503,
}


def status_of(e: Exception | type[Exception]) -> int:
    """The status of a refusal (or of a kind of refusal): its own row, or its nearest base's; 500 if none."""
    kind = e if isinstance(e, type) else type(e)
    for cls in kind.__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]
    return 500


def refusals(*kinds: type[Exception]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the refusals a route can raise (plus :class:`InternalError` and
    :class:`ChainUnavailable`, which any route can): one entry per status, described by the refusals'
    docstrings, body :class:`ErrorBody`."""
    by_status: dict[int, list[str]] = {}
    for k in (*kinds, InternalError, ChainUnavailable):
        doc = (k.__doc__ or k.__name__).strip().splitlines()[0]
        by_status.setdefault(status_of(k), []).append(f"{k.__name__}: {doc}")
    return {
        status: {"model": api.ErrorBody, "description": " ".join(docs)}
        for status, docs in sorted(by_status.items())
    }


async def _read_limited(request: Request, limit: int, deadline_s: float, idle_s: float) -> bytes:
    """The body, refused if it is (or says it is) over ``limit`` bytes, or does not arrive in time.

    Why two clocks: a client that declares a large body and trickles it a byte at a time held a
    connection (and a slot of ``limit_concurrency``) forever. ``idle_s`` bounds the wait for each next
    chunk, ``deadline_s`` the whole body (enough for the largest body at a slow link)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge(f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    stream = request.stream().__aiter__()
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline_s
    while True:
        left = end - loop.time()
        try:
            chunk = await asyncio.wait_for(stream.__anext__(), timeout=max(0.0, min(idle_s, left)))
        except StopAsyncIteration:
            break
        except TimeoutError as e:
            raise RequestTimeout(
                f"request body not received in time ({size} bytes after "
                f"{deadline_s - max(0.0, left):.0f} s; limits: {idle_s:.0f} s idle, {deadline_s:.0f} s in all)"
            ) from e
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _require_type(request: Request, expected: str) -> None:
    got = (request.headers.get(api.CONTENT_TYPE) or "").split(";")[0].strip().lower()
    if got != expected:
        raise UnsupportedMediaType(f"content-type: expected {expected}, got {got or 'none'}")


def _error(
    status: int, reason: str, code: api.RefusalCode, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    body = api.ErrorBody(error=reason, code=code).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=headers)


#: Starlette's own refusals (no route, wrong method); any other it raises is the request's fault.
_HTTP_CODES = {404: api.RefusalCode.NO_ROUTE, 405: api.RefusalCode.METHOD_NOT_ALLOWED}


def _refused_response(e: NodeRefusal) -> JSONResponse:
    r = _error(status_of(e), e.reason, e.code)
    if isinstance(e, RequestTimeout):
        r.headers["Connection"] = "close"  # the rest of a trickled body is not waited for
    return r


def _read_body(request: Request, svc: NodeService, limit: int) -> Any:
    return _read_limited(request, limit, svc.cfg.body_deadline_s, svc.cfg.body_idle_s)


#: A pay-on-proof order's hash (0x and 64 hex), as the node names it in its acceptance.
WaitS = Annotated[
    float,
    Query(
        ge=0,
        le=api.MAX_WAIT_S,
        description="long-poll: answer when the job changes or is finished, at the latest after this "
        "many seconds (0: at once)",
    ),
]


def _finished(report: api.JobReport | api.OrderReport) -> bool:
    return report.state.finished


OrderHash = Annotated[
    str, Path(pattern=r"^0x[0-9a-fA-F]{64}$", description="the order's EIP-712 struct hash")
]

# Submitting a pay-on-proof order: every check of NodeService.submit_order.
_ORDER_ADMISSION = (
    UnsupportedMediaType, TooLarge, MalformedBody, BadInput, PriceBelowOffer, BadSignature, NotServed,
    JobNotOpen, DepositTooLow, Replay, DeadlinePassed, Busy, RequestTimeout,
)  # fmt: skip

# Submitting a job: every check of NodeService._admit, before any work.
_ADMISSION = (
    UnsupportedMediaType, TooLarge, MalformedBody, BadInput, BadSignature, UnknownJob, NotAssigned,
    NotServed, JobNotOpen, Replay, DeadlinePassed, Busy, RequestTimeout,
)  # fmt: skip


# Running a pipeline stage: every check of NodeService.run_stage, before the claim.
_STAGE_ADMISSION = (
    UnsupportedMediaType, TooLarge, MalformedBody, BadInput, BadSignature, UnknownJob, NotServed,
    JobNotOpen, Replay, DeadlinePassed, Busy, RequestTimeout,
)  # fmt: skip


def create_app(svc: NodeService) -> FastAPI:
    app = FastAPI(
        title="veilproof node",
        version=__version__,
        description="Sells verifiable (ZK) and private (FHE) inference; every job is paid through JobMarket.",
    )

    @app.exception_handler(NodeRefusal)
    async def _refused(_: Request, e: NodeRefusal) -> JSONResponse:
        return _refused_response(e)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        # Path parameters and required headers; the offending value is not echoed back.
        where = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        return _refused_response(MalformedBody(f"request: {where}"))

    @app.exception_handler(InputError)
    async def _bad_value(_: Request, e: InputError) -> JSONResponse:
        return _error(status_of(e), str(e), api.RefusalCode.BAD_INPUT)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, e: StarletteHTTPException) -> JSONResponse:
        # Unknown route (404), wrong method (405). Keep Starlette's headers: a 405 must say which
        # methods the route has (``Allow``, RFC 9110 §15.5.6).
        code = _HTTP_CODES.get(e.status_code) or (
            api.RefusalCode.INTERNAL_ERROR if e.status_code >= 500 else api.RefusalCode.BAD_INPUT
        )
        return _error(e.status_code, str(e.detail), code, e.headers)

    @app.exception_handler(Exception)
    async def _crash(_: Request, e: Exception) -> JSONResponse:
        if chain_down(e):  # not a bug of the node: its chain is unreachable, and a retry may succeed
            return _refused_response(ChainUnavailable(f"chain unreachable ({type(e).__name__}); retry later"))
        # The type only: a message may quote the input (the server still logs the traceback).
        return _refused_response(InternalError(f"internal error ({type(e).__name__})"))

    @app.get(api.HEALTH, response_model=api.Health, responses=refusals())
    def health() -> api.Health:
        """``ok`` only if the node can settle: its chain answers and is the one it started on
        (503 with the reason otherwise: a node that cannot reach its chain must not look healthy)."""
        problem = svc.chain_problem()
        if problem is not None:
            raise ChainUnavailable(problem)
        return api.Health()

    @app.get(api.INFO, response_model=api.NodeInfo, responses=refusals())
    def info() -> api.NodeInfo:
        return svc.info()

    @app.get(
        api.ARTIFACT,
        response_class=FileResponse,
        responses={
            200: api.binary_response("the artifact's bytes (they hash to the digest)"),
            **refusals(BadInput, UnknownArtifact),
        },
    )
    def artifact(digest: str) -> FileResponse:
        if not _HEX64.fullmatch(digest):
            raise BadInput("digest: expected 64 lowercase hex characters")
        return FileResponse(svc.artifact_path(digest), media_type=api.OCTET_STREAM)

    @app.post(
        api.ZK_JOB,
        status_code=202,
        response_model=api.Accepted,
        responses=refusals(*_ADMISSION),
        openapi_extra=api.json_body(api.ZkJobRequest, "the input, encrypted to the node's pubkey"),
    )
    async def zk_job(
        job_id: JobId,
        request: Request,
        signature: str | None = Header(
            default=None, alias=api.SIGNATURE_HEADER, description="the job's client signs the exact body"
        ),
    ) -> api.Accepted:
        _require_type(request, api.JSON)
        raw = await _read_body(request, svc, svc.cfg.max_body_bytes)
        try:
            req = api.ZkJobRequest.model_validate_json(raw)
            envelope = bytes.fromhex(req.encrypted_input.removeprefix("0x"))
        except ValueError as e:
            raise MalformedBody(f"body: expected {{'encrypted_input': '0x…'}} ({type(e).__name__})") from e
        # Chain reads, decryption and Poseidon hashing block: keep them off the event loop.
        await run_in_threadpool(svc.submit_zk, job_id, envelope, raw, signature)
        return api.Accepted(job_id=job_id, state=api.JobState.ACCEPTED)

    @app.post(
        api.ZK_ORDERS,
        status_code=202,
        response_model=api.OrderAccepted,
        responses=refusals(*_ORDER_ADMISSION),
        openapi_extra=api.json_body(api.ZkOrderRequest, "a client-signed ReceiptMarket order and its input"),
    )
    async def zk_order(request: Request) -> api.OrderAccepted:
        """Pay-on-proof: the node checks the order against the client's deposit and answers with its
        signed acceptance; the result (a signed delivery) is polled at ``GET /zk/orders/{order_hash}``."""
        _require_type(request, api.JSON)
        raw = await _read_body(request, svc, svc.cfg.max_body_bytes)
        try:
            req = api.ZkOrderRequest.model_validate_json(raw)
        except ValueError as e:
            raise MalformedBody(f"body: expected a ZkOrderRequest ({type(e).__name__})") from e
        return await run_in_threadpool(svc.submit_order, req)

    @app.get(api.ZK_ORDER, response_model=api.OrderReport, responses=refusals(MalformedBody, UnknownJob))
    async def zk_order_report(order_hash: OrderHash, wait: WaitS = 0.0) -> api.OrderReport:
        """The order's state; with ``wait`` the answer comes when the order changes or is finished,
        or after ``wait`` seconds (a long-poll: one request instead of one per poll interval)."""
        return await held_read(
            lambda: svc.db.changes,
            order_key(order_hash),
            lambda: svc.order_report(order_hash),
            _finished,
            wait,
        )

    @app.post(
        api.ZK_ORDER_RECEIPT,
        response_model=api.ReceiptStored,
        responses=refusals(
            UnsupportedMediaType,
            TooLarge,
            MalformedBody,
            BadInput,
            BadSignature,
            UnknownJob,
            NotServed,
            JobNotOpen,
            Replay,
            RequestTimeout,
        ),  # fmt: skip
        openapi_extra=api.json_body(api.ReceiptPost, "the client's signed receipt, after it verified"),
    )
    async def zk_order_receipt(order_hash: OrderHash, request: Request) -> api.ReceiptStored:
        _require_type(request, api.JSON)
        raw = await _read_body(request, svc, 4096)
        try:
            body = api.ReceiptPost.model_validate_json(raw)
        except ValueError as e:
            raise MalformedBody(f"body: expected a ReceiptPost ({type(e).__name__})") from e
        return await run_in_threadpool(svc.post_receipt, order_hash, body)

    @app.post(
        api.PIPELINE_STAGE,
        status_code=202,
        response_model=api.StageAccepted,
        responses=refusals(*_STAGE_ADMISSION),
        openapi_extra=api.json_body(api.StageRequest, "the stage input, encrypted to the node's pubkey"),
    )
    async def pipeline_stage(
        job_id: JobId,
        stage: Annotated[int, Path(ge=0, lt=8, description="the stage index in the pipeline")],
        request: Request,
        signature: str | None = Header(
            default=None, alias=api.SIGNATURE_HEADER, description="the job's client signs the exact body"
        ),
    ) -> api.StageAccepted:
        """Run stage ``stage`` of PipelineMarket job ``job_id``: the node checks the job on chain, claims
        the stage (``claim_stage``) and answers with the stage's output at once (the next stage's input);
        it proves and submits the stage (``submit_stage``) in the background."""
        _require_type(request, api.JSON)
        raw = await _read_body(request, svc, svc.cfg.max_body_bytes)
        try:
            req = api.StageRequest.model_validate_json(raw)
        except ValueError as e:
            raise MalformedBody(
                f"body: expected {{'stage': N, 'encrypted_input': '0x…'}} ({type(e).__name__})"
            ) from e
        # Chain reads and writes, decryption, Poseidon and the witness block: off the event loop.
        return await run_in_threadpool(svc.run_stage, job_id, stage, req, raw, signature)

    @app.head(
        api.FHE_KEYS_DIGEST,
        responses={
            200: {"description": "these evaluation keys are uploaded"},
            404: {"description": "not uploaded (or not a 64-hex digest); no body: this is HEAD"},
        },
    )
    def has_keys(digest: str) -> Response:
        return Response(
            status_code=200 if _HEX64.fullmatch(digest) is not None and svc.has_eval_keys(digest) else 404
        )

    @app.put(
        api.FHE_KEYS,
        response_model=api.KeysStored,
        responses=refusals(
            UnsupportedMediaType,
            TooLarge,
            BadInput,
            MalformedBody,
            BadSignature,
            UnknownJob,
            NotAssigned,
            NotServed,
            JobNotOpen,
            Replay,
            DeadlinePassed,
            RequestTimeout,
        ),  # fmt: skip
        openapi_extra=api.binary_body("serialized FHE evaluation keys (public; the secret key never leaves)"),
    )
    async def put_keys(
        request: Request,
        job_id: Annotated[
            int,
            Header(alias=api.JOB_HEADER, ge=1, le=2**63 - 1, description="the client's open FHE job here"),
        ],
        eval_keys: Annotated[str, Header(alias=api.EVAL_KEYS_HEADER, description="sha256 of the body")],
        signature: str | None = Header(
            default=None,
            alias=api.SIGNATURE_HEADER,
            description="the job's client signs fhe_keys_signed_payload(sha256 of the body)",
        ),
    ) -> api.KeysStored:
        _require_type(request, api.OCTET_STREAM)
        if not _HEX64.fullmatch(eval_keys):
            raise BadInput(f"{api.EVAL_KEYS_HEADER}: expected 64 lowercase hex characters")
        declared = request.headers.get("content-length")
        size = int(declared) if declared is not None and declared.isdigit() else None
        # Who may upload, and how much, is checked before a byte of the body is read.
        job = await run_in_threadpool(svc.authorize_keys_upload, job_id, eval_keys, size, signature)
        data = await _read_body(request, svc, svc.cfg.max_eval_key_bytes)
        digest = await run_in_threadpool(svc.put_eval_keys, data, eval_keys, job)
        return api.KeysStored(digest=digest, size=len(data))

    @app.post(
        api.FHE_JOB,
        status_code=202,
        response_model=api.Accepted,
        responses=refusals(*_ADMISSION, KeysMissing),
        openapi_extra=api.binary_body("the input ciphertext (its sha256 is the job's input commitment)"),
    )
    async def fhe_job(
        job_id: JobId,
        request: Request,
        signature: str | None = Header(
            default=None,
            alias=api.SIGNATURE_HEADER,
            description="the job's client signs fhe_signed_payload(sha256(body), eval keys digest)",
        ),
        eval_keys: str = Header(
            alias=api.EVAL_KEYS_HEADER, description="sha256 of evaluation keys uploaded with PUT /fhe/keys"
        ),
    ) -> api.Accepted:
        _require_type(request, api.OCTET_STREAM)
        if not _HEX64.fullmatch(eval_keys):
            raise BadInput(f"{api.EVAL_KEYS_HEADER}: expected 64 lowercase hex characters")
        ct = await _read_body(request, svc, svc.cfg.max_body_bytes)
        await run_in_threadpool(svc.submit_fhe, job_id, ct, eval_keys, signature)
        return api.Accepted(job_id=job_id, state=api.JobState.ACCEPTED)

    @app.get(
        api.JOB,
        response_model=api.JobReport,
        response_model_exclude_unset=True,  # "zk" / "fhe" appear only once there is a result
        responses=refusals(MalformedBody, UnknownJob),
    )
    async def job(job_id: JobId, wait: WaitS = 0.0) -> api.JobReport:
        """The job's state and result; ``wait``: a long-poll, as for ``GET /zk/orders/{hash}``."""
        return await held_read(
            lambda: svc.db.changes, job_key(job_id), lambda: svc.result(job_id), _finished, wait
        )

    @app.get(
        api.FHE_OUTPUT,
        response_class=Response,
        responses={
            200: api.binary_response("the output ciphertext (its sha256 is posted on chain)"),
            **refusals(MalformedBody, UnknownJob),
        },
    )
    def fhe_output(job_id: JobId) -> Response:
        return Response(svc.output_ciphertext(job_id), media_type=api.OCTET_STREAM)

    _document_only_our_errors(app)
    return app


def _document_only_our_errors(app: FastAPI) -> None:
    """FastAPI documents a ``422 HTTPValidationError`` on every route with parameters; this node answers
    validation failures with :class:`ErrorBody` (see ``_invalid``), and each route that can fail
    validation says so with :class:`MalformedBody`. Drop the generated entries that would be wrong."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        spec = generate()
        for ops in spec.get("paths", {}).values():
            for op in ops.values():
                ref = str(op.get("responses", {}).get("422", {}))
                if "HTTPValidationError" in ref:
                    del op["responses"]["422"]
        schemas = spec.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the spec
