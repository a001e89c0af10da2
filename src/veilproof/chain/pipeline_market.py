"""``PipelineMarket``: chained ZK stages paid once and settled on one record (contracts/PipelineMarket.vy).

Why a separate market: a pipeline job (the slices of a model too big for one prover, or a feature
extractor then a classifier) is paid once but proven in several proofs, possibly by several nodes.
The contract verifies each stage's proof under its own model's key (ZkVerifierAdapter) and links
them by the stages' committed (Poseidon) inputs and outputs, so intermediate values stay off chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade, hex32
from veilproof.chain.network import Receipt

STATUS = {0: "none", 1: "open", 2: "settled", 3: "refunded"}


@dataclass(frozen=True)
class PipelineReceipt:
    """The one on-chain record of a pipeline job (what `veilproof audit` shows)."""

    job_id: int
    pipeline_id: int
    client: str
    status: str
    input_commitment: int
    output_hash: str
    stage_models: tuple[int, ...]
    stage_nodes: tuple[str, ...]
    stage_proof_hashes: tuple[str, ...]

    @property
    def settled(self) -> bool:
        return self.status == "settled"


@dataclass(frozen=True)
class PipelineJob:
    """``PipelineMarket.jobs``: what a stage node checks before it claims and before it submits.

    ``last_output`` is the committed output of the latest verified stage (the input commitment while
    no stage is verified): the next stage's proof must commit to exactly this input."""

    job_id: int
    pipeline_id: int
    client: str
    price: int
    input_commitment: int
    deadline: int
    status: str
    stages_done: int
    last_output: int

    @property
    def open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True)
class StageSubmission:
    """What one ``submit_stage`` did: verified and linked, or rejected (with the reason) and slashed."""

    accepted: bool
    reason: str
    receipt: Receipt


class PipelineMarket(ContractFacade):
    CONTRACT = "PipelineMarket"

    def register_pipeline(self, model_ids: Sequence[int], *, sender: LocalAccount) -> int:
        """Register the ordered stage models; returns the pipeline id."""
        return self.registered_pipeline_id(self.register_pipeline_tx(model_ids, sender=sender))

    def register_pipeline_tx(self, model_ids: Sequence[int], *, sender: LocalAccount) -> Receipt:
        """:meth:`register_pipeline`, returning the receipt (gas, tx hash) for a publisher's record.
        Every stage must be a ZK model with its VKA on the adapter: an FHE-only model is refused
        ("stage model has no ZK verifier key"; docs/pipelines.md says why)."""
        return self._send("register_pipeline", [int(m) for m in model_ids], sender=sender)

    def registered_pipeline_id(self, rcpt: Receipt) -> int:
        return int(self._events("PipelineRegistered", rcpt)[0]["pipeline_id"])

    def pipeline_count(self) -> int:
        return int(self._call("pipeline_count"))

    def pipeline_models(self, pipeline_id: int) -> list[int]:
        return [int(m) for m in self._call("pipeline_models", pipeline_id)]

    def open_job(
        self, pipeline_id: int, input_commitment: int, price: int, deadline: int, *, sender: LocalAccount
    ) -> tuple[int, Receipt]:
        """Escrow ``price`` (approved beforehand) for one pipeline run; returns (job id, receipt)."""
        rcpt = self._send("open_job", pipeline_id, int(input_commitment), price, deadline, sender=sender)
        return int(self._events("PipelineJobOpened", rcpt)[0]["job_id"]), rcpt

    def claim_stage(self, job_id: int, stage: int, *, sender: LocalAccount) -> Receipt:
        """Reserve ``stage`` for ``sender`` before proving it: only the claimant's proof counts, so a
        proof copied from the mempool pays no one else (:meth:`claim` says until when)."""
        return self._send("claim_stage", job_id, stage, sender=sender)

    def stage_output_hash(self, job_id: int, stage: int) -> int:
        """The committed output of a verified stage (Poseidon felt; keccak of the outputs for the last),
        0 while the stage is not verified."""
        return int(self._call("stages", job_id, stage)[3])

    def read_job(self, job_id: int) -> PipelineJob:
        """The job's escrow record (status ``none`` for an id never opened)."""
        r = self._call("jobs", job_id)
        return PipelineJob(
            job_id=job_id,
            pipeline_id=int(r[0]),
            client=str(r[1]),
            price=int(r[2]),
            input_commitment=int(r[3]),
            deadline=int(r[4]),
            status=STATUS.get(int(r[5]), str(r[5])),
            stages_done=int(r[6]),
            last_output=int(r[7]),
        )

    def claim(self, job_id: int, stage: int) -> tuple[str | None, int]:
        """(claimant or None, claim end time) of a stage; the contract packs both in one slot."""
        packed = int(self._call("claims", job_id, stage))
        if packed == 0:
            return None, 0
        return to_checksum_address((packed & ((1 << 160) - 1)).to_bytes(20, "big")), packed >> 160

    def claim_window(self) -> int:
        return int(self._call("claim_window"))

    def set_claim_window(self, seconds: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_claim_window", seconds, sender=sender)

    def submit_stage(
        self, job_id: int, stage: int, proof: bytes, instances: Sequence[int], *, sender: LocalAccount
    ) -> StageSubmission:
        """Submit stage ``stage``'s proof (``sender`` must hold the stage's claim). A rejected proof
        does not revert (the slash must stand): the result says whether it was accepted and why not."""
        rcpt = self._send(
            "submit_stage",
            job_id,
            stage,
            bytes(proof),
            [int(v) for v in instances],
            sender=sender,
            gas=3_000_000,
        )
        rejected = self._events("StageRejected", rcpt)
        if rejected:
            return StageSubmission(False, str(rejected[0]["reason"]), rcpt)
        return StageSubmission(True, "", rcpt)

    def refund(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """Close a job past its deadline: verified stages' nodes are owed their share, the client
        gets the rest."""
        return self._send("refund", job_id, sender=sender)

    def collect(self, *, sender: LocalAccount) -> Receipt:
        return self._send("collect", sender=sender)

    def job_count(self) -> int:
        return int(self._call("job_count"))

    def pending(self, account: str) -> int:
        return int(self._call("pending", account))

    def slash_amount(self) -> int:
        return int(self._call("slash_amount"))

    def set_slash_amount(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_slash_amount", amount, sender=sender)

    def settled_outputs(self, job_id: int, from_block: int = 0) -> list[int]:
        """The final public outputs (field elements) the settling stage proved, from its event."""
        logs = self._logs("PipelineSettled", from_block, argument_filters={"job_id": job_id})
        return [int(v) for v in logs[-1]["args"]["outputs"]] if logs else []

    def verification_txs(self, job_id: int, from_block: int = 0) -> list[tuple[int, str, int]]:
        """(stage, tx hash, block) of each verified stage: where an auditor re-checks a proof."""
        logs = self._logs("StageVerified", from_block, argument_filters={"job_id": job_id})
        return [
            (int(lg["args"]["stage"]), "0x" + bytes(lg["transactionHash"]).hex(), int(lg["blockNumber"]))
            for lg in logs
        ]

    def stage_claims(self, job_id: int, from_block: int = 0) -> list[tuple[int, str, int]]:
        """(stage, node, block) of each ``claim_stage``: when each stage's node started on it."""
        logs = self._logs("StageClaimed", from_block, argument_filters={"job_id": job_id})
        return [(int(lg["args"]["stage"]), str(lg["args"]["node"]), int(lg["blockNumber"])) for lg in logs]

    def rejections(self, job_id: int, from_block: int = 0) -> list[tuple[int, str, str]]:
        """(stage, node, reason) of each rejected stage submission."""
        logs = self._logs("StageRejected", from_block, argument_filters={"job_id": job_id})
        return [(int(lg["args"]["stage"]), str(lg["args"]["node"]), str(lg["args"]["reason"])) for lg in logs]

    def receipt(self, job_id: int) -> PipelineReceipt:
        """The job's one record, checkable in one call: a settled status means every stage verified
        under its model's committed key and every stage's committed input was the previous output."""
        r = self._call("receipt", job_id)
        return PipelineReceipt(
            job_id=job_id,
            pipeline_id=int(r[0]),
            client=str(r[1]),
            status=STATUS.get(int(r[2]), str(r[2])),
            input_commitment=int(r[3]),
            output_hash=hex32(r[4]),
            stage_models=tuple(int(m) for m in r[5]),
            stage_nodes=tuple(str(a) for a in r[6]),
            stage_proof_hashes=tuple(hex32(h) for h in r[7]),
        )
