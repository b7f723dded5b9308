"""The IO graph: bytes per second over time, for the whole capture and for its largest flows.

Time is cut into fixed bins from the first packet; bins without traffic are present with zero so
a stall shows as a drop to zero rather than a line drawn across the gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.pcap import conversations, flows
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

IOGRAPH_SCHEMA: Schema = {
    "ts": "datetime64[ns, UTC]",  # start of the bin
    "series": "string",  # "all" or a conversation label (conversations.describe)
    "flow": "int64",  # -1 for "all"
    "packets": "int64",
    "bytes": "int64",
    "bytes_per_s": "float64",
}

ALL = "all"


def bins(
    packets: pd.DataFrame,
    labels: pd.DataFrame | None = None,
    *,
    interval_s: float = 1.0,
    top_n: int = 5,
    max_bins: int = 2000,
) -> pd.DataFrame:
    """Long-form series: one row per (bin, series). The bin widens if it would exceed ``max_bins``."""
    import numpy as np
    import pandas as pd

    if len(packets) == 0:
        return empty(IOGRAPH_SCHEMA)
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if labels is None:
        labels = flows.label(packets)
    ts = np.asarray(packets["ts"].array.asi8, dtype=np.int64)
    t0 = int(ts.min())
    span = int(ts.max()) - t0
    width = int(interval_s * 1e9)
    width = max(width, -(-span // max_bins) if span else width)
    nbins = span // width + 1
    b = (ts - t0) // width
    wire = packets["wirelen"].to_numpy(dtype=np.int64)
    flow = labels["flow"].to_numpy()

    conv = conversations.summarize(packets, labels).head(top_n)
    names = conversations.describe(conv)
    series = [(ALL, -1, np.ones(len(packets), dtype=bool))]
    series += [(str(name), int(f), flow == f) for name, f in zip(names, conv["flow"], strict=True)]
    parts = []
    starts = pd.to_datetime(t0 + np.arange(nbins, dtype=np.int64) * width, unit="ns", utc=True)
    for name, f, mask in series:
        nbytes = np.bincount(b[mask], weights=wire[mask], minlength=nbins).astype(np.int64)
        npk = np.bincount(b[mask], minlength=nbins).astype(np.int64)
        parts.append(
            pd.DataFrame(
                {
                    "ts": starts,
                    "series": name,
                    "flow": f,
                    "packets": npk,
                    "bytes": nbytes,
                    "bytes_per_s": nbytes / (width / 1e9),
                }
            )
        )
    return frame(pd.concat(parts, ignore_index=True), IOGRAPH_SCHEMA)
