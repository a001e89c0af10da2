"""The demo's pipeline step end to end (veilproof demo --pipeline), on the session's artifact cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from veilproof.artifacts.store import ArtifactStore
from veilproof.demo.pipeline_step import SLASH, run_pipeline_step


@pytest.mark.slow
def test_pipeline_demo_step(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    store = ArtifactStore(tmp_path_factory.getbasetemp() / "zk-shared" / "store")
    r = run_pipeline_step(tmp_path, store=store, say=lambda _m: None)
    assert r.settled and r.cheater_rejected == "input does not link" and r.cheater_slashed == SLASH
    assert r.audit_path is not None and "VERIFIED: all 2 stages" in r.audit_path.read_text()
    assert r.max_abs_error_vs_float < 0.05
    assert 900_000 < r.gas["stage_verify_link"] < 1_500_000
