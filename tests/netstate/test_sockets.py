from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate import sockets


def test_listening_address_forms(fixtures: Path) -> None:
    df = sockets.parse_listening((fixtures / "netstate/ss-tulpn-forms.txt").read_text())
    schema.check(df, sockets.LISTEN_SCHEMA)
    assert len(df) == 10
    rows = {(r.proto, r.local_addr, r.local_port): r for r in df.itertuples(index=False)}
    assert rows[("udp", "127.0.0.53", 53)].process == "systemd-resolve"
    assert rows[("udp", "fe80::5054:ff:fe12:3456", 546)].pid == 590
    assert rows[("udp", "*", 8472)].process == ""
    assert rows[("tcp", "*", 10250)].process == "kubelet"
    assert rows[("tcp", "::1", 9099)].loopback_only
    assert (
        rows[("tcp", "127.0.0.1", 2379)].loopback_only and not rows[("tcp", "10.0.0.12", 2379)].loopback_only
    )
    assert rows[("tcp", "127.0.0.1", 10248)].send_q == 4096
    assert sorted(df[df["loopback_only"]]["local_port"]) == [53, 2379, 9099, 10248]


def test_tcp_info_from_lab_client(fixtures: Path) -> None:
    df = sockets.parse_tcp_info((fixtures / "netstate/client/ss-tin.txt").read_text())
    schema.check(df, sockets.TCP_SCHEMA)
    lossy = df[df["peer_port"] == 5202]
    assert len(lossy) >= 1
    data = lossy.sort_values("data_segs_out").iloc[-1]
    assert data["process"] == "iperf3" and data["retrans_total"] > 0 and data["retrans_pct"] > 2
    assert data["peer_addr"] == "198.18.2.10" and data["rtt_ms"] > 0 and data["cwnd"] > 0
    assert set(df["congestion"]) <= {"bbr", "cubic", "reno"}
    assert (df["retrans_total"].notna()).all()


def test_tcp_info_line() -> None:
    text = (
        "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"
        "ESTAB 0 1448 [2001:db8::1]:443 [2001:db8::2]:51000\n"
        "\t cubic wscale:7,7 rto:408 rtt:201.5/40.2 mss:1448 pmtu:1500 cwnd:4 ssthresh:7 segs_out:1200 "
        "data_segs_out:1000 retrans:1/50 lost:1 unacked:3 bytes_retrans:72400\n"
    )
    r = sockets.parse_tcp_info(text).iloc[0]
    assert (r["local_addr"], r["local_port"], r["peer_addr"]) == ("2001:db8::1", 443, "2001:db8::2")
    assert (r["retrans_now"], r["retrans_total"], r["retrans_pct"]) == (1, 50, 5.0)
    assert (r["rtt_ms"], r["rttvar_ms"], r["rto_ms"], r["cwnd"], r["congestion"]) == (
        201.5,
        40.2,
        408.0,
        4,
        "cubic",
    )
    assert r["process"] == ""


def test_short_line_names_line() -> None:
    with pytest.raises(ParseError) as exc:
        sockets.parse_listening(
            "Netid State Recv-Q\ntcp LISTEN 0 5 127.0.0.1:80 0.0.0.0:*\ntcp LISTEN 0\n", "ss-tulpn.txt"
        )
    assert exc.value.line == 3 and "ss-tulpn.txt:3" in str(exc.value)


def test_endpoint_forms() -> None:
    assert sockets.split_endpoint("[::1]:8080") == ("::1", 8080)
    assert sockets.split_endpoint("*:*") == ("*", None)
    assert sockets.split_endpoint("0.0.0.0:22") == ("*", 22)
    assert sockets.split_endpoint("[fe80::1%eth0]:123") == ("fe80::1", 123)
