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


def test_proc_stat_without_net_admin() -> None:
    text = (
        "entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart\n"
        "0000002a  00000003 00000010 00000000 00000005 00000000 00000000 00000000 00000000 0000000b 0000000b 00000000 00000001  00000000 00000000 00000000 00000007\n"
        "0000002a  00000001 00000020 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000001 00000002 00000000  00000000 00000000 00000000 00000000\n"
    )
    df = conntrack.parse_proc_stat(text)
    schema.check(df, conntrack.STATS_SCHEMA)
    assert (
        list(df["insert_failed"]) == [11, 1]
        and list(df["clash_resolve"]) == [3, 1]
        and list(df["early_drop"]) == [0, 2]
    )
    with pytest.raises(ParseError) as exc:
        conntrack.parse_proc_stat(text + "0000002a 0001\n", "nf_conntrack-stat.txt")
    assert exc.value.line == 4


def test_proc_stat_live_matches_the_kernel() -> None:
    path = Path("/proc/net/stat/nf_conntrack")
    if not path.is_file():
        pytest.skip("no nf_conntrack module loaded")
    df = conntrack.parse_proc_stat(path.read_text())
    assert len(df) >= 1 and df["insert_failed"].notna().all()
