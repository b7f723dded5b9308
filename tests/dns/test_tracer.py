from __future__ import annotations

from typing import Any

import dns.message
import dns.rrset
import pytest

from netdebug_nb import schema
from netdebug_nb.dns import resolvconf, tracer


def _row(step: int, qname: str, qtype: str, start: float, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {c: None for c in tracer.QUERY_SCHEMA}
    base.update(
        lookup="api.example.com", trial=0, resolver="glibc", step=step, qname=qname, qtype=qtype, server="198.18.2.10",
        port=53, transport="udp", attempt=0, start_ms=start, rtt_ms=1.0, wait_ms=1.0, status="ok", rcode="NXDOMAIN",
        answers=0, tc=False, ts="2026-01-01T00:00:00Z", source="live",
    )  # fmt: skip
    base.update(kw)
    return base


def test_glibc_server_timeouts_follow_send_dg() -> None:
    conf = resolvconf.parse("options timeout:5\n")
    assert [tracer.server_timeout_s(conf, i, 3) for i in range(3)] == [5.0, 3.0, 6.0]
    assert tracer.server_timeout_s(resolvconf.parse("options timeout:1\n"), 1, 2) == 1.0
    assert tracer.server_timeout_s(resolvconf.parse("options timeout:0\n"), 0, 1) == 1.0  # at least 1 s


def test_summary_of_an_amplified_lookup_with_a_stall() -> None:
    rows = [
        _row(1, "api.example.com.default.svc.cluster.local.", "A", 0),
        _row(1, "api.example.com.default.svc.cluster.local.", "AAAA", 0.5),
        _row(2, "api.example.com.", "A", 2, rcode="NOERROR", answers=1, answer_data="A 198.18.5.20"),
        _row(
            2,
            "api.example.com.",
            "AAAA",
            2.2,
            status="timeout",
            rcode=None,
            answers=None,
            rtt_ms=None,
            wait_ms=5000.0,
            error="timeout",
        ),
        _row(
            2,
            "api.example.com.",
            "A",
            2.4,
            status="timeout",
            rcode=None,
            answers=None,
            rtt_ms=None,
            wait_ms=5000.0,
            error="timeout",
        ),
        _row(2, "api.example.com.", "AAAA", 5003, attempt=1, rcode="NOERROR"),
    ]
    q = schema.frame(rows, tracer.QUERY_SCHEMA)
    s = tracer.summarize(q)
    schema.check(s, tracer.LOOKUP_SCHEMA)
    r = s.iloc[0]
    assert r["outcome"] == "answer" and r["answered_qname"] == "api.example.com."
    assert r["queries"] == 6 and r["nxdomain_queries"] == 2 and r["timeouts"] == 2
    assert r["waited_timeout_ms"] == pytest.approx(5000.2)  # overlapping timeouts are waited once
    assert r["total_ms"] == pytest.approx(5004)


def test_summary_counts_truncation_without_tcp() -> None:
    rows = [
        _row(1, "big.", "A", 0, rcode="NOERROR", answers=29, tc=True),
        _row(
            1,
            "big.",
            "A",
            1,
            transport="tcp",
            status="error",
            rcode=None,
            answers=None,
            error="connection refused",
        ),
    ]
    s = tracer.summarize(schema.frame(rows, tracer.QUERY_SCHEMA))
    assert s.iloc[0]["truncated_no_tcp"] == 1 and s.iloc[0]["tcp_fallbacks"] == 0


def test_describe_reads_flags_ttls_and_edns() -> None:
    q = dns.message.make_query("web.default.svc.cluster.local.", "A", use_edns=0, payload=1232)
    r = dns.message.make_response(q)
    r.answer.append(
        dns.rrset.from_text("web.default.svc.cluster.local.", 30, "IN", "A", "198.18.5.10", "198.18.5.9")
    )
    r.use_edns(0, payload=4096)
    d = tracer.describe(r, "A")
    assert d["rcode"] == "NOERROR" and d["answers"] == 2 and d["ttl_min_s"] == 30
    assert d["answer_data"] == "A 198.18.5.10 | A 198.18.5.9"
    assert d["edns_payload"] == 4096 and d["tc"] is False and d["ra"] is False


def test_trace_keeps_invalid_names_as_rows_and_errors() -> None:
    conf = resolvconf.parse("")  # no nameserver: nothing is sent
    t = tracer.trace(["bad..name", "web"], conf)
    schema.check(t.queries, tracer.QUERY_SCHEMA)
    assert t.queries.empty
    assert list(t.lookups["outcome"]) == ["invalid"]
    assert any("bad..name" in e for e in t.errors) and any("no nameserver" in e for e in t.errors)


def test_empty_trace() -> None:
    t = tracer.trace([], resolvconf.parse("nameserver 198.18.2.10\n"))
    assert t.queries.empty and t.lookups.empty and t.errors == []
    schema.check(t.lookups, tracer.LOOKUP_SCHEMA)


def test_bad_options_are_parameter_errors() -> None:
    from netdebug_nb.errors import ParameterTypeError

    with pytest.raises(ParameterTypeError, match="resolver"):
        tracer.Options(resolver="bionic")  # type: ignore[arg-type]
    with pytest.raises(ParameterTypeError, match="AAAAA"):
        tracer.Options(qtypes=("A", "AAAAA"))


def test_summary_answer_is_the_last_complete_one() -> None:
    rows = [
        _row(1, "web.", "A", 0, server="10.0.0.3", rcode="NOERROR", answers=1, answer_data="A 198.18.5.10"),
        _row(
            1,
            "web.",
            "AAAA",
            0.1,
            server="10.0.0.3",
            status="timeout",
            rcode=None,
            answers=None,
            wait_ms=1000.0,
        ),
        _row(
            1, "web.", "A", 1000, server="10.0.0.2", rcode="NOERROR", answers=1, answer_data="A 198.18.5.99"
        ),
        _row(1, "web.", "AAAA", 1000.1, server="10.0.0.2", rcode="NOERROR"),
    ]
    s = tracer.summarize(schema.frame(rows, tracer.QUERY_SCHEMA))
    assert s.iloc[0]["answer_data"] == "A 198.18.5.99"
