"""The capture at a glance: size, time span, link types, protocol mix and top talkers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.pcap import flows
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
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
    addresses = pd.concat([packets["src"].astype("string"), packets["dst"].astype("string")]).dropna()
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
            "addresses": [int(addresses.nunique())],
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
    """Per IP address: what it sent and received, most bytes first."""
    import numpy as np
    import pandas as pd

    ip = packets[packets["src"].notna() & packets["dst"].notna()]
    if len(ip) == 0:
        return empty(TALKERS_SCHEMA)
    src, dst = ip["src"].astype("string"), ip["dst"].astype("string")
    wire = ip["wirelen"].to_numpy(dtype=np.int64)
    sent = (
        pd.DataFrame({"address": src.to_numpy(), "wire": wire})
        .groupby("address")["wire"]
        .agg(["size", "sum"])
    )
    recv = (
        pd.DataFrame({"address": dst.to_numpy(), "wire": wire})
        .groupby("address")["wire"]
        .agg(["size", "sum"])
    )
    pairs = pd.DataFrame(
        {
            "x": np.concatenate([src.to_numpy(), dst.to_numpy()]),
            "y": np.concatenate([dst.to_numpy(), src.to_numpy()]),
        }
    )
    peers = pairs.drop_duplicates().groupby("x").size()
    t = sent.add_suffix("_s").join(recv.add_suffix("_r"), how="outer").fillna(0).astype(np.int64)
    t["peers"] = peers.reindex(t.index).fillna(0).astype(np.int64)
    t["packets"] = t["size_s"] + t["size_r"]
    t["bytes"] = t["sum_s"] + t["sum_r"]
    t = t.sort_values(["bytes", "packets"], ascending=False)
    if top_n is not None:
        t = t.head(top_n)
    return frame(
        {
            "address": t.index.to_numpy(),
            "packets_sent": t["size_s"].to_numpy(),
            "bytes_sent": t["sum_s"].to_numpy(),
            "packets_received": t["size_r"].to_numpy(),
            "bytes_received": t["sum_r"].to_numpy(),
            "packets": t["packets"].to_numpy(),
            "bytes": t["bytes"].to_numpy(),
            "peers": t["peers"].to_numpy(),
        },
        TALKERS_SCHEMA,
    )
