from __future__ import annotations

from pathlib import Path

from netdebug_nb import schema
from netdebug_nb.netstate import neighbours


def test_states(fixtures: Path) -> None:
    df = neighbours.parse((fixtures / "netstate/router/ip-neigh.json").read_text())
    schema.check(df, neighbours.NEIGH_SCHEMA)
    by = dict(zip(df["dst"], df["state"], strict=True))
    assert (
        by["198.18.2.99"] == "INCOMPLETE"
        and by["198.18.2.98"] == "FAILED"
        and by["198.18.2.10"] == "REACHABLE"
    )
    bad = neighbours.unresolved(df)
    assert sorted(bad["dst"]) == ["198.18.2.98", "198.18.2.99"]
    assert set(bad["dev"]) == {"br0"} and set(bad["lladdr"]) == {""}
    assert set(df[df["dst"].str.startswith("fe80")]["family"]) == {"inet6"}


def test_empty_and_router_flag() -> None:
    schema.check(neighbours.parse(""), neighbours.NEIGH_SCHEMA)
    df = neighbours.parse(
        '[{"dst":"fe80::1","dev":"eth0","lladdr":"aa:bb:cc:dd:ee:ff","router":null,"state":["STALE"]}]'
    )
    assert bool(df.iloc[0]["router"]) and df.iloc[0]["state"] == "STALE"
