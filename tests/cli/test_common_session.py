"""The shared command helpers of ``cli/_common.py``: ``failing()`` turns an expected error into the one-line
failure (exit 1), lets anything else through, and ``session()`` opens home/chain/account/suite in the order
the commands always used (a missing account is named before a missing deployment)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from veilproof.cli._common import failing, session
from veilproof.errors import InputError


def test_failing_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit) as exit_, failing():
        raise InputError("--uses", "a comma list of training, evaluation", "nope")
    assert exit_.value.exit_code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--uses" in err and len(err.strip().splitlines()) == 1


def test_failing_lets_unexpected_errors_through() -> None:
    with pytest.raises(KeyError), failing():
        raise KeyError("a bug, for the top-level handler")


def test_failing_is_silent_without_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    with failing():
        pass
    assert capsys.readouterr().err == ""


def test_session_names_the_missing_account_before_the_missing_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit), session(str(tmp_path), None, "nobody"):
        pytest.fail("a session without an account must not open")
    assert "no account 'nobody'" in capsys.readouterr().err


def test_session_without_an_account_reports_the_missing_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit), session(str(tmp_path), None):
        pytest.fail("a session without a deployment must not open")
    err = capsys.readouterr().err
    assert "deployment.json" in err, err
