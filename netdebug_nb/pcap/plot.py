"""Figures for the pcap notebook: IO graph, TCP RTT and retransmissions over time, DNS latency.

Each function returns a figure that is already closed in ``pyplot``: nothing is drawn twice or
kept alive in pyplot's figure list, and a notebook shows the figure by ending a cell with it
(importing pyplot is what lets the inline backend render a returned figure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def iograph(bins: pd.DataFrame, *, title: str = "IO graph") -> Figure:
    """Bytes per second for each series of :func:`netdebug_nb.pcap.iograph.bins`."""
    fig, ax = _figure()
    if len(bins) == 0:
        return _nothing(fig, ax, "no packets")
    for name, s in bins.groupby("series", sort=False):
        style = {"color": "black", "linewidth": 1.6} if name == "all" else {"linewidth": 1.0}
        ax.step(s["ts"], s["bytes_per_s"] * 8 / 1e3, where="post", label=str(name), **style)
    ax.set_ylabel("kbit/s")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper right")
    fig.autofmt_xdate()
    return fig


def tcp_timeline(rtt: pd.DataFrame, events: pd.DataFrame) -> Figure:
    """RTT samples (top) and a mark per retransmission, duplicate ACK, reset ... (bottom) over time."""
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 5.5), layout="constrained")
    plt.close(fig)
    if len(rtt):
        for direction, s in rtt.groupby("direction"):
            top.scatter(s["ts"], s["rtt_ms"], s=6, label=f"data {direction}")
        top.set_yscale("log")
        top.legend(fontsize="small")
    else:
        top.text(0.5, 0.5, "no RTT samples", ha="center", va="center", transform=top.transAxes)
    top.set_ylabel("data → ACK (ms)")
    top.set_title("TCP round trips and retransmissions")
    names = [e for e in ("retransmission", "out_of_order", "dup_ack", "zero_window", "reset", "unseen_segment")
             if (events["event"] == e).any()]  # fmt: skip
    for i, name in enumerate(names):
        ts = events.loc[events["event"] == name, "ts"]
        bottom.scatter(ts, [i] * len(ts), marker="|", s=300, linewidths=1.5)
    if names:
        bottom.set_yticks(range(len(names)), [f"{n} ({int((events['event'] == n).sum())})" for n in names])
        bottom.set_ylim(-0.7, len(names) - 0.3)
    else:
        bottom.text(0.5, 0.5, "no TCP events", ha="center", va="center", transform=bottom.transAxes)
    bottom.set_title("TCP events", fontsize="medium")
    fig.autofmt_xdate()
    return fig


def dns_latency(transactions: pd.DataFrame) -> Figure:
    """Histogram of DNS response times (log-spaced bins), answered queries only."""
    import numpy as np

    fig, ax = _figure()
    lat = transactions.loc[transactions["answered"].astype(bool), "latency_ms"].astype(float).dropna()
    lat = lat[lat > 0]
    if len(lat) == 0:
        return _nothing(fig, ax, "no answered DNS queries")
    lo, hi = max(float(lat.min()), 0.01), max(float(lat.max()), 0.02)
    bins = np.logspace(np.log10(lo), np.log10(hi * 1.01), min(40, max(5, len(lat) // 2)))
    ax.hist(lat, bins=bins.tolist(), color="#1f5fa8")
    ax.set_xscale("log")
    ax.set_xlabel("response time (ms)")
    ax.set_ylabel("queries")
    ax.set_title(f"DNS latency ({len(lat)} answered, median {lat.median():.3g} ms)")
    return fig


def _figure() -> tuple[Figure, Axes]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    plt.close(fig)
    return fig, ax


def _nothing(fig: Figure, ax: Axes, text: str) -> Figure:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    return fig


def network_vs_server(servers: pd.DataFrame, *, top_n: int = 15) -> Figure:
    """Per server, the network round trip (TCP handshake) next to the server's think time.

    One row per server (the ``top_n`` slowest): bars for the medians, a tick for the p90 of the
    server time. Log scale, because the interesting case is 0.3 ms against 800 ms.
    """
    import numpy as np

    fig, ax = _figure()
    s = servers[servers["server_p50_ms"].notna()].head(top_n)
    if s.empty:
        return _nothing(fig, ax, "no HTTP / gRPC / TLS server answered in this capture")
    labels = [
        f"{a}:{p} {proto}" for a, p, proto in zip(s["server"], s["server_port"], s["protocol"], strict=True)
    ]
    y = np.arange(len(s))
    net = s["handshake_p50_ms"].astype("float64").fillna(np.nan).to_numpy()
    app = s["server_p50_ms"].astype("float64").to_numpy()
    p90 = s["server_p90_ms"].astype("float64").to_numpy()
    floor = 0.001
    ax.barh(
        y - 0.2,
        np.nan_to_num(net, nan=floor),
        height=0.4,
        color="#1f5fa8",
        label="network: TCP handshake p50",
    )
    ax.barh(y + 0.2, app, height=0.4, color="#d9822b", label="server: request → first byte p50")
    ax.scatter(p90, y + 0.2, marker="|", s=200, color="#8a3b00", label="server p90", zorder=3)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("time (ms, log scale)")
    ax.set_title("Network round trip vs server time per server")
    ax.legend(loc="lower right", fontsize="small", framealpha=0.9)
    fig.set_figheight(max(2.5, 0.45 * len(s) + 1.2))
    return fig
