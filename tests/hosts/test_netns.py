"""The host fixture itself: hosts reach each other by address, a cut host is unreachable until
restored, and teardown leaves no namespace, link or process behind — even after a failure."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from netns import HostNetwork, netem_available

PROBE = (
    "import socket,sys; s=socket.socket(); s.settimeout(2); "
    "sys.exit(0 if s.connect_ex((sys.argv[1], int(sys.argv[2]))) == 0 else 1)"
)


def _reaches(hn: HostNetwork, role: str, ip: str, port: int) -> bool:
    return hn.run(role, [sys.executable, "-c", PROBE, ip, str(port)], timeout=30).returncode == 0


def test_hosts_reach_each_other_cut_and_restore(tmp_path: Path) -> None:
    hn = HostNetwork.create(["a", "b"], tmp_path)
    try:
        a, b = hn["a"], hn["b"]
        assert a.ip != b.ip and {a.ip, b.ip} <= {str(x) for x in hn.subnet.hosts()}
        srv = hn.popen(
            "a", [sys.executable, "-m", "http.server", "--bind", a.ip, "8080"], log=a.home / "srv.log"
        )
        t_end = time.monotonic() + 20
        while not _reaches(hn, "b", a.ip, 8080):
            assert time.monotonic() < t_end, "b never reached a"
        assert not _reaches(hn, "b", "127.0.0.1", 8080)  # a's server is not on b's loopback
        hn.cut("a")
        assert not _reaches(hn, "b", a.ip, 8080)
        hn.restore("a")
        t_end = time.monotonic() + 20
        while not _reaches(hn, "b", a.ip, 8080):
            assert time.monotonic() < t_end, "b did not reach a again after restore"
        assert srv.poll() is None
    finally:
        hn.close()
    assert hn.leftovers() == []
    assert srv.poll() is not None


def test_teardown_after_a_failure_kills_grandchildren_and_leaves_nothing(tmp_path: Path) -> None:
    hn = HostNetwork.create(["x"], tmp_path)
    # A shell whose child outlives it: only the namespace's pid list finds the child.
    hn.popen("x", ["sh", "-c", "sleep 3127 & exec sleep 3128"])
    t_end = time.monotonic() + 10
    while len(pids := _ns_pids(hn.hosts["x"].ns)) < 2:
        assert time.monotonic() < t_end, pids
        time.sleep(0.05)
    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("the test failed here")
        finally:
            hn.close()
    assert hn.leftovers() == []
    assert [p for p in pids if _alive(p)] == []


def _ns_pids(ns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"  # a zombie is dead, unreaped


def test_netem_latency_when_available(tmp_path: Path) -> None:
    """Latency on one host's link (``tc netem``), where the kernel has it: a connect to it then
    takes at least the added delay. Skipped here when sch_netem is missing (this CI's kernel)."""
    if not netem_available():
        pytest.skip("tc qdisc netem: 'Specified qdisc kind is unknown' (kernel without sch_netem)")
    hn = HostNetwork.create(["a", "b"], tmp_path)
    try:
        a = hn["a"]
        hn.popen("a", [sys.executable, "-m", "http.server", "--bind", a.ip, "8080"])
        t_end = time.monotonic() + 20
        while not _reaches(hn, "b", a.ip, 8080):
            assert time.monotonic() < t_end
        hn.netem("a", "delay", "300ms", "loss", "1%")
        t0 = time.monotonic()
        assert _reaches(hn, "b", a.ip, 8080)
        assert time.monotonic() - t0 >= 0.3
    finally:
        hn.close()
