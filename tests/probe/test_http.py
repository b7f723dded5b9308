"""HTTP and TCP trials against a real server on 127.0.0.1 (the root namespace may only probe loopback)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb.probe import http, prober, schedule, target

SERVERS = Path(__file__).resolve().parent / "servers.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    tmp = tmp_path_factory.mktemp("http")
    cfg = tmp / "cfg.json"
    cfg.write_text(
        json.dumps(
            {
                "delay_ms": {"/slow": 120},
                "status": {"/missing": 404},
                "reset": ["/reset"],
                "redirect": {"/old": "/slow"},
            }
        )
    )
    port = 20000 + (int(time.time() * 1000) % 2000)
    p = subprocess.Popen(
        [sys.executable, str(SERVERS), "http", "127.0.0.1", str(port), str(cfg)], stdout=subprocess.PIPE
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        yield port, cfg
    finally:
        p.terminate()
        p.wait()


def test_http_trials_carry_curls_view(server: tuple[int, Path]) -> None:
    port, _ = server
    ts = [target.parse(f"http://127.0.0.1:{port}/slow"), target.parse(f"http://127.0.0.1:{port}/missing"),
          target.parse(f"tcp://127.0.0.1:{port}")]  # fmt: skip
    df = schedule.collect(ts, prober.Options(trials=3, timeout_s=3))
    slow = df[df["target"] == ts[0].target]
    assert slow["status"].tolist() == [200] * 3 and set(slow["http_version"]) == {"1.1"}
    assert (slow["server_ms"] >= 115).all() and (slow["tcp_ms"] < 100).all()
    assert set(slow["remote_ip"]) == {"127.0.0.1"} and (slow["size_download_bytes"] > 20).all()
    assert (slow["size_request_bytes"] > 0).all() and (slow["total_ms"] >= slow["server_ms"]).all()
    missing = df[df["target"] == ts[1].target]
    assert (
        set(missing["error_kind"]) == {"http_4xx"} and not missing["ok"].any() and missing["completed"].all()
    )
    tcp = df[df["target"] == ts[2].target]
    assert tcp["ok"].all() and tcp["server_ms"].isna().all() and (tcp["tcp_ms"] >= 0).all()


def test_redirects_followed_only_when_asked(server: tuple[int, Path]) -> None:
    t = target.parse(f"http://127.0.0.1:{server[0]}/old")
    plain = http.HttpProber(prober.Options(timeout_s=3)).trial(t, 0)
    assert (plain["status"], plain["redirects"], plain["ok"]) == (302, 0, True)
    followed = http.HttpProber(prober.Options(timeout_s=3, follow_redirects=True)).trial(t, 0)
    assert (followed["status"], followed["redirects"]) == (200, 1) and followed["redirect_ms"] > 0
    assert followed["url_effective"].endswith("/slow") and followed["server_ms"] >= 115


def test_connect_to_keeps_the_name_and_methods_send_their_body(server: tuple[int, Path]) -> None:
    port, _ = server
    t = target.via(
        target.parse("http://web.shop.svc.cluster.local/x"), "127.0.0.1", port, "endpoint", "web-1", None
    )
    url, headers, connect_to = http.request_plan(t, prober.Options(headers=("X-A: 1",)))
    assert (url, headers, connect_to) == (
        "http://web.shop.svc.cluster.local/x",
        ["X-A: 1"],
        [f"web.shop.svc.cluster.local:80:127.0.0.1:{port}"],
    )
    tls_t = target.via(target.parse("https://api.test/"), "10.0.0.9", 8443, "endpoint", None, None)
    assert http.request_plan(tls_t, prober.Options(sni="other.test")) == (
        "https://other.test/", ["Host: api.test"], ["other.test:443:10.0.0.9:8443"])  # fmt: skip
    p = http.HttpProber(prober.Options(method="POST", body='{"a": 1}', timeout_s=3))
    row = p.trial(t, 0)
    assert (row["status"], row["backend"], row["error_kind"]) == (200, "127.0.0.1", "")
    assert row["size_upload_bytes"] == 8
    head = http.HttpProber(prober.Options(method="HEAD", timeout_s=3)).trial(t, 0)
    assert head["status"] == 200 and head["size_download_bytes"] == 0


def test_refused_reset_and_unresolvable_are_rows_with_their_kind(server: tuple[int, Path]) -> None:
    reset = schedule.collect(
        [target.parse(f"http://127.0.0.1:{server[0]}/reset")], prober.Options(trials=2, timeout_s=3)
    )
    assert reset["error_kind"].tolist() == ["reset", "reset"] and reset["error"].str.contains("reset").all()
    assert (reset["tcp_ms"] >= 0).all() and reset["server_ms"].isna().all()
    df = schedule.collect([target.parse("http://127.0.0.1:1/"), target.parse("tcp://127.0.0.1:1"),
                           target.parse("http://nosuch.invalid/")], prober.Options(trials=1, timeout_s=3))  # fmt: skip
    assert df["error_kind"].tolist() == ["refused", "refused", "dns"]
    assert df["tcp_ms"].isna().all() and pd.isna(df.iloc[2]["remote_ip"])


def test_option_problems_are_one_line_each(tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_text("")
    o = prober.Options(
        ca_bundle=str(tmp_path / "empty.pem"), http_version="3", headers=("bad",), method="FETCH"
    )
    assert o.problems() == [
        f"ca_bundle {tmp_path / 'empty.pem'}: no PEM certificate in it; certificates are verified against the system store",
        "http_version '3': expected 1.1 or 2; using 1.1",
        "method 'FETCH': sent as given (not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS)",
        "header 'bad': expected 'Name: value'; not sent",
    ]
    u = o.usable()
    assert (u.ca_bundle, u.http_version, u.headers) == ("", "1.1", ())


def test_http2_prior_knowledge_and_grpc_health_on_loopback(tmp_path: Path) -> None:
    """A gRPC server speaks cleartext HTTP/2: http_version 2 gets an h2 answer from it, and its
    health service answers SERVING, then NOT_SERVING once the test flips the state file."""
    state = tmp_path / "state"
    state.write_text("SERVING")
    port = 22000 + (int(time.time() * 1000) % 2000)
    p = subprocess.Popen(
        [sys.executable, str(SERVERS), "grpc", "127.0.0.1", str(port), str(state)], stdout=subprocess.PIPE
    )
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
        o = prober.Options(
            http_version="2",
            timeout_s=3,
            method="POST",
            headers=("content-type: application/grpc", "te: trailers"),
        )
        h2 = http.HttpProber(o).trial(target.parse(f"http://127.0.0.1:{port}/grpc.health.v1.Health/Check"), 0)
        assert (h2["http_version"], h2["status"], h2["curl_code"]) == ("2", 200, 0)
        reset = http.HttpProber(prober.Options(http_version="2", timeout_s=3)).trial(
            target.parse(f"http://127.0.0.1:{port}/"), 0
        )
        assert (
            reset["error_kind"] == "http2" and "INTERNAL_ERROR" in reset["error"]
        )  # a plain GET: stream reset
        g = target.parse(f"grpc://127.0.0.1:{port}")
        ok = schedule.collect([g], prober.Options(trials=2, timeout_s=3))
        assert ok["health"].tolist() == ["SERVING"] * 2 and ok["ok"].all() and (ok["server_ms"] > 0).all()
        state.write_text("NOT_SERVING")
        time.sleep(0.3)
        bad = schedule.collect([g], prober.Options(trials=1, timeout_s=3))
        assert bad["health"].tolist() == ["NOT_SERVING"] and bad["error_kind"].tolist() == ["not_serving"]
        unknown = schedule.collect(
            [target.parse(f"grpc://127.0.0.1:{port}/no.Such")], prober.Options(trials=1, timeout_s=3)
        )
        assert unknown["error_kind"].tolist() == ["unknown_service"] and unknown["health"].tolist() == [
            "SERVICE_UNKNOWN"
        ]
    finally:
        p.terminate()
        p.wait()
    refused = schedule.collect(
        [target.parse(f"grpc://127.0.0.1:{port}")], prober.Options(trials=1, timeout_s=3)
    )
    assert refused["error_kind"].tolist() == ["refused"] and not refused["completed"].any()
    assert prober.Options(insecure=True).problems({"grpcs"})[0].startswith("insecure: grpcio always verifies")
