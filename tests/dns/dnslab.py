"""A cluster-DNS lab (used by the ``dnslab`` fixture in conftest.py): real dnsmasq servers in network namespaces, and a client to trace from.

    client 198.18.1.2 ── router ── dns1 198.18.2.10  healthy "CoreDNS" replica
                                 ├ dns2 198.18.2.11  broken replica: other answer for web, no TCP
                                 ├ dns3 198.18.2.12  healthy data, but 60 % of UDP queries dropped
                                 └ auth 198.18.2.13  tiny authoritative servers: root .20, tld .21, zone .22,
                                                     and .23: a slow replica (forwards to dns1, +300 ms)

Every server serves the same ``*.svc.cluster.local`` data (except dns2's web answer) and is
authoritative-local for cluster.local, ec2.internal and example.com, so search-suffix
candidates get NXDOMAIN like they do from CoreDNS. ``big.default.svc.cluster.local`` has 60 A
records: more than 512 bytes, so UDP answers are truncated.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab import Host, Lab, routed

HERE = Path(__file__).resolve().parent
AUTHSERVER = HERE.parents[0] / "fixtures" / "dns" / "authserver.py"
WEB, WEB_BROKEN, API = "198.18.5.10", "198.18.5.99", "198.18.5.20"
ROOT, TLD, ZONE, SLOW = "198.18.2.20", "198.18.2.21", "198.18.2.22", "198.18.2.23"
DNS1, DNS2, DNS3 = "198.18.2.10", "198.18.2.11", "198.18.2.12"
SLOW_DELAY_MS = 300


@dataclass
class DnsLab:
    lab: Lab
    client: Host
    servers: dict[str, Host]
    tmp: Path

    def resolv_conf(self, name: str, text: str) -> Path:
        p = self.tmp / name
        p.write_text(text)
        return p

    def python(self, code: str, timeout: float = 120) -> Any:
        """Run ``code`` (which prints one JSON document) inside the client namespace."""
        done = self.client.run(sys.executable, "-c", code, timeout=timeout)
        return json.loads(done.stdout.strip().splitlines()[-1])


def dnsmasq(host: Host, addr: str, tmp: Path, *, web: str = WEB) -> None:
    big = tmp / f"big-{host.name}.hosts"
    big.write_text("".join(f"198.18.6.{i} big.default.svc.cluster.local\n" for i in range(1, 61)))
    argv = [
        "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
        f"--listen-address={addr}", "--bind-interfaces", "--user=root", "--group=root",
        "--local=/cluster.local/", "--local=/ec2.internal/", "--local=/example.com/",
        f"--host-record=web.default.svc.cluster.local,{web}",
        "--host-record=db.default.svc.cluster.local,198.18.5.11",
        f"--host-record=api.example.com,{API}",
        f"--addn-hosts={big}", "--log-queries", "--log-facility=-",
        f"--server=/fail.example.com/{ROOT}",  # a broken upstream zone: SERVFAIL
    ]  # fmt: skip
    host.spawn(*argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_udp(client: Host, server: str, name: str = "web.default.svc.cluster.local") -> None:
    for _ in range(50):
        done = client.run("dig", f"@{server}", "+time=1", "+tries=1", "+short", name, check=False)
        if done.returncode == 0 and done.stdout.strip():
            return
        time.sleep(0.1)
    raise RuntimeError(f"DNS server {server} did not come up")


def build(tmp: Path) -> DnsLab:
    """Start every server; the caller closes ``result.lab``."""
    lab = Lab("dn")
    try:
        hosts = routed(lab, servers=("dns1", "dns2", "dns3", "auth"))
        tmp.chmod(0o755)
        dnsmasq(hosts["dns1"], "198.18.2.10", tmp)
        dnsmasq(hosts["dns2"], "198.18.2.11", tmp, web=WEB_BROKEN)
        dnsmasq(hosts["dns3"], "198.18.2.12", tmp)
        auth = hosts["auth"]
        iface = next(
            ln.split()[0].split("@")[0]
            for ln in auth.run("ip", "-br", "-4", "addr").stdout.splitlines()
            if "198.18.2.13/" in ln
        )
        for a in (ROOT, TLD, ZONE, SLOW):
            auth.run("ip", "addr", "add", f"{a}/24", "dev", iface)
        auth.spawn(sys.executable, str(AUTHSERVER), ROOT, TLD, ZONE, SLOW, DNS1, str(SLOW_DELAY_MS))
        for s in (DNS1, DNS2, DNS3, ZONE, SLOW):
            wait_udp(hosts["client"], s, "web.default.svc.cluster.local" if s != ZONE else "www.lab.test")
        # the broken replica refuses TCP (truncated answers cannot be completed there)
        hosts["dns2"].iptables(
            "-A", "INPUT", "-p", "tcp", "--dport", "53", "-j", "REJECT", "--reject-with", "tcp-reset"
        )
        # the lossy replica drops 60 % of its UDP queries on arrival
        hosts["dns3"].iptables(
            "-A", "INPUT", "-p", "udp", "--dport", "53", "-m", "statistic", "--mode", "random", "--probability", "0.6", "-j", "DROP"
        )  # fmt: skip
    except BaseException:
        lab.close()
        raise
    return DnsLab(lab, hosts["client"], hosts, tmp)
