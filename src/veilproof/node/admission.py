"""Admission: every check of a job request before any work, in this order: the job exists on chain,
is assigned to this node, is open (so it is funded: the price sits in escrow), has time left, the request
is signed by the job's client, the input matches the job's input commitment, and the job was not served
before. Then the job is recorded, taken on chain (``start_job``) and queued."""

from __future__ import annotations

from veilproof.artifacts import sha256_hex
from veilproof.chain.erc1271 import Erc1271, has_code
from veilproof.chain.job_market import JobMode, JobStatus, OnchainJob
from veilproof.errors import ContractReverted, InputError, VeilproofError
from veilproof.node import store as st
from veilproof.node.core import NodeCore
from veilproof.node.errors import (
    BadInput,
    BadSignature,
    Busy,
    DeadlinePassed,
    JobNotOpen,
    KeysMissing,
    NodeRefusal,
    NotAssigned,
    NotServed,
    Replay,
    TooLarge,
    UnknownJob,
)
from veilproof.protocol import RequestSig, recover_request_signer
from veilproof.protocol.api import (
    EVAL_KEYS_HEADER,
    FHE_KEYS,
    SIGNATURE_HEADER,
    JobState,
)
from veilproof.protocol.fhe_payload import fhe_signed_payload
from veilproof.protocol.signing import eip191_hash


class Admission(NodeCore):
    """Turns a signed request into a recorded, started, queued job, or refuses it with a typed error."""

    def _admit(self, job_id: int, mode: int, body_for_sig: bytes, signature: str | None) -> OnchainJob:
        if not signature:
            raise BadSignature(f"missing {SIGNATURE_HEADER} header")
        if job_id <= 0 or job_id > self.suite.market.job_count():
            raise UnknownJob(f"job {job_id} does not exist on chain")
        job = self.suite.market.read_job(job_id)
        if job.node.lower() != self.address.lower():
            raise NotAssigned(f"job {job_id} is assigned to {job.node}, not this node")
        if job.mode != mode:
            raise BadInput(f"job {job_id} is mode {job.mode}, this endpoint serves mode {mode}")
        if job.status != JobStatus.OPEN:
            raise JobNotOpen(f"job {job_id} is not open (status {job.status_name})")
        if job.deadline <= self.net.now() + self.cfg.deadline_margin:
            raise DeadlinePassed(f"job {job_id} deadline has passed or is too close")
        if job.model_id not in self.models:
            raise NotServed(f"this node does not serve model {job.model_id}")
        ctx = RequestSig(self.net.chain_id, self.suite.market.address, self.address, job_id)
        try:
            signer = recover_request_signer(ctx, body_for_sig, signature)
        except InputError as e:
            raise BadSignature(str(e)) from e
        if signer.lower() != job.client.lower() and not self._wallet_approves(
            job.client, ctx.digest(body_for_sig), signature
        ):
            raise BadSignature("signature is not from the job's client")
        if self.db.get(job_id) is not None:
            raise Replay(f"job {job_id} was already submitted to this node (replay)")
        return job

    def _wallet_approves(self, client: str, digest: bytes, signature: str) -> bool:
        """ERC-1271: a contract client (an agent's wallet) vouches for its agent key's signature."""
        if not has_code(self.net, client):
            return False
        try:
            sig = bytes.fromhex(signature.removeprefix("0x"))
            return Erc1271(self.net, client).is_valid_signature(eip191_hash(digest), sig)
        except (ValueError, VeilproofError):
            return False

    def _record_and_enqueue(self, job: OnchainJob, payload: bytes, eval_keys_hash: str | None = None) -> None:
        """Record the job, take it on chain (``start_job``: from now on a missed deadline is
        slashable), then queue it. Any failure undoes the record, so a retry is possible."""
        from sqlalchemy.exc import IntegrityError as DbIntegrityError

        from veilproof.node.pool import QueueFull

        row = st.JobRow(
            job_id=job.job_id, mode=job.mode, model_id=job.model_id, client=job.client, deadline=job.deadline,
            state=JobState.ACCEPTED, payload=payload, eval_keys_hash=eval_keys_hash,
        )  # fmt: skip
        try:
            with self.db.session() as s:
                s.add(row)
        except DbIntegrityError as e:
            raise Replay(f"job {job.job_id} was already submitted to this node (replay)") from e
        try:
            if not self.pool.has_room():
                raise QueueFull("queue full")
            try:
                self.suite.market.start_job(job.job_id, sender=self.account)
            except ContractReverted as e:
                raise JobNotOpen(f"job {job.job_id} cannot be started: {e.reason}") from e
            self._enqueue(job.job_id, job.mode)
        except (NodeRefusal, QueueFull) as e:
            with self.db.session() as s:
                s.delete(s.get(st.JobRow, job.job_id))
            if isinstance(e, QueueFull):
                raise Busy(f"node busy: {e}") from e
            raise

    def submit_zk(self, job_id: int, encrypted_input: bytes, raw_body: bytes, signature: str | None) -> None:
        job = self._admit(job_id, JobMode.ZK, raw_body, signature)
        lm = self.models[job.model_id]
        zk = lm.require_zk()
        x = self._decode_input(encrypted_input, lm)
        from veilproof.zk.instances import input_commitment

        if input_commitment(zk.settings, x) != job.input_commitment:
            raise BadInput("input does not match the job's input commitment")
        self._record_and_enqueue(job, encrypted_input)

    def has_eval_keys(self, digest: str) -> bool:
        return self.store.has(digest)

    def put_eval_keys(self, data: bytes) -> str:
        if len(data) > self.cfg.max_eval_key_bytes:
            raise TooLarge(f"evaluation keys larger than {self.cfg.max_eval_key_bytes} bytes")
        if not data:
            raise BadInput("evaluation keys: empty body")
        digest = self.store.put_bytes(data)
        with self.db.session() as s:
            if s.get(st.EvalKeyRow, digest) is None:
                s.add(st.EvalKeyRow(digest=digest, size=len(data)))
        return digest

    def submit_fhe(self, job_id: int, ciphertext: bytes, eval_keys_hash: str, signature: str | None) -> None:
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
        self._record_and_enqueue(job, ciphertext, eval_keys_hash)

    # --- work ----------------------------------------------------------------------------------
