"""The SuperLink's free ports can be taken by another process between the moment they are found and
the moment Flower binds them (CI: "Port ... already in use", while the other process's listening
socket made the wait for the port succeed and the run failed later with "SuperLink unavailable").
The fault is injected by handing out a port this test listens on; the SuperLink is real."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from veilproof.fl import runtime
from veilproof.fl.runtime import FlowerCluster, FlowerRuntimeError


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_superlink_whose_port_was_taken_starts_again_on_fresh_ports(
    tmp_path: Path, taken: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runtime.free_port
    handed = iter([taken])
    monkeypatch.setattr(runtime, "free_port", lambda: next(handed, None) or real())
    with FlowerCluster(tmp_path / "job") as cluster:
        cluster.start_superlink()
        assert cluster.control != taken
        assert cluster.procs["superlink"].poll() is None
        log = (tmp_path / "job" / "logs" / "superlink.log").read_text()
        assert "already in use" not in log and "Starting Flower SuperExec" in log


def test_a_taken_port_the_caller_chose_is_a_clear_error(tmp_path: Path, taken: int) -> None:
    with FlowerCluster(tmp_path / "job") as cluster, pytest.raises(FlowerRuntimeError, match="taken"):
        cluster.start_superlink(control_port=taken, fleet_port=runtime.free_port())
