"""The IO graph: bytes per second over time, for the whole capture and for its largest flows.

Time is cut into fixed bins from the first packet; bins without traffic are present with zero so
a stall shows as a drop to zero rather than a line drawn across the gap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.pcap import conversations, flows
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import numpy as np
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
    conversations_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Long-form series: one row per (bin, series). The bin widens if it would exceed ``max_bins``.

    ``conversations_table``: :func:`conversations.summarize` of the same packets, if already made.
    """
    import numpy as np

    if len(packets) == 0:
        return empty(IOGRAPH_SCHEMA)
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    if labels is None:
        labels = flows.label(packets)
    ts = np.asarray(packets["ts"].array.asi8, dtype=np.int64)
    t0, width, nbins = grid(int(ts.min()), int(ts.max()), interval_s=interval_s, max_bins=max_bins)
    b = (ts - t0) // width
    wire = packets["wirelen"].to_numpy(dtype=np.int64)
    flow = labels["flow"].to_numpy()
    conv = (
        conversations_table if conversations_table is not None else conversations.summarize(packets, labels)
    ).head(top_n)
    counts = [(np.bincount(b, weights=wire, minlength=nbins), np.bincount(b, minlength=nbins))]
    for f in conv["flow"].tolist():
        mask = flow == f
        counts.append(
            (np.bincount(b[mask], weights=wire[mask], minlength=nbins), np.bincount(b[mask], minlength=nbins))
        )
    return assemble(t0, width, nbins, conv, counts)


def grid(first_ns: int, last_ns: int, *, interval_s: float, max_bins: int = 2000) -> tuple[int, int, int]:
    """(start ns, bin width ns, number of bins) for packets from ``first_ns`` to ``last_ns``."""
    if interval_s <= 0:
        raise ValueError(f"interval_s must be positive, got {interval_s}")
    span = last_ns - first_ns
    width = int(interval_s * 1e9)
    width = max(width, -(-span // max_bins) if span else width)
    return first_ns, width, span // width + 1


def assemble(
    t0: int, width: int, nbins: int, conv: pd.DataFrame, counts: list[tuple[np.ndarray, np.ndarray]]
) -> pd.DataFrame:
    """The IOGRAPH_SCHEMA table from (bytes, packets) per bin: the whole capture, then each of ``conv``."""
    import numpy as np
    import pandas as pd

    names = [ALL, *(str(n) for n in conversations.describe(conv))]
    flow_ids = [-1, *conv["flow"].tolist()]
    starts = pd.to_datetime(t0 + np.arange(nbins, dtype=np.int64) * width, unit="ns", utc=True)
    parts = [
        pd.DataFrame(
            {
                "ts": starts,
                "series": name,
                "flow": f,
                "packets": npk.astype(np.int64),
                "bytes": nbytes.astype(np.int64),
                "bytes_per_s": nbytes.astype(np.int64) / (width / 1e9),
            }
        )
        for name, f, (nbytes, npk) in zip(names, flow_ids, counts, strict=True)
    ]
    return frame(pd.concat(parts, ignore_index=True), IOGRAPH_SCHEMA)
