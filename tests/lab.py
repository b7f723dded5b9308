"""Network-namespace labs for live tests: real hosts, real links, real tools, nothing leaves the box.

A :class:`Lab` creates namespaces with unique names (parallel runs never collide), joins them with
veth pairs addressed from 198.18.0.0/15 only, and removes everything on :meth:`close` (fixtures
call it in ``finally``). Offloads are turned off on every veth so captures look like real wire
traffic instead of 64 KB super-segments.

Typical topology (see :func:`routed`)::

    client 198.18.1.2/24 ── 198.18.1.1 router 198.18.2.1 ── 198.18.2.0/24: server1 .10, server2 .11 ...

The client gets routes to the lab prefixes only, never a default route.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

LAB_NET = "198.18.0.0/15"
_counter = itertools.count()


def available() -> str | None:
    """Why a lab cannot be built here (None when it can)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    if shutil.which("ip") is None:
        return "iproute2 not installed"
    return None


def sh(
    *argv: str, check: bool = True, timeout: float = 30, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), check=check, text=True, capture_output=True, timeout=timeout, input=input
    )


@dataclass
class Host:
    lab: Lab
    name: str  # logical name (client, router, server1)
    ns: str  # real namespace name (unique)
    addrs: list[str] = field(default_factory=list)

    def run(
        self, *argv: str, check: bool = True, timeout: float = 60, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", self.ns, *argv, check=check, timeout=timeout, input=input)

    def spawn(
        self, *argv: str, stdout: int | None = subprocess.DEVNULL, stderr: int | None = subprocess.DEVNULL
    ) -> subprocess.Popen[bytes]:
        """Start a daemon in this namespace; the lab kills it on close."""
        p = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, *argv],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.lab.procs.append(p)
        return p

    def cmd(self, *argv: str) -> list[str]:
        """argv prefixed to run in this namespace (for code under test that takes a command)."""
        return ["ip", "netns", "exec", self.ns, *argv]

    def iptables(self, *rule: str) -> None:
        self.run("iptables", "-w", *rule)

    @property
    def addr(self) -> str:
        return self.addrs[0].split("/")[0]


class Lab:
    def __init__(self, prefix: str = "nd") -> None:
        self.tag = f"{prefix}{os.getpid() % 10000}{next(_counter)}{uuid.uuid4().hex[:3]}"
        self.hosts: dict[str, Host] = {}
        self.procs: list[subprocess.Popen[bytes]] = []
        self._links = itertools.count()
        self.tmp: list[Path] = []

    # --- building -------------------------------------------------------------------------

    def host(self, name: str, *, forward: bool = False) -> Host:
        ns = f"{self.tag}-{name}"[:48]
        sh("ip", "netns", "add", ns)
        h = Host(self, name, ns)
        self.hosts[name] = h
        h.run("ip", "link", "set", "lo", "up")
        if forward:
            h.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
            h.run("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        return h

    def link(self, a: Host, a_addr: str, b: Host, b_addr: str, *, mtu: int | None = None) -> tuple[str, str]:
        """A veth pair between two hosts; returns the interface names (in a, in b)."""
        n = next(self._links)
        ia, ib = f"v{n}{a.name[:6]}", f"v{n}{b.name[:6]}"
        tmp_a, tmp_b = f"{self.tag[:8]}a{n}", f"{self.tag[:8]}b{n}"
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", a.ns)
        sh("ip", "link", "set", tmp_b, "netns", b.ns)
        for host, tmp, name, addr in ((a, tmp_a, ia, a_addr), (b, tmp_b, ib, b_addr)):
            host.run("ip", "link", "set", tmp, "name", name)
            if mtu:
                host.run("ip", "link", "set", name, "mtu", str(mtu))
            if addr:
                host.run("ip", "addr", "add", addr, "dev", name)
                host.addrs.append(addr)
            host.run("ip", "link", "set", name, "up")
            host.run("ethtool", "-K", name, "tso", "off", "gso", "off", "gro", "off", check=False)
        return ia, ib

    def bridge(self, on: Host, name: str, addr: str) -> str:
        """A bridge inside ``on`` that several hosts can be attached to with :meth:`attach`."""
        on.run("ip", "link", "add", name, "type", "bridge")
        on.run("ip", "addr", "add", addr, "dev", name)
        on.run("ip", "link", "set", name, "up")
        on.addrs.append(addr)
        return name

    def attach(self, host: Host, addr: str, on: Host, bridge: str, *, mtu: int | None = None) -> str:
        n = next(self._links)
        inner, outer = f"v{n}{host.name[:6]}", f"b{n}{host.name[:6]}"
        tmp_a, tmp_b = f"{self.tag[:8]}a{n}", f"{self.tag[:8]}b{n}"
        sh("ip", "link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        sh("ip", "link", "set", tmp_a, "netns", host.ns)
        sh("ip", "link", "set", tmp_b, "netns", on.ns)
        host.run("ip", "link", "set", tmp_a, "name", inner)
        on.run("ip", "link", "set", tmp_b, "name", outer)
        if mtu:
            host.run("ip", "link", "set", inner, "mtu", str(mtu))
            on.run("ip", "link", "set", outer, "mtu", str(mtu))
        host.run("ip", "addr", "add", addr, "dev", inner)
        host.addrs.append(addr)
        on.run("ip", "link", "set", outer, "master", bridge)
        for h, i in ((host, inner), (on, outer)):
            h.run("ip", "link", "set", i, "up")
            h.run("ethtool", "-K", i, "tso", "off", "gso", "off", "gro", "off", check=False)
        return inner

    def route(self, host: Host, prefix: str, via: str) -> None:
        host.run("ip", "route", "add", prefix, "via", via)

    # --- teardown -------------------------------------------------------------------------

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 3
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        for h in self.hosts.values():
            # anything else still running in the namespace (daemons that forked) goes too
            pids = sh("ip", "netns", "pids", h.ns, check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", h.ns, check=False)
        for t in self.tmp:
            shutil.rmtree(t, ignore_errors=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def routed(
    lab: Lab, servers: Sequence[str] = ("server1", "server2"), *, mtu_server_link: int | None = None
) -> dict[str, Host]:
    """client ── router ── servers on one switched segment (a bridge inside the router).

    client 198.18.1.2/24, router 198.18.1.1 and 198.18.2.1, servers 198.18.2.10, .11, ...
    """
    client = lab.host("client")
    router = lab.host("router", forward=True)
    lab.link(client, "198.18.1.2/24", router, "198.18.1.1/24")
    br = lab.bridge(router, "br0", "198.18.2.1/24")
    hosts = {"client": client, "router": router}
    for i, name in enumerate(servers):
        s = lab.host(name)
        lab.attach(s, f"198.18.2.{10 + i}/24", router, br, mtu=mtu_server_link)
        lab.route(s, "198.18.1.0/24", "198.18.2.1")
        hosts[name] = s
    lab.route(client, "198.18.2.0/24", "198.18.1.1")
    return hosts


def quote(argv: Sequence[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
