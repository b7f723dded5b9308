"""The tracer, replica comparison and iterative trace against real DNS servers in namespaces.

The code under test runs inside the client namespace (``DnsLab.python``), where the lab's
servers are the only ones reachable; see ``conftest.py`` for the topology.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dnslab import DNS1, DNS2, DNS3, ROOT, SLOW, WEB, WEB_BROKEN, DnsLab
from ndtestkit import netdebug_cmd

from netdebug_nb.dns import expansion, resolvconf

pytestmark = pytest.mark.lab

SEARCH = "search default.svc.cluster.local svc.cluster.local cluster.local ec2.internal\n"
FAST = "options ndots:5 timeout:1 attempts:2\n"

TRACE = """
import json, sys
from netdebug_nb.dns import checks, resolvconf, tracer
conf = resolvconf.read({conf!r})
t = tracer.trace({names!r}, conf, tracer.Options(resolver={resolver!r}), trials={trials})
print(json.dumps({{
    "queries": json.loads(t.queries.drop(columns=["ts"]).to_json(orient="records")),
    "lookups": json.loads(t.lookups.to_json(orient="records")),
    "errors": t.errors,
    "findings": [f.to_dict() for f in checks.lookups(t.lookups, t.queries, conf)],
}}))
"""


def trace(
    dl: DnsLab, conf_text: str, names: list[str], *, resolver: str = "glibc", trials: int = 1
) -> dict[str, Any]:
    conf = dl.resolv_conf(f"rc{abs(hash((conf_text, tuple(names), resolver)))}", conf_text)
    return dict(dl.python(TRACE.format(conf=str(conf), names=names, resolver=resolver, trials=trials)))


def by_lookup(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["lookup"]: row for row in result["lookups"]}


def test_ndots_expansion_sends_every_search_suffix_first(dnslab: DnsLab) -> None:
    text = SEARCH + f"nameserver {DNS1}\n" + FAST
    out = trace(dnslab, text, ["api.example.com", "web", "nosuch.example.com"])
    lookups = by_lookup(out)
    api = lookups["api.example.com"]
    assert api["outcome"] == "answer" and api["answer_data"] == "A 198.18.5.20"
    assert api["queries"] == 10 and api["nxdomain_queries"] == 8
    sent = [q["qname"] for q in out["queries"] if q["lookup"] == "api.example.com" and q["qtype"] == "A"]
    conf = resolvconf.parse(text)
    assert sent == [q for q, _ in expansion.candidates("api.example.com", conf)]
    assert lookups["web"]["queries"] == 2 and lookups["web"]["answer_data"] == f"A {WEB}"
    assert lookups["nosuch.example.com"]["outcome"] == "NXDOMAIN"
    ids = {f["id"] for f in out["findings"]}
    assert {"dns.ndots_amplification", "dns.nxdomain"} <= ids
    assert "dns.timeout" not in ids


def test_servfail_moves_to_the_next_server_then_fails_the_lookup(dnslab: DnsLab) -> None:
    text = f"nameserver {DNS1}\nnameserver {DNS3}\n" + FAST.replace("ndots:5", "ndots:1")
    out = trace(dnslab, text, ["api.fail.example.com"])
    row = by_lookup(out)["api.fail.example.com"]
    assert row["outcome"] == "SERVFAIL" and row["servfails"] >= 2
    servfail_servers = {q["server"] for q in out["queries"] if q["rcode"] == "SERVFAIL"}
    assert DNS1 in servfail_servers  # and glibc went on to the second server after it
    assert {q["server"] for q in out["queries"]} == {DNS1, DNS3}
    f = {f["id"]: f for f in out["findings"]}
    assert f["dns.servfail"]["severity"] == "critical"


def test_musl_asks_all_servers_at_once_and_never_searches_dotted_names(dnslab: DnsLab) -> None:
    text = SEARCH + f"nameserver {DNS1}\nnameserver {DNS2}\noptions ndots:2 timeout:1 attempts:2\n"
    out = trace(dnslab, text, ["api.example.com", "web"], resolver="musl")
    api = [q for q in out["queries"] if q["lookup"] == "api.example.com"]
    assert {q["qname"] for q in api} == {"api.example.com."}  # 2 dots >= ndots:2: as-is only
    assert {q["server"] for q in api} == {DNS1, DNS2}  # the same query to every server
    assert by_lookup(out)["web"]["outcome"] == "answer"


def test_udp_drops_cause_timeouts_and_resolver_retries(dnslab: DnsLab) -> None:
    text = SEARCH + f"nameserver {DNS3}\nnameserver {DNS1}\n" + FAST
    out = trace(dnslab, text, ["web", "db"], trials=4)
    timeouts = [q for q in out["queries"] if q["status"] == "timeout"]
    assert timeouts and all(q["server"] == DNS3 for q in timeouts)
    assert all(
        q["wait_ms"] == pytest.approx(1000, abs=20) for q in timeouts
    )  # timeout:1 for the first server
    assert all(row["outcome"] == "answer" for row in out["lookups"])  # the next server answered
    stalled = [row for row in out["lookups"] if row["timeouts"]]
    assert stalled and all(row["waited_timeout_ms"] >= 950 for row in stalled)
    ids = {f["id"] for f in out["findings"]}
    assert {"dns.timeout", "dns.retry_5s"} <= ids


def test_truncation_falls_back_to_tcp_or_is_reported(dnslab: DnsLab) -> None:
    big = "big.default.svc.cluster.local."
    ok = trace(dnslab, f"nameserver {DNS1}\n" + FAST, [big])
    rows = [q for q in ok["queries"] if q["qtype"] == "A"]
    assert [(q["transport"], q["tc"]) for q in rows] == [("udp", True), ("tcp", False)]
    assert rows[1]["answers"] == 60 and by_lookup(ok)[big]["tcp_fallbacks"] == 1
    bad = trace(dnslab, f"nameserver {DNS2}\n" + FAST, [big])
    assert by_lookup(bad)[big]["truncated_no_tcp"] >= 1
    assert any(q["transport"] == "tcp" and q["error"] == "connection refused" for q in bad["queries"])
    assert "dns.truncated_no_tcp" in {f["id"] for f in bad["findings"]}


def test_unreachable_nameserver_is_reported_and_the_next_one_still_used(dnslab: DnsLab) -> None:
    # .13 is a host without a DNS server; 198.19.255.1 has no route from the client
    text = f"nameserver 198.18.2.13\nnameserver 198.19.255.1\nnameserver {DNS1}\n" + FAST
    out = trace(dnslab, text, ["web.default.svc.cluster.local.", "bad..name"])
    lookups = by_lookup(out)
    assert lookups["web.default.svc.cluster.local."]["outcome"] == "answer"
    assert lookups["bad..name"]["outcome"] == "invalid"
    assert any("bad..name" in e for e in out["errors"])
    refused = [q for q in out["queries"] if q["server"] == "198.18.2.13"]
    assert refused and all(q["error"] == "connection refused" for q in refused)
    unroutable = [q for q in out["queries"] if q["server"] == "198.19.255.1"]
    assert unroutable and all(q["error"] == "network is unreachable" for q in unroutable)
    assert "dns.unreachable_server" in {f["id"] for f in out["findings"]}


COMPARE = """
import json
from netdebug_nb.dns import checks, servers
c = servers.compare({servers!r}, [("web.default.svc.cluster.local.", "A"), ("big.default.svc.cluster.local.", "A")], trials=4, timeout_s=1)
st, odd = servers.stats(c), servers.disagreements(c)
print(json.dumps({{
    "stats": json.loads(st.to_json(orient="records")),
    "odd": json.loads(odd.to_json(orient="records")),
    "findings": [f.to_dict() for f in checks.replicas(c, st, odd)],
}}))
"""


def test_every_replica_asked_finds_the_broken_and_the_slow_one(dnslab: DnsLab) -> None:
    out = dnslab.python(COMPARE.format(servers=[DNS1, DNS2, SLOW]))
    odd = [r for r in out["odd"] if not r["agrees"]]
    assert [(r["server"], r["answer_data"]) for r in odd] == [(DNS2, f"A {WEB_BROKEN}")]
    stats = {r["server"]: r for r in out["stats"]}
    assert stats[SLOW]["p50_ms"] >= 250 and stats[DNS1]["p50_ms"] < 100
    findings = {f["id"]: f for f in out["findings"]}
    assert DNS2 in findings["dns.inconsistent_answers"]["title"]
    assert SLOW in findings["dns.slow_server"]["title"] and DNS1 not in findings["dns.slow_server"]["title"]
    assert DNS2 in findings["dns.truncated_no_tcp"]["detail"]  # the broken replica refuses TCP


def test_cache_probe_and_iterative_trace_from_lab_roots(dnslab: DnsLab) -> None:
    code = f"""
import json
from netdebug_nb.dns import iterative, servers
p = servers.cache_probe([{DNS1!r}], "cluster.local", timeout_s=1)
it = iterative.trace("alias.lab.test", root_hints=["198.18.2.99", {ROOT!r}], timeout_s=0.5)
print(json.dumps({{"probe": json.loads(p.to_json(orient="records")), "trace": json.loads(it.to_json(orient="records"))}}))
"""
    out = dnslab.python(code)
    assert [r["probe"] for r in out["probe"]] == ["miss", "hit"]
    assert out["probe"][0]["qname"].startswith("netdebug-") and out["probe"][0]["rcode"] == "NXDOMAIN"
    kinds = [(r["server"], r["kind"]) for r in out["trace"]]
    assert kinds[:4] == [
        ("198.18.2.99", "error"),  # dead root hint: the next one is tried
        (ROOT, "referral"),
        ("198.18.2.21", "referral"),
        ("198.18.2.22", "cname"),
    ]
    assert kinds[-1] == ("198.18.2.22", "answer") and out["trace"][-1]["answer_data"] == "A 198.18.7.1"
    assert out["trace"][1]["next_zone"] == "test."


def test_notebook_in_the_client_namespace_reports_each_case(dnslab: DnsLab, tmp_path: Path) -> None:
    conf = dnslab.resolv_conf(
        "cli.conf",
        SEARCH
        + f"nameserver {DNS3}\nnameserver {DNS2}\nnameserver {SLOW}\nnameserver {DNS1}\n"
        + FAST
        + "options bogus-opt\n",
    )
    out = tmp_path / "out"
    names = [
        "api.example.com",
        "web",
        "big.default.svc.cluster.local.",
        "nosuch.example.com",
        "x.fail.example.com",
        "bad..name",
    ]
    done = dnslab.client.run(
        *netdebug_cmd(), "run", "dns_trace", "--out", str(out),
        "-p", "resolv_conf", str(conf), "-p", "names", json.dumps(names), "-p", "trials", "2",
        "-p", "compare_trials", "3", "-p", "root_hints", json.dumps([ROOT]),
        "-p", "iterative_names", '["www.lab.test"]',
        check=False, timeout=150,
    )  # fmt: skip
    report = json.loads((out / "dns_trace" / "findings.json").read_text())
    assert report["status"] == "ok", (done.stderr[-2000:], report.get("error"))
    ids = {f["id"] for f in report["findings"]}
    expected = {
        "dns.ndots_amplification",
        "dns.timeout",
        "dns.retry_5s",
        "dns.nxdomain",
        "dns.servfail",
        "dns.inconsistent_answers",
        "dns.slow_server",
        "dns.truncated_no_tcp",
        "dns.too_many_nameservers",
        "dns.nodelocal_cache",
        "dns.invalid_name",
        "dns.resolv_conf",
    }
    assert expected <= ids, expected - ids
    nb = (out / "dns_trace" / "dns_trace.ipynb").read_text()
    assert "ns1.lab.test.(198.18.2.22)" in nb  # the iterative trace followed the lab's referrals
