"""Flows: which bidirectional 5-tuple each packet belongs to, and in which direction it travels.

Conversations, TCP health and the IO graph all group packets the same way, so the grouping is
computed once here, vectorized: each endpoint (address, port) becomes one integer, the pair is
ordered so both directions get the same key, and ``groupby(...).ngroup()`` numbers the flows in
order of first appearance. Side ``a`` of a flow is the source of its first packet.

Non-first IP fragments carry no ports and so form their own port-less flow; packets without an
IP layer get ``flow == -1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb.pcap import groups, heap
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

LABELS_SCHEMA: Schema = {
    "flow": "int64",  # flow number (0, 1, ... in order of first packet); -1 for packets without IP
    "forward": "bool",  # True when the packet travels a → b (same direction as the flow's first packet)
}

FLOWS_SCHEMA: Schema = {
    "flow": "int64",
    "proto": "UInt8",  # IP protocol number
    "protocol": "string",  # its name (TCP, UDP, ICMP ...) or the number as text
    "a": "string",  # source address of the flow's first packet
    "a_port": "UInt16",  # empty for protocols without ports
    "b": "string",
    "b_port": "UInt16",
}

PROTOCOLS = {
    1: "ICMP",
    2: "IGMP",
    4: "IPIP",
    6: "TCP",
    17: "UDP",
    41: "IPv6",
    47: "GRE",
    50: "ESP",
    51: "AH",
    58: "ICMPv6",
    89: "OSPF",
    103: "PIM",
    112: "VRRP",
    132: "SCTP",
}


def protocol_name(proto: int | None) -> str:
    if proto is None:
        return "non-IP"
    return PROTOCOLS.get(int(proto), str(int(proto)))


def label(packets: pd.DataFrame) -> pd.DataFrame:
    """Flow number and direction of every packet (same index as ``packets``)."""
    import numpy as np

    if len(packets) == 0:
        return empty(LABELS_SCHEMA)
    key_s, key_d, proto = _endpoint_keys(packets)
    has_ip = key_s >= 0
    lo = np.minimum(key_s, key_d)
    hi = np.maximum(key_s, key_d)
    flow = np.full(len(packets), -1, dtype=np.int64)
    if has_ip.any():
        flow[has_ip] = _number(proto[has_ip], lo[has_ip], hi[has_ip])
        flow = _split_reused_ports(packets, flow, proto)
    forward = np.ones(len(packets), dtype=bool)
    if has_ip.any():
        ids, first = groups.first_rows(flow)
        first_key = np.empty(int(ids.max()) + 1, dtype=np.int64)
        first_key[ids] = key_s[first]
        forward[has_ip] = key_s[has_ip] == first_key[flow[has_ip]]
    out = frame({"flow": flow, "forward": forward}, LABELS_SCHEMA)
    out.index = packets.index
    heap.release()
    return out


def _number(proto: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Number the distinct (proto, lo, hi) in order of first appearance (``ngroup(sort=False)``).

    The three are packed into one int64 key: one hash pass over the packets instead of a
    three-column groupby. Endpoints are (address code, port), so with fewer than ~2,900
    addresses they fit as they are; beyond that lo and hi are first made dense.
    """
    import numpy as np
    import pandas as pd

    span = int(max(lo.max(), hi.max())) + 1 if len(lo) else 1
    if span * span * 256 < 1 << 62:
        codes, _ = pd.factorize((lo * span + hi) * 256 + (proto & 0xFF))
        out: np.ndarray = codes.astype(np.int64)
        return out
    a, ua = pd.factorize(lo)
    b, ub = pd.factorize(hi)
    if len(ua) * len(ub) * 256 >= 1 << 62:  # never for real captures; stay exact anyway
        keys = pd.DataFrame({"p": proto, "lo": lo, "hi": hi})
        return keys.groupby(["p", "lo", "hi"], sort=False).ngroup().to_numpy(np.int64)
    key = (a.astype(np.int64) * len(ub) + b) * 256 + (proto & 0xFF)
    codes, _ = pd.factorize(key)
    return codes.astype(np.int64)


def _split_reused_ports(packets: pd.DataFrame, flow: np.ndarray, proto: np.ndarray) -> np.ndarray:
    """A new TCP connection on a 5-tuple already seen (a SYN with a new ISN) gets its own flow.

    Busy clients reuse ephemeral ports within minutes; like Wireshark's ``tcp.stream``, each
    connection is then its own flow so sequence analysis does not mix two connections.
    """
    import numpy as np
    import pandas as pd

    from netdebug_nb.pcap.schema import TCP_ACK, TCP_SYN

    flags = packets["tcp_flags"].to_numpy(dtype=np.int64, na_value=0)
    syn = (proto == 6) & ((flags & TCP_SYN) > 0) & ((flags & TCP_ACK) == 0) & (flow >= 0)
    if not syn.any():
        return flow
    idx = np.flatnonzero(syn)
    seq = packets["tcp_seq"].to_numpy(dtype=np.int64, na_value=-1)[idx]
    s = pd.DataFrame({"flow": flow[idx], "seq": seq, "row": idx})
    prev_seq = s.groupby("flow")["seq"].shift(1)
    ids, first_at = np.unique(flow[flow >= 0], return_index=True)
    first_of = np.zeros(int(ids.max()) + 1, dtype=np.int64)
    first_of[ids] = np.flatnonzero(flow >= 0)[first_at]
    first_row = first_of[flow[idx]]
    new = (prev_seq.notna() & (prev_seq != s["seq"])).to_numpy() | (
        (prev_seq.isna()).to_numpy() & (first_row < idx)
    )
    if not new.any():
        return flow
    starts = np.zeros(len(flow), dtype=np.int64)
    starts[idx[new]] = 1
    sub = pd.Series(starts).groupby(flow).cumsum().to_numpy()
    out = flow.copy()
    ok = flow >= 0
    out[ok] = (
        pd.DataFrame({"f": flow[ok], "sub": sub[ok]}).groupby(["f", "sub"], sort=False).ngroup().to_numpy()
    )
    return out


def endpoints(packets: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per flow: protocol and the two endpoints, side ``a`` first."""
    import numpy as np

    ids, first = groups.first_rows(labels["flow"].to_numpy())
    if not len(ids):
        return empty(FLOWS_SCHEMA)
    proto = packets["proto"].array.take(first)  # only each flow's first packet is looked at
    return frame(
        {
            "flow": ids,
            "proto": proto,
            "protocol": protocol_names(proto.to_numpy(dtype=np.int64, na_value=-1)),
            "a": address_text(packets["src"], first),
            "a_port": packets["sport"].array.take(first),
            "b": address_text(packets["dst"], first),
            "b_port": packets["dport"].array.take(first),
        },
        FLOWS_SCHEMA,
    )


def protocol_names(proto: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """:func:`protocol_name` of each IP protocol number (-1: no IP layer), as a string array."""
    import numpy as np
    import pandas as pd

    names = np.array([protocol_name(None), *(protocol_name(p) for p in range(256))], dtype=object)
    out: pd.api.extensions.ExtensionArray = pd.array(names[proto + 1], dtype="string")
    return out


def address_text(addresses: pd.Series, rows: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """The address column's text at ``rows`` (a string array; missing where there is none).

    An address column is categorical (few addresses, many packets): only its categories are
    made text, then taken by code (10x faster than converting the rows).
    """
    import numpy as np
    import pandas as pd

    if not isinstance(addresses.dtype, pd.CategoricalDtype):
        out: pd.api.extensions.ExtensionArray = addresses.array.take(rows).astype("string")
        return out
    text = addresses.cat.categories.astype("string").array
    out = text.take(np.asarray(addresses.cat.codes)[rows], allow_fill=True)
    return out


def address_codes(packets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """src and dst as int64 codes into one index of addresses (-1: no address)."""
    import numpy as np
    import pandas as pd

    src, dst = packets["src"], packets["dst"]
    if not isinstance(src.dtype, pd.CategoricalDtype):
        src = src.astype("category")
    if not isinstance(dst.dtype, pd.CategoricalDtype):
        dst = dst.astype("category")
    if src.cat.categories.equals(dst.cat.categories):  # as the reader makes them
        cats = src.cat.categories
        s = np.asarray(src.cat.codes, dtype=np.int64)
        d = np.asarray(dst.cat.codes, dtype=np.int64)
    else:
        cats = src.cat.categories.union(dst.cat.categories)
        s = np.asarray(pd.Categorical(src, categories=cats).codes, dtype=np.int64)
        d = np.asarray(pd.Categorical(dst, categories=cats).codes, dtype=np.int64)
    return s, d, cats


def _endpoint_keys(packets: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source endpoint, destination endpoint, protocol) as int64 arrays; endpoint -1 without IP."""
    import numpy as np

    s, d, _ = address_codes(packets)
    sport = packets["sport"].to_numpy(dtype=np.int64, na_value=0)
    dport = packets["dport"].to_numpy(dtype=np.int64, na_value=0)
    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0)
    no_ip = (s < 0) | (d < 0)
    key_s = np.where(no_ip, -1, s * 65536 + sport)
    key_d = np.where(no_ip, -1, d * 65536 + dport)
    return key_s, key_d, proto
