"""netstate against a real network-namespace lab: every scenario of the notebook, live.

    client 198.18.1.2 ── router 198.18.1.1 | br0 198.18.2.1 (MTU 1400) ── server1 198.18.2.10 (MTU 1400)

router: blackhole 198.18.99.0/24, route via a gateway that never answers ARP (198.18.2.98),
a neighbour probed just before collection (INCOMPLETE), FORWARD DROP for tcp/9001 (hits from the
client's probes) and a random 5 % drop of tcp/5202 (a lossy long-lived flow), a tbf of 20 Mbit/s
towards server1, a service on 127.0.0.1 only. server1: iperf3 on 5201 and 5202, nothing on 9000.
client: a service on 127.0.0.1:8080 only, no default route.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from lab import Host, Lab, routed
from ndtestkit import netdebug_cmd

pytestmark = pytest.mark.lab


def wait_listen(host: Host, port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if f":{port} " in host.run("ss", "-ltnH").stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port} in {host.name}")


def build(lab: Lab) -> dict[str, Host]:
    """The scenario hosts; also used by tests/netstate/record_snapshot.py for the demo snapshot."""
    hosts = routed(lab, servers=("server1",), mtu_server_link=1400)
    client, router, server = hosts["client"], hosts["router"], hosts["server1"]
    router.run("ip", "route", "add", "blackhole", "198.18.99.0/24")
    router.run("ip", "route", "add", "198.18.50.0/24", "via", "198.18.2.98")
    router.iptables("-A", "FORWARD", "-p", "tcp", "--dport", "9001", "-j", "DROP")
    router.iptables("-A", "FORWARD", "-p", "tcp", "--dport", "5202", "-m", "statistic", "--mode", "random",
                    "--probability", "0.05", "-j", "DROP")  # fmt: skip
    port = router.run("ip", "-o", "link", "show", "master", "br0").stdout.split(":")[1].strip().split("@")[0]
    router.run(
        "tc",
        "qdisc",
        "add",
        "dev",
        port,
        "root",
        "tbf",
        "rate",
        "20mbit",
        "burst",
        "32kbit",
        "latency",
        "50ms",
    )
    router.spawn("python3", "-m", "http.server", "-b", "127.0.0.1", "9090")
    client.spawn("python3", "-m", "http.server", "-b", "127.0.0.1", "8080")
    server.spawn("iperf3", "-s", "-p", "5201")
    server.spawn("iperf3", "-s", "-p", "5202")
    for h, p in ((router, 9090), (client, 8080), (server, 5201), (server, 5202)):
        wait_listen(h, p)
    # the dead gateway: ARP for it fails (FAILED after ~3 s)
    router.run("ping", "-c", "1", "-W", "1", "198.18.50.1", check=False)
    return hosts


def lossy_flow(client: Host, seconds: int = 60) -> subprocess.Popen[bytes]:
    """A long-lived TCP flow through the router's 5 % random drop (tcp.high_retrans)."""
    return client.spawn("iperf3", "-c", "198.18.2.10", "-p", "5202", "-t", str(seconds), "-b", "3M")


def incomplete_now(router: Host) -> None:
    """An ARP request still in flight at collection time: 60 solicitations keep it INCOMPLETE for a minute."""
    router.run("sysctl", "-qw", "net.ipv4.neigh.br0.mcast_solicit=60")
    router.spawn("ping", "-c", "1", "-W", "60", "198.18.2.99")
    time.sleep(0.3)


def run_netstate(host: Host, out: Path, *params: str) -> dict[str, object]:
    p = host.run(*netdebug_cmd(), "run", "netstate", "--out", str(out), *params, check=False, timeout=240)
    fj = out / "netstate" / "findings.json"
    assert fj.is_file(), p.stderr
    doc = json.loads(fj.read_text())
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-2000:], doc)
    return doc


def ids(doc: dict[str, object]) -> dict[str, dict[str, object]]:
    return {f["id"]: f for f in doc["findings"]}  # type: ignore[index, attr-defined]


def test_netstate_lab_client_and_router(lab: Lab, tmp_path: Path) -> None:
    hosts = build(lab)
    client, router = hosts["client"], hosts["router"]
    lossy_flow(client)
    time.sleep(6)  # enough segments for the retransmission ratio
    doc = run_netstate(
        client, tmp_path / "client",
        "-p", "targets", "198.18.2.10,198.18.1.2,198.18.200.1,198.18.1.9",
        "-p", "ports", "5201,9000,9001,8080,udp/9002",
        "-p", "iperf_server", "198.18.2.10", "-p", "iperf_seconds", "2", "-p", "iperf_udp_rate", "40M",
        "-p", "save_snapshot", str(tmp_path / "client-snap"),
    )  # fmt: skip
    got = ids(doc)
    for fid in ("port.closed", "port.filtered", "socket.listen_loopback_only", "route.missing_default",
                "route.no_route", "throughput.low", "throughput.udp_loss", "tcp.high_retrans"):  # fmt: skip
        assert fid in got, (fid, sorted(got))
    closed = {
        (p["target"], p["port"], p["proto"]): p["reason"] for p in got["port.closed"]["evidence"]["ports"]
    }
    assert ("198.18.2.10", 9000, "tcp") in closed and "RST" in closed[("198.18.2.10", 9000, "tcp")]
    assert ("198.18.2.10", 9002, "udp") in closed and "port unreachable" in closed[
        ("198.18.2.10", 9002, "udp")
    ]
    assert ("198.18.1.2", 8080, "tcp") in closed
    ports = [p for f in ("port.closed", "port.filtered") for p in got[f]["evidence"]["ports"]]
    assert {p["method"] for p in ports if p["target"] == "198.18.2.10"} == {
        "nmap"
    }  # root: nmap for TCP and UDP
    filtered = {(p["target"], p["port"]): p["reason"] for p in got["port.filtered"]["evidence"]["ports"]}
    assert filtered[("198.18.2.10", 9001)] == "no answer"
    assert ("198.18.2.10", 5201) not in filtered and ("198.18.2.10", 5201, "tcp") not in closed
    assert got["socket.listen_loopback_only"]["severity"] == "warning"
    assert got["socket.listen_loopback_only"]["evidence"]["probed_ports_on_loopback_only"] == [8080]
    assert [t["target"] for t in got["route.no_route"]["evidence"]["targets"]] == ["198.18.200.1"]
    # 198.18.1.9 is on the client's link but no host has it: not "filtered", nobody answers ARP
    assert not any(p["target"] == "198.18.1.9" for p in ports), ports
    absent = got.get("neigh.incomplete") or got["neigh.failed"]
    assert absent["severity"] == "critical"
    assert [(t["target"], t["on_link"]) for t in absent["evidence"]["targets"]] == [("198.18.1.9", True)]
    assert absent["evidence"]["targets"][0]["dev"] == "v0client"
    assert "no ARP reply for 198.18.1.9 on v0client" in absent["title"]
    assert (tmp_path / "client-snap" / "ip-route.json").is_file()

    incomplete_now(router)
    doc = run_netstate(router, tmp_path / "router")
    got = ids(doc)
    for fid in ("route.blackhole", "neigh.incomplete", "neigh.failed", "iface.mtu_mismatch", "firewall.drop_hits",
                "socket.listen_loopback_only", "netstate.state_only"):  # fmt: skip
        assert fid in got, (fid, sorted(got))
    assert "route.missing_default" in got
    assert "198.18.99.0/24" in got["route.blackhole"]["detail"]
    failed = got["neigh.failed"]
    assert failed["severity"] == "critical" and failed["evidence"]["gateways"] == ["198.18.2.98"]
    assert any(n["dst"] == "198.18.2.99" for n in got["neigh.incomplete"]["evidence"]["neighbours"])
    assert set(got["iface.mtu_mismatch"]["evidence"]["mtus"]) == {"1400", "1500"}
    drops = got["firewall.drop_hits"]["evidence"]["rules"]
    assert any("9001" in r["rule"] and r["packets"] >= 1 and r["chain"] == "FORWARD" for r in drops), drops
