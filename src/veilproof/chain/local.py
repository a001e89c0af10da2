"""A local dev chain started by ``veilproof chain up`` and remembered in ``<home>/chain.json``.

Why a record: ``veilproof chain up && veilproof deploy && veilproof status`` are three processes;
the later two find the chain the first one started without being told its URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from veilproof.chain.anvil import anvil_binary, wait_for_rpc
from veilproof.errors import ChainError


@dataclass
class LocalChain:
    kind: str  # "anvil" | "embedded"
    url: str
    pid: int

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True


def _record(home: Path) -> Path:
    return home / "chain.json"


def read_local_chain(home: Path) -> LocalChain | None:
    p = _record(home)
    if not p.is_file():
        return None
    try:
        lc = LocalChain(**json.loads(p.read_text()))
    except (ValueError, TypeError):
        return None
    return lc if lc.alive() else None


def start_local_chain(home: Path, kind: str = "anvil", port: int = 8545, timeout: float = 30.0) -> LocalChain:
    """Start a detached dev chain on 127.0.0.1:port and wait until it answers."""
    running = read_local_chain(home)
    if running:
        return running
    if kind == "anvil":
        args = [str(anvil_binary()), "--host", "127.0.0.1", "--port", str(port), "--gas-limit", "60000000"]
    elif kind == "embedded":
        args = [sys.executable, "-m", "veilproof.chain.serve", "--port", str(port)]
    else:
        raise ChainError(f"unknown chain kind {kind!r}: expected 'anvil' or 'embedded'")
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / f"chain-{kind}.log", "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lc = LocalChain(kind, f"http://127.0.0.1:{port}", proc.pid)
    try:
        wait_for_rpc(lc.url, proc, timeout, f"{kind} (log: {home / f'chain-{kind}.log'})")
    except ChainError:
        proc.kill()
        raise
    _record(home).write_text(json.dumps(asdict(lc)))
    return lc


def stop_local_chain(home: Path) -> LocalChain | None:
    lc = read_local_chain(home)
    if lc:
        os.kill(lc.pid, signal.SIGTERM)
    _record(home).unlink(missing_ok=True)
    return lc
