"""How a client waits on a node: long-polls the node holds until the job or order changes (``?wait=``),
polls that back off (0.2 s growing to 0.5 s) against a node that answers at once, and the load clients'
shared, short-lived view of each node's ``/info`` (#14: client polling and ``/info`` before every job
were most of a busy node's HTTP requests).

The node side is the real HTTP app (``create_app``) over Starlette's in-process transport, with a
service that answers "accepted" a few times before "submitted"; the sleeps are recorded, not slept.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from veilproof.client import node_api
from veilproof.client.node_api import POLL_MAX_S, NodeApi, poll_delays
from veilproof.client.selection import NodeOffer
from veilproof.demo.load import NodeLoads, least_loaded
from veilproof.node.app import create_app
from veilproof.node.changes import Changes, job_key, order_key
from veilproof.protocol import api

ORDER = "0x" + "ab" * 32


@dataclass
class _Cfg:
    max_body_bytes: int = 1024
    max_eval_key_bytes: int = 4096
    body_deadline_s: float = 10.0
    body_idle_s: float = 5.0


@dataclass
class SlowNode:
    """A node that finishes a job (and an order) after ``busy`` polls; counts what it is asked."""

    tmp: Path
    busy: int = 6
    inflight: int = 0
    cfg: _Cfg = field(default_factory=_Cfg)
    asked: dict[str, int] = field(default_factory=dict)
    done: bool = False  # finished at once, whatever ``busy`` says (set by finish_later)
    db: Any = None

    def __post_init__(self) -> None:
        self.db = type("Db", (), {"changes": Changes()})()

    def finish_later(self, seconds: float, key: str) -> threading.Timer:
        """Finish the job/order after ``seconds`` and tell its waiters, as NodeStore.update does."""

        def finish() -> None:
            self.done = True
            self.db.changes.notify(key)

        t = threading.Timer(seconds, finish)
        t.start()
        return t

    def _ask(self, what: str) -> int:
        self.asked[what] = self.asked.get(what, 0) + 1
        return self.asked[what]

    def chain_problem(self) -> str | None:
        return None

    def info(self) -> api.NodeInfo:
        self._ask("info")
        return api.NodeInfo(
            address="0x" + "11" * 20, pubkey="0x02" + "22" * 32, chain_id=1, market="0x" + "33" * 20,
            models=[], workers=1, inflight=self.inflight, uptime_s=1.0,
        )  # fmt: skip

    def result(self, job_id: int) -> api.JobReport:
        n = self._ask("job")
        state = api.JobState.SUBMITTED if n > self.busy or self.done else api.JobState.ACCEPTED
        return api.JobReport(job_id=job_id, state=state, tx_hash=None, error=None)

    def order_report(self, order_hash: str) -> api.OrderReport:
        n = self._ask("order")
        over = n > self.busy or self.done
        state = api.JobState.FAILED if over else api.JobState.RUNNING
        return api.OrderReport(order_hash=order_hash, state=state, error="x" if over else None)


def _node(tmp_path: Path, **kw: Any) -> tuple[SlowNode, NodeApi]:
    svc = SlowNode(tmp_path, **kw)
    http = TestClient(create_app(svc), raise_server_exceptions=False)  # type: ignore[arg-type]
    return svc, NodeApi(str(http.base_url), http=http)


def test_poll_delays_grow_from_the_interval_to_half_a_second() -> None:
    assert [round(d, 4) for d in itertools.islice(poll_delays(0.2), 7)] == [
        0.2, 0.3, 0.45, 0.5, 0.5, 0.5, 0.5,
    ]  # fmt: skip
    assert list(itertools.islice(poll_delays(2.0), 3)) == [2.0, 2.0, 2.0]  # a slower caller keeps its pace
    assert max(itertools.islice(poll_delays(0.1), 20)) == POLL_MAX_S


@pytest.mark.parametrize("which", ["job", "order"])
def test_waiting_long_polls_the_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str) -> None:
    """The node holds the poll until the job changes: one request for a job that takes 0.4 s, the
    answer as soon as it is recorded, and no sleeping."""
    svc, nodeapi = _node(tmp_path, busy=10**6)
    slept: list[float] = []
    monkeypatch.setattr(node_api.time, "sleep", slept.append)
    timer = svc.finish_later(0.4, job_key(7) if which == "job" else order_key(ORDER))
    t0 = time.monotonic()
    if which == "job":
        states: list[api.JobState] = []
        report = nodeapi.wait(7, timeout=5, interval=0.2, on_state=states.append)
        assert report is not None and report.state == api.JobState.SUBMITTED
        assert states == [api.JobState.SUBMITTED]
    else:
        assert nodeapi.wait_order(ORDER, timeout=5, interval=0.2).state == api.JobState.FAILED
    waited = time.monotonic() - t0
    timer.join()
    assert slept == []
    # one held request: the node read the row before it waited and once after the change
    assert svc.asked[which] == 2
    assert 0.35 < waited < 3.0
    assert svc.db.changes.waiting() == 0  # nothing left registered


def test_a_held_poll_ends_at_its_wait(tmp_path: Path) -> None:
    """Nothing changes: the node answers the unchanged state after ``wait`` seconds; a wait over the
    protocol's maximum is refused."""
    svc, nodeapi = _node(tmp_path, busy=10**6)
    t0 = time.monotonic()
    assert nodeapi.job(7, wait=0.3).state == api.JobState.ACCEPTED
    assert 0.25 < time.monotonic() - t0 < 3.0
    assert svc.asked["job"] == 1 and svc.db.changes.waiting() == 0
    r = nodeapi.http.get(nodeapi.url(api.JOB, job_id=7), params={"wait": api.MAX_WAIT_S + 1})
    assert r.status_code == 422 and "wait" in r.text


@pytest.mark.parametrize("which", ["job", "order"])
def test_waiting_on_a_node_that_answers_at_once_backs_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: str
) -> None:
    """A node that does not hold polls (before long-polls): the client backs off between its
    unchanged answers."""
    svc, nodeapi = _node(tmp_path, busy=6)
    slept: list[float] = []
    monkeypatch.setattr(node_api.time, "sleep", slept.append)
    monkeypatch.setattr(node_api, "_wait", lambda wait: None)  # the request asks for no hold
    if which == "job":
        states: list[api.JobState] = []
        report = nodeapi.wait(7, timeout=5, interval=0.2, on_state=states.append)
        assert report is not None and report.state == api.JobState.SUBMITTED
        assert states == [api.JobState.ACCEPTED, api.JobState.SUBMITTED]  # every answer was a report
    else:
        assert nodeapi.wait_order(ORDER, timeout=5, interval=0.2).state == api.JobState.FAILED
    assert svc.asked[which] == 7  # six "not yet", then the answer
    # no sleep after the first answer (a change from nothing); then backing off
    assert slept == list(itertools.islice(poll_delays(0.2), 5))
    # The fixed 0.2 s of before would have polled ~10 times over the same 1.95 s.
    assert sum(slept) / 0.2 > 1.3 * svc.asked[which]


def test_load_clients_share_each_nodes_info_for_a_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = SlowNode(tmp_path, inflight=0), SlowNode(tmp_path, inflight=1)
    nodes = {"http://a.test": a, "http://b.test": b}
    offers = [
        NodeOffer(address="0x" + "0a" * 20, endpoint=e, pubkey=b"\x02" * 33, stake=1, price=1) for e in nodes
    ]
    # What a node's GET /info returns (the route itself: tests/node/test_app.py); counted per node.
    monkeypatch.setattr(NodeApi, "info", lambda self: nodes[self.endpoint].info())
    clock = [100.0]
    monkeypatch.setattr("veilproof.demo.load.time.monotonic", lambda: clock[0])
    loads = NodeLoads()
    threads = [least_loaded(5.0, random.Random(t), loads) for t in range(3)]
    picks = [policy(offers)[0].endpoint for policy in threads]
    # One /info per node for the three threads' picks (each used to ask both); each pick counts on
    # its node at once, so the threads spread instead of all taking the one that looked idle.
    assert (a.asked["info"], b.asked["info"]) == (1, 1)
    assert picks[0] == "http://a.test" and set(picks) == set(nodes)
    clock[0] += 0.5
    threads[0](offers)
    assert (a.asked["info"], b.asked["info"]) == (1, 1)  # still fresh
    clock[0] += 0.6
    a.inflight, b.inflight = 5, 0
    assert threads[1](offers)[0].endpoint == "http://b.test"  # read again after a second
    assert (a.asked["info"], b.asked["info"]) == (2, 2)
