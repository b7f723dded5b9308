"""scapy dissection of selected rows: the deep view the notebook uses for a handful of packets."""

from __future__ import annotations

import struct
import sys
from decimal import Decimal
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild as pb

from netdebug_nb.pcap.dissect import dissect
from netdebug_nb.pcap.reader import read


def test_dissect_rows_gives_scapy_packets_with_time(tmp_path: Path) -> None:
    dns = (
        Ether()
        / IP(src="198.18.0.1", dst="198.18.0.53")
        / UDP(sport=5555, dport=53)
        / DNS(qd=DNSQR(qname="example.test"))
    )
    frames = [bytes(Ether() / IP() / UDP(sport=1, dport=2)), bytes(dns), b"\x01\x02\x03"]
    p = tmp_path / "d.pcap"
    p.write_bytes(pb.pcap([(1_000_000_000 + i * 1000, f) for i, f in enumerate(frames)]))
    df = read(p)
    pkts = dissect(p, df[df["dport"] == 53])
    assert len(pkts) == 1
    assert pkts[0][DNS].qd[0].qname == b"example.test."
    assert pkts[0].time == Decimal("1.000001")
    assert [bytes(x) for x in dissect(p, [3, 1])] == [frames[2], frames[0]]
    assert [bytes(x) for x in dissect(df[df["frame"] == 2])] == [frames[1]]  # the table knows its file


def test_dissect_unknown_link_type_gives_raw(tmp_path: Path) -> None:
    p = tmp_path / "u.pcap"
    p.write_bytes(pb.pcap([(0, struct.pack(">I", 7))], linktype=65000))
    (pkt,) = dissect(p, [1])
    assert bytes(pkt) == struct.pack(">I", 7)
