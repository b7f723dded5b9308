"""Figures for the capture-comparison notebook: one-way delay distributions and the lost-packets timeline.

Like :mod:`netdebug_nb.pcap.plot`, each function returns a figure already closed in pyplot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def delays(delays: pd.DataFrame, *, max_series: int = 8) -> Figure:
    """Distribution (CDF) of one-way delays per direction between capture points."""
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(10, 4), layout="constrained")
    plt.close(fig)
    if len(delays) == 0:
        ax.text(0.5, 0.5, "no packet seen at two points", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    groups = sorted(delays.groupby(["sender", "receiver"], sort=False), key=lambda kv: -len(kv[1]))
    corrected = bool(delays["corrected"].all())
    for (s, r), g in groups[:max_series]:
        v = np.sort(g["delay_ms"].to_numpy())
        ax.step(v, np.arange(1, len(v) + 1) / len(v), where="post", label=f"{s} → {r} ({len(v)})")
    ax.set_xlabel("one-way delay (ms)" + ("" if corrected else ", some include an unknown clock offset"))
    ax.set_ylabel("share of packets")
    ax.set_title("One-way delay between capture points (clock offset removed)")
    ax.legend(fontsize="small", loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def lost_timeline(lost: pd.DataFrame, paths: pd.DataFrame) -> Figure:
    """When packets were lost between each pair of points (a mark per packet, by flow)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    plt.close(fig)
    if len(lost) == 0:
        ax.text(0.5, 0.5, "no packet lost between the capture points", ha="center", va="center",
                transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
        return fig
    labels = [
        f"{s} → {r}: {f}" for s, r, f in zip(lost["sender"], lost["receiver"], lost["flow"], strict=True)
    ]
    order = list(dict.fromkeys(labels))[:15]
    rows = {name: i for i, name in enumerate(order)}
    ys = [rows.get(name, -1) for name in labels]
    keep = [y >= 0 for y in ys]
    ax.scatter(lost["ts"][keep], [y for y in ys if y >= 0], marker="|", s=120, color="tab:red")
    ax.set_yticks(range(len(order)), order, fontsize="small")
    ax.set_title(f"Lost packets over time ({len(lost)})")
    ax.grid(axis="x", alpha=0.3)
    fig.autofmt_xdate()
    return fig
