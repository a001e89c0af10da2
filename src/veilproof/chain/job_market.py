"""``JobMarket``: escrow and settlement of inference jobs (contracts/JobMarket.vy).

Who calls what: a job's client opens, accepts, refunds, challenges and withdraws; its node starts,
submits or rejects; anyone finalizes an FHE job after its challenge window. Verbs a client may have
to relay through an AgentWallet (the wallet is then the job's client) also come unsent, as
``*_call`` (see :data:`veilproof.chain.facade.Call`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_checksum_address

from veilproof.chain.facade import Call, ContractFacade, hex32
from veilproof.chain.network import Receipt


class JobMode(IntEnum):
    """How a job is verified: the contract's ``MODE_*`` constants."""

    ZK = 1
    FHE = 2


class JobStatus(IntEnum):
    """Where a job is in its life: the contract's status constants. Every job ends SETTLED,
    REFUNDED or SLASHED."""

    OPEN = 1
    SUBMITTED = 2
    SETTLED = 3
    REFUNDED = 4
    SLASHED = 5


@dataclass(frozen=True)
class OnchainJob:
    """``JobMarket.job``: web3 returns the struct as a tuple in declaration order; named here."""

    job_id: int
    client: str
    node: str
    model_id: int
    input_commitment: int
    mode: JobMode
    price: int
    deadline: int
    status: JobStatus
    output_hash: str
    proof_hash: str
    eval_keys_hash: str
    output_ct_hash: str
    submitted_at: int
    started_at: int
    verifier: str  # ZK: the verifier the job was opened under (zero address for FHE)

    @property
    def status_name(self) -> str:
        return self.status.name.lower()


@dataclass(frozen=True)
class Delivery:
    """``JobMarket.deliveries``: a client's demand for an FHE job's output ciphertext."""

    bond: int
    due: int  # the node must deliver before this time; 0 = never demanded
    delivered: bool


class JobMarket(ContractFacade):
    CONTRACT = "JobMarket"

    # --- encodings the contract applies ----------------------------------------------------------
    @staticmethod
    def output_hash(instances: Sequence[int]) -> str:
        """The ``output_hash`` the contract stores for a ZK job settled with these public instances.

        ``instances`` as ``submit_zk_result`` takes them: ``[input commitment, outputs...]``; the
        contract hashes the outputs only, ``keccak256(abi_encode(uint256[]))``.
        """
        return keccak(encode(["uint256[]"], [[int(v) for v in instances[1:]]])).hex()

    @staticmethod
    def proof_hash(proof: bytes) -> str:
        """The ``proof_hash`` the contract stores for a ZK job settled with ``proof``."""
        return keccak(bytes(proof)).hex()

    # --- reads -----------------------------------------------------------------------------------
    def job_count(self) -> int:
        return int(self._call("job_count"))

    def read_job(self, job_id: int) -> OnchainJob:
        """Everything stored about job ``job_id`` (reverts "unknown job" outside 1..job_count)."""
        (
            client, node, model_id, commit, mode, price, deadline, status, out_h, proof_h, ek_h,
            oct_h, sub_at, st_at, verifier,
        ) = self._call("job", job_id)  # fmt: skip
        return OnchainJob(
            job_id, client, node, int(model_id), int.from_bytes(bytes(commit), "big"), JobMode(int(mode)),
            int(price), int(deadline), JobStatus(int(status)), hex32(out_h), hex32(proof_h), hex32(ek_h),
            hex32(oct_h), int(sub_at), int(st_at), str(verifier),
        )  # fmt: skip

    def delivery(self, job_id: int) -> Delivery:
        """The client's demand for job ``job_id``'s output ciphertext (``due == 0``: none)."""
        bond, due, delivered = self._call("deliveries", job_id)
        return Delivery(int(bond), int(due), bool(delivered))

    def delivered_output(self, job_id: int) -> bytes | None:
        """The output ciphertext the node put on chain for job ``job_id`` (``deliver_output``
        calldata, found through its ``OutputDelivered`` event); None if it never did."""
        logs = self._logs("OutputDelivered", argument_filters={"job_id": job_id})
        if not logs:
            return None
        tx = self.net.w3.eth.get_transaction(logs[-1]["transactionHash"])
        _fn, args = self.contract.decode_function_input(tx["input"])
        return bytes(args["output_ct"])

    def delivery_demands(
        self, from_block: int = 0, to_block: int | str | None = None
    ) -> list[tuple[int, int]]:
        """``(job_id, due)`` of each client demand for an FHE output (``DeliveryDemanded``) in a block
        range: a node answers each of its own with :meth:`deliver_output` before ``due``."""
        logs = self._logs("DeliveryDemanded", from_block=from_block, to_block=to_block)
        return [(int(lg["args"]["job_id"]), int(lg["args"]["due"])) for lg in logs]

    def delivery_bond(self) -> int:
        return int(self._call("delivery_bond"))

    def challenge_window(self) -> int:
        return int(self._call("challenge_window"))

    def max_deadline(self) -> int:
        return int(self._call("max_deadline"))

    def slash_horizon(self) -> int:
        """How long after opening a job can still slash its node (below the unbonding delay)."""
        return int(self._call("slash_horizon"))

    def arbiter(self) -> str:
        return str(self._call("arbiter"))

    def treasury(self) -> str:
        """Who receives the protocol fee."""
        return str(self._call("treasury"))

    def pending(self, account: str) -> int:
        """What the market owes ``account`` (earnings, royalties, refunds, fees), pulled by withdraw."""
        return int(self._call("pending", to_checksum_address(account)))

    def escrowed(self) -> int:
        return int(self._call("escrowed"))

    def data_owed(self, registry: str, sale_id: int) -> int:
        """Inference royalties owed to a data sale's contributors, collected by its DataRegistry (#15)."""
        return int(self._call("data_owed", to_checksum_address(registry), sale_id))

    def token_address(self) -> str:
        return str(self._call("token"))

    def models_address(self) -> str:
        return str(self._call("models"))

    def nodes_address(self) -> str:
        return str(self._call("nodes"))

    def zk_verifier(self) -> str:
        """The verifier new ZK jobs are opened under (each job keeps its own: ``OnchainJob.verifier``)."""
        return str(self._call("zk_verifier"))

    def zk_outputs(self, job_id: int) -> list[int] | None:
        """The public outputs (``instances[1:]``) a settled ZK job was paid for, from its
        ``ZkResultSubmitted`` event; None if the chain has no such event. A client reads its answer
        here when the node that proved it stopped answering: the chain verified these outputs."""
        logs = self._logs("ZkResultSubmitted", argument_filters={"job_id": job_id})
        return [int(v) for v in logs[-1]["args"]["outputs"]] if logs else None

    def submitted_proof(self, job_id: int) -> tuple[bytes, list[int]] | None:
        """``(proof, instances)`` a ZK job's node posted (``submit_zk_result`` calldata, found through
        its ``ZkResultSubmitted`` event); None if none was posted. Why: anyone can check the proof
        again against the model's on-chain VKA (the explorer's "verify again")."""
        logs = self._logs("ZkResultSubmitted", argument_filters={"job_id": job_id})
        if not logs:
            return None
        tx = self.net.w3.eth.get_transaction(logs[-1]["transactionHash"])
        _fn, args = self.contract.decode_function_input(tx["input"])
        return bytes(args["proof"]), [int(v) for v in args["instances"]]

    # --- the job's client ------------------------------------------------------------------------
    def open_job(
        self,
        model_id: int,
        node: str,
        input_commitment: bytes,
        mode: JobMode | int,
        deadline: int,
        *,
        max_price: int,
        eval_keys_hash: bytes | None = None,
        sender: LocalAccount,
    ) -> Receipt:
        """Open a job and escrow the model's price (approve the market first); see :meth:`opened_job_id`.

        ``max_price``: the price the client saw; the contract reverts "price above max" if the model
        owner raised it since. ``eval_keys_hash`` (FHE only, required there): sha256 of the
        evaluation keys the client uploads to the node; the node's result must be computed under
        them, so validators can re-execute it.
        """
        return self._send(
            "open_job",
            model_id,
            to_checksum_address(node),
            input_commitment,
            int(mode),
            deadline,
            eval_keys_hash or bytes(32),
            max_price,
            sender=sender,
        )

    def opened_job_ids(self, rcpt: Receipt) -> list[int]:
        """Ids of the jobs this market opened in ``rcpt`` (``JobOpened`` events)."""
        return [int(ev["job_id"]) for ev in self._events("JobOpened", rcpt)]

    def opened_job_id(self, rcpt: Receipt) -> int:
        """The id of the one job opened in ``rcpt``; ValueError if it opened none or several."""
        (job_id,) = self.opened_job_ids(rcpt)
        return job_id

    def accept_call(self, job_id: int) -> Call:
        return self._fn("accept", job_id)

    def accept(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """The client accepts a submitted FHE result: settles at once."""
        return self.net.transact(self.accept_call(job_id), sender=sender)

    def refund_call(self, job_id: int) -> Call:
        return self._fn("refund", job_id)

    def refund(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """The client takes back the escrow of a job with no result after its deadline."""
        return self.net.transact(self.refund_call(job_id), sender=sender)

    def challenge_zk_call(self, job_id: int, instances: Sequence[int], proof: bytes, node_sig: bytes) -> Call:
        return self._fn("challenge_zk", job_id, [int(v) for v in instances], bytes(proof), bytes(node_sig))

    def challenge_zk(
        self, job_id: int, instances: Sequence[int], proof: bytes, node_sig: bytes, *, sender: LocalAccount
    ) -> Receipt:
        """Show that the node signed an invalid ZK result: client refunded, node slashed."""
        return self.net.transact(self.challenge_zk_call(job_id, instances, proof, node_sig), sender=sender)

    def claim_not_delivered_call(self, job_id: int) -> Call:
        return self._fn("claim_not_delivered", job_id)

    def claim_not_delivered(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """Demand a submitted FHE job's output ciphertext on chain, with ``delivery_bond`` (approve
        first): undelivered by the due time, ``finalize`` refunds the client and slashes the node."""
        return self.net.transact(self.claim_not_delivered_call(job_id), sender=sender)

    def withdraw_call(self) -> Call:
        return self._fn("withdraw")

    def withdraw(self, *, sender: LocalAccount) -> Receipt:
        """Pull ``sender``'s pending balance."""
        return self.net.transact(self.withdraw_call(), sender=sender)

    # --- the job's node --------------------------------------------------------------------------
    def start_job(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """The node commits to the job: from now on a missed deadline is slashable."""
        return self._send("start_job", job_id, sender=sender)

    def submit_zk(
        self,
        job_id: int,
        instances: Sequence[int],
        proof: bytes,
        *,
        sender: LocalAccount,
        gas: int | None = None,
    ) -> Receipt:
        """Post the proof (``submit_zk_result``); the job settles if the verifier accepts it."""
        return self._send(
            "submit_zk_result", job_id, [int(v) for v in instances], bytes(proof), sender=sender, gas=gas
        )

    def check_submit_zk(self, job_id: int, instances: Sequence[int], proof: bytes, *, node: str) -> None:
        """Run ``submit_zk_result`` as an ``eth_call`` from ``node``: returns if the chain would accept
        the proof now (same verifier, job state, deadline), raises ContractReverted with its reason
        otherwise. A node checks this before it signs a claim, so it never signs one the chain rejects."""
        self.net.call(
            self._fn("submit_zk_result", job_id, [int(v) for v in instances], bytes(proof)),
            sender=to_checksum_address(node),
        )

    def submit_fhe(
        self,
        job_id: int,
        eval_keys_hash: bytes,
        input_ct_hash: bytes,
        output_ct_hash: bytes,
        circuit_hash: bytes,
        *,
        sender: LocalAccount,
    ) -> Receipt:
        """Post the hashes of an FHE evaluation (``submit_fhe_result``): opens the challenge window."""
        return self._send(
            "submit_fhe_result",
            job_id,
            eval_keys_hash,
            input_ct_hash,
            output_ct_hash,
            circuit_hash,
            sender=sender,
        )

    def deliver_output(self, job_id: int, output_ct: bytes, *, sender: LocalAccount) -> Receipt:
        """Put the output ciphertext on chain (answers a client's demand; earns its bond)."""
        return self._send("deliver_output", job_id, bytes(output_ct), sender=sender)

    def reject(self, job_id: int, reason: str, *, sender: LocalAccount) -> Receipt:
        """The node declines an open job (``reject_job``): the client is refunded, nobody slashed."""
        return self._send("reject_job", job_id, reason, sender=sender)

    # --- anyone, arbiter -------------------------------------------------------------------------
    def finalize(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """Settle a submitted FHE job once its challenge window has passed."""
        return self._send("finalize", job_id, sender=sender)

    def dispute_fhe(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """The arbiter rejects a submitted FHE result within its window: refund, slash."""
        return self._send("dispute_fhe", job_id, sender=sender)

    # --- owner -----------------------------------------------------------------------------------
    def set_zk_verifier(self, verifier: str, *, sender: LocalAccount) -> Receipt:
        return self._send("set_zk_verifier", to_checksum_address(verifier), sender=sender)

    def set_arbiter(self, arbiter: str, *, sender: LocalAccount) -> Receipt:
        return self._send("set_arbiter", to_checksum_address(arbiter), sender=sender)

    def set_slash_amount(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_slash_amount", amount, sender=sender)

    def set_max_deadline(self, seconds: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_max_deadline", seconds, sender=sender)

    def set_challenge_window(self, seconds: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_challenge_window", seconds, sender=sender)

    def set_delivery_bond(self, amount: int, *, sender: LocalAccount) -> Receipt:
        return self._send("set_delivery_bond", amount, sender=sender)

    def set_fee_bps(self, bps: int, *, sender: LocalAccount) -> Receipt:
        """Set the protocol fee (basis points of each settled job's price, at most 1000) for the treasury."""
        return self._send("set_fee_bps", bps, sender=sender)

    def fee_bps(self) -> int:
        return int(self._call("fee_bps"))

    def slash_amount(self) -> int:
        return int(self._call("slash_amount"))
