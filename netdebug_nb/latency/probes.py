"""Per-probe frames (:data:`fping.PROBES_SCHEMA`) turned into what an engineer reads.

One average hides the story, so everything here keeps distributions: percentiles per target,
loss, jitter, outages as runs of consecutive losses, SmokePing's percentile "smoke" per time
bucket, histograms, CDFs and a target x time grid. All functions are pure and vectorized
(groupby, not per-probe Python loops); every result has a declared schema and keeps targets that
never answered (with empty latency columns) so "unreachable" is a row, not a gap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from netdebug_nb import schema

STATS_SCHEMA: schema.Schema = {
    "target": "string",
    "status": "string",  # ok | loss | unreachable (nothing answered) | unresolvable (name did not resolve)
    "sent": "Int64",  # probes sent (duplicates not counted)
    "received": "Int64",
    "loss_pct": "Float64",  # empty when nothing was sent
    "p50_ms": "Float64",
    "p90_ms": "Float64",
    "p99_ms": "Float64",
    "max_ms": "Float64",
    "mean_ms": "Float64",
    "jitter_ms": "Float64",  # mean |rtt[i] - rtt[i-1]| over consecutive answered probes
    "outages": "Int64",  # runs of consecutive losses of at least one probe (whole-run loss counts once)
    "longest_outage": "Int64",  # probes in the longest run of consecutive losses
    "dups": "Int64",  # duplicate replies seen
    "error": "string",  # the ICMP error or resolver message fping reported, if any
}

OUTAGES_SCHEMA: schema.Schema = {
    "target": "string",
    "start_seq": "Int64",  # first lost probe of the run
    "probes": "Int64",  # consecutive probes lost
    "start_ts": "datetime64[ns, UTC]",  # send time of the first lost probe (NaT without timestamps)
    "duration_s": "Float64",  # from the first lost probe to the next answered one (or the last lost one)
    "ongoing": "boolean",  # the run lasted to the end of the measurement
}

BANDS_SCHEMA: schema.Schema = {
    "target": "string",
    "bucket_ts": "datetime64[ns, UTC]",  # start of the time bucket
    "sent": "Int64",
    "loss_pct": "Float64",
    "min_ms": "Float64",
    "p10_ms": "Float64",
    "p25_ms": "Float64",
    "p50_ms": "Float64",
    "p75_ms": "Float64",
    "p90_ms": "Float64",
    "max_ms": "Float64",
}

HISTOGRAM_SCHEMA: schema.Schema = {
    "target": "string",
    "lo_ms": "float64",  # bin edges (shared by all targets so histograms compare)
    "hi_ms": "float64",
    "count": "int64",
}

CDF_SCHEMA: schema.Schema = {
    "target": "string",
    "rtt_ms": "float64",
    "fraction": "float64",  # share of answered probes with rtt <= rtt_ms
}

_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


def _probes_only(probes: pd.DataFrame) -> pd.DataFrame:
    """Real probes: not duplicates, not never-probed (unresolvable) placeholder rows."""
    return probes[probes["seq"].notna() & ~probes["dup"].fillna(False).astype(bool)]


def timeline(probes: pd.DataFrame, *, period_ms: float = 1000.0) -> pd.Series:
    """Send time of each probe; without -D timestamps, a schedule of ``seq * period`` from 1970."""
    ts = probes["sent_ts"]
    if ts.notna().all():
        return ts
    synthetic = _EPOCH + pd.to_timedelta(probes["seq"].astype("float64").fillna(0) * period_ms, unit="ms")
    return ts.where(ts.notna(), synthetic).astype("datetime64[ns, UTC]")


def summarize(probes: pd.DataFrame) -> pd.DataFrame:
    """One row per target: loss, percentiles, jitter, outages, status."""
    if len(probes) == 0:
        return schema.empty(STATS_SCHEMA)
    targets = pd.Index(pd.unique(probes["target"].to_numpy()), name="target")
    real = _probes_only(probes)
    ok = real[~real["lost"].astype(bool)]
    g_all = real.groupby("target", sort=False)
    rtt = ok["rtt_ms"].astype("float64")
    g_ok = rtt.groupby(ok["target"], sort=False)
    q = (
        g_ok.quantile(np.array([0.5, 0.9, 0.99])).unstack()
        if len(ok)
        else pd.DataFrame(columns=[0.5, 0.9, 0.99])
    )
    out = pd.DataFrame(index=targets)
    out["sent"] = g_all.size().reindex(targets).fillna(0)
    out["received"] = g_ok.size().reindex(targets).fillna(0)
    out["loss_pct"] = (100.0 * (out["sent"] - out["received"]) / out["sent"].where(out["sent"] > 0)).astype(
        "float64"
    )
    out["p50_ms"] = q.get(0.5, pd.Series(dtype=float)).reindex(targets)
    out["p90_ms"] = q.get(0.9, pd.Series(dtype=float)).reindex(targets)
    out["p99_ms"] = q.get(0.99, pd.Series(dtype=float)).reindex(targets)
    out["max_ms"] = g_ok.max().reindex(targets)
    out["mean_ms"] = g_ok.mean().reindex(targets)
    out["jitter_ms"] = jitter(probes).reindex(targets)
    runs = outages(probes)
    out["outages"] = runs.groupby("target").size().reindex(targets).fillna(0)
    out["longest_outage"] = runs.groupby("target")["probes"].max().reindex(targets).fillna(0)
    dup = probes["dup"].fillna(False).astype(bool)
    out["dups"] = dup.groupby(probes["target"]).sum().reindex(targets).fillna(0)
    err = probes.dropna(subset=["error"]).drop_duplicates("target").set_index("target")["error"]
    out["error"] = err.reindex(targets)
    unresolvable = out["error"].fillna("").str.startswith("unresolvable") & (out["sent"] == 0)
    status = np.where(
        out["received"] == 0, "unreachable", np.where(out["received"] < out["sent"], "loss", "ok")
    )
    out["status"] = np.where(unresolvable, "unresolvable", status)
    return schema.frame(out.reset_index(), STATS_SCHEMA)


def jitter(probes: pd.DataFrame) -> pd.Series:
    """Mean absolute difference of consecutive answered RTTs per target (ms), indexed by target."""
    real = _probes_only(probes)
    ok = real[~real["lost"].astype(bool)].sort_values(["target", "seq"], kind="stable")
    d = ok["rtt_ms"].astype("float64").groupby(ok["target"], sort=False).diff().abs()
    return d.groupby(ok["target"], sort=False).mean().rename("jitter_ms")


def outages(probes: pd.DataFrame, *, min_probes: int = 1) -> pd.DataFrame:
    """Runs of consecutive lost probes per target, with start and length."""
    real = _probes_only(probes).sort_values(["target", "seq"], kind="stable")
    if len(real) == 0:
        return schema.empty(OUTAGES_SCHEMA)
    real = real.reset_index(drop=True)
    lost = real["lost"].astype(bool).to_numpy()
    if not lost.any():
        return schema.empty(OUTAGES_SCHEMA)
    target = real["target"].to_numpy()
    new_target = np.r_[True, target[1:] != target[:-1]]
    last_of_target = np.r_[new_target[1:], True]
    starts = lost & (new_target | ~np.r_[False, lost[:-1]])
    ends = lost & (last_of_target | ~np.r_[lost[1:], False])
    pos = np.arange(len(real))
    first_pos, last_pos = pos[starts], pos[ends]
    ongoing = last_of_target[last_pos]
    ts = pd.DatetimeIndex(real["sent_ts"])
    start_ts = ts[first_pos]
    end_ts = ts[last_pos].where(ongoing, ts[np.minimum(last_pos + 1, len(real) - 1)])
    duration = (end_ts - start_ts).total_seconds()
    out = pd.DataFrame(
        {
            "target": target[first_pos],
            "start_seq": real["seq"].to_numpy()[first_pos],
            "probes": last_pos - first_pos + 1,
            "start_ts": start_ts,
            "duration_s": np.asarray(duration, dtype="float64"),
            "ongoing": ongoing,
        }
    )
    out = out[out["probes"] >= min_probes]
    return schema.frame(out, OUTAGES_SCHEMA)


def bands(probes: pd.DataFrame, *, bucket_s: float = 10.0, period_ms: float = 1000.0) -> pd.DataFrame:
    """SmokePing's smoke: per target and time bucket, the RTT percentiles and the loss."""
    real = _probes_only(probes)
    if len(real) == 0:
        return schema.empty(BANDS_SCHEMA)
    ts = timeline(real, period_ms=period_ms)
    bucket = ts.dt.floor(pd.Timedelta(seconds=bucket_s))
    df = pd.DataFrame(
        {
            "target": real["target"].to_numpy(),
            "bucket_ts": bucket.to_numpy(),
            "rtt": real["rtt_ms"].astype("float64").to_numpy(),
            "lost": real["lost"].astype(bool).to_numpy(),
        }
    )
    keys = ["target", "bucket_ts"]
    g = df.groupby(keys, sort=False)
    out = pd.DataFrame({"sent": g.size(), "loss_pct": 100.0 * g["lost"].mean()})
    qs = g["rtt"].quantile(np.array([0.1, 0.25, 0.5, 0.75, 0.9])).unstack()
    for q, name in zip(
        [0.1, 0.25, 0.5, 0.75, 0.9], ["p10_ms", "p25_ms", "p50_ms", "p75_ms", "p90_ms"], strict=True
    ):
        out[name] = qs[q]
    out["min_ms"] = g["rtt"].min()
    out["max_ms"] = g["rtt"].max()
    out = out.reset_index().sort_values(keys, kind="stable")
    return schema.frame(out, BANDS_SCHEMA)


def histogram(probes: pd.DataFrame, *, bins: int = 30) -> pd.DataFrame:
    """RTT histogram per target on shared bin edges."""
    ok = _probes_only(probes)
    ok = ok[~ok["lost"].astype(bool)]
    if len(ok) == 0:
        return schema.empty(HISTOGRAM_SCHEMA)
    rtt = ok["rtt_ms"].astype("float64")
    edges = np.histogram_bin_edges(rtt.to_numpy(), bins=bins)
    idx = np.clip(np.searchsorted(edges, rtt.to_numpy(), side="right") - 1, 0, len(edges) - 2)
    counts = pd.crosstab(ok["target"].to_numpy(), idx).reindex(columns=range(len(edges) - 1), fill_value=0)
    long = counts.stack().reset_index()
    long.columns = pd.Index(["target", "bin", "count"])
    long["lo_ms"] = edges[long["bin"].to_numpy()]
    long["hi_ms"] = edges[long["bin"].to_numpy() + 1]
    return schema.frame(long, HISTOGRAM_SCHEMA)


def cdf(probes: pd.DataFrame) -> pd.DataFrame:
    """Empirical CDF of RTT per target."""
    ok = _probes_only(probes)
    ok = ok[~ok["lost"].astype(bool)]
    if len(ok) == 0:
        return schema.empty(CDF_SCHEMA)
    df = pd.DataFrame(
        {"target": ok["target"].to_numpy(), "rtt_ms": ok["rtt_ms"].astype("float64").to_numpy()}
    )
    df = df.sort_values(["target", "rtt_ms"], kind="stable")
    g = df.groupby("target", sort=False)
    df["fraction"] = (g.cumcount() + 1) / g["rtt_ms"].transform("size")
    return schema.frame(df, CDF_SCHEMA)


def heatmap(
    probes: pd.DataFrame, *, bucket_s: float = 10.0, value: str = "p50_ms", period_ms: float = 1000.0
) -> pd.DataFrame:
    """Target x time grid of one band column (``p50_ms``, ``p90_ms``, ``loss_pct`` ...)."""
    b = bands(probes, bucket_s=bucket_s, period_ms=period_ms)
    if value not in BANDS_SCHEMA:
        raise ValueError(f"heatmap value must be a bands column, got {value!r}")
    if len(b) == 0:
        return pd.DataFrame(dtype="float64")
    order = list(pd.unique(b["target"].to_numpy()))
    grid = b.pivot_table(index="target", columns="bucket_ts", values=value, aggfunc="first", dropna=False)
    return grid.reindex(order).astype("float64")
