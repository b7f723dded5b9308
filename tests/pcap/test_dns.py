"""DNS messages and transactions from captures crafted with scapy and read by the kit's reader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from netdebug_nb.pcap import dns, reader
from netdebug_nb.schema import check

CLIENT, SERVER = "10.244.1.7", "10.96.0.10"
T0 = 1_700_000_000.0


def udp(t: float, sport: int, payload: Any, *, to_server: bool = True) -> Any:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether

    if to_server:
        p = Ether() / IP(src=CLIENT, dst=SERVER) / UDP(sport=sport, dport=53) / payload
    else:
        p = Ether() / IP(src=SERVER, dst=CLIENT) / UDP(sport=53, dport=sport) / payload
    p.time = T0 + t
    return p


def query(t: float, sport: int, qid: int, name: str, qtype: str = "A") -> Any:
    from scapy.layers.dns import DNS, DNSQR

    return udp(t, sport, DNS(id=qid, rd=1, qd=DNSQR(qname=name, qtype=qtype)))


def answer(
    t: float,
    sport: int,
    qid: int,
    name: str,
    qtype: str = "A",
    *,
    rcode: int = 0,
    rdata: str | None = None,
    ttl: int = 30,
) -> Any:
    from scapy.layers.dns import DNS, DNSQR, DNSRR

    an = [DNSRR(rrname=name, type=qtype, ttl=ttl, rdata=rdata)] if rdata else []
    msg = DNS(id=qid, qr=1, rd=1, ra=1, rcode=rcode, qd=DNSQR(qname=name, qtype=qtype), an=an)
    return udp(t, sport, msg, to_server=False)


def load(tmp_path: Path, pkts: list[Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    from scapy.utils import wrpcap

    path = tmp_path / "dns.pcap"
    wrpcap(str(path), pkts)
    packets = reader.read(path)
    msgs = dns.read(path, packets)
    check(msgs, dns.MESSAGES_SCHEMA)
    tx = dns.transactions(msgs)
    check(tx, dns.TRANSACTIONS_SCHEMA)
    return msgs, tx


def test_query_response_pairing_and_fields(tmp_path: Path) -> None:
    msgs, tx = load(
        tmp_path,
        [
            query(0.000, 40000, 7, "web.shop.svc.cluster.local"),
            query(0.001, 40001, 7, "db.shop.svc.cluster.local"),  # same id, other socket
            answer(0.0035, 40000, 7, "web.shop.svc.cluster.local", rdata="10.96.3.4", ttl=5),
            answer(0.004, 40001, 7, "db.shop.svc.cluster.local", rdata="10.96.3.5"),
        ],
    )
    assert len(msgs) == 4 and msgs["error"].isna().all()
    r = msgs.iloc[2]
    assert (r["qr"], r["rcode"], r["qname"], r["qtype"], r["answers"]) == (
        True,
        "NOERROR",
        "web.shop.svc.cluster.local.",
        "A",
        1,
    )
    assert r["answer_data"] == "A 10.96.3.4" and r["ttl_min_s"] == 5 and r["ra"] and r["rd"]
    assert len(tx) == 2 and tx["answered"].all()
    web = tx.iloc[0]
    assert (web["client"], web["client_port"], web["server"], web["server_port"]) == (
        CLIENT,
        40000,
        SERVER,
        53,
    )
    assert web["latency_ms"] == pytest.approx(3.5, abs=0.01)
    assert tx.iloc[1]["latency_ms"] == pytest.approx(3.0, abs=0.01)
    assert tx.iloc[1]["answer_data"] == "A 10.96.3.5"


def test_search_suffix_expansion(tmp_path: Path) -> None:
    base = "api.example.com"
    suffixes = ["default.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    pkts = []
    t = 0.0
    for i, suffix in enumerate(suffixes):
        name = f"{base}.{suffix}"
        pkts += [query(t, 40100, 10 + i, name), answer(t + 0.001, 40100, 10 + i, name, rcode=3)]
        t += 0.002
    pkts += [query(t, 40100, 20, base), answer(t + 0.02, 40100, 20, base, rdata="93.184.216.34")]
    pkts += [
        query(t, 40200, 21, "other.example.org"),
        answer(t + 0.02, 40200, 21, "other.example.org", rdata="1.1.1.1"),
    ]
    _, tx = load(tmp_path, pkts)
    ex = dns.expansions(tx)
    check(ex, dns.EXPANSIONS_SCHEMA)
    assert len(ex) == 1
    row = ex.iloc[0]
    assert (row["client"], row["qtype"], row["base"]) == (CLIENT, "A", base)
    assert (row["names"], row["queries"], row["nxdomain"], row["unanswered"]) == (4, 4, 3, 0)
    assert row["answered_name"] == "api.example.com."
    assert row["suffixes"] == "default.svc.cluster.local, svc.cluster.local, cluster.local, (none)"


def test_a_aaaa_race_with_retry_after_five_seconds(tmp_path: Path) -> None:
    name = "web.shop.svc.cluster.local"
    _, tx = load(
        tmp_path,
        [
            query(0.0, 40300, 300, name, "A"),
            query(0.0001, 40300, 301, name, "AAAA"),  # sent together from the same socket
            answer(0.001, 40300, 300, name, "A", rdata="10.96.3.4"),
            # the AAAA answer never comes; glibc waits 5 s and asks again (same id)
            query(5.0002, 40300, 301, name, "AAAA"),
            answer(5.001, 40300, 301, name, "AAAA"),
            query(7.0, 40400, 400, "lost.example.", "A"),  # unanswered, never retried
        ],
    )
    assert tx["answered"].tolist() == [True, False, True, False]
    assert tx.iloc[2]["latency_ms"] == pytest.approx(0.8, abs=0.01)  # paired with the resend
    rt = dns.retries(tx)
    check(rt, dns.RETRIES_SCHEMA)
    assert len(rt) == 1
    r = rt.iloc[0]
    assert (r["qname"], r["qtype"], r["sibling_qtype"]) == (name + ".", "AAAA", "A")
    assert r["gap_s"] == pytest.approx(5.0001, abs=1e-3)
    assert r["retry_answered"] and r["sibling_answered"]


def test_dns_over_tcp_split_across_segments(tmp_path: Path) -> None:
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    q = bytes(DNS(id=9, rd=1, qd=DNSQR(qname="big.example", qtype="TXT")))
    r = bytes(
        DNS(
            id=9,
            qr=1,
            qd=DNSQR(qname="big.example", qtype="TXT"),
            an=DNSRR(rrname="big.example", type="TXT", rdata="x" * 200),
        )
    )
    qw, rw = len(q).to_bytes(2, "big") + q, len(r).to_bytes(2, "big") + r

    def seg(t: float, c2s: bool, seq: int, data: bytes) -> Any:
        ip = IP(src=CLIENT, dst=SERVER) if c2s else IP(src=SERVER, dst=CLIENT)
        tcp = (
            TCP(sport=45000, dport=53, flags="PA", seq=seq)
            if c2s
            else TCP(sport=53, dport=45000, flags="PA", seq=seq)
        )
        p = Ether() / ip / tcp / data
        p.time = T0 + t
        return p

    msgs, tx = load(
        tmp_path,
        [
            seg(0.0, True, 1000, qw),
            seg(0.010, False, 5000, rw[:100]),
            seg(0.010, False, 5000, rw[:100]),  # retransmitted first part
            seg(0.011, False, 5100, rw[100:]),
        ],
    )
    assert msgs["transport"].tolist() == ["tcp", "tcp"]
    assert msgs["error"].isna().all()
    assert msgs.iloc[1]["frame"] == 2 and msgs.iloc[1]["answer_data"].startswith("TXT")
    assert len(tx) == 1 and tx.iloc[0]["latency_ms"] == pytest.approx(10.0, abs=0.01)


def test_malformed_messages_keep_their_rows(tmp_path: Path) -> None:
    from scapy.packet import Raw

    msgs, tx = load(
        tmp_path,
        [
            udp(0.0, 40500, Raw(b"\x12\x34\x01")),  # 3 bytes: only the id is readable
            udp(
                0.1, 40501, Raw(b"\x00\x05\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03ab")
            ),  # question cut short
        ],
    )
    assert len(msgs) == 2
    assert msgs.iloc[0]["id"] == 0x1234 and "short DNS header" in msgs.iloc[0]["error"]
    assert msgs.iloc[1]["id"] == 5 and not msgs.iloc[1]["qr"]
    assert msgs.iloc[1]["error"]
    assert len(tx) == 1 and not tx.iloc[0]["answered"]


def test_no_dns_gives_empty_declared_frames() -> None:
    check(dns.transactions(dns.messages(_empty_packets(), [])), dns.TRANSACTIONS_SCHEMA)
    check(dns.retries(dns.transactions(dns.messages(_empty_packets(), []))), dns.RETRIES_SCHEMA)
    check(dns.expansions(dns.transactions(dns.messages(_empty_packets(), []))), dns.EXPANSIONS_SCHEMA)


def _empty_packets() -> pd.DataFrame:
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty

    return empty(PACKETS_SCHEMA)


@pytest.mark.parametrize(
    "name",
    ["web.shop.svc.cluster.local.", "WWW.Example.COM.", "_http._tcp.x.", "a\\.b.example.", "sp ace.x.", "."],
)
def test_quick_question_parse_matches_dnspython(name: str) -> None:
    from dns import message as dnsmessage

    wire = dnsmessage.make_query(name, "AAAA", use_edns=False).to_wire()
    got = dns.parse(wire)
    ref = dnsmessage.from_wire(wire)
    assert got["qname"] == ref.question[0].name.to_text().lower()
    assert (got["qtype"], got["answers"], got["error"], got["qr"]) == ("AAAA", 0, None, False)
