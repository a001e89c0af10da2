"""A local dev chain started by ``veilproof chain up`` and remembered in ``<home>/chain.json``.

Why a record: ``veilproof chain up && veilproof deploy && veilproof status`` are three processes;
the later two find the chain the first one started without being told its URL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from veilproof.chain.dev.anvil import PRUNED_HISTORY_STATES, anvil_binary, wait_for_rpc
from veilproof.errors import ChainError, ConfigError


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


def start_local_chain(
    home: Path, kind: str = "anvil", port: int = 8545, timeout: float = 30.0, host: str = "127.0.0.1"
) -> LocalChain:
    """Start a detached dev chain on host:port (loopback by default) and wait until it answers.

    ``port=0`` lets the chain bind any free port itself (no pick-then-bind race); the port is read
    from the "Listening on HOST:PORT" line that both anvil and ``chain.serve`` print. ``host``, for
    anvil only, is this machine's address on a network whose other machines (nodes, clients) share
    the test chain; the embedded chain serves loopback only (its Host check, see ``rpc_server``).
    """
    running = read_local_chain(home)
    if running:
        return running
    if kind == "embedded" and host != "127.0.0.1":
        raise ConfigError(
            f"chain host {host!r}: the embedded chain serves 127.0.0.1 only (it refuses other Host "
            "headers); use anvil (`chain up --host ADDR` without --embedded) to share a chain across machines"
        )
    if host in ("0.0.0.0", "::", ""):
        raise ConfigError(
            f"chain host {host!r}: give this machine's address on the shared network (the URL other "
            "machines use is recorded and printed), not a wildcard"
        )
    if kind == "anvil":
        # --prune-history: without it a long-lived anvil spills every old state to ~/.foundry/anvil/tmp
        # and never removes it (it filled a 252 GB disk in a day of tests); see start_anvil.
        args = [str(anvil_binary()), "--host", host, "--port", str(port), "--gas-limit", "60000000",
                "--prune-history", str(PRUNED_HISTORY_STATES)]  # fmt: skip
    elif kind == "embedded":
        args = [sys.executable, "-m", "veilproof.chain.dev.serve", "--port", str(port)]
    else:
        raise ChainError(f"unknown chain kind {kind!r}: expected 'anvil' or 'embedded'")
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / f"chain-{kind}.log"
    offset = log_path.stat().st_size if log_path.exists() else 0
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    what = f"{kind} (log: {log_path})"
    try:
        # Wait for *our* process to say it listens (even on a fixed port): another process already on
        # that port would otherwise answer the readiness check while ours dies with "address in use".
        port = _listening_port(log_path, offset, proc, timeout, what)
        lc = LocalChain(kind, f"http://{host}:{port}", proc.pid)
        wait_for_rpc(lc.url, proc, timeout, what)
    except ChainError:
        proc.kill()
        raise
    _record(home).write_text(json.dumps(asdict(lc)))
    return lc


_LISTENING = re.compile(rb"Listening on [0-9a-fA-F.:\[\]]+:(\d+)")


def _listening_port(log: Path, offset: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log, "rb") as f:
            f.seek(offset)
            m = _LISTENING.search(f.read())
        if m:
            return int(m.group(1))
        if proc.poll() is not None:
            with open(log, "rb") as f:
                f.seek(offset)
                said = f.read().decode(errors="replace")
            if "in use" in said.lower():
                raise ChainError(
                    f"{what}: its port is already in use by another process: pick another --port (0: any free port)"
                )
            raise ChainError(f"{what} exited with code {proc.returncode} before listening")
        time.sleep(0.05)
    raise ChainError(f"{what} did not report its port within {timeout}s")


def stop_local_chain(home: Path) -> LocalChain | None:
    lc = read_local_chain(home)
    if lc:
        os.kill(lc.pid, signal.SIGTERM)
    _record(home).unlink(missing_ok=True)
    return lc
