"""Run the `veilproof` CLI as a user would: a subprocess with its own home, a test password and
cheap scrypt, and no chain URL inherited from the environment (the home's recorded chain decides)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VEILPROOF_HOME": str(home),
        "VEILPROOF_PASSWORD": "pw",
        "VEILPROOF_SCRYPT_N": "1024",
    }
    env.pop("VEILPROOF_CHAIN_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "veilproof.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
