"""Voluntary disclosure of FHE jobs for re-execution, and the validator side that checks them.

Why: a client that wants its node kept honest (or is paid to help) hands validators the *public*
half of a job — the input ciphertext and the evaluation keys, never the secret key — so a validator
can recompute the output and compare it with the hash the node posted on chain
(:func:`veilproof.fhe.reexecute`). The format is a folder (it can be synced, or served by any
static endpoint)::

    <root>/<job_id>/input.ct        bytes sent to the node (hash = the job's input commitment)
    <root>/<job_id>/eval_keys.bin   evaluation keys (hash = the job's eval_keys_hash)

A disclosure is only believed when both hashes equal what is on chain, so a client cannot frame a
node with different bytes. Only byte-deterministic circuits (no programmable bootstrapping: see
:func:`veilproof.fhe.bundle.circuit_is_deterministic`) are re-executed; disclosures of other circuits are
ignored, since an honest node's output hash differs from any re-execution's there.
A refuted job that is still inside its challenge window is attested in
FheQuorum (quorum of validator stake → JobMarket.dispute_fhe slashes the node); a refuted job that
the client already accepted can no longer be disputed, and only costs the node its score.

A validator whose own attestations the quorum keeps refuting (``FheQuorum.refuted_count``: at least
``max_refuted`` of them, and at least half of all it made) stops trusting its re-executions: its
mismatches are neither attested nor held against the node, until its record recovers. Why: under the
trust assumption (2/3 of stake re-executes honestly) a refuted mismatch means this validator's
re-execution is what is wrong (a broken install, a circuit that is not deterministic here), and each
further attestation would cost it ``false_attest_bps`` of its stake and wrongly zero an honest node.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from veilproof.chain.fhe_quorum import FheQuorum
from veilproof.chain.job_market import JobMode, JobStatus
from veilproof.chain.suite import Suite
from veilproof.errors import ContractReverted
from veilproof.validator.references import ReferenceBook
from veilproof.validator.scoring import AuditRecord

log = logging.getLogger("veilproof.validator")


class DisclosureBox:
    """The folder clients drop disclosed jobs into."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def disclose(self, job_id: int, input_ct: bytes, eval_keys: bytes) -> Path:
        d = self.root / str(int(job_id))
        d.mkdir(parents=True, exist_ok=True)
        for name, data in (("input.ct", input_ct), ("eval_keys.bin", eval_keys)):
            tmp = d / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.replace(d / name)
        return d

    def job_ids(self) -> Iterator[int]:
        if not self.root.is_dir():
            return
        for d in sorted(self.root.iterdir()):
            if d.name.isdigit() and (d / "input.ct").is_file() and (d / "eval_keys.bin").is_file():
                yield int(d.name)

    def load(self, job_id: int) -> tuple[bytes, bytes]:
        d = self.root / str(int(job_id))
        return (d / "input.ct").read_bytes(), (d / "eval_keys.bin").read_bytes()


@dataclass(frozen=True)
class Reexecution:
    job_id: int
    node: str
    match: bool
    recomputed_hash: str
    attested: bool
    note: str = ""
    trusted: bool = True  # False: this validator distrusts its own re-execution (see module doc)

    def record(self, model_id: int, latency_s: float) -> AuditRecord:
        return AuditRecord(self.node, model_id, "reexec", True, self.match, latency_s, self.job_id, self.note)


class Reexecutor:
    """Re-executes a random sample of disclosed jobs; attests refuted ones in FheQuorum."""

    def __init__(
        self,
        suite: Suite,
        account: LocalAccount,
        quorum: FheQuorum | None,
        references: ReferenceBook,
        sample_rate: float = 1.0,
        rng: random.Random | None = None,
        max_refuted: int = 3,
    ) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be in [0, 1]")
        if max_refuted < 1:
            raise ValueError("max_refuted must be at least 1")
        self.max_refuted = max_refuted
        self.suite = suite
        self.account = account
        self.quorum = quorum
        self.references = references
        self.sample_rate = sample_rate
        self.rng = rng or random.Random()
        self.seen: set[int] = set()
        self.attested: set[int] = set()  # jobs this validator attested: its share of a dispute to collect

    def check(self, box: DisclosureBox) -> list[tuple[Reexecution, AuditRecord | None]]:
        """Each disclosed job is considered once: sampled with ``sample_rate``, then re-executed.
        The record is None for a mismatch this validator does not trust (it does not score the node)."""
        out = []
        for job_id in box.job_ids():
            if job_id in self.seen:
                continue
            self.seen.add(job_id)
            if self.rng.random() >= self.sample_rate:
                continue
            t0 = time.perf_counter()
            r = self.check_one(box, job_id)
            if r is not None:
                job = self.suite.market.read_job(job_id)
                rec = r.record(job.model_id, time.perf_counter() - t0) if r.trusted else None
                out.append((r, rec))
        return out

    def check_one(self, box: DisclosureBox, job_id: int) -> Reexecution | None:
        from veilproof.fhe import reexecute

        job = self.suite.market.read_job(job_id)
        if job.mode != JobMode.FHE or job.status not in (JobStatus.SUBMITTED, JobStatus.SETTLED):
            return None
        ct, keys = box.load(job_id)
        if int(hashlib.sha256(ct).hexdigest(), 16) != job.input_commitment:
            log.info("disclosure %s: input ciphertext does not match the job's commitment; ignored", job_id)
            return None
        if hashlib.sha256(keys).hexdigest() != job.eval_keys_hash:
            log.info("disclosure %s: evaluation keys do not match the posted hash; ignored", job_id)
            return None
        model = self.suite.models.read_model(job.model_id)
        server = self.references.fhe_server(model)
        if not server.deterministic:
            # A PBS circuit (xgb, nn): honest outputs differ between processes in their noise bits, so
            # a hash mismatch proves nothing. Never attest it, never score it (issue #12 item 5):
            # such nodes are judged by the decrypted answers of the validator's own audits.
            log.info(
                "disclosure %s: model %s is not byte-deterministic; not re-executed", job_id, model.model_id
            )
            return None
        res = reexecute(server, keys, ct, job.output_ct_hash, expected_server_hash=model.fhe_server_hash)
        return self.judge(job_id, job.node, job.status, res.match, res.output_hash)

    def judge(self, job_id: int, node: str, status: int, match: bool, recomputed: str) -> Reexecution:
        """What a re-execution of ``job_id`` means: a match clears the node; a mismatch is attested
        (while the job can be disputed) unless this validator no longer trusts its own re-executions."""
        if match:
            return Reexecution(job_id, node, True, recomputed, False)
        if not self.trusts_own_reexecution():
            note = "mismatch not trusted: the quorum refuted most of this validator's attestations"
            log.warning("job %s: %s", job_id, note)
            return Reexecution(job_id, node, False, recomputed, False, note, trusted=False)
        attested, note = self._attest(job_id, status, recomputed)
        return Reexecution(job_id, node, False, recomputed, attested, note)

    def trusts_own_reexecution(self) -> bool:
        """False once the quorum refuted at least ``max_refuted`` of this validator's attestations and
        at least half of all it made (``FheQuorum.refuted_count``; see the module docstring)."""
        if self.quorum is None:
            return True
        me = self.account.address
        refuted = self.quorum.refuted_count(me)
        if refuted < self.max_refuted:
            return True
        return 2 * refuted < len(self.quorum.attestations(validator=me))

    def recover_attested(self) -> set[int]:
        """After a restart: the jobs this validator attested whose dispute share may still be
        collected (read from FheQuorum's events), so :meth:`collect_rewards` does not lose them."""
        if self.quorum is None:
            return set()
        me = self.account.address
        for a in self.quorum.attestations(validator=me):
            if not self.quorum.settled(a.job_id, me):
                self.attested.add(a.job_id)
        return set(self.attested)

    def collect_rewards(self) -> int:
        """Credit this validator its share of every dispute it won, then claim it; returns the amount.

        Shares are pulled (FheQuorum.collect), so a dispute has no bound on its number of attesters.
        A job still inside its window stays listed; one that was not disputed (or not on our hash) is
        dropped: there is nothing to collect."""
        if self.quorum is None:
            return 0
        for job_id in sorted(self.attested):
            if not self.quorum.disputed(job_id):
                if self.suite.market.read_job(job_id).status != JobStatus.SUBMITTED:
                    self.attested.discard(job_id)  # settled without a dispute: refuted, nothing to collect
                continue
            try:
                self.quorum.collect(job_id, self.account.address, sender=self.account)
            except ContractReverted as e:  # "already settled", "not a winning attester"
                log.info("dispute share of job %s not collected: %s", job_id, e.reason)
            self.attested.discard(job_id)
        amount = self.quorum.pending(self.account.address)
        if amount:
            self.quorum.claim(sender=self.account)
        return amount

    def _attest(self, job_id: int, status: int, recomputed: str) -> tuple[bool, str]:
        if self.quorum is None:
            return False, "refuted (no quorum contract)"
        if status != JobStatus.SUBMITTED:
            return False, "refuted after the client accepted: score only"
        try:
            self.quorum.attest_mismatch(job_id, bytes.fromhex(recomputed), sender=self.account)
            self.attested.add(job_id)
            return True, "refuted: attested in FheQuorum"
        except ContractReverted as e:  # window closed, already disputed, not a validator...
            return False, f"refuted; attestation reverted: {e.reason}"
