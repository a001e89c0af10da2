"""The compute node's logic, independent of HTTP: check a request against the chain, run it, settle.

Order of checks for every job, before any work: the job exists on chain, is assigned to this node,
is open (so it is funded: the price sits in escrow), has time left, the request is signed by the
job's client, the input matches the job's input commitment, and the job was not served before.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import coincurve
import numpy as np
from eth_account.signers.local import LocalAccount

from veilproof.artifacts import ArtifactStore, sha256_hex
from veilproof.artifacts.remote import fetch_artifact
from veilproof.chain import Network
from veilproof.chain.erc1271 import Erc1271, has_code
from veilproof.chain.job_market import JobMode, JobStatus, OnchainJob
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.suite import Suite
from veilproof.errors import ArtifactError, ConfigError, ContractReverted, InputError, VeilproofError
from veilproof.node import store as st
from veilproof.node.config import NodeConfig, ServedModel
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
    UnknownArtifact,
    UnknownJob,
)
from veilproof.node.pool import WorkerPool
from veilproof.node.provenance import check_lineage, require_equal
from veilproof.protocol import ClaimSigner, RequestSig, decrypt_for_node, recover_request_signer
from veilproof.protocol.api import (
    EVAL_KEYS_HEADER,
    FHE_KEYS,
    SIGNATURE_HEADER,
    FheOutput,
    JobReport,
    JobState,
    NodeInfo,
    ServedModelInfo,
    ZkClaim,
)
from veilproof.protocol.fhe_payload import fhe_signed_payload
from veilproof.protocol.signing import eip191_hash

log = logging.getLogger("veilproof.node")

ZK_SUBMIT_GAS = 2_500_000


@dataclass
class LoadedModel:
    served: ServedModel
    onchain: OnchainModel
    zk: Any = None  # veilproof.models.package.ModelPackage
    fhe: Any = None  # veilproof.fhe.server.FheServer


class NodeService:
    def __init__(self, cfg: NodeConfig, net: Network, suite: Suite, account: LocalAccount) -> None:
        self.cfg = cfg
        self.net = net
        self.suite = suite
        self.account = account
        self.address = account.address
        self.pubkey = coincurve.PrivateKey(bytes(account.key)).public_key.format(compressed=True)
        self.store = ArtifactStore(cfg.home / "artifacts")
        self.db = st.NodeStore(cfg.home / "node.sqlite")
        self.pool = WorkerPool(cfg.workers, cfg.queue_limit)
        self.claims = ClaimSigner(account, net.chain_id, suite.market.address)
        self.models: dict[int, LoadedModel] = {}
        self.started = time.time()

    # --- start-up ------------------------------------------------------------------------------
    def load_models(self) -> None:
        """Fetch and check every served model; refuse (raise) on any mismatch with the chain."""
        for sm in self.cfg.models:
            onchain = self.suite.models.read_model(sm.model_id)
            if not onchain.active:
                raise ArtifactError(f"model {sm.model_id} is retired on chain")
            check_lineage(self.suite, sm.model_id)
            lm = LoadedModel(sm, onchain)
            if sm.zk_package:
                lm.zk = self._load_zk(sm, onchain)
            if sm.fhe_server:
                lm.fhe = self._load_fhe(sm, onchain)
            self.models[sm.model_id] = lm

    def _fetch(self, digest: str) -> Path:
        return fetch_artifact(self.store, digest, self.cfg.artifact_sources)

    def _load_package(self, digest: str) -> Any:
        """Fetch a ZK package (manifest and every artifact it names) and load it, unchecked."""
        from veilproof.models.package import ModelPackage

        self._fetch(digest)
        manifest = json.loads(self.store.get_bytes(digest))
        for role in manifest["artifacts"].values():
            self._fetch(role)
        return ModelPackage.load(self.store, digest)

    def _load_zk(self, sm: ServedModel, onchain: OnchainModel) -> Any:
        assert sm.zk_package is not None
        pkg = self._load_package(sm.zk_package)
        c = pkg.commitments()
        require_equal(f"model {sm.model_id} onnx", onchain.onnx_hash, c["onnx_hash"])
        require_equal(f"model {sm.model_id} zk settings", onchain.zk_settings_hash, c["zk_settings_hash"])
        require_equal(f"model {sm.model_id} zk vka", onchain.zk_vk_hash, c["zk_vka_digest"])
        require_equal(f"model {sm.model_id} zk srs", onchain.zk_srs_hash, c["zk_srs_hash"])
        return pkg

    def _load_fhe(self, sm: ServedModel, onchain: OnchainModel) -> Any:
        from veilproof.fhe.server import FheServer

        assert sm.fhe_server is not None
        require_equal(f"model {sm.model_id} fhe server.zip", onchain.fhe_server_hash, sm.fhe_server)
        if sm.fhe_client:
            require_equal(f"model {sm.model_id} fhe client.zip", onchain.fhe_client_hash, sm.fhe_client)
            self._fetch(sm.fhe_client)
        path = self._fetch(sm.fhe_server)
        return FheServer(path, expected_hash=onchain.fhe_server_hash)

    def ensure_registered_and_staked(self, endpoint: str) -> None:
        """Register (or update the endpoint / models) and top the stake up to the configured amount."""
        nodes, token = self.suite.nodes, self.suite.token
        n = nodes.read_node(self.address)
        ids = [sm.model_id for sm in self.cfg.models]
        if not n.registered:
            nodes.register(endpoint, self.pubkey, ids, sender=self.account)
        else:
            if n.endpoint != endpoint:
                nodes.set_endpoint(endpoint, sender=self.account)
            nodes.set_models(ids, sender=self.account)
        # Top up towards the configured stake with what the account holds (after a slash it may
        # hold less); refuse to serve only if the stake ends below the network's minimum.
        balance = token.balance_of(self.address)
        missing = min(self.cfg.stake - n.stake, balance)
        if missing > 0:
            token.approve(nodes.address, missing, sender=self.account)
            nodes.stake(missing, sender=self.account)
        if not nodes.is_active(self.address):
            minimum = nodes.min_stake()
            raise ConfigError(
                f"node {self.address} is not active: stake {nodes.read_node(self.address).stake} "
                f"is below the minimum {minimum}; fund the account with VEIL"
            )

    def recover_unfinished(self) -> tuple[int, int]:
        """After a restart: requeue jobs that still have time, abandon the others (client can refund)."""
        requeued = abandoned = 0
        now = self.net.now()
        for row in self.db.unfinished():
            job = self.suite.market.read_job(row.job_id)
            if job.status == JobStatus.OPEN and job.deadline > now + self.cfg.deadline_margin:
                self.db.update(row.job_id, state=JobState.ACCEPTED)
                self._enqueue(row.job_id, row.mode)
                requeued += 1
            else:
                self.db.update(
                    row.job_id, state=JobState.ABANDONED, error="deadline passed while the node was down"
                )
                abandoned += 1
        return requeued, abandoned

    # --- admission -----------------------------------------------------------------------------
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

    def _enqueue(self, job_id: int, mode: int) -> None:
        from veilproof.node.pool import QueueFull

        fn = (lambda: self._run_zk(job_id)) if mode == JobMode.ZK else (lambda: self._run_fhe(job_id))
        try:
            self.pool.submit(fn)
        except QueueFull as e:
            raise Busy(f"node busy: {e}") from e

    def submit_zk(self, job_id: int, encrypted_input: bytes, raw_body: bytes, signature: str | None) -> None:
        job = self._admit(job_id, JobMode.ZK, raw_body, signature)
        lm = self.models[job.model_id]
        if lm.zk is None:
            raise NotServed(f"this node does not serve model {job.model_id} in ZK mode")
        x = self._decode_input(encrypted_input, lm)
        from veilproof.zk.instances import input_commitment

        if input_commitment(lm.zk.settings, x) != job.input_commitment:
            raise BadInput("input does not match the job's input commitment")
        self._record_and_enqueue(job, encrypted_input)

    def _decode_input(self, encrypted_input: bytes, lm: LoadedModel) -> np.ndarray:
        try:
            plain = decrypt_for_node(bytes(self.account.key), encrypted_input)
            x = np.asarray(json.loads(plain), dtype=np.float64)
        except (InputError, ValueError, TypeError) as e:
            raise BadInput(f"encrypted_input: cannot decrypt or parse ({type(e).__name__})") from e
        shape = tuple(lm.zk.input_shape)
        if x.size != int(np.prod(shape)) or not np.all(np.isfinite(x)):
            raise BadInput(f"input: expected {int(np.prod(shape))} finite numbers (shape {shape})")
        return x.reshape(shape)

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
        if lm.fhe is None:
            raise NotServed(f"this node does not serve model {job.model_id} in FHE mode")
        if int(ct_hash, 16) != job.input_commitment:
            raise BadInput("ciphertext does not match the job's input commitment")
        if not self.store.has(eval_keys_hash):
            raise KeysMissing(f"evaluation keys {eval_keys_hash} not uploaded: PUT {FHE_KEYS} first")
        info = lm.fhe.info
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

    def _prove(self, lm: LoadedModel, x: np.ndarray) -> Any:
        from veilproof.models.package import prove

        return prove(lm.zk, x)

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
                output = lm.fhe.run(row.payload, keys)
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

    def artifact_path(self, digest: str) -> Path:
        """A blob of this node's store, re-hashed before it is served (a corrupt blob is not served)."""
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
            chain_id=self.net.chain_id,
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
