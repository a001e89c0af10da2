"""``Client``: buy verified (ZK) or private (FHE) inference, paying through JobMarket escrow.

The client trusts nothing a node says that it can check: ZK outputs are read from the proof's
instances and the job must be settled on chain (the verifier contract accepted the proof); FHE
outputs must hash to what the node posted on chain before the client accepts and pays. A node that
hands over a wrong signed claim is challenged on chain (slashed, client refunded), and the client
moves on to the next node.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from eth_account.signers.local import LocalAccount

from veilproof.artifacts import ArtifactStore
from veilproof.artifacts.remote import fetch_artifact
from veilproof.chain.job_market import JobMarket, JobMode, JobStatus, OnchainJob
from veilproof.chain.model_registry import OnchainModel
from veilproof.chain.suite import Suite
from veilproof.client.errors import InferenceFailed, NodeMisbehaved, NoNodeAvailable
from veilproof.client.payer import DirectPayer, Payer
from veilproof.client.selection import NodeOffer, rank_offers
from veilproof.errors import ContractReverted, InputError
from veilproof.protocol import RequestSig, encrypt_for_node, sign_request
from veilproof.protocol.fhe_payload import fhe_signed_payload

log = logging.getLogger("veilproof.client")

Progress = Callable[[str], None]


@dataclass
class InferenceResult:
    job_id: int
    model_id: int
    node: str
    mode: str
    output: list[float]
    status: str
    tx_hashes: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    proof_bytes: int = 0


class Client:
    """A buyer of inference. ``account`` signs locally; its key never leaves this process."""

    def __init__(
        self,
        suite: Suite,
        account: LocalAccount,
        home: Path,
        *,
        http_timeout: float = 60.0,
        poll_interval: float = 0.5,
        job_timeout: float = 600.0,
        deadline_s: int = 900,
        reputation: Callable[[str], float] | None = None,
        payer: Payer | None = None,
    ) -> None:
        """``account`` signs requests to nodes; ``payer`` is the job's client on chain (default: the
        account itself; an agent passes its wallet, see :class:`veilproof.agents.AgentPayer`)."""
        self.suite = suite
        self.net = suite.net
        self.account = account
        self.home = Path(home)
        self.store = ArtifactStore(self.home / "artifacts")
        self.http = httpx.Client(timeout=http_timeout)
        self.poll_interval = poll_interval
        self.job_timeout = job_timeout
        self.deadline_s = deadline_s
        self.reputation = reputation
        self.payer: Payer = payer or DirectPayer(suite, account)

    # --- discovery -----------------------------------------------------------------------------
    def models(self) -> list[OnchainModel]:
        return self.suite.models.read_models()

    def nodes(self, model_id: int) -> list[NodeOffer]:
        """Active nodes serving ``model_id``, best first (stake, reputation)."""
        nodes = self.suite.nodes
        m = self.suite.models.read_model(model_id)
        offers = []
        for n in nodes.list_nodes():
            if not n.registered or not nodes.is_active(n.address):
                continue
            if not nodes.serves(n.address, model_id):
                continue
            rep = self.reputation(n.address) if self.reputation else 0.0
            offers.append(NodeOffer(n.address, n.endpoint, n.pubkey, n.stake, m.price, rep))
        return rank_offers(offers)

    # --- inference -----------------------------------------------------------------------------
    def infer(
        self,
        model_id: int,
        x: Any,
        *,
        private: bool = False,
        verified: bool = True,
        node: str | None = None,
        max_attempts: int = 3,
        progress: Progress | None = None,
    ) -> InferenceResult:
        """Run one paid inference; tries up to ``max_attempts`` nodes.

        ``private=True`` runs under FHE (the node never sees ``x`` or the answer); otherwise the job is
        a ZK job whose proof the chain checks before the node is paid. (``verified`` is accepted for
        API symmetry: ZK jobs are always verified; FHE jobs are checked by output hashes and audits.)
        """
        say = progress or (lambda _m: None)
        arr = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise InputError("x", "finite numbers", "NaN/inf")
        m = self.suite.models.read_model(model_id)
        if not m.active:
            raise InputError("model_id", "an active model", model_id)
        if private and not m.has_fhe:
            raise InputError("model_id", "a model with an FHE commitment for private=True", model_id)
        if not private and not m.has_zk:
            raise InputError("model_id", "a model with a ZK commitment for verified inference", model_id)
        offers = self.nodes(model_id)
        if node:
            offers = [o for o in offers if o.address.lower() == node.lower()]
        if not offers:
            raise NoNodeAvailable(f"no active node serves model {model_id}")
        attempts: list[dict[str, Any]] = []
        for offer in offers[:max_attempts]:
            try:
                run = self._infer_fhe if private else self._infer_zk
                res = run(m, offer, arr, say)
                res.attempts = attempts
                return res
            except (NodeMisbehaved, InferenceFailed, httpx.HTTPError) as e:
                log.info("node %s failed: %s", offer.address, e)
                attempts.append({"node": offer.address, "error": str(e), **getattr(e, "details", {})})
                say(f"node {offer.address[:10]}… failed ({e}); trying another")
        raise InferenceFailed(f"all {len(attempts)} node(s) failed for model {model_id}", attempts)

    def _open_job(self, m: OnchainModel, offer: NodeOffer, commitment: int, mode: JobMode) -> tuple[int, str]:
        deadline = self.net.now() + self.deadline_s
        return self.payer.open_job(
            m.model_id, offer.address, commitment.to_bytes(32, "big"), mode, deadline, m.price
        )

    def _signed_headers(self, offer: NodeOffer, job_id: int, signed: bytes) -> dict[str, str]:
        ctx = RequestSig(self.net.chain_id, self.suite.market.address, offer.address, job_id)
        return {"X-Veil-Signature": sign_request(self.account, ctx, signed)}

    def _post(self, url: str, **kw: Any) -> dict[str, Any]:
        r = self.http.post(url, **kw)
        if r.status_code >= 400:
            raise NodeMisbehaved(f"{url}: HTTP {r.status_code}: {_error_text(r)}")
        return dict(r.json())

    def _poll(self, offer: NodeOffer, job_id: int, say: Progress) -> dict[str, Any]:
        """Wait for the node to finish (submitted or failed), or give up at the job timeout."""
        t_end = time.monotonic() + self.job_timeout
        last = ""
        while time.monotonic() < t_end:
            r = self.http.get(f"{offer.endpoint}/jobs/{job_id}")
            if r.status_code == 200:
                st = r.json()
                if st["state"] != last:
                    say(f"job {job_id}: node says {st['state']}")
                    last = st["state"]
                if st["state"] in ("submitted", "failed", "abandoned"):
                    return dict(st)
            time.sleep(self.poll_interval)
        raise InferenceFailed(
            f"job {job_id}: node gave no result within {self.job_timeout}s (refund after deadline)"
        )

    # ZK --------------------------------------------------------------------------------------
    def _settings(self, m: OnchainModel, offer: NodeOffer) -> Any:
        from veilproof.zk.settings import CircuitSettings

        path = fetch_artifact(self.store, m.zk_settings_hash, [offer.endpoint])
        return CircuitSettings.load(path)

    def _infer_zk(self, m: OnchainModel, offer: NodeOffer, x: np.ndarray, say: Progress) -> InferenceResult:
        from veilproof.zk.instances import input_commitment, outputs_from_instances

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        settings = self._settings(m, offer)
        commitment = input_commitment(settings, x)
        timings["commit"] = time.perf_counter() - t0
        job_id, open_tx = self._open_job(m, offer, commitment, JobMode.ZK)
        say(f"job {job_id} opened with node {offer.address[:10]}…, {m.price / 1e18:g} VEIL in escrow")
        envelope = encrypt_for_node(offer.pubkey, json.dumps(x.ravel().tolist()).encode())
        body = json.dumps({"encrypted_input": "0x" + envelope.hex()}).encode()
        t1 = time.perf_counter()
        self._post(
            f"{offer.endpoint}/zk/jobs/{job_id}",
            content=body,
            headers={"Content-Type": "application/json", **self._signed_headers(offer, job_id, body)},
        )
        say(f"job {job_id}: node is proving")
        st = self._poll(offer, job_id, say)
        timings["node"] = time.perf_counter() - t1
        job = self.suite.market.read_job(job_id)
        claim = st.get("zk")
        if job.status == JobStatus.SETTLED and claim:
            instances = [int(h, 16) for h in claim["instances"]]
            proof = bytes.fromhex(claim["proof"].removeprefix("0x"))
            if JobMarket.output_hash(instances) != job.output_hash:
                raise NodeMisbehaved(f"job {job_id}: instances differ from the settled output hash")
            if JobMarket.proof_hash(proof) != job.proof_hash:
                raise NodeMisbehaved(f"job {job_id}: proof differs from the settled proof hash")
            outputs = outputs_from_instances(settings, instances)
            timings["total"] = time.perf_counter() - t0
            return InferenceResult(
                job_id, m.model_id, offer.address, "zk", outputs, "settled",
                {"open": open_tx, "submit": st.get("tx_hash") or ""}, timings, proof_bytes=len(proof),
            )  # fmt: skip
        if job.status == JobStatus.OPEN and claim:
            return self._challenge(job_id, claim, st)
        raise InferenceFailed(
            f"job {job_id}: node {st['state']}: {st.get('error')}; refund after the deadline"
        )

    def _challenge(self, job_id: int, claim: dict[str, Any], st: dict[str, Any]) -> InferenceResult:
        """The node signed a result the chain will not accept: take it to challenge_zk."""
        instances = [int(h, 16) for h in claim["instances"]]
        proof = bytes.fromhex(claim["proof"].removeprefix("0x"))
        sig = bytes.fromhex(claim["node_signature"].removeprefix("0x"))
        try:
            challenge_tx = self.payer.call(self.suite.market.challenge_zk_call(job_id, instances, proof, sig))
        except ContractReverted as e:
            raise InferenceFailed(f"job {job_id}: challenge failed: {e.reason}") from e
        self.withdraw()
        err = NodeMisbehaved(
            f"job {job_id}: node's proof rejected on chain ({st.get('error')}); node slashed, refunded"
        )
        err.details = {"job_id": job_id, "challenge_tx": challenge_tx, "outcome": "slashed"}
        raise err

    # FHE -------------------------------------------------------------------------------------
    def _fhe_client(self, m: OnchainModel, offer: NodeOffer) -> Any:
        from veilproof.fhe.client import FheClient

        client_zip = fetch_artifact(self.store, m.fhe_client_hash, [offer.endpoint])
        key_dir = self.home / "fhe-keys" / f"{self.account.address.lower()}-{m.fhe_client_hash[:16]}"
        return FheClient(client_zip, key_dir, expected_client_hash=m.fhe_client_hash)

    def _infer_fhe(self, m: OnchainModel, offer: NodeOffer, x: np.ndarray, say: Progress) -> InferenceResult:
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        fc = self._fhe_client(m, offer)
        say("FHE keys ready (secret key stays on this machine)")
        keys = fc.evaluation_keys()
        ek_hash = hashlib.sha256(keys).hexdigest()
        timings["keys"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        if self.http.head(f"{offer.endpoint}/fhe/keys/{ek_hash}").status_code != 200:
            say(f"uploading evaluation keys ({len(keys) / 1e6:.1f} MB)")
            r = self.http.put(
                f"{offer.endpoint}/fhe/keys",
                content=keys,
                headers={"Content-Type": "application/octet-stream"},
            )
            if r.status_code >= 400:
                raise NodeMisbehaved(f"evaluation key upload: HTTP {r.status_code}: {_error_text(r)}")
        timings["upload_keys"] = time.perf_counter() - t1
        t2 = time.perf_counter()
        ct = fc.encrypt(x.reshape(1, -1).astype(np.float32))
        timings["encrypt"] = time.perf_counter() - t2
        ct_hash = hashlib.sha256(ct).hexdigest()
        job_id, open_tx = self._open_job(m, offer, int(ct_hash, 16), JobMode.FHE)
        say(
            f"job {job_id} opened with node {offer.address[:10]}…; sending {len(ct) / 1e3:.1f} kB of ciphertext"
        )
        t3 = time.perf_counter()
        headers = {
            "Content-Type": "application/octet-stream",
            "X-Veil-Eval-Keys": ek_hash,
            **self._signed_headers(offer, job_id, fhe_signed_payload(ct_hash, ek_hash)),
        }
        self._post(f"{offer.endpoint}/fhe/jobs/{job_id}", content=ct, headers=headers)
        st = self._poll(offer, job_id, say)
        timings["node"] = time.perf_counter() - t3
        job = self.suite.market.read_job(job_id)
        if st["state"] != "submitted" or job.status != JobStatus.SUBMITTED:
            raise InferenceFailed(
                f"job {job_id}: node {st['state']}: {st.get('error')}; refund after the deadline"
            )
        out = self.http.get(f"{offer.endpoint}/fhe/jobs/{job_id}/output")
        if out.status_code != 200 or hashlib.sha256(out.content).hexdigest() != job.output_ct_hash:
            raise NodeMisbehaved(f"job {job_id}: output ciphertext does not match the hash posted on chain")
        t4 = time.perf_counter()
        y = np.asarray(fc.decrypt(out.content), dtype=np.float64).ravel().tolist()
        timings["decrypt"] = time.perf_counter() - t4
        accept_tx = self.payer.call(self.suite.market.accept_call(job_id))
        timings["total"] = time.perf_counter() - t0
        return InferenceResult(
            job_id, m.model_id, offer.address, "fhe", y, "settled",
            {"open": open_tx, "submit": st.get("tx_hash") or "", "accept": accept_tx}, timings,
        )  # fmt: skip

    # --- money ---------------------------------------------------------------------------------
    def refund(self, job_id: int) -> str:
        """Refund an expired job (the node missed its deadline; it is slashed) and withdraw."""
        job = self.suite.market.read_job(job_id)
        if job.status in (JobStatus.SETTLED, JobStatus.SLASHED) or job.status not in (JobStatus.OPEN,):
            raise InputError("job_id", "an open job past its deadline", f"{job_id} ({job.status_name})")
        tx = self.payer.call(self.suite.market.refund_call(job_id))
        self.withdraw()
        return tx

    def withdraw(self) -> int:
        amount = self.suite.market.pending(self.payer.address)
        if amount:
            self.payer.call(self.suite.market.withdraw_call())
        return amount

    def jobs(self) -> list[OnchainJob]:
        market = self.suite.market
        mine = []
        for i in range(1, market.job_count() + 1):
            j = market.read_job(i)
            if j.client.lower() == self.payer.address.lower():
                mine.append(j)
        return mine

    def close(self) -> None:
        self.http.close()


def _error_text(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error") or r.json().get("detail"))
    except ValueError:
        return r.text[:200]
