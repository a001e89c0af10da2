"""`veilproof model build --slices 2` then `model publish --pipeline DIR` (issue 18): every slice is a
model on chain, the ordered pipeline is registered in PipelineMarket, and bad input (no slices, a
slice's artifacts missing, another account's slices, no PipelineMarket) is one clear error with
nothing registered. Each command is its own process against a `chain up --embedded` chain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli.cli_run import run_cli
from veilproof.chain import connect
from veilproof.chain.deploy import Deployment
from veilproof.chain.suite import Suite

pytestmark = pytest.mark.slow  # a served chain, a full deploy and ~10 CLI processes: ~2 min here


def _ok(home: Path, *args: str) -> Any:
    r = run_cli(home, *args, timeout=600)
    assert r.returncode == 0, f"{args}: {r.stderr[-2000:]}"
    return json.loads(r.stdout) if "--json" in args else r.stdout


def _counts(s: Suite) -> tuple[int, int]:
    assert s.pipelines is not None
    return s.models.model_count(), s.pipelines.pipeline_count()


def test_build_slices_then_publish_pipeline(tmp_path: Path, mlp: Any, mlp_sliced: Any) -> None:
    owner, other = tmp_path / "owner", tmp_path / "other"
    # The session's store already holds the unsalted 2-slice MLP (conftest `mlp_sliced`): the CLI's
    # build is then a cache hit of the same packages, not minutes of EZKL.
    owner.mkdir()
    (owner / "artifacts").symlink_to(mlp_sliced.packages[0].store.root, target_is_directory=True)
    ex = mlp.example
    built = _ok(owner, "model", "build", str(ex.onnx_path), "--calibration", str(ex.calibration_path),
                "--slices", "2", "--salt-elements", "0", "--json")  # fmt: skip
    pdir = Path(built["pipeline_dir"])
    assert [r["package"] for r in built["slices"]] == [p.manifest_digest for p in mlp_sliced.packages]
    assert (pdir / "pipeline.json").is_file()

    # No slices directory: refused before any chain is needed.
    r = run_cli(owner, "model", "publish", "--pipeline", str(tmp_path), "--name", "x")
    assert r.returncode == 1 and "no pipeline.json" in r.stderr and "pipeline_dir" in r.stderr, r.stderr

    _ok(owner, "chain", "up", "--embedded", "--port", "0")
    try:
        url = json.loads((owner / "chain.json").read_text())["url"]
        _ok(owner, "deploy", "--no-incentives", "--no-receipts", "--json")  # PipelineMarket: on by default
        net = connect(url)
        s = Suite.attach(net, Deployment.load(owner / "deployment.json"))
        before = _counts(s)

        pub = _ok(owner, "model", "publish", "--pipeline", str(pdir), "--name", "mlp", "--price", "2",
                  "--chain-url", url, "--json")  # fmt: skip
        assert s.pipelines is not None
        assert s.pipelines.pipeline_models(pub["pipeline_id"]) == pub["model_ids"]
        assert len(pub["model_ids"]) == 2 and pub["reused_models"] == []
        for i, (mid, pkg) in enumerate(zip(pub["model_ids"], mlp_sliced.packages, strict=True)):
            m = s.models.read_model(mid)
            c = pkg.commitments()
            assert m.name == f"mlp-slice{i}of2" and m.price == 2 * 10**18
            assert m.zk_vk_hash == c["zk_vka_digest"].removeprefix("0x")
            assert s.zk_adapter is not None and s.zk_adapter.is_registered(mid)
        assert _counts(s) == (before[0] + 2, before[1] + 1)
        print(f"\npublish --pipeline gas: {pub['gas']}")

        # The same publish again registers nothing: the owner's slices and pipeline are reused.
        again = _ok(owner, "model", "publish", "--pipeline", str(pdir), "--name", "mlp", "--chain-url", url,
                    "--json")  # fmt: skip
        assert again["pipeline_id"] == pub["pipeline_id"] and again["reused_pipeline"]
        assert again["reused_models"] == pub["model_ids"] and _counts(s) == (before[0] + 2, before[1] + 1)

        shown = _ok(owner, "model", "publish", "--pipeline", str(pdir), "--name", "mlp", "--chain-url", url)
        assert f"pipeline {pub['pipeline_id']} of 2 stages (already registered, reused)" in shown, shown
        assert f"stage 1: model {pub['model_ids'][1]} (reused)" in shown
        st = _ok(owner, "status", "--json", "--chain-url", url)
        assert st["contracts"]["pipeline_market"]["code"]

        # Another account publishing the owner's slices: refused, naming the model and its owner.
        other.mkdir()
        (other / "artifacts").symlink_to(owner / "artifacts", target_is_directory=True)
        (other / "deployment.json").write_text((owner / "deployment.json").read_text())
        addr = _ok(other, "account", "new", "default", "--json")["address"]
        _ok(owner, "transfer", addr, "--eth", "5", "--chain-url", url)
        r = run_cli(other, "model", "publish", "--pipeline", str(pdir), "--name", "mine", "--chain-url", url)
        assert r.returncode == 1, r.stderr
        assert f"already model {pub['model_ids'][0]}" in r.stderr and "--force" in r.stderr, r.stderr
        assert _counts(s) == (before[0] + 2, before[1] + 1)

        # A slice whose artifacts are not in this home's store: refused before the chain.
        bare = tmp_path / "bare"
        bare.mkdir()
        (bare / "deployment.json").write_text((owner / "deployment.json").read_text())
        shutil.copytree(pdir, tmp_path / "copied")
        r = run_cli(bare, "model", "publish", "--pipeline", str(tmp_path / "copied"), "--name", "x",
                    "--chain-url", url)  # fmt: skip
        assert r.returncode == 1 and "slice 0 (package" in r.stderr and "not usable" in r.stderr, r.stderr

        # A deployment without a PipelineMarket: refused, saying how to deploy one.
        nopipe = tmp_path / "nopipe"
        nopipe.mkdir()
        (nopipe / "artifacts").symlink_to(owner / "artifacts", target_is_directory=True)
        (nopipe / "keystore").symlink_to(owner / "keystore", target_is_directory=True)
        _ok(nopipe, "deploy", "--no-pipelines", "--no-incentives", "--no-receipts",
            "--chain-url", url, "--json")  # fmt: skip
        s2 = Suite.attach(net, Deployment.load(nopipe / "deployment.json"))
        r = run_cli(nopipe, "model", "publish", "--pipeline", str(pdir), "--name", "x", "--chain-url", url)
        assert r.returncode == 1 and "no PipelineMarket" in r.stderr and "deploy --pipelines" in r.stderr, (
            r.stderr
        )
        assert s2.models.model_count() == 0
        net.close()
    finally:
        run_cli(owner, "chain", "down")
