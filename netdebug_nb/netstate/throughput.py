"""Throughput with iperf3 against a given server: TCP (parallel streams, retransmits) and UDP
(jitter, loss), with the per-interval series so a dip or a stall is visible, not averaged away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netdebug_nb import schema, tools
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate.parsing import json_object

if TYPE_CHECKING:
    import pandas as pd

INTERVAL_SCHEMA: schema.Schema = {
    "test": "string",  # tcp | udp
    "start_s": "float64",  # seconds since the test started
    "end_s": "float64",
    "bytes": "Int64",
    "mbps": "Float64",  # sum over streams, megabits per second
    "retransmits": "Int64",  # TCP sender only
    "packets": "Int64",  # UDP only
}

SUMMARY_SCHEMA: schema.Schema = {
    "test": "string",
    "server": "string",
    "streams": "Int64",
    "duration_s": "Float64",
    "sent_mbps": "Float64",
    "received_mbps": "Float64",
    "retransmits": "Int64",  # TCP
    "jitter_ms": "Float64",  # UDP, measured by the receiver
    "packets": "Int64",  # UDP
    "lost_packets": "Int64",  # UDP
    "lost_pct": "Float64",  # UDP
    "error": "string",  # iperf3's own error ("unable to connect to server ...")
}


def argv(
    server: str, seconds: int, *, udp: bool = False, parallel: int = 1, rate: str = "100M", port: int = 5201
) -> list[str]:
    cmd = [
        "iperf3",
        "-c",
        server,
        "-p",
        str(port),
        "-t",
        str(seconds),
        "-P",
        str(parallel),
        "-J",
        "--connect-timeout",
        "3000",
    ]
    return [*cmd, "-u", "-b", rate] if udp else cmd


def collect(
    server: str, seconds: int, *, udp: bool = False, parallel: int = 1, rate: str = "100M", port: int = 5201
) -> str:
    """Run one iperf3 client test; its JSON (even a failed test's, which carries ``error``)."""
    done = tools.run(
        argv(server, seconds, udp=udp, parallel=parallel, rate=rate, port=port),
        timeout=seconds + 30,
        ok_codes=(0, 1),
    )
    return done.stdout


def _mbps(d: dict[str, Any]) -> float | None:
    bps = d.get("bits_per_second")
    return None if bps is None else float(bps) / 1e6


def parse(text: str, source: str = "iperf3 -J") -> tuple[pd.DataFrame, pd.DataFrame]:
    """iperf3 ``-J`` output → (per-interval series, one-row summary)."""
    doc = json_object(text, source, what="iperf3 -J")
    start = doc.get("start") or {}
    test_start = start.get("test_start") or {}
    proto = str(test_start.get("protocol", "")).lower()
    if not proto and "error" not in doc:
        raise ParseError(source, "no start.test_start.protocol: not iperf3 -J output", line=1)
    server = str((start.get("connecting_to") or {}).get("host", ""))
    rows = []
    for iv in doc.get("intervals") or []:
        s = iv.get("sum") or {}
        rows.append(
            {
                "test": proto,
                "start_s": s.get("start"),
                "end_s": s.get("end"),
                "bytes": s.get("bytes"),
                "mbps": _mbps(s),
                "retransmits": s.get("retransmits"),
                "packets": s.get("packets"),
            }
        )
    end = doc.get("end") or {}
    sent, recv, udp = end.get("sum_sent") or {}, end.get("sum_received") or {}, end.get("sum") or {}
    summary = {
        "test": proto,
        "server": server,
        "streams": test_start.get("num_streams"),
        "duration_s": sent.get("seconds") or udp.get("seconds"),
        "sent_mbps": _mbps(sent) if sent else None,
        "received_mbps": _mbps(recv) if recv else (_mbps(udp) if udp else None),
        "retransmits": sent.get("retransmits") if proto == "tcp" else None,
        "jitter_ms": udp.get("jitter_ms") if proto == "udp" else None,
        "packets": udp.get("packets") if proto == "udp" else None,
        "lost_packets": udp.get("lost_packets") if proto == "udp" else None,
        "lost_pct": udp.get("lost_percent") if proto == "udp" else None,
        "error": str(doc.get("error", "")),
    }
    return schema.frame(rows, INTERVAL_SCHEMA), schema.frame([summary], SUMMARY_SCHEMA)
