"""Packets matched across real captures: client, NAT router and server in namespaces, losses injected by iptables."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ndtestkit import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from lab import Lab
from make_compare_pair import CLUSTER_IP, SERVER, record, settle

from netdebug_nb.pcap import compare

pytestmark = pytest.mark.lab


def test_loss_nat_and_clock_offset_through_a_nat_router(lab: Lab, tmp_path: Path) -> None:
    rec = record(lab, tmp_path, datagrams=300, connections=4, chunk=30000, drop=0.08)
    assert rec.dropped > 5

    caps = compare.load([rec.client, rec.server, rec.router], ["client", "server", "router"])
    res = compare.compare(caps, window_ms=500)
    paths = res.paths
    cs = paths[(paths["sender"] == "client") & (paths["receiver"] == "server")]
    # every packet the FORWARD rule dropped was seen at the client and never at the server
    why = (
        f"client→router lost {int(paths[(paths['sender'] == 'client') & (paths['receiver'] == 'router')]['lost'].sum())}, "
        f"router→server lost {int(paths[(paths['sender'] == 'router') & (paths['receiver'] == 'server')]['lost'].sum())}\n"
        f"{res.captures.to_string()}\n{cs.to_string()}"
    )
    assert int(cs["lost"].sum()) == rec.dropped, why
    assert int(paths[(paths["sender"] == "server") & (paths["receiver"] == "client")]["lost"].sum()) == 0
    # the router saw each packet on its way in: the drops happen after it, on FORWARD
    cr = paths[(paths["sender"] == "client") & (paths["receiver"] == "router")]
    assert int(cr["lost"].sum()) == 0 and int(cr["seen"].sum()) > 0
    rs = paths[(paths["sender"] == "router") & (paths["receiver"] == "server")]
    assert int(rs["lost"].sum()) == rec.dropped
    # the router's -i any capture holds each forwarded packet twice (in and out): one sighting
    router_row = res.captures.set_index("label").loc["router"]
    assert router_row["forwarded_copies"] > 0 and router_row["duplicates"] == 0
    assert int(paths["duplicated"].sum()) == 0

    nat = res.nat[(res.nat["sender"] == "client") & (res.nat["receiver"] == "server")]
    dnat = set(zip(nat[nat["kind"] == "DNAT"]["before"], nat[nat["kind"] == "DNAT"]["after"], strict=True))
    assert (f"{CLUSTER_IP}:80", f"{SERVER}:8080") in dnat
    snat = nat[nat["kind"] == "SNAT"]
    assert set(snat["before"].str.split(":").str[0]) == {"198.18.1.2"}
    assert set(snat["after"].str.split(":").str[0]) == {"198.18.2.1"}
    assert set(cs["ttl_decrement"].dropna()) == {1}
    assert set(cs["nat"]) == {"SNAT+DNAT"}

    offsets = res.offsets.set_index(["a", "b"])
    for pair in (("client", "server"), ("client", "router"), ("server", "router")):
        assert abs(offsets.loc[pair, "offset_ms"]) < 1.0, pair  # one clock on this machine
    # the router first: at the router a NATed conversation is two flows, the other side decides
    first = compare.compare(compare.load([rec.router, rec.server], ["router", "server"]))
    assert abs(first.offsets.iloc[0]["offset_ms"]) < 1.0, first.offsets.iloc[0].to_dict()
    lost = res.lost[res.lost["sender"] == "client"]
    assert len(lost[lost["receiver"] == "server"]) == rec.dropped

    # the server's capture shifted by 3.2 s, as if its clock ran ahead: the offset is found
    shifted = tmp_path / "server-shifted.pcap"
    subprocess.run(["editcap", "-t", "3.2", str(rec.server), str(shifted)], check=True, capture_output=True)
    res2 = compare.compare(compare.load([rec.client, shifted], ["client", "server"]), window_ms=500)
    off2 = res2.offsets.iloc[0]
    assert abs(off2["offset_ms"] - 3200.0) <= 1.0, off2.to_dict()
    assert int(res2.paths[res2.paths["sender"] == "client"]["lost"].sum()) == rec.dropped
    assert res2.delays["delay_ms"].max() < 100  # delays are corrected, not 3.2 s


VXLAN_PEER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(f"overlay {i:05d}".encode() * 4, (sys.argv[1], 9999)); time.sleep(0.002)
"""


def test_vxlan_inner_packets_match_the_plain_capture(lab: Lab, tmp_path: Path) -> None:
    h1, h2 = lab.host("h1"), lab.host("h2")
    lab.link(h1, "198.18.5.1/24", h2, "198.18.5.2/24")
    for h, me, peer, overlay in (
        (h1, "198.18.5.1", "198.18.5.2", "198.18.6.1/24"),
        (h2, "198.18.5.2", "198.18.5.1", "198.18.6.2/24"),
    ):
        h.run(
            "ip",
            "link",
            "add",
            "vx0",
            "type",
            "vxlan",
            "id",
            "42",
            "local",
            me,
            "remote",
            peer,
            "dstport",
            "4789",
        )
        h.run("ip", "addr", "add", overlay, "dev", "vx0")
        h.run("ip", "link", "set", "vx0", "up")
    underlay = next(i for i in h1.run("ip", "-o", "link").stdout.split() if i.startswith("v0h1"))
    p_under, p_over = tmp_path / "underlay.pcap", tmp_path / "overlay.pcap"
    d1 = h1.spawn("tcpdump", "-i", underlay.rstrip(":").split("@")[0], "-U", "-n", "-w", str(p_under), "udp")
    d2 = h2.spawn("tcpdump", "-i", "vx0", "-U", "-n", "-w", str(p_over), "udp or icmp")
    time.sleep(1.0)
    h1.run("python3", "-c", VXLAN_PEER, "198.18.6.2", "100")
    h1.run("ping", "-c", "5", "-i", "0.05", "198.18.6.2")
    settle([p_under, p_over])
    for d in (d1, d2):
        d.send_signal(2)
        d.wait(timeout=10)
    res = compare.compare(compare.load([p_under, p_over], ["underlay", "overlay"]))
    under = res.captures.set_index("label").loc["underlay"]
    assert under["tunnelled"] >= 110  # 100 datagrams, 5 echo requests and 5 replies, all in VXLAN
    paths = res.paths[res.paths["sender"] == "underlay"]
    udp = paths[paths["proto"] == "udp"]
    assert int(udp["seen"].sum()) == 100 and int(udp["lost"].sum()) == 0
    assert set(udp["flow"].str.contains("198.18.6.1")) == {True}  # the inner addresses
    # 5 echo requests and 5 replies, plus the port-unreachable errors for the datagrams to 9999
    icmp = res.paths[res.paths["proto"] == "icmp"]
    assert int(icmp["seen"].sum()) >= 10 and int(icmp["lost"].sum()) == 0
    assert int(res.paths["lost"].sum()) == 0
