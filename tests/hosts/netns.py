"""Hosts on one machine: Linux network namespaces on a private bridge, one IP each.

Why: everything else in the suite talks over 127.0.0.1, which cannot show that a node's announced
URL, peer artifact fetches, clients and validators work across machines, nor what a dropped link
does mid-job. Each :class:`Host` here is a namespace with its own address on a /24 behind a bridge;
the test process itself sits on the bridge (``.1``), like an operator's console on the LAN.

Names carry the pid (namespaces ``vp<pid>-<role>``, links ``vp<pid>-b`` / ``vp<pid>-h<i>``) so parallel
runs never collide; the subnet ``10.213.<random>.0/24`` is checked unused before it is taken.
:meth:`HostNetwork.close` kills every process left in the namespaces, deletes links, bridge and
namespaces, and raises if anything of this run is still there: a test that fails leaves nothing.

A partition is the host's bridge port going down (:meth:`HostNetwork.cut`): its packets are dropped,
exactly as an unplugged cable; :meth:`HostNetwork.restore` plugs it back.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path


class NetnsUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, or no ``ip netns``)."""


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can (probed, not guessed)."""
    if os.geteuid() != 0:
        return "network namespaces need root (run the suite as root, as CI does)"
    if shutil.which("ip") is None:
        return "`ip` (iproute2) is not installed: apt-get install iproute2"
    probe = f"vp{os.getpid()}-probe"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        return f"`ip netns add` failed: {r.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def netem_available() -> bool:
    """Whether ``tc qdisc ... netem`` (delay/loss) works in a namespace here."""
    if shutil.which("tc") is None:
        return False
    probe = f"vp{os.getpid()}-tc"
    subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=True)
    try:
        r = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                probe,
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                "1ms",
            ],
            capture_output=True,
        )
        return r.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise NetnsUnavailable(f"ip {' '.join(args)}: {r.stderr.strip()}")


def _used_24s() -> set[str]:
    """The 10.213.x.0/24 networks any interface or route on this machine already touches."""
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    out += subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
    used = set()
    for word in out.split():
        with contextlib.suppress(ValueError):
            net = ipaddress.ip_network(word, strict=False)
            if net.version == 4:
                used.add(str(ipaddress.ip_network(f"{net.network_address}/24", strict=False)))
    return used


@dataclass
class Host:
    """One machine: a namespace, its address on the bridge, its own home directory."""

    role: str
    ns: str
    ip: str
    veth: str  # the bridge-side end (what cut/restore turn off and on)
    home: Path

    def url(self, port: int) -> str:
        return f"http://{self.ip}:{port}"


@dataclass
class HostNetwork:
    root: Path
    subnet: ipaddress.IPv4Network
    bridge: str
    bridge_ip: str
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    prefix: str = ""

    @classmethod
    def create(cls, roles: list[str], root: Path) -> HostNetwork:
        """Namespaces for ``roles`` on a fresh bridge; torn down again if any step fails."""
        why = unavailable_reason()
        if why:
            raise NetnsUnavailable(why)
        pid = os.getpid()
        used = _used_24s()
        free = [f"10.213.{x}.0/24" for x in range(1, 255) if f"10.213.{x}.0/24" not in used]
        if not free:
            raise NetnsUnavailable("no free 10.213.x.0/24 subnet on this machine")
        subnet = ipaddress.IPv4Network(random.choice(free))
        addrs = list(subnet.hosts())
        net = cls(root, subnet, f"vp{pid}-b", str(addrs[0]), prefix=f"vp{pid}-")
        try:
            _ip("link", "add", net.bridge, "type", "bridge")
            _ip("addr", "add", f"{net.bridge_ip}/24", "dev", net.bridge)
            _ip("link", "set", net.bridge, "up")
            net._firewall("-I")
            for i, role in enumerate(roles):
                net._add_host(role, i, str(addrs[i + 1]))
        except BaseException:
            net.close(check=False)
            raise
        return net

    def _firewall(self, op: str) -> None:
        """Accept traffic across our bridge (``-I``) or drop that rule again (``-D``).

        Bridged frames pass iptables' FORWARD chain when br_netfilter is loaded; a machine whose
        FORWARD policy is DROP (e.g. one running Docker) would otherwise silently cut every host
        off from every other. No iptables (as here): nothing to do.
        """
        if shutil.which("iptables") is None:
            return
        rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        subprocess.run(["iptables", op, *rule], capture_output=True)

    def _add_host(self, role: str, i: int, ip: str) -> None:
        ns, veth, peer = f"{self.prefix}{role}", f"{self.prefix}h{i}", f"{self.prefix}n{i}"
        home = self.root / role
        home.mkdir(parents=True, exist_ok=True)
        _ip("netns", "add", ns)
        self.hosts[role] = Host(role, ns, ip, veth, home)
        _ip("link", "add", veth, "type", "veth", "peer", "name", peer)
        _ip("link", "set", peer, "netns", ns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "addr", "add", f"{ip}/24", "dev", peer)
        _ip("-n", ns, "link", "set", peer, "up")

    def __getitem__(self, role: str) -> Host:
        return self.hosts[role]

    # --- processes -----------------------------------------------------------------------------
    def popen(
        self, role: str, argv: list[str], log: Path | None = None, **kw: object
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` inside ``role``'s namespace (``ip netns exec`` execs it: the pid is the process's)."""
        h = self.hosts[role]
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
        p = subprocess.Popen(["ip", "netns", "exec", h.ns, *argv], stdout=out, stderr=subprocess.STDOUT, **kw)  # type: ignore[call-overload]
        self.procs.append(p)
        return p

    def run(self, role: str, argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` to completion inside ``role``'s namespace; stdout/stderr captured as text."""
        h = self.hosts[role]
        return subprocess.run(
            ["ip", "netns", "exec", h.ns, *argv], capture_output=True, text=True, timeout=timeout
        )

    # --- partitions ----------------------------------------------------------------------------
    def cut(self, role: str) -> None:
        """Unplug ``role``: its bridge port goes down, every packet to or from it is dropped."""
        _ip("link", "set", self.hosts[role].veth, "down")

    def restore(self, role: str) -> None:
        _ip("link", "set", self.hosts[role].veth, "up")

    def netem(self, role: str, *spec: str) -> None:
        """``tc netem`` on ``role``'s interface (e.g. ``"delay", "100ms", "loss", "5%"``), where the
        kernel has it (:func:`netem_available`)."""
        h = self.hosts[role]
        peer = h.veth.replace(f"{self.prefix}h", f"{self.prefix}n")
        r = subprocess.run(["ip", "netns", "exec", h.ns, "tc", "qdisc", "replace", "dev", peer, "root", "netem", *spec],
                           capture_output=True, text=True)  # fmt: skip
        if r.returncode != 0:
            raise NetnsUnavailable(f"tc netem on {role}: {r.stderr.strip()}")

    # --- teardown ------------------------------------------------------------------------------
    def leftovers(self) -> list[str]:
        """Namespaces and links of this run still present (empty after :meth:`close`)."""
        left = [n.split()[0] for n in _lines(["ip", "netns", "list"]) if n.startswith(self.prefix)]
        for line in _lines(["ip", "-o", "link"]):
            name = line.split(":")[1].strip().split("@")[0] if ":" in line else ""
            if name.startswith(self.prefix):
                left.append(name)
        return left

    def close(self, check: bool = True) -> None:
        """Kill every process in the namespaces, delete links, bridge and namespaces; with
        ``check``, raise if anything of this run is left."""
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        t_end = time.monotonic() + 10
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=max(0.1, t_end - time.monotonic()))
        stray: list[int] = []
        for h in self.hosts.values():
            # Anything still inside (a grandchild such as a prover process): SIGKILL it.
            for pid in _lines(["ip", "netns", "pids", h.ns]):
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
                    stray.append(int(pid))
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        for h in self.hosts.values():
            subprocess.run(["ip", "link", "del", h.veth], capture_output=True)  # takes its peer along
            for _ in range(50):  # a SIGKILLed process leaves the namespace a moment later
                if not _lines(["ip", "netns", "pids", h.ns]):
                    break
                time.sleep(0.1)
            subprocess.run(["ip", "netns", "del", h.ns], capture_output=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self._firewall("-D")
        # Namespaces never added to self.hosts (a failure inside _add_host) are found by prefix.
        for name in self.leftovers():
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
            subprocess.run(["ip", "link", "del", name], capture_output=True)
        if check:
            left = self.leftovers()
            assert not left, f"teardown left namespaces/links behind: {left}"
            alive = [p.pid for p in self.procs if p.poll() is None]
            assert not alive, f"teardown left processes behind: {alive}"


def _lines(argv: list[str]) -> list[str]:
    r = subprocess.run(argv, capture_output=True, text=True)
    return [x for x in r.stdout.splitlines() if x.strip()]
