"""Start-up: load every served model and check it against the chain, register and stake, recover
unfinished jobs after a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from veilproof.artifacts.remote import fetch_artifact
from veilproof.chain.job_market import JobStatus
from veilproof.chain.model_registry import OnchainModel
from veilproof.errors import ArtifactError, ConfigError
from veilproof.node import store as st
from veilproof.node.config import ServedModel
from veilproof.node.core import LoadedModel, NodeCore
from veilproof.node.provenance import check_lineage, require_equal
from veilproof.protocol.api import (
    JobState,
)

if TYPE_CHECKING:
    from veilproof.fhe.server import FheServer
    from veilproof.models.package import ModelPackage


class Startup(NodeCore):
    """Loads models, registers and stakes, recovers; refuses to serve anything that does not match the chain."""

    def load_models(self) -> None:
        """Fetch and check every served model; refuse (raise) on any mismatch with the chain."""
        for sm in self.cfg.models:
            onchain = self.suite.models.read_model(sm.model_id)
            if not onchain.active:
                raise ArtifactError(f"model {sm.model_id} is retired on chain")
            check_lineage(self.suite, sm.model_id)
            self.lineage.require(sm.model_id, max_age_s=0)  # issue #15: no tainted data lineage
            lm = LoadedModel(sm, onchain)
            if sm.zk_package:
                lm.zk = self._load_zk(sm, onchain)
            if sm.fhe_server:
                lm.fhe = self._load_fhe(sm, onchain)
            self.models[sm.model_id] = lm

    def warm_provers(self) -> None:
        """Start the prover processes with every served ZK package loaded (without waiting for them)."""
        self.prover.warm([lm.zk for lm in self.models.values() if lm.zk is not None])

    def _fetch(self, digest: str) -> Path:
        return fetch_artifact(
            self.store, digest, self.cfg.artifact_sources, max_bytes=self.cfg.max_artifact_bytes
        )

    def _load_package(self, digest: str) -> ModelPackage:
        """Fetch a ZK package (manifest and every artifact it names), refuse executable payloads
        (:mod:`veilproof.artifacts.sandbox`), and load it; its commitments are checked by the caller."""
        from veilproof.artifacts.sandbox import check_blob, check_onnx
        from veilproof.models.package import ModelPackage

        self._fetch(digest)
        manifest = json.loads(self.store.get_bytes(digest))
        for role, blob in manifest["artifacts"].items():
            path = self._fetch(blob)
            (check_onnx if role == "onnx" else check_blob)(path, f"package {digest[:12]} {role}")
        return ModelPackage.load(self.store, digest)

    def _load_zk(self, sm: ServedModel, onchain: OnchainModel) -> ModelPackage:
        assert sm.zk_package is not None
        pkg = self._load_package(sm.zk_package)
        c = pkg.commitments()
        require_equal(f"model {sm.model_id} onnx", onchain.onnx_hash, c["onnx_hash"])
        require_equal(f"model {sm.model_id} zk settings", onchain.zk_settings_hash, c["zk_settings_hash"])
        require_equal(f"model {sm.model_id} zk vka", onchain.zk_vk_hash, c["zk_vka_digest"])
        require_equal(f"model {sm.model_id} zk srs", onchain.zk_srs_hash, c["zk_srs_hash"])
        if not self.zk_model_registered(sm.model_id):
            raise ConfigError(
                f"model {sm.model_id}: its VKA is not registered with the market's ZK verifier, so the chain "
                "would reject every proof of it (and the node would be slashable for jobs it took); "
                "the model's owner registers it (ZkVerifierAdapter.register_model) before nodes serve it"
            )
        return pkg

    def _load_fhe(self, sm: ServedModel, onchain: OnchainModel) -> FheServer:
        from veilproof.artifacts.sandbox import check_zip
        from veilproof.fhe.server import FheServer

        assert sm.fhe_server is not None
        require_equal(f"model {sm.model_id} fhe server.zip", onchain.fhe_server_hash, sm.fhe_server)
        if sm.fhe_client:
            require_equal(f"model {sm.model_id} fhe client.zip", onchain.fhe_client_hash, sm.fhe_client)
            check_zip(self._fetch(sm.fhe_client), f"model {sm.model_id} client.zip")  # served to clients
        path = self._fetch(sm.fhe_server)
        return FheServer(path, expected_hash=onchain.fhe_server_hash)

    def ensure_registered_and_staked(self, endpoint: str) -> None:
        """Register (or update the endpoint / models), set the configured offers, and top the stake up
        to the configured amount."""
        nodes, token = self.suite.nodes, self.suite.token
        n = nodes.read_node(self.address)
        ids = [sm.model_id for sm in self.cfg.models]
        if not n.registered:
            nodes.register(endpoint, self.pubkey, ids, sender=self.account)
        else:
            if n.endpoint != endpoint:
                nodes.set_endpoint(endpoint, sender=self.account)
            nodes.set_models(ids, sender=self.account)
        for mid, price in self.cfg.offers.items():
            if mid not in ids:
                raise ConfigError(f"offer for model {mid}: the node does not serve it (served: {ids})")
            if nodes.offer(self.address, mid) != price:  # a restart with the same prices sends nothing
                nodes.set_offer(mid, price, sender=self.account)
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
        """After a restart, reconcile every job the node still owed with the chain: requeue those that
        are open with time left; mark ``submitted`` those the chain shows this node's result for (the
        node may have died after its submit was mined, before it wrote that down: such a job is paid,
        not abandoned); abandon the rest (the client refunds). Jobs recorded under another chain
        history (the chain was reset) are abandoned: their ids mean other jobs now."""
        requeued = abandoned = 0
        for row in self.db.owed_elsewhere():
            with self.db.session() as s:
                old = s.get(st.JobRow, (row.chain, row.job_id))
                if old is not None:
                    old.state, old.error = JobState.ABANDONED.value, "the chain was reset since"
            abandoned += 1
        now = self.net.now()
        for row in self.db.unfinished():
            job = self.suite.market.read_job(row.job_id)
            mine = job.node.lower() == self.address.lower()
            if job.status == JobStatus.OPEN and job.deadline > now + self.cfg.deadline_margin:
                self.db.update(row.job_id, state=JobState.ACCEPTED)
                self._enqueue(row.job_id, row.mode)
                requeued += 1
            elif mine and job.status in (JobStatus.SUBMITTED, JobStatus.SETTLED):
                self.db.update(row.job_id, state=JobState.SUBMITTED, error=None, finished=time.time())
            else:
                why = (
                    "deadline passed while the node was down"
                    if job.status == JobStatus.OPEN
                    else f"job {job.status_name} on chain while the node was down"
                )
                self.db.update(row.job_id, state=JobState.ABANDONED, error=why)
                abandoned += 1
        return requeued, abandoned
