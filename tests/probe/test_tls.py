"""Certificate checks on chains made in the test (offline: chains read as saved PEM), and a live
handshake against a local HTTPS server on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from certs import pki

from netdebug_nb import schema
from netdebug_nb.errors import InputError
from netdebug_nb.probe import checks, http, prober, schedule, stats, target, tls

SERVERS = Path(__file__).resolve().parent / "servers.py"
DEMO_CHAIN = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "probe" / "chain.pem"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return pki(tmp_path_factory.mktemp("pki"), "api.test", ["127.0.0.1"])


def _assess(certs: dict, case: str, sni: str = "api.test") -> dict:
    hs = tls.read_chain(str(certs[case].chain), target=case, sni=sni)
    df, chain = tls.assess([hs], ca_file=str(certs["ca"]))
    schema.check(df, tls.TLS_SCHEMA)
    schema.check(chain, tls.CHAIN_SCHEMA)
    return df.iloc[0].to_dict()


def test_each_certificate_problem_is_told_apart(certs: dict) -> None:
    ok = _assess(certs, "valid")
    assert (ok["trusted"], ok["name_match"], ok["expired"], ok["chain_length"]) == (True, True, False, 2)
    assert 364 < ok["days_left"] < 366 and "DNS:api.test" in ok["sans"] and "IP:127.0.0.1" in ok["sans"]
    expired = _assess(certs, "expired")
    assert expired["expired"] is True and expired["trusted"] is True and expired["days_left"] < -1
    wrong = _assess(certs, "wrongname")
    assert wrong["name_match"] is False and wrong["trusted"] is True
    selfsigned = _assess(certs, "selfsigned")
    assert selfsigned["trusted"] is False and "self-signed" in selfsigned["trust_error"]
    partial = _assess(certs, "nointermediate")
    assert (
        partial["trusted"] is False
        and "intermediate" in partial["trust_error"]
        and "not sent" in partial["trust_error"]
    )
    assert _assess(certs, "valid", sni="127.0.0.1")["name_match"] is True


def test_findings_from_the_table(certs: dict) -> None:
    hss = [
        tls.read_chain(str(certs[c].chain), target=c, sni="api.test")
        for c in ("valid", "expiring", "expired", "wrongname", "selfsigned")
    ]
    df, _ = tls.assess(hss, ca_file=str(certs["ca"]))
    found = {f.id: f for f in checks.certificates(df, stats.Thresholds(cert_expiring_days=14))}
    assert set(found) == {"tls.cert_expiring", "tls.cert_expired", "tls.name_mismatch", "tls.untrusted"}
    assert [k.split(" @ ")[0] for k in found["tls.cert_expiring"].evidence["days_left"]] == ["expiring"]
    assert [k.split(" @ ")[0] for k in found["tls.untrusted"].evidence["why"]] == ["selfsigned"]


def test_name_matching_follows_rfc_6125() -> None:
    sans = ["DNS:*.shop.example", "DNS:api.example", "IP:10.0.0.1"]
    assert tls.name_matches("web.shop.example", sans) and tls.name_matches("API.example.", sans)
    assert not tls.name_matches("a.b.shop.example", sans) and not tls.name_matches("shop.example", sans)
    assert tls.name_matches("10.0.0.1", sans) and not tls.name_matches("10.0.0.2", sans)


def test_saved_chains_read_and_bad_files_are_one_line(tmp_path: Path) -> None:
    hs = tls.read_chain(str(DEMO_CHAIN), target="demo", sni="api.shop.example")
    assert hs.version == "TLSv1.2" and len(hs.chain_der) == 1
    (tmp_path / "x.pem").write_text("nothing here")
    with pytest.raises(InputError, match=r"x.pem: no PEM certificate"):
        tls.read_chain(str(tmp_path / "x.pem"), target="x", sni=None)


@pytest.fixture
def https_server(certs: dict, tmp_path: Path) -> Iterator[int]:
    (tmp_path / "cfg.json").write_text("{}")
    port = 18000 + (int(time.time() * 1000) % 2000)
    leaf = certs["valid"]
    p = subprocess.Popen([sys.executable, str(SERVERS), "https", "127.0.0.1", str(port), str(tmp_path / "cfg.json"), str(leaf.chain), str(leaf.key)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        yield port
    finally:
        p.terminate()
        p.wait()


def test_a_live_handshake_reads_the_chain_as_sent(https_server: int, certs: dict) -> None:
    t = target.via(
        target.parse(f"https://api.test:{https_server}/"), "127.0.0.1", https_server, "direct", None, None
    )
    [hs] = tls.collect(
        [t, target.parse("http://127.0.0.1:1/")], prober.Options(timeout_s=3, http_version="2")
    )
    assert (hs.backend, hs.sni, hs.error, hs.version, hs.old_accepted) == (
        "127.0.0.1",
        "api.test",
        "",
        "TLSv1.3",
        "",
    )
    df, chain = tls.assess([hs], ca_file=str(certs["ca"]), now=dt.datetime.now(dt.UTC))
    assert (
        df.iloc[0]["trusted"] and list(chain["position"]) == [0, 1] and list(chain["is_ca"]) == [False, True]
    )
    # SNI override: the URL names 127.0.0.1, the server is asked for api.test, Host stays 127.0.0.1
    o = prober.Options(timeout_s=3, sni="api.test", ca_bundle=str(certs["ca"]))
    row = http.HttpProber(o).trial(target.parse(f"https://127.0.0.1:{https_server}/"), 0)
    assert (row["status"], row["error_kind"], row["remote_ip"]) == (200, "", "127.0.0.1") and row[
        "tls_ms"
    ] > 0
    wrong = http.HttpProber(prober.Options(timeout_s=3, sni="nope.test", ca_bundle=str(certs["ca"]))).trial(
        target.parse(f"https://127.0.0.1:{https_server}/"), 0
    )
    assert wrong["error_kind"] == "tls" and "nope.test" in wrong["error"]
    refused = tls.handshake("127.0.0.1", 1, "api.test", timeout_s=1)
    assert refused.error == "connection refused"


def test_grpcs_health_over_tls_with_the_name_kept(certs: dict, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.write_text("SERVING")
    port = 24000 + (int(time.time() * 1000) % 2000)
    leaf = certs["valid"]
    p = subprocess.Popen([sys.executable, str(SERVERS), "grpcs", "127.0.0.1", str(port), str(state), str(leaf.chain), str(leaf.key)],
                         stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        t = target.via(target.parse(f"grpcs://api.test:{port}"), "127.0.0.1", port, "endpoint", "pod-1", None)
        o = prober.Options(trials=2, timeout_s=3, ca_bundle=str(certs["ca"]))
        ok = schedule.collect([t], o)
        assert ok["health"].tolist() == ["SERVING"] * 2 and ok["ok"].all()
        untrusted = schedule.collect([t], prober.Options(trials=1, timeout_s=3))  # system store: no lab CA
        assert untrusted["error_kind"].tolist() == ["tls"] and not untrusted["completed"].any()
        [hs] = tls.collect([t], o)
        assert (hs.alpn, hs.sni, hs.backend, len(hs.chain_der)) == ("h2", "api.test", "127.0.0.1", 2)
    finally:
        p.terminate()
        p.wait()
