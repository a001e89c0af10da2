"""Reputation: read and give feedback backed by settled, paid jobs.

Why the score is smoothed: a node with one 100/100 rating should not outrank one with fifty 96s.
``reputation_score`` is a Bayesian average that starts at a neutral prior and moves towards the
observed mean as ratings accumulate; the client SDK uses it to rank node offers.
Why it is weighted by price: a rating costs its rater only the job it paid for, so a ring rating itself
through 1-wei jobs must weigh nothing against clients who paid real prices (issue #12). Each
counterparty holds one current opinion, weighted by what it paid the subject in rated jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from veilproof.agents.errors import AgentError
from veilproof.chain.facade import Call, ContractFacade
from veilproof.chain.network import Network, Receipt

MAX_TAGS = 4
PRIOR_MEAN = 50.0
PRIOR_WEIGHT = 5.0
#: The neutral prior of the price-weighted score, in token units: as if 50 VEIL of jobs had been rated 50.
PRIOR_PAID = 50 * 10**18


def tag(text: str) -> bytes:
    """A short label as bytes32 (UTF-8, right-padded with zeros)."""
    raw = text.encode()
    if not raw or len(raw) > 32:
        raise AgentError(f"tag {text!r}: expected 1 to 32 UTF-8 bytes")
    return raw.ljust(32, b"\x00")


def untag(raw: bytes) -> str:
    return bytes(raw).rstrip(b"\x00").decode(errors="replace")


def encode_tags(tags: Iterable[str]) -> list[bytes]:
    out = [tag(t) for t in tags]
    if len(out) > MAX_TAGS:
        raise AgentError(f"at most {MAX_TAGS} tags, got {len(out)}")
    return out


@dataclass(frozen=True)
class Summary:
    count: int
    total: int

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None

    def score(self, prior_mean: float = PRIOR_MEAN, prior_weight: float = PRIOR_WEIGHT) -> float:
        """Bayesian average on 0..100: ``(total + m*w) / (count + w)``."""
        return (self.total + prior_mean * prior_weight) / (self.count + prior_weight)


@dataclass(frozen=True)
class Weighted:
    """Ratings weighted by what each rater paid (one current opinion per counterparty)."""

    weight: int  # token units paid in rated jobs
    weighted_total: int  # sum over raters of paid x latest score
    raters: int  # distinct counterparties

    @property
    def average(self) -> float | None:
        return self.weighted_total / self.weight if self.weight else None

    def score(self, prior_mean: float = PRIOR_MEAN, prior_paid: int = PRIOR_PAID) -> float:
        """Bayesian average on 0..100 with a prior worth ``prior_paid`` tokens of neutral ratings: ratings
        bought for a few wei (a self-dealing ring) do not move it; real paid jobs do."""
        return (self.weighted_total + prior_mean * prior_paid) / (self.weight + prior_paid)


@dataclass(frozen=True)
class FeedbackRecord:
    feedback_id: int
    job_id: int
    rater: str
    subject: str
    score: int
    tags: tuple[str, ...]


@dataclass(frozen=True)
class ValidationRecord:
    """What backs the feedback on a job.

    ZK: ``proof_hash`` is keccak256 of the EZKL proof the verifier accepted, ``output_hash`` of the
    outputs. FHE: ``proof_hash`` is the evaluation-keys hash and ``output_hash`` the output-ciphertext
    hash: with the input commitment and the model's circuit hash, what re-execution needs.
    """

    job_id: int
    mode: int
    model_id: int
    input_commitment: bytes
    output_hash: bytes
    proof_hash: bytes
    price: int


class ReputationClient(ContractFacade):
    """Typed access to the Reputation contract."""

    CONTRACT = "Reputation"

    def feedback_call(self, job_id: int, score: int, tags: Sequence[str] = ()) -> Call:
        """The contract call, for senders that go through a wallet's ``execute``."""
        if not 0 <= score <= 100:
            raise AgentError(f"score: expected 0..100, got {score}")
        return self._fn("give_feedback", job_id, score, encode_tags(tags))

    def give_feedback(
        self, rater: LocalAccount, job_id: int, score: int, tags: Sequence[str] = ()
    ) -> Receipt:
        return self.net.transact(self.feedback_call(job_id, score, tags), sender=rater)

    def summary(self, subject: str) -> Summary:
        count, total = self._call("summary", to_checksum_address(subject))
        return Summary(int(count), int(total))

    def weighted(self, subject: str) -> Weighted:
        weight, total, raters = self._call("weighted", to_checksum_address(subject))
        return Weighted(int(weight), int(total), int(raters))

    def reputation_score(self, subject: str) -> float:
        """0..100, price-weighted (see :class:`Weighted`): what ranks node offers in the client SDK."""
        return self.weighted(subject).score()

    def feedback(self, feedback_id: int) -> FeedbackRecord:
        job_id, rater, subject, score, tags = self._call("feedback", feedback_id)
        return FeedbackRecord(
            feedback_id, int(job_id), rater, subject, int(score), tuple(untag(t) for t in tags)
        )

    def history(self, subject: str, from_block: int = 0) -> list[FeedbackRecord]:
        """Every feedback ``subject`` received, oldest first (from FeedbackGiven events)."""
        logs = self._logs(
            "FeedbackGiven", from_block, argument_filters={"subject": to_checksum_address(subject)}
        )
        return [
            FeedbackRecord(
                int(lg["args"]["feedback_id"]),
                int(lg["args"]["job_id"]),
                lg["args"]["rater"],
                lg["args"]["subject"],
                int(lg["args"]["score"]),
                tuple(untag(t) for t in lg["args"]["tags"]),
            )
            for lg in logs
        ]

    def validation(self, job_id: int) -> ValidationRecord | None:
        v = self._call("validation", job_id)
        if int(v[0]) == 0:
            return None
        return ValidationRecord(
            int(v[0]), int(v[1]), int(v[2]), bytes(v[3]), bytes(v[4]), bytes(v[5]), int(v[6])
        )

    def rank(self, subjects: Iterable[str]) -> list[tuple[str, float]]:
        """Subjects best first by ``reputation_score`` (stable for ties)."""
        scored = [(s, self.reputation_score(s)) for s in subjects]
        return sorted(scored, key=lambda p: -p[1])


def reputation_score(net: Network, reputation: str, subject: str) -> float:
    """Smoothed 0..100 score of a node or agent wallet (50 with no feedback)."""
    return ReputationClient(net, reputation).reputation_score(subject)
