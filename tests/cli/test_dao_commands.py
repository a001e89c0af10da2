"""`veilproof dao ...` as a user runs it: on a served embedded chain, a proposal that changes the
challenge window goes propose -> vote -> queue -> (timelock delay) -> execute, and the deployer's
key has lost the power to make the same change directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli

from veilproof.chain import connect


def _ok(home: Path, *args: str) -> str:
    r = run_cli(home, *args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    return r.stdout


@pytest.mark.slow
def test_dao_lifecycle_from_the_cli(tmp_path: Path) -> None:
    _ok(tmp_path, "chain", "up", "--port", "0", "--embedded")
    try:
        _ok(tmp_path, "deploy", "--json")
        dao = json.loads(_ok(tmp_path, "dao", "deploy", "--dev", "--json"))
        # the default deploy has a PipelineMarket: its slash and claim window go to the timelock too
        assert {"JobMarket", "PipelineMarket"} <= set(dao["handed_over"])
        _ok(tmp_path, "dao", "wrap", "1000")
        net = connect(_url(tmp_path))
        net.time_travel(1)
        prop = json.loads(
            _ok(
                tmp_path,
                "dao",
                "propose",
                "JobMarket",
                "set_challenge_window",
                "900",
                "-d",
                "window 900",
                "--json",
            )
        )
        pid = prop["proposal_id"]
        net.advance_to(prop["snapshot"] + 1)
        _ok(tmp_path, "dao", "vote", pid, "for")
        net.advance_to(prop["deadline"] + 1)
        assert "queued" in _ok(tmp_path, "dao", "queue", pid)
        early = run_cli(tmp_path, "dao", "execute", pid)
        assert early.returncode != 0 and "TimelockUnexpectedOperationState" in early.stderr + early.stdout
        net.time_travel(301)
        assert "executed" in _ok(tmp_path, "dao", "execute", pid)
        st = json.loads(_ok(tmp_path, "dao", "status", pid, "--json"))
        assert st["proposals"][0]["state"] == "executed"
        bad = run_cli(tmp_path, "dao", "vote", pid, "maybe")
        assert bad.returncode != 0 and "for, against or abstain" in bad.stderr + bad.stdout
    finally:
        run_cli(tmp_path, "chain", "down")


def _url(home: Path) -> str:
    from veilproof.chain.dev.local import read_local_chain

    lc = read_local_chain(home)
    assert lc is not None
    return lc.url
