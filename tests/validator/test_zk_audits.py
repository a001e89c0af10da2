"""Validators score failures by the error's type: a node whose result fails verification is *wrong*, a
node that does not answer is *unavailable* — whatever the error's message says.

The wrong result is injected between node and client (the node itself is honest and settles): the
client receives a proof or instances that differ from what was settled on chain, as if the node had
handed over something else than it proved. This is the case a message-matching validator scored as
"unavailable" once the client's wording drifted ("proof differs from ...").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from world import ZkWorld, make_world

from veilproof.chain.suite import Suite
from veilproof.chain.views import SETTLED, read_job
from veilproof.client import Client, NodeApi
from veilproof.client.selection import NodeOffer
from veilproof.protocol.api import JobReport
from veilproof.validator import ModelAudit, ReferenceBook
from veilproof.validator.audits import Auditor

pytestmark = pytest.mark.slow


class TamperingApi(NodeApi):
    """Fault injection in transit: the claim the client reads is not the one the node settled."""

    field = "proof"

    def job(self, job_id: int, wait: float = 0.0) -> JobReport:
        st = super().job(job_id, wait)
        if st.zk is None:
            return st
        if self.field == "proof":
            proof = bytearray(bytes.fromhex(st.zk.proof.removeprefix("0x")))
            proof[-1] ^= 1
            claim = st.zk.model_copy(update={"proof": "0x" + proof.hex()})
        else:
            last = int(st.zk.instances[-1], 16)
            claim = st.zk.model_copy(update={"instances": [*st.zk.instances[:-1], hex(last ^ 1)]})
        return st.model_copy(update={"zk": claim})


def _tampering(field: str) -> type[Client]:
    class TamperingClient(Client):
        def _api(self, offer: NodeOffer) -> NodeApi:
            api = TamperingApi(offer.endpoint, http=self.http)
            api.field = field
            return api

    return TamperingClient


class UnreachableClient(Client):
    """As if the node's endpoint were down: nothing listens on port 1."""

    def _api(self, offer: NodeOffer) -> NodeApi:
        return NodeApi("http://127.0.0.1:1", http=self.http)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mlp, mlp_substitute) -> Iterator[ZkWorld]:  # type: ignore[no-untyped-def]
    w = make_world(tmp_path_factory.mktemp("val-zk"), None, mlp, mlp_substitute)
    try:
        yield w
    finally:
        w.lnet.stop()


def _auditor(w: ZkWorld, root: Path, client_cls: type[Client]) -> Auditor:
    def factory(suite: Suite, acct, home: Path) -> Client:  # type: ignore[no-untyped-def]
        return client_cls(suite, acct, home, poll_interval=0.2, job_timeout=300.0, deadline_s=900)

    refs = ReferenceBook(root / "references", [w.honest.endpoint])
    return Auditor(w.lnet.suite, w.lnet.new_funded(50), root, refs, client_factory=factory)


@pytest.mark.parametrize("field", ["proof", "instances"])
def test_result_that_fails_verification_is_scored_wrong_not_unavailable(
    world: ZkWorld, tmp_path: Path, field: str
) -> None:
    w = world
    x = np.asarray(w.built.example.x_test[11])  # type: ignore[attr-defined]
    rec = _auditor(w, tmp_path, _tampering(field)).audit(
        w.honest.account.address, ModelAudit(w.model_id, x.reshape(1, -1)), x
    )
    assert rec.answered and not rec.correct, rec  # wrong, not unavailable
    assert f"{field} differ" in rec.detail
    # (the node really settled: only what reached the client was edited)
    assert rec.job_id is not None and read_job(w.lnet.suite, rec.job_id).status == SETTLED


def test_node_that_cannot_be_reached_is_scored_unavailable(world: ZkWorld, tmp_path: Path) -> None:
    w = world
    x = np.asarray(w.built.example.x_test[12])  # type: ignore[attr-defined]
    rec = _auditor(w, tmp_path, UnreachableClient).audit(
        w.honest.account.address, ModelAudit(w.model_id, x.reshape(1, -1)), x
    )
    assert not rec.answered and not rec.correct, rec
