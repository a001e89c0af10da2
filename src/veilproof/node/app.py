"""The node's HTTP face (FastAPI). Thin: every decision is made in :mod:`veilproof.node.service`.

Hostile input never crashes the node: bodies are size-checked before they are read, content types
are enforced, and every refusal is a 4xx/5xx JSON ``{"error": reason}``.
"""

from __future__ import annotations

import re

from fastapi import FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from veilproof import __version__
from veilproof.errors import ArtifactError
from veilproof.node.service import JobRejected, NodeService

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ZkJobRequest(BaseModel):
    encrypted_input: str = Field(description="0x-hex ECIES envelope of the JSON input, to the node's pubkey")


class Accepted(BaseModel):
    job_id: int
    state: str


class KeysStored(BaseModel):
    digest: str
    size: int


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise JobRejected(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise JobRejected(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _require_type(request: Request, expected: str) -> None:
    got = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if got != expected:
        raise JobRejected(415, f"content-type: expected {expected}, got {got or 'none'}")


def create_app(svc: NodeService) -> FastAPI:
    app = FastAPI(
        title="veilproof node",
        version=__version__,
        description="Sells verifiable (ZK) and private (FHE) inference; every job is paid through JobMarket.",
    )

    @app.exception_handler(JobRejected)
    async def _rejected(_: Request, e: JobRejected) -> JSONResponse:
        return JSONResponse({"error": e.reason}, status_code=e.status)

    @app.exception_handler(ArtifactError)
    async def _artifact(_: Request, e: ArtifactError) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=404)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/info")
    def info() -> dict:
        return svc.info()

    @app.get("/artifacts/{digest}", response_class=FileResponse)
    def artifact(digest: str) -> FileResponse:
        if not _HEX64.match(digest):
            raise JobRejected(400, "digest: expected 64 lowercase hex characters")
        if not svc.store.has(digest):
            raise JobRejected(404, f"artifact {digest} not in this node's store")
        return FileResponse(svc.store.open_verified(digest), media_type="application/octet-stream")

    @app.post("/zk/jobs/{job_id}", status_code=202, response_model=Accepted)
    async def zk_job(
        job_id: int, request: Request, x_veil_signature: str | None = Header(default=None)
    ) -> Accepted:
        _require_type(request, "application/json")
        raw = await _read_limited(request, svc.cfg.max_body_bytes)
        try:
            req = ZkJobRequest.model_validate_json(raw)
            envelope = bytes.fromhex(req.encrypted_input.removeprefix("0x"))
        except ValueError as e:
            raise JobRejected(422, f"body: expected {{'encrypted_input': '0x…'}} ({type(e).__name__})") from e
        # Chain reads, decryption and Poseidon hashing block: keep them off the event loop.
        await run_in_threadpool(svc.submit_zk, job_id, envelope, raw, x_veil_signature)
        return Accepted(job_id=job_id, state="accepted")

    @app.head("/fhe/keys/{digest}")
    def has_keys(digest: str) -> Response:
        return Response(status_code=200 if _HEX64.match(digest) and svc.has_eval_keys(digest) else 404)

    @app.put("/fhe/keys", response_model=KeysStored)
    async def put_keys(request: Request) -> KeysStored:
        _require_type(request, "application/octet-stream")
        data = await _read_limited(request, svc.cfg.max_eval_key_bytes)
        return KeysStored(digest=await run_in_threadpool(svc.put_eval_keys, data), size=len(data))

    @app.post("/fhe/jobs/{job_id}", status_code=202, response_model=Accepted)
    async def fhe_job(
        job_id: int,
        request: Request,
        x_veil_signature: str | None = Header(default=None),
        x_veil_eval_keys: str = Header(description="sha256 of evaluation keys uploaded with PUT /fhe/keys"),
    ) -> Accepted:
        _require_type(request, "application/octet-stream")
        if not _HEX64.match(x_veil_eval_keys):
            raise JobRejected(400, "X-Veil-Eval-Keys: expected 64 lowercase hex characters")
        ct = await _read_limited(request, svc.cfg.max_body_bytes)
        await run_in_threadpool(svc.submit_fhe, job_id, ct, x_veil_eval_keys, x_veil_signature)
        return Accepted(job_id=job_id, state="accepted")

    @app.get("/jobs/{job_id}")
    def job(job_id: int) -> dict:
        return svc.result(job_id)

    @app.get("/fhe/jobs/{job_id}/output")
    def fhe_output(job_id: int) -> Response:
        return Response(svc.output_ciphertext(job_id), media_type="application/octet-stream")

    return app
