"""Every expected mistake is one line saying what happened and what to do; no money moves on a typo
(issue #13). Commands run in-process through Typer's CliRunner against a real embedded chain served
by `veilproof chain up --embedded`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from veilproof.chain import connect
from veilproof.chain.deploy import Deployment
from veilproof.cli.main import app

runner = CliRunner()
DEAD = "0x000000000000000000000000000000000000dEaD"


def run(home: Path, *args: str, password: str | None = "pw") -> tuple[int, str, str]:
    env = {"VEILPROOF_HOME": str(home), "VEILPROOF_SCRYPT_N": "1024", "VEILPROOF_CHAIN_URL": None}
    env["VEILPROOF_PASSWORD"] = password
    r = runner.invoke(app, list(args), env=env)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def one_line_error(code: int, err: str) -> str:
    """The failure printed as exactly one line (no traceback), returned for the caller's checks."""
    assert code == 1
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    h = tmp_path_factory.mktemp("cli-errors")
    code, out, err = run(h, "chain", "up", "--embedded", "--port", "0")
    assert code == 0, err
    try:
        code, out, err = run(h, "deploy", "--json")
        assert code == 0, err
        for name in ("poor", "rich"):
            assert run(h, "account", "new", name)[0] == 0
        yield h
    finally:
        run(h, "chain", "down")


def _url(home: Path) -> str:
    return str(json.loads((home / "chain.json").read_text())["url"])


def _fhe_artifacts(home: Path, tag: str) -> tuple[str, str]:
    """Two blobs in the home's artifact store standing in for client.zip / server.zip: publish checks only
    that this machine holds what it commits to (no node serves these models)."""
    from veilproof.artifacts import ArtifactStore

    store = ArtifactStore(home / "artifacts")
    return store.put_bytes(f"client {tag}".encode()), store.put_bytes(f"server {tag}".encode())


def _address(home: Path, name: str) -> str:
    entries = json.loads(run(home, "account", "list", "--json")[1])
    return next(e["address"] for e in entries if e["name"] == name)


def test_version() -> None:
    from veilproof import __version__

    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"veilproof {__version__}"


def test_unfunded_account_is_named_with_the_transfer_that_fixes_it(home: Path) -> None:
    poor = _address(home, "poor")
    line = one_line_error(*run(home, "transfer", DEAD, "--eth", "0.5", "--account", "poor")[::2])
    assert f"account 'poor' ({poor})" in line and "holds 0 ETH" in line
    assert f"`veilproof transfer {poor} --eth 1`" in line


def test_ether_above_balance_sends_nothing(home: Path) -> None:
    net = connect(_url(home))
    before = net.balance(DEAD)
    line = one_line_error(*run(home, "transfer", DEAD, "--eth", "100000000", "--veil", "1")[::2])
    assert line.startswith("error: --eth: expected at most") and "nothing was sent" in line
    assert net.balance(DEAD) == before


def test_veil_above_balance_sends_not_even_the_ether(home: Path) -> None:
    net = connect(_url(home))
    before = net.balance(DEAD)
    line = one_line_error(*run(home, "transfer", DEAD, "--eth", "1", "--veil", "100000000")[::2])
    assert "at most 1,000,000 VEIL" in line and "nothing was sent" in line
    assert net.balance(DEAD) == before


def test_transfer_reports_what_it_sent_with_tx_hashes(home: Path) -> None:
    rich = _address(home, "rich")
    code, out, err = run(home, "transfer", rich, "--eth", "2", "--veil", "3", "--json")
    assert code == 0, err
    sent = json.loads(out)["sent"]
    assert [(s["asset"], s["amount"]) for s in sent] == [("ETH", 2.0), ("VEIL", 3.0)]
    net = connect(_url(home))
    for s in sent:
        assert net.w3.eth.get_transaction_receipt(s["tx"])["status"] == 1
    assert net.balance(rich) == 2 * 10**18


def test_a_second_leg_that_fails_reports_the_first(home: Path) -> None:
    """The balance checks pass, then the VEIL leg fails on chain: the ether already sent is reported."""
    # Token rejects the zero address ("zero address"): a failure no balance check can foresee.
    zero = "0x" + "00" * 20
    code, out, err = run(home, "transfer", zero, "--eth", "0.5", "--veil", "1", "--account", "rich")
    line = one_line_error(code, err)
    assert "zero address" in line and "already sent to" in line and "0.5 ETH (tx 0x" in line


def test_missing_password_says_to_set_the_variable(home: Path) -> None:
    line = one_line_error(*run(home, "jobs", password=None)[::2])
    assert "set $VEILPROOF_PASSWORD" in line and "'default'" in line
    line = one_line_error(*run(home, "account", "new", "nopw", password=None)[::2])
    assert "set $VEILPROOF_PASSWORD" in line


def test_unfunded_account_on_a_contract_call(home: Path) -> None:
    """Past the CLI's own checks, the chain's refusal (Network.transact) is mapped to the same line."""
    from veilproof.chain.keystore import Keystore
    from veilproof.chain.suite import Suite
    from veilproof.errors import InsufficientFunds

    poor = Keystore(home / "keystore").load("poor", "pw")
    suite = Suite.attach(connect(_url(home)), Deployment.load(home / "deployment.json"))
    with pytest.raises(InsufficientFunds) as e:
        suite.token.approve(DEAD, 1, sender=poor)
    assert e.value.address == poor.address and e.value.balance == 0


def test_stale_deployment_says_to_deploy_again(home: Path, tmp_path: Path) -> None:
    """A dev chain restarted since `deploy`: same chain id, no code at the recorded addresses."""
    d = Deployment.load(home / "deployment.json")
    d.market = d.token = d.models = d.nodes = "0x" + "11" * 20
    (tmp_path / "keystore").mkdir()
    for f in (home / "keystore").iterdir():
        (tmp_path / "keystore" / f.name).write_bytes(f.read_bytes())
    d.save(tmp_path / "deployment.json")
    for cmd in ("models", "jobs"):
        line = one_line_error(*run(tmp_path, cmd, "--chain-url", _url(home))[::2])
        assert "chain was restarted" in line and "`veilproof deploy` again" in line


def test_no_chain_running_says_how_to_start_one(home: Path, tmp_path: Path) -> None:
    (tmp_path / "deployment.json").write_text((home / "deployment.json").read_text())
    line = one_line_error(*run(tmp_path, "models")[::2])
    assert "`veilproof chain up`" in line


def test_model_build_refuses_a_file_that_is_not_onnx(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_text("not a model")
    cal = tmp_path / "x.npy"
    np.save(cal, np.zeros((4, 3), dtype=np.float32))
    line = one_line_error(*run(tmp_path, "model", "build", str(bad), "--calibration", str(cal))[::2])
    assert "MODEL: expected an ONNX model file" in line and "torch.onnx.export" in line
    # and a calibration file that is not .npy
    from veilproof.models.examples import build_example

    ex = build_example("breast_cancer_logreg", tmp_path / "ex")
    (tmp_path / "cal.json").write_text("[[1, 2]]")
    line = one_line_error(
        *run(tmp_path, "model", "build", str(ex.onnx_path), "--calibration", str(tmp_path / "cal.json"))[::2]
    )
    assert "--calibration: expected a .npy array" in line


def test_debug_shows_the_traceback_and_json_gives_an_error_object(home: Path) -> None:
    code, out, err = run(home, "--debug", "transfer", DEAD, "--eth", "0.5", "--account", "poor")
    assert code == 1 and "Traceback" in err and "InsufficientFunds" in err
    code, out, err = run(home, "transfer", DEAD, "--eth", "0.5", "--account", "poor", "--json")
    assert code == 1
    e = json.loads(out)["error"]
    assert e["type"] == "InsufficientFunds" and "veilproof transfer" in e["message"]


def test_publish_twice_needs_force(home: Path) -> None:
    c, sv = _fhe_artifacts(home, "twice")
    code, out, err = run(
        home, "model", "publish", "--name", "ghost", "--fhe-client", c, "--fhe-server", "cd" * 32
    )
    line = one_line_error(code, err)  # a hash this machine does not hold: nothing is published
    assert line.startswith("error: --fhe-server: expected the sha256 of an artifact in") and "--fhe`" in line
    fake = {"--fhe-client": c, "--fhe-server": sv}
    args = ["model", "publish", "--name", "twice", *[x for kv in fake.items() for x in kv], "--json"]
    code, out, err = run(home, *args)
    assert code == 0, err
    first = json.loads(out)["model_id"]
    tx = json.loads(out)["tx_hashes"]["register_model"]
    assert connect(_url(home)).w3.eth.get_transaction_receipt(tx)["status"] == 1
    line = one_line_error(*run(home, *args[:-1])[::2])
    assert f"model {first} ('twice'" in line and "--force" in line
    code, out, err = run(home, *args, "--force")
    assert code == 0 and json.loads(out)["model_id"] == first + 1 and "warning" in err
    code, out, err = run(home, *args[:-1], "--name", "other", "--force")  # human output: id and tx
    assert code == 0 and f"model {first + 2} 'other' published (tx 0x" in out


def test_deploy_includes_the_incentives(home: Path) -> None:
    d = Deployment.load(home / "deployment.json")
    net = connect(_url(home))
    assert {"rewards", "fhe_quorum", "zk_adapter"} <= set(d.extra)
    assert all(net.w3.eth.get_code(d.extra[k]) for k in ("rewards", "fhe_quorum"))
    # the bootstrap mint happened before Rewards became the minter
    code, out, err = run(home, "status", "--json", "--account", "default")
    assert code == 0, err
    assert json.loads(out)["veil_supply"] == 1_000_000


def test_validator_starts_on_a_default_deployment(home: Path, tmp_path: Path) -> None:
    """`deploy` + `transfer` + `validator start` is enough: it bonds its stake and commits its weights."""
    import os
    import subprocess
    import sys

    code, out, err = run(home, "account", "new", "validator", "--json")
    assert code == 0, err
    val = json.loads(out)["address"]
    assert run(home, "transfer", val, "--veil", "1100", "--eth", "1")[0] == 0
    c, sv = _fhe_artifacts(home, "audited")
    code, out, err = run(
        home, "model", "publish", "--name", "audited", "--fhe-client", c, "--fhe-server", sv, "--json"
    )
    assert code == 0, err
    rows = tmp_path / "rows.npy"
    np.save(rows, np.zeros((2, 30)))
    env = {
        **os.environ,
        "VEILPROOF_HOME": str(home),
        "VEILPROOF_PASSWORD": "pw",
        "VEILPROOF_SCRYPT_N": "1024",
    }
    env.pop("VEILPROOF_CHAIN_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "veilproof.cli.main", "validator", "start", "--account", "validator",
         "--inputs", str(rows), "--fhe-model", str(json.loads(out)["model_id"]), "--interval", "1", "--json"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    events: list[dict[str, str]] = []
    try:
        assert proc.stdout is not None
        # --json: one object per line, as it happens; read until the validator says it committed
        # (a dead process ends the stream: readline returns "").
        while not any("committed epoch" in e.get("event", "") for e in events):
            line = proc.stdout.readline()
            assert line, f"validator exited: {events}"
            events.append(json.loads(line))
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert events[0]["validator"] == val
    from veilproof.chain.suite import Suite

    suite = Suite.attach(connect(_url(home)), Deployment.load(home / "deployment.json"))
    assert suite.rewards.read_validator(val).stake >= 1_000 * 10**18
    assert suite.rewards.commit_of(suite.rewards.current_epoch(), val) != bytes(32)


def test_chain_up_on_a_taken_port_fails_instead_of_trusting_the_other_process(
    home: Path, tmp_path: Path
) -> None:
    """The port is held by a running chain (it answers JSON-RPC): ours must not report that one as its own."""
    port = _url(home).rsplit(":", 1)[1]
    line = one_line_error(*run(tmp_path, "chain", "up", "--embedded", "--port", port)[::2])
    assert "already in use" in line and "--port" in line
    assert not (tmp_path / "chain.json").exists()


def test_chain_up_twice_says_already_running_and_refuses_other_flags(home: Path) -> None:
    code, out, err = run(home, "chain", "up", "--embedded", "--port", "0", "--json")
    assert (
        code == 0 and json.loads(out)["state"] == "already running" and json.loads(out)["url"] == _url(home)
    )
    line = one_line_error(*run(home, "chain", "up")[::2])  # anvil requested, embedded running
    assert "already running" in line and "`veilproof chain down`" in line


def test_model_build_is_quiet_unless_verbose(tmp_path: Path) -> None:
    """One SRS notice; EZKL's fidelity table and notices go to <home>/logs/engines.log; a rebuild says
    "cache hit"."""
    from veilproof.models.examples import build_example

    ex = build_example("breast_cancer_logreg", tmp_path / "ex")
    build = ["model", "build", str(ex.onnx_path), "--calibration", str(ex.calibration_path)]
    code, out, err = run(tmp_path / "quiet", *build)
    assert code == 0, err
    assert err.count("UNSAFE FOR PRODUCTION") == 1 and "UnsafeSrsWarning" not in err
    assert "Fidelity" not in err + out and "experimental" not in err + out
    assert "input shape (1, 30)" in err
    assert "quantization error vs the float model on the calibration set (scale 10): mean |e| 0.0" in err
    assert "Fidelity" in (tmp_path / "quiet" / "logs" / "engines.log").read_text()
    code, out, err = run(tmp_path / "quiet", *build)
    assert code == 0 and "cache hit" in err
    # --verbose leaves the engines' output alone; --scale trades accuracy for a smaller circuit
    code, out, err = run(tmp_path / "loud", "--verbose", *build, "--scale", "6")
    assert code == 0 and not (tmp_path / "loud" / "logs" / "engines.log").exists()
    assert "(scale 6): mean |e|" in err


def test_infer_refuses_bad_input_and_unknown_models_before_paying(home: Path, tmp_path: Path) -> None:
    c, sv = _fhe_artifacts(home, "m")
    code, out, err = run(
        home, "model", "publish", "--name", "m", "--fhe-client", c, "--fhe-server", sv, "--json"
    )
    assert code == 0, err
    words = tmp_path / "words.json"
    words.write_text('["a", "b"]')
    code, out, err = run(home, "infer", "--model", str(json.loads(out)["model_id"]), "--input", str(words))
    assert "x: expected numbers" in one_line_error(code, err)
    nums = tmp_path / "nums.json"
    nums.write_text("[1, 2]")
    line = one_line_error(*run(home, "infer", "--model", "999", "--input", str(nums))[::2])
    assert "999" in line and "unexpected" not in line
    assert json.loads(run(home, "jobs", "--json")[1]) == []
