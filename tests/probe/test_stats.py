"""Percentiles, error rates, the outlier test and the verdict rules, on trials built by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

from netdebug_nb import schema
from netdebug_nb.probe import checks, stats, trial

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _trial(target: str, backend: str, n: int, **kw: Any) -> dict[str, Any]:
    ms = {
        "namelookup": 1.0,
        "connect": 2.0,
        "appconnect": 0.0,
        "pretransfer": 2.1,
        "starttransfer": 12.1,
        "total": 12.5,
        "redirect": 0.0,
    }
    ms.update(kw.pop("ms", {}))
    status = kw.pop("status", 200)
    row = trial.row(target=target, protocol=kw.pop("protocol", "http"), backend=backend, backend_kind=kw.pop("kind", "endpoint"),
                    backend_name=kw.pop("name", None), trial=n, ts=T0 + dt.timedelta(seconds=n),
                    timers_s={k: v / 1000 for k, v in ms.items()}, exitcode=kw.pop("exitcode", 0), message=kw.pop("message", ""),
                    status=status, http_version="1.1", remote_ip=backend, remote_port=80,
                    sizes={"download": 10, "header": 100 if status else 0}, redirects=0, url_effective=target)  # fmt: skip
    assert not kw
    return row


def test_percentiles_per_target_and_backend() -> None:
    rows = [
        _trial("svc", "10.0.0.1", i, ms={"starttransfer": 2.1 + i + 1, "total": 2.1 + i + 1.5})
        for i in range(10)
    ]
    rows += [_trial("svc", "10.0.0.2", i) for i in range(10)]
    df = trial.frame(rows)
    per_t, per_b = stats.summarize(df), stats.summarize(df, per_backend=True)
    schema.check(per_t, stats.STATS_SCHEMA)
    assert list(per_b["backend"]) == ["10.0.0.1", "10.0.0.2"] and per_t["trials"].tolist() == [20]
    b1 = per_b.iloc[0]
    assert b1["server_p50_ms"] == np.quantile(np.arange(1, 11), 0.5) and b1["server_max_ms"] == 10
    assert per_b.iloc[1]["server_p99_ms"] == 10.0 and b1["tcp_p50_ms"] == 1.0 and pd.isna(b1["tls_p50_ms"])
    assert b1["statuses"] == "200×10"
    assert stats.summarize(trial.empty()).empty and stats.errors(trial.empty()).empty


def test_error_rates_by_kind_and_phase() -> None:
    rows = [_trial("a", "1.1.1.1", i) for i in range(6)]
    rows += [_trial("a", "1.1.1.1", 6 + i, status=503) for i in range(3)]
    rows += [
        _trial(
            "a",
            "1.1.1.1",
            9,
            exitcode=28,
            message="Operation timed out",
            status=0,
            ms={"starttransfer": 0, "pretransfer": 0},
        )
    ]
    e = stats.errors(trial.frame(rows))
    assert [(r["error_kind"], r["error_phase"], r["count"], r["rate_pct"]) for r in e.to_dict("records")] == [
        ("http_5xx", "", 3, 30.0), ("timeout", "server", 1, 10.0)]  # fmt: skip


def test_mann_whitney_separates_and_does_not_invent() -> None:
    rng = np.random.default_rng(1)
    p = stats.mann_whitney_p(rng.normal(100, 5, 10).tolist(), rng.normal(10, 2, 20).tolist())
    assert p is not None and p < 0.001
    same = stats.mann_whitney_p(rng.normal(10, 2, 30).tolist(), rng.normal(10, 2, 30).tolist())
    assert same is not None and same > 0.05
    assert stats.mann_whitney_p([1.0, 2.0], [3.0, 4.0, 5.0]) is None


def _service(slow_ms: float, *, fail_second: bool = False) -> list[dict[str, Any]]:
    rows = []
    for b, extra in (("10.0.0.1", 0.0), ("10.0.0.2", slow_ms), ("10.0.0.3", 0.0)):
        for i in range(8):
            st = 503 if fail_second and b == "10.0.0.3" and i % 2 else 200
            rows.append(
                _trial(
                    "service:shop/web",
                    b,
                    i,
                    ms={"starttransfer": 12.1 + extra + i * 0.1, "total": 12.5 + extra + i * 0.1},
                    status=st,
                )
            )
    rows += [
        _trial(
            "service:shop/web", "10.96.0.1", i, kind="clusterip", ms={"starttransfer": 600.0, "total": 601.0}
        )
        for i in range(8)
    ]
    return rows


def test_one_slow_backend_is_an_outlier_and_makes_its_target_an_application_problem() -> None:
    df = trial.frame(_service(150.0))
    per_t, per_b = stats.summarize(df), stats.summarize(df, per_backend=True)
    out = stats.outliers(df, per_b)
    schema.check(out, stats.OUTLIERS_SCHEMA)
    assert out[["backend", "metric"]].values.tolist() == [
        ["10.0.0.2", "server_p50_ms"]
    ]  # never the ClusterIP
    v = stats.verdicts(per_t, stats.errors(df), outlier_df=out)
    assert v.iloc[0]["verdict"] == "application" and "backend 10.0.0.2" in v.iloc[0]["reasons"]
    [f] = checks.outliers(out)
    assert f.id == "http.backend_outlier" and "10.0.0.2" in f.title
    fine = trial.frame(_service(5.0))
    assert stats.outliers(fine, stats.summarize(fine, per_backend=True)).empty  # 5 ms: below outlier_min_ms
    failing = trial.frame(_service(0.0, fail_second=True))
    out2 = stats.outliers(failing, stats.summarize(failing, per_backend=True))
    assert out2[["backend", "metric", "value"]].values.tolist() == [["10.0.0.3", "error_rate_pct", 50.0]]


def test_verdict_rules_network_then_tls_then_application() -> None:
    rows = [
        _trial(
            "net",
            "a",
            i,
            ms={
                "namelookup": 300.0,
                "connect": 301.0,
                "pretransfer": 301.1,
                "starttransfer": 302.0,
                "total": 302.5,
            },
        )
        for i in range(5)
    ]
    rows += [
        _trial(
            "tls",
            "b",
            i,
            protocol="https",
            ms={"appconnect": 400.0, "pretransfer": 400.1, "starttransfer": 401.0, "total": 401.5},
        )
        for i in range(5)
    ]
    rows += [_trial("app", "c", i, ms={"starttransfer": 900.0, "total": 901.0}) for i in range(5)]
    rows += [
        _trial(
            "refused",
            "d",
            i,
            exitcode=7,
            message="x",
            status=0,
            ms={"connect": 0, "pretransfer": 0, "starttransfer": 0},
        )
        for i in range(5)
    ]
    rows += [_trial("ok", "e", i) for i in range(5)]
    df = trial.frame(rows)
    per_t = stats.summarize(df)
    v = dict(zip(*stats.verdicts(per_t, stats.errors(df))[["target", "verdict"]].T.values, strict=True))
    assert v == {"net": "network", "tls": "tls", "app": "application", "refused": "network", "ok": "ok"}
    ids = {f.id: f for f in checks.slow(per_t, stats.summarize(df, per_backend=True))}
    assert set(ids) == {"http.dns_slow", "http.tls_slow", "http.server_slow"}
    assert set(ids["http.server_slow"].evidence["p90_ms"]) == {"app"}
    strict = stats.Thresholds(percentile="p50", server_slow_ms=5.0)
    assert set(checks.slow(per_t, per_t, strict)[-1].evidence["p50_ms"]) == {"ok", "app"}


def test_plot_frames_are_bounded() -> None:
    df = trial.frame([_trial(f"t{j}", "a", i) for j in range(50) for i in range(5)])
    assert len(stats.heatmap(df, max_rows=40)) == 40 and stats.heatmap(df).shape[1] <= 30
    assert stats.cdf(df, max_lines=12)["line"].nunique() == 12
    schema.check(stats.cdf(df), stats.CDF_SCHEMA)
    schema.check(stats.cdf(trial.empty()), stats.CDF_SCHEMA)
    assert list(stats.waterfall(stats.summarize(df)).columns) == list(trial.PHASES)


def test_unusable_thresholds_are_one_line_and_fall_back() -> None:
    th = stats.Thresholds(percentile="90", min_tls_version="TLS1.2")
    assert th.problems() == [
        "percentile '90': expected one of p50, p90, p99; using p90",
        "min_tls_version 'TLS1.2': expected one of SSLv3, TLSv1, TLSv1.1, TLSv1.2, TLSv1.3; using TLSv1.2",
    ]
    assert (th.usable().percentile, th.usable().min_tls_version) == ("p90", "TLSv1.2")
    assert stats.Thresholds().problems() == []


def test_error_findings_split_by_where_the_trial_failed() -> None:
    import pandas as pd

    errs = pd.DataFrame(
        [
            ("http://a/", "refused", "", 100.0),
            ("https://b/", "tls", "", 100.0),
            ("https://c/", "timeout", "connect", 50.0),
            ("https://c/", "http_5xx", "", 50.0),
            ("grpc://d:1", "not_serving", "", 100.0),
            ("grpc://e:1", "unavailable", "", 100.0),
            ("grpc://f:1", "refused", "", 100.0),
        ],
        columns=["target", "error_kind", "error_phase", "rate_pct"],
    ).assign(backend=pd.NA, count=5, example="x")
    protocols = {"http://a/": "http", "https://b/": "https", "https://c/": "https", "grpc://d:1": "grpc",
                 "grpc://e:1": "grpc", "grpc://f:1": "grpc"}  # fmt: skip
    found = {f.id: f for f in checks.errors(errs, protocols)}
    assert set(found) == {"tcp.refused", "tcp.timeout", "http.errors", "grpc.not_serving", "grpc.errors"}
    assert set(found["tcp.refused"].evidence["rate_pct"]) == {"http://a/", "grpc://f:1"}
    assert found["http.errors"].evidence["by_kind"] == {
        "https://b/": {"tls": 5},
        "https://c/": {"http_5xx": 5},
    }
    assert found["grpc.errors"].evidence["by_kind"] == {"grpc://e:1": {"unavailable": 5}}
    assert list(found["grpc.not_serving"].evidence["rate_pct"]) == ["grpc://d:1"]


def test_each_backend_gets_its_own_verdict() -> None:
    df = trial.frame(_service(150.0, fail_second=True))
    per_b = stats.summarize(df, per_backend=True)
    out = stats.outliers(df, per_b)
    v = stats.verdicts(per_b, stats.errors(df, per_backend=True), outlier_df=out)
    schema.check(v, stats.VERDICTS_SCHEMA)
    got = dict(zip(v["backend"], v["verdict"], strict=True))
    assert got == {
        "10.0.0.1": "ok",
        "10.0.0.2": "application",
        "10.0.0.3": "application",
        "10.96.0.1": "application",
    }
    reasons = dict(zip(v["backend"], v["reasons"], strict=True))
    assert "http_5xx in 50%" in reasons["10.0.0.3"] and "server time" in reasons["10.0.0.2"]
    assert "server p90" in reasons["10.96.0.1"]  # the ClusterIP's own answers were slow
