"""Plots for the netstate notebook (matplotlib imported lazily: importing the package stays cheap)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def interface_counters(ifaces: pd.DataFrame) -> Any:
    """Errors and drops per interface (only interfaces that have any), or None when all are clean."""
    import matplotlib.pyplot as plt

    cols = ["rx_errors", "tx_errors", "rx_dropped", "tx_dropped", "rx_over_errors", "rx_missed_errors"]
    df = ifaces.set_index("ifname")[cols].fillna(0).astype("int64")
    df = df[df.sum(axis=1) > 0]
    if df.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, max(2.5, 1 + 0.4 * len(df))))
    df.plot.barh(stacked=True, ax=ax)
    ax.set_xlabel("packets (since the interface came up)")
    ax.set_title("Interface errors and drops")
    fig.tight_layout()
    return fig


def throughput(intervals: pd.DataFrame) -> Any:
    """Per-interval Mbit/s of each iperf3 test, with TCP retransmits on a second axis."""
    import matplotlib.pyplot as plt

    if intervals.empty:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.5))
    for test, g in intervals.groupby("test"):
        ax.plot(g["end_s"].astype(float), g["mbps"].astype(float), marker="o", label=f"{test} Mbit/s")
    ax.set_xlabel("seconds")
    ax.set_ylabel("Mbit/s")
    tcp = intervals[intervals["test"] == "tcp"]
    if not tcp.empty and tcp["retransmits"].notna().any():
        ax2 = ax.twinx()
        ax2.bar(
            tcp["end_s"].astype(float),
            tcp["retransmits"].fillna(0).astype(float),
            width=0.3,
            alpha=0.3,
            color="red",
            label="retransmits",
        )
        ax2.set_ylabel("TCP retransmits")
    ax.legend(loc="lower left")
    ax.set_title("iperf3 throughput per interval")
    fig.tight_layout()
    return fig
