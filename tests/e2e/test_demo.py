"""`veilproof demo` end to end: the main job must keep working, on the embedded chain and on anvil."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from veilproof.demo.run import run_demo

pytestmark = pytest.mark.slow


def _check(report) -> None:  # type: ignore[no-untyped-def]
    assert report.facts["cheater_caught"] is True
    by_mode = {(j["mode"], j["node"]): j for j in report.jobs}
    assert by_mode[("zk", "honest-1")]["status"] == "settled"
    assert by_mode[("fhe", "honest-1")]["status"] == "settled"
    assert by_mode[("zk", "cheater")]["status"] == "slashed"
    assert report.facts["epoch_mirror_agrees"] is True
    assert report.facts["agent_job_settled"] is True
    assert report.facts["agent_breach_refused_before_tx"] is True
    assert report.facts["dao_grant_paid_veil"] == 200  # the grant paid on a published, provable model
    assert report.facts["cheater_emission_veil"] == 0
    assert report.facts["honest_1_emission_veil"] > 0
    money = {m["who"]: m for m in report.money}
    assert money["cheater"]["stake_change"] == -50
    assert money["honest-1"]["veil_change"] > 0 and money["model owner"]["veil_change"] > 0


def test_demo_embedded(tmp_path: Path) -> None:
    _check(run_demo(workdir=tmp_path / "w", cache=tmp_path / "cache", console=Console(quiet=True)))


@pytest.mark.anvil
def test_demo_on_anvil(tmp_path: Path, anvil_url: str) -> None:
    _check(
        run_demo(
            chain_url=anvil_url, workdir=tmp_path / "w", cache=tmp_path / "cache", console=Console(quiet=True)
        )
    )
