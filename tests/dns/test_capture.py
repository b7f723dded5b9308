from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import schema
from netdebug_nb.catalogue import DATA_DIR
from netdebug_nb.dns import capture, checks, resolvconf, servers, tracer

CONF = resolvconf.read(DATA_DIR / "dns" / "resolv.conf")


def test_base_name_recovers_what_the_application_asked() -> None:
    assert capture.base_name("api.example.com.default.svc.cluster.local.", CONF) == "api.example.com"
    assert capture.base_name("api.example.com.", CONF) == "api.example.com"
    assert capture.base_name("web.default.svc.cluster.local.", CONF) == "web"


def _tx(rows: list[dict[str, object]]) -> pd.DataFrame:
    from netdebug_nb.pcap.dns import TRANSACTIONS_SCHEMA

    t0 = pd.Timestamp("2026-01-01T00:00:00Z")
    full = []
    for i, r in enumerate(rows, start=1):
        base: dict[str, object] = {c: None for c in TRANSACTIONS_SCHEMA}
        base.update(query_frame=i, client="198.18.1.2", client_port=40000 + i, server="198.18.2.10", server_port=53,
                    transport="udp", id=i, answered=True, rcode="NXDOMAIN", answers=0, latency_ms=1.0, tc=False)  # fmt: skip
        base.update(r)
        base["query_ts"] = t0 + pd.Timedelta(milliseconds=float(r["at_ms"]))  # type: ignore[arg-type]
        if base["answered"]:
            base["response_ts"] = base["query_ts"] + pd.Timedelta(milliseconds=float(base["latency_ms"]))  # type: ignore[arg-type,operator]
        full.append(base)
    return schema.frame(full, TRANSACTIONS_SCHEMA)


def test_transactions_become_lookup_chains_with_resends() -> None:
    tx = _tx(
        [
            {
                "at_ms": 0,
                "qname": "web.default.svc.cluster.local.",
                "qtype": "A",
                "rcode": "NOERROR",
                "answers": 1,
            },
            {
                "at_ms": 0.2,
                "qname": "web.default.svc.cluster.local.",
                "qtype": "AAAA",
                "answered": False,
                "rcode": None,
                "latency_ms": None,
            },
            {"at_ms": 1, "qname": "api.example.com.default.svc.cluster.local.", "qtype": "A"},
            {"at_ms": 2, "qname": "api.example.com.", "qtype": "A", "rcode": "NOERROR", "answers": 1},
            {"at_ms": 5000.2, "qname": "web.default.svc.cluster.local.", "qtype": "AAAA", "rcode": "NOERROR"},
            {
                "at_ms": 9000,
                "qname": "web.default.svc.cluster.local.",
                "qtype": "A",
                "rcode": "NOERROR",
                "answers": 1,
            },
        ]
    )
    q = capture.from_transactions(tx, CONF)
    schema.check(q, tracer.QUERY_SCHEMA)
    web = q[(q["lookup"] == "web") & (q["trial"] == 0)]
    assert list(web["attempt"]) == [0, 0, 1]
    assert web["wait_ms"].iloc[1] == pytest.approx(5000)  # the lost AAAA cost the time until its resend
    assert list(q[q["lookup"] == "api.example.com"]["step"]) == [1, 5]
    assert set(q[q["lookup"] == "web"]["trial"]) == {0, 1}  # the later query is a new lookup
    s = tracer.summarize(q)
    assert s.set_index(["lookup", "trial"]).loc[("web", 0), "waited_timeout_ms"] == pytest.approx(5000)


def test_empty_transactions() -> None:
    from netdebug_nb.pcap.dns import TRANSACTIONS_SCHEMA

    q = capture.from_transactions(schema.empty(TRANSACTIONS_SCHEMA), CONF)
    schema.check(q, tracer.QUERY_SCHEMA)


def test_sample_capture_shows_expansion_stall_and_truncation() -> None:
    q = capture.read(DATA_DIR / "dns" / "sample_dns.pcap", CONF)
    lookups = tracer.summarize(q).set_index(["lookup", "trial"])
    assert lookups.loc[("api.example.com", 0), "nxdomain_queries"] == 8
    assert lookups.loc[("api.example.com", 0), "outcome"] == "answer"
    assert lookups.loc[("nosuch.example.com", 0), "outcome"] == "NXDOMAIN"
    assert lookups.loc[("db", 0), "waited_timeout_ms"] > 4000  # the 5 s resolver retry
    assert lookups.loc[("big", 0), "tcp_fallbacks"] == 1
    assert lookups.loc[("big", 1), "truncated_no_tcp"] == 1  # the replica that refuses TCP
    assert set(lookups.loc["web"]["servers"]) == {"198.18.2.10", "198.18.2.11"}  # rotate over two replicas
    ids = {f.id for f in checks.lookups(tracer.summarize(q), q, CONF)}
    assert {
        "dns.ndots_amplification",
        "dns.retry_5s",
        "dns.timeout",
        "dns.nxdomain",
        "dns.truncated_no_tcp",
    } <= ids
    odd = servers.disagreements(q[~q["tc"].fillna(False).astype(bool)])
    assert list(odd[~odd["agrees"].astype(bool)]["server"]) == ["198.18.2.11"]  # the broken replica


def test_sample_files_are_small(tmp_path: Path) -> None:
    assert (DATA_DIR / "dns" / "sample_dns.pcap").stat().st_size < 200_000
