"""Shapley scoring without a chain: the Monte-Carlo estimate agrees with the exact value, and a copier
is a null player (exactly 0) in both."""

from __future__ import annotations

import numpy as np

from veilproof.data.algorithms import LogisticRegressionJob, shapley_scores
from veilproof.data.records import Record, breast_cancer_split


def test_monte_carlo_agrees_with_exact_and_copier_is_null() -> None:
    s = breast_cancer_split(2)
    honest = [recs[:40] for recs in s.contributions]
    copier = [Record.new(np.array(r.features), r.label) for r in honest[1][:20]]
    job = LogisticRegressionJob()
    exact = shapley_scores(job, [*honest, copier], s.held_out_x, s.held_out_y)
    mc = shapley_scores(job, [*honest, copier], s.held_out_x, s.held_out_y, permutations=60, exact_max=0)
    assert exact[2] == mc[2] == 0
    assert exact[0] > 0 and exact[1] > 0
    for e, m in zip(exact[:2], mc[:2], strict=True):
        assert abs(e - m) <= 0.25 * abs(e)
    # efficiency: exact values add up to the grand coalition's utility (rounding aside)
    assert abs(sum(exact) - sum(mc)) <= 0.25 * sum(exact)
