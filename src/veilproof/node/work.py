"""Work: run a queued job (prove, or evaluate under FHE) and submit the result on chain."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from veilproof.artifacts import sha256_hex
from veilproof.chain.job_market import JobMode
from veilproof.errors import ContractReverted
from veilproof.node import store as st
from veilproof.node.core import ZK_SUBMIT_GAS, LoadedModel, NodeCore
from veilproof.node.errors import (
    Busy,
)
from veilproof.protocol.api import (
    JobState,
    ZkClaim,
)

if TYPE_CHECKING:
    from veilproof.models.package import ZkResult

log = logging.getLogger("veilproof.node")


class Work(NodeCore):
    """Runs jobs from the worker pool and submits their results."""

    def _enqueue(self, job_id: int, mode: int) -> None:
        from veilproof.node.pool import QueueFull

        fn = (lambda: self._run_zk(job_id)) if mode == JobMode.ZK else (lambda: self._run_fhe(job_id))
        try:
            self.pool.submit(fn)
        except QueueFull as e:
            raise Busy(f"node busy: {e}") from e

    def _begin(self, job_id: int) -> tuple[st.JobRow, LoadedModel] | None:
        row = self.db.get(job_id)
        if row is None:
            return None
        self.db.update(job_id, state=JobState.RUNNING)
        return row, self.models[row.model_id]

    def _failed(self, job_id: int, e: Exception, mode: str) -> None:
        # The type only: an exception message may quote the input, and logs must not hold plaintext.
        log.warning("%s job %s failed: %s", mode, job_id, type(e).__name__)
        self.db.update(
            job_id, state=JobState.FAILED, error=f"{type(e).__name__}: {e}"[:500], finished=time.time()
        )

    def _run_zk(self, job_id: int) -> None:
        started = self._begin(job_id)
        if started is None:
            return
        row, lm = started
        try:
            x = self._decode_input(row.payload, lm)
            result = self._prove(lm, x)
            instances = [int(v) for v in result.instances]
            proof = bytes(result.proof_bytes)
            sig = self.claims.sign(job_id, instances, proof)
            claim = ZkClaim(
                outputs=list(result.outputs),
                instances=[hex(v) for v in instances],
                proof="0x" + proof.hex(),
                node_signature=sig,
            )
            self.db.update(job_id, result_json=claim.model_dump_json())
            try:
                # A fixed gas limit skips the estimate: verifying a Halo2 proof in the EVM is the
                # slow part (seconds on py-evm), and it need not run twice. ~0.9M is used.
                rcpt = self.suite.market.submit_zk(
                    job_id, instances, proof, sender=self.account, gas=ZK_SUBMIT_GAS
                )
                self.db.update(job_id, state=JobState.SUBMITTED, tx_hash=rcpt.tx_hash, finished=time.time())
            except ContractReverted as e:
                # The signed claim stays available to the client, who can take it to challenge_zk.
                self.db.update(job_id, state=JobState.FAILED, error=f"chain rejected the result: {e.reason}")
        except Exception as e:
            self._failed(job_id, e, "zk")

    def _prove(self, lm: LoadedModel, x: np.ndarray) -> ZkResult:
        """In a prover process (:mod:`veilproof.node.proving`): EZKL holds the GIL while it proves."""
        return self.prover.prove(lm.require_zk(), x)

    def _run_fhe(self, job_id: int) -> None:
        from veilproof.fhe.errors import FheError

        started = self._begin(job_id)
        if started is None:
            return
        row, lm = started
        try:
            assert row.eval_keys_hash is not None
            keys = self.store.get_bytes(row.eval_keys_hash)
            try:
                output = lm.require_fhe().run(row.payload, keys)
            except FheError as e:
                # Hostile or broken input that passed the cheap checks: decline the job on chain so
                # the client is refunded now rather than at the deadline (nobody paid or slashed).
                reason = f"{type(e).__name__}"[:64]
                self.suite.market.reject(job_id, reason, sender=self.account)
                self.db.update(
                    job_id, state=JobState.FAILED, error=f"rejected: {e}"[:500], finished=time.time()
                )
                return
            self.db.update(job_id, output_ct=output)
            rcpt = self.suite.market.submit_fhe(
                job_id,
                bytes.fromhex(row.eval_keys_hash),
                bytes.fromhex(sha256_hex(row.payload)),
                bytes.fromhex(sha256_hex(output)),
                bytes.fromhex(lm.onchain.fhe_server_hash),
                sender=self.account,
            )
            self.db.update(job_id, state=JobState.SUBMITTED, tx_hash=rcpt.tx_hash, finished=time.time())
        except Exception as e:
            self._failed(job_id, e, "fhe")

    # --- results and info ----------------------------------------------------------------------
