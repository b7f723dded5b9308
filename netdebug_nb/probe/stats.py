"""From trials to answers: phase percentiles per target and per backend, error rates by kind, the
backend that is not like its siblings, and per target the verdict network vs TLS vs application.

All pure functions of the :data:`~.trial.TRIALS_SCHEMA` frame. A phase's percentiles use the
trials that got through that phase (a trial refused at connect still has its DNS time); ``total``
uses the trials that got an answer. The verdict rules, in the order they win:

* **network**: DNS failures, refused / unreachable / reset connections, timeouts before the
  connection was up, or DNS / TCP connect time above its threshold;
* **TLS**: handshake failures (certificate, protocol) or TLS time above its threshold;
* **application**: 5xx (or an unexpected status), gRPC NOT_SERVING, timeouts waiting for the
  answer, or server time (first byte − request sent) above its threshold while connect is fast.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from netdebug_nb import schema
from netdebug_nb.probe.trial import PHASES

STAT_PHASES = (*PHASES, "total")
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}

STATS_SCHEMA: schema.Schema = {
    "target": "string",
    "protocol": "string",
    "backend": "string",  # <NA> in the per-target table
    "backend_kind": "string",
    "backend_name": "string",
    "trials": "Int64",
    "ok": "Int64",
    "errors": "Int64",
    "error_rate_pct": "Float64",
    **{f"{ph}_{q}_ms": "Float64" for ph in STAT_PHASES for q in (*QUANTILES, "max")},
    "statuses": "string",  # "200×18, 503×2"
    "http_versions": "string",
}

ERRORS_SCHEMA: schema.Schema = {
    "target": "string",
    "backend": "string",
    "error_kind": "string",
    "error_phase": "string",
    "count": "Int64",
    "rate_pct": "Float64",  # of the trials of that target/backend
    "example": "string",  # one message as curl / gRPC said it
}

OUTLIERS_SCHEMA: schema.Schema = {
    "target": "string",
    "backend": "string",
    "backend_name": "string",
    "metric": "string",  # server_p50_ms | error_rate_pct
    "value": "Float64",
    "siblings": "Float64",  # the median of the other backends of the target
    "ratio": "Float64",
    "p_value": "Float64",  # Mann-Whitney U, this backend's server times vs the siblings'; <NA> for rates
}

CDF_SCHEMA: schema.Schema = {
    "line": "string",  # "target @ backend"
    "total_ms": "float64",
    "share": "float64",  # of that line's answered trials at or below total_ms
}

VERDICTS_SCHEMA: schema.Schema = {
    "target": "string",
    "backend": "string",  # <NA> for the verdict of the target as a whole
    "protocol": "string",
    "verdict": "string",  # ok | network | tls | application
    "reasons": "string",  # every rule that fired, most decisive first
}

NETWORK_KINDS = ("dns", "refused", "unreachable", "reset", "connect", "empty_reply")
TLS_KINDS = ("tls",)


VERSION_RANK = {"SSLv3": 0, "TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}


@dataclass(frozen=True)
class Thresholds:
    percentile: str = "p90"  # which percentile the *_slow_ms thresholds apply to
    dns_slow_ms: float = 100.0
    connect_slow_ms: float = 100.0
    tls_slow_ms: float = 200.0
    server_slow_ms: float = 500.0
    error_rate_warn_pct: float = 1.0
    error_rate_crit_pct: float = 20.0
    outlier_factor: float = 3.0  # a backend's median server time this many times its siblings'
    outlier_min_ms: float = 20.0  # ... and at least this much slower
    outlier_error_pct: float = 20.0  # or this many percentage points more errors
    cert_expiring_days: float = 14.0
    min_tls_version: str = "TLSv1.2"

    def problems(self) -> list[str]:
        """One line per threshold that cannot be used (:meth:`usable` replaces it by its default)."""
        out = []
        if self.percentile not in QUANTILES:
            out.append(f"percentile {self.percentile!r}: expected one of {', '.join(QUANTILES)}; using p90")
        if self.min_tls_version not in VERSION_RANK:
            out.append(
                f"min_tls_version {self.min_tls_version!r}: expected one of {', '.join(VERSION_RANK)}; using TLSv1.2"
            )
        return out

    def usable(self) -> Thresholds:
        from dataclasses import replace

        return replace(
            self,
            percentile=self.percentile if self.percentile in QUANTILES else "p90",
            min_tls_version=self.min_tls_version if self.min_tls_version in VERSION_RANK else "TLSv1.2",
        )


DEFAULT = Thresholds()


def _q(values: pd.Series) -> dict[str, float | None]:
    v = values.dropna().astype("float64").to_numpy()
    if len(v) == 0:
        return {**{k: None for k in QUANTILES}, "max": None}
    out: dict[str, float | None] = {k: float(np.quantile(v, q)) for k, q in QUANTILES.items()}
    out["max"] = float(v.max())
    return out


def _counts(values: pd.Series) -> str:
    vc = values.dropna().astype("string").value_counts()
    return ", ".join(f"{k}×{int(n)}" for k, n in vc.items())


def summarize(trials: pd.DataFrame, *, per_backend: bool = False) -> pd.DataFrame:
    """Percentiles of every phase per target (or per target and backend)."""
    if trials.empty:
        return schema.empty(STATS_SCHEMA)
    keys = ["target", "backend"] if per_backend else ["target"]
    rows: list[dict[str, Any]] = []
    df = trials.assign(backend=trials["backend"].fillna("?")) if per_backend else trials
    for key, g in df.groupby(keys, sort=False, dropna=False):
        k = key if isinstance(key, tuple) else (key,)
        n = len(g)
        ok = int(g["ok"].fillna(False).sum())
        row: dict[str, Any] = {
            "target": k[0],
            "protocol": g["protocol"].iloc[0],
            "backend": k[1] if per_backend else None,
            "backend_kind": g["backend_kind"].iloc[0] if per_backend else None,
            "backend_name": g["backend_name"].dropna().iloc[0]
            if per_backend and g["backend_name"].notna().any()
            else None,
            "trials": n,
            "ok": ok,
            "errors": n - ok,
            "error_rate_pct": 100.0 * (n - ok) / n,
            "statuses": _counts(g["status"]) if g["status"].notna().any() else _counts(g["health"]),
            "http_versions": _counts(g["http_version"].replace("", pd.NA)),
        }
        for ph in STAT_PHASES:
            values = g.loc[g["completed"].fillna(False), "total_ms"] if ph == "total" else g[f"{ph}_ms"]
            for q, v in _q(values).items():
                row[f"{ph}_{q}_ms"] = v
        rows.append(row)
    return schema.frame(rows, STATS_SCHEMA)


def errors(trials: pd.DataFrame, *, per_backend: bool = False) -> pd.DataFrame:
    """Failed trials counted by kind (and where timeouts hit), with their share of the trials."""
    if trials.empty:
        return schema.empty(ERRORS_SCHEMA)
    df = trials.assign(backend=trials["backend"].fillna("?") if per_backend else "")
    df = df.assign(n=df.groupby(["target", "backend"], sort=False)["trial"].transform("size"))
    bad = df[df["error_kind"].fillna("") != ""].fillna({"error_phase": ""})
    rows: list[dict[str, Any]] = []
    for (tgt, be, kind, phase), g in bad.groupby(
        ["target", "backend", "error_kind", "error_phase"], sort=False
    ):
        rows.append({"target": tgt, "backend": be or None, "error_kind": kind, "error_phase": phase, "count": len(g),
                     "rate_pct": 100.0 * len(g) / int(g["n"].iloc[0]), "example": str(g["error"].iloc[0])[:300]})  # fmt: skip
    if not rows:
        return schema.empty(ERRORS_SCHEMA)
    return schema.frame(rows, ERRORS_SCHEMA).sort_values(
        ["target", "count"], ascending=[True, False], ignore_index=True
    )


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p-value of the Mann-Whitney U test (normal approximation, tie-corrected)."""
    x, y = np.asarray(a, dtype="float64"), np.asarray(b, dtype="float64")
    n1, n2 = len(x), len(y)
    if n1 < 3 or n2 < 3:
        return None
    allv = np.concatenate([x, y])
    ranks = pd.Series(allv).rank(method="average").to_numpy()
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    mu = n1 * n2 / 2
    _, counts = np.unique(allv, return_counts=True)
    n = n1 + n2
    tie = float(((counts**3) - counts).sum())
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie / (n * (n - 1))))
    if sigma == 0:
        return 1.0
    z = (abs(u1 - mu) - 0.5) / sigma
    return float(math.erfc(max(z, 0.0) / math.sqrt(2)))


def outliers(trials: pd.DataFrame, backends: pd.DataFrame, th: Thresholds = DEFAULT) -> pd.DataFrame:
    """Backends of one target whose server time or error rate is far from their siblings'.

    Siblings are the target's other backends, the ClusterIP excluded (it is a mix of them). Slow
    means: median server time >= ``outlier_factor`` x the siblings' median, at least
    ``outlier_min_ms`` more, and a Mann-Whitney test saying the difference is not chance (p < 0.01).
    """
    rows: list[dict[str, Any]] = []
    be = backends[backends["backend_kind"].fillna("direct") != "clusterip"]
    for tgt, g in be.groupby("target", sort=False):
        if len(g) < 2:
            continue
        for r in g.to_dict("records"):
            others = g[g["backend"] != r["backend"]]
            mine_t = trials[(trials["target"] == tgt) & (trials["backend"] == r["backend"])][
                "server_ms"
            ].dropna()
            sib_t = trials[(trials["target"] == tgt) & trials["backend"].isin(others["backend"])][
                "server_ms"
            ].dropna()
            if len(mine_t) and len(sib_t):
                mine, sib = float(mine_t.median()), float(sib_t.median())
                p = mann_whitney_p(mine_t.tolist(), sib_t.tolist())
                if (
                    mine >= th.outlier_factor * max(sib, 1e-3)
                    and mine - sib >= th.outlier_min_ms
                    and (p is None or p < 0.01)
                ):
                    rows.append({"target": tgt, "backend": r["backend"], "backend_name": r["backend_name"],
                                 "metric": "server_p50_ms", "value": mine, "siblings": sib,
                                 "ratio": mine / max(sib, 1e-3), "p_value": p})  # fmt: skip
            rate, sib_rate = (
                float(r["error_rate_pct"]),
                float(others["error_rate_pct"].astype("float64").median()),
            )
            if rate - sib_rate >= th.outlier_error_pct:
                rows.append({"target": tgt, "backend": r["backend"], "backend_name": r["backend_name"],
                             "metric": "error_rate_pct", "value": rate, "siblings": sib_rate,
                             "ratio": rate / sib_rate if sib_rate else None, "p_value": None})  # fmt: skip
    return schema.frame(rows, OUTLIERS_SCHEMA)


def _v(row: Mapping[Any, Any], col: str) -> float:
    v = row.get(col)
    return float(v) if v is not None and not pd.isna(v) else float("nan")


def verdicts(
    target_stats: pd.DataFrame,
    errs: pd.DataFrame,
    th: Thresholds = DEFAULT,
    tls_df: pd.DataFrame | None = None,
    outlier_df: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per target: is it the network, TLS, or the application (or fine)? With every reason.

    ``tls_df`` (:data:`~.tls.TLS_SCHEMA`) adds certificate problems to the TLS side, so a target
    probed with ``insecure`` still gets the TLS verdict its certificate deserves; ``outlier_df``
    (:func:`outliers`) makes one bad backend an application problem of its target. Given the
    per-backend tables (``summarize``/``errors`` with ``per_backend=True``), each backend gets
    its own verdict from its own trials, certificate and outlier test."""

    def mine(df: pd.DataFrame, r: Mapping[Any, Any]) -> pd.DataFrame:
        sel = df["target"] == r["target"]
        if isinstance(r["backend"], str):
            sel &= df["backend"].astype("string").fillna("") == r["backend"]
        picked: pd.DataFrame = df[sel.fillna(False)]
        return picked

    q = th.percentile
    rows: list[dict[str, Any]] = []
    for r in target_stats.to_dict("records"):
        e = mine(errs, r)
        reasons: dict[str, list[str]] = {"network": [], "tls": [], "application": []}
        if tls_df is not None and len(tls_df):
            for x in mine(tls_df, r).to_dict("records"):
                if x["expired"] is True:
                    reasons["tls"].append(f"certificate of {x['backend']} expired")
                if x["name_match"] is False:
                    reasons["tls"].append(f"certificate of {x['backend']} does not match {x['sni']}")
                if x["trusted"] is False:
                    reasons["tls"].append(f"certificate of {x['backend']} not trusted: {x['trust_error']}")
                if VERSION_RANK.get(str(x["protocol_version"]), 9) < VERSION_RANK.get(th.min_tls_version, 3):
                    reasons["tls"].append(f"{x['backend']} negotiated {x['protocol_version']}")
        for x in e.to_dict("records"):
            kind, phase, rate = str(x["error_kind"]), str(x["error_phase"] or ""), float(x["rate_pct"])
            if rate < th.error_rate_warn_pct:
                continue
            what = f"{kind}{' in ' + phase if phase else ''} in {rate:.0f}% of trials"
            if kind in NETWORK_KINDS or (kind == "timeout" and phase in ("dns", "connect")):
                reasons["network"].append(what)
            elif kind in TLS_KINDS or (kind == "timeout" and phase == "tls"):
                reasons["tls"].append(what)
            else:
                reasons["application"].append(what)
        if outlier_df is not None and len(outlier_df):
            for x in mine(outlier_df, r).to_dict("records"):
                name = f" ({x['backend_name']})" if isinstance(x["backend_name"], str) else ""
                what = "server time" if x["metric"] == "server_p50_ms" else "error rate"
                reasons["application"].append(
                    f"backend {x['backend']}{name} {what} {float(x['value']):.0f} vs {float(x['siblings']):.0f} on its siblings"
                )
        for ph, limit, side in (("dns", th.dns_slow_ms, "network"), ("tcp", th.connect_slow_ms, "network"),
                                ("tls", th.tls_slow_ms, "tls")):  # fmt: skip
            v = _v(r, f"{ph}_{q}_ms")
            if v >= limit:
                reasons[side].append(f"{ph} {q} {v:.0f} ms >= {limit:g} ms")
        server = _v(r, f"server_{q}_ms")
        if server >= th.server_slow_ms:
            reasons["application"].append(f"server {q} {server:.0f} ms >= {th.server_slow_ms:g} ms")
        verdict = next((k for k in ("network", "tls", "application") if reasons[k]), "ok")
        text = "; ".join(f"{k}: {', '.join(v)}" for k, v in reasons.items() if v)
        rows.append({"target": r["target"], "backend": r["backend"], "protocol": r["protocol"], "verdict": verdict,
                     "reasons": text})  # fmt: skip
    return schema.frame(rows, VERDICTS_SCHEMA)


def unresolvable(trials: pd.DataFrame) -> list[str]:
    """One line per target whose name never resolved (every trial failed in DNS)."""
    out = []
    for tgt, g in trials.groupby("target", sort=False):
        if len(g) and (g["error_kind"] == "dns").all():
            out.append(f"target {tgt!r}: the name does not resolve ({g['error'].iloc[0]})")
    return out


def waterfall(target_stats: pd.DataFrame) -> pd.DataFrame:
    """Median of each phase per target, as stacked bars: the httpstat picture, for distributions."""
    cols = {ph: f"{ph}_p50_ms" for ph in PHASES}
    out = target_stats[["target", *cols.values()]].rename(columns={v: k for k, v in cols.items()})
    return out.set_index("target").astype("float64").fillna(0.0)


def cdf(trials: pd.DataFrame, *, max_lines: int = 12) -> pd.DataFrame:
    """Total time sorted per (target, backend) with its cumulative share (the first ``max_lines``)."""
    ok = trials[trials["completed"].fillna(False)]
    parts: list[pd.DataFrame] = []
    groups = list(ok.groupby(["target", "backend"], sort=False, dropna=False))[:max_lines]
    for (tgt, be), g in groups:
        v = np.sort(g["total_ms"].dropna().astype("float64").to_numpy())
        if len(v):
            parts.append(
                pd.DataFrame(
                    {"line": f"{tgt} @ {be}", "total_ms": v, "share": np.arange(1, len(v) + 1) / len(v)}
                )
            )
    if not parts:
        return schema.empty(CDF_SCHEMA)
    return schema.conform(pd.concat(parts, ignore_index=True), CDF_SCHEMA)


def heatmap(
    trials: pd.DataFrame, *, buckets: int = 30, max_rows: int = 40, value: str = "server_ms"
) -> pd.DataFrame:
    """Backend x time grid of the median ``value``: rows ``target @ backend`` (at most ``max_rows``),
    ``buckets`` time columns (trial number when the trials carry no timestamps)."""
    df = trials[trials[value].notna()]
    if df.empty:
        return pd.DataFrame()
    label = df["target"].astype("string") + " @ " + df["backend"].fillna("?").astype("string")
    if df["ts"].notna().all():
        t = (df["ts"] - df["ts"].min()).dt.total_seconds()
    else:
        t = df["trial"].astype("float64")
    span = float(t.max()) or 1.0
    nb = max(1, min(buckets, int(t.nunique())))
    col = np.minimum((t.to_numpy() / span * nb).astype(int), nb - 1)
    grid = pd.DataFrame({"row": label.to_numpy(), "col": col, "v": df[value].astype("float64").to_numpy()})
    keep = list(pd.unique(grid["row"]))[:max_rows]
    out = grid[grid["row"].isin(keep)].pivot_table(index="row", columns="col", values="v", aggfunc="median")
    out.index.name = None
    edges = [round(span * float(c) / nb, 1) for c in out.columns]
    out.columns = pd.Index(edges, name="s" if df["ts"].notna().all() else "trial")
    return out.reindex(keep)
