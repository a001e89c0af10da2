"""``PipelineOrchestrator``: run one PipelineMarket job on several nodes, every stage proving at once.

Why an orchestrator: a pipeline job is paid once (one escrow) but proven stage by stage, possibly by
different nodes. Each node answers a stage request with the stage's *output* (a witness pass) as soon
as it has claimed the stage on chain, and proves in the background; the orchestrator hands that
output to the next stage's node at once. So stage *i+1* starts proving while stage *i* still proves,
and the wall time of a job is about that of its slowest stage, not the sum (docs/pipelines.md
"Stage dispatch").

Nothing a node says is trusted: the job settles only if the chain verified every stage under its
model's committed key and every link held; the final outputs are read from the chain's
``PipelineSettled`` event. A node whose submission the chain rejects (another model, another input)
is slashed by the contract; the orchestrator then sends that stage to the next candidate node (the
rejection freed the stage) and the job still settles. So it does for a stage whose node went silent
(no proof by the end of its claim). A job still open at its deadline is refunded
(each verified stage's node keeps its share, the contract's rule).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from veilproof.chain.pipeline_market import PipelineMarket, PipelineReceipt
from veilproof.client.client import Client
from veilproof.client.errors import ClientError, NodeUnavailable
from veilproof.client.node_api import NodeApi
from veilproof.client.selection import NodeOffer
from veilproof.errors import InputError
from veilproof.protocol import RequestSig, encrypt_for_node, sign_request
from veilproof.protocol.api import StageRequest

log = logging.getLogger("veilproof.client")


class PipelineFailed(ClientError):
    """No node took a stage, or the job did not settle (``details``: job id, attempts, receipt)."""

    def __init__(self, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.details = dict(details or {})


@dataclass
class StageHandoff:
    """One stage request a node accepted: who, when (seconds since the job opened), what it returned."""

    stage: int
    node: str
    output: list[float]
    answered_s: float
    input_commitment: int  # what the node says it will prove on: must be the previous stage's output


@dataclass
class PipelineRun:
    """What one pipeline job did. ``outputs`` are the final outputs as the chain settled them."""

    job_id: int
    receipt: PipelineReceipt
    outputs: list[float]
    handoffs: list[StageHandoff] = field(default_factory=list)
    rejections: list[tuple[int, str, str]] = field(default_factory=list)  # (stage, node, reason)
    refused: list[dict[str, object]] = field(default_factory=list)  # nodes that refused a request
    # (stage, node) whose handed-over output is not the output it proved (seen once it verified)
    bad_handoffs: list[tuple[int, str]] = field(default_factory=list)
    claim_until: dict[int, int] = field(default_factory=dict)  # stage -> chain time its claim ends
    expired: list[tuple[int, str]] = field(default_factory=list)  # (stage, node) whose claim ran out
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def settled(self) -> bool:
        return self.receipt.settled


class PipelineOrchestrator:
    """Runs pipeline jobs for ``client`` (its account pays, signs and opens; its HTTP pool and artifact
    store are reused)."""

    def __init__(self, client: Client, *, timeout_s: float = 900.0) -> None:
        self.client = client
        self.timeout_s = timeout_s
        pm = client.suite.pipelines
        if pm is None:
            raise ClientError("this deployment has no PipelineMarket")
        self.pm: PipelineMarket = pm

    def _candidates(self, model_id: int, wanted: Sequence[str] | None) -> list[NodeOffer]:
        offers = self.client.nodes(model_id)
        if wanted is None:
            return offers
        by_addr = {o.address.lower(): o for o in offers}
        missing = [a for a in wanted if a.lower() not in by_addr]
        if missing:
            raise InputError("nodes", f"active nodes serving model {model_id}", missing)
        return [by_addr[a.lower()] for a in wanted]

    def run(
        self,
        pipeline_id: int,
        x: object,
        price: int,
        *,
        nodes: Sequence[Sequence[str]] | None = None,
        deadline_s: int | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> PipelineRun:
        """Open one job on ``x`` escrowing ``price``, dispatch its stages, wait for the chain's receipt.

        ``nodes[s]``: the addresses to try for stage ``s``, in order (default: every active node
        serving the stage's model, ranked by the client's policy); a node that refuses the request or
        whose proof the chain rejects is replaced by the next one."""
        from veilproof.zk.instances import input_commitment, outputs_from_instances

        say = progress or (lambda _m: None)
        c = self.client
        models = self.pm.pipeline_models(pipeline_id)
        if not models:
            raise InputError("pipeline_id", "a registered pipeline", pipeline_id)
        if nodes is not None and len(nodes) != len(models):
            raise InputError("nodes", f"one list of node addresses per stage ({len(models)})", len(nodes))
        cands = [self._candidates(m, None if nodes is None else nodes[s]) for s, m in enumerate(models)]
        for s, cs in enumerate(cands):
            if not cs:
                raise PipelineFailed(f"no active node serves stage {s} (model {models[s]})")
        first, last = c.suite.models.read_model(models[0]), c.suite.models.read_model(models[-1])
        settings0 = c._settings(first, cands[0][0])
        settings_last = c._settings(last, cands[-1][0])
        x0 = c._salted(first, cands[0][0], settings0, np.asarray(x, dtype=np.float64))
        commitment = input_commitment(settings0, x0)

        t0 = time.perf_counter()
        c.suite.token.approve(self.pm.address, price, sender=c.account)
        deadline = c.net.now() + (deadline_s or c.deadline_s)
        job_id, _ = self.pm.open_job(pipeline_id, commitment, price, deadline, sender=c.account)
        run = PipelineRun(job_id, self.pm.receipt(job_id), [])
        run.seconds["open"] = time.perf_counter() - t0
        say(f"pipeline job {job_id}: opened ({len(models)} stages)")

        inputs: list[np.ndarray] = []
        next_candidate = [0] * len(models)
        cur = x0
        for s in range(len(models)):
            inputs.append(cur)
            cur = np.asarray(self._dispatch(run, s, cur, cands[s], next_candidate, t0), dtype=np.float64)
        run.seconds["dispatch"] = time.perf_counter() - t0
        say(f"pipeline job {job_id}: all {len(models)} stages handed out in {run.seconds['dispatch']:.1f} s")

        seen = 0
        end = time.monotonic() + self.timeout_s
        while True:
            rec = self.pm.receipt(job_id)
            if rec.status != "open":
                break
            rejected = self.pm.rejections(job_id)
            for stage, node, reason in rejected[seen:]:
                run.rejections.append((stage, node, reason))
                say(f"pipeline job {job_id}: stage {stage} by {node[:10]}… rejected ({reason}); re-sending")
                self._dispatch(run, stage, inputs[stage], cands[stage], next_candidate, t0)
            seen = len(rejected)
            now = c.net.now()
            for stage in range(len(rec.stage_nodes), len(models)):
                if run.claim_until.get(stage, now) < now:  # its node went silent: the stage is free again
                    node = [h.node for h in run.handoffs if h.stage == stage][-1]
                    run.expired.append((stage, node))
                    say(
                        f"pipeline job {job_id}: stage {stage} by {node[:10]}… not submitted in its claim; re-sending"
                    )
                    self._dispatch(run, stage, inputs[stage], cands[stage], next_candidate, t0)
            if self._check_handoffs(run, rec.stage_nodes, len(models)):
                raise PipelineFailed(
                    f"pipeline job {job_id}: stage {run.bad_handoffs[-1][0]}'s node handed over another "
                    "output than the one it proved, so the next stage cannot link; the job is refunded "
                    f"after its deadline (chain time {deadline}; verified stages keep their share)",
                    {"job_id": job_id, "bad_handoffs": run.bad_handoffs, "receipt": rec},
                )
            if c.net.now() > deadline:
                self.pm.refund(job_id, sender=c.account)
                continue
            if time.monotonic() > end:
                raise PipelineFailed(
                    f"pipeline job {job_id}: not settled within {self.timeout_s:.0f} s "
                    f"(refund after the deadline, chain time {deadline})",
                    {"job_id": job_id, "receipt": rec},
                )
            time.sleep(c.poll_interval)
        run.receipt = rec
        run.seconds["settle"] = time.perf_counter() - t0
        if rec.settled:
            felts = self.pm.settled_outputs(job_id)
            run.outputs = outputs_from_instances(settings_last, [0, *felts])
        say(f"pipeline job {job_id}: {rec.status} after {run.seconds['settle']:.1f} s")
        return run

    def _check_handoffs(self, run: PipelineRun, verified_nodes: tuple[str, ...], n: int) -> bool:
        """Whether a verified stage's committed output differs from what the next stage's node received
        (its ``input_commitment``): then that node's hand-off was not its proven output (recorded)."""
        found = False
        for s in range(min(len(verified_nodes), n - 1)):
            nxt = [h for h in run.handoffs if h.stage == s + 1]
            if not nxt or any(st == s for st, _ in run.bad_handoffs):
                continue
            if self.pm.stage_output_hash(run.job_id, s) != nxt[-1].input_commitment:
                run.bad_handoffs.append((s, verified_nodes[s]))
                found = True
        return found

    def _dispatch(
        self,
        run: PipelineRun,
        stage: int,
        x: np.ndarray,
        cands: list[NodeOffer],
        next_candidate: list[int],
        t0: float,
    ) -> list[float]:
        """Send ``stage`` to its next candidate node that accepts it; its output (the next input)."""
        c = self.client
        while next_candidate[stage] < len(cands):
            offer = cands[next_candidate[stage]]
            next_candidate[stage] += 1
            env = encrypt_for_node(offer.pubkey, json.dumps(np.asarray(x).ravel().tolist()).encode())
            req = StageRequest(stage=stage, encrypted_input="0x" + env.hex())
            ctx = RequestSig(c.net.chain_id, self.pm.address, offer.address, run.job_id)
            try:
                acc = NodeApi(offer.endpoint, http=c.http).run_stage(
                    run.job_id, stage, req, sign_request(c.account, ctx, req.encode())
                )
            except NodeUnavailable as e:
                log.info("pipeline job %s stage %s: node %s refused: %s", run.job_id, stage, offer.address, e)
                run.refused.append({"stage": stage, "node": offer.address, "error": str(e)})
                continue
            run.claim_until[stage] = acc.claim_until
            run.handoffs.append(
                StageHandoff(
                    stage, offer.address, acc.output, time.perf_counter() - t0, int(acc.input_commitment, 16)
                )
            )
            return acc.output
        raise PipelineFailed(
            f"pipeline job {run.job_id}: no node took stage {stage}",
            {"job_id": run.job_id, "refused": run.refused, "rejections": run.rejections},
        )
