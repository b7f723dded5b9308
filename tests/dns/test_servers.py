from __future__ import annotations

from typing import Any

from netdebug_nb import schema
from netdebug_nb.dns import resolvconf, servers


def _ask(
    server: str,
    data: str | None,
    latency: float | None,
    *,
    status: str = "ok",
    trial: int = 0,
    tries: int = 1,
) -> dict[str, Any]:
    return {
        "server": server, "qname": "web.default.svc.cluster.local.", "qtype": "A", "trial": trial, "status": status,
        "tries": tries, "latency_ms": latency, "rtt_ms": latency, "rcode": "NOERROR" if status == "ok" else None,
        "answers": 1 if data else 0, "answer_data": data, "ttl_min_s": 30, "tc": False, "error": None,
    }  # fmt: skip


COMPARED = schema.frame(
    [
        _ask("10.0.0.1", "A 198.18.5.10", 1.0),
        _ask("10.0.0.2", "A 198.18.5.99", 1.5),
        _ask("10.0.0.3", "A 198.18.5.10", 300.0),
        _ask("10.0.0.3", None, None, status="timeout", trial=1, tries=2),
        _ask("10.0.0.1", "A 198.18.5.10", 2.0, trial=1),
    ],
    servers.COMPARE_SCHEMA,
)


def test_disagreements_name_the_odd_server() -> None:
    odd = servers.disagreements(COMPARED)
    schema.check(odd, servers.DISAGREEMENT_SCHEMA)
    bad = odd[~odd["agrees"].astype(bool)]
    assert list(bad["server"]) == ["10.0.0.2"]
    assert bad["majority"].iloc[0] == "NOERROR: A 198.18.5.10"


def test_stats_per_server() -> None:
    st = servers.stats(COMPARED).set_index("server")
    assert st.loc["10.0.0.3", "timeouts"] == 1 and st.loc["10.0.0.3", "resends"] == 1
    assert st.loc["10.0.0.3", "p50_ms"] == 300.0
    assert st.loc["10.0.0.2", "disagreements"] == 1 and st.loc["10.0.0.1", "disagreements"] == 0


def test_agreeing_servers_have_no_disagreements() -> None:
    same = COMPARED[COMPARED["server"] != "10.0.0.2"]
    assert servers.disagreements(same).empty


def test_empty_inputs() -> None:
    empty = schema.empty(servers.COMPARE_SCHEMA)
    schema.check(servers.stats(empty), servers.SERVER_STATS_SCHEMA)
    assert servers.disagreements(empty).empty
    assert servers.compare([], []).empty
    assert servers.upstream_cost(schema.empty(servers.PROBE_SCHEMA)).empty


def test_upstream_cost_is_miss_minus_hit() -> None:
    probes = schema.frame(
        [
            {
                "server": "10.0.0.1",
                "qname": "netdebug-x.example.com.",
                "probe": "miss",
                "status": "ok",
                "rtt_ms": 40.0,
                "rcode": "NXDOMAIN",
            },
            {
                "server": "10.0.0.1",
                "qname": "netdebug-x.example.com.",
                "probe": "hit",
                "status": "ok",
                "rtt_ms": 1.0,
                "rcode": "NXDOMAIN",
            },
        ],
        servers.PROBE_SCHEMA,
    )
    assert servers.upstream_cost(probes)["upstream_ms"].iloc[0] == 39.0


def test_probe_zone_and_questions() -> None:
    conf = resolvconf.parse("search default.svc.cluster.local\n")
    assert servers.probe_zone(["web", "api.example.com"], conf.search) == "example.com"
    assert servers.probe_zone(["web"], conf.search) == "default.svc.cluster.local"
    assert servers.probe_zone([], ()) == ""
