from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import ParseError
from netdebug_nb.netstate import routes


def test_parse_all_tables(fixtures: Path) -> None:
    df = routes.parse((fixtures / "netstate/router/ip-route.json").read_text())
    schema.check(df, routes.ROUTE_SCHEMA)
    hole = df[df["type"] == "blackhole"]
    assert list(hole["dst"]) == ["198.18.99.0/24"] and list(hole["table"]) == ["main"]
    via = df[df["dst"] == "198.18.50.0/24"].iloc[0]
    assert via["gateway"] == "198.18.2.98" and via["dev"] == "br0"
    assert {"main", "local"} <= set(df["table"])
    assert set(df[df["dst"].str.contains(":")]["family"]) == {"inet6"}
    assert not (df["dst"] == "default").any()


def test_rules(fixtures: Path) -> None:
    df = routes.parse_rules((fixtures / "netstate/router/ip-rule.json").read_text())
    schema.check(df, routes.RULE_SCHEMA)
    assert list(df["priority"]) == [0, 32766, 32767]
    assert list(df["action"]) == ["lookup local", "lookup main", "lookup default"]


def test_rule_with_prefix() -> None:
    df = routes.parse_rules('[{"priority":100,"src":"10.1.0.0","srclen":16,"fwmark":"0x4000","table":"200"}]')
    assert df.iloc[0]["src"] == "10.1.0.0/16" and df.iloc[0]["fwmark"] == "0x4000"


def test_route_mtu_metric() -> None:
    df = routes.parse(
        '[{"dst":"10.2.0.0/16","gateway":"10.0.0.1","dev":"eth0","metrics":[{"mtu":1450}],"metric":100}]'
    )
    assert df.iloc[0]["mtu"] == 1450 and df.iloc[0]["metric"] == 100


def test_truncated_json_names_file_and_line() -> None:
    text = '[{"dst":"default",\n"gateway":"10.0.0.1",\n"dev":'
    with pytest.raises(ParseError) as exc:
        routes.parse(text, "snap/ip-route.json")
    assert exc.value.line == 3 and str(exc.value).startswith("snap/ip-route.json:3: ")


def test_lookup_results() -> None:
    ok = routes.parse_lookup(
        "198.18.2.10",
        '[{"dst":"198.18.2.10","gateway":"198.18.1.1","dev":"v0client","prefsrc":"198.18.1.2","flags":[],"uid":0,"cache":[]}]',
    )
    assert ok["dev"] == "v0client" and ok["gateway"] == "198.18.1.1" and ok["error"] == ""
    none = routes.parse_lookup("198.18.200.1", "ERROR RTNETLINK answers: Network is unreachable")
    assert none["error"] == "no route (Network is unreachable)"
    hole = routes.parse_lookup("198.18.99.5", "ERROR RTNETLINK answers: Invalid argument")
    assert hole["error"].startswith("blackhole route")


def test_collect_lookup_live_loopback() -> None:
    text = routes.collect_lookup("127.0.0.1")
    assert routes.parse_lookup("127.0.0.1", text)["dev"] == "lo"
