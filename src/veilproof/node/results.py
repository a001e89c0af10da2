"""Results: what the node reports about its jobs and itself, and the artifacts it serves to peers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from veilproof.artifacts import sha256_hex
from veilproof.chain.node_registry import job_price
from veilproof.chain.views import JobStatus
from veilproof.errors import ArtifactError, ContractReverted
from veilproof.node.core import (
    CHAIN_PROBE_INTERVAL_S,
    CHAIN_WATCH_INTERVAL_S,
    ChainScan,
    NodeCore,
    chain_down,
)
from veilproof.node.errors import (
    UnknownArtifact,
    UnknownJob,
)
from veilproof.protocol.api import (
    FheOutput,
    JobReport,
    JobState,
    JobTimings,
    NodeInfo,
    ServedModelInfo,
    ZkClaim,
)

log = logging.getLogger("veilproof.node")

#: The chain watch's steps, in the order each pass runs them (see :meth:`Results.chain_watch_pass`).
WATCH_STEPS = ("registry", "demands", "attestations", "payouts", "orders")


class Results(NodeCore):
    """Read-only answers: job reports, output ciphertexts, artifacts, node info; and the node's
    housekeeping (probing its chain, watching it for what the node must answer, sweeping evaluation
    keys whose jobs are over)."""

    def start_maintenance(self) -> None:
        """Daemon threads: probe the chain every second (``/health`` answers from the probe); every
        ``CHAIN_WATCH_INTERVAL_S`` watch the chain for what this node must act on (clients demanding
        an FHE output on chain, refuted attestations against it whose compensation it collects, its FHE
        jobs whose challenge window closed without the client accepting: it finalizes them; its
        pay-on-proof orders: receipts to settle in a batch, proofs to claim with); and
        every ``maintenance_interval_s`` sweep evaluation keys whose jobs are over."""

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

        cursors = {w: 0 for w in WATCH_STEPS}  # next block each step reads from

        every(CHAIN_PROBE_INTERVAL_S, self.probe_chain, "chain-probe")
        # The watch pass takes the probe's reading of the latest block when it is at most a probe
        # interval old: an older head or clock only moves an action to the next pass.
        every(
            CHAIN_WATCH_INTERVAL_S,
            lambda: self.chain_watch_pass(cursors, block_max_age_s=CHAIN_PROBE_INTERVAL_S),
            "chain-watch",
        )
        every(self.cfg.maintenance_interval_s, sweep, "key-sweep")

    def chain_watch_pass(self, cursors: dict[str, int], block_max_age_s: float = 0.0) -> None:
        """One pass of the chain watch: its steps (:data:`WATCH_STEPS`) in order, each from its cursor
        in ``cursors`` (the next block it reads from; updated here). The latest block (the scan's
        head, the steps' clock) is read once per pass, or taken from a reading at most
        ``block_max_age_s`` old (:meth:`latest_block`).

        One ``eth_getLogs`` per pass for the steps that read events (:meth:`scan_chain`, from the lowest
        of their cursors; each step takes its events from its own cursor on): if it fails, none of them
        runs or advances. Each step then on its own: the chain being down for a while is expected (a
        warning, not a traceback every two seconds), and one step failing must not starve the others
        (its cursor stays, so its events come again in the next pass)."""
        reading = ("registry", "demands", "attestations")
        scan: ChainScan | None = None
        now: int | None = None  # the steps' chain clock (None: each reads it, the chain being down)
        try:
            head, now = self.latest_block(block_max_age_s)
            scan = self.scan_chain(min(cursors[w] for w in reading), head)
        except Exception as e:
            if chain_down(e):
                log.warning("chain watch (scan): %s", e)
            else:
                log.exception("chain watch (scan)")
        steps: dict[str, Callable[[int], tuple[int, Any]]] = {
            "registry": lambda b: self.follow_registry(b, scan),
            "demands": lambda b: self.answer_delivery_demands(b, scan),
            "attestations": lambda b: self.settle_refuted_attestations(b, scan),
            "payouts": lambda b: self.finalize_own_fhe_jobs(b, now),
            "orders": lambda b: self.maintain_orders(b, now),
        }
        for what in WATCH_STEPS:
            if what in reading and scan is None:
                continue
            try:
                cursors[what], done = steps[what](cursors[what])
            except Exception as e:
                if chain_down(e):
                    log.warning("chain watch (%s): %s", what, e)
                else:
                    log.exception("chain watch (%s)", what)
                continue
            if done:
                log.info("chain watch (%s): acted on %s", what, done)

    def sweep_eval_keys(self) -> list[str]:
        raise NotImplementedError  # veilproof.node.admission.Admission

    def maintain_orders(self, from_block: int, now: int | None = None) -> tuple[int, list[str]]:
        raise NotImplementedError  # veilproof.node.receipts.Receipts

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
        timer = self.timers.get(job_id)
        if timer is not None:
            extra["timings"] = timer.report()
        elif (saved := self.db.get_timings(job_id)) is not None:
            extra["timings"] = JobTimings.model_validate_json(saved)
        state = JobState(row.state)
        if state == JobState.ACCEPTED and job_id in self.running:
            state = JobState.RUNNING  # a worker has it (kept in memory, see Work._begin)
        return JobReport(job_id=job_id, state=state, tx_hash=row.tx_hash, error=row.error, **extra)

    def output_ciphertext(self, job_id: int) -> bytes:
        row = self.db.get(job_id)
        if row is None or row.output_ct is None:
            raise UnknownJob(f"no output ciphertext for job {job_id}")
        return row.output_ct

    def answer_delivery_demands(
        self, from_block: int, scan: ChainScan | None = None
    ) -> tuple[int, list[int]]:
        """Put on chain the output ciphertext of each of this node's FHE jobs a client demanded
        (``claim_not_delivered``) since ``from_block``; returns (next block to scan, jobs delivered).

        Why: an undelivered demand lets ``finalize`` refund the client and slash the node, so an
        honest node answers every demand it can, even if it served the ciphertext over HTTP too
        (a client may not have reached it). Delivering earns the client's bond (paid when the job settles).
        ``scan``: the chain-watch pass's read of the events (None: read here).
        """
        market = self.suite.market
        scan = self.scan_chain(from_block) if scan is None else scan
        delivered: list[int] = []
        if scan.head < from_block:
            return from_block, delivered
        demands = [
            (int(ev.args["job_id"]), int(ev.args["due"]))
            for ev in scan.since(from_block, market.address)
            if ev.name == "DeliveryDemanded"
        ]
        for job_id, due in demands:
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
        return scan.head + 1, delivered

    def settle_refuted_attestations(
        self, from_block: int, scan: ChainScan | None = None
    ) -> tuple[int, list[tuple[int, str, int]]]:
        """Collect this node's compensation for attestations against it that the quorum refuted:
        ``FheQuorum.settle_refuted`` on each (job, attester) whose challenge window closed without a
        dispute. Returns (next block to scan, ``(job_id, attester, VEIL received)`` settled now).

        Why the node: the penalty (``false_attest_bps`` of the attester's stake) is paid to the node it
        accused, so the node is the party with the reason to send the transaction; until someone
        does, a false attestation costs its author nothing. Accusations found in a scan are kept
        until their window closes (a restart rescans from block 0: settled ones are skipped).
        ``scan``: the chain-watch pass's read of the events (None: read here)."""
        quorum = self.suite.quorum
        if quorum is None:  # nothing to read; past the pass's scan (it starts at the lowest cursor)
            return (from_block if scan is None else max(from_block, scan.head + 1)), []
        scan = self.scan_chain(from_block) if scan is None else scan
        if scan.head >= from_block:
            for ev in scan.since(from_block, quorum.address):
                if ev.name != "Attested":
                    continue
                job_id = int(ev.args["job_id"])
                if quorum.accused(job_id).lower() == self.address.lower():
                    self.accusations.add((job_id, to_checksum_address(str(ev.args["validator"]))))
            from_block = scan.head + 1
        if not self.accusations:
            return from_block, []
        market = self.suite.market
        window, now = market.challenge_window(), self.chain_now()
        settled: list[tuple[int, str, int]] = []
        for job_id, attester in sorted(self.accusations):
            if quorum.disputed(job_id) or quorum.settled(job_id, attester):
                self.accusations.discard((job_id, attester))  # upheld (the node was slashed), or done
                continue
            if now < market.read_job(job_id).submitted_at + window:
                continue  # the quorum may still form: not refuted yet
            try:
                rcpt = quorum.settle_refuted(job_id, attester, sender=self.account)
            except ContractReverted as e:  # settled by someone else meanwhile, or disputed at the wire
                log.info("refuted attestation of job %s by %s not settled: %s", job_id, attester, e.reason)
            else:
                settled.append((job_id, attester, quorum.refuted_penalty(rcpt)))
            self.accusations.discard((job_id, attester))
        return from_block, settled

    def finalize_own_fhe_jobs(self, from_block: int, now: int | None = None) -> tuple[int, list[int]]:
        """``finalize`` this node's submitted FHE jobs whose challenge window has closed (and whose
        client, if it demanded the output, got it on chain). Returns (``from_block`` unchanged, jobs
        finalized now).

        Why the node: a client that never calls ``accept`` (it walked away, or it is gone) would
        otherwise leave the node's pay in escrow forever; ``finalize`` is open to anyone, and the node
        is the party it pays. Jobs seen closed on chain are remembered and not read again. ``now``: the
        chain clock of the watch pass (None: read here)."""
        rows = self.db.submitted_fhe()
        if not rows:
            return from_block, []  # nothing to collect: no chain read (this runs every watch pass)
        market = self.suite.market
        now, window = (self.chain_now() if now is None else now), None
        done: list[int] = []
        for row in rows:
            if row.job_id in self.closed_fhe or now < self.fhe_payout_due.get(row.job_id, 0):
                continue  # closed, or its window is still open (known from an earlier read)
            job = market.read_job(row.job_id)
            if job.status != JobStatus.SUBMITTED or job.node.lower() != self.address.lower():
                self.closed_fhe.add(row.job_id)  # accepted, disputed, refunded: nothing to collect here
                continue
            window = market.challenge_window() if window is None else window
            if now < job.submitted_at + window:
                self.fhe_payout_due[row.job_id] = job.submitted_at + window
                continue
            d = market.delivery(row.job_id)
            if d.due and not d.delivered:
                continue  # finalize would refund the client and slash this node: answer the demand first
            try:
                market.finalize(row.job_id, sender=self.account)
            except ContractReverted as e:  # closed by someone else meanwhile
                log.info("job %s: finalize refused: %s", row.job_id, e.reason)
                continue
            self.closed_fhe.add(row.job_id)
            self.fhe_payout_due.pop(row.job_id, None)
            done.append(row.job_id)
        return from_block, done

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
        """Who the node is and what it sells: per model its offer and current job price (from the
        node's cache of its offers and models, kept current from registry events: a change shows
        within one chain-watch interval, see :meth:`offer_of`) and the median time of its recent jobs;
        and its capacity (workers, jobs in flight, free slots) for a client choosing among nodes.
        Why cached: clients ask /info before each job (to pick the least busy node), and two chain
        reads per model per question were 15 % of a busy node's CPU."""
        served = []
        for mid, lm in self.models.items():
            offer = self.offer_of(mid)
            median, n = self.timers.recent_job_time(mid)
            served.append(
                ServedModelInfo(
                    model_id=mid,
                    name=lm.onchain.name,
                    price=lm.onchain.price,
                    zk_package=lm.served.zk_package,
                    fhe_server=lm.served.fhe_server,
                    fhe_client=lm.served.fhe_client,
                    offer=offer,
                    job_price=job_price(lm.onchain.price, lm.onchain.royalty_bps, offer),
                    median_job_s=median,
                    recent_jobs=n,
                )
            )
        pool = self.pool
        return NodeInfo(
            address=self.address,
            pubkey="0x" + self.pubkey.hex(),
            chain_id=self.chain_id,
            market=self.suite.market.address,
            models=served,
            workers=pool.workers,
            inflight=pool.inflight,
            uptime_s=round(time.time() - self.started, 1),
            queue_limit=pool.queue_limit,
            free_slots=max(pool.workers + pool.queue_limit - pool.inflight, 0),
        )
