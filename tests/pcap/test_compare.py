"""Matching crafted captures: each report column and finding from packets whose fate is known."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pcapbuild import pcap
from scapy.contrib.geneve import GENEVE
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

from netdebug_nb.errors import InputError, ParameterTypeError
from netdebug_nb.pcap import compare, fingerprint
from netdebug_nb.schema import check

T0 = 1_790_000_000_000_000_000
MS = 1_000_000
CLIENT, VIP, POD, NODE = "10.0.0.5", "10.96.0.10", "10.244.2.7", "10.0.1.1"


def eth(p: object) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p)  # type: ignore[operator]


def write(path: Path, packets: list[tuple[int, bytes]]) -> Path:
    path.write_bytes(pcap(sorted(packets, key=lambda p: p[0]), ns=True))
    return path


def conversation(
    n: int = 20,
    *,
    offset_ns: int = 0,
    lose: frozenset[int] = frozenset(),
    dup: frozenset[int] = frozenset(),
    swap: int | None = None,
    delay_ab: list[int] | None = None,
    replies_at_b: bool = True,
) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]]]:
    """UDP requests client → VIP:80 (DNAT to POD:8080, SNAT to NODE) and replies, seen at A and B."""
    a: list[tuple[int, bytes]] = []
    b: list[tuple[int, bytes]] = []
    for i in range(n):
        t = T0 + i * 10 * MS
        payload = f"request {i:04d}".encode() * 3
        d = (delay_ab or [MS] * n)[i]
        a.append(
            (t, eth(IP(src=CLIENT, dst=VIP, id=1000 + i, ttl=64) / UDP(sport=40000, dport=80) / Raw(payload)))
        )
        pb = eth(IP(src=NODE, dst=POD, id=1000 + i, ttl=62) / UDP(sport=40000, dport=8080) / Raw(payload))
        if i not in lose:
            tb = t + d + offset_ns + (15 * MS if swap == i else 0)
            b.append((tb, pb))
            if i in dup:
                b.append((tb + 50_000, pb))
            reply = f"reply {i:04d}".encode() * 3
            rt = t + 5 * MS
            if replies_at_b:
                b.append(
                    (
                        rt + offset_ns,
                        eth(
                            IP(src=POD, dst=NODE, id=5000 + i, ttl=64)
                            / UDP(sport=8080, dport=40000)
                            / Raw(reply)
                        ),
                    )
                )
            a.append(
                (
                    rt + MS,
                    eth(
                        IP(src=VIP, dst=CLIENT, id=5000 + i, ttl=62) / UDP(sport=80, dport=40000) / Raw(reply)
                    ),
                )
            )
    return a, b


def run(tmp: Path, a: list[tuple[int, bytes]], b: list[tuple[int, bytes]], **kw: float) -> compare.Comparison:
    pa, pb = write(tmp / "a.pcap", a), write(tmp / "b.pcap", b)
    return compare.compare(compare.load([pa, pb], ["A", "B"]), window_ms=kw.get("window_ms", 500.0))


def ids(res: compare.Comparison) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for f in compare.check(res):
        out.setdefault(f.id, []).append(f.to_dict())
    return out


def test_loss_duplicates_reordering_nat_ttl_and_offset(tmp_path: Path) -> None:
    a, b = conversation(offset_ns=3_200 * MS, lose=frozenset({3, 7}), dup=frozenset({5}), swap=10)
    res = run(tmp_path, a, b)
    for table, schema in ((res.paths, compare.PATHS_SCHEMA), (res.lost, compare.LOST_SCHEMA),
                          (res.nat, compare.NAT_SCHEMA), (res.delays, compare.DELAYS_SCHEMA),
                          (res.offsets, compare.OFFSETS_SCHEMA), (res.captures, compare.CAPTURES_SCHEMA),
                          (res.asymmetric, compare.ASYMMETRIC_SCHEMA)):  # fmt: skip
        check(table, schema)
    ab = res.paths[res.paths["sender"] == "A"].iloc[0]
    assert (ab["sent"], ab["seen"], ab["lost"], ab["duplicated"], ab["reordered"]) == (20, 18, 2, 1, 1)
    assert ab["ttl_decrement"] == 2 and ab["nat"] == "SNAT+DNAT"
    summary = compare.between(res).set_index(["sender", "receiver"])
    check(compare.between(res), compare.BETWEEN_SCHEMA)
    assert summary.loc[("A", "B"), "lost"] == 2 and summary.loc[("B", "A"), "lost"] == 0
    assert summary.loc[("B", "A"), "offset_ms"] == pytest.approx(-3200.0)
    assert ab["flow"] == f"udp {CLIENT}:40000 → {VIP}:80"
    assert ab["flow_at_receiver"] == f"udp {NODE}:40000 → {POD}:8080"
    assert sorted(res.lost["frame"].tolist()) == [7, 14]  # requests 3 and 7 in A's file (no reply to 3)
    off = res.offsets.iloc[0]
    # min A→B 1 ms, min B→A 1 ms: the offset is exact
    assert off["offset_ms"] == pytest.approx(3200.0, abs=1e-6) and off["min_delay_ms"] == pytest.approx(1.0)
    assert res.delays["delay_ms"].min() == pytest.approx(1.0) and bool(res.delays["corrected"].all())
    dnat = res.nat[(res.nat["kind"] == "DNAT") & (res.nat["sender"] == "A")].iloc[0]
    assert (dnat["before"], dnat["after"]) == (f"{VIP}:80", f"{POD}:8080")
    found = ids(res)
    assert found["compare.loss_between"][0]["evidence"]["lost"] == 2
    assert found["compare.loss_between"][0]["severity"] == "critical"  # 10 % > 5 %
    assert found["compare.duplicates"][0]["evidence"]["duplicated"] == 1
    assert found["compare.reordering"][0]["evidence"]["reordered"] == 1
    assert found["compare.clock_offset"][0]["evidence"]["offset_ms"] == pytest.approx(3200.0)
    assert f"DNAT {VIP}:80 → {POD}:8080" in found["compare.nat"][0]["title"]
    assert "compare.asymmetric_path" not in found and "compare.no_overlap" not in found


def test_high_one_way_delay_is_reported_after_the_offset(tmp_path: Path) -> None:
    delays = [MS] * 10 + [300 * MS] * 10  # queueing builds up on the way A → B
    a, b = conversation(offset_ns=-750 * MS, delay_ab=delays)
    res = run(tmp_path, a, b, window_ms=1000)
    found = ids(res)
    assert found["compare.one_way_delay_high"][0]["evidence"]["p99_ms"] == pytest.approx(300.0, rel=0.01)
    assert res.offsets.iloc[0]["offset_ms"] == pytest.approx(-750.0, abs=1e-6)


def test_replies_that_never_pass_b_are_an_asymmetric_path(tmp_path: Path) -> None:
    a, b = conversation(replies_at_b=False)
    res = run(tmp_path, a, b)
    asym = res.asymmetric.iloc[0]
    assert (asym["seen_at"], asym["missing_at"], asym["packets"]) == ("A", "B", 20)
    assert asym["flow"] == f"udp {VIP}:80 → {CLIENT}:40000"
    found = ids(res)
    assert found["compare.asymmetric_path"][0]["evidence"]["flows"] == 1
    # one direction only: the offset cannot be separated from the delay, and the report says so
    assert pd_isna(res.offsets.iloc[0]["offset_ms"])
    assert "one direction only" in found["compare.clock_offset"][0]["detail"]
    assert "compare.loss_between" not in found


def pd_isna(v: object) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def test_mss_clamping_is_seen(tmp_path: Path) -> None:
    def syn(mss: int, src: str, dst: str) -> bytes:
        return eth(
            IP(src=src, dst=dst, id=7)
            / TCP(
                sport=40001,
                dport=443,
                flags="S",
                seq=1000,
                options=[("MSS", mss), ("NOP", None), ("WScale", 7)],
            )
        )

    def synack(mss: int, src: str, dst: str) -> bytes:
        return eth(
            IP(src=src, dst=dst, id=8)
            / TCP(sport=443, dport=40001, flags="SA", seq=5000, ack=1001, options=[("MSS", mss)])
        )

    a = [(T0, syn(1460, CLIENT, POD)), (T0 + 3 * MS, synack(1400, POD, CLIENT))]
    b = [(T0 + MS, syn(1400, CLIENT, POD)), (T0 + 2 * MS, synack(1400, POD, CLIENT))]
    res = run(tmp_path, a, b)
    fp = fingerprint.read(tmp_path / "a.pcap")
    assert fp["mss"].tolist() == [1460, 1400]
    found = ids(res)
    assert found["compare.mss_clamped"][0]["evidence"]["mss"] == [[1460, 1400]]
    assert len(found["compare.mss_clamped"]) == 1  # the SYN/ACK kept its MSS


def test_captures_of_different_traffic_do_not_overlap(tmp_path: Path) -> None:
    a, _ = conversation()
    b = [(T0 + 3600_000 * MS, eth(IP(src="192.0.2.1", dst="192.0.2.2") / ICMP(id=1, seq=1)))]
    res = run(tmp_path, a, b)
    found = ids(res)
    assert found["compare.no_overlap"][0]["evidence"]["matched"] == 0
    assert "compare.loss_between" not in found


def test_vxlan_and_ipip_are_matched_by_their_inner_packet(tmp_path: Path) -> None:
    a, b = conversation(n=5)
    outer = (
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="192.168.0.1", dst="192.168.0.2", id=99)
        / UDP(sport=5555, dport=4789)
        / VXLAN(vni=42)
    )
    tunnelled = [(t, bytes(outer / Ether(p))) for t, p in b]
    ipip = [(t, eth(IP(src="192.168.0.1", dst="192.168.0.2", proto=4) / IP(p[14:]))) for t, p in b]
    gen = (
        Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        / IP(src="192.168.0.1", dst="192.168.0.2")
        / UDP(sport=5555, dport=6081)
    )
    geneve = [(t, bytes(gen / GENEVE(vni=7, proto=0x0800) / IP(p[14:]))) for t, p in b]
    v6 = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="fd00::1", dst="fd00::2")
    ip6 = [(t, bytes(v6 / IP(p[14:]))) for t, p in b]  # IPv4 in IPv6 (next header 4)
    for name, pkts, kind in (
        ("vxlan", tunnelled, 1),
        ("ipip", ipip, 3),
        ("geneve", geneve, 2),
        ("4in6", ip6, 3),
    ):
        res = compare.compare(
            compare.load([write(tmp_path / "a.pcap", a), write(tmp_path / f"{name}.pcap", pkts)])
        )
        assert int(res.captures["tunnelled"].iloc[1]) == len(pkts)
        assert int(res.paths["lost"].sum()) == 0 and int(res.offsets["matched"].iloc[0]) == len(pkts)
        fp = fingerprint.read(tmp_path / f"{name}.pcap")
        assert set(fp["tunnel"]) == {kind} and set(fp["dst"].astype(str)) == {POD, NODE}


def test_forwarded_copies_in_an_any_capture_count_once(tmp_path: Path) -> None:
    import struct

    def sll2(ifindex: int, pkttype: int, ip: bytes) -> bytes:
        return struct.pack(">HHIHBB8s", 0x0800, 0, ifindex, 1, pkttype, 6, b"\x02" * 8) + ip

    a, b = conversation(n=4, replies_at_b=False)
    ips = [p[14:] for _t, p in b]
    router = []
    for i, (t, _p) in enumerate(b):
        router.append((t - 100_000, sll2(2, 0, ips[i])))  # in on eth0
        router.append((t - 90_000, sll2(3, 4, ips[i])))  # out on eth1
    (tmp_path / "r.pcap").write_bytes(pcap(router, ns=True, linktype=276))
    res = compare.compare(compare.load([write(tmp_path / "a.pcap", a), tmp_path / "r.pcap"], ["A", "R"]))
    row = res.captures.set_index("label").loc["R"]
    assert (row["forwarded_copies"], row["duplicates"]) == (4, 0)
    assert int(res.paths[res.paths["sender"] == "A"]["seen"].sum()) == 4


def test_inputs_are_checked_and_fleet_directories_expand(tmp_path: Path) -> None:
    a, b = conversation(n=3)
    for node, pkts in (("n1", a), ("n2", b)):
        d = tmp_path / "fleet" / node / "capture"
        d.mkdir(parents=True)
        write(d / "capture.pcap", pkts)
        (d / "capture.json").write_text(
            json.dumps({"node": node, "interface": "any", "clock": "synchronised", "note": ""})
        )
    caps = compare.load([tmp_path / "fleet"])
    assert [c.label for c in caps] == ["n1", "n2"]
    res = compare.compare(caps)
    assert res.captures["clock"].tolist() == ["synchronised"] * 2
    with pytest.raises(ParameterTypeError, match="two or more"):
        compare.load([tmp_path / "fleet" / "n1" / "capture" / "capture.pcap"])
    with pytest.raises(ParameterTypeError, match="one label per capture"):
        compare.load([tmp_path / "fleet"], ["x"])
    with pytest.raises(InputError, match="not a fleet capture"):
        compare.load([tmp_path, tmp_path])
    with pytest.raises(ParameterTypeError, match="window_ms"):
        compare.compare(caps, window_ms=0)
    # a BPF filter through tcpdump -r: only the requests (to port 8080 at B, 80 at A) remain
    filtered = compare.load(
        [tmp_path / "fleet"], bpf="udp dst port 80 or udp dst port 8080", workdir=tmp_path
    )
    assert [len(c.packets) for c in filtered] == [3, 3]


def test_a_datagram_fragmented_between_the_points_is_matched_by_its_first_fragment(tmp_path: Path) -> None:
    from scapy.layers.inet import fragment

    big = IP(src=CLIENT, dst=POD, id=4242) / UDP(sport=5000, dport=5001) / Raw(bytes(range(256)) * 12)
    a = [(T0, eth(big))]
    frags = fragment(big, fragsize=1200)
    assert len(frags) == 3
    b = [(T0 + MS + i * 1000, eth(f)) for i, f in enumerate(frags)]
    res = run(tmp_path, a, b)
    row = res.paths[res.paths["sender"] == "A"].iloc[0]
    assert (row["sent"], row["seen"], row["lost"], row["fragmented"]) == (1, 1, 0, 1)
    assert int(res.captures["fragments"].iloc[1]) == 3 and int(res.captures["duplicates"].iloc[1]) == 0


def test_ipv6_and_an_empty_capture(tmp_path: Path) -> None:
    a, b = [], []
    for i in range(10):
        t = T0 + i * MS
        req = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IPv6(src="fd00::5", dst="fd00::10", hlim=64)
            / UDP(sport=4000, dport=53)
            / Raw(f"q{i:03d}".encode() * 5)
        )
        rep = (
            Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            / IPv6(src="fd00::10", dst="fd00::5", hlim=64)
            / UDP(sport=53, dport=4000)
            / Raw(f"r{i:03d}".encode() * 5)
        )
        a += [(t, bytes(req)), (t + 300_000, bytes(rep))]
        b += [(t + 100_000 + 2 * MS, bytes(req)), (t + 200_000 + 2 * MS, bytes(rep))]
    res = run(tmp_path, a, b)
    row = res.paths[res.paths["sender"] == "A"].iloc[0]
    assert row["flow"] == "udp [fd00::5]:4000 → [fd00::10]:53" and (row["seen"], row["lost"]) == (10, 0)
    assert res.offsets.iloc[0]["offset_ms"] == pytest.approx(2.0, abs=1e-6)  # 0.1 ms each way
    assert row["delay_p50_ms"] == pytest.approx(0.1, abs=1e-6)

    empty_res = run(tmp_path, a, [])
    assert len(empty_res.paths) == 0 and int(empty_res.offsets.iloc[0]["matched"]) == 0
    assert "compare.no_overlap" in ids(empty_res)


def test_a_packet_really_sent_twice_and_lost_once_counts_as_lost(tmp_path: Path) -> None:
    # what a TIME_WAIT socket does when the peer retransmits its FIN: the same ACK again (IP ID 0)
    def ack(src: str, dst: str) -> bytes:
        return eth(
            IP(src=src, dst=dst, id=0, flags="DF") / TCP(sport=40000, dport=80, flags="A", seq=7, ack=9)
        )

    a, b = conversation(n=4)
    a += [(T0 + 100 * MS, ack(CLIENT, VIP)), (T0 + 300 * MS, ack(CLIENT, VIP))]
    b += [(T0 + 301 * MS, ack(NODE, POD))]  # the first copy was dropped on the way
    res = run(tmp_path, a, b)
    tcp = res.paths[(res.paths["sender"] == "A") & (res.paths["proto"] == "tcp")].iloc[0]
    assert (tcp["sent"], tcp["seen"], tcp["lost"], tcp["duplicated"]) == (2, 1, 1, 0)
    # and the other way round: sent once, arrived twice, is a duplicate, not a loss
    b += [(T0 + 302 * MS, ack(NODE, POD))]
    a = [p for p in a if p[0] != T0 + 100 * MS]
    res = run(tmp_path, a, b)
    tcp = res.paths[(res.paths["sender"] == "A") & (res.paths["proto"] == "tcp")].iloc[0]
    assert (tcp["sent"], tcp["seen"], tcp["lost"], tcp["duplicated"]) == (1, 1, 0, 1)
