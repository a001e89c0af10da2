"""`veilproof audit` and `model build --slices`: bad input gets one clear error, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.cli_run import run_cli
from veilproof.models.examples import build_example

pytestmark = pytest.mark.slow  # CLI subprocesses + a model export: ~1 min on the loaded box


def test_audit_target_is_checked(tmp_path: Path) -> None:
    r = run_cli(tmp_path / "home", "audit", "foo:1", "--out", str(tmp_path / "a.html"))
    assert r.returncode != 0 and "TARGET" in r.stderr and "model:2" in r.stderr
    assert not (tmp_path / "a.html").exists()


def test_slices_option_is_checked(tmp_path: Path) -> None:
    ex = build_example("breast_cancer_logreg", tmp_path / "ex")
    r = run_cli(tmp_path / "home", "model", "build", str(ex.onnx_path), "--calibration", str(ex.calibration_path),
                "--slices", "zero")  # fmt: skip
    assert r.returncode != 0 and "--slices: expected 'auto' or a whole number >= 1" in r.stderr
    # a one-layer model has no layer boundary to cut at: refused with the count, not a crash
    r = run_cli(tmp_path / "home", "model", "build", str(ex.onnx_path), "--calibration", str(ex.calibration_path),
                "--slices", "2")  # fmt: skip
    assert r.returncode != 0 and "single-tensor layer boundaries, the graph has 0" in r.stderr, r.stderr
