"""Next hops and their ARP/ND state: a host absent from its link is "no ARP reply", not "filtered"."""

from __future__ import annotations

from netdebug_nb import schema
from netdebug_nb.netstate import checks, neighbours, nexthop, reachability, routes

LOOKUPS = {
    "198.18.80.9": '[{"dst":"198.18.80.9","dev":"v0client","prefsrc":"198.18.80.2","flags":[]}]',
    "198.18.80.2": '[{"dst":"198.18.80.2","dev":"v0client","prefsrc":"198.18.80.1","flags":[]}]',
    "web": '[{"dst":"198.18.9.5","gateway":"198.18.80.254","dev":"v0client","flags":[]}]',
    "198.18.99.1": "ERROR RTNETLINK answers: Network is unreachable",
    "2001:db8::9": '[{"dst":"2001:db8::9","dev":"v1client","prefsrc":"2001:db8::1","flags":[]}]',
}
NEIGH = (
    '[{"dst":"198.18.80.9","dev":"v0client","state":["INCOMPLETE"]},'
    '{"dst":"198.18.80.2","dev":"v0client","lladdr":"02:00:00:00:00:02","state":["REACHABLE"]},'
    '{"dst":"198.18.80.254","dev":"v0client","state":["FAILED"]},'
    '{"dst":"2001:db8::9","dev":"v1client","state":["FAILED"]}]'
)
ADDR = {"web": "198.18.9.5", "198.18.80.9": "198.18.80.9", "198.18.80.2": "198.18.80.2",
        "198.18.99.1": "198.18.99.1", "2001:db8::9": "2001:db8::9"}  # fmt: skip


def hops() -> object:
    return nexthop.build(routes.lookups(LOOKUPS), neighbours.parse(NEIGH), ADDR)


def test_build_names_the_neighbour_each_target_needs() -> None:
    h = hops().set_index("target")  # type: ignore[attr-defined]
    assert h.loc["198.18.80.9", "next_hop"] == "198.18.80.9" and h.loc["198.18.80.9", "on_link"]
    assert h.loc["198.18.80.9", "state"] == "INCOMPLETE"
    assert h.loc["web", "next_hop"] == "198.18.80.254" and not h.loc["web", "on_link"]
    assert h.loc["web", "state"] == "FAILED"
    assert h.loc["198.18.99.1", "dev"] == "" and h.loc["198.18.99.1", "state"] == ""  # no route: nobody asked
    assert h.loc["2001:db8::9", "family"] == "inet6"
    assert list(nexthop.unanswered(hops())["target"]) == ["198.18.80.9", "web", "2001:db8::9"]  # type: ignore[arg-type]


def test_reason_words() -> None:
    rows = {r["target"]: r for r in hops().to_dict("records")}  # type: ignore[attr-defined]
    assert nexthop.reason(rows["198.18.80.9"]) == "no ARP reply for 198.18.80.9 on v0client"
    assert nexthop.reason(rows["web"]) == "no ARP reply from gateway 198.18.80.254 on v0client"
    assert nexthop.reason(rows["2001:db8::9"]) == "no ND reply for 2001:db8::9 on v1client"


def test_empty_inputs_keep_the_schema() -> None:
    out = nexthop.build(schema.empty(routes.LOOKUP_SCHEMA), schema.empty(neighbours.NEIGH_SCHEMA), {})
    assert list(out.columns) == list(nexthop.HOP_SCHEMA) and out.empty
    assert list(nexthop.collect([]).columns) == list(nexthop.HOP_SCHEMA)


def reach_rows() -> object:
    rows = [
        {"source": "c", "target": t, "address": ADDR[t], "proto": "tcp", "port": p, "state": s,
         "reason": r, "method": "nmap", "rtt_ms": None}
        for t, p, s, r in (
            ("198.18.80.9", 9001, "filtered", "no answer"),
            ("198.18.80.9", 9002, "filtered", "ICMP host unreachable (or ARP failed)"),
            ("198.18.80.2", 9001, "filtered", "no answer"),
            ("198.18.80.2", 9003, "closed", "RST (connection refused)"),
        )
    ]  # fmt: skip
    return schema.frame(rows, reachability.REACH_SCHEMA)


def test_ports_of_an_absent_host_are_unreachable_not_filtered() -> None:
    reach = nexthop.explain(reach_rows(), hops())  # type: ignore[arg-type]
    by = {
        (t, p): (s, r)
        for t, p, s, r in zip(reach["target"], reach["port"], reach["state"], reach["reason"], strict=True)
    }
    assert by[("198.18.80.9", 9001)] == ("unreachable", "no ARP reply for 198.18.80.9 on v0client")
    assert by[("198.18.80.9", 9002)][0] == "unreachable"
    assert by[("198.18.80.2", 9001)] == ("filtered", "no answer")  # ARP answered: a real filter
    assert by[("198.18.80.2", 9003)][0] == "closed"
    m = reachability.matrix(reach)
    assert set(m.loc["c"].dropna()) == {"unreachable (no ARP/ND reply)", "filtered", "closed"}
    found = {f.id: f for f in checks.reachability(reach, routes.lookups(LOOKUPS), hops())}  # type: ignore[arg-type]
    assert [p["target"] for p in found["port.filtered"].evidence["ports"]] == ["198.18.80.2"]
    inc = found["neigh.incomplete"]
    assert inc.severity == "critical" and "v0client" in inc.title and "not a firewall" in inc.detail
    assert [t["target"] for t in inc.evidence["targets"]] == ["198.18.80.9"]
    failed = found["neigh.failed"]
    assert failed.evidence["gateways"] == ["198.18.80.254"]


def test_entries_reported_with_the_state_are_not_reported_twice() -> None:
    known = neighbours.parse('[{"dst":"198.18.80.254","dev":"v0client","state":["FAILED"]}]')
    got = checks.probed_neighbours(hops(), known)  # type: ignore[arg-type]
    failed = [f for f in got if f.id == "neigh.failed"]
    assert [t["target"] for t in failed[0].evidence["targets"]] == ["2001:db8::9"]
    assert checks.probed_neighbours(schema.empty(nexthop.HOP_SCHEMA)) == []
