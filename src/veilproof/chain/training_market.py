"""``TrainingMarket``: federated-learning bounties, one committed round at a time (contracts/TrainingMarket.vy).

A sponsor escrows a bounty for a task; participants join with a stake; the coordinator stakes and posts
each round (aggregated model hash, participant set, Merkle root of the updates, contribution scores); after
the last round everyone claims: the coordinator its share, participants their stake plus the pool split by
summed score (:func:`veilproof.fl.split.split_bounty` is the Python mirror of that arithmetic).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.chain.facade import ContractFacade
from veilproof.chain.network import Network, Receipt

STATES = {0: "none", 1: "open", 2: "running", 3: "finished", 4: "cancelled"}


@dataclass(frozen=True)
class TrainingJob:
    sponsor: str
    coordinator: str
    arch_hash: bytes
    val_hash: bytes
    rounds: int
    min_participants: int
    coordinator_bps: int
    bounty: int
    participant_stake: int
    coordinator_stake: int
    join_deadline: int
    round_timeout: int
    last_post: int
    rounds_posted: int
    participants: int
    total_score: int
    model_hash: bytes
    state: str


@dataclass(frozen=True)
class PostedRound:
    job_id: int
    round: int
    model_hash: bytes
    updates_root: bytes
    participants: list[str]
    scores: list[int]
    block: int


def deploy_training_market(net: Network, owner: LocalAccount, token: str) -> TrainingMarket:
    """Deploy a TrainingMarket paying in ``token`` (the suite's VEIL)."""
    c = net.deploy("TrainingMarket", to_checksum_address(token), sender=owner)
    return TrainingMarket(net, c.address)


class TrainingMarket(ContractFacade):
    CONTRACT = "TrainingMarket"

    def open_job(
        self,
        *,
        coordinator: str,
        arch_hash: bytes,
        val_hash: bytes,
        rounds: int,
        min_participants: int,
        coordinator_bps: int,
        bounty: int,
        participant_stake: int,
        coordinator_stake: int,
        join_window: int = 3600,
        round_timeout: int = 3600,
        sender: LocalAccount,
    ) -> int:
        """Escrow ``bounty`` (approve it first) and return the new job id."""
        rcpt = self._send(
            "open_job",
            to_checksum_address(coordinator),
            arch_hash,
            val_hash,
            rounds,
            min_participants,
            coordinator_bps,
            bounty,
            participant_stake,
            coordinator_stake,
            join_window,
            round_timeout,
            sender=sender,
        )
        return int(self._events("JobOpened", rcpt)[0]["job_id"])

    def join(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """Join with the job's participant stake (approve it first)."""
        return self._send("join", job_id, sender=sender)

    def start(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        """The coordinator stakes (approve it first) and starts the rounds."""
        return self._send("start", job_id, sender=sender)

    def post_round(
        self,
        job_id: int,
        rnd: int,
        model_hash: bytes,
        updates_root: bytes,
        participants: list[str],
        scores: list[int],
        update_hashes: list[bytes],
        signatures: list[bytes],
        *,
        sender: LocalAccount,
    ) -> Receipt:
        """Commit one round (participants in increasing address order; scores, update hashes and the
        participants' signatures over them (veilproof.fl.sign) in the same order)."""
        return self._send(
            "post_round",
            job_id,
            rnd,
            model_hash,
            updates_root,
            [to_checksum_address(p) for p in participants],
            list(scores),
            list(update_hashes),
            [bytes(x) for x in signatures],
            sender=sender,
        )

    def verify_inclusion(
        self, job_id: int, rnd: int, participant: str, update_hash: bytes, proof: list[bytes]
    ) -> bool:
        return bool(
            self._call("verify_inclusion", job_id, rnd, to_checksum_address(participant), update_hash, proof)
        )

    def domain_separator(self) -> bytes:
        return bytes(self._call("DOMAIN_SEPARATOR"))

    def owed(self, job_id: int, account: str) -> int:
        return int(self._call("owed", job_id, to_checksum_address(account)))

    def claim(self, job_id: int, *, sender: LocalAccount) -> int:
        """Collect what ``sender`` is owed; returns the amount paid."""
        rcpt = self._send("claim", job_id, sender=sender)
        return sum(int(e["amount"]) for e in self._events("Claimed", rcpt))

    def cancel(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        return self._send("cancel", job_id, sender=sender)

    def abandon(self, job_id: int, *, sender: LocalAccount) -> Receipt:
        return self._send("abandon", job_id, sender=sender)

    def job(self, job_id: int) -> TrainingJob:
        t = self._call("jobs", job_id)
        names = [f.name for f in fields(TrainingJob)]
        values: list[object] = [str(t[0]), str(t[1]), bytes(t[2]), bytes(t[3])]
        values += [int(x) for x in t[4:16]] + [bytes(t[16]), STATES.get(int(t[17]), "unknown")]
        return TrainingJob(**dict(zip(names, values, strict=True)))  # type: ignore[arg-type]

    def score(self, job_id: int, participant: str) -> int:
        return int(self._call("score", job_id, to_checksum_address(participant)))

    def joined(self, job_id: int, participant: str) -> bool:
        return bool(self._call("joined", job_id, to_checksum_address(participant)))

    def round_model(self, job_id: int, rnd: int) -> bytes:
        return bytes(self._call("round_model", job_id, rnd))

    def round_root(self, job_id: int, rnd: int) -> bytes:
        return bytes(self._call("round_root", job_id, rnd))

    def rounds(self, job_id: int, from_block: int = 0) -> list[PostedRound]:
        """The RoundPosted events of ``job_id``, in order."""
        return [
            PostedRound(
                int(lg["args"]["job_id"]),
                int(lg["args"]["round"]),
                bytes(lg["args"]["model_hash"]),
                bytes(lg["args"]["updates_root"]),
                [str(p) for p in lg["args"]["participants"]],
                [int(s) for s in lg["args"]["scores"]],
                int(lg["blockNumber"]),
            )
            for lg in self._logs("RoundPosted", from_block, None, {"job_id": job_id})
        ]


def deploy_training_royalties(
    net: Network, owner: LocalAccount, token: str, job_market: str, training: str, job_id: int
) -> TrainingRoyalties:
    """Deploy the royalty splitter of finished TrainingMarket job ``job_id`` (reverts if nobody scored)."""
    c = net.deploy(
        "TrainingRoyalties",
        to_checksum_address(token),
        to_checksum_address(job_market),
        to_checksum_address(training),
        job_id,
        sender=owner,
    )
    return TrainingRoyalties(net, c.address)


class TrainingRoyalties(ContractFacade):
    """contracts/TrainingRoyalties.vy: owns a federated model, splits its JobMarket royalties by score."""

    CONTRACT = "TrainingRoyalties"

    def owed(self, account: str) -> int:
        """What ``account`` can claim from royalties already swept here."""
        return int(self._call("owed", to_checksum_address(account)))

    def sweep(self, *, sender: LocalAccount) -> Receipt:
        return self._send("sweep", sender=sender)

    def claim(self, *, sender: LocalAccount) -> int:
        """Sweep, then pay ``sender`` its share; returns the amount paid."""
        rcpt = self._send("claim", sender=sender)
        return sum(int(e["amount"]) for e in self._events("RoyaltyClaimed", rcpt))

    def total_paid(self) -> int:
        return int(self._call("total_paid"))
