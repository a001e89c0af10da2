"""Admission: every check of a job request before any work, in this order: the job exists on chain,
is assigned to this node, is open (so it is funded: the price sits in escrow), has time left, the request
is signed by the job's client, the input matches the job's input commitment, and the job was not served
before. Then a worker slot is reserved, the job is recorded, queued on the reserved slot and taken on chain
(``start_job``): a job the chain says this node started always has a worker (see
:class:`veilproof.node.pool.Reservation`), and the worker computes while ``start_job`` is mined but
delivers nothing before it is (see :class:`veilproof.node.core.StartGate`)."""

from __future__ import annotations

from veilproof.artifacts import sha256_hex
from veilproof.chain.erc1271 import Erc1271, has_code
from veilproof.chain.job_market import JobMode, JobStatus, OnchainJob
from veilproof.errors import ContractReverted, InputError, VeilproofError
from veilproof.node import store as st
from veilproof.node.core import NodeCore, StartGate, chain_down, log
from veilproof.node.errors import (
    BadInput,
    BadSignature,
    Busy,
    DeadlinePassed,
    JobNotOpen,
    KeysMissing,
    MalformedBody,
    NotAssigned,
    NotServed,
    QuotaExceeded,
    Replay,
    TooLarge,
    UnknownJob,
)
from veilproof.node.pool import Reservation
from veilproof.node.timings import JobTimer, phase
from veilproof.node.timings import current as current_timer
from veilproof.node.timings import suspended as suspended_timer
from veilproof.protocol import RequestSig, recover_request_signer
from veilproof.protocol.api import (
    EVAL_KEYS_HEADER,
    FHE_KEYS,
    SIGNATURE_HEADER,
    JobState,
)
from veilproof.protocol.fhe_payload import fhe_keys_signed_payload, fhe_signed_payload
from veilproof.protocol.signing import eip191_hash

#: How long a "the verifier knows this model" reading is reused by admission (see zk_model_registered).
REGISTERED_CACHE_S = 30.0


class Admission(NodeCore):
    """Turns a signed request into a recorded, started, queued job, or refuses it with a typed error."""

    def _admit(self, job_id: int, mode: int, body_for_sig: bytes, signature: str | None) -> OnchainJob:
        with phase("admission"):
            return self._admit_checks(job_id, mode, body_for_sig, signature)

    def _admit_checks(self, job_id: int, mode: int, body_for_sig: bytes, signature: str | None) -> OnchainJob:
        if not signature:
            raise BadSignature(f"missing {SIGNATURE_HEADER} header")
        with phase("chain_reads"):
            # One read, not job_count() then job(): the market reverts "unknown job" outside 1..count.
            try:
                job = self.suite.market.read_job(job_id) if job_id > 0 else None
            except ContractReverted:
                job = None
            if job is None:
                raise UnknownJob(f"job {job_id} does not exist on chain")
            now = self.net.now()
        if job.node.lower() != self.address.lower():
            raise NotAssigned(f"job {job_id} is assigned to {job.node}, not this node")
        if job.mode != mode:
            raise BadInput(f"job {job_id} is mode {job.mode}, this endpoint serves mode {mode}")
        if job.status != JobStatus.OPEN:
            raise JobNotOpen(f"job {job_id} is not open (status {job.status_name})")
        if job.deadline <= now + self.cfg.deadline_margin:
            raise DeadlinePassed(f"job {job_id} deadline has passed or is too close")
        if job.model_id not in self.models:
            raise NotServed(f"this node does not serve model {job.model_id}")
        with phase("chain_reads"):
            self.lineage.require(job.model_id)  # issue #15: TaintedLineage once its data is revoked
        if mode == JobMode.ZK:
            with phase("chain_reads"):
                self._require_verifiable(job.model_id)
        ctx = RequestSig(self.chain_id, self.suite.market.address, self.address, job_id)
        try:
            signer = recover_request_signer(ctx, body_for_sig, signature)
        except InputError as e:
            raise BadSignature(str(e)) from e
        if signer.lower() != job.client.lower():
            with phase("chain_reads"):
                approved = self._wallet_approves(job.client, ctx.digest(body_for_sig), signature)
            if not approved:
                raise BadSignature("signature is not from the job's client")
        if self.db.get(job_id) is not None:
            raise Replay(f"job {job_id} was already submitted to this node (replay)")
        return job

    def _require_verifiable(self, model_id: int) -> None:
        """The market's verifier must know the model's VKA: otherwise every proof reads as invalid on
        chain, and a client who got the node to take the job could have it slashed (refund after the
        deadline, or challenge_zk of its claim) although it proved honestly."""
        if not self.zk_model_registered(model_id, max_age_s=REGISTERED_CACHE_S):
            raise NotServed(
                f"model {model_id}: its verifying key is not registered with the market's ZK verifier; "
                "this node takes no ZK job it could not get verified"
            )

    def _wallet_approves(self, client: str, digest: bytes, signature: str) -> bool:
        """ERC-1271: a contract client (an agent's wallet) vouches for its agent key's signature."""
        if not has_code(self.net, client):
            return False
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
            return Erc1271(self.net, client).is_valid_signature(eip191_hash(digest), sig)
        except (ValueError, VeilproofError):
            return False

    def _record_and_enqueue(
        self, job: OnchainJob, payload: bytes, eval_keys_hash: str | None = None, key_bytes: int | None = None
    ) -> None:
        """Reserve a worker slot, record the job, take it on chain (``start_job``: from now on a missed
        deadline is slashable), then queue it on the reserved slot, which cannot fail.

        The order is the point: a full queue is found *before* anything happens on chain (503, not
        started), and a started job always runs. Measured before (50 concurrent requests, 1 worker,
        queue 8): 19 jobs were started on chain, then answered 503 and forgotten, each a slash at its
        deadline. A refusal of ``start_job`` undoes the record and the slot, so the client may retry.
        If the connection fails during ``start_job``, the transaction may have been mined: the job is
        kept and queued, and the worker takes it on chain first if it was not (see ``Work``)."""
        from sqlalchemy.exc import IntegrityError as DbIntegrityError

        from veilproof.node.pool import QueueFull

        try:
            slot = self.pool.reserve()
        except QueueFull as e:
            raise Busy(f"node busy: {e}") from e
        row = st.JobRow(
            chain=self.db.chain, job_id=job.job_id, mode=job.mode, model_id=job.model_id, client=job.client,
            deadline=job.deadline, state=JobState.ACCEPTED, payload=payload, eval_keys_hash=eval_keys_hash,
        )  # fmt: skip
        try:
            with phase("record"):
                self.db.add_job(row, key_bytes)
        except DbIntegrityError as e:
            slot.release()
            raise Replay(f"job {job.job_id} was already submitted to this node (replay)") from e
        timer = current_timer()
        if timer is not None:
            self.timers.adopt(job.job_id, timer, job.model_id)
        # Queued before start_job is mined: the worker proves (or runs the FHE circuit) meanwhile and
        # waits for this transaction's outcome before anything leaves the node (the pre-sign check, the
        # submit, the stored output): nothing is delivered for a job the chain has not started.
        gate = StartGate()
        self.start_gates[job.job_id] = gate
        self._enqueue(job.job_id, job.mode, slot)
        try:
            with suspended_timer():  # the worker's phases cover this time (it waits for it: start_job)
                self.suite.market.start_job(job.job_id, sender=self.account)
            self.started_here.add(job.job_id)
            gate.open(True)
        except ContractReverted as e:
            self._refused(job.job_id, gate)
            raise JobNotOpen(f"job {job.job_id} cannot be started: {e.reason}") from e
        except Exception as e:
            if not chain_down(e):
                self._refused(job.job_id, gate)
                raise
            log.warning(
                "job %s: start_job unconfirmed (%s); the worker settles it", job.job_id, type(e).__name__
            )
            gate.open(None)

    def _refused(self, job_id: int, gate: StartGate) -> None:
        """The chain refused ``start_job``: forget the job (the client may retry) and tell its worker,
        which drops whatever it computed (its slot frees when it returns)."""
        self.db.delete(job_id)
        gate.open(False)

    def _undo(self, job_id: int, slot: Reservation) -> None:
        self.db.delete(job_id)
        slot.release()

    def submit_zk(self, job_id: int, encrypted_input: bytes, raw_body: bytes, signature: str | None) -> None:
        with self.timers.recording(JobTimer()):
            job = self._admit(job_id, JobMode.ZK, raw_body, signature)
            lm = self.models[job.model_id]
            zk = lm.require_zk()
            x = self._decode_input(encrypted_input, lm)
            from veilproof.zk.instances import input_commitment

            with phase("commitment"):
                matches = input_commitment(zk.settings, x) == job.input_commitment
            if not matches:
                raise BadInput("input does not match the job's input commitment")
            self._record_and_enqueue(job, encrypted_input)

    def has_eval_keys(self, digest: str) -> bool:
        return self.store.has(digest)

    def authorize_keys_upload(
        self, job_id: int, digest: str, size: int | None, signature: str | None
    ) -> OnchainJob:
        """Before a byte of an upload is read: it must be for an open FHE job of the signer on this
        node, and fit the signer's quota. Why: ``PUT /fhe/keys`` took 256 MiB from anyone, stored it
        forever and served it publicly (free storage and bandwidth, and a disk to fill)."""
        if size is None:
            raise MalformedBody("content-length: required for an evaluation-key upload")
        if size > self.cfg.max_eval_key_bytes:
            raise TooLarge(f"evaluation keys larger than {self.cfg.max_eval_key_bytes} bytes")
        if size == 0:
            raise BadInput("evaluation keys: empty body")
        job = self._admit(job_id, JobMode.FHE, fhe_keys_signed_payload(digest), signature)
        lm = self.models[job.model_id]
        expected = lm.require_fhe().info.evaluation_key_bytes
        if size != expected:
            raise BadInput(f"evaluation keys: {size} bytes, this circuit needs {expected}")
        used = self.db.key_bytes_of(job.client)
        if not self.db.client_holds(job.client, digest) and used + size > self.cfg.eval_key_quota_bytes:
            raise QuotaExceeded(
                f"client {job.client} holds {used} bytes of evaluation keys on this node; "
                f"{size} more would exceed its quota of {self.cfg.eval_key_quota_bytes} "
                "(keys are freed when their jobs are over)"
            )
        return job

    def put_eval_keys(self, data: bytes, digest: str, job: OnchainJob) -> str:
        """Store an authorized upload (see :meth:`authorize_keys_upload`) if it hashes to ``digest``."""
        if sha256_hex(data) != digest:
            raise BadInput(f"evaluation keys: the body does not hash to {EVAL_KEYS_HEADER}")
        if not self.store.has(digest):
            self.store.put_bytes(data)
        self.db.add_keys(digest, job.client, job.job_id, len(data), job.deadline)
        return digest

    def sweep_eval_keys(self) -> list[str]:
        """Forget key uploads whose job is past its deadline by the grace period and not waiting in a
        challenge window, and delete blobs no upload names any more. Model artifacts are never
        deleted, whatever was uploaded. Returns the deleted digests."""
        from veilproof.errors import ChainError

        now = self.chain_now()
        over = []
        for row in self.db.key_uploads():
            if row.chain != self.db.chain:
                over.append(row)
                continue
            if row.deadline + self.cfg.eval_key_grace_s >= now:
                continue  # kept whatever the job's status (below): no need to read it (a job's deadline is fixed)
            try:
                job = self.suite.market.read_job(row.job_id)
            except ChainError:
                continue
            # Kept while the job may still need them (open, or submitted within its challenge window),
            # and until its deadline plus a grace period: a client reusing its keys for its next job
            # checks (HEAD) that they are here before it submits, and must not lose them in between.
            if job.status != JobStatus.SUBMITTED and job.deadline + self.cfg.eval_key_grace_s < now:
                over.append(row)
        deleted = []
        for digest in self.db.drop_keys(over):
            if digest not in self.model_digests():
                self.store.path(digest).unlink(missing_ok=True)
                deleted.append(digest)
        return deleted

    def model_digests(self) -> set[str]:
        """Every artifact of the served models (manifests, ZK roles, FHE zips): never swept."""
        out: set[str] = set()
        for lm in self.models.values():
            for d in (lm.served.zk_package, lm.served.fhe_server, lm.served.fhe_client):
                if d:
                    out.add(d)
            if lm.zk is not None:
                out.update(lm.zk.artifacts.values())
        return out

    def submit_fhe(self, job_id: int, ciphertext: bytes, eval_keys_hash: str, signature: str | None) -> None:
        with self.timers.recording(JobTimer()):
            self._submit_fhe(job_id, ciphertext, eval_keys_hash, signature)

    def _submit_fhe(self, job_id: int, ciphertext: bytes, eval_keys_hash: str, signature: str | None) -> None:
        if not ciphertext:
            raise BadInput("ciphertext: empty body")
        ct_hash = sha256_hex(ciphertext)
        try:
            payload = fhe_signed_payload(ct_hash, eval_keys_hash)
        except ValueError as e:
            raise BadInput(f"{EVAL_KEYS_HEADER}: expected the 64-hex sha256 of uploaded keys") from e
        job = self._admit(job_id, JobMode.FHE, payload, signature)
        lm = self.models[job.model_id]
        fhe = lm.require_fhe()
        if int(ct_hash, 16) != job.input_commitment:
            raise BadInput("ciphertext does not match the job's input commitment")
        if eval_keys_hash.lower() != job.eval_keys_hash:
            # the market accepts only a result under the keys the client committed at open_job
            raise BadInput(
                f"{EVAL_KEYS_HEADER}: {eval_keys_hash} is not the evaluation-key hash the job committed "
                f"on chain ({job.eval_keys_hash}); send the keys the job was opened with"
            )
        if not self.store.has(eval_keys_hash):
            raise KeysMissing(f"evaluation keys {eval_keys_hash} not uploaded: PUT {FHE_KEYS} first")
        info = fhe.info
        if len(ciphertext) != info.input_ciphertext_bytes:
            raise BadInput(
                f"ciphertext: {len(ciphertext)} bytes, this circuit takes {info.input_ciphertext_bytes} "
                "(truncated, or encrypted for another circuit)",
            )
        ek_size = self.store.path(eval_keys_hash).stat().st_size
        if ek_size != info.evaluation_key_bytes:
            raise BadInput(
                f"evaluation keys: {ek_size} bytes, this circuit needs {info.evaluation_key_bytes} "
                "(generated for another circuit)",
            )
        # The keys are held for as long as this job needs them (counted in this client's quota):
        # recorded with the job, in its commit.
        self._record_and_enqueue(job, ciphertext, eval_keys_hash, key_bytes=ek_size)

    # --- work ----------------------------------------------------------------------------------
