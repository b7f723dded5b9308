"""The latency views: SmokePing smoke, histograms, CDFs, a target x time heatmap, the path.

Every function takes a frame from :mod:`probes`, :mod:`path` or :mod:`mtu` and returns a
matplotlib Figure (matplotlib is imported lazily), or None when there is nothing to draw.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from netdebug_nb import plotstyle

_MAX_PANELS = 12


def _plt() -> Any:
    import matplotlib.pyplot as plt

    return plt


def smoke(bands: pd.DataFrame, *, max_targets: int = _MAX_PANELS) -> Any:
    """Median line in percentile smoke (p10-p90 light, p25-p75 dark); loss as coloured ticks."""
    if len(bands) == 0:
        return None
    plt = _plt()
    names = list(pd.unique(bands["target"].to_numpy()))[:max_targets]
    fig, axes = plt.subplots(len(names), 1, figsize=(10, 1.9 * len(names) + 0.6), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        b = bands[bands["target"] == name]
        x0 = pd.DatetimeIndex(b["bucket_ts"].dt.tz_convert(None))
        width = x0.to_series().diff().min() if len(x0) > 1 else pd.Timedelta(seconds=1)
        x = x0.append(pd.DatetimeIndex([x0[-1] + width]))  # close the last bucket of the step plot
        f = {
            c: np.r_[v, v[-1:]]
            for c in ("p10_ms", "p25_ms", "p50_ms", "p75_ms", "p90_ms")
            for v in [b[c].astype("float64").to_numpy()]
        }
        ax.fill_between(x, f["p10_ms"], f["p90_ms"], color="0.85", step="post", linewidth=0)
        ax.fill_between(x, f["p25_ms"], f["p75_ms"], color="0.6", step="post", linewidth=0)
        ax.step(x, f["p50_ms"], where="post", color="tab:green", linewidth=1.2)
        loss = np.r_[b["loss_pct"].astype("float64").to_numpy(), 0.0]
        lossy = loss > 0
        if lossy.any():
            finite = f["p90_ms"][np.isfinite(f["p90_ms"])]
            top = float(finite.max()) if len(finite) else 1.0
            sc = ax.scatter(x[lossy], np.full(lossy.sum(), top if top > 0 else 1.0), c=loss[lossy], cmap="autumn_r",
                            vmin=0, vmax=100, marker="|", s=200)  # fmt: skip
            fig.colorbar(sc, ax=ax, pad=0.01, label="loss %")
        ax.set_ylabel("ms")
        ax.set_title(str(name), fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("time (UTC)")
    fig.suptitle("RTT over time per target: median, p25–p75, p10–p90; ticks = loss", x=0.01, ha="left")
    fig.tight_layout()
    return fig


def histogram(hist: pd.DataFrame, *, max_targets: int = _MAX_PANELS) -> Any:
    if len(hist) == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for name in list(pd.unique(hist["target"].to_numpy()))[:max_targets]:
        h = hist[hist["target"] == name]
        ax.stairs(
            h["count"].to_numpy(), np.r_[h["lo_ms"].to_numpy(), h["hi_ms"].to_numpy()[-1:]], label=str(name)
        )
    ax.set_xlabel("RTT (ms)")
    ax.set_ylabel("probes")
    ax.set_title("RTT distribution per target")
    plotstyle.legend_outside(ax, fontsize=8)  # never over the curves
    fig.tight_layout()
    return fig


def cdf(c: pd.DataFrame, *, max_targets: int = _MAX_PANELS) -> Any:
    if len(c) == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3.5))
    for name in list(pd.unique(c["target"].to_numpy()))[:max_targets]:
        d = c[c["target"] == name]
        ax.step(d["rtt_ms"], d["fraction"], where="post", label=str(name))
    ax.set_xlabel("RTT (ms)")
    ax.set_ylabel("fraction of replies")
    ax.set_title("RTT CDF per target")
    ax.grid(alpha=0.3)
    plotstyle.legend_outside(ax, fontsize=8)  # never over the curves
    fig.tight_layout()
    return fig


def heatmap(grid: pd.DataFrame, *, label: str = "p50 RTT (ms)") -> Any:
    if grid.size == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(grid) + 1.5))
    im = ax.imshow(grid.to_numpy(dtype="float64"), aspect="auto", interpolation="nearest", cmap="viridis")
    ax.set_yticks(range(len(grid)), [str(t) for t in grid.index], fontsize=8)
    cols = [pd.Timestamp(c).strftime("%H:%M:%S") for c in grid.columns]
    step = max(1, len(cols) // 10)
    ax.set_xticks(range(0, len(cols), step), cols[::step], fontsize=8, rotation=30)
    fig.colorbar(im, ax=ax, label=label)
    ax.set_title(f"{label} per target over time")
    ax.set_xlabel("time (UTC)")
    fig.tight_layout()
    return fig


def path(p: pd.DataFrame) -> Any:
    """Per-hop loss split into carried (real) and excess (rate limiting) parts."""
    if len(p) == 0:
        return None
    plt = _plt()
    first = p[p["responder"] == 0]
    dsts = list(pd.unique(first["dst"].to_numpy()))
    fig, axes = plt.subplots(len(dsts), 1, figsize=(10, 2.2 * len(dsts) + 0.5), squeeze=False)
    for ax, dst in zip(axes[:, 0], dsts, strict=True):
        d = first[first["dst"] == dst]
        labels = [f"{int(h)}\n{host}" for h, host in zip(d["hop"], d["host"], strict=True)]
        carried = d["carried_loss_pct"].astype("float64").fillna(0).to_numpy()
        excess = d["excess_loss_pct"].astype("float64").fillna(0).to_numpy()
        ax.bar(labels, carried, color="tab:red", label="loss carried to destination")
        ax.bar(labels, excess, bottom=carried, color="0.75", label="hop only (rate limiting)")
        ax.set_ylim(0, 105)
        ax.set_ylabel("loss %")
        ax.set_title(f"path to {dst}", fontsize=9, loc="left")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def mtu(sweep: pd.DataFrame) -> Any:
    if len(sweep) == 0:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 3))
    for name, g in sweep.groupby("target", sort=False):
        rate = 100.0 - g["loss_pct"].astype("float64").fillna(100.0)
        ax.plot(g["packet_bytes"].astype("float64"), rate, marker="o", label=str(name))
    ax.set_xlabel("IPv4 packet size with DF (bytes)")
    ax.set_ylabel("replies %")
    ax.set_title("Replies by packet size with Don't Fragment set")
    ax.set_ylim(-5, 105)
    plotstyle.legend_outside(ax, fontsize=8)  # never over the curves
    fig.tight_layout()
    return fig
