from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.dns import resolvconf
from netdebug_nb.errors import InputError


def test_kubernetes_resolv_conf(fixtures: Path) -> None:
    conf = resolvconf.read(fixtures / "dns" / "k8s_resolv.conf")
    assert conf.nameservers == ("10.96.0.10",)
    assert conf.search == ("default.svc.cluster.local", "svc.cluster.local", "cluster.local", "ec2.internal")
    assert (conf.ndots, conf.timeout_s, conf.attempts) == (5, 5, 2)
    assert conf.flags == frozenset()
    assert conf.problems == ()


def test_defaults_for_empty_file() -> None:
    conf = resolvconf.parse("")
    assert (conf.ndots, conf.timeout_s, conf.attempts, conf.nameservers, conf.search) == (1, 5, 2, (), ())


def test_malformed_lines_are_reported_with_line_numbers_and_the_rest_is_used(fixtures: Path) -> None:
    conf = resolvconf.read(fixtures / "dns" / "malformed_resolv.conf")
    assert conf.nameservers == ("10.96.0.10", "10.96.0.11", "10.96.0.12", "10.96.0.13")
    assert conf.used_nameservers == ("10.96.0.10", "10.96.0.11", "10.96.0.12")
    assert conf.ignored_nameservers == ("10.96.0.13",)
    assert conf.ndots == 5
    assert conf.timeout_s == 2  # the later options line still applies
    assert conf.attempts == 5  # capped like glibc
    assert conf.flags == {"rotate", "single-request-reopen", "edns0", "trust-ad", "use-vc", "single-request"}
    assert conf.unknown_options == ("frobnicate",)
    by_line = {p.line: p.problem for p in conf.problems}
    assert "without an address" in by_line[3]
    assert "not-an-ip" in by_line[4]
    assert "unknown keyword 'searchh'" in by_line[10]
    problems9 = [p.problem for p in conf.problems if p.line == 9]
    assert any("timeout:abc" in p for p in problems9)
    assert any("attempts:9" in p for p in problems9)
    assert any("frobnicate" in p for p in problems9)
    assert any(p.line is None and "first 3" in p.problem for p in conf.problems)
    df = resolvconf.problems(conf)
    schema.check(df, resolvconf.PROBLEMS_SCHEMA)
    assert 3 in set(df["line"].dropna())


def test_last_search_or_domain_wins() -> None:
    conf = resolvconf.parse("search a.example b.example\ndomain c.example\n")
    assert conf.search == ("c.example",)
    assert any(p.line == 2 and "replaces" in p.problem for p in conf.problems)


def test_comments_and_ipv6_scoped_nameservers() -> None:
    conf = resolvconf.parse("; comment\nnameserver fe80::1%eth0 # scoped\nnameserver 2001:db8::53\n")
    assert conf.nameservers == ("fe80::1%eth0", "2001:db8::53")


def test_options_table_names_sources() -> None:
    conf = resolvconf.parse("options ndots:5\noptions bogus\n")
    df = resolvconf.options(conf)
    schema.check(df, resolvconf.OPTIONS_SCHEMA)
    row = df.set_index("option").loc["ndots"]
    assert row["value"] == "5" and row["source"] == "line 1"
    assert df.set_index("option").loc["timeout", "source"] == "default"
    assert df.set_index("option").loc["bogus", "value"] == "unknown"


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"missing\.conf"):
        resolvconf.read(tmp_path / "missing.conf")


def test_nameserver_override_keeps_options() -> None:
    conf = resolvconf.parse("nameserver 10.0.0.1\noptions ndots:3\n").with_nameservers(["198.18.2.10"])
    assert conf.nameservers == ("198.18.2.10",) and conf.ndots == 3


def test_nameserver_override_drops_what_is_not_an_address() -> None:
    conf = resolvconf.parse("nameserver 10.0.0.1\n").with_nameservers(["198.18.2.10", "kube-dns.kube-system"])
    assert conf.nameservers == ("198.18.2.10",)
    assert any("kube-dns.kube-system" in p.problem for p in conf.problems)
