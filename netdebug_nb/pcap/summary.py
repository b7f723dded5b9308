"""The capture at a glance: size, time span, link types, protocol mix and top talkers."""

from __future__ import annotations

from dataclasses import dataclass
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
    return overview_of([tally(packets)])


@dataclass
class Tally:
    """What :func:`overview`, :func:`protocols` and :func:`talkers` need from some packets.

    Tallies of disjoint parts of a capture add up (:func:`overview_of` & co. take a list), so a
    capture too big for memory is summarized part by part with the same result; their size
    grows with addresses and protocols, not packets.
    """

    packets: int
    bytes: int
    captured_bytes: int
    truncated_packets: int
    first_ns: int | None
    last_ns: int | None
    ip_packets: int
    ipv6_packets: int
    link_types: dict[int, int]  # linktype -> packets, in order of first appearance
    protocols: dict[int, tuple[int, int]]  # IP protocol (-1: none) -> (packets, bytes)
    pairs: pd.DataFrame  # src, dst (text), packets, bytes: one row per address pair


def tally(packets: pd.DataFrame) -> Tally:
    import numpy as np
    import pandas as pd

    n = len(packets)
    ts = np.asarray(packets["ts"].array.asi8, dtype=np.int64)
    wire = packets["wirelen"].to_numpy(dtype=np.int64)
    cap = packets["caplen"].to_numpy(dtype=np.int64)
    ipv = packets["ip_version"].to_numpy(dtype=np.int64, na_value=0)
    lt = packets["linktype"].to_numpy(dtype=np.int64)
    lt_codes, lt_ids = pd.factorize(lt)  # in order of first appearance
    lt_n = np.bincount(lt_codes, minlength=len(lt_ids))
    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=-1)
    p_n = np.bincount(proto + 1, minlength=257)
    p_b = np.bincount(proto + 1, weights=wire, minlength=257).astype(np.int64)
    s, d, names = _address_codes(packets)
    ip = (s >= 0) & (d >= 0)
    k = max(len(names), 1)
    inv, pk = pd.factorize(s[ip] * k + d[ip])
    pk = np.asarray(pk, dtype=np.int64)
    label = np.asarray(names, dtype=object)
    pairs = pd.DataFrame(
        {
            "src": label[pk // k] if len(pk) else np.empty(0, dtype=object),
            "dst": label[pk % k] if len(pk) else np.empty(0, dtype=object),
            "packets": np.bincount(inv, minlength=len(pk)).astype(np.int64),
            "bytes": np.bincount(inv, weights=wire[ip], minlength=len(pk)).astype(np.int64),
        }
    )
    return Tally(
        packets=n,
        bytes=int(wire.sum()),
        captured_bytes=int(cap.sum()),
        truncated_packets=int((cap < wire).sum()),
        first_ns=int(ts.min()) if n else None,
        last_ns=int(ts.max()) if n else None,
        ip_packets=int((ipv != 0).sum()),
        ipv6_packets=int((ipv == 6).sum()),
        link_types={int(v): int(c) for v, c in zip(lt_ids.tolist(), lt_n.tolist(), strict=True)},
        protocols={p - 1: (int(p_n[p]), int(p_b[p])) for p in np.flatnonzero(p_n).tolist()},
        pairs=pairs,
    )


def overview_of(tallies: list[Tally]) -> pd.DataFrame:
    """The :func:`overview` row of the capture the tallies were taken from."""
    import pandas as pd

    firsts = [t.first_ns for t in tallies if t.first_ns is not None]
    lasts = [t.last_ns for t in tallies if t.last_ns is not None]
    start = pd.Timestamp(min(firsts), tz="UTC") if firsts else pd.NaT
    end = pd.Timestamp(max(lasts), tz="UTC") if lasts else pd.NaT
    pairs = _pairs_of(tallies)
    addresses = len(set(pairs["src"].tolist()) | set(pairs["dst"].tolist()))
    return frame(
        {
            "packets": [sum(t.packets for t in tallies)],
            "bytes": [sum(t.bytes for t in tallies)],
            "captured_bytes": [sum(t.captured_bytes for t in tallies)],
            "truncated_packets": [sum(t.truncated_packets for t in tallies)],
            "start": pd.Series([start], dtype="datetime64[ns, UTC]"),
            "end": pd.Series([end], dtype="datetime64[ns, UTC]"),
            "duration_s": [(max(lasts) - min(firsts)) / 1e9 if firsts else 0.0],
            "ip_packets": [sum(t.ip_packets for t in tallies)],
            "ipv6_packets": [sum(t.ipv6_packets for t in tallies)],
            "addresses": [addresses],
            "link_types": [", ".join(_link_types_of(tallies)["name"].tolist())],
        },
        OVERVIEW_SCHEMA,
    )


def link_types(packets: pd.DataFrame) -> pd.DataFrame:
    """Packets per link type, most first."""
    return _link_types_of([tally(packets)])


def _link_types_of(tallies: list[Tally]) -> pd.DataFrame:
    counts: dict[int, int] = {}
    for t in tallies:
        for lt, n in t.link_types.items():
            counts[lt] = counts.get(lt, 0) + n
    order = sorted(counts, key=lambda lt: -counts[lt])  # stable: ties keep first appearance
    return frame(
        {
            "linktype": order,
            "name": [LINK_TYPE_NAMES.get(lt, f"link type {lt}") for lt in order],
            "packets": [counts[lt] for lt in order],
        },
        LINK_TYPES_SCHEMA,
    )


def protocols(packets: pd.DataFrame) -> pd.DataFrame:
    """Packets and bytes per IP protocol, largest first."""
    return protocols_of([tally(packets)])


def protocols_of(tallies: list[Tally]) -> pd.DataFrame:
    merged: dict[int, list[int]] = {}
    for t in tallies:
        for p, (c, b) in t.protocols.items():
            m = merged.setdefault(p, [0, 0])
            m[0] += c
            m[1] += b
    if not merged:
        return empty(PROTOCOLS_SCHEMA)
    total_p = sum(c for c, _b in merged.values())
    total_b = max(sum(b for _c, b in merged.values()), 1)
    order = sorted(merged, key=lambda p: (-merged[p][1], -merged[p][0], p))
    sizes = [merged[p][0] for p in order]
    sums = [merged[p][1] for p in order]
    return frame(
        {
            "protocol": [flows.protocol_name(None if p < 0 else p) for p in order],
            "packets": sizes,
            "bytes": sums,
            "packets_pct": [c * 100.0 / total_p for c in sizes],
            "bytes_pct": [b * 100.0 / total_b for b in sums],
        },
        PROTOCOLS_SCHEMA,
    )


def talkers(packets: pd.DataFrame, top_n: int | None = None) -> pd.DataFrame:
    """Per IP address: what it sent and received, most bytes first (ties: by address)."""
    return talkers_of([tally(packets)], top_n)


def _pairs_of(tallies: list[Tally]) -> pd.DataFrame:
    import pandas as pd

    parts = [t.pairs for t in tallies if len(t.pairs)]
    if not parts:
        return pd.DataFrame({"src": [], "dst": [], "packets": [], "bytes": []})
    if len(parts) == 1:
        return parts[0]
    both = pd.concat(parts, ignore_index=True)
    return both.groupby(["src", "dst"], as_index=False, sort=False)[["packets", "bytes"]].sum()


def talkers_of(tallies: list[Tally], top_n: int | None = None) -> pd.DataFrame:
    """:func:`talkers` of the capture the tallies were taken from.

    Works on the table of address pairs (one row per src → dst), so its cost grows with the
    pairs, not the packets.
    """
    import numpy as np
    import pandas as pd

    pairs = _pairs_of(tallies)
    if not len(pairs):
        return empty(TALKERS_SCHEMA)
    addr, codes = np.unique(
        np.concatenate([pairs["src"].to_numpy(object), pairs["dst"].to_numpy(object)]).astype(str),
        return_inverse=True,
    )
    k, m = len(addr), len(pairs)
    s, d = codes[:m], codes[m:]
    npk = pairs["packets"].to_numpy(dtype=np.int64)
    nby = pairs["bytes"].to_numpy(dtype=np.int64)
    sent_p = np.bincount(s, weights=npk, minlength=k).astype(np.int64)
    recv_p = np.bincount(d, weights=npk, minlength=k).astype(np.int64)
    sent_b = np.bincount(s, weights=nby, minlength=k).astype(np.int64)
    recv_b = np.bincount(d, weights=nby, minlength=k).astype(np.int64)
    peers = np.bincount(np.unique(np.concatenate([s * k + d, d * k + s])) // k, minlength=k)
    total_b, total_p = sent_b + recv_b, sent_p + recv_p
    order = np.lexsort((-total_p, -total_b))  # addresses are sorted: ties stay by address
    if top_n is not None:
        order = order[:top_n]
    return frame(
        {
            "address": pd.array(addr[order], dtype="string"),
            "packets_sent": sent_p[order],
            "bytes_sent": sent_b[order],
            "packets_received": recv_p[order],
            "bytes_received": recv_b[order],
            "packets": total_p[order],
            "bytes": total_b[order],
            "peers": peers[order],
        },
        TALKERS_SCHEMA,
    )


def _address_codes(packets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """src and dst as int64 codes into one list of address texts (-1: no address)."""
    s, d, cats = flows.address_codes(packets)
    return s, d, [str(c) for c in cats]
