"""`veilproof train open|join|status|claim` against a dev chain (issue #16); the Flower side is in tests/fl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli


@pytest.mark.slow  # 88 s: six CLI subprocesses and a chain
def test_train_open_join_status_and_early_claim_is_refused(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "chain", "up", "--port", "0", "--embedded").returncode == 0
    try:
        assert run_cli(tmp_path, "deploy", "--json").returncode == 0
        coord = "0x" + "ab" * 20
        op = run_cli(
            tmp_path, "train", "open", "--coordinator", coord, "--bounty", "100", "--rounds", "2",
            "--min-participants", "1", "--json",
        )  # fmt: skip
        assert op.returncode == 0, op.stderr
        job = json.loads(op.stdout)["job"]
        dep = json.loads((tmp_path / "deployment.json").read_text())
        assert dep["extra"]["training_market"] == json.loads(op.stdout)["market"]
        jn = run_cli(tmp_path, "train", "join", str(job))
        assert jn.returncode == 0, jn.stderr
        st = json.loads(run_cli(tmp_path, "train", "status", str(job), "--json").stdout)
        assert st["job"]["state"] == "open" and st["job"]["participants"] == 1
        assert st["job"]["bounty"] == 100 * 10**18
        cl = run_cli(tmp_path, "train", "claim", str(job))
        assert cl.returncode != 0 and "job not finished" in cl.stderr + cl.stdout
    finally:
        run_cli(tmp_path, "chain", "down")
