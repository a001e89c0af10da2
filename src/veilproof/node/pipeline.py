"""Pipeline stages: run stage ``s`` of a PipelineMarket job on the input the orchestrator hands over.

Why the output first and the proof later: a stage's *output* is a witness pass (milliseconds), its
proof takes seconds to minutes. The node answers with the output at once, so the orchestrator can
hand it to the next stage's node, and every stage of a job proves at the same time on its own node
(docs/pipelines.md "Stage dispatch"). Proofs are made by the node's prover processes on its worker
pool (the same bounded queue as JobMarket jobs: a full node says 503 before anything happens on chain).

What an honest node never does:

* claim a stage it cannot run: every check (job open on chain, stage in range, model served and
  verifiable, the job's client signed the request, the input decrypts to the stage's shape, for
  stage 0 the input hashes to the job's commitment, a free worker slot, the witness) comes first;
  ``claim_stage`` is the last step before the answer, and a refused claim gives the slot back;
* submit a proof the chain would slash it for: it waits until the previous stage is verified on
  chain and submits only if its proof's committed input equals that stage's committed output (a
  previous node that handed over a wrong tensor makes this node drop its proof, not lose its stake);
  its proof was verified by its prover before (``ProcessProver``'s local verify).

What it keeps is in memory (``stage_runs``), not in the job database: a stage's claim expires after
``claim_window``, so a node that restarts mid-stage loses only that stage's work, and another node
(or itself, asked again) takes the stage over after the window.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from veilproof.chain.pipeline_market import PipelineJob, PipelineMarket
from veilproof.errors import ContractReverted, InputError
from veilproof.node.core import LoadedModel, NodeCore
from veilproof.node.errors import (
    BadInput,
    BadSignature,
    Busy,
    DeadlinePassed,
    JobNotOpen,
    NotServed,
    Replay,
    UnknownJob,
)
from veilproof.protocol.api import SIGNATURE_HEADER, StageAccepted, StageRequest
from veilproof.protocol.signing import RequestSig, recover_request_signer

if TYPE_CHECKING:
    from veilproof.models.package import ZkResult
    from veilproof.node.pool import Reservation

log = logging.getLogger("veilproof.node")

FINISHED = ("submitted", "rejected", "failed")

#: How often a proven stage reads the chain while it waits for the previous stage to be verified.
STAGE_POLL_S = 0.5


@dataclass
class StageRun:
    """One stage this node claimed: ``state`` accepted → proving → waiting → submitted | rejected |
    failed (``error`` says why)."""

    job_id: int
    stage: int
    model_id: int
    claim_until: int
    deadline: int
    state: str = "accepted"
    error: str = ""
    tx_hash: str = ""
    prove_s: float = 0.0


class PipelineStages(NodeCore):
    """``POST /pipelines/jobs/{job_id}/stages/{stage}``: check, witness, claim, answer; prove and submit
    in the background."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stage_runs: dict[tuple[int, int], StageRun] = {}
        self._stage_lock = threading.Lock()

    def _pipelines(self) -> PipelineMarket:
        pm = self.suite.pipelines
        if pm is None:
            raise NotServed("this node's deployment has no PipelineMarket: it serves no pipeline stage")
        return pm

    def run_stage(
        self, job_id: int, stage: int, req: StageRequest, raw_body: bytes, signature: str | None
    ) -> StageAccepted:
        """Every check, then the witness, then ``claim_stage``; the proof is queued on the pool."""
        from veilproof.models.slicing import stage_input, stage_output
        from veilproof.node.pool import QueueFull
        from veilproof.zk.instances import input_commitment

        pm = self._pipelines()
        if req.stage != stage:
            raise BadInput(f"stage: the body says {req.stage}, the path {stage}; they must be equal")
        if not signature:
            raise BadSignature(f"missing {SIGNATURE_HEADER} header")
        job = pm.read_job(job_id)
        if job.status == "none":
            raise UnknownJob(f"pipeline job {job_id} does not exist on chain")
        if not job.open:
            raise JobNotOpen(f"pipeline job {job_id} is not open (status {job.status})")
        if job.deadline <= self.chain_now() + self.cfg.deadline_margin:
            raise DeadlinePassed(f"pipeline job {job_id} deadline has passed or is too close")
        models = pm.pipeline_models(job.pipeline_id)
        if stage >= len(models):
            raise BadInput(f"stage: pipeline {job.pipeline_id} has stages 0..{len(models) - 1}, not {stage}")
        if stage < job.stages_done:
            raise JobNotOpen(f"stage {stage} of pipeline job {job_id} is already verified")
        model_id = models[stage]
        lm = self.models.get(model_id)
        if lm is None:
            raise NotServed(f"this node does not serve model {model_id} (stage {stage})")
        pkg = lm.require_zk()
        if not self.zk_model_registered(model_id, max_age_s=30.0):
            raise NotServed(f"model {model_id}: its verifying key is not registered with the ZK verifier")
        ctx = RequestSig(self.chain_id, pm.address, self.address, job_id)
        try:
            signer = recover_request_signer(ctx, raw_body, signature)
        except InputError as e:
            raise BadSignature(str(e)) from e
        if signer.lower() != job.client.lower():
            raise BadSignature("signature is not from the pipeline job's client")
        x = self._decode_input(bytes.fromhex(req.encrypted_input.removeprefix("0x")), lm)
        commitment = input_commitment(pkg.settings, x)
        expected = (
            job.input_commitment if stage == 0 else (job.last_output if stage == job.stages_done else None)
        )
        if expected is not None and commitment != expected:
            what = "the job's input commitment" if stage == 0 else "the previous stage's committed output"
            raise BadInput(f"input does not hash to {what} on chain")
        key = (job_id, stage)
        now = self.chain_now()
        with self._stage_lock:
            # forget finished runs of jobs past their deadline (nothing can change for them any more)
            for k in [k for k, r in self.stage_runs.items() if r.state in FINISHED and r.deadline < now]:
                del self.stage_runs[k]
            held = self.stage_runs.get(key)
            if held is not None and held.state not in ("rejected", "failed"):
                raise Replay(f"stage {stage} of pipeline job {job_id} is already running here ({held.state})")
            try:
                slot = self.pool.reserve()
            except QueueFull as e:
                raise Busy(f"node busy: {e}") from e
            run = StageRun(job_id, stage, model_id, 0, job.deadline)
            self.stage_runs[key] = run
        try:
            try:
                xs = stage_input(pkg, x)
                output = stage_output(pkg, xs)
            except Exception as e:  # the circuit cannot run on this input (values out of its range)
                raise BadInput(f"input: the stage's circuit cannot run on it ({type(e).__name__})") from e
            try:
                rcpt = pm.claim_stage(job_id, stage, sender=self.account)
            except ContractReverted as e:
                raise JobNotOpen(
                    f"stage {stage} of pipeline job {job_id} cannot be claimed: {e.reason}"
                ) from e
            claimant, until = pm.claim(job_id, stage)
            run.claim_until = until
            log.info("pipeline job %s stage %s: claimed until %s (tx %s)", job_id, stage, until, rcpt.tx_hash)
        except BaseException:
            with self._stage_lock:
                self.stage_runs.pop(key, None)
            slot.release()
            raise
        self._queue_stage(run, lm, xs, slot)
        return StageAccepted(
            job_id=job_id,
            stage=stage,
            output=[float(v) for v in np.asarray(output).ravel()],
            input_commitment="0x" + commitment.to_bytes(32, "big").hex(),
            claim_until=until,
        )

    def _prove(self, lm: LoadedModel, x: np.ndarray) -> ZkResult:
        """Implemented by :class:`veilproof.node.work.Work` (the node's prover processes)."""
        raise NotImplementedError

    def _queue_stage(self, run: StageRun, lm: LoadedModel, xs: np.ndarray, slot: Reservation) -> None:
        slot.run(lambda: self._prove_and_submit(run, lm, xs))

    def _prove_and_submit(self, run: StageRun, lm: LoadedModel, xs: np.ndarray) -> None:
        pm = self._pipelines()
        job_id, stage = run.job_id, run.stage
        try:
            run.state = "proving"
            t = time.perf_counter()
            result = self._prove(lm, xs)
            run.prove_s = time.perf_counter() - t
            instances = [int(v) for v in result.instances]
            run.state = "waiting"
            job = self._await_turn(pm, run)
            if job is None:
                return
            if instances[0] != job.last_output:
                # The previous node handed over another tensor than the one it proved on: submitting
                # would be a slash ("input does not link"). Drop the proof; the claim expires.
                self._stage_failed(
                    run, "input does not link to the previous stage's committed output: not submitted"
                )
                return
            sub = self._retry_chain(
                lambda: pm.submit_stage(
                    job_id, stage, bytes(result.proof_bytes), instances, sender=self.account
                ),
                min(run.deadline, run.claim_until),
                f"pipeline job {job_id} stage {stage}: submit",
            )
            run.tx_hash = sub.receipt.tx_hash
            run.state = "submitted" if sub.accepted else "rejected"
            run.error = sub.reason
            log.info("pipeline job %s stage %s: %s %s", job_id, stage, run.state, sub.reason)
        except ContractReverted as e:
            self._stage_failed(run, f"chain refused the submit: {e.reason}")
        except Exception as e:
            self._stage_failed(run, f"{type(e).__name__}: {e}"[:300])

    def _await_turn(self, pm: PipelineMarket, run: StageRun) -> PipelineJob | None:
        """Wait until the stages before this one are verified (submits go in order on chain); None
        (and the run marked failed) if the job closed, the stage is no longer this node's, or the
        claim or deadline ran out meanwhile."""
        until = min(run.deadline, run.claim_until)
        while True:
            job = self._retry_chain(lambda: pm.read_job(run.job_id), until, "pipeline read")
            if not job.open:
                self._stage_failed(run, f"job {job.status} before this stage's turn")
                return None
            if job.stages_done > run.stage:
                self._stage_failed(run, "stage verified by another node (this claim had expired)")
                return None
            if job.stages_done == run.stage:
                return job
            if self.chain_now() >= until:
                self._stage_failed(
                    run, "previous stage not verified before this claim or the deadline ran out"
                )
                return None
            time.sleep(STAGE_POLL_S)

    def _stage_failed(self, run: StageRun, why: str) -> None:
        run.state, run.error = "failed", why
        log.warning("pipeline job %s stage %s: %s", run.job_id, run.stage, why)
