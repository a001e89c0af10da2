"""Concrete's runtime threads are sized before Concrete loads (veilproof.fhe sets defaults): in a fresh
interpreter, as a node's FHE worker or a client starts, and never over an operator's own setting."""

from __future__ import annotations

import os
import subprocess
import sys

_PROBE = (
    "import veilproof.fhe, concrete.fhe, os; "
    "print(os.environ['DFR_NUM_THREADS'], os.environ['HPX_MAX_IDLE_BACKOFF_TIME'])"
)


def _run(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("DFR_NUM_THREADS", "HPX_MAX_IDLE_BACKOFF_TIME")}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env={**clean, **env}, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1]


def test_defaults_are_set_before_concrete_loads() -> None:
    assert _run({}) == "1 10000"


def test_an_operators_setting_wins() -> None:
    assert _run({"DFR_NUM_THREADS": "4", "HPX_MAX_IDLE_BACKOFF_TIME": "500"}) == "4 500"
