"""Findings from analysis frames: thresholds decide severity, and the bundled sample gives the expected ids."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb.catalogue import DATA_DIR
from netdebug_nb.pcap import checks, dns, icmp, reader, summary, tcp
from netdebug_nb.pcap.dns import TRANSACTIONS_SCHEMA
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.pcap.tcp import HEALTH_SCHEMA
from netdebug_nb.schema import empty, frame

SAMPLE = DATA_DIR / "pcap" / "sample.pcap"
T0 = pd.Timestamp("2026-01-01", tz="UTC")


def health(**over: object) -> pd.DataFrame:
    row: dict[str, object] = {c: 0 for c in HEALTH_SCHEMA}
    row.update(
        flow=0, client="10.0.0.1", client_port=40000, server="10.0.0.2", server_port=80, state="established",
        closed="fin", start=T0, end=T0, duration_s=0.0, syns=1, handshake_rtt_ms=1.0, syn_synack_ms=0.5,
        synack_ack_ms=0.5, connect_ms=1.0, data_segments=100, retransmission_rate=0.0, reset_by=None,
        rtt_median_ms=1.0,
    )  # fmt: skip
    row.update(over)
    return frame([row], HEALTH_SCHEMA)


def ids(fs: list[checks.Finding]) -> dict[str, str]:
    return {f.id: f.severity for f in fs}


@pytest.mark.parametrize(
    ("retrans", "expected"),
    [(0, None), (2, None), (3, "warning"), (4, "warning"), (5, "critical"), (20, "critical")],
)
def test_retransmission_thresholds(retrans: int, expected: str | None) -> None:
    fs = ids(checks.tcp_findings(health(retransmissions=retrans), checks.Thresholds(retrans_min=3)))
    assert fs.get("tcp.retransmissions") == expected


def test_refused_connections_are_handshake_failures_not_resets() -> None:
    h = pd.concat([health(), health(flow=1, state="refused", resets=1, reset_by="server", data_segments=1)])
    fs = ids(checks.tcp_findings(h.reset_index(drop=True)))
    assert fs == {"tcp.handshake_failures": "critical"}  # 1 of 2 attempts: above the 20 % default
    fs = ids(checks.tcp_findings(h.reset_index(drop=True), checks.Thresholds(handshake_failure_critical=0.6)))
    assert fs == {"tcp.handshake_failures": "warning"}


def test_zero_window_resets_and_slow_handshakes() -> None:
    fs = ids(checks.tcp_findings(health(zero_window=3, resets=1, reset_by="client", handshake_rtt_ms=450.0)))
    assert fs == {"tcp.zero_window": "warning", "tcp.resets": "warning", "tcp.slow_handshake": "warning"}


def test_unanswered_queries_at_the_end_of_the_capture_are_not_counted() -> None:
    def q(t_s: float, answered: bool) -> dict[str, object]:
        row: dict[str, object] = {c: None for c in TRANSACTIONS_SCHEMA}
        row.update(query_frame=int(t_s * 10), query_ts=T0 + pd.Timedelta(seconds=t_s), client="10.0.0.1",
                   client_port=5000, server="10.96.0.10", server_port=53, transport="udp", id=1,
                   qname="a.example.", qtype="A", answered=answered, latency_ms=1.0 if answered else None,
                   rcode="NOERROR" if answered else None)  # fmt: skip
        return row

    tx = frame([q(0, True), q(1, True), q(2, False), q(19, False)], TRANSACTIONS_SCHEMA)
    fs = checks.dns_findings(
        dns.summarize(tx, empty(dns.MESSAGES_SCHEMA)), capture_end=T0 + pd.Timedelta(seconds=20)
    )
    (f,) = fs
    assert (f.id, f.severity) == ("dns.unanswered", "critical")
    assert f.evidence["unanswered"] == 1 and f.evidence["queries"] == 3


def test_clean_capture_gives_one_info_finding() -> None:
    overview = frame(
        [{"packets": 10, "bytes": 1000, "captured_bytes": 1000, "truncated_packets": 0, "start": T0, "end": T0,
          "duration_s": 0.0, "ip_packets": 10, "ipv6_packets": 0, "addresses": 2, "link_types": "Ethernet"}],
        summary.OVERVIEW_SCHEMA,
    )  # fmt: skip
    no_dns = dns.summarize(empty(TRANSACTIONS_SCHEMA), empty(dns.MESSAGES_SCHEMA))
    fs = checks.evaluate(overview, health(), no_dns)
    assert ids(fs) == {"pcap.no_problems": "info"}
    empty_capture = summary.overview(empty(PACKETS_SCHEMA))
    fs = checks.evaluate(empty_capture, empty(HEALTH_SCHEMA), no_dns)
    assert ids(fs) == {"capture.empty": "warning"}


def test_bundled_sample_gives_the_documented_findings() -> None:
    """The sample (scripts/make_sample_pcap.py) holds one of each problem the script creates."""
    packets = reader.read(SAMPLE)
    a = tcp.analyze(packets)
    msgs = dns.read(SAMPLE, packets)
    tx = dns.transactions(msgs)
    fs = checks.evaluate(
        summary.overview(packets),
        a.health,
        dns.summarize(tx, msgs),
        icmp_errors=icmp.errors(packets),
    )
    got = ids(fs)
    for fid in (
        "tcp.retransmissions",
        "tcp.resets",
        "tcp.zero_window",
        "tcp.handshake_failures",
        "dns.unanswered",
        "dns.retry_after_timeout",
        "dns.nxdomain_expansion",
        "icmp.fragmentation_needed",
        "icmp.unreachable",
    ):
        assert fid in got, fid
    by_id = {f.id: f for f in fs}
    assert by_id["tcp.handshake_failures"].evidence["by_state"] == {"refused": 1, "unanswered": 1}
    assert by_id["dns.retry_after_timeout"].evidence["a_aaaa_race"] == 1
    # every 20th HTTP packet dropped: 4 data segments resent, plus the SYN retry; tshark agrees
    assert by_id["tcp.retransmissions"].evidence["retransmissions"] == 5
    assert int(a.health["dup_acks"].sum()) == 24
    assert Path(SAMPLE).stat().st_size < 300_000


def test_a_capture_without_packets_is_inconclusive() -> None:
    packets = empty(PACKETS_SCHEMA)
    (f,) = checks.coverage("/tmp/x.pcap", packets)
    assert f.id == "capture.empty" and f.inconclusive and f.evidence == {"capture": "/tmp/x.pcap"}
    assert checks.coverage("", packets) == []  # no capture at all: capture.none says so
    assert checks.coverage("/x.pcap", reader.read(DATA_DIR / "pcap" / "sample.pcap")) == []


def test_a_servfail_storm_is_counted_whole_but_kept_small(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every error answer counted by rcode, only the first names kept: the same whether the
    queries are summarized at once or in parts (flow buckets), and the finding says so."""
    monkeypatch.setattr(dns, "ERROR_NAMES", 50)
    n = 3000
    rows = [{c: None for c in TRANSACTIONS_SCHEMA} for _ in range(n)]
    for i, row in enumerate(rows):
        rcode = "SERVFAIL" if i % 3 else ("REFUSED" if i % 2 else "NOERROR")
        row.update(query_frame=i, query_ts=T0 + pd.Timedelta(milliseconds=i), client=f"10.0.{i % 7}.1",
                   client_port=5000 + i % 100, server="10.96.0.10", server_port=53, transport="udp", id=i,
                   qname=f"svc-{i % 400:03d}.ns.svc.cluster.local.", qtype="A", answered=True,
                   latency_ms=2.0, rcode=rcode)  # fmt: skip
    tx = frame(rows, TRANSACTIONS_SCHEMA)
    whole = dns.summarize(tx, empty(dns.MESSAGES_SCHEMA))
    errors = tx[tx["rcode"].isin(dns.ERROR_RCODES)]
    assert whole.error_count == len(errors) == 2500
    assert whole.error_rcodes == {"SERVFAIL": 2000, "REFUSED": 500}
    assert whole.error_names == tuple(sorted(set(errors["qname"]))[:50])
    parts = [
        dns.summarize(tx.iloc[a:b], empty(dns.MESSAGES_SCHEMA), related=False)
        for a, b in ((0, 1234), (1234, n))
    ]
    merged = dns.combine(parts)
    assert (merged.error_count, merged.error_rcodes, merged.error_names) == (
        whole.error_count, whole.error_rcodes, whole.error_names
    )  # fmt: skip
    (f,) = [f for f in checks.dns_findings(merged, top_n=10) if f.id == "dns.errors"]
    assert f.title == "2500 DNS responses were errors (2000 SERVFAIL, 500 REFUSED)"
    assert f.evidence == {
        "by_rcode": {"SERVFAIL": 2000, "REFUSED": 500},
        "names": list(whole.error_names[:10]),
    }
