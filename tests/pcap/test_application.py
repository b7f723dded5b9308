"""HTTP/1.x, HTTP/2 (gRPC) and TLS from captures: crafted streams for the hard cases (retransmission,
reordering, holes, pipelining, HEAD), then a lab capture of real clients and servers checked
against tshark, and the shared corpus for robustness.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from lab import Lab, available
from ndtestkit import CORPUS, netdebug_cmd

sys.path.insert(0, str(Path(__file__).parent))

import l7lab
from pcapbuild import pcap

from netdebug_nb.pcap import application, flows, reader, streams, tcp

C, S = "198.18.1.2", "198.18.2.10"


def tcp_packet(
    src: str, dst: str, sport: int, dport: int, seq: int, ack: int, flags: str, data: bytes = b""
) -> bytes:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    return bytes(
        Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags) / data
    )


class Conversation:
    """A TCP connection written packet by packet with explicit times (ms) and sequence numbers."""

    def __init__(self, sport: int = 40000, dport: int = 8080, isn_c: int = 1000, isn_s: int = 5000) -> None:
        self.sport, self.dport = sport, dport
        self.c, self.s = isn_c + 1, isn_s + 1
        self.pkts: list[tuple[int, bytes]] = [
            (0, tcp_packet(C, S, sport, dport, isn_c, 0, "S")),
            (100_000, tcp_packet(S, C, dport, sport, isn_s, isn_c + 1, "SA")),
            (200_000, tcp_packet(C, S, sport, dport, isn_c + 1, isn_s + 1, "A")),
        ]

    def client(self, ms: float, data: bytes, *, at: int | None = None) -> None:
        seq = self.c if at is None else at
        self.pkts.append((int(ms * 1e6), tcp_packet(C, S, self.sport, self.dport, seq, self.s, "PA", data)))
        if at is None:
            self.c += len(data)

    def server(self, ms: float, data: bytes, *, at: int | None = None) -> None:
        seq = self.s if at is None else at
        self.pkts.append((int(ms * 1e6), tcp_packet(S, C, self.dport, self.sport, seq, self.c, "PA", data)))
        if at is None:
            self.s += len(data)


def analyse(tmp_path: Path, *convs: Conversation) -> application.Application:
    packets = sorted((p for c in convs for p in c.pkts), key=lambda p: p[0])
    f = tmp_path / "crafted.pcap"
    f.write_bytes(pcap(packets))
    pk = reader.read(f)
    lb = flows.label(pk)
    return application.read(f, pk, lb, tcp.analyze(pk, lb).health)


RESP_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_http_through_retransmission_reordering_and_overlap(tmp_path: Path) -> None:
    conv = Conversation()
    req = b"GET /a HTTP/1.1\r\nHost: api\r\n\r\n"
    first, second = req[:10], req[10:]
    start = conv.c
    conv.client(1, second, at=start + 10)  # the second half arrives first
    conv.client(2, first, at=start)  # then the first: the request is complete at 2 ms
    conv.c = start + len(req)
    conv.client(3, req[5:], at=start + 5)  # a retransmission overlapping what was placed
    conv.server(50, RESP_OK[:20])
    conv.server(60, RESP_OK[20:])
    app = analyse(tmp_path, conv)
    (row,) = app.http.to_dict("records")
    assert (row["method"], row["path"], row["host"], row["status"]) == ("GET", "/a", "api", 200)
    assert row["server_ms"] == pytest.approx(48.0) and row["ttlb_ms"] == pytest.approx(58.0)
    assert row["request_bytes"] == len(req) and row["response_bytes"] == len(RESP_OK)
    assert row["error"] == ""
    assert app.http["request_frame"].iloc[0] == 5  # the packet that completed the request (frame 5: 2 ms)


def test_keepalive_pipelining_head_and_unanswered(tmp_path: Path) -> None:
    conv = Conversation()
    conv.client(1, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    conv.server(10, RESP_OK)
    conv.server(20, b"HTTP/1.1 404 Not Found\r\nContent-Length: 99\r\n\r\n")  # HEAD: no body follows
    conv.client(30, b"POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc")
    conv.server(45, b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conv.client(46, b"GET /4 HTTP/1.1\r\nHost: a\r\n\r\n")
    h = analyse(tmp_path, conv).http
    assert list(h["path"]) == ["/1", "/2", "/3", "/4"]
    assert list(h["status"].astype("object").where(h["status"].notna(), None)) == [200, 404, 503, None]
    assert list(h["server_ms"].round(3).astype("object").where(h["server_ms"].notna(), None)) == [
        9.0,
        19.0,
        15.0,
        None,
    ]
    assert h["error"].iloc[3] == "no response (connection closed)"


def test_pipelined_requests_pair_in_order(tmp_path: Path) -> None:
    conv = Conversation()
    conv.client(
        1,
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    conv.server(5, RESP_OK + b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nno")
    conv.server(9, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
    h = analyse(tmp_path, conv).http
    assert list(h["path"]) == ["/1", "/2", "/3"] and list(h["status"]) == [200, 500, 204]
    assert list(h["server_ms"].round(3)) == [4.0, 4.0, 8.0]
    assert list(h["response_frame"]) == [5, 5, 6] and (h["error"] == "").all()
    assert list(h["request_bytes"]) == [28, 28, 28] and h["response_bytes"].iloc[0] == len(RESP_OK)


def test_a_hole_in_the_capture_is_said_not_misread(tmp_path: Path) -> None:
    conv = Conversation()
    conv.client(1, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    start = conv.s
    conv.server(10, RESP_OK[:10], at=start)
    conv.server(11, RESP_OK[20:], at=start + 20)  # bytes 10..20 never captured
    app = analyse(tmp_path, conv)
    assert app.http["error"].iloc[0] == "gap in capture"
    assert app.notes and "never saw" in app.notes[0]


def test_flows_on_other_ports_are_sniffed_and_others_skipped(tmp_path: Path) -> None:
    a = Conversation(sport=40001, dport=7777)
    a.client(1, b"GET /sniffed HTTP/1.1\r\nHost: a\r\n\r\n")
    a.server(2, RESP_OK)
    b = Conversation(sport=40002, dport=7778)
    b.client(1, b"\x00\x01binary protocol")
    b.server(2, b"\x00\x02reply")
    app = analyse(tmp_path, a, b)
    assert list(app.http["path"]) == ["/sniffed"] and app.flows_read == 1


def test_empty_input_keeps_schemas(tmp_path: Path) -> None:
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty

    pk = empty(PACKETS_SCHEMA)
    app = application.read("", pk, flows.label(pk), tcp.analyze(pk).health)
    assert app.http.empty and app.h2.empty and app.tls.empty and app.flows_read == 0
    assert application.servers(app, tcp.analyze(pk).health).empty
    assert application.findings(app, application.servers(app, tcp.analyze(pk).health)) == []


def test_sniff() -> None:
    assert streams.sniff(b"GET / HTTP/1.1\r\n") == "http1"
    assert streams.sniff(streams.H2_PREFACE) == "http2"
    assert streams.sniff(b"\x16\x03\x01\x02\x00") == "tls"
    assert streams.sniff(b"SSH-2.0-OpenSSH") == ""


# --- a real lab capture, against tshark -------------------------------------------------------


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    why = available()
    if why or not shutil.which("tshark"):
        if __import__("os").environ.get("CI"):
            pytest.fail(f"L7 lab tests must run in CI: {why or 'tshark missing'}")
        pytest.skip(why or "tshark missing")
    out = tmp_path_factory.mktemp("l7")
    with Lab() as lab:
        pcap_path = l7lab.record(lab, out)
    pk = reader.read(pcap_path)
    lb = flows.label(pk)
    health = tcp.analyze(pk, lb).health
    app = application.read(pcap_path, pk, lb, health)
    yield {"path": pcap_path, "app": app, "health": health, "out": out}


def tshark(path: Path, *args: str) -> list[list[str]]:
    done = subprocess.run(
        ["tshark", "-r", str(path), "-d", "tcp.port==50051,http2", *args],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return [line.split("\t") for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.lab
def test_http_pairs_and_times_agree_with_tshark(capture: dict[str, Any]) -> None:
    rows = tshark(capture["path"], "-Y", "http.response", "-T", "fields", "-e", "frame.number", "-e",
                  "http.request_in", "-e", "http.time", "-e", "http.response.code")  # fmt: skip
    h = capture["app"].http
    assert len(rows) >= 5
    for frame_no, request_in, http_time, code in rows:
        if not request_in:
            continue  # tshark pairs only the first of pipelined requests
        ours = h[h["response_frame"] == int(frame_no)]
        assert len(ours) == 1, (frame_no, h[["path", "request_frame", "response_frame"]])
        assert int(ours["request_frame"].iloc[0]) == int(request_in)
        assert int(ours["status"].iloc[0]) == int(code)
        assert abs(float(ours["ttlb_ms"].iloc[0]) - float(http_time) * 1000) < 1.0
    # and pipelining, which tshark does not pair: every request has its answer in order
    pipe = h[h["path"].isin(["/delay/50", "/status/500", "/status/200", "/last"])]
    assert list(pipe["status"].astype("object").where(pipe["status"].notna(), None)) == [200, 500, 501, None]
    slow = h[h["path"] == "/delay/300"]
    assert 295 < float(slow["server_ms"].iloc[0]) < 400


@pytest.mark.lab
def test_tls_fields_agree_with_tshark(capture: dict[str, Any]) -> None:
    t = capture["app"].tls
    sni = tshark(capture["path"], "-Y", "tls.handshake.type==1", "-T", "fields", "-e", "tcp.srcport", "-e",
                 "tls.handshake.extensions_server_name")  # fmt: skip
    assert len(sni) == len(t) == 4
    ours = dict(zip(t["client_port"].astype(int).astype(str), t["sni"], strict=True))
    assert {p: s for p, s in sni} == ours
    alerts = tshark(capture["path"], "-Y", "tls.alert_message.desc", "-T", "fields", "-e", "tcp.srcport",
                    "-e", "tls.alert_message.desc")  # fmt: skip
    plain = {p: d for p, d in alerts if d}
    assert plain == {
        str(int(r["client_port"])): "48" for r in t.to_dict("records") if r["alert"] == "unknown_ca"
    }
    versions = dict(zip(t["server_port"].astype(int), t["version"], strict=True))
    assert versions[8444] == "TLS 1.1" and versions[9443] == "TLS 1.2"
    expired = t[t["server_port"] == 9443]
    assert bool(expired["cert_expired"].iloc[0]) and expired["cert_san"].iloc[0] == "web.lab"


@pytest.mark.lab
def test_grpc_status_agrees_with_tshark(capture: dict[str, Any]) -> None:
    rows = tshark(capture["path"], "-Y", "http2.header.name == \"grpc-status\"", "-T", "fields", "-E",
                  "aggregator=|", "-e", "http2.header.name", "-e", "http2.header.value")  # fmt: skip
    theirs = sorted(
        int(v) for names, values in rows for n, v in zip(names.split("|"), values.split("|"), strict=True)
        if n == "grpc-status"
    )  # fmt: skip
    g = capture["app"].h2
    ours = sorted(int(v) for v in g["grpc_status"].dropna())
    assert ours == theirs and len(ours) >= 7
    rst = tshark(
        capture["path"], "-Y", "http2.rst_stream.error", "-T", "fields", "-e", "http2.rst_stream.error"
    )
    assert [int(c) for r in rst for c in r[0].split(",")] == [8]  # CANCEL
    ev = capture["app"].h2_events
    assert list(ev.loc[ev["kind"] == "rst_stream", "code"]) == ["CANCEL"]
    assert (g["grpc_code"] == "UNAVAILABLE").sum() == 2 and (g["grpc_message"] == "backend down").sum() == 2
    reset = g[g["rst_code"].notna()]
    assert list(reset["rst_code"]) == ["CANCEL"] and list(reset["rst_by"]) == [
        "client"
    ]  # gave up after 50 ms
    slow = g[(g["path"] == "/lab.Test/Slow") & g["grpc_status"].eq(0)]
    assert len(slow) == 2 and (slow["server_ms"] > 195).all()


@pytest.mark.lab
def test_findings_name_each_case(capture: dict[str, Any]) -> None:
    app = capture["app"]
    by_server = application.servers(app, capture["health"])
    th = application.Thresholds(server_slow_ms=100, tls_handshake_slow_ms=0.5)
    found = {f.id: f for f in application.findings(app, by_server, th)}
    assert set(found) == {
        "http.server_slow", "http.errors_5xx", "http.errors_4xx", "grpc.errors", "http2.resets",
        "tls.alerts", "tls.handshake_slow", "tls.old_protocol", "tls.cert_expired",
    }  # fmt: skip
    assert found["grpc.errors"].evidence["by_code"] == {"UNAVAILABLE": 2}
    assert "unknown_ca" in found["tls.alerts"].title
    web = by_server[(by_server["server_port"] == 8080)].iloc[0]
    assert web["handshake_p50_ms"] < 5 and web["server_max_ms"] > 295


@pytest.mark.lab
def test_notebook_reports_the_application_layer(capture: dict[str, Any]) -> None:
    out = capture["out"] / "report"
    done = subprocess.run(
        [*netdebug_cmd(), "run", "pcap_analysis", "-p", "pcap", str(capture["path"]), "-p", "kubernetes", "false",
         "-p", "http_slow_ms", "100", "--out", str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads((out / "pcap_analysis" / "findings.json").read_text())
    ids = {f["id"] for f in doc["findings"]}
    assert {"http.server_slow", "http.errors_5xx", "grpc.errors", "tls.alerts", "tls.cert_expired"} <= ids, (
        ids
    )
    html = (out / "pcap_analysis" / "pcap_analysis.html").read_text()
    assert "/lab.Test/Fail" in html and "unknown_ca" in html


# --- robustness ----------------------------------------------------------------------------


@pytest.mark.slow
def test_corpus_payloads_never_crash_the_analysis() -> None:
    """Malformed and truncated HTTP/TLS/HTTP-2 payloads of tcpdump's corpus: tables, never a traceback."""
    files = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng")) if CORPUS.is_dir() else []
    if not files:
        pytest.skip("no corpus")
    read_any = 0
    t0 = time.monotonic()
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pk = reader.read(f)
        except reader.PcapFormatError:
            continue
        if not ((pk["proto"] == 6) & (pk["payload_len"].fillna(0) > 0)).any():
            continue  # no TCP payload: nothing for the L7 path
        lb = flows.label(pk)
        health = tcp.analyze(pk, lb).health
        # common L7 ports forced: their flows are parsed even when they do not start like HTTP/TLS
        app = application.read(f, pk, lb, health, ports=(80, 443, 8080, 8443, 8000, 3128, 50051))
        application.findings(app, application.servers(app, health))
        read_any += app.flows_read
        assert isinstance(app.http, pd.DataFrame)
    assert read_any > 10  # the corpus has HTTP, TLS and HTTP/2 captures: they were read
    assert time.monotonic() - t0 < 240
