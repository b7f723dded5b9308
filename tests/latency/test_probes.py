from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from netdebug_nb import schema
from netdebug_nb.latency import fping, probes

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def frame(rows: dict[str, list[float | None]]) -> pd.DataFrame:
    """Per-probe frame from RTT lists (None = lost), 1 s apart."""
    recs = []
    t0 = pd.Timestamp("2026-01-01", tz="UTC")
    for target, rtts in rows.items():
        for seq, r in enumerate(rtts):
            recs.append({"target": target, "seq": seq, "sent_ts": t0 + pd.Timedelta(seconds=seq), "rtt_ms": r,
                         "lost": r is None, "bytes": None if r is None else 64, "dup": False, "error": None})  # fmt: skip
    return schema.frame(recs, fping.PROBES_SCHEMA)


@pytest.fixture
def demo() -> pd.DataFrame:
    return fping.read(FIX / "fping5_demo.txt").probes


def test_summary_on_recorded_run(demo: pd.DataFrame) -> None:
    s = probes.summarize(demo).set_index("target")
    schema.check(s.reset_index(), probes.STATS_SCHEMA)
    assert s.loc["198.18.2.10", "status"] == "ok" and s.loc["198.18.2.10", "loss_pct"] == 0
    assert s.loc["198.18.2.11", "status"] == "loss" and s.loc["198.18.2.11", "loss_pct"] == pytest.approx(
        100 * 4 / 60
    )
    assert s.loc["198.18.2.12", "longest_outage"] == 12 and s.loc["198.18.2.12", "outages"] == 1
    assert s.loc["198.18.3.5", "status"] == "unreachable"
    assert s.loc["db.invalid", "status"] == "unresolvable" and s.loc["db.invalid", "sent"] == 0


def test_percentiles_jitter() -> None:
    rtts: list[float | None] = [float(x) for x in range(1, 101)]
    s = probes.summarize(frame({"a": rtts})).iloc[0]
    assert s["p50_ms"] == pytest.approx(np.percentile(range(1, 101), 50))
    assert s["p99_ms"] == pytest.approx(np.percentile(range(1, 101), 99))
    assert s["max_ms"] == 100 and s["jitter_ms"] == pytest.approx(1.0)
    j = probes.jitter(frame({"b": [10.0, 20.0, None, 10.0, 10.0]}))
    assert j["b"] == pytest.approx((10 + 10 + 0) / 3)  # consecutive answered probes


def test_outages_runs_start_and_length() -> None:
    df = frame({"a": [1.0, None, None, 1.0, None, 1.0, None, None, None], "b": [None, 1.0]})
    o = probes.outages(df)
    schema.check(o, probes.OUTAGES_SCHEMA)
    assert o[["target", "start_seq", "probes", "ongoing"]].values.tolist() == [
        ["a", 1, 2, False], ["a", 4, 1, False], ["a", 6, 3, True], ["b", 0, 1, False]
    ]  # fmt: skip
    assert o["duration_s"].tolist() == [2.0, 1.0, 2.0, 1.0]
    assert len(probes.outages(df, min_probes=3)) == 1


def test_bands_histogram_cdf_heatmap(demo: pd.DataFrame) -> None:
    b = probes.bands(demo, bucket_s=1.0)
    schema.check(b, probes.BANDS_SCHEMA)
    row = b[b["target"] == "198.18.2.12"].sort_values("loss_pct").iloc[-1]
    assert row["loss_pct"] == 100.0 and pd.isna(row["p50_ms"])
    ok = b[b["target"] == "198.18.2.10"]
    assert (ok["p10_ms"] <= ok["p50_ms"]).all() and (ok["p50_ms"] <= ok["p90_ms"]).all()
    h = probes.histogram(demo, bins=10)
    schema.check(h, probes.HISTOGRAM_SCHEMA)
    assert h.groupby("target")["count"].sum().to_dict() == {
        "198.18.2.10": 60,
        "198.18.2.11": 56,
        "198.18.2.12": 48,
    }
    c = probes.cdf(demo)
    assert c.groupby("target")["fraction"].max().eq(1.0).all()
    grid = probes.heatmap(demo, bucket_s=1.0, value="loss_pct")
    assert list(grid.index) == ["198.18.2.10", "198.18.2.11", "198.18.2.12", "198.18.3.5"]
    assert (grid.loc["198.18.3.5"] == 100).all()


def test_without_timestamps_uses_schedule() -> None:
    p = fping.read(FIX / "fping5_Cq.txt").probes
    b = probes.bands(p, bucket_s=1.0, period_ms=500)
    assert b["bucket_ts"].dt.year.eq(1970).all() and len(b[b["target"] == "198.18.2.10"]) == 2


def test_empty_frames_keep_schema() -> None:
    e = schema.empty(fping.PROBES_SCHEMA)
    schema.check(probes.summarize(e), probes.STATS_SCHEMA)
    schema.check(probes.outages(e), probes.OUTAGES_SCHEMA)
    schema.check(probes.bands(e), probes.BANDS_SCHEMA)
    schema.check(probes.cdf(e), probes.CDF_SCHEMA)
