"""The endpoint views: a phase waterfall per target, total-time CDFs per backend, a backend x time
heatmap of server time. Each takes a frame from :mod:`.stats`, returns a matplotlib Figure (or None
when there is nothing to draw) and stays readable with many targets: rows and lines are capped,
the caller's frames are already aggregated.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from netdebug_nb.probe.trial import PHASES

COLORS = {"dns": "#7e57c2", "tcp": "#42a5f5", "tls": "#26a69a", "server": "#ef6c00", "transfer": "#9e9e9e"}
MAX_ROWS = 30


def waterfall(wf: pd.DataFrame, *, max_rows: int = MAX_ROWS) -> Any:
    """Stacked median phases per target (httpstat's picture, for the median of many requests)."""
    if wf.empty:
        return None
    import matplotlib.pyplot as plt

    wf = wf.head(max_rows)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(wf) + 1.4))
    left = np.zeros(len(wf))
    labels = [str(i)[:60] for i in wf.index]
    for ph in PHASES:
        v = wf[ph].to_numpy(dtype="float64")
        ax.barh(labels, v, left=left, color=COLORS[ph], label=ph)
        left += v
    for y, total in enumerate(left):
        ax.text(total, y, f" {total:.1f} ms" if total > 0 else " no answer", va="center", fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("median time per phase (ms)")
    ax.legend(ncol=5, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def cdf(c: pd.DataFrame) -> Any:
    """Cumulative share of requests by total time, one line per target @ backend."""
    if c.empty:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.8))
    for line, g in c.groupby("line", sort=False):
        ax.step(g["total_ms"], g["share"], where="post", label=str(line)[:70])
    ax.set_xscale("log")
    ax.set_xlabel("total time (ms, log)")
    ax.set_ylabel("share of requests")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def heatmap(grid: pd.DataFrame, *, label: str = "median server time (ms)") -> Any:
    """Backend x time: a backend that is slow all the time vs one that was slow for a while."""
    if grid.empty:
        return None
    import matplotlib.pyplot as plt

    values = grid.to_numpy(dtype="float64")
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(grid) + 1.6))
    im = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap="magma_r", interpolation="nearest")
    ax.set_yticks(range(len(grid.index)), [str(i)[:60] for i in grid.index], fontsize=8)
    step = max(1, len(grid.columns) // 10)
    ax.set_xticks(range(0, len(grid.columns), step), [str(c) for c in grid.columns[::step]], fontsize=8)
    ax.set_xlabel("trial" if grid.columns.name == "trial" else "time from start (s)")
    fig.colorbar(im, ax=ax, label=label)
    fig.tight_layout()
    return fig
