from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netdebug_nb import schema
from netdebug_nb.dns import expansion, resolvconf

GOLDEN = json.loads((Path(__file__).parents[1] / "fixtures" / "dns" / "expansion_golden.json").read_text())


def _conf(case: dict[str, Any], fixtures: Path) -> resolvconf.ResolvConf:
    ref = case["conf"]
    if ref.endswith(".conf"):
        return resolvconf.read(fixtures / "dns" / ref)
    return resolvconf.parse(ref)


@pytest.mark.parametrize("case", GOLDEN, ids=[c["case"] for c in GOLDEN])
def test_golden_orders(case: dict[str, Any], fixtures: Path) -> None:
    conf = _conf(case, fixtures)
    for resolver in expansion.RESOLVERS:
        got = [q for q, _ in expansion.candidates(case["name"], conf, resolver)]
        assert got == case[resolver], resolver


def test_table_and_side_by_side(fixtures: Path) -> None:
    conf = resolvconf.read(fixtures / "dns" / "k8s_resolv.conf")
    df = expansion.table(["api.example.com", "a.b.c.d.e.f", "bad..name"], conf)
    schema.check(df, expansion.EXPANSION_SCHEMA)
    assert set(df["name"]) == {"api.example.com", "a.b.c.d.e.f"}  # the invalid name is skipped
    assert (df[df["resolver"] == "glibc"]["qtypes"] == "A+AAAA").all()
    wide = expansion.side_by_side(df)
    deep = wide[wide["name"] == "a.b.c.d.e.f"]
    assert list(deep["musl"]) == ["a.b.c.d.e.f.", "—", "—", "—", "—"]
    assert list(wide["name"].unique()) == ["api.example.com", "a.b.c.d.e.f"]


def test_side_by_side_of_nothing() -> None:
    conf = resolvconf.parse("")
    wide = expansion.side_by_side(expansion.table([], conf))
    assert list(wide.columns) == ["name", "step", "glibc", "musl"] and wide.empty


def test_wasted_queries_count_the_ndots_cost(fixtures: Path) -> None:
    conf = resolvconf.read(fixtures / "dns" / "k8s_resolv.conf")
    assert expansion.wasted_queries("api.example.com", conf) == 8
    assert expansion.wasted_queries("api.example.com.", conf) == 0


def test_stop_rules_differ() -> None:
    assert expansion.continues("glibc", "NODATA") and not expansion.continues("musl", "NODATA")
    assert expansion.continues("glibc", "SERVFAIL") and not expansion.continues("musl", "SERVFAIL")
    assert not expansion.continues("glibc", "timeout")


@pytest.mark.parametrize(
    "name", ["", "a..b", ".leading", "x" * 64 + ".example", "has space.example", ("a" * 60 + ".") * 5]
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(expansion.InvalidNameError, match="not a valid DNS name"):
        expansion.validate(name)


def test_no_aaaa_option_drops_aaaa() -> None:
    conf = resolvconf.parse("options no-aaaa\n")
    assert expansion.qtypes_for(conf, ["a", "AAAA"]) == ["A"]
