"""Audit detection math and the economic simulation."""

from __future__ import annotations

from pathlib import Path

import pytest

from veilproof.incentives.audits import (
    detection_probability,
    detection_probability_exact,
    expected_jobs_to_detection,
    min_audit_rate,
    monte_carlo,
    monte_carlo_jobs,
)
from veilproof.incentives.onchain import run_on_chain
from veilproof.incentives.simulate import SimConfig, plot, run, small_config


@pytest.mark.parametrize(
    ("f", "a", "n"), [(0.01, 0.02, 1000), (0.1, 0.05, 100), (0.5, 0.01, 200), (0.05, 0.02, 500)]
)
def test_closed_form_matches_monte_carlo(f: float, a: float, n: int) -> None:
    p = detection_probability(f, a, n)
    assert monte_carlo(f, a, n, trials=20_000) == pytest.approx(p, abs=0.015)
    assert monte_carlo_jobs(f, a, n, trials=1_000, seed=1) == pytest.approx(p, abs=0.05)


def test_detection_edge_cases() -> None:
    assert detection_probability(0.0, 0.5, 1000) == 0.0
    assert detection_probability(1.0, 1.0, 1) == 1.0
    assert detection_probability_exact(50, 20, 1000) == pytest.approx(
        detection_probability(0.05, 0.02, 1000), abs=0.02
    )
    assert detection_probability_exact(10, 95, 100) == 1.0
    assert expected_jobs_to_detection(0.1, 0.02) == pytest.approx(500)
    assert min_audit_rate(3.0, 58.5) == pytest.approx(3.0 / 58.5)
    with pytest.raises(ValueError):
        detection_probability(1.5, 0.1, 10)


def test_profit_plot(tmp_path: Path) -> None:
    """Profits per strategy (the attacks themselves are in test_economics.py)."""
    r = run(SimConfig(epochs=30))
    png = plot(r, str(tmp_path / "sim.png"))
    assert (tmp_path / "sim.png").stat().st_size > 10_000 and png.endswith(".png")


def test_simulation_on_chain_agrees_with_mirror() -> None:
    """Two epochs of the small subnet settled by the contracts equal the mirror-only run."""
    cfg = small_config(epochs=2)
    chain, gas = run_on_chain(cfg)
    mirror = run(cfg)
    assert chain.chain_checks == 2 and len(gas) == 2
    assert chain.final() == mirror.final()
