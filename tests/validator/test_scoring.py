"""Scoring policy: correctness gate, latency, availability, uint16 rows the contract normalises."""

from __future__ import annotations

import pytest

from veilproof.incentives.yuma import SCALE, normalize_row
from veilproof.validator import AuditRecord, NodeStats, WeightedPolicy
from veilproof.validator.scoring import shares


def _stats(index: int, *recs: tuple[bool, bool, float]) -> NodeStats:
    return NodeStats(
        f"0x{index:040x}", index, [AuditRecord(f"0x{index:040x}", 1, "zk", a, c, t) for a, c, t in recs]
    )


def test_perfect_node_scores_one_and_gets_max_weight() -> None:
    p = WeightedPolicy()
    s = _stats(0, (True, True, 2.0), (True, True, 3.0))
    assert p.score(s) == pytest.approx(1.0)
    assert p.weights({0: s}, 1) == [65_535]


def test_any_wrong_answer_zeroes_the_node() -> None:
    p = WeightedPolicy()
    s = _stats(0, *[(True, True, 1.0)] * 9, (True, False, 1.0))
    assert s.correctness == pytest.approx(0.9)
    assert p.score(s) == 0.0
    assert WeightedPolicy(zero_on_wrong=False).score(s) == pytest.approx((0.6 * 0.9 + 0.15 + 0.25) / 1.0)


def test_unavailable_and_slow_nodes_score_less() -> None:
    p = WeightedPolicy(target_latency_s=10.0)
    fast = _stats(0, (True, True, 1.0), (True, True, 1.0))
    slow = _stats(1, (True, True, 40.0), (True, True, 40.0))
    flaky = _stats(2, (True, True, 1.0), (False, False, 60.0))
    dead = _stats(3, (False, False, 60.0))
    assert p.score(fast) > p.score(flaky) > p.score(dead) == 0.0
    assert p.score(fast) > p.score(slow) > 0
    assert p.latency_score(slow) == pytest.approx(0.25)
    assert flaky.availability == 0.5 and flaky.correctness == 1.0


def test_weights_cover_every_registry_index_and_normalise_like_the_contract() -> None:
    p = WeightedPolicy()
    stats = {
        0: _stats(0, (True, True, 1.0)),
        2: _stats(2, (True, True, 40.0)),
        3: _stats(3, (True, False, 1.0)),
    }
    row = p.weights(stats, 5)
    assert len(row) == 5 and row[1] == 0 and row[4] == 0 and row[3] == 0  # unaudited / cheater
    assert max(row) == 65_535 and 0 < row[2] < row[0]
    fixed = normalize_row(row, [True] * 5)
    assert sum(fixed) <= SCALE and abs(sum(fixed) - SCALE) < 5
    assert shares(row)[0] == pytest.approx(fixed[0] / SCALE, abs=1e-9)
    assert p.weights({}, 3) == [0, 0, 0]


def test_policy_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        WeightedPolicy(w_correct=-1)
    with pytest.raises(ValueError):
        WeightedPolicy(0, 0, 0)
    with pytest.raises(ValueError):
        WeightedPolicy(target_latency_s=0)
