from __future__ import annotations

from pathlib import Path

import pandas as pd

from netdebug_nb import schema
from netdebug_nb.dns import checks, resolvconf, servers, tracer
from netdebug_nb.findings import Finding


def test_resolv_conf_findings(fixtures: Path) -> None:
    conf = resolvconf.read(fixtures / "dns" / "malformed_resolv.conf")
    ids = {f.id: f for f in checks.resolv_conf(conf)}
    assert "line 3" in ids["dns.resolv_conf"].detail
    assert ids["dns.too_many_nameservers"].evidence["ignored"] == ["10.96.0.13"]
    assert checks.resolv_conf(resolvconf.read(fixtures / "dns" / "k8s_resolv.conf")) == []


def test_nodelocal_present_absent_and_dead() -> None:
    absent = checks.nodelocal(resolvconf.parse("nameserver 10.96.0.10\n"))
    assert (absent.id, absent.severity, absent.evidence["present"]) == ("dns.nodelocal_cache", "info", False)
    conf = resolvconf.parse("nameserver 169.254.20.10\nnameserver 10.96.0.10\n")
    assert checks.nodelocal(conf).evidence["present"] is True
    dead = schema.frame(
        [
            {c: None for c in tracer.QUERY_SCHEMA}
            | {"server": "169.254.20.10", "status": "timeout", "error": "timeout"}
        ],
        tracer.QUERY_SCHEMA,
    )
    assert checks.nodelocal(conf, dead).severity == "critical"


def test_names_findings() -> None:
    assert [f.id for f in checks.names([], [])] == ["dns.no_names"]
    assert checks.names([], [], offline=True) == []
    f = checks.names(["bad..name"], ["names: 'bad..name' is not a valid DNS name: empty label"])
    assert [x.id for x in f] == ["dns.invalid_name"]


def test_slow_server_by_threshold_and_by_factor() -> None:
    df = schema.frame(
        [
            {
                "server": s,
                "queries": 5,
                "answered": 5,
                "timeouts": 0,
                "timeout_rate": 0.0,
                "resends": 0,
                "servfail": 0,
                "p50_ms": p,
                "p95_ms": p,
                "max_ms": p,
                "disagreements": 0,
            }
            for s, p in (("a", 1.0), ("b", 1.2), ("c", 45.0))
        ],
        servers.SERVER_STATS_SCHEMA,
    )
    f = checks.server_latency(df, checks.Thresholds(slow_ms=100))
    assert [s["server"] for s in f[0].evidence["servers"]] == ["c"]  # 45 ms is > 3x the others
    assert checks.server_latency(df[df["server"] != "c"]) == []


def test_merge_keeps_the_most_severe_per_id() -> None:
    merged = checks.merge(
        [
            Finding("dns.timeout", "warning", "a"),
            Finding("dns.timeout", "critical", "b"),
            Finding("dns.nxdomain", "warning", "c"),
        ]
    )
    assert [(f.id, f.severity, f.title) for f in merged] == [
        ("dns.timeout", "critical", "b"),
        ("dns.nxdomain", "warning", "c"),
    ]
    assert merged[0].evidence["also"] == ["a"]


def test_no_lookups_no_findings() -> None:
    conf = resolvconf.parse("")
    assert checks.lookups(schema.empty(tracer.LOOKUP_SCHEMA), schema.empty(tracer.QUERY_SCHEMA), conf) == []


def test_nodelocal_deployed_but_bypassed() -> None:
    cluster = pd.DataFrame({"server": ["169.254.20.10", "10.96.0.10"], "role": ["nodelocal", "service"]})
    f = checks.nodelocal(resolvconf.parse("nameserver 10.96.0.10\n"), cluster=cluster)
    assert (f.severity, f.evidence["deployed"]) == ("warning", ["169.254.20.10"])
    ok = checks.nodelocal(resolvconf.parse("nameserver 169.254.20.10\n"), cluster=cluster)
    assert ok.severity == "info" and ok.evidence["present"] is True


def test_a_trace_with_no_query_is_inconclusive() -> None:
    none = schema.empty(tracer.QUERY_SCHEMA)
    (off,) = checks.coverage([], none, offline=True)
    assert off.id == "dns.capture" and off.inconclusive
    (live,) = checks.coverage(["api.example.com"], none)
    assert live.id == "dns.no_queries" and live.inconclusive
    assert checks.coverage([], none) == []  # dns.no_names (itself inconclusive) says what to give
    assert [f.inconclusive for f in checks.names([], [])] == [True]
    merged = checks.merge([Finding("dns.capture", "critical", "unreadable", inconclusive=True), off])
    assert [(f.severity, f.inconclusive) for f in merged] == [("critical", True)]
