"""Conversations: bidirectional 5-tuples with packets and bytes each way, start, duration, throughput.

A TCP port reused for a new connection (a SYN with a new ISN) starts a new conversation, as in
Wireshark's ``tcp.stream``.

Side ``a`` is the source of the conversation's first packet, so for TCP it is usually the client.
Byte counts are bytes on the wire (``wirelen``), the figure a link's capacity is measured in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.pcap import flows
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

CONVERSATIONS_SCHEMA: Schema = {
    "flow": "int64",  # flow number from flows.label (joins with tcp.HEALTH_SCHEMA)
    "protocol": "string",  # TCP, UDP, ICMP ... or the IP protocol number
    "a": "string",  # source of the first packet
    "a_port": "UInt16",  # empty for protocols without ports
    "b": "string",
    "b_port": "UInt16",
    "packets": "int64",
    "bytes": "int64",
    "packets_ab": "int64",
    "bytes_ab": "int64",
    "packets_ba": "int64",
    "bytes_ba": "int64",
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "throughput_bps": "float64",  # bits per second over the conversation's duration; NaN for one instant
}


def summarize(packets: pd.DataFrame, labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per conversation, largest (bytes) first."""
    import numpy as np
    import pandas as pd

    if labels is None:
        labels = flows.label(packets)
    mask = labels["flow"].to_numpy() >= 0
    if not mask.any():
        return empty(CONVERSATIONS_SCHEMA)
    flow = labels["flow"].to_numpy()[mask]
    fwd = labels["forward"].to_numpy()[mask]
    wire = packets["wirelen"].to_numpy(dtype=np.int64)[mask]
    ts = np.asarray(packets["ts"].array.asi8, dtype=np.int64)[mask]
    n = int(flow.max()) + 1
    ends = flows.endpoints(packets, labels).set_index("flow")
    ids = ends.index.to_numpy()

    def count(weights: np.ndarray | None) -> np.ndarray:
        out: np.ndarray = np.bincount(flow, weights=weights, minlength=n)[ids].astype(np.int64)
        return out

    first = np.full(n, np.iinfo(np.int64).max)
    last = np.full(n, np.iinfo(np.int64).min)
    np.minimum.at(first, flow, ts)
    np.maximum.at(last, flow, ts)
    first, last = first[ids], last[ids]
    duration = (last - first) / 1e9
    total_bytes = count(wire)
    with np.errstate(divide="ignore", invalid="ignore"):
        throughput = np.where(duration > 0, total_bytes * 8 / duration, np.nan)
    out = frame(
        {
            "flow": ids,
            "protocol": ends["protocol"].array,
            "a": ends["a"].array,
            "a_port": ends["a_port"].array,
            "b": ends["b"].array,
            "b_port": ends["b_port"].array,
            "packets": count(None),
            "bytes": total_bytes,
            "packets_ab": count(fwd.astype(np.int64)),
            "bytes_ab": count(wire * fwd),
            "packets_ba": count((~fwd).astype(np.int64)),
            "bytes_ba": count(wire * ~fwd),
            "start": pd.to_datetime(first, unit="ns", utc=True),
            "end": pd.to_datetime(last, unit="ns", utc=True),
            "duration_s": duration,
            "throughput_bps": throughput,
        },
        CONVERSATIONS_SCHEMA,
    )
    return out.sort_values(["bytes", "flow"], ascending=[False, True], ignore_index=True)


def describe(conversations: pd.DataFrame) -> pd.Series:
    """A short human label per conversation (``TCP 10.0.0.1:40000 ↔ 10.0.0.2:80``), for plots."""
    import pandas as pd

    def side(addr: pd.Series, port: pd.Series) -> pd.Series:
        text = addr.astype("string")
        with_port = text + ":" + port.astype("string")
        return with_port.where(port.notna(), text)

    label = (
        conversations["protocol"].astype("string")
        + " "
        + side(conversations["a"], conversations["a_port"])
        + " ↔ "
        + side(conversations["b"], conversations["b_port"])
    )
    return pd.Series(label.to_numpy(), index=conversations.index, dtype="string")
