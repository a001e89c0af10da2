"""Yuma consensus: the contract and the Python mirror agree exactly; the mirror's properties hold."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veilproof.incentives.onchain import Subnet
from veilproof.incentives.yuma import BPS, SCALE, YumaParams, consensus_weights, epoch_step, normalize_row


def _random_row(rng: random.Random, n: int) -> list[int]:
    kind = rng.choice(["dense", "sparse", "ties", "zeros", "short"])
    if kind == "dense":
        return [rng.randint(0, 65535) for _ in range(n)]
    if kind == "sparse":
        return [rng.choice([0, 0, 0, rng.randint(1, 65535)]) for _ in range(n)]
    if kind == "ties":
        return [rng.choice([0, 1000, 65535]) for _ in range(n)]
    if kind == "zeros":
        return [0] * n
    return [rng.randint(0, 65535) for _ in range(rng.randint(0, n))]  # trailing entries omitted


def test_contract_matches_mirror_on_random_matrices(subnet: Subnet) -> None:
    """Many random epochs (dense, sparse, tied, all-zero and short rows; missed reveals; an
    inactive node) settle to identical emissions, bonds and penalties on chain and in the mirror."""
    rng = random.Random(7)
    vals = [v.address for v in subnet.validators]
    unbonded = False
    for epoch in range(10):
        if epoch == 5 and not unbonded:
            # make node 2 inactive: its weights must be ignored by both
            subnet.tx(subnet.nodes.contract.functions.request_unbond(60 * 10**18), subnet.node_accts[2])
            unbonded = True
        weights = {v: _random_row(rng, 5) for v in vals}
        reveal = {v for v in vals if rng.random() < 0.85}
        ce = subnet.run_epoch(weights, reveal, salt=rng.randbytes(32))
        assert ce.agrees(), (epoch, ce)
    assert not subnet.eligible()[2]


@pytest.mark.slow
def test_contract_matches_mirror_at_max_size(net) -> None:  # type: ignore[no-untyped-def]
    """16 validators x 64 nodes, twice (the second epoch has nonzero bonds)."""
    from tests.incentives.conftest import PARAMS, VSTAKE

    rng = random.Random(3)
    s = Subnet.create(net, 64, [VSTAKE * (1 + i % 5) for i in range(16)], PARAMS)
    for _ in range(2):
        weights = {v.address: [rng.randint(0, 65535) for _ in range(64)] for v in s.validators}
        ce = s.run_epoch(weights)
        assert ce.agrees()
        assert ce.gas["finalize"] < 15_000_000


# --- mirror properties -----------------------------------------------------------------------------
weights_matrix = st.integers(1, 8).flatmap(
    lambda n: st.lists(st.lists(st.integers(0, 65535), min_size=n, max_size=n), min_size=1, max_size=8)
)


@settings(max_examples=200, deadline=None)
@given(weights_matrix, st.data())
def test_consensus_is_backed_by_kappa_of_stake(rows: list[list[int]], data: st.DataObject) -> None:
    stakes = data.draw(st.lists(st.integers(1, 10**24), min_size=len(rows), max_size=len(rows)))
    W = [normalize_row(r, [True] * len(r)) for r in rows]
    cons = consensus_weights(W, stakes, 5000)
    total = sum(stakes)
    for j, c in enumerate(cons):
        assert c <= max(W[i][j] for i in range(len(W)))
        if c > 0:  # at least kappa of stake gives c or more
            assert sum(s for i, s in enumerate(stakes) if W[i][j] >= c) * BPS >= 5000 * total
        # nothing above c has kappa support
        above = [W[i][j] for i in range(len(W)) if W[i][j] > c]
        for w in above:
            assert sum(s for i, s in enumerate(stakes) if W[i][j] >= w) * BPS < 5000 * total


@settings(max_examples=200, deadline=None)
@given(weights_matrix, st.data())
def test_emissions_never_exceed_pools(rows: list[list[int]], data: st.DataObject) -> None:
    vals = [f"v{i}" for i in range(len(rows))]
    stakes = {v: data.draw(st.integers(1, 10**24)) for v in vals}
    p = YumaParams()
    r = epoch_step(vals, dict(zip(vals, rows, strict=True)), stakes, [True] * len(rows[0]), {}, p)
    assert sum(r.node_emission) <= p.emission * p.node_bps // BPS
    assert sum(r.validator_emission.values()) <= p.emission * p.validator_bps // BPS
    assert r.minted <= p.emission
    assert all(0 <= b <= SCALE for b in r.bonds.values())


def test_minority_cannot_lift_a_node() -> None:
    """A cartel with 40% of stake puts all its weight on node 0; honest 60% give it nothing."""
    rows = {
        "h1": [0, 100, 100],
        "h2": [0, 100, 100],
        "h3": [0, 100, 100],
        "c1": [65535, 0, 0],
        "c2": [65535, 0, 0],
    }
    stakes = {"h1": 2, "h2": 2, "h3": 2, "c1": 2, "c2": 2}
    r = epoch_step(list(rows), rows, stakes, [True] * 3, {})
    assert r.consensus[0] == 0 and r.node_emission[0] == 0
    assert r.validator_emission["h1"] > r.validator_emission["c1"]


def test_bonds_follow_agreement_over_epochs() -> None:
    """A validator that agrees with consensus builds a larger bond than an outlier of equal stake."""
    rows = {"a": [10, 10, 10], "b": [10, 10, 10], "c": [10, 10, 10], "out": [0, 0, 65535]}
    stakes = dict.fromkeys(rows, 1)
    bonds: dict[str, int] = {}
    for _ in range(20):
        r = epoch_step(list(rows), rows, stakes, [True] * 3, bonds)
        bonds.update(r.bonds)
    assert bonds["a"] > 2 * bonds["out"]
    assert r.validator_emission["a"] > 2 * r.validator_emission["out"]
