"""`veilproof data ...` as a user runs it (issue #15): a curator publishes, a subject signs consents
and revokes one, the curator registers and versions, a buyer escrows, everyone checks earnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_run import run_cli
from eth_utils import keccak

pytestmark = pytest.mark.slow


def _ok(home: Path, *args: str) -> dict:
    r = run_cli(home, *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_data_market_from_the_cli(tmp_path: Path) -> None:
    up = run_cli(tmp_path, "chain", "up", "--port", "0", "--embedded")
    assert up.returncode == 0, up.stderr
    try:
        _ok(tmp_path, "deploy")
        _ok(tmp_path, "data", "deploy")
        alice = _ok(tmp_path, "account", "new", "alice")["address"]
        assert run_cli(tmp_path, "transfer", alice, "--eth", "1").returncode == 0
        me = _ok(tmp_path, "status", "--account", "default")["account"]["address"]
        ds = _ok(tmp_path, "data", "publish", "--schema", "rows:v1", "--host", me, "--price", "5")[
            "dataset_id"
        ]
        recs = ["0x" + keccak(f"row{i}".encode()).hex() for i in range(3)]
        files = []
        for i, rec in enumerate(recs):
            f = tmp_path / f"consent{i}.json"
            r = run_cli(
                tmp_path, "data", "consent", str(ds), rec, "--nonce", str(i), "--out", str(f), "-a", "alice"
            )
            assert r.returncode == 0, r.stderr
            files.append(str(f))
        assert _ok(tmp_path, "data", "register", str(ds), *files)["registered"] == 3
        v1 = _ok(tmp_path, "data", "version", str(ds), *recs)["version_id"]
        assert run_cli(tmp_path, "data", "revoke", str(ds), recs[0], "-a", "alice").returncode == 0
        bad = run_cli(tmp_path, "data", "version", str(ds), *recs, "--parent", str(v1))
        assert bad.returncode == 1 and "record revoked" in bad.stderr
        v2 = _ok(tmp_path, "data", "version", str(ds), *recs[1:], "--parent", str(v1))
        assert v2["records"] == 2
        sale = _ok(tmp_path, "data", "buy", str(v2["version_id"]))["sale_id"]
        assert sale == 1
        assert _ok(tmp_path, "data", "earnings", "-a", "alice")["veil"] == 0
        r = run_cli(tmp_path, "data", "consent", str(ds), "0x12", "-a", "alice")
        assert r.returncode != 0 and "RECORD_HASH" in r.stderr
    finally:
        run_cli(tmp_path, "chain", "down")
