"""``NodeApi``: the one HTTP client of a compute node, typed by :mod:`veilproof.protocol.api`.

Why one class: the client SDK, validators (through the SDK) and the demo all talk to nodes; each used
to build URLs, headers and poll loops of its own and to read untyped JSON. Here every endpoint is a
method that returns the protocol's pydantic model, and every failure is a typed
:class:`~veilproof.client.errors.NodeUnavailable`: no HTTP answer → :class:`NodeUnreachable`, an error
status → its :class:`NodeRefused` subclass (:data:`~veilproof.client.errors.REFUSALS`), an answer not
in the protocol's shape → :class:`BadResponse`. No ``httpx`` exception escapes.

Nothing here trusts the node: checking what it returns against the chain is the caller's job
(:class:`veilproof.client.Client`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from veilproof.client.errors import BadResponse, NodeRefused, NodeUnreachable, NoResult, refusal
from veilproof.protocol import api
from veilproof.protocol.http import http_client

M = TypeVar("M", bound=BaseModel)

#: Polling back-off (:meth:`NodeApi.wait`, :meth:`NodeApi.wait_order`): each wait between polls is this
#: much longer than the last, up to ``POLL_MAX_S`` (or the caller's interval, if longer).
POLL_BACKOFF = 1.5
POLL_MAX_S = 0.5
#: A wait asks the node to hold each poll this long (``?wait=``): it answers at once on a change.
LONG_POLL_S = 10.0


def poll_delays(interval: float) -> Iterator[float]:
    """The waits between polls: ``interval``, then growing by ``POLL_BACKOFF`` up to
    ``max(interval, POLL_MAX_S)``.

    Why a back-off: a client polled each job every 0.2 s for its whole life; a job that takes seconds
    cost the node (and the client) a request per 0.2 s. Growing to 0.5 s keeps a short job's answer
    prompt (the first polls are as frequent as before) and adds at most 0.5 s to a long one's."""
    cap = max(interval, POLL_MAX_S)
    delay = interval
    while True:
        yield delay
        delay = min(delay * POLL_BACKOFF, cap)


class NodeApi:
    """Typed calls to the node at ``endpoint``. Pass ``http`` to share a connection pool (it is then
    not closed by :meth:`close`)."""

    def __init__(self, endpoint: str, *, http: httpx.Client | None = None, timeout: float = 60.0) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._owns_http = http is None
        self.http = http if http is not None else http_client(timeout)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> NodeApi:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- transport -------------------------------------------------------------------------------
    def url(self, route: str, **params: object) -> str:
        return self.endpoint + route.format(**params)

    def _send(
        self,
        method: str,
        route: str,
        params: dict[str, object] | None = None,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
        query: dict[str, str] | None = None,
    ) -> httpx.Response:
        """One request; an error status not in ``ok`` is raised as its :class:`NodeRefused` subclass."""
        url = self.url(route, **(params or {}))
        try:
            r = self.http.request(method, url, content=content, headers=headers, params=query)
        except httpx.HTTPError as e:
            raise NodeUnreachable(f"{method} {url}: {type(e).__name__}: {e}") from e
        if r.status_code >= 400 and r.status_code not in ok:
            reason, code = _error_of(r)
            raise refusal(r.status_code, reason, f"{method} {url}", code)
        return r

    @staticmethod
    def _parse(r: httpx.Response, model: type[M]) -> M:
        try:
            return model.model_validate_json(r.content)
        except ValidationError as e:
            raise BadResponse(
                f"{r.request.method} {r.request.url}: not a {model.__name__} ({e.error_count()} errors)"
            ) from e

    # --- endpoints -------------------------------------------------------------------------------
    def health(self) -> api.Health:
        return self._parse(self._send("GET", api.HEALTH), api.Health)

    def info(self) -> api.NodeInfo:
        return self._parse(self._send("GET", api.INFO), api.NodeInfo)

    def artifact(self, digest: str) -> bytes:
        """A (small) artifact's bytes, unchecked: large ones are streamed and hash-checked into a store
        by :func:`veilproof.artifacts.remote.fetch_artifact`."""
        return self._send("GET", api.ARTIFACT, {"digest": digest}).content

    def submit_zk(self, job_id: int, request: api.ZkJobRequest, signature: str) -> api.Accepted:
        """``signature`` is the job's client's signature over ``request.encode()``, the bytes sent."""
        headers = {api.CONTENT_TYPE: api.JSON, api.SIGNATURE_HEADER: signature}
        r = self._send("POST", api.ZK_JOB, {"job_id": job_id}, content=request.encode(), headers=headers)
        return self._parse(r, api.Accepted)

    def run_stage(
        self, job_id: int, stage: int, request: api.StageRequest, signature: str
    ) -> api.StageAccepted:
        """Ask the node to run stage ``stage`` of pipeline job ``job_id``; it answers with the stage's
        output once it claimed the stage (and proves in the background). ``signature``: the job's
        client over ``request.encode()``, bound to the PipelineMarket."""
        headers = {api.CONTENT_TYPE: api.JSON, api.SIGNATURE_HEADER: signature}
        r = self._send(
            "POST",
            api.PIPELINE_STAGE,
            {"job_id": job_id, "stage": stage},
            content=request.encode(),
            headers=headers,
        )
        return self._parse(r, api.StageAccepted)

    def has_eval_keys(self, digest: str) -> bool:
        return self._send("HEAD", api.FHE_KEYS_DIGEST, {"digest": digest}, ok=(404,)).status_code == 200

    def put_eval_keys(self, upload: api.EvalKeysUpload) -> api.KeysStored:
        """Upload keys for the open FHE job ``upload.job_id`` (signed: see :class:`api.EvalKeysUpload`)."""
        headers = {
            api.CONTENT_TYPE: api.OCTET_STREAM,
            api.JOB_HEADER: str(upload.job_id),
            api.EVAL_KEYS_HEADER: upload.eval_keys_sha256,
            api.SIGNATURE_HEADER: upload.signature,
        }
        return self._parse(
            self._send("PUT", api.FHE_KEYS, content=upload.keys, headers=headers), api.KeysStored
        )

    def submit_fhe(self, job_id: int, request: api.FheJobRequest) -> api.Accepted:
        headers = {
            api.CONTENT_TYPE: api.OCTET_STREAM,
            api.EVAL_KEYS_HEADER: request.eval_keys_sha256,
            api.SIGNATURE_HEADER: request.signature,
        }
        r = self._send("POST", api.FHE_JOB, {"job_id": job_id}, content=request.ciphertext, headers=headers)
        return self._parse(r, api.Accepted)

    def job(self, job_id: int, wait: float = 0.0) -> api.JobReport:
        """The job's report; ``wait`` > 0: the node answers when the job changes or is finished, at the
        latest after ``wait`` seconds (a node before long-polls answers at once)."""
        return self._parse(self._send("GET", api.JOB, {"job_id": job_id}, query=_wait(wait)), api.JobReport)

    def fhe_output(self, job_id: int) -> bytes:
        return self._send("GET", api.FHE_OUTPUT, {"job_id": job_id}).content

    # --- pay-on-proof ------------------------------------------------------------------------------
    def submit_order(self, request: api.ZkOrderRequest) -> api.OrderAccepted:
        r = self._send(
            "POST",
            api.ZK_ORDERS,
            content=request.model_dump_json().encode(),
            headers={api.CONTENT_TYPE: api.JSON},
        )
        return self._parse(r, api.OrderAccepted)

    def order(self, order_hash: str, wait: float = 0.0) -> api.OrderReport:
        """The order's report; ``wait``: a long-poll, as for :meth:`job`."""
        r = self._send("GET", api.ZK_ORDER, {"order_hash": order_hash}, query=_wait(wait))
        return self._parse(r, api.OrderReport)

    def post_receipt(self, order_hash: str, receipt: api.ReceiptPost) -> api.ReceiptStored:
        r = self._send(
            "POST",
            api.ZK_ORDER_RECEIPT,
            {"order_hash": order_hash},
            content=receipt.model_dump_json().encode(),
            headers={api.CONTENT_TYPE: api.JSON},
        )
        return self._parse(r, api.ReceiptStored)

    def wait_order(self, order_hash: str, timeout: float, interval: float = 0.5) -> api.OrderReport:
        """Poll ``GET /zk/orders/{hash}`` until the node delivered or failed (every ``interval`` at
        first, backing off, see :func:`poll_delays`); :class:`NoResult` at the timeout (the client then
        ``demand``s on chain after the deadline)."""
        t_end = time.monotonic() + timeout
        delays = poll_delays(interval)
        last: api.JobState | None = None
        while (left := t_end - time.monotonic()) > 0:
            ask, t_asked = self._long_poll(left), time.monotonic()
            try:
                st = self.order(order_hash, wait=ask)
            except (NodeRefused, NodeUnreachable, BadResponse):
                st = None
            if st is not None and st.state.finished:
                return st
            if self._poll_again_later(st, last, ask, t_asked):
                time.sleep(next(delays))
            last = st.state if st is not None else last
        raise NoResult(
            f"order {order_hash}: node gave no result within {timeout}s (demand after the deadline)"
        )

    def wait(
        self,
        job_id: int,
        timeout: float,
        interval: float = 0.5,
        on_state: Callable[[api.JobState], None] | None = None,
        settled_elsewhere: Callable[[], bool] | None = None,
    ) -> api.JobReport | None:
        """Poll ``GET /jobs/{id}`` until the node is finished with the job (submitted, failed, abandoned):
        every ``interval`` at first, backing off to ``POLL_MAX_S`` (:func:`poll_delays`).

        A refusal while polling (e.g. 404 before the job is recorded) is retried until ``timeout``. A
        node that stops answering (reset connection, garbage) is retried too, as long as
        ``settled_elsewhere`` (the caller's look at the chain) says the job is not done; once it is,
        this returns None and the caller takes the result from the chain. Without that callback an
        unreachable node raises at once. Raises :class:`NoResult` at the timeout.
        """
        t_end = time.monotonic() + timeout
        delays = poll_delays(interval)
        last: api.JobState | None = None
        while (left := t_end - time.monotonic()) > 0:
            ask, t_asked = self._long_poll(left), time.monotonic()
            try:
                st: api.JobReport | None = self.job(job_id, wait=ask)
            except NodeRefused:
                st = None
            except (NodeUnreachable, BadResponse):
                if settled_elsewhere is None:
                    raise
                if settled_elsewhere():
                    return None
                st = None
            again_later = self._poll_again_later(st, last, ask, t_asked)
            if st is not None:
                if st.state != last and on_state is not None:
                    on_state(st.state)
                last = st.state
                if st.state.finished:
                    return st
            if again_later:
                time.sleep(next(delays))
        raise NoResult(f"job {job_id}: node gave no result within {timeout}s (refund after deadline)")

    def _long_poll(self, left: float) -> float:
        """Seconds to ask the node to hold the next poll: ``LONG_POLL_S``, less if the wait ends sooner
        or this client's read timeout is short (the answer must come before it)."""
        read = self.http.timeout.read
        cap = LONG_POLL_S if read is None else min(LONG_POLL_S, read / 2)
        return max(0.0, min(cap, left))

    @staticmethod
    def _poll_again_later(
        st: BaseModel | None, last: api.JobState | None, ask: float, t_asked: float
    ) -> bool:
        """Sleep before the next poll? Yes after a refusal or no answer, and after an unchanged answer
        that came at once (a node that does not hold long-polls); no after a change or a held poll."""
        if st is None:
            return True
        state = getattr(st, "state", None)
        return state == last and time.monotonic() - t_asked < ask / 2


def _wait(wait: float) -> dict[str, str] | None:
    return {"wait": f"{wait:.3f}"} if wait > 0 else None


def _error_of(r: httpx.Response) -> tuple[str, object]:
    """(reason, code) of an error answer: ``ErrorBody``'s ``error`` and ``code``, or what a non-node
    server in between (a proxy) sent instead."""
    try:
        body = r.json()
        return str(body.get("error") or body.get("detail")), body.get("code")
    except (ValueError, AttributeError):
        return r.text[:200], None
