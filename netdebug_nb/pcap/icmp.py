"""ICMP errors in a capture: unreachable destinations and path-MTU signals.

A "fragmentation needed" (IPv4) or "packet too big" (ICMPv6) is how a router says the path MTU
is smaller than the packets sent: when those errors are filtered somewhere, large transfers
stall while small requests work — a classic overlay-network (VXLAN, IPIP) problem.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

ERRORS_SCHEMA: Schema = {
    "protocol": "string",  # ICMP | ICMPv6
    "icmp_type": "UInt8",
    "icmp_code": "UInt8",
    "meaning": "string",  # e.g. "port unreachable", "fragmentation needed"
    "packets": "int64",
    "senders": "string",  # addresses that sent the error, comma-separated (at most 5)
    "first": "datetime64[ns, UTC]",
    "last": "datetime64[ns, UTC]",
}

_V4 = {
    (3, 0): "network unreachable",
    (3, 1): "host unreachable",
    (3, 2): "protocol unreachable",
    (3, 3): "port unreachable",
    (3, 4): "fragmentation needed",
    (3, 9): "network administratively prohibited",
    (3, 10): "host administratively prohibited",
    (3, 13): "communication administratively prohibited",
    (11, 0): "TTL exceeded in transit",
    (11, 1): "fragment reassembly time exceeded",
    (12, 0): "parameter problem",
}
_V6 = {
    (1, 0): "no route to destination",
    (1, 1): "communication administratively prohibited",
    (1, 3): "address unreachable",
    (1, 4): "port unreachable",
    (2, 0): "packet too big",
    (3, 0): "hop limit exceeded in transit",
    (3, 1): "fragment reassembly time exceeded",
    (4, 0): "parameter problem",
}
_V4_TYPES = {3: "destination unreachable", 11: "time exceeded", 12: "parameter problem"}
_V6_TYPES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem"}
MTU_ERRORS = ("fragmentation needed", "packet too big")


def errors(packets: pd.DataFrame) -> pd.DataFrame:
    """ICMP/ICMPv6 error messages grouped by type and code, most frequent first."""
    import numpy as np
    import pandas as pd

    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0)
    itype = packets["icmp_type"].to_numpy(dtype=np.int64, na_value=-1)
    v4 = (proto == 1) & np.isin(itype, [3, 11, 12])
    v6 = (proto == 58) & np.isin(itype, [1, 2, 3, 4])
    e = packets[v4 | v6].assign(protocol=np.where(proto[v4 | v6] == 1, "ICMP", "ICMPv6"))
    if len(e) == 0:
        return empty(ERRORS_SCHEMA)
    rows = []
    for (protocol, t, c), g in e.groupby(["protocol", "icmp_type", "icmp_code"], dropna=False):
        table, types = (_V4, _V4_TYPES) if protocol == "ICMP" else (_V6, _V6_TYPES)
        code = None if pd.isna(c) else int(c)
        kind = types[int(t)]
        meaning = kind if code is None else table.get((int(t), code), f"{kind} (code {code})")
        senders = list(dict.fromkeys(g["src"].astype("string").dropna()))
        rows.append(
            {
                "protocol": protocol,
                "icmp_type": int(t),
                "icmp_code": code,
                "meaning": meaning,
                "packets": len(g),
                "senders": ", ".join(senders[:5]) + (" ..." if len(senders) > 5 else ""),
                "first": g["ts"].min(),
                "last": g["ts"].max(),
            }
        )
    out = frame(rows, ERRORS_SCHEMA)
    return out.sort_values(
        ["packets", "protocol", "icmp_type", "icmp_code"],
        ascending=[False, True, True, True],
        ignore_index=True,
    )
