"""Capture overview, protocol mix and talkers on a crafted packet table."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb.pcap import summary
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check, frame

sys.path.insert(0, str(Path(__file__).parent))

from packet_rows import T0, packet_row


def pkt(
    i: int, t_s: float, src: str | None, dst: str | None, proto: int | None, wire: int, linktype: int = 1
) -> dict[str, object]:
    return packet_row(
        i,
        ts=T0 + pd.Timedelta(seconds=t_s),
        caplen=min(wire, 96),
        wirelen=wire,
        linktype=linktype,
        ip_version=(6 if src and ":" in src else 4) if src else None,
        src=src,
        dst=dst,
        proto=proto,
    )


@pytest.fixture
def table() -> pd.DataFrame:
    return frame(
        [
            pkt(1, 0.0, "10.0.0.1", "10.0.0.2", 6, 1000),
            pkt(2, 1.0, "10.0.0.2", "10.0.0.1", 6, 60),
            pkt(3, 2.0, "10.0.0.1", "10.0.0.3", 17, 80),
            pkt(4, 3.0, None, None, None, 60),
            pkt(5, 4.0, "fd00::1", "fd00::2", 58, 90, linktype=113),
        ],
        PACKETS_SCHEMA,
    )


def test_overview(table: pd.DataFrame) -> None:
    o = summary.overview(table)
    check(o, summary.OVERVIEW_SCHEMA)
    row = o.iloc[0]
    assert (row["packets"], row["bytes"], row["truncated_packets"]) == (5, 1290, 1)
    assert row["captured_bytes"] == 96 + 60 + 80 + 60 + 90
    assert row["duration_s"] == 4.0 and row["ip_packets"] == 4 and row["ipv6_packets"] == 1
    assert row["addresses"] == 5
    assert row["link_types"] == "Ethernet, Linux SLL"


def test_protocol_mix(table: pd.DataFrame) -> None:
    p = summary.protocols(table)
    check(p, summary.PROTOCOLS_SCHEMA)
    assert p["protocol"].tolist() == ["TCP", "ICMPv6", "UDP", "non-IP"]
    assert p["packets"].tolist() == [2, 1, 1, 1]
    assert p["packets_pct"].sum() == pytest.approx(100.0)


def test_talkers(table: pd.DataFrame) -> None:
    t = summary.talkers(table, top_n=2)
    check(t, summary.TALKERS_SCHEMA)
    assert t["address"].tolist() == ["10.0.0.1", "10.0.0.2"]
    first = t.iloc[0]
    assert (
        first["packets_sent"],
        first["bytes_sent"],
        first["packets_received"],
        first["bytes_received"],
    ) == (2, 1080, 1, 60)
    assert first["peers"] == 2


def test_empty_capture() -> None:
    empty = frame([], PACKETS_SCHEMA)
    o = summary.overview(empty)
    check(o, summary.OVERVIEW_SCHEMA)
    assert o.iloc[0]["packets"] == 0 and pd.isna(o.iloc[0]["start"])
    check(summary.protocols(empty), summary.PROTOCOLS_SCHEMA)
    check(summary.talkers(empty), summary.TALKERS_SCHEMA)
