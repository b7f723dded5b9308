"""Figures for the pcap notebook: IO graph, TCP RTT and retransmissions over time, DNS latency.

Each function returns a figure that is already closed in ``pyplot``: nothing is drawn twice or
kept alive in pyplot's figure list, and a notebook shows the figure by ending a cell with it
(importing pyplot is what lets the inline backend render a returned figure).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from numpy.typing import ArrayLike

    from netdebug_nb.guidance import Note


def iograph(bins: pd.DataFrame, *, title: str = "IO graph") -> Figure | Note:
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


def tcp_timeline(rtt: pd.DataFrame, events: pd.DataFrame, *, max_bins: int = 300) -> Figure | Note:
    """RTT over time (top) and TCP events per time bin (bottom).

    Both panels are aggregated into at most ``max_bins`` time bins before drawing, so the
    figure costs the same for a hundred packets or ten million: RTT as the median per bin with
    the 5th-95th percentile band (the samples themselves when there are few), events as one
    strip per kind whose shade is the count per bin.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if len(rtt) == 0 and len(events) == 0:
        from netdebug_nb.guidance import nothing_to_draw

        return nothing_to_draw("no TCP round trips or events")
    fig, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(10, 5.5), layout="constrained")
    plt.close(fig)
    stamps = [np.asarray(t["ts"].array.asi8, dtype=np.int64) for t in (rtt, events) if len(t)]
    edges = _time_bins(np.concatenate(stamps), max_bins) if stamps else None
    if len(rtt) and edges is not None:
        for direction, s in rtt.groupby("direction", sort=True):
            _rtt_series(top, s, edges, f"data {direction}")
        top.set_yscale("log")
        top.legend(fontsize="small")
    else:
        top.text(0.5, 0.5, "no RTT samples", ha="center", va="center", transform=top.transAxes)
    top.set_ylabel("data → ACK (ms)")
    top.set_title("TCP round trips and retransmissions")
    kinds = ("retransmission", "out_of_order", "dup_ack", "zero_window", "reset", "unseen_segment")
    counts = events["event"].value_counts()
    names = [e for e in kinds if counts.get(e, 0) > 0]
    if names and edges is not None:
        ts = np.asarray(events["ts"].array.asi8, dtype=np.int64)
        ev = events["event"].to_numpy(dtype=object)
        grid = np.vstack([np.histogram(ts[ev == name], bins=edges)[0] for name in names]).astype(float)
        shade = np.where(grid > 0, np.log1p(grid), np.nan)
        x = _dates(edges)
        bottom.pcolormesh(x, np.arange(len(names) + 1) - 0.5, shade, cmap="Reds", vmin=0, shading="flat")
        bottom.set_yticks(range(len(names)), [f"{n} ({int(counts[n])})" for n in names])
        bottom.set_ylim(len(names) - 0.5, -0.5)
        bottom.set_title(f"TCP events per {_width_text(edges)} (darker: more)", fontsize="medium")
    else:
        bottom.text(0.5, 0.5, "no TCP events", ha="center", va="center", transform=bottom.transAxes)
        bottom.set_title("TCP events", fontsize="medium")
    if edges is not None:
        bottom.xaxis_date(tz="UTC")
    fig.autofmt_xdate()
    return fig


_FEW_SAMPLES = 2000  # up to this many RTT samples are drawn one by one


def _rtt_series(ax: Axes, s: pd.DataFrame, edges: np.ndarray, label: str) -> None:
    import numpy as np
    import pandas as pd

    ts = np.asarray(s["ts"].array.asi8, dtype=np.int64)
    ms = s["rtt_ms"].to_numpy(dtype=np.float64)
    if len(s) <= _FEW_SAMPLES:
        ax.scatter(_dates(ts), ms, s=6, label=label)
        return
    b = np.clip(np.searchsorted(edges, ts, side="right") - 1, 0, len(edges) - 2)
    q = pd.Series(ms).groupby(b).quantile(np.array([0.05, 0.5, 0.95])).unstack()
    mid = _dates((edges[q.index.to_numpy()] + edges[q.index.to_numpy() + 1]) // 2)
    (line,) = ax.plot(mid, q[0.5].to_numpy(), linewidth=1.2, label=f"{label} (median, 5-95 %)")
    ax.fill_between(
        mid, q[0.05].to_numpy(), q[0.95].to_numpy(), color=line.get_color(), alpha=0.25, linewidth=0
    )


def _time_bins(ts: np.ndarray, max_bins: int) -> np.ndarray:
    """Edges (ns) of at most ``max_bins`` equal bins covering ``ts``, at least 1 ms wide."""
    import numpy as np

    lo, hi = int(ts.min()), int(ts.max())
    width = max(-(-(hi - lo + 1) // max_bins), 1_000_000)
    return lo + width * np.arange(-(-(hi - lo + 1) // width) + 1, dtype=np.int64)


def _dates(ns: np.ndarray) -> np.ndarray:
    """Nanosecond timestamps as matplotlib date numbers (days), for axes shared with datetimes."""
    import numpy as np

    out: np.ndarray = np.asarray(ns, dtype=np.int64) / 86_400e9
    return out


def _width_text(edges: np.ndarray) -> str:
    w = (int(edges[1]) - int(edges[0])) / 1e9 if len(edges) > 1 else 0.0
    return f"{w:.3g} s" if w >= 1 else f"{w * 1e3:.3g} ms"


def dns_latency(latency_ms: ArrayLike) -> Figure | Note:
    """Histogram of DNS response times (log-spaced bins) of the answered queries.

    ``latency_ms``: one per answered query (:attr:`dns.Summary.latency_ms`). Counted per bin
    first, then drawn as one bar a bin: the drawing costs the same for 2,000 or 2,000,000 queries.
    """
    import numpy as np

    fig, ax = _figure()
    lat = np.asarray(latency_ms, dtype=np.float64)
    lat = lat[~np.isnan(lat) & (lat > 0)]
    if len(lat) == 0:
        return _nothing(fig, ax, "no answered DNS queries")
    lo, hi = max(float(lat.min()), 0.01), max(float(lat.max()), 0.02)
    bins = np.logspace(np.log10(lo), np.log10(hi * 1.01), min(40, max(5, len(lat) // 2)))
    counts, _ = np.histogram(lat, bins=bins)
    ax.hist(bins[:-1], bins=bins.tolist(), weights=counts, color="#1f5fa8")
    ax.set_xscale("log")
    ax.set_xlabel("response time (ms)")
    ax.set_ylabel("queries")
    ax.set_title(f"DNS latency ({len(lat)} answered, median {np.median(lat):.3g} ms)")
    return fig


def _figure() -> tuple[Figure, Axes]:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    plt.close(fig)
    return fig, ax


def _nothing(fig: Figure, ax: Axes, text: str) -> Note:
    """Empty data: a one-line note instead of empty axes (see :mod:`netdebug_nb.guidance`)."""
    from netdebug_nb.guidance import nothing_to_draw

    return nothing_to_draw(text)


def network_vs_server(servers: pd.DataFrame, *, top_n: int = 15) -> Figure | Note:
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
