"""IO graph bins: totals per bin, zero-filled gaps, top flows as their own series."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb.pcap import iograph
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check, frame

sys.path.insert(0, str(Path(__file__).parent))

from packet_rows import T0, packet_row


def pkt(i: int, t_s: float, sport: int, wire: int) -> dict[str, object]:
    return packet_row(
        i,
        ts=T0 + pd.Timedelta(seconds=t_s),
        caplen=wire,
        wirelen=wire,
        ip_version=4,
        src="10.0.0.1",
        dst="10.0.0.2",
        proto=17,
        ttl=64,
        frag=False,
        sport=sport,
        dport=9,
    )


def test_bins_total_and_per_flow() -> None:
    df = frame(
        [pkt(1, 0.0, 1000, 100), pkt(2, 0.5, 1000, 100), pkt(3, 0.7, 2000, 50), pkt(4, 3.2, 1000, 400)],
        PACKETS_SCHEMA,
    )
    io = iograph.bins(df, interval_s=1.0, top_n=1)
    check(io, iograph.IOGRAPH_SCHEMA)
    total = io[io["series"] == iograph.ALL]
    assert total["bytes"].tolist() == [250, 0, 0, 400]
    assert total["bytes_per_s"].tolist() == [250.0, 0.0, 0.0, 400.0]
    top = io[io["flow"] == 0]
    assert top["series"].iloc[0] == "UDP 10.0.0.1:1000 ↔ 10.0.0.2:9"
    assert top["bytes"].tolist() == [200, 0, 0, 400]
    assert set(io["flow"]) == {-1, 0}


def test_bin_width_grows_for_long_captures() -> None:
    df = frame([pkt(1, 0.0, 1000, 100), pkt(2, 10_000.0, 1000, 100)], PACKETS_SCHEMA)
    io = iograph.bins(df, interval_s=1.0, top_n=0, max_bins=100)
    assert len(io) <= 101
    assert io["bytes"].sum() == 200


def test_empty_and_bad_interval() -> None:
    check(iograph.bins(frame([], PACKETS_SCHEMA)), iograph.IOGRAPH_SCHEMA)
    with pytest.raises(ValueError, match="interval_s"):
        iograph.bins(frame([pkt(1, 0, 1, 1)], PACKETS_SCHEMA), interval_s=0)
