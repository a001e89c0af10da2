"""Work: run a queued job (prove, or evaluate under FHE) and submit the result on chain.

What an honest node never does: sign a ZK claim the chain would reject (it runs the submit as an
``eth_call`` against the market's verifier first; a proof the chain refuses is declined with
``reject_job``, so the client is refunded at once and nobody is slashed), or hand out a claim whose
submit reverted (a signed claim is evidence for ``challenge_zk``: published only once the chain took it).
A result is never lost to a dropped connection: submits are retried until the job's deadline, and a
submit that reverts after a retry is reconciled with the chain (the first attempt may have been mined).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from veilproof.artifacts import sha256_hex
from veilproof.chain.job_market import JobMarket, JobMode, JobStatus
from veilproof.chain.network import Receipt
from veilproof.errors import ContractReverted
from veilproof.node import store as st
from veilproof.node.core import ZK_SUBMIT_GAS, LoadedModel, NodeCore
from veilproof.node.pool import Reservation
from veilproof.node.proving import chain_verifies
from veilproof.node.timings import JobTimer, engine_phases, phase
from veilproof.protocol.api import (
    JobState,
    ZkClaim,
)

if TYPE_CHECKING:
    from veilproof.models.package import ZkResult

log = logging.getLogger("veilproof.node")


class Work(NodeCore):
    """Runs jobs from the worker pool and submits their results."""

    def _enqueue(self, job_id: int, mode: int, slot: Reservation | None = None) -> None:
        """Queue on ``slot`` (reserved by admission); without one (a job recovered after a restart,
        which the node owes on chain) a slot is taken beyond the queue limit."""
        run = self._run_zk if mode == JobMode.ZK else self._run_fhe
        timer = self.timers.for_job(job_id)
        timer.mark("queued")
        (slot or self.pool.reserve(force=True)).run(lambda: self._timed(job_id, timer, run))

    def _timed(self, job_id: int, timer: JobTimer, run: Callable[[int], None]) -> None:
        """Run the job with its timer current; keep the finished timings with the job."""
        with self.timers.recording(timer):
            timer.since("queued", "queue")
            try:
                run(job_id)
            finally:
                self.start_gates.pop(job_id, None)  # a job that failed before it waited for its start
                self.running.discard(job_id)
                timer.finish()
                try:
                    self.db.save_timings(job_id, timer.report().model_dump_json())
                except Exception as e:  # the job's outcome is recorded; its timings are a nicety
                    log.warning("job %s: timings not saved: %s", job_id, type(e).__name__)

    def _begin(self, job_id: int) -> tuple[st.JobRow, LoadedModel] | None:
        with phase("record"):
            row = self.db.get(job_id)
            if row is None:
                return None
        # "running" is reported from memory, not written: the write was a commit (an fsync, 5-50 ms by
        # the disk's load) on every job's path, and nothing after a restart depends on it (accepted
        # and running jobs are recovered alike).
        self.running.add(job_id)
        return row, self.models[row.model_id]

    def _failed(self, job_id: int, e: Exception, mode: str) -> None:
        # The type only: an exception message may quote the input, and logs must not hold plaintext.
        log.warning("%s job %s failed: %s", mode, job_id, type(e).__name__)
        self.db.update(
            job_id, state=JobState.FAILED, error=f"{type(e).__name__}: {e}"[:500], finished=time.time()
        )

    def _ensure_started(self, row: st.JobRow) -> bool:
        """The job is taken on chain before any work: normally admission did it; if its
        ``start_job`` was lost to a connection error (or the node died in between), it is done here.
        False (and the job marked failed) when the chain will not have it any more."""
        started_here = row.job_id in self.started_here
        self.started_here.discard(row.job_id)
        if started_here and row.deadline > time.time() + self._clock_offset + self.cfg.deadline_margin:
            # Admission saw this process's start_job mined, and the deadline is not near (by the last
            # known chain clock): the job is open and started, and before its deadline only this node
            # can change that (a refund needs the deadline passed; challenge_zk needs a claim this node
            # signed, which it has not yet). No read needed (~10 ms).
            return True
        market = self.suite.market
        with phase("chain_reads"):
            job = self._retry_chain(
                lambda: market.read_job(row.job_id), row.deadline, f"job {row.job_id}: read"
            )
        if job.status != JobStatus.OPEN:
            self.db.update(row.job_id, state=JobState.FAILED, error=f"job not open on chain ({job.status_name})",
                           finished=time.time())  # fmt: skip
            return False
        if job.started_at == 0:
            try:
                with phase("start_job"):
                    self._retry_chain(
                        lambda: market.start_job(row.job_id, sender=self.account), row.deadline, "start_job"
                    )
            except ContractReverted as e:
                self.db.update(row.job_id, state=JobState.FAILED, error=f"cannot start: {e.reason}",
                               finished=time.time())  # fmt: skip
                return False
        return True

    def _await_start(self, row: st.JobRow) -> bool | None:
        """For a job admission queued before its ``start_job`` was mined: wait for that transaction
        (timed as ``start_job``: what it adds to the job after the work done meanwhile). True: the job
        is started (or was settled by :meth:`_ensure_started`); False: it must not be delivered (the
        chain refused it: admission forgot it; or the chain will not have it: marked failed). None: no
        start in flight for this job (recovered after a restart): the caller starts it first."""
        gate = self.start_gates.pop(row.job_id, None)
        if gate is None:
            return None
        with phase("start_job"):
            outcome = gate.wait()
        if outcome is False:
            return False
        return self._ensure_started(row)

    def _decline(self, job_id: int, deadline: int, reason: str) -> None:
        """``reject_job``: the client is refunded now rather than at the deadline, nobody is slashed."""
        try:
            self._retry_chain(
                lambda: self.suite.market.reject(job_id, reason[:64], sender=self.account), deadline, "reject"
            )
        except ContractReverted as e:
            reason = f"{reason}; reject_job reverted: {e.reason}"
        self.db.update(job_id, state=JobState.FAILED, error=f"rejected: {reason}"[:500], finished=time.time())

    # --- ZK --------------------------------------------------------------------------------------
    def _run_zk(self, job_id: int) -> None:
        started = self._begin(job_id)
        if started is None:
            return
        row, lm = started
        try:
            gated = row.job_id in self.start_gates
            if not gated and not self._ensure_started(row):
                return
            x = self._decode_input(row.payload, lm)
            # The pre-sign eth_call below verifies the proof in the market's verifier: not twice.
            with chain_verifies():
                result = self._prove(lm, x)
            if gated and not self._await_start(row):
                return
            instances = [int(v) for v in result.instances]
            proof = bytes(result.proof_bytes)
            try:
                with phase("check"):
                    self._retry_chain(
                        lambda: self._check_claim(job_id, instances, proof),
                        row.deadline,
                        f"job {job_id}: check",
                    )
            except ContractReverted as e:
                job = self.suite.market.read_job(job_id)
                if job.status != JobStatus.OPEN or job.deadline < self.chain_now():
                    # Refunded, or too late: nothing to decline; the claim is not signed.
                    self.db.update(job_id, state=JobState.FAILED, error=f"chain would not take the result: {e.reason}",
                                   finished=time.time())  # fmt: skip
                    return
                log.error("job %s: the chain would reject this node's proof (%s): declined", job_id, e.reason)
                self._decline(job_id, row.deadline, f"proof not verifiable: {e.reason}")
                return
            with phase("sign"):
                claim = ZkClaim(
                    outputs=list(result.outputs),
                    instances=[hex(v) for v in instances],
                    proof="0x" + proof.hex(),
                    node_signature=self.claims.sign(job_id, instances, proof),
                )
            try:
                # A fixed gas limit skips the estimate: verifying a Halo2 proof in the EVM is the
                # slow part (seconds on py-evm), and it need not run twice. ~0.9M is used.
                with phase("submit"):
                    rcpt = self._retry_chain(
                        lambda: self.suite.market.submit_zk(
                            job_id, instances, proof, sender=self.account, gas=ZK_SUBMIT_GAS
                        ),
                        row.deadline,
                        f"job {job_id}: submit",
                    )
            except ContractReverted as e:
                if self._zk_result_on_chain(job_id, proof):  # an earlier attempt was mined after all
                    self._zk_submitted(job_id, None, claim)
                else:
                    self._zk_submit_rejected(job_id, claim, e)
                return
            self._zk_submitted(job_id, rcpt, claim)
        except Exception as e:
            self._failed(job_id, e, "zk")

    def _check_claim(self, job_id: int, instances: list[int], proof: bytes) -> None:
        """Raises ContractReverted if the chain would reject this result now (before it is signed)."""
        self.suite.market.check_submit_zk(job_id, instances, proof, node=self.address)

    def _zk_submitted(self, job_id: int, rcpt: Receipt | None, claim: ZkClaim) -> None:
        """The chain took the proof: the job is settled, and the claim can be shown (it is no longer
        challengeable: ``challenge_zk`` needs an open job)."""
        with phase("record"):
            self.db.update(job_id, state=JobState.SUBMITTED, tx_hash=rcpt.tx_hash if rcpt else None,
                           result_json=claim.model_dump_json(), finished=time.time())  # fmt: skip

    def _zk_submit_rejected(self, job_id: int, claim: ZkClaim, e: ContractReverted) -> None:
        """The submit reverted (e.g. the deadline passed meanwhile): the signed claim is not published."""
        self.db.update(job_id, state=JobState.FAILED, error=f"chain rejected the result: {e.reason}",
                       finished=time.time())  # fmt: skip

    def _zk_result_on_chain(self, job_id: int, proof: bytes) -> bool:
        job = self.suite.market.read_job(job_id)
        return (
            job.status in (JobStatus.SUBMITTED, JobStatus.SETTLED)
            and job.node.lower() == self.address.lower()
            and job.proof_hash == JobMarket.proof_hash(proof)
        )

    def _prove(self, lm: LoadedModel, x: np.ndarray) -> ZkResult:
        """In a prover process (:mod:`veilproof.node.proving`): EZKL holds the GIL while it proves."""
        return self.prover.prove(lm.require_zk(), x)

    # --- FHE -------------------------------------------------------------------------------------
    def _run_fhe(self, job_id: int) -> None:
        from veilproof.fhe.errors import FheError

        started = self._begin(job_id)
        if started is None:
            return
        row, lm = started
        try:
            gated = row.job_id in self.start_gates
            if not gated and not self._ensure_started(row):
                return
            keys_hash = row.eval_keys_hash
            assert keys_hash is not None
            fhe = lm.require_fhe()
            failed: FheError | None = None
            try:
                # The keys are read from the store only if the FHE worker does not hold them yet.
                with engine_phases(lambda: fhe.phases, ipc="fhe_ipc", rest="keys"):
                    output = fhe.run_keyed(row.payload, keys_hash, lambda: self.store.get_bytes(keys_hash))
            except FheError as e:
                failed = e
            if gated and not self._await_start(row):
                return
            if failed is not None:
                # Hostile or broken input that passed the cheap checks: decline the job on chain so
                # the client is refunded now rather than at the deadline (nobody paid or slashed).
                self._decline(job_id, row.deadline, f"{type(failed).__name__}: {failed}")
                return
            with phase("record"):
                self.db.update(job_id, output_ct=output)
            out_hash = sha256_hex(output)
            try:
                with phase("submit"):
                    rcpt = self._retry_chain(
                        lambda: self.suite.market.submit_fhe(
                            job_id,
                            bytes.fromhex(row.eval_keys_hash or ""),
                            bytes.fromhex(sha256_hex(row.payload)),
                            bytes.fromhex(out_hash),
                            bytes.fromhex(lm.onchain.fhe_server_hash),
                            sender=self.account,
                        ),
                        row.deadline,
                        f"job {job_id}: submit",
                    )
            except ContractReverted as e:
                job = self.suite.market.read_job(job_id)
                if job.output_ct_hash == out_hash and job.node.lower() == self.address.lower():
                    self.db.update(job_id, state=JobState.SUBMITTED, finished=time.time())
                else:
                    self.db.update(job_id, state=JobState.FAILED, error=f"chain rejected the result: {e.reason}",
                                   finished=time.time())  # fmt: skip
                return
            with phase("record"):
                self.db.update(job_id, state=JobState.SUBMITTED, tx_hash=rcpt.tx_hash, finished=time.time())
        except Exception as e:
            self._failed(job_id, e, "fhe")
