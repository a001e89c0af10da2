"""Turn one epoch of audit outcomes into the uint16 weight row a validator commits.

Why a role class: what a subnet values (a fast node that is sometimes down vs a slow node that is
always up) is policy, not mechanism. ``ScoringPolicy`` is the seam; :class:`WeightedPolicy` is the
default. Whatever the policy, the contract normalises each row itself (``W_ij = r_ij / Σ r_i``), so
a validator only has to submit relative uint16 weights (largest = 65535) — see
:func:`veilproof.incentives.yuma.to_uint16_weights`.
"""

from __future__ import annotations

import statistics
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from veilproof.incentives.yuma import MAX_NODES, to_uint16_weights


@dataclass(frozen=True)
class AuditRecord:
    """One audit of one node.

    ``answered``: the node took the job and produced a result the validator could judge (a settled
    or a rejected proof, an output ciphertext); False for timeouts, refusals and connection errors.
    ``correct``: the result was judged right (settled proof whose outputs match the known answer;
    decrypted FHE output equal to the known answer; re-execution hash equal to the posted hash).
    """

    node: str
    model_id: int
    kind: str  # "zk" | "fhe" | "reexec"
    answered: bool
    correct: bool
    latency_s: float
    job_id: int | None = None
    detail: str = ""


@dataclass
class NodeStats:
    """Everything a validator measured about one node in one epoch."""

    address: str
    index: int  # subnet index (NodeRegistry.subnet_index) = column of the weight row
    records: list[AuditRecord] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return len(self.records)

    @property
    def answered(self) -> int:
        return sum(r.answered for r in self.records)

    @property
    def wrong(self) -> int:
        return sum(r.answered and not r.correct for r in self.records)

    @property
    def availability(self) -> float:
        return self.answered / self.attempted if self.attempted else 0.0

    @property
    def correctness(self) -> float:
        return sum(r.correct for r in self.records) / self.answered if self.answered else 0.0

    @property
    def median_latency_s(self) -> float | None:
        lat = [r.latency_s for r in self.records if r.answered and r.correct and r.kind != "reexec"]
        return statistics.median(lat) if lat else None


class ScoringPolicy(ABC):
    """Maps a node's epoch stats to a non-negative score; the row is scores scaled to uint16."""

    @abstractmethod
    def score(self, stats: NodeStats) -> float:
        """Non-negative score of one node (0 = no emission from this validator)."""

    def weights(self, stats: Mapping[int, NodeStats], n_nodes: int) -> list[int]:
        """uint16 row over subnet indices ``0..min(n_nodes, 64)-1``; unaudited nodes get 0."""
        n = min(n_nodes, MAX_NODES)
        scores = [self.score(stats[j]) if j in stats else 0.0 for j in range(n)]
        return to_uint16_weights(scores)


@dataclass
class WeightedPolicy(ScoringPolicy):
    """``score = w_c·correctness + w_l·latency + w_a·availability``, and 0 after any wrong answer.

    The gate matters more than the weights: a wrong answer is evidence of cheating (a rejected proof,
    a wrong decryption, a refuted re-execution), and a cheater that answers fast and often must not
    keep 60% of an honest node's score. ``latency = min(1, target_latency_s / median latency)``.
    """

    w_correct: float = 0.6
    w_latency: float = 0.15
    w_available: float = 0.25
    target_latency_s: float = 10.0
    zero_on_wrong: bool = True

    def __post_init__(self) -> None:
        ws = (self.w_correct, self.w_latency, self.w_available)
        if min(ws) < 0 or sum(ws) <= 0:
            raise ValueError("policy weights must be non-negative and not all zero")
        if self.target_latency_s <= 0:
            raise ValueError("target_latency_s must be positive")

    def latency_score(self, stats: NodeStats) -> float:
        med = stats.median_latency_s
        if med is None:
            return 0.0
        return 1.0 if med <= 0 else min(1.0, self.target_latency_s / med)

    def score(self, stats: NodeStats) -> float:
        if stats.attempted == 0 or (self.zero_on_wrong and stats.wrong > 0):
            return 0.0
        total = self.w_correct + self.w_latency + self.w_available
        s = (
            self.w_correct * stats.correctness
            + self.w_latency * self.latency_score(stats)
            + self.w_available * stats.availability
        )
        return max(0.0, s / total)


def shares(row: Sequence[int]) -> list[float]:
    """The fractions the contract will read from a row (for reports)."""
    total = sum(row)
    return [w / total if total else 0.0 for w in row]
