"""Pipeline stages served by real node processes over HTTP, on the embedded chain served over JSON-RPC
(issue 18, "slices are proven in parallel on several nodes").

The world: the test MLP cut into 2 slices (session fixture ``mlp_sliced``), each slice published as a
committed model, the pair registered as a pipeline on the PipelineMarket. Node A serves both slices,
node B slice 1, and a cheating node C slice 0 but proves it with the whole MLP (another model: same
input commitment, another key). A client's :class:`PipelineOrchestrator` opens one job (one escrow),
hands stage 0 to one node and its output straight to the next, and waits for the chain's receipt.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from veilproof.chain.deploy import ONE_VEIL, SuiteParams, deploy_pipeline_market
from veilproof.client import Client
from veilproof.client.pipeline import PipelineFailed, PipelineOrchestrator
from veilproof.client.publish import publish_model
from veilproof.demo.cheater import start_cheater
from veilproof.demo.network import LocalNetwork, NodeProcess
from veilproof.node.config import ServedModel
from veilproof.protocol import RequestSig, encrypt_for_node, sign_request
from veilproof.protocol.api import PIPELINE_STAGE, StageRequest
from veilproof.zk.instances import input_commitment

pytestmark = pytest.mark.slow

PRICE = 10 * ONE_VEIL
SLASH = 50 * ONE_VEIL


@dataclass
class PipeWorld:
    lnet: LocalNetwork
    stage_ids: list[int]
    pid: int
    a: NodeProcess
    b: NodeProcess
    cheater: NodeProcess
    liar: NodeProcess
    silent: NodeProcess
    client: Client
    orch: PipelineOrchestrator
    x: np.ndarray
    out: np.ndarray  # the sliced circuit's final output on x (library proofs, session fixture)


@pytest.fixture(scope="module")
def pipe(
    tmp_path_factory: pytest.TempPathFactory, mlp: Any, mlp_sliced: Any, mlp_sliced_proofs: Any
) -> Iterator[PipeWorld]:
    from veilproof.zk import evm

    root = tmp_path_factory.mktemp("e2e-pipe")
    v = evm.compile_reusable_verifier()
    params = SuiteParams.dev(slash_amount=SLASH, max_deadline=3600, challenge_window=60)
    lnet = LocalNetwork.start(root, None, params=params, verifier=(v.abi, v.bytecode))
    try:
        d = deploy_pipeline_market(lnet.net, lnet.owner, lnet.suite.deployment, slash_amount=SLASH)
        d.save(lnet.deployment_file)  # the node processes read the deployment from this file
        s = lnet.suite
        assert s.pipelines is not None
        stage_ids = [
            publish_model(
                s, lnet.owner, name=f"mlp-slice{i}", price=PRICE, onnx_hash=p.commitments()["onnx_hash"], zk=p
            ).model_id
            for i, p in enumerate(mlp_sliced.packages)
        ]
        pid = s.pipelines.register_pipeline(stage_ids, sender=lnet.owner)
        store = mlp.package.store.root
        p0, p1 = (p.manifest_digest for p in mlp_sliced.packages)
        a = lnet.start_node(
            "a", [ServedModel(stage_ids[0], zk_package=p0), ServedModel(stage_ids[1], zk_package=p1)],
            artifacts_dir=store, stake_veil=300,
        )  # fmt: skip
        b = lnet.start_node(
            "b", [ServedModel(stage_ids[1], zk_package=p1)], artifacts_dir=store, stake_veil=300
        )
        cheater = start_cheater(
            lnet, "c", stage_ids[0], p0, mlp.package.manifest_digest, artifacts_dir=store, stake_veil=300
        )
        # proves stage 0 honestly, hands over another output (tests/e2e/lying_stage_node.py)
        with pytest.MonkeyPatch.context() as mp:
            here = str(Path(__file__).parent)
            mp.setenv("PYTHONPATH", os.pathsep.join([here, os.environ.get("PYTHONPATH", "")]))
            liar = lnet.start_node(
                "l", [ServedModel(stage_ids[0], zk_package=p0)], artifacts_dir=store, stake_veil=300,
                module="lying_stage_node", honest=False,
            )  # fmt: skip
            # claims and proves stage 1, never submits it (tests/e2e/silent_stage_node.py)
            silent = lnet.start_node(
                "s", [ServedModel(stage_ids[1], zk_package=p1)], artifacts_dir=store, stake_veil=300,
                module="silent_stage_node", honest=False,
            )  # fmt: skip
        client = Client(s, lnet.new_funded(100), root / "client", deadline_s=1800, poll_interval=0.2)
        _, out = mlp_sliced_proofs
        yield PipeWorld(
            lnet, stage_ids, pid, a, b, cheater, liar, silent, client, PipelineOrchestrator(client, timeout_s=300),
            np.asarray(mlp.example.x_test[0]), np.asarray(out),
        )  # fmt: skip
    finally:
        lnet.stop()


def _stake(w: PipeWorld, n: NodeProcess) -> int:
    return w.lnet.suite.nodes.read_node(n.account.address).stake


def test_two_slices_on_two_nodes_settle_on_one_receipt(pipe: PipeWorld) -> None:
    w = pipe
    pm = w.orch.pm
    a, b = w.a.account.address, w.b.account.address
    pend_a, pend_b = pm.pending(a), pm.pending(b)
    bal = w.lnet.suite.token.balance_of(w.client.account.address)
    run = w.orch.run(w.pid, w.x, PRICE, nodes=[[a], [b]])
    assert run.settled and run.rejections == [] and run.refused == []
    rec = run.receipt
    assert rec.stage_nodes == (a, b) and rec.stage_models == tuple(w.stage_ids)
    # the final outputs the chain settled equal the sliced circuit's outputs on x
    assert np.allclose(run.outputs, w.out.ravel(), atol=1e-6)
    # one escrow, split between the two stage nodes
    assert w.lnet.suite.token.balance_of(w.client.account.address) == bal - PRICE
    assert pm.pending(a) - pend_a == PRICE // 2 and pm.pending(b) - pend_b == PRICE - PRICE // 2
    # both stages were claimed (each node started on its stage) before stage 0 was verified:
    # stage 1 was proven while stage 0 still was
    claims = {stage: block for stage, _node, block in pm.stage_claims(run.job_id)}
    verified = {stage: block for stage, _tx, block in pm.verification_txs(run.job_id)}
    assert claims[1] < verified[0], (claims, verified)
    print(f"\npipeline job {run.job_id}: {run.seconds}")


def test_stage_proven_with_another_model_is_slashed_and_the_job_still_settles(pipe: PipeWorld) -> None:
    """Node C claims stage 0 and proves it with the whole MLP (same input commitment, another key): the
    chain rejects it and slashes C; the rejection frees the stage, the orchestrator re-sends it to A,
    B's stage 1 (proven meanwhile on the honest hand-off) links, and the job settles. C earns nothing."""
    w = pipe
    pm = w.orch.pm
    a, b, c = w.a.account.address, w.b.account.address, w.cheater.account.address
    stake_c, stake_a, stake_b = _stake(w, w.cheater), _stake(w, w.a), _stake(w, w.b)
    pend_c = pm.pending(c)
    run = w.orch.run(w.pid, w.x, PRICE, nodes=[[c, a], [b]])
    assert run.rejections == [(0, c, "proof rejected")]
    assert _stake(w, w.cheater) == stake_c - SLASH
    assert run.settled and run.receipt.stage_nodes == (a, b)
    assert np.allclose(run.outputs, w.out.ravel(), atol=1e-6)
    assert pm.pending(c) == pend_c
    assert (_stake(w, w.a), _stake(w, w.b)) == (stake_a, stake_b)


def _post(w: PipeWorld, node: NodeProcess, job_id: int, stage: int, x: Any, **kw: Any) -> httpx.Response:
    pm = w.orch.pm
    pub = w.lnet.suite.nodes.read_node(node.account.address).pubkey
    req = StageRequest(
        stage=kw.get("body_stage", stage),
        encrypted_input="0x"
        + encrypt_for_node(pub, json.dumps(np.asarray(x).ravel().tolist()).encode()).hex(),
    )
    body = req.encode()
    ctx = RequestSig(w.lnet.net.chain_id, pm.address, node.account.address, job_id)
    headers = {"Content-Type": "application/json"}
    signer = kw.get("signer", w.client.account)
    if signer is not None:
        headers["X-Veil-Signature"] = sign_request(signer, ctx, body)
    url = node.endpoint + PIPELINE_STAGE.format(job_id=job_id, stage=stage)
    return httpx.post(url, content=body, headers=headers, timeout=60)


def test_bad_stage_requests_get_typed_errors_and_claim_nothing(pipe: PipeWorld, mlp_sliced: Any) -> None:
    w = pipe
    pm, s = w.orch.pm, w.lnet.suite
    c = w.client
    commitment = input_commitment(mlp_sliced.packages[0].settings, w.x)
    s.token.approve(pm.address, PRICE, sender=c.account)
    jid, _ = pm.open_job(w.pid, commitment, PRICE, c.net.now() + 1800, sender=c.account)
    stranger = w.lnet.new_funded(0)
    cases = [
        (w.a, jid, 0, w.x, {"signer": None}, 401, "missing"),
        (w.a, jid, 0, w.x, {"signer": stranger}, 401, "not from the pipeline job's client"),
        (w.a, jid, 0, w.x + 1.0, {}, 400, "input does not hash to the job's input commitment"),
        (w.a, jid, 0, w.x[:5], {}, 400, "expected 30 finite numbers"),
        (w.a, jid, 0, w.x, {"body_stage": 1}, 400, "must be equal"),
        (w.b, jid, 0, w.x, {}, 404, "does not serve model"),
        (w.a, jid, 5, w.x, {}, 400, "has stages 0..1"),
        (w.a, jid + 100, 0, w.x, {}, 404, "does not exist"),
    ]
    for node, job, stage, x, kw, status, words in cases:
        assert isinstance(kw, dict)
        r = _post(w, node, job, stage, x, **kw)
        assert r.status_code == status and words in r.json()["error"], (stage, kw, r.status_code, r.text)
    assert pm.stage_claims(jid) == [] and pm.claim(jid, 0) == (None, 0)
    # ...and the same job is still served: a correct request is claimed and answered with stage 0's output
    r = _post(w, w.a, jid, 0, w.x)
    assert r.status_code == 202, r.text
    assert pm.claim(jid, 0)[0] == w.a.account.address
    again = _post(w, w.a, jid, 0, w.x)  # a replay is refused, not claimed or proven twice
    assert again.status_code == 409 and "already running" in again.json()["error"]


def test_a_wrong_handoff_costs_the_next_honest_node_nothing(pipe: PipeWorld) -> None:
    """Node L proves stage 0 honestly but hands B another tensor. B's proof then commits to an input that
    is not stage 0's committed output: submitted, it would be rejected and B slashed. B must see that
    and drop its proof; the orchestrator names L (its hand-off is not its proven output) and the job is
    refunded at its deadline as the contract says (stage 0's node keeps its share: see the residual in
    docs/pipelines.md)."""
    w = pipe
    pm = w.orch.pm
    liar, b = w.liar.account.address, w.b.account.address
    stake_b, pend_b, pend_l = _stake(w, w.b), pm.pending(b), pm.pending(liar)
    bal = w.lnet.suite.token.balance_of(w.client.account.address)
    with pytest.raises(PipelineFailed) as e:
        w.orch.run(w.pid, w.x, PRICE, nodes=[[liar], [b]], deadline_s=600)
    jid = int(e.value.details["job_id"])  # type: ignore[call-overload]
    assert e.value.details["bad_handoffs"] == [(0, liar)]
    log = w.b.home / "node.log"
    end = time.monotonic() + 60
    decided = (f"pipeline job {jid} stage 1: input does not link", f"pipeline job {jid} stage 1: rejected")
    while not any(d in log.read_text(errors="replace") for d in decided):  # dropped, or submitted
        assert time.monotonic() < end, "node B never decided about its non-linking proof"
        time.sleep(0.5)
    assert pm.rejections(jid) == [] and _stake(w, w.b) == stake_b
    w.lnet.net.time_travel(601)
    pm.refund(jid, sender=w.client.account)
    assert pm.receipt(jid).status == "refunded"
    assert w.lnet.suite.token.balance_of(w.client.account.address) == bal - PRICE // 2
    assert pm.pending(liar) - pend_l == PRICE // 2 and pm.pending(b) == pend_b


def test_a_silent_stage_node_is_replaced_when_its_claim_runs_out(pipe: PipeWorld) -> None:
    """Node S claims stage 1 and answers, then never submits (crashed, hung). Its claim blocks the stage
    only until ``claim_window`` ends; the orchestrator then sends stage 1 to B and the job settles.
    S loses nothing but the job (an idle claim is not slashed) and earns nothing."""
    w = pipe
    pm = w.orch.pm
    a, b, sil = w.a.account.address, w.b.account.address, w.silent.account.address
    stake_s, pend_s, pend_b = _stake(w, w.silent), pm.pending(sil), pm.pending(b)
    jobs_before = pm.job_count()
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["run"] = w.orch.run(w.pid, w.x, PRICE, nodes=[[a], [sil, b]])
        except Exception as e:  # reported by the assertions below
            out["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    end = time.monotonic() + 60
    while True:  # stage 0 verified and stage 1 claimed by S: S's answer came, its submit never will
        jid = pm.job_count()
        if jid > jobs_before and pm.receipt(jid).stage_nodes and pm.claim(jid, 1)[0] == sil:
            break
        assert time.monotonic() < end and t.is_alive(), out
        time.sleep(0.2)
    w.lnet.net.time_travel(pm.claim_window() + 1)
    t.join(timeout=120)
    assert "run" in out, out
    r = out["run"]
    assert r.expired == [(1, sil)] and r.settled and r.receipt.stage_nodes == (a, b)
    assert np.allclose(r.outputs, w.out.ravel(), atol=1e-6)
    assert _stake(w, w.silent) == stake_s and pm.pending(sil) == pend_s
    assert pm.pending(b) - pend_b == PRICE - PRICE // 2
