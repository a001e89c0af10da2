"""Flower's deployment runtime on 127.0.0.1: a SuperLink, SuperNodes and ``flwr run``, each its own process.

Why the deployment runtime and not ``run_simulation``: the issue's point is that each client is a separate
process holding only its shard. ``flower-superlink`` runs the ServerApp in a child process
(``--isolation subprocess``), every ``flower-supernode`` runs the ClientApp in its own child, and
``flwr run`` ships a Flower App Bundle whose components are this package's modules (the bundle holds only the
pyproject; the code is imported from the installed veilproof). Ports are picked free at start; logs go to
``<job_dir>/logs``. Everything started here is stopped by process group, only what this object started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from veilproof.errors import ConfigError, VeilproofError
from veilproof.fl.sign import UpdateDomain

BIN = Path(sys.executable).parent


class FlowerRuntimeError(VeilproofError):
    """A Flower process failed to start or the run did not finish; the message names its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


APP_PYPROJECT = """[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "veilproof-fl"
version = "1.0.0"
description = "veilproof federated training job (components live in the installed veilproof package)"
dependencies = ["flwr==1.31.0"]

[tool.flwr.app]
publisher = "veilproof"

[tool.flwr.app.components]
serverapp = "veilproof.fl.server_app:app"
clientapp = "veilproof.fl.client_app:app"

[tool.flwr.app.config]
num-rounds = 3
min-nodes = 2
round-timeout = 60.0
epochs = 20
seed = 7
job-dir = ""
chain-id = 0
market = ""
job-id = 0
noise-multiplier = 0.0
clipping-norm = 0.0
"""


@dataclass
class ClientSpec:
    """One SuperNode: the joined address, the hex private key it signs its updates with, how it behaves."""

    address: str
    key: str
    behavior: str = "honest"
    delay: float = 0.0


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["FLWR_HOME"] = str(home)
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")  # Flower spawns flower-superexec by name
    env.setdefault("GRPC_VERBOSITY", "ERROR")
    return env


@dataclass
class FlowerCluster:
    """One SuperLink and its SuperNodes for one training job, rooted at ``job_dir``."""

    job_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    control: int = 0
    fleet: int = 0

    def __post_init__(self) -> None:
        self.job_dir = Path(self.job_dir).resolve()
        (self.job_dir / "logs").mkdir(parents=True, exist_ok=True)
        self.home = self.job_dir / "flwr-home"
        self.home.mkdir(exist_ok=True)

    def _spawn(self, name: str, argv: list[str], home: Path | None = None) -> subprocess.Popen[bytes]:
        log = open(self.job_dir / "logs" / f"{name}.log", "wb")  # noqa: SIM115 (the child owns it)
        p = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, env=_env(home or self.home), start_new_session=True
        )
        self.procs[name] = p
        return p

    def start_superlink(self, fleet_port: int = 0, control_port: int = 0) -> None:
        """Start the SuperLink (ports 0: free ones); clients connect to ``127.0.0.1:<self.fleet>``.

        Free ports are found by binding and releasing them, so another process may take one before
        the SuperLink binds it (seen in CI: "Port ... already in use" while the thief's listening socket
        made the wait for the control port succeed). The SuperLink is started again on fresh ports, up
        to three times, when its log says a port was taken."""
        log = self.job_dir / "logs" / "superlink.log"
        for attempt in range(1, 4):
            self.control, self.fleet = control_port or free_port(), fleet_port or free_port()
            p = self._spawn(
                "superlink",
                [
                    str(BIN / "flower-superlink"),
                    "--insecure",
                    "--isolation=subprocess",
                    f"--control-api-address=127.0.0.1:{self.control}",
                    f"--fleet-api-address=127.0.0.1:{self.fleet}",
                    f"--serverappio-api-address=127.0.0.1:{free_port()}",
                    f"--health-server-address=127.0.0.1:{free_port()}",
                    f"--database={self.job_dir / 'superlink.db'}",
                ],
            )
            _wait_port(self.control, 60, log)
            if not _port_taken(p, log, 60):
                break
            _kill(p)
            if attempt == 3 or (fleet_port and control_port):
                raise FlowerRuntimeError(f"the SuperLink's ports were taken ({attempt} starts): see {log}")
        (self.home / "config.toml").write_text(
            f'[superlink]\ndefault = "vp"\n\n[superlink.vp]\naddress = "127.0.0.1:{self.control}"\ninsecure = true\n'
        )

    def start_client(
        self, index: int, count: int, spec: ClientSpec, superlink: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start client ``index``'s SuperNode against ``superlink`` (host:port; default: ours)."""
        if not self.fleet and not superlink:
            raise ConfigError("start the SuperLink before its SuperNodes, or give its fleet address")
        home = self.job_dir / f"node-{index}"
        home.mkdir(exist_ok=True)
        key_file = home / "update-key"  # the ClientApp signs its updates with it (never sent anywhere)
        key_file.touch(mode=0o600)
        key_file.write_text(spec.key)
        node_config = (
            f'partition-id={index} num-partitions={count} address="{spec.address}" '
            f'behavior="{spec.behavior}" delay={float(spec.delay)} key-file="{key_file}"'
        )
        return self._spawn(
            f"supernode-{index}",
            [
                str(BIN / "flower-supernode"),
                "--insecure",
                f"--superlink={superlink or f'127.0.0.1:{self.fleet}'}",
                f"--clientappio-api-address=127.0.0.1:{free_port()}",
                f"--health-server-address=127.0.0.1:{free_port()}",
                "--node-config",
                node_config,
            ],
            home,
        )

    def submit(
        self,
        *,
        rounds: int,
        min_nodes: int,
        domain: UpdateDomain,
        round_timeout: float = 60.0,
        epochs: int = 20,
        dp: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        """``flwr run`` the app against this SuperLink (returns once the run is accepted); ``domain`` is
        what the clients sign their updates under (sent to them with every round's config)."""
        app = self.job_dir / "app"
        app.mkdir(exist_ok=True)
        (app / "pyproject.toml").write_text(APP_PYPROJECT)
        cfg = (
            f"num-rounds={rounds} min-nodes={min_nodes} round-timeout={float(round_timeout)} "
            f'epochs={epochs} job-dir="{self.job_dir}" chain-id={domain.chain_id} '
            f'market="{domain.market}" job-id={domain.job_id} '
            f"noise-multiplier={float(dp[0])} clipping-norm={float(dp[1])}"
        )
        r = subprocess.run(
            [str(BIN / "flwr"), "run", str(app), "vp", "--run-config", cfg],
            env=_env(self.home),
            capture_output=True,
            timeout=120,
        )
        (self.job_dir / "logs" / "flwr-run.log").write_bytes(r.stdout + r.stderr)
        if r.returncode != 0:
            raise FlowerRuntimeError(
                f"flwr run failed (exit {r.returncode}): see {self.job_dir}/logs/flwr-run.log"
            )

    def kill(self, name: str) -> None:
        """SIGKILL one process group this cluster started (a crashed client, in the tests)."""
        p = self.procs[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)

    def stop(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        deadline = time.monotonic() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(5)

    def __enter__(self) -> FlowerCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_taken(p: subprocess.Popen[bytes], log: Path, timeout: float) -> bool:
    """Whether the SuperLink found one of its ports taken: its log says so before it starts SuperExec
    (the last line of a start), or it ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if "already in use" in text or p.poll() is not None:
            return True
        if "Starting Flower SuperExec" in text:
            return False
        time.sleep(0.1)
    raise FlowerRuntimeError(f"the SuperLink did not finish starting in {timeout:.0f} s: see {log}")


def _kill(p: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)


def _wait_port(port: int, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise FlowerRuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f} s: see {log}")


def wait_rounds(job_dir: Path, rounds: int, timeout: float) -> None:
    from veilproof.fl.commit import round_path

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if round_path(job_dir, rounds).is_file():
            return
        time.sleep(0.3)
    raise FlowerRuntimeError(f"round {rounds} not written after {timeout:.0f} s: see {job_dir}/logs")
