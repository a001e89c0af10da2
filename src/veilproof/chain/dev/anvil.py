"""Start and stop a local anvil (a real EVM node) from the pinned npm package.

Why not require foundry on PATH: ``make`` installs ``@foundry-rs/anvil`` under tools/npm, which
ships the binary inside the npm package, so a fresh machine needs nothing else.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from veilproof.errors import ChainError, ConfigError

PRUNED_HISTORY_STATES = 256
"""States anvil keeps in memory: enough for any `eth_call` at a recent block."""

_REL = Path("tools/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def anvil_binary() -> Path:
    """``$VEILPROOF_ANVIL``, then the npm-installed binary in this checkout, then ``anvil`` on PATH."""
    env = os.environ.get("VEILPROOF_ANVIL")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        cand = parent / _REL
        if cand.is_file():
            return cand
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ConfigError("anvil not found: run `make setup` (installs @foundry-rs/anvil under tools/npm)")


def free_port() -> int:
    """A port that was free a moment ago. Racy by nature (anything may take it before the caller binds
    it): callers that start a server on it retry (see :func:`start_anvil`) or, better, bind port 0
    themselves and keep the socket (see ``node.runner``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AnvilProcess:
    port: int
    proc: subprocess.Popen[bytes]
    host: str = "127.0.0.1"
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_anvil(
    port: int | None = None,
    code_size_limit: int | None = None,
    timeout: float = 30.0,
    attempts: int = 5,
    *,
    host: str = "127.0.0.1",
    wrap: Sequence[str] = (),
) -> AnvilProcess:
    """Start anvil on ``host`` (loopback by default) and wait until it answers JSON-RPC.

    With no ``port``, a free one is picked; if anvil then exits (the port was taken between the pick
    and anvil's bind, e.g. by an outgoing connection's ephemeral port), it is retried on a new port.
    ``wrap`` prefixes the command (e.g. ``ip netns exec HOST`` to run it on another network host:
    then pass its ``host`` address and a ``port``, since a free port here says nothing about there).
    """
    tries = 1 if port else attempts
    for attempt in range(tries):
        node = _spawn_anvil(port or free_port(), code_size_limit, host, wrap)
        try:
            wait_for_rpc(node.url, node.proc, timeout, "anvil")
            return node
        except ChainError:
            node.stop()
            if attempt == tries - 1 or node.proc.returncode is None:
                raise
    raise AssertionError("unreachable")


def _spawn_anvil(port: int, code_size_limit: int | None, host: str, wrap: Sequence[str]) -> AnvilProcess:
    args = [
        *wrap,
        str(anvil_binary()),
        "--host",
        host,
        "--port",
        str(port),
        "--silent",
        "--gas-limit",
        "60000000",
        # Keep recent states in memory only. Without this anvil spills old states to
        # ~/.foundry/anvil/tmp and never removes them: measured 4-5 GB per test run, 65 GB
        # after one working day, until the disk filled.
        "--prune-history",
        str(PRUNED_HISTORY_STATES),
    ]
    if code_size_limit:
        args += ["--code-size-limit", str(code_size_limit)]
    return AnvilProcess(port, subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), host)


def wait_for_rpc(url: str, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    """Poll ``eth_chainId`` until the freshly started chain answers; fail fast if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip()[:500] if proc.stderr else ""
            raise ChainError(f"{what} exited with code {proc.returncode}: {err or 'see its log'}")
        try:
            r = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []})
            if r.status_code == 200 and "result" in r.json():
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)
    raise ChainError(f"{what} did not answer on {url} within {timeout}s (port in use?)")
