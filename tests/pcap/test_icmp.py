"""ICMP errors from a scapy capture read by the kit's reader, and the findings they give."""

from __future__ import annotations

from pathlib import Path

from netdebug_nb.pcap import checks, icmp, reader
from netdebug_nb.schema import check


def test_fragmentation_needed_and_port_unreachable(tmp_path: Path) -> None:
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import ICMPv6PacketTooBig, IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    big = IP(src="10.0.0.1", dst="10.0.9.9", flags="DF") / TCP(sport=40000, dport=443) / (b"x" * 1400)
    pkts = [
        Ether()
        / IP(src="10.0.0.254", dst="10.0.0.1")
        / ICMP(type=3, code=4, nexthopmtu=1450)
        / bytes(big)[:28],
        Ether()
        / IP(src="10.0.0.254", dst="10.0.0.1")
        / ICMP(type=3, code=4, nexthopmtu=1450)
        / bytes(big)[:28],
        Ether()
        / IP(src="10.0.5.5", dst="10.0.0.1")
        / ICMP(type=3, code=3)
        / bytes(IP(src="10.0.0.1", dst="10.0.5.5") / UDP(sport=5000, dport=53))[:28],
        Ether(dst="02:00:00:00:00:01") / IPv6(src="fd00::fe", dst="fd00::1") / ICMPv6PacketTooBig(mtu=1280),
        Ether(dst="02:00:00:00:00:01")
        / IP(src="10.0.0.1", dst="10.0.0.2")
        / ICMP(type=8),  # an echo request is not an error
    ]
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i
    path = tmp_path / "icmp.pcap"
    wrpcap(str(path), pkts)
    errors = icmp.errors(reader.read(path))
    check(errors, icmp.ERRORS_SCHEMA)
    assert errors[["protocol", "meaning", "packets"]].values.tolist() == [
        ["ICMP", "fragmentation needed", 2],
        ["ICMP", "port unreachable", 1],
        ["ICMPv6", "packet too big", 1],
    ]
    assert errors.iloc[0]["senders"] == "10.0.0.254"
    found = {f.id: f for f in checks.icmp_findings(errors)}
    assert set(found) == {"icmp.fragmentation_needed", "icmp.unreachable"}
    assert found["icmp.fragmentation_needed"].evidence["senders"] == ["10.0.0.254", "fd00::fe"]
    assert found["icmp.unreachable"].evidence["by_meaning"] == {"port unreachable": 1}


def test_error_without_a_code_still_gets_a_row() -> None:
    import pandas as pd

    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import frame

    row = {c: None for c in PACKETS_SCHEMA}
    row.update(frame=1, ts=pd.Timestamp("2026-01-01", tz="UTC"), caplen=35, wirelen=70, linktype=1, iface=0,
               ip_version=4, src="10.0.0.254", dst="10.0.0.1", proto=1, icmp_type=3, file=0, offset=0)  # fmt: skip
    errors = icmp.errors(frame([row], PACKETS_SCHEMA))
    assert errors[["meaning", "packets"]].values.tolist() == [["destination unreachable", 1]]
    assert [f.id for f in checks.icmp_findings(errors)] == ["icmp.unreachable"]
