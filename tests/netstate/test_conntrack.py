from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import schema
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate import conntrack


def test_lab_stats(fixtures: Path) -> None:
    d = fixtures / "netstate/router"
    stats = conntrack.parse_stats((d / "conntrack-S.txt").read_text())
    schema.check(stats, conntrack.STATS_SCHEMA)
    assert len(stats) >= 1 and list(stats["cpu"]) == list(range(len(stats)))
    u = conntrack.usage(stats, conntrack.parse_count((d / "conntrack-count.txt").read_text()),
                        conntrack.parse_sysctl((d / "sysctl.txt").read_text()))  # fmt: skip
    schema.check(u, conntrack.USAGE_SCHEMA)
    assert u.iloc[0]["max"] > 0 and u.iloc[0]["total_insert_failed"] == 0


def test_pressure(fixtures: Path) -> None:
    d = fixtures / "netstate"
    stats = conntrack.parse_stats((d / "conntrack-S-pressure.txt").read_text())
    u = conntrack.usage(stats, conntrack.parse_count((d / "conntrack-count-full.txt").read_text()),
                        conntrack.parse_sysctl((d / "sysctl-full.txt").read_text())).iloc[0]  # fmt: skip
    assert (u["total_insert_failed"], u["total_early_drop"], u["total_invalid"]) == (58, 217, 800)
    assert u["used_pct"] == pytest.approx(99.609375)


def test_count_from_sysctl_when_no_conntrack_tool() -> None:
    u = conntrack.usage(
        schema.empty(conntrack.STATS_SCHEMA),
        None,
        {"net.netfilter.nf_conntrack_count": "10", "net.netfilter.nf_conntrack_max": "100"},
    )
    assert u.iloc[0]["used_pct"] == 10.0 and pd.isna(u.iloc[0]["total_drop"])


def test_bad_line() -> None:
    with pytest.raises(ParseError) as exc:
        conntrack.parse_stats("cpu=0 found=1\nconntrack v1.4.7: Operation failed\n", "conntrack-S.txt")
    assert exc.value.line == 2
