"""The capture at a glance: size, time span, link types, protocol mix and top talkers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.pcap import flows
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

OVERVIEW_SCHEMA: Schema = {
    "packets": "int64",
    "bytes": "int64",  # bytes on the wire
    "captured_bytes": "int64",  # bytes saved in the file (less when a snap length cut packets)
    "truncated_packets": "int64",  # packets with caplen < wirelen
    "start": "datetime64[ns, UTC]",  # empty for an empty capture
    "end": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "ip_packets": "int64",
    "ipv6_packets": "int64",
    "addresses": "int64",  # distinct IP addresses
    "link_types": "string",  # e.g. "Ethernet" or "Ethernet, Linux SLL"
}

LINK_TYPES_SCHEMA: Schema = {
    "linktype": "uint16",
    "name": "string",
    "packets": "int64",
}

PROTOCOLS_SCHEMA: Schema = {
    "protocol": "string",  # TCP, UDP, ICMP ..., "non-IP" for packets without an IP layer
    "packets": "int64",
    "bytes": "int64",
    "packets_pct": "float64",  # percent of all packets
    "bytes_pct": "float64",
}

TALKERS_SCHEMA: Schema = {
    "address": "string",
    "packets_sent": "int64",
    "bytes_sent": "int64",
    "packets_received": "int64",
    "bytes_received": "int64",
    "packets": "int64",
    "bytes": "int64",
    "peers": "int64",  # distinct addresses talked to
}

LINK_TYPE_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    101: "raw IP",
    105: "802.11",
    113: "Linux SLL",
    127: "802.11 radiotap",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux SLL2",
}


def overview(packets: pd.DataFrame) -> pd.DataFrame:
    """One row describing the whole capture."""
    import numpy as np
    import pandas as pd

    n = len(packets)
    if n == 0:
        start = end = pd.NaT
        duration = 0.0
    else:
        start, end = packets["ts"].min(), packets["ts"].max()
        duration = (end - start).total_seconds()
    ipv = packets["ip_version"]
    src_codes, dst_codes, _names = _address_codes(packets)
    used = np.union1d(np.unique(src_codes), np.unique(dst_codes))
    return frame(
        {
            "packets": [n],
            "bytes": [int(packets["wirelen"].to_numpy(dtype=np.int64).sum())],
            "captured_bytes": [int(packets["caplen"].to_numpy(dtype=np.int64).sum())],
            "truncated_packets": [int((packets["caplen"] < packets["wirelen"]).sum())],
            "start": pd.Series([start], dtype="datetime64[ns, UTC]"),
            "end": pd.Series([end], dtype="datetime64[ns, UTC]"),
            "duration_s": [duration],
            "ip_packets": [int(ipv.notna().sum())],
            "ipv6_packets": [int((ipv == 6).sum())],
            "addresses": [int((used >= 0).sum())],
            "link_types": [", ".join(link_types(packets)["name"].tolist())],
        },
        OVERVIEW_SCHEMA,
    )


def link_types(packets: pd.DataFrame) -> pd.DataFrame:
    counts = packets["linktype"].value_counts()
    return frame(
        {
            "linktype": counts.index.to_numpy(),
            "name": [LINK_TYPE_NAMES.get(int(lt), f"link type {int(lt)}") for lt in counts.index],
            "packets": counts.to_numpy(),
        },
        LINK_TYPES_SCHEMA,
    )


def protocols(packets: pd.DataFrame) -> pd.DataFrame:
    """Packets and bytes per IP protocol, largest first."""
    import numpy as np
    import pandas as pd

    if len(packets) == 0:
        return empty(PROTOCOLS_SCHEMA)
    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=-1)
    g = pd.DataFrame({"proto": proto, "wire": packets["wirelen"].to_numpy(dtype=np.int64)}).groupby("proto")
    t = g["wire"].agg(["size", "sum"]).reset_index()
    total_p, total_b = len(packets), max(int(t["sum"].sum()), 1)
    t = t.sort_values(["sum", "size"], ascending=False, ignore_index=True)
    return frame(
        {
            "protocol": [flows.protocol_name(None if p < 0 else p) for p in t["proto"]],
            "packets": t["size"].to_numpy(),
            "bytes": t["sum"].to_numpy(),
            "packets_pct": t["size"].to_numpy() * 100.0 / total_p,
            "bytes_pct": t["sum"].to_numpy() * 100.0 / total_b,
        },
        PROTOCOLS_SCHEMA,
    )


def talkers(packets: pd.DataFrame, top_n: int | None = None) -> pd.DataFrame:
    """Per IP address: what it sent and received, most bytes first.

    Counted on the address categories' codes with ``bincount``: the cost is a few passes over
    integer arrays, not a hash of a million strings.
    """
    import numpy as np

    s, d, names = _address_codes(packets)
    ip = (s >= 0) & (d >= 0)
    if not ip.any():
        return empty(TALKERS_SCHEMA)
    s, d = s[ip], d[ip]
    wire = packets["wirelen"].to_numpy(dtype=np.int64)[ip]
    k = len(names)
    sent_p, recv_p = np.bincount(s, minlength=k), np.bincount(d, minlength=k)
    sent_b = np.bincount(s, weights=wire, minlength=k).astype(np.int64)
    recv_b = np.bincount(d, weights=wire, minlength=k).astype(np.int64)
    pairs = np.unique(np.concatenate([s * k + d, d * k + s]))
    peers = np.bincount(pairs // k, minlength=k)
    used = np.flatnonzero(sent_p + recv_p > 0)
    total_b, total_p = (sent_b + recv_b)[used], (sent_p + recv_p)[used]
    by_name = np.argsort(np.asarray(names, dtype=object)[used], kind="stable")
    used, total_b, total_p = used[by_name], total_b[by_name], total_p[by_name]
    order = np.lexsort((-total_p, -total_b))
    if top_n is not None:
        order = order[:top_n]
    top = used[order]
    return frame(
        {
            "address": [names[i] for i in top.tolist()],
            "packets_sent": sent_p[top],
            "bytes_sent": sent_b[top],
            "packets_received": recv_p[top],
            "bytes_received": recv_b[top],
            "packets": total_p[order],
            "bytes": total_b[order],
            "peers": peers[top],
        },
        TALKERS_SCHEMA,
    )


def _address_codes(packets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """src and dst as int64 codes into one list of address texts (-1: no address)."""
    import numpy as np
    import pandas as pd

    src, dst = packets["src"], packets["dst"]
    if not isinstance(src.dtype, pd.CategoricalDtype):
        src = src.astype("category")
    if not isinstance(dst.dtype, pd.CategoricalDtype):
        dst = dst.astype("category")
    if src.cat.categories.equals(dst.cat.categories):
        cats = src.cat.categories
        s = np.asarray(src.cat.codes, dtype=np.int64)
        d = np.asarray(dst.cat.codes, dtype=np.int64)
    else:
        cats = src.cat.categories.union(dst.cat.categories)
        s = np.asarray(pd.Categorical(src, categories=cats).codes, dtype=np.int64)
        d = np.asarray(pd.Categorical(dst, categories=cats).codes, dtype=np.int64)
    return s, d, [str(c) for c in cats]
