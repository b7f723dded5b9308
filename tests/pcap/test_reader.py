"""The reader on hand-built captures: every container variant, link type and header case it promises."""

from __future__ import annotations

import gzip
import struct
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import (
    ICMPv6EchoRequest,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
)
from scapy.layers.l2 import CookedLinux, Dot1AD, Dot1Q, Ether

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild as pb

from netdebug_nb.pcap.reader import CaptureWarning, PcapFormatError, packet_bytes, read
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check

T0 = 1_700_000_000_123_456_000  # ns, a whole number of microseconds


def eth_tcp(src: str = "198.18.0.1", dst: str = "198.18.0.2", **tcp: object) -> bytes:
    return bytes(Ether() / IP(src=src, dst=dst, ttl=61, id=777) / TCP(**tcp) / b"hello")  # type: ignore[arg-type]


def write(tmp_path: Path, data: bytes, name: str = "t.pcap") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("ns", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, order: str, ns: bool) -> None:
    ts2 = T0 + 1_000_000_789 if ns else T0 + 1_000_000_000
    data = pb.pcap(
        [(T0, eth_tcp(sport=1234, dport=80, flags="S", seq=1000, window=512)), (ts2, eth_tcp(flags="PA"))],
        order=order,
        ns=ns,
    )
    df = read(write(tmp_path, data))
    check(df, PACKETS_SCHEMA)
    assert df["frame"].tolist() == [1, 2]
    assert df["ts"].astype("int64").tolist() == [T0, ts2]
    row = df.iloc[0]
    assert (row["src"], row["dst"], row["proto"], row["ttl"], row["ip_id"]) == (
        "198.18.0.1",
        "198.18.0.2",
        6,
        61,
        777,
    )
    assert (row["sport"], row["dport"], row["tcp_flags"], row["tcp_seq"], row["tcp_win"]) == (
        1234,
        80,
        2,
        1000,
        512,
    )
    assert (row["payload_len"], row["l4_offset"], row["linktype"], row["ip_version"]) == (5, 54, 1, 4)
    assert df["tcp_flags"].tolist() == [0x02, 0x18]
    assert df.attrs["warnings"] == []


def test_gzip_compressed_capture(tmp_path: Path) -> None:
    raw = pb.pcap([(T0 + i * 1000, eth_tcp(sport=1000 + i)) for i in range(50)])
    p = write(tmp_path, gzip.compress(raw), "t.pcap.gz")
    df = read(p)
    assert len(df) == 50
    assert df["sport"].tolist() == list(range(1000, 1050))
    assert packet_bytes(p, [3]) == [eth_tcp(sport=1002)]


def test_cut_gzip_keeps_what_was_decompressed(tmp_path: Path) -> None:
    raw = pb.pcap([(T0 + i * 1000, eth_tcp(sport=i) + bytes(range(256)) * 4) for i in range(400)])
    gz = gzip.compress(raw)
    with pytest.warns(CaptureWarning, match="compressed data ends early"):
        df = read(write(tmp_path, gz[: len(gz) // 2], "cut.pcap.gz"))
    assert 0 < len(df) < 400
    assert df["sport"].tolist() == list(range(len(df)))


def test_corrupt_gzip_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(PcapFormatError, match="cannot be decompressed"):
        read(write(tmp_path, b"\x1f\x8b" + bytes(range(60)), "bad.pcap.gz"))


def test_pcapng_interfaces_link_types_resolutions_and_block_kinds(tmp_path: Path) -> None:
    v4 = bytes(IP(src="198.18.1.1", dst="198.18.1.2") / UDP(sport=5353, dport=53) / b"q")
    sll2 = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\0" * 8) + v4
    data = b"".join(
        [
            pb.shb(),
            pb.idb(1, tsresol=6),  # iface 0: Ethernet, microseconds (default written explicitly)
            pb.idb(101, tsresol=9),  # iface 1: raw IP, nanoseconds
            pb.nrb(),  # name resolution block: skipped
            pb.idb(276, tsresol=0x80 | 20, tsoffset=10),  # iface 2: SLL2, 2^-20 s units, +10 s
            pb.epb(0, (T0 // 1000), eth_tcp(sport=1)),
            pb.epb(1, T0 + 5, v4),
            pb.epb(2, (5 << 20) | (1 << 19), sll2),  # 5.5 s + 10 s offset
            pb.isb(),
            pb.spb(eth_tcp(sport=2)),
            pb.opb(1, T0 + 7, v4),
        ]
    )
    df = read(write(tmp_path, data, "t.pcapng"))
    check(df, PACKETS_SCHEMA)
    assert df["iface"].tolist() == [0, 1, 2, 0, 1]
    assert df["linktype"].tolist() == [1, 101, 276, 1, 101]
    ts = df["ts"].astype("int64").tolist()
    assert ts[0] == T0 and ts[1] == T0 + 5 and ts[2] == 15_500_000_000 and ts[4] == T0 + 7
    assert df["src"].astype(str).tolist() == [
        "198.18.0.1",
        "198.18.1.1",
        "198.18.1.1",
        "198.18.0.1",
        "198.18.1.1",
    ]
    assert df["sport"].tolist() == [1, 5353, 5353, 2, 5353]
    assert df["caplen"].tolist() == [len(eth_tcp()), len(v4), len(sll2), len(eth_tcp()), len(v4)]


def test_pcapng_big_endian_and_second_section(tmp_path: Path) -> None:
    data = b"".join(
        [
            pb.shb(">"),
            pb.idb(1, order=">"),
            pb.epb(0, T0 // 1000, eth_tcp(sport=7), order=">"),
            pb.shb("<"),  # new section: interfaces start again, other byte order
            pb.idb(101),
            pb.epb(0, T0 // 1000, bytes(IP(src="198.18.9.9", dst="198.18.9.8") / ICMP(type=8))),
        ]
    )
    df = read(write(tmp_path, data, "t.pcapng"))
    assert df["linktype"].tolist() == [1, 101]
    assert df["sport"].tolist()[0] == 7
    assert df["icmp_type"].tolist()[1] == 8
    assert df["ts"].astype("int64").tolist() == [T0, T0]


IP4 = IP(src="198.18.5.1", dst="198.18.5.2") / UDP(sport=40000, dport=53) / b"dnsdata"
IP6 = IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=9) / TCP(sport=4000, dport=443, flags="A")


@pytest.mark.parametrize(
    ("linktype", "frame", "version"),
    [
        (113, bytes(CookedLinux(proto=0x0800) / IP4), 4),  # Linux cooked (SLL)
        (276, struct.pack(">HHIHBB8s", 0x86DD, 0, 3, 1, 0, 6, b"\0" * 8) + bytes(IP6), 6),  # SLL2
        (0, struct.pack("<I", 2) + bytes(IP4), 4),  # BSD null, little-endian host
        (0, struct.pack(">I", 2) + bytes(IP4), 4),  # BSD null, big-endian host
        (0, struct.pack("<I", 30) + bytes(IP6), 6),  # Darwin AF_INET6
        (108, struct.pack(">I", 24) + bytes(IP6), 6),  # OpenBSD loop
        (101, bytes(IP4), 4),
        (101, bytes(IP6), 6),
        (12, bytes(IP4), 4),
        (228, bytes(IP4), 4),
        (229, bytes(IP6), 6),
    ],
)
def test_link_types(tmp_path: Path, linktype: int, frame: bytes, version: int) -> None:
    df = read(write(tmp_path, pb.pcap([(T0, frame)], linktype=linktype)))
    row = df.iloc[0]
    assert row["linktype"] == linktype and row["ip_version"] == version
    if version == 4:
        assert (row["src"], row["dst"], row["sport"], row["dport"], row["payload_len"]) == (
            "198.18.5.1",
            "198.18.5.2",
            40000,
            53,
            7,
        )
        assert packet_bytes(df.attrs["path"], [1])[0][row["l4_offset"] :] == b"dnsdata"
    else:
        assert (row["src"], row["dst"], row["ttl"], row["tcp_flags"]) == (
            "2001:db8::1",
            "2001:db8::2",
            9,
            0x10,
        )


def test_unknown_link_type_gets_a_row_without_network_fields(tmp_path: Path) -> None:
    df = read(write(tmp_path, pb.pcap([(T0, bytes(IP4)), (T0, b"\x01\x02")], linktype=147)))
    assert len(df) == 2 and df["linktype"].tolist() == [147, 147]
    assert df["ip_version"].isna().all() and df["src"].isna().all() and df["sport"].isna().all()


def test_vlan_qinq_and_ipv6_extension_headers(tmp_path: Path) -> None:
    frames = [
        bytes(Ether() / Dot1Q(vlan=100) / IP4),
        bytes(Ether() / Dot1AD(vlan=200) / Dot1Q(vlan=300) / IP4),
        bytes(
            Ether()
            / IPv6(src="2001:db8::a", dst="2001:db8::b")
            / IPv6ExtHdrHopByHop()
            / IPv6ExtHdrDestOpt()
            / UDP(sport=1, dport=2)
            / b"abc"
        ),
        bytes(
            Ether()
            / IPv6(src="2001:db8::a", dst="2001:db8::b")
            / IPv6ExtHdrFragment(id=0xABCDEF, m=1, offset=0)
            / UDP(sport=3, dport=4)
        ),
        bytes(
            Ether()
            / IPv6(src="2001:db8::a", dst="2001:db8::b")
            / IPv6ExtHdrFragment(id=5, nh=17, offset=100)
            / (b"x" * 16)
        ),
        bytes(Ether() / IPv6(src="2001:db8::a", dst="2001:db8::b") / ICMPv6EchoRequest()),
    ]
    df = read(write(tmp_path, pb.pcap([(T0, f) for f in frames])))
    assert df["vlan"].tolist()[:2] == [100, 200] and df["vlan_inner"].tolist()[1] == 300
    assert pd.isna(df["vlan_inner"].iloc[0]) and pd.isna(df["vlan"].iloc[2])
    assert df["sport"].iloc[0] == 40000 and df["sport"].iloc[1] == 40000
    r = df.iloc[2]
    assert (r["proto"], r["sport"], r["dport"], r["payload_len"], r["frag"]) == (17, 1, 2, 3, False)
    r = df.iloc[3]
    assert (r["proto"], r["frag"], r["ip_id"], r["sport"]) == (17, True, 0xABCDEF, 3)
    r = df.iloc[4]
    assert r["frag"] and pd.isna(r["sport"]) and r["ip_id"] == 5
    r = df.iloc[5]
    assert (r["proto"], r["icmp_type"], r["icmp_code"]) == (58, 128, 0)


def test_ipv4_fragments_are_flagged(tmp_path: Path) -> None:
    first = bytes(
        Ether()
        / IP(src="198.18.0.1", dst="198.18.0.2", flags="MF", id=9)
        / UDP(sport=5, dport=6)
        / (b"a" * 16)
    )
    later = bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2", frag=3, id=9, proto=17) / (b"b" * 16))
    plain = bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2", flags="DF") / UDP(sport=5, dport=6))
    df = read(write(tmp_path, pb.pcap([(T0, first), (T0, later), (T0, plain)])))
    assert df["frag"].tolist() == [True, True, False]
    assert df["sport"].iloc[0] == 5 and pd.isna(df["sport"].iloc[1]) and df["sport"].iloc[2] == 5


def test_snap_length_cuts_headers_instead_of_reading_the_next_record(tmp_path: Path) -> None:
    full = eth_tcp(sport=99)
    df = read(write(tmp_path, pb.pcap([(T0, full[:40], len(full)), (T0, full[:36], len(full)), (T0, full)])))
    r = df.iloc[0]
    assert (r["caplen"], r["wirelen"], r["src"], r["sport"]) == (40, len(full), "198.18.0.1", 99)
    assert pd.isna(r["tcp_flags"]) and pd.isna(r["payload_len"])
    assert pd.isna(df["sport"].iloc[1]) and df["src"].iloc[1] == "198.18.0.1"
    assert df["sport"].iloc[2] == 99 and df["tcp_flags"].iloc[2] == 0x02


def test_addresses_share_categories(tmp_path: Path) -> None:
    df = read(
        write(
            tmp_path,
            pb.pcap([(T0, eth_tcp("198.18.0.1", "198.18.0.2")), (T0, eth_tcp("198.18.0.2", "198.18.0.1"))]),
        )
    )
    assert (df["src"] == df["dst"].iloc[::-1].reset_index(drop=True)).all()


def test_truncated_last_record_keeps_complete_packets_and_warns(tmp_path: Path) -> None:
    data = pb.pcap([(T0, eth_tcp()), (T0, eth_tcp()), (T0, eth_tcp())])
    p = write(tmp_path, data[:-10])
    with pytest.warns(CaptureWarning, match=r"truncated: 10 of \d+ bytes cut"):
        df = read(p)
    assert len(df) == 2
    assert "10 of" in df.attrs["warnings"][0] and str(p) in df.attrs["warnings"][0]


def test_truncated_record_header(tmp_path: Path) -> None:
    data = pb.pcap([(T0, eth_tcp())]) + b"\x01\x02\x03"
    with pytest.warns(CaptureWarning, match="header cut short"):
        assert len(read(write(tmp_path, data))) == 1


def test_absurd_record_length_stops_with_a_warning(tmp_path: Path) -> None:
    good = pb.pcap([(T0, eth_tcp()), (T0, eth_tcp())])
    bad = struct.pack("<IIII", 1, 0, 0x7FFFFFF0, 0x7FFFFFF0) + b"\0" * 100
    with pytest.warns(CaptureWarning, match=r"claims 2147483632 captured bytes .* stopped"):
        df = read(write(tmp_path, good + bad + pb.pcap([(T0, eth_tcp())])[24:]))
    assert len(df) == 2


def test_absurd_pcapng_block_length(tmp_path: Path) -> None:
    data = pb.shb() + pb.idb(1) + pb.epb(0, 1, eth_tcp()) + struct.pack("<II", 6, 0xFFFFFFF0) + b"\0" * 64
    with pytest.warns(CaptureWarning, match="invalid length"):
        assert len(read(write(tmp_path, data, "t.pcapng"))) == 1


def test_pcapng_packet_for_undefined_interface(tmp_path: Path) -> None:
    data = pb.shb() + pb.idb(1) + pb.epb(0, 1, eth_tcp()) + pb.epb(3, 1, eth_tcp())
    with pytest.warns(CaptureWarning, match="interface 3"):
        assert len(read(write(tmp_path, data, "t.pcapng"))) == 1


def test_not_a_capture_names_file_and_magic(tmp_path: Path) -> None:
    p = write(tmp_path, b"hello world, not a pcap\n", "notes.pcap")
    with pytest.raises(
        PcapFormatError,
        match=r"notes.pcap: not a pcap or pcapng file: starts with bytes 68656c6c \(text 'hell'\)",
    ):
        read(p)


def test_cut_file_header_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PcapFormatError, match="header cut short"):
        read(write(tmp_path, pb.pcap([])[:10]))


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    with pytest.warns(CaptureWarning, match="empty"):
        df = read(write(tmp_path, b""))
    check(df, PACKETS_SCHEMA)
    assert len(df) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read(write(tmp_path, pb.pcap([]), "h.pcap"))
    check(df, PACKETS_SCHEMA)
    assert len(df) == 0


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PcapFormatError.__mro__[1], match="no such capture file"):
        read(tmp_path / "nope.pcap")


def test_packet_bytes_order_and_missing(tmp_path: Path) -> None:
    frames = [eth_tcp(sport=i) for i in range(5)]
    p = write(tmp_path, pb.pcap([(T0, f) for f in frames]))
    assert packet_bytes(p, [4, 1, 4]) == [frames[3], frames[0], frames[3]]
    with pytest.raises(PcapFormatError.__mro__[1], match="no frame 9"):
        packet_bytes(p, [9])


def test_max_packets(tmp_path: Path) -> None:
    p = write(tmp_path, pb.pcap([(T0, eth_tcp(sport=i)) for i in range(20)]))
    assert read(p, max_packets=7)["sport"].tolist() == list(range(7))


def test_linktypes_restricts_decoding(tmp_path: Path) -> None:
    p = write(tmp_path, pb.pcap([(T0, eth_tcp())]))
    assert read(p)["src"].iloc[0] == "198.18.0.1"
    row = read(p, linktypes={113}).iloc[0]
    assert pd.isna(row["src"]) and pd.isna(row["ip_version"]) and row["caplen"] == len(eth_tcp())


def test_extension_header_claiming_more_than_captured_at_end_of_file(tmp_path: Path) -> None:
    """A last packet whose IPv6 extension header points kilobytes past the data must not crash."""
    pkt = bytearray(bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrDestOpt() / UDP()))
    pkt[14 + 40 + 1] = 255  # dest-options length: (255 + 1) * 8 = 2048 bytes
    filler = [(T0, eth_tcp()) for _ in range(100)]  # the bad packet ends a buffer bigger than the minimum
    df = read(write(tmp_path, pb.pcap([*filler, (T0, bytes(pkt))])))
    r = df.iloc[-1]
    assert r["src"] == "2001:db8::1" and pd.isna(r["sport"])
