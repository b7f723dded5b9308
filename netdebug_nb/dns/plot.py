"""Pictures of a DNS trace: a waterfall per lookup and latency histograms per server.

The waterfall is the point of the notebook: it shows at a glance that "one lookup" was ten
queries, which of them were useless search-suffix NXDOMAINs, and where the resolver sat idle
waiting for a timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netdebug_nb.guidance import Note, nothing_to_draw

if TYPE_CHECKING:
    import pandas as pd

COLORS = {
    "answer": "#2e7d32",
    "NODATA": "#9e9e9e",
    "NXDOMAIN": "#ef6c00",
    "SERVFAIL": "#6a1b9a",
    "timeout": "#c62828",
    "error": "#000000",
    "truncated": "#1565c0",
    "other": "#607d8b",
}


def _kind(status: Any, tc: bool, answers: Any, rcode: Any) -> str:
    if status == "timeout":
        return "timeout"
    if status != "ok":
        return "error"
    if tc:
        return "truncated"
    if answers is not None and float(answers) > 0:
        return "answer"
    if rcode == "NOERROR":
        return "NODATA"
    return str(rcode) if rcode in COLORS else "other"


def waterfall(queries: pd.DataFrame, *, max_lookups: int = 8, trial: int | None = 0) -> Any:
    """One panel per lookup: a bar per exchange from send to response (or to the timeout)."""
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.patches import Patch

    q = queries if trial is None else queries[queries["trial"].fillna(0) == trial]
    keys = list(dict.fromkeys(zip(q["lookup"].astype(str), q["trial"].fillna(-1).astype(int), strict=True)))[
        :max_lookups
    ]
    if not keys:
        return _shown(nothing_to_draw("no queries"))
    groups = [q[(q["lookup"] == name) & (q["trial"].fillna(-1) == t)] for name, t in keys]
    heights = [max(len(g), 1) * 0.28 + 0.8 for g in groups]
    fig, axes = plt.subplots(
        len(keys), 1, figsize=(11, sum(heights) + 0.4), gridspec_kw={"height_ratios": heights}, squeeze=False
    )
    repeated = {name for name, t in keys if t > 0}
    for ax, (name, t), g in zip(axes[:, 0], keys, groups, strict=True):
        g = g.sort_values("start_ms", kind="stable").reset_index(drop=True)
        labels = []
        span = float((g["start_ms"] + g["wait_ms"].fillna(0)).max() - g["start_ms"].min()) if len(g) else 1.0
        min_width = max(span * 0.006, 0.05)
        records: Any = g.itertuples()  # cells are plain scalars or NA
        for i, r in enumerate(records):
            kind = _kind(
                r.status,
                bool(r.tc) if not pd.isna(r.tc) else False,
                None if pd.isna(r.answers) else r.answers,
                r.rcode,
            )
            width = float(r.wait_ms) if not pd.isna(r.wait_ms) else 0.0
            ax.barh(
                i,
                max(width, min_width),
                left=float(r.start_ms),
                color=COLORS[kind],
                hatch="//" if r.transport == "tcp" else None,
            )
            labels.append(f"{r.qname} {r.qtype} @{r.server}{' tcp' if r.transport == 'tcp' else ''}")
        ax.set_yticks(range(len(g)), labels, fontsize=7)
        ax.invert_yaxis()
        title = f"{name} (lookup #{t + 1})" if name in repeated or t > 0 else name
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_xlabel("ms since the lookup started", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    handles = [Patch(color=c, label=k) for k, c in COLORS.items() if k != "other"]
    fig.legend(handles=handles, fontsize=7, ncol=len(handles), loc="upper center", frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / (sum(heights) + 0.4)))
    return fig


def latency_histograms(df: pd.DataFrame, *, value: str = "rtt_ms") -> Any:
    """Latency distribution per server (log-scaled x when the range is wide)."""
    import matplotlib.pyplot as plt
    import numpy as np

    data = df.dropna(subset=[value])
    servers = list(dict.fromkeys(data["server"])) if not data.empty else []
    if not servers:
        return _shown(nothing_to_draw("no responses"))
    fig, axes = plt.subplots(
        max(len(servers), 1), 1, figsize=(9, 1.8 * max(len(servers), 1)), squeeze=False, sharex=True
    )
    values = data[value].astype(float)
    lo, hi = max(values.min(), 0.01), max(values.max(), 0.02)
    bins = np.geomspace(lo, hi * 1.01, 30) if hi / lo > 20 else 30
    for ax, server in zip(axes[:, 0], servers, strict=True):
        v = data[data["server"] == server][value].astype(float)
        ax.hist(v, bins=bins, color="#1f5fa8")
        ax.set_ylabel(str(server), fontsize=8, rotation=0, ha="right")
        ax.set_title(
            f"{server}: n={len(v)}, p50={v.median():.1f} ms, max={v.max():.1f} ms", fontsize=8, loc="left"
        )
        if hi / lo > 20:
            ax.set_xscale("log")
    axes[-1, 0].set_xlabel(value.replace("_ms", " (ms)"))
    fig.tight_layout()
    return fig


def _shown(note: Note) -> Note:
    """These figures are shown by pyplot at the end of the cell (the notebook ends the line with
    ';'), so a note standing in for one is displayed here rather than returned for display."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return note
    if get_ipython() is not None:
        display(note)
    return note
