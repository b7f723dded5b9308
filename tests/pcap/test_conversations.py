"""Conversations and flow labels on a crafted packet table."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb.pcap import conversations, flows
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check, frame

sys.path.insert(0, str(Path(__file__).parent))

from packet_rows import T0, packet_row


def pkt(
    i: int,
    t_s: float,
    src: str | None,
    dst: str | None,
    proto: int | None,
    sport: int | None,
    dport: int | None,
    wire: int,
) -> dict[str, object]:
    return packet_row(
        i,
        ts=T0 + pd.Timedelta(seconds=t_s),
        caplen=wire,
        wirelen=wire,
        ip_version=4 if src else None,
        src=src,
        dst=dst,
        proto=proto,
        ttl=64 if src else None,
        frag=False if src else None,
        sport=sport,
        dport=dport,
    )


@pytest.fixture
def table() -> pd.DataFrame:
    rows = [
        pkt(1, 0.0, "10.0.0.1", "10.0.0.2", 6, 40000, 80, 100),
        pkt(2, 0.5, "10.0.0.2", "10.0.0.1", 6, 80, 40000, 1500),
        pkt(3, 1.0, "10.0.0.2", "10.0.0.1", 6, 80, 40000, 1500),
        pkt(4, 1.2, "10.0.0.3", "10.0.0.1", 17, 53, 5353, 80),
        pkt(5, 2.0, None, None, None, None, None, 60),  # ARP: no IP
        pkt(6, 2.0, "10.0.0.1", "10.0.0.2", 1, None, None, 98),  # ping: same hosts, other protocol
        pkt(7, 2.5, "10.0.0.1", "10.0.0.2", 6, 40000, 80, 100),
        pkt(8, 3.0, "10.0.0.1", "10.0.0.2", 6, 40001, 80, 60),  # another port: another flow
    ]
    return frame(rows, PACKETS_SCHEMA)


def test_labels_group_both_directions_and_skip_non_ip(table: pd.DataFrame) -> None:
    labels = flows.label(table)
    check(labels, flows.LABELS_SCHEMA)
    assert labels["flow"].tolist() == [0, 0, 0, 1, -1, 2, 0, 3]
    assert labels["forward"].tolist() == [True, False, False, True, True, True, True, True]


def test_conversations_count_each_direction(table: pd.DataFrame) -> None:
    conv = conversations.summarize(table)
    check(conv, conversations.CONVERSATIONS_SCHEMA)
    assert len(conv) == 4
    top = conv.iloc[0]
    assert (top["protocol"], top["a"], top["a_port"], top["b"], top["b_port"]) == (
        "TCP",
        "10.0.0.1",
        40000,
        "10.0.0.2",
        80,
    )
    assert (top["packets_ab"], top["bytes_ab"], top["packets_ba"], top["bytes_ba"]) == (2, 200, 2, 3000)
    assert top["duration_s"] == pytest.approx(2.5)
    assert top["throughput_bps"] == pytest.approx(3200 * 8 / 2.5)
    icmp = conv[conv["protocol"] == "ICMP"].iloc[0]
    assert pd.isna(icmp["a_port"]) and pd.isna(icmp["throughput_bps"])
    labels = conversations.describe(conv)
    assert labels.iloc[0] == "TCP 10.0.0.1:40000 ↔ 10.0.0.2:80"
    assert labels[conv["protocol"] == "ICMP"].iloc[0] == "ICMP 10.0.0.1 ↔ 10.0.0.2"


def test_empty_and_non_ip_only() -> None:
    check(conversations.summarize(frame([], PACKETS_SCHEMA)), conversations.CONVERSATIONS_SCHEMA)
    only_arp = frame([pkt(1, 0, None, None, None, None, None, 60)], PACKETS_SCHEMA)
    assert conversations.summarize(only_arp).empty
