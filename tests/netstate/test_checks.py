from __future__ import annotations

import json
import shutil
from pathlib import Path

from netdebug_nb import schema
from netdebug_nb.netstate import checks, conntrack, reachability, routes, snapshot, state, throughput
from netdebug_nb.netstate.snapshot import Note

TH = checks.Thresholds()


def ids(found: list[checks.Finding]) -> dict[str, checks.Finding]:
    return {f.id: f for f in found}


def router(fixtures: Path) -> state.State:
    return state.build(snapshot.read(fixtures / "netstate/router"))


def test_router_state_findings(fixtures: Path) -> None:
    got = ids(checks.state(router(fixtures), TH))
    assert set(got) == {"route.missing_default", "route.blackhole", "neigh.incomplete", "neigh.failed",
                        "iface.mtu_mismatch", "firewall.drop_hits"}  # fmt: skip
    assert got["neigh.failed"].severity == "critical" and got["neigh.failed"].evidence["gateways"] == [
        "198.18.2.98"
    ]
    assert (
        "198.18.2.99 on br0" in got["neigh.incomplete"].detail
        and got["neigh.incomplete"].severity == "warning"
    )
    assert got["iface.mtu_mismatch"].evidence["mtus"]["1500"] == ["v0router"]
    assert "br0" in got["iface.mtu_mismatch"].evidence["mtus"]["1400"]
    assert any("9001" in r["rule"] for r in got["firewall.drop_hits"].evidence["rules"])
    json.dumps([f.to_dict() for f in got.values()])


def test_loopback_listener_info_then_warning_when_probed(fixtures: Path) -> None:
    st = router(fixtures)
    (f,) = checks.socket_findings(st, None)
    assert (f.id, f.severity) == ("socket.listen_loopback_only", "info")
    reach = schema.frame(
        [{"source": "h", "target": "198.18.2.1", "address": "198.18.2.1", "proto": "tcp", "port": 9090,
          "state": "closed", "reason": "RST (connection refused)", "method": "nmap", "rtt_ms": None}],
        reachability.REACH_SCHEMA,
    )  # fmt: skip
    (f,) = checks.socket_findings(st, reach)
    assert f.severity == "warning" and f.evidence["probed_ports_on_loopback_only"] == [9090]


def test_interface_errors_and_drops(tmp_path: Path, fixtures: Path) -> None:
    d = tmp_path / "snap"
    shutil.copytree(fixtures / "netstate/router", d)
    links = json.loads((d / "ip-link.json").read_text())
    rx = next(link for link in links if link["ifname"] == "v0router")["stats64"]["rx"]
    rx.update(errors=12, crc_errors=12, dropped=rx["packets"])  # as many drops as packets
    (d / "ip-link.json").write_text(json.dumps(links))
    got = ids(checks.interface_findings(state.build(snapshot.read(d)), TH))
    assert "v0router: 12" in got["iface.errors"].detail
    assert [i["ifname"] for i in got["iface.drops"].evidence["interfaces"]] == ["v0router"]


def test_no_default_route_only_when_routes_were_read(fixtures: Path) -> None:
    st = router(fixtures)
    st.present.discard("ip-route.json")
    assert "route.missing_default" not in ids(checks.routes(st))
    with_default = routes.parse('[{"dst":"default","gateway":"10.0.0.1","dev":"eth0"}]')
    st.routes, st.present = with_default, {"ip-route.json"}
    assert checks.routes(st) == []


def test_conntrack(fixtures: Path) -> None:
    st = router(fixtures)
    assert checks.conntrack_findings(st, TH) == []
    d = fixtures / "netstate"
    stats = conntrack.parse_stats((d / "conntrack-S-pressure.txt").read_text())
    st.conntrack_usage = conntrack.usage(
        stats, 261120, conntrack.parse_sysctl((d / "sysctl-full.txt").read_text())
    )
    got = ids(checks.conntrack_findings(st, TH))
    assert got["conntrack.insert_failed"].evidence["insert_failed"] == 58
    assert got["conntrack.table_full"].severity == "critical"
    st.conntrack_usage = conntrack.usage(stats, 1000, {"net.netfilter.nf_conntrack_max": "262144"})
    assert ids(checks.conntrack_findings(st, TH))["conntrack.table_full"].severity == "warning"  # early_drop


def test_tcp_retrans_from_ss(fixtures: Path) -> None:
    st = state.build(snapshot.read(fixtures / "netstate/client"))
    (f,) = checks.tcp_findings(st, TH)
    assert f.id == "tcp.high_retrans" and f.evidence["connections"][0]["peer_port"] == 5202
    assert checks.tcp_findings(st, checks.Thresholds(retrans_pct=50)) == []


def test_reachability_and_throughput(fixtures: Path) -> None:
    reach = schema.frame(
        [{"source": "h", "target": t, "address": t, "proto": "tcp", "port": p, "state": s, "reason": r, "method": "nmap", "rtt_ms": None}
         for t, p, s, r in [("10.0.0.1", 80, "open", "syn-ack"), ("10.0.0.1", 81, "closed", "RST"), ("10.0.0.1", 82, "filtered", "no answer")]],
        reachability.REACH_SCHEMA,
    )  # fmt: skip
    look = routes.lookups(
        {
            "10.0.0.1": '[{"dst":"10.0.0.1","dev":"eth0"}]',
            "10.9.9.9": "ERROR RTNETLINK answers: Network is unreachable",
        }
    )
    got = ids(checks.reachability(reach, look))
    assert set(got) == {"port.closed", "port.filtered", "route.no_route"}
    assert got["port.filtered"].evidence["ports"][0]["port"] == 82
    _, tcp = throughput.parse((fixtures / "netstate/iperf3-tcp.json").read_text())
    assert checks.throughput(tcp, TH) == []
    assert [f.id for f in checks.throughput(tcp, checks.Thresholds(throughput_min_mbps=1e6))] == [
        "throughput.low"
    ]
    _, err = throughput.parse((fixtures / "netstate/iperf3-error.json").read_text())
    assert [f.id for f in checks.throughput(err, TH)] == ["throughput.failed"]


def test_notes_name_package_capability_file() -> None:
    notes = [
        Note(
            "firewall",
            "nft.json",
            "tool_missing",
            "nft: not found on PATH",
            "install the Debian package 'nftables'",
        ),
        Note(
            "conntrack",
            "conntrack-S.txt",
            "permission",
            "conntrack: permission denied",
            "needs capability NET_ADMIN",
        ),
        Note("routes", "ip-route.json", "unparseable", "snap/ip-route.json:2: not valid JSON"),
    ]
    got = ids(checks.notes(notes))
    assert "nftables" in got["collect.tool_missing"].detail
    assert "NET_ADMIN" in got["collect.permission_denied"].detail
    assert got["snapshot.unparseable"].detail == "snap/ip-route.json:2: not valid JSON"


def test_mtu_ignores_links_without_carrier(tmp_path: Path, fixtures: Path) -> None:
    d = tmp_path / "snap"
    shutil.copytree(fixtures / "netstate/router", d)
    links = json.loads((d / "ip-link.json").read_text())
    for link in links:
        if link["ifname"] == "v0router":
            link["flags"] = ["BROADCAST", "MULTICAST", "UP"]  # NO-CARRIER
    (d / "ip-link.json").write_text(json.dumps(links))
    assert checks.mtu_findings(state.build(snapshot.read(d))) == []


def test_no_routes_or_interfaces_is_inconclusive(tmp_path: Path, fixtures: Path) -> None:
    assert checks.coverage(router(fixtures)) == []
    shutil.copy(fixtures / "netstate/router/ss-tulpn.txt", tmp_path / "ss-tulpn.txt")
    (found,) = checks.coverage(state.build(snapshot.read(tmp_path)))
    assert found.id == "netstate.no_data" and found.inconclusive and found.severity == "critical"
    assert found.evidence["files_read"] == ["ss-tulpn.txt"]
    assert any(n.startswith("ip-route.json: ") for n in found.evidence["notes"])
