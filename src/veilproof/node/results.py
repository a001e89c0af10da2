"""Results: what the node reports about its jobs and itself, and the artifacts it serves to peers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from veilproof.artifacts import sha256_hex
from veilproof.errors import ArtifactError, ContractReverted
from veilproof.node.core import CHAIN_PROBE_INTERVAL_S, NodeCore
from veilproof.node.errors import (
    UnknownArtifact,
    UnknownJob,
)
from veilproof.protocol.api import (
    FheOutput,
    JobReport,
    JobState,
    NodeInfo,
    ServedModelInfo,
    ZkClaim,
)

log = logging.getLogger("veilproof.node")


class Results(NodeCore):
    """Read-only answers: job reports, output ciphertexts, artifacts, node info; and the node's
    housekeeping (probing its chain, sweeping evaluation keys whose jobs are over)."""

    def start_maintenance(self) -> None:
        """Daemon threads: probe the chain every second (``/health`` answers from the probe), and every
        ``maintenance_interval_s`` sweep evaluation keys whose jobs are over."""

        def every(seconds: float, task: Callable[[], object], name: str) -> None:
            def loop() -> None:
                while True:
                    try:
                        task()
                    except Exception:
                        log.exception(name)
                    time.sleep(seconds)

            threading.Thread(target=loop, name=name, daemon=True).start()

        def sweep() -> None:
            gone = self.sweep_eval_keys()
            if gone:
                log.info("swept %d evaluation-key sets whose jobs are over", len(gone))

        every(CHAIN_PROBE_INTERVAL_S, self.probe_chain, "chain-probe")
        every(self.cfg.maintenance_interval_s, sweep, "key-sweep")

    def sweep_eval_keys(self) -> list[str]:
        raise NotImplementedError  # veilproof.node.admission.Admission

    def model_digests(self) -> set[str]:
        raise NotImplementedError  # veilproof.node.admission.Admission

    def result(self, job_id: int) -> JobReport:
        row = self.db.get(job_id)
        if row is None:
            raise UnknownJob(f"job {job_id} unknown to this node")
        # Only what exists is set: the answer has "zk" / "fhe" once there is a result, not as null.
        extra: dict[str, Any] = {}
        if row.result_json:
            extra["zk"] = ZkClaim.model_validate_json(row.result_json)
        if row.output_ct is not None:
            extra["fhe"] = FheOutput(output_sha256=sha256_hex(row.output_ct), size=len(row.output_ct))
        return JobReport(
            job_id=job_id, state=JobState(row.state), tx_hash=row.tx_hash, error=row.error, **extra
        )

    def output_ciphertext(self, job_id: int) -> bytes:
        row = self.db.get(job_id)
        if row is None or row.output_ct is None:
            raise UnknownJob(f"no output ciphertext for job {job_id}")
        return row.output_ct

    def answer_delivery_demands(self, from_block: int) -> tuple[int, list[int]]:
        """Put on chain the output ciphertext of each of this node's FHE jobs a client demanded
        (``claim_not_delivered``) since ``from_block``; returns (next block to scan, jobs delivered).

        Why: an undelivered demand lets ``finalize`` refund the client and slash the node, so an
        honest node answers every demand it can, even if it served the ciphertext over HTTP too
        (a client may not have reached it). Delivering earns the client's bond (paid when the job settles).
        """
        market = self.suite.market
        head = self.net.w3.eth.block_number
        delivered: list[int] = []
        if head < from_block:
            return from_block, delivered
        for job_id, due in market.delivery_demands(from_block, head):
            row = self.db.get(job_id)
            if row is None or row.output_ct is None or due <= self.net.now():
                continue
            job = market.read_job(job_id)
            if job.node.lower() != self.address.lower() or market.delivery(job_id).delivered:
                continue
            try:
                market.deliver_output(job_id, row.output_ct, sender=self.account)
                delivered.append(job_id)
            except ContractReverted:  # settled or disputed meanwhile, or a stored output that is not
                continue  # the posted one: nothing more this node can do for this demand
        return head + 1, delivered

    def artifact_path(self, digest: str) -> Path:
        """A blob of this node's store, re-hashed before it is served (a corrupt blob is not served).
        Clients' evaluation-key uploads are not served: the node keeps them for their jobs, it is not a
        free public host for whatever was uploaded."""
        if self.db.keys_held(digest) and digest not in self.model_digests():
            raise UnknownArtifact(f"artifact {digest} not in this node's store")
        if not self.store.has(digest):
            raise UnknownArtifact(f"artifact {digest} not in this node's store")
        try:
            return self.store.open_verified(digest)
        except ArtifactError as e:
            raise UnknownArtifact(str(e)) from e

    def info(self) -> NodeInfo:
        return NodeInfo(
            address=self.address,
            pubkey="0x" + self.pubkey.hex(),
            chain_id=self.chain_id,
            market=self.suite.market.address,
            models=[
                ServedModelInfo(
                    model_id=mid,
                    name=lm.onchain.name,
                    price=lm.onchain.price,
                    zk_package=lm.served.zk_package,
                    fhe_server=lm.served.fhe_server,
                    fhe_client=lm.served.fhe_client,
                )
                for mid, lm in self.models.items()
            ],
            workers=self.pool.workers,
            inflight=self.pool.inflight,
            uptime_s=round(time.time() - self.started, 1),
        )
