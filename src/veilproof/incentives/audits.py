"""How likely an FHE cheater is caught, and how many audits make cheating a losing bet.

Model: a node serves n FHE jobs; it cheats (returns a cheaper or garbage evaluation) on each job
with probability f. Validators audit each job with probability a — an encrypted query with a known
answer, or a re-execution of a job whose ciphertexts the client disclosed. The node cannot tell an
audit from a patient (fresh client keys, ordinary payment), so audits and cheating are independent,
and one audited cheated job is enough: re-execution is deterministic, so the mismatch is evidence.

    P(detected within n jobs) = 1 - (1 - a·f)^n          (Bernoulli audits)
    P(detected) = 1 - C(n-k, m) / C(n, m)               (exactly k cheated, m audited jobs)
    E[jobs until caught] = 1 / (a·f)

If a cheated job saves the node g (compute cost) and being caught costs S (slash + lost job),
the expected gain before detection is f·g·1/(a·f) = g/a, so cheating loses whenever a > g / S —
independent of how rarely the node cheats.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass


def detection_probability(f: float, a: float, n: int) -> float:
    """Closed form, Bernoulli audits: at least one of n jobs is both cheated and audited."""
    _check(f, a, n)
    return 1.0 - (1.0 - a * f) ** n


def detection_probability_exact(k: int, m: int, n: int) -> float:
    """Exactly k cheated and m audited among n jobs, audits uniform: hypergeometric miss probability."""
    if not (0 <= k <= n and 0 <= m <= n):
        raise ValueError("need 0 <= k, m <= n")
    if m > n - k:
        return 1.0
    return 1.0 - math.comb(n - k, m) / math.comb(n, m)


def expected_jobs_to_detection(f: float, a: float) -> float:
    """Mean number of jobs served before the first audited cheat (geometric)."""
    _check(f, a, 1)
    return math.inf if a * f == 0 else 1.0 / (a * f)


def min_audit_rate(saving_per_job: float, penalty: float) -> float:
    """Smallest audit rate at which cheating has negative expected value (a > g / S)."""
    if penalty <= 0:
        raise ValueError("penalty must be positive")
    return saving_per_job / penalty


def monte_carlo(f: float, a: float, n: int, trials: int = 20_000, seed: int = 0) -> float:
    """Simulated detection rate: draw cheat/audit per job, detected if any job is both."""
    _check(f, a, n)
    rng = random.Random(seed)
    p = a * f
    hits = 0
    for _ in range(trials):
        # position of the first audited cheat is geometric; detected if it falls within n jobs
        if p > 0 and (p >= 1 or math.log(1.0 - rng.random()) / math.log1p(-p) < n):
            hits += 1
    return hits / trials


def monte_carlo_jobs(f: float, a: float, n: int, trials: int = 2_000, seed: int = 0) -> float:
    """Slow, literal Monte Carlo (one draw per job), to check the closed form and :func:`monte_carlo`."""
    _check(f, a, n)
    rng = random.Random(seed)
    hits = 0
    for _ in range(trials):
        for _ in range(n):
            if rng.random() < f and rng.random() < a:
                hits += 1
                break
    return hits / trials


@dataclass(frozen=True)
class DetectionRow:
    f: float
    a: float
    n: int
    closed_form: float
    monte_carlo: float
    expected_jobs: float


def detection_table(
    fs: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5),
    audit_rates: tuple[float, ...] = (0.01, 0.02, 0.05),
    ns: tuple[int, ...] = (100, 1000),
    trials: int = 20_000,
) -> list[DetectionRow]:
    rows = []
    for f in fs:
        for a in audit_rates:
            for n in ns:
                rows.append(
                    DetectionRow(
                        f,
                        a,
                        n,
                        detection_probability(f, a, n),
                        monte_carlo(f, a, n, trials),
                        expected_jobs_to_detection(f, a),
                    )
                )
    return rows


def _check(f: float, a: float, n: int) -> None:
    if not (0.0 <= f <= 1.0 and 0.0 <= a <= 1.0):
        raise ValueError("f and a must be in [0, 1]")
    if n < 0:
        raise ValueError("n must be >= 0")
