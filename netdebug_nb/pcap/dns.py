"""DNS in a capture: every message, query/response pairs with latency, and the Kubernetes patterns.

The packet table says which packets are DNS (UDP or TCP port 53) and where their payload starts;
the payload bytes are read at each packet's ``offset`` (``captureset.packet_bytes``), so only
those packets are read twice. Messages are parsed with dnspython; the 12-byte header is decoded by hand first, so a
malformed message still has its id, flags and rcode, and keeps its row with the ``error`` text.

Two failure patterns common in Kubernetes clusters are recognised from the pairs alone:

* **search-suffix expansion** (``ndots:5``): the same name tried with several search domains,
  ``api.example.com.default.svc.cluster.local``, ``api.example.com.svc.cluster.local`` ...,
  NXDOMAIN each, before the name itself is asked (:func:`expansions`);
* **A/AAAA race and 5 s retry**: glibc sends A and AAAA together from one socket; when conntrack
  drops one of them the resolver waits for its timeout (5 s by default) and asks again
  (:func:`retries`).
"""

from __future__ import annotations

import heapq
import struct
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from netdebug_nb.pcap import flows, groups, heap
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PORT = 53

MESSAGES_SCHEMA: Schema = {
    "frame": "int64",  # frame holding the message's first byte
    "ts": "datetime64[ns, UTC]",
    "src": "string",
    "dst": "string",
    "sport": "UInt16",
    "dport": "UInt16",
    "transport": "string",  # udp | tcp
    "id": "UInt16",  # empty when fewer than 2 bytes were captured
    "qr": "boolean",  # True for responses
    "opcode": "string",  # QUERY, NOTIFY, UPDATE ...
    "rcode": "string",  # NOERROR, NXDOMAIN, SERVFAIL ... (extended rcode included when EDNS parsed)
    "tc": "boolean",
    "aa": "boolean",
    "rd": "boolean",
    "ra": "boolean",
    "ad": "boolean",
    "qname": "string",  # first question, absolute and lower case (trailing dot)
    "qtype": "string",  # A, AAAA, SRV ... or TYPEnnn
    "questions": "Int64",
    "ancount": "Int64",  # records in the answer section
    "answers": "Int64",  # answer records of the asked type
    "answer_data": "string",  # sorted "TYPE rdata" of every answer record, " | "-joined
    "ttl_min_s": "Int64",  # smallest TTL in the answer section
    "edns_payload": "Int64",  # advertised UDP payload size (empty without EDNS)
    "size_bytes": "Int64",  # DNS message length
    "error": "string",  # why the message could not be parsed fully; empty when it could
}

TRANSACTIONS_SCHEMA: Schema = {
    "query_frame": "int64",
    "query_ts": "datetime64[ns, UTC]",
    "client": "string",
    "client_port": "UInt16",
    "server": "string",
    "server_port": "UInt16",
    "transport": "string",
    "id": "UInt16",
    "qname": "string",
    "qtype": "string",
    "answered": "boolean",
    "response_frame": "Int64",  # empty when unanswered
    "response_ts": "datetime64[ns, UTC]",  # NaT when unanswered
    "latency_ms": "Float64",
    "rcode": "string",
    "answers": "Int64",
    "answer_data": "string",
    "ttl_min_s": "Int64",
    "tc": "boolean",
    "aa": "boolean",
    "ra": "boolean",
    "ad": "boolean",
    "edns_payload": "Int64",
    "response_bytes": "Int64",
}

# names repeat (a busy client that loses its queries retries millions): categories
RETRIES_SCHEMA: Schema = {
    "client": "category",
    "qname": "category",
    "qtype": "category",
    "query_frame": "int64",  # the unanswered query
    "query_ts": "datetime64[ns, UTC]",
    "retry_frame": "int64",  # the next query for the same name and type from the same client
    "retry_ts": "datetime64[ns, UTC]",
    "gap_s": "float64",
    "retry_answered": "boolean",
    "sibling_qtype": "category",  # A for AAAA and back, when sent together with the lost query
    "sibling_answered": "boolean",  # True: the A/AAAA race (one of the pair lost)
}

EXPANSIONS_SCHEMA: Schema = {
    "client": "string",
    "qtype": "string",
    "base": "string",  # the name the application asked for (without search suffix)
    "names": "int64",  # distinct names tried
    "queries": "int64",
    "nxdomain": "int64",  # queries answered NXDOMAIN for a suffixed name
    "unanswered": "int64",
    "answered_name": "string",  # first name that got an answer; empty if none did
    "suffixes": "string",  # search suffixes tried, in order
    "first_ts": "datetime64[ns, UTC]",
    "last_ts": "datetime64[ns, UTC]",
}

_EXPANSIONS_ORDERED: Schema = {**EXPANSIONS_SCHEMA, "first_frame": "int64"}  # expansions(order_key=True)

_OPCODES = {0: "QUERY", 1: "IQUERY", 2: "STATUS", 4: "NOTIFY", 5: "UPDATE", 6: "DSO"}
_RCODES = {
    0: "NOERROR",
    1: "FORMERR",
    2: "SERVFAIL",
    3: "NXDOMAIN",
    4: "NOTIMP",
    5: "REFUSED",
    6: "YXDOMAIN",
    7: "YXRRSET",
    8: "NXRRSET",
    9: "NOTAUTH",
    10: "NOTZONE",
}


def candidates(packets: pd.DataFrame) -> pd.DataFrame:
    """The packets that may carry DNS: UDP/TCP to or from port 53 with payload."""
    out: pd.DataFrame = packets[_candidate_rows(packets)]
    return out


def _candidate_rows(packets: pd.DataFrame) -> np.ndarray:
    import numpy as np

    proto = packets["proto"].to_numpy(dtype=np.uint8, na_value=0)
    sport = packets["sport"].to_numpy(dtype=np.int32, na_value=0)
    dport = packets["dport"].to_numpy(dtype=np.int32, na_value=0)
    plen = packets["payload_len"].to_numpy(dtype=np.int64, na_value=0)
    out: np.ndarray = (
        ((proto == 6) | (proto == 17))
        & ((sport == PORT) | (dport == PORT))
        & (plen > 0)
        & packets["l4_offset"].notna().to_numpy()
    )
    return out


# the columns reading DNS messages needs (the others of the candidates are not copied)
_READ_COLUMNS = [
    "frame", "ts", "src", "dst", "proto", "sport", "dport", "tcp_seq", "payload_len", "l4_offset",
    "file", "offset", "caplen",
]  # fmt: skip


def read(path: str | Path | None, packets: pd.DataFrame) -> pd.DataFrame:
    """The DNS messages of the capture whose packet table is ``packets``.

    Only the DNS packets' bytes are read, at their offsets in the capture files the table
    remembers (``path`` when it does not: a table built by hand).
    """
    import numpy as np

    from netdebug_nb.pcap import captureset

    cand = packets[_READ_COLUMNS][_candidate_rows(packets)]
    known = packets.attrs.get("files") or packets.attrs.get("path")
    paths = () if known or path is None else (path,)
    proto = cand["proto"].to_numpy(dtype=np.int64)
    udp, tcp = np.flatnonzero(proto == 17), np.flatnonzero(proto == 6)
    starts = cand["l4_offset"].to_numpy(dtype=np.int64)
    lengths = cand["payload_len"].to_numpy(dtype=np.int64)
    # a UDP message is its packet's payload: only those bytes are read
    wires = captureset.packet_bytes(packets, cand.iloc[udp], paths=paths, within=(starts[udp], lengths[udp]))
    raw_tcp = captureset.packet_bytes(packets, cand.iloc[tcp], paths=paths) if len(tcp) else []
    by_frame = dict(zip(cand["frame"].to_numpy(dtype=np.int64)[tcp].tolist(), raw_tcp, strict=True))
    out = _messages(cand, udp.tolist(), wires, lengths[udp].tolist(), by_frame)
    heap.release()
    return out


def messages(packets: pd.DataFrame, payloads: Sequence[bytes] | Mapping[int, bytes]) -> pd.DataFrame:
    """One row per DNS message in ``packets``.

    ``payloads`` holds each packet's captured bytes, from the link-layer header on: either a
    sequence aligned with the rows of ``packets`` or a mapping from frame number. Rows that are
    not DNS candidates are ignored, so the whole packet table may be passed with a mapping.
    """
    import numpy as np

    if isinstance(payloads, Mapping):
        by_frame: Mapping[int, bytes] = payloads
    else:
        if len(payloads) != len(packets):
            raise ValueError(f"payloads has {len(payloads)} items for {len(packets)} packets")
        by_frame = dict(zip(packets["frame"].to_numpy(dtype=np.int64).tolist(), payloads, strict=True))
    cand = candidates(packets)
    proto = cand["proto"].to_numpy(dtype=np.int64)
    frames = cand["frame"].to_numpy(dtype=np.int64)
    starts = cand["l4_offset"].to_numpy(dtype=np.int64)
    lengths = cand["payload_len"].to_numpy(dtype=np.int64)
    udp = np.flatnonzero(proto == 17)
    pos: list[int] = []
    wires: list[bytes] = []
    expected: list[int] = []
    for i, f, start, n in zip(
        udp.tolist(), frames[udp].tolist(), starts[udp].tolist(), lengths[udp].tolist(), strict=True
    ):
        raw = by_frame.get(f)
        if raw is not None:
            pos.append(i)
            wires.append(raw[start : start + n])
            expected.append(n)
    return _messages(cand, pos, wires, expected, by_frame)


def _messages(
    cand: pd.DataFrame, pos: list[int], wires: list[bytes], expected: list[int], by_frame: Mapping[int, bytes]
) -> pd.DataFrame:
    """The messages of DNS candidates: the UDP ones given (row, wire, length), TCP by frame."""
    import numpy as np
    import pandas as pd

    acc = _Messages()
    acc.add_many(pos, wires, "udp", expected)
    proto = cand["proto"].to_numpy(dtype=np.int64)
    if (proto == 6).any():
        _tcp_rows(cand.assign(pos_=np.arange(len(cand)))[proto == 6], by_frame, acc)
    if not acc.pos:
        return empty(MESSAGES_SCHEMA)
    at = np.asarray(acc.pos, dtype=np.int64)
    columns: dict[str, Any] = {
        "frame": cand["frame"].to_numpy()[at],
        "ts": cand["ts"].array.take(at),
        "src": flows.address_text(cand["src"], at),
        "dst": flows.address_text(cand["dst"], at),
        "sport": cand["sport"].array.take(at),
        "dport": cand["dport"].array.take(at),
    }
    # each distinct message (but for its id) is parsed and converted once, then repeated
    codes = np.asarray(acc.code, dtype=np.int64)
    for col, dtype in MESSAGES_SCHEMA.items():
        if col not in columns and col != "id":
            columns[col] = pd.array([r[col] for r in acc.unique], dtype=dtype).take(codes)  # type: ignore[call-overload]
    ids = np.asarray(acc.ids, dtype=np.int64)
    columns["id"] = pd.arrays.IntegerArray(np.maximum(ids, 0).astype(np.uint16), ids < 0)
    out = frame(columns, MESSAGES_SCHEMA)
    return out.sort_values("frame", kind="stable", ignore_index=True)


class _Messages:
    """DNS messages found so far: candidate row, distinct parsed message, id of each."""

    def __init__(self) -> None:
        self.pos: list[int] = []
        self.code: list[int] = []
        self.ids: list[int] = []
        self.unique: list[dict[str, Any]] = []
        self._index: dict[tuple[str, int, bytes], int] = {}

    def add(self, pos: int, wire: bytes, transport: str, expected: int) -> None:
        k = self._code(wire, transport, expected)  # a name asked again differs only in its id
        self.pos.append(pos)
        self.code.append(k)
        self.ids.append((wire[0] << 8 | wire[1]) if len(wire) >= 2 else -1)

    def add_many(self, pos: list[int], wires: list[bytes], transport: str, expected: list[int]) -> None:
        """:meth:`add` for many messages: repeats are found by hashing, not one dict entry each."""
        import numpy as np
        import pandas as pd

        if not wires:
            return
        bodies = np.empty(len(wires), dtype=object)
        bodies[:] = [w[2:] for w in wires]
        body_codes, _ = pd.factorize(bodies)
        exp = np.asarray(expected, dtype=np.int64)
        codes, _ = pd.factorize(body_codes * (int(exp.max()) + 1) + exp)
        _, firsts = groups.first_rows(codes)
        known = np.empty(len(firsts), dtype=np.int64)
        for j, k in enumerate(firsts.tolist()):
            known[j] = self._code(wires[k], transport, expected[k])
        self.pos.extend(pos)
        self.code.extend(known[codes].tolist())
        lens = np.fromiter(map(len, wires), dtype=np.int64, count=len(wires))
        heads = np.frombuffer(b"".join([w[:2] for w in wires]), dtype=np.uint8).astype(np.int64)
        at = np.cumsum(np.minimum(lens, 2)) - np.minimum(lens, 2)
        full = lens >= 2
        ids = np.full(len(wires), -1, dtype=np.int64)
        ids[full] = heads[at[full]] << 8 | heads[at[full] + 1]
        self.ids.extend(ids.tolist())

    def _code(self, wire: bytes, transport: str, expected: int) -> int:
        key = (transport, expected, wire[2:])
        k = self._index.get(key)
        if k is None:
            k = self._index[key] = len(self.unique)
            self.unique.append(_parsed(wire, transport, expected))
        return k


def transactions(messages: pd.DataFrame) -> pd.DataFrame:
    """Queries paired with their responses (same id, 5-tuple, name and type).

    A response is paired with the latest matching query sent before it, so a query resent with
    the same id after a timeout shows as one unanswered query followed by an answered one.
    """
    import pandas as pd

    m = messages[messages["qr"].notna() & messages["id"].notna()]
    q = m[~m["qr"].astype(bool)].copy()
    r = m[m["qr"].astype(bool)].copy()
    if len(q) == 0:
        return empty(TRANSACTIONS_SCHEMA)
    keys = ["client", "client_port", "server", "server_port", "transport", "id", "qkey", "tkey"]
    q = q.rename(columns={"src": "client", "sport": "client_port", "dst": "server", "dport": "server_port"})
    r = r.rename(columns={"dst": "client", "dport": "client_port", "src": "server", "sport": "server_port"})
    for t in (q, r):
        t["qkey"] = t["qname"].fillna("").str.lower()
        t["tkey"] = t["qtype"].fillna("")
        for k in ("client_port", "server_port", "id"):
            t[k] = t[k].astype("int64")
    # merge_asof matches on one integer per distinct key, not on eight columns (five of text)
    key = _key(pd.concat([q[keys], r[keys]], ignore_index=True), keys)
    q["key_"], r["key_"] = key[: len(q)], key[len(q) :]
    q = q.sort_values("ts", kind="stable")
    q["query_frame"] = q["frame"]
    if len(r):
        r = r.sort_values("ts", kind="stable")
        paired = pd.merge_asof(
            r[["key_", "ts", "frame"]],
            q[["key_", "ts", "query_frame"]],
            on="ts",
            by="key_",
            direction="backward",
        )
        paired = paired[paired["query_frame"].notna()]
        first = paired.sort_values("ts", kind="stable").drop_duplicates("query_frame", keep="first")
        first = first[["query_frame", "frame"]].rename(columns={"frame": "response_frame"})
        first["query_frame"] = first["query_frame"].astype("int64")
        resp = r.set_index("frame")
        q = q.merge(first, on="query_frame", how="left")
    else:
        resp = r.set_index("frame")
        q["response_frame"] = pd.NA
    rf = q["response_frame"].astype("Int64")
    answered = rf.notna()
    idx = rf.dropna().astype("int64").to_numpy()

    def take(col: str, dtype: Any) -> pd.Series:
        s: pd.Series = pd.Series(pd.NA, index=q.index, dtype=dtype)
        if len(idx):
            s.loc[answered] = resp.loc[idx, col].astype(dtype).array
        return s

    response_ts = take("ts", "datetime64[ns, UTC]")
    latency = (response_ts - q["ts"]).dt.total_seconds() * 1000
    out = frame(
        {
            "query_frame": q["query_frame"].to_numpy(),
            "query_ts": q["ts"].array,
            "client": q["client"].array,
            "client_port": q["client_port"].to_numpy(),
            "server": q["server"].array,
            "server_port": q["server_port"].to_numpy(),
            "transport": q["transport"].array,
            "id": q["id"].to_numpy(),
            "qname": q["qname"].array,
            "qtype": q["qtype"].array,
            "answered": answered.to_numpy(),
            "response_frame": rf.array,
            "response_ts": response_ts.array,
            "latency_ms": latency.astype("Float64").array,
            "rcode": take("rcode", "string").array,
            "answers": take("answers", "Int64").array,
            "answer_data": take("answer_data", "string").array,
            "ttl_min_s": take("ttl_min_s", "Int64").array,
            "tc": take("tc", "boolean").array,
            "aa": take("aa", "boolean").array,
            "ra": take("ra", "boolean").array,
            "ad": take("ad", "boolean").array,
            "edns_payload": take("edns_payload", "Int64").array,
            "response_bytes": take("size_bytes", "Int64").array,
        },
        TRANSACTIONS_SCHEMA,
    )
    return out.sort_values("query_frame", ignore_index=True)


def retries(
    transactions: pd.DataFrame,
    *,
    min_gap_s: float = 1.0,
    max_gap_s: float = 10.0,
    sibling_window_s: float = 0.1,
) -> pd.DataFrame:
    """Unanswered queries asked again by the same client, and whether their A/AAAA sibling got through."""
    import pandas as pd

    t = transactions[transactions["qname"].notna() & transactions["qtype"].notna()].copy()
    if t["answered"].astype(bool).all():
        return empty(RETRIES_SCHEMA)
    t["qname_l"] = _lower(t["qname"])
    # merge_asof matches on one integer per (client, name, type), not on three text columns
    t["key_"] = _key(t, ["client", "qname_l", "qtype"])
    lost = t[~t["answered"].astype(bool)]
    right = t[["key_", "query_ts", "query_frame", "answered"]].rename(
        columns={"query_ts": "retry_ts", "query_frame": "retry_frame", "answered": "retry_answered"}
    )
    right["ts"] = right["retry_ts"]
    left = lost[
        ["client", "qname", "qname_l", "qtype", "query_ts", "query_frame", "client_port", "key_"]
    ].copy()
    left["ts"] = left["query_ts"] + pd.Timedelta(seconds=min_gap_s)
    m = pd.merge_asof(
        left.sort_values("ts", kind="stable"),  # ties in time: the earlier frame first, in any part
        right.sort_values("ts", kind="stable"),
        on="ts",
        by="key_",
        direction="forward",
        tolerance=pd.Timedelta(seconds=max_gap_s - min_gap_s),
    )
    m = m[m["retry_frame"].notna()].copy()
    if len(m) == 0:
        return empty(RETRIES_SCHEMA)
    m["sibling_qtype"] = m["qtype"].map({"A": "AAAA", "AAAA": "A"})
    sib = t[["client", "client_port", "qname_l", "qtype", "query_ts", "answered"]].rename(
        columns={"qtype": "sibling_qtype", "answered": "sibling_answered", "query_ts": "ts"}
    )
    sib["client_port"] = sib["client_port"].astype("int64")
    m["client_port"] = m["client_port"].astype("int64")
    m["ts"] = m["query_ts"]
    has_sib = m["sibling_qtype"].notna()
    sib_keys = ["client", "client_port", "qname_l", "sibling_qtype"]
    with_sib = m[has_sib].copy()
    key = _key(pd.concat([with_sib[sib_keys], sib[sib_keys]], ignore_index=True), sib_keys)
    with_sib["key_"] = key[: len(with_sib)]
    sib["key_"] = key[len(with_sib) :]
    with_sib = pd.merge_asof(
        with_sib.sort_values("ts", kind="stable"),
        sib[["key_", "ts", "sibling_answered"]].sort_values("ts", kind="stable"),
        on="ts",
        by="key_",
        direction="nearest",
        tolerance=pd.Timedelta(seconds=sibling_window_s),
    )
    no_sib = m[~has_sib].copy()
    no_sib["sibling_answered"] = pd.NA
    both = pd.concat([with_sib, no_sib], ignore_index=True)
    found = both["sibling_answered"].notna()
    both["sibling_qtype"] = both["sibling_qtype"].where(found, pd.NA)
    both["gap_s"] = (both["retry_ts"] - both["query_ts"]).dt.total_seconds()
    both["retry_frame"] = both["retry_frame"].astype("int64")
    out = frame(both, RETRIES_SCHEMA)
    return out.sort_values("query_frame", kind="stable", ignore_index=True)


def expansions(transactions: pd.DataFrame, *, order_key: bool = False) -> pd.DataFrame:
    """Names tried with several search suffixes by one client, with NXDOMAIN for the suffixed ones.

    Each name is split into (base, suffix) at every label; a name joins the base shared by the
    most names it was asked with (the longest base on ties). Bases tried under at least two
    names, one of them NXDOMAIN with a suffix, are reported.

    Rows are by first query, then type; ties (lookups of several clients at the same time) by
    the frame of their first query. ``order_key=True`` keeps that frame as a ``first_frame``
    column, so that the expansions of disjoint groups of clients can be put in this order.
    """
    schema = _EXPANSIONS_ORDERED if order_key else EXPANSIONS_SCHEMA
    t = transactions[transactions["qname"].notna()]
    if len(t) == 0:
        return empty(schema)
    best, keep, name = _shared_bases(t)
    if len(best) == 0:
        return empty(schema)
    t = t[keep].assign(name=name[keep]).sort_values("query_ts", kind="stable")
    j = t.merge(best[["client", "qtype", "name", "base", "suffix"]], on=["client", "qtype", "name"])
    j["nx_suffixed"] = (j["rcode"] == "NXDOMAIN").fillna(False) & (j["suffix"] != "")
    j["got_answer"] = (j["rcode"] == "NOERROR").fillna(False) & (j["answers"].fillna(0) > 0)
    rows = []
    for (client, qtype, base), g in j.groupby(["client", "qtype", "base"], sort=False):
        nx = int(g["nx_suffixed"].sum())
        if nx == 0:
            continue
        ok = g[g["got_answer"]]
        rows.append(
            {
                "client": client,
                "qtype": qtype,
                "base": base,
                "names": g["name"].nunique(),
                "queries": len(g),
                "nxdomain": nx,
                "unanswered": int((~g["answered"].astype(bool)).sum()),
                "answered_name": ok["qname"].iloc[0] if len(ok) else None,
                "suffixes": ", ".join(x if x else "(none)" for x in g["suffix"].unique()),
                "first_ts": g["query_ts"].min(),
                "last_ts": g["query_ts"].max(),
                "first_frame": g["query_frame"].iloc[0],
            }
        )
    if not rows:
        return empty(schema)
    # the groups came in the order of their first query (time, then frame): a stable sort by
    # (time, type) is the order by (time, type, first frame)
    return frame(rows, schema).sort_values(["first_ts", "qtype"], kind="stable", ignore_index=True)


def expansion_candidates(transactions: pd.DataFrame) -> np.ndarray:
    """Which queries :func:`expansions` may count: those whose name shares a base with another
    name of the same client and type. Any rows that hold these give the expansions of all."""
    import numpy as np

    has = transactions["qname"].notna().to_numpy(dtype=bool)
    out = np.zeros(len(transactions), dtype=bool)
    if has.any():
        out[has] = _shared_bases(transactions[has])[1]
    return out


def _shared_bases(t: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, Any]:
    """(each name's best base shared with other names, the rows of those names, each row's name
    lowered) of queries that all have a name.

    Each distinct (client, type, name) is split once; the queries are only looked at for names
    that share a base with another (a busy client asks millions of queries, of few names).
    """
    import numpy as np
    import pandas as pd

    by_qname, qnames = pd.factorize(t["qname"])
    lowered = pd.Series(qnames, dtype=t["qname"].dtype).str.lower().str.rstrip(".")
    name_of, names = pd.factorize(lowered)
    name_code = name_of[by_qname]
    client_code, clients = pd.factorize(t["client"])
    type_code, qtypes = pd.factorize(t["qtype"])
    asked = (client_code >= 0) & (type_code >= 0)  # a group-by drops missing keys
    triple = (client_code.astype(np.int64) * (len(qtypes) + 1) + type_code) * (len(names) + 1) + name_code
    distinct = np.unique(triple[asked])
    triples = _split_triples(distinct, len(qtypes), len(names))
    splits: list[tuple[Any, Any, str, str, str]] = []
    for c, ty, n in triples:
        name = names[n]
        labels = name.split(".") if name else []
        for k in range(1, len(labels) + 1):
            splits.append((clients[c], qtypes[ty], name, ".".join(labels[:k]), ".".join(labels[k:])))
    s = pd.DataFrame(splits, columns=["client", "qtype", "name", "base", "suffix"])
    size = s.groupby(["client", "qtype", "base"])["name"].transform("nunique")
    s = s.assign(size=size, depth=s["base"].str.count(r"\.") + 1)
    best = s.sort_values(["size", "depth"], ascending=False, kind="stable").drop_duplicates(
        ["client", "qtype", "name"], keep="first"
    )
    best = best[best["size"] >= 2]
    shared = set(zip(best["client"], best["qtype"], best["name"], strict=True))
    wanted = np.asarray([(clients[c], qtypes[ty], names[n]) in shared for c, ty, n in triples], dtype=bool)
    keep = asked & np.isin(triple, distinct[wanted])
    return best, keep, pd.array(names.to_numpy(dtype=object), dtype="string").take(name_code)


ERROR_RCODES = ("SERVFAIL", "REFUSED", "FORMERR", "NOTIMP")  # answers that are failures (dns.errors)
SHOWN_ROWS = 30_000  # problem queries kept to show (the notebook shows top_n * 3 <= 30,000)
MALFORMED_ROWS = 20_000  # malformed messages kept (dns.malformed names top_n * 2 <= 20,000 frames)
ERROR_NAMES = 10_000  # the first names (sorted) of error answers kept (dns.errors names top_n <= 10,000)

# every unanswered query, small: its time and name (names repeat: categories)
UNANSWERED_SCHEMA: Schema = {
    "query_frame": "int64",
    "query_ts": "datetime64[ns, UTC]",
    "qname": "category",
    "qtype": "category",
}


@dataclass(frozen=True)
class Summary:
    """What the report needs of every DNS query, small whatever the capture's size.

    The findings, the latency plot and the retry/expansion tables read only this: counts and
    shares are of every query; kept are each unanswered query's time and name, each answered
    query's latency (one float), the error answers counted by rcode with the first of their
    names (a SERVFAIL storm is millions of them), and the first rows of the problems to show.
    A capture set analysed in flow buckets never holds its whole transaction table (one row per
    query) but this, made bucket by bucket (:func:`combine`), and neither does a big export read
    back (slice by slice: :func:`netdebug_nb.pcap.partition.summarize_dns`); the one-shot
    analysis makes it from its tables (:func:`summary`).
    """

    queries: int  # every query, answered or not
    latency_ms: np.ndarray  # float64, one per answered query (NaN: unknown), in no particular order
    unanswered: pd.DataFrame  # UNANSWERED_SCHEMA: every unanswered query, by query_frame
    error_count: int  # answers whose rcode is one of ERROR_RCODES
    error_rcodes: dict[str, int]  # those answers by rcode, most first (then by name)
    error_names: tuple[str, ...]  # their distinct query names, sorted: the first ERROR_NAMES
    shown: pd.DataFrame  # TRANSACTIONS_SCHEMA: the first SHOWN_ROWS unanswered or error queries
    malformed: pd.DataFrame  # MESSAGES_SCHEMA: the first MALFORMED_ROWS messages not parsed fully
    malformed_count: int  # every one of them
    retries: pd.DataFrame  # RETRIES_SCHEMA, of every query
    expansions: pd.DataFrame  # EXPANSIONS_SCHEMA, of every query
    complete: bool = True  # whether the Tables' dns_transactions hold every query (else: shown)

    @property
    def answered(self) -> int:
        return len(self.latency_ms)


def summarize(transactions: pd.DataFrame, messages: pd.DataFrame, *, related: bool = True) -> Summary:
    """The :class:`Summary` of whole ``transactions`` and ``messages`` tables.

    ``related=False`` leaves retries and expansions empty: for a part of the queries that does
    not hold every query of its clients (a flow bucket; see :mod:`netdebug_nb.pcap.partition`).
    """
    import numpy as np
    import pandas as pd

    answered = transactions["answered"].to_numpy(dtype=bool, na_value=False)
    latency = transactions["latency_ms"].to_numpy(dtype=np.float64, na_value=np.nan)[answered]
    is_error = answered & transactions["rcode"].isin(ERROR_RCODES).to_numpy(dtype=bool, na_value=False)
    lost = transactions[~answered]
    bad = messages["error"].notna().to_numpy(dtype=bool)
    return Summary(
        queries=len(transactions),
        latency_ms=latency,
        unanswered=frame(
            {
                "query_frame": lost["query_frame"].to_numpy(),
                "query_ts": lost["query_ts"].array,
                "qname": pd.Categorical(lost["qname"].array),
                "qtype": pd.Categorical(lost["qtype"].array),
            },
            UNANSWERED_SCHEMA,
        ),
        **_errors(transactions[is_error]),
        shown=transactions[~answered | is_error].head(SHOWN_ROWS).reset_index(drop=True),
        malformed=messages[bad].head(MALFORMED_ROWS).reset_index(drop=True),
        malformed_count=int(bad.sum()),
        retries=retries(transactions) if related else empty(RETRIES_SCHEMA),
        expansions=expansions(transactions) if related else empty(EXPANSIONS_SCHEMA),
    )


class Analysed(Protocol):
    """What :func:`summary` reads of an analysis (a :class:`netdebug_nb.pcap.results.Tables`)."""

    @property
    def dns_messages(self) -> pd.DataFrame: ...
    @property
    def dns_transactions(self) -> pd.DataFrame: ...
    @property
    def dns_summary(self) -> Summary | None: ...


def summary(tables: Analysed) -> Summary:
    """The DNS summary of an analysis: made by the bucket analysis, else from its two DNS tables."""
    if tables.dns_summary is not None:
        return tables.dns_summary
    return summarize(tables.dns_transactions, tables.dns_messages)


def combine(parts: Sequence[Summary], retries_parts: Sequence[pd.DataFrame] = (),
            expansions_parts: Sequence[pd.DataFrame] = ()) -> Summary:  # fmt: skip
    """One summary of disjoint parts (flow buckets, slices of an export), with the retries and
    expansions found per group of clients (``expansions(order_key=True)``); rows in the order the
    whole tables have them."""
    import numpy as np
    import pandas as pd

    def cat(tables: Sequence[pd.DataFrame], schema: Schema, by: list[str], rows: int = 0) -> pd.DataFrame:
        tables = [t for t in tables if len(t)]
        if not tables:
            return empty(schema)
        if any(dtype == "category" for dtype in schema.values()):  # one category list, sorted
            tables = [t.copy(deep=False) for t in tables]
            for col, dtype in schema.items():
                if dtype == "category":
                    union = pd.api.types.union_categoricals([t[col] for t in tables], sort_categories=True)
                    for t in tables:
                        t[col] = t[col].cat.set_categories(union.categories)
        out = pd.concat(tables, ignore_index=True)  # the parts have the schema: no copy to conform
        if [str(d) for d in out.dtypes] != list(schema.values()):
            out = frame(out, schema)
        if len(by) > 1 or not out[by[0]].is_monotonic_increasing:  # windows in time come in order
            out = out.sort_values(by, kind="stable", ignore_index=True)
        return out.head(rows) if rows else out

    return Summary(
        queries=sum(p.queries for p in parts),
        latency_ms=np.concatenate([p.latency_ms for p in parts]) if parts else np.zeros(0),
        unanswered=cat([p.unanswered for p in parts], UNANSWERED_SCHEMA, ["query_frame"]),
        error_count=sum(p.error_count for p in parts),
        error_rcodes=_most_first(sum((Counter(p.error_rcodes) for p in parts), Counter())),
        error_names=tuple(heapq.nsmallest(ERROR_NAMES, set().union(*(p.error_names for p in parts)))),
        shown=cat([p.shown for p in parts], TRANSACTIONS_SCHEMA, ["query_frame"], SHOWN_ROWS),
        malformed=cat([p.malformed for p in parts], MESSAGES_SCHEMA, ["frame"], MALFORMED_ROWS),
        malformed_count=sum(p.malformed_count for p in parts),
        retries=cat(retries_parts, RETRIES_SCHEMA, ["query_frame"]),
        expansions=cat(expansions_parts, _EXPANSIONS_ORDERED, ["first_ts", "qtype", "first_frame"])[
            list(EXPANSIONS_SCHEMA)
        ],
        complete=False,
    )


def first_rows(kept: Summary, part: Summary) -> tuple[Summary, Summary]:
    """(the first rows to show of ``kept`` and ``part`` together, ``part`` without them).

    A part of the queries (a flow bucket) keeps its first SHOWN_ROWS problems and
    MALFORMED_ROWS malformed messages; folding the parts as they come keeps only the first of
    all, not as many per part (:func:`combine` takes both summaries returned)."""
    import dataclasses

    rows = dataclasses.replace(combine([]), shown=part.shown, malformed=part.malformed)
    both = combine([kept, rows])
    first = dataclasses.replace(combine([]), shown=both.shown, malformed=both.malformed)
    return first, dataclasses.replace(
        part, shown=empty(TRANSACTIONS_SCHEMA), malformed=empty(MESSAGES_SCHEMA)
    )


def unanswered_names(unanswered: pd.DataFrame) -> pd.Series:
    """Unanswered queries per (qname, qtype), most first: counted on the category codes, then
    ordered as a group-by of the names as text orders them (NA last, ties by name)."""
    import numpy as np
    import pandas as pd

    qname, qtype = unanswered["qname"].array, unanswered["qtype"].array
    nt = len(qtype.categories) + 1
    pair = (qname.codes.astype(np.int64) + 1) * nt + qtype.codes.astype(np.int64) + 1
    codes, uniques = pd.factorize(pair)
    counts = np.bincount(codes, minlength=len(uniques))
    names = pd.array(qname.categories.astype(object), dtype="string")
    types = pd.array(qtype.categories.astype(object), dtype="string")
    na = pd.array([pd.NA], dtype="string")
    small = pd.DataFrame(
        {
            "qname": pd.concat([pd.Series(na), pd.Series(names)], ignore_index=True).array.take(
                uniques // nt
            ),
            "qtype": pd.concat([pd.Series(na), pd.Series(types)], ignore_index=True).array.take(uniques % nt),
            "n": counts,
        }
    )
    out: pd.Series = small.groupby(["qname", "qtype"], dropna=False)["n"].sum().sort_values(ascending=False)
    return out


def _errors(errors: pd.DataFrame) -> dict[str, Any]:
    """The :class:`Summary` fields of the error answers ``errors`` (transactions)."""
    counts = Counter({str(k): int(v) for k, v in errors["rcode"].value_counts(dropna=True).items()})
    names = errors["qname"].dropna().astype(str).unique().tolist()
    return {
        "error_count": len(errors),
        "error_rcodes": _most_first(counts),
        "error_names": tuple(heapq.nsmallest(ERROR_NAMES, names)),
    }


def _most_first(counts: Counter[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def caption(summary: Summary) -> str:
    """What the report's table of DNS transactions holds: every query, or (a capture set analysed
    in flow buckets, a big export read back) the problems of how many, and where the whole table is."""
    if summary.complete:
        return "DNS transactions"
    first = (
        f"the first {len(summary.shown)} of "
        if len(summary.shown) < len(summary.unanswered) + summary.error_count
        else ""
    )
    return (
        f"DNS transactions: {first}the {len(summary.unanswered)} unanswered queries and "
        f"{summary.error_count} error answers of all {summary.queries} queries ({summary.answered} "
        "answered); every query is in dns_transactions.parquet of `netdebug-nb pcap export`"
    )


def _split_triples(distinct: np.ndarray, qtypes: int, names: int) -> list[tuple[int, int, int]]:
    """(client, qtype, name) codes of each packed triple of :func:`expansions`."""
    out = []
    for x in distinct.tolist():
        rest, n = divmod(x, names + 1)
        c, ty = divmod(rest, qtypes + 1)
        out.append((c, ty, n))
    return out


def _key(df: pd.DataFrame, cols: list[str]) -> np.ndarray:
    """One int64 per distinct combination of ``cols`` (missing values are a value too)."""
    import numpy as np
    import pandas as pd

    key = np.zeros(len(df), dtype=np.int64)
    for c in cols:
        codes, uniques = pd.factorize(df[c], use_na_sentinel=False)
        key, _ = pd.factorize(key * len(uniques) + codes)  # stays below len(df) ** 2
    out: np.ndarray = key.astype(np.int64)
    return out


def _lower(names: pd.Series) -> pd.Series:
    """``str.lower`` of each name: by pyarrow for ASCII text (DNS names are), else by Python."""
    import pandas as pd

    if isinstance(names.dtype, pd.StringDtype) and names.str.isascii().all():
        return names.str.lower()
    return names.astype(object).str.lower()


def _objects(df: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    """``df`` with ``cols`` as plain object columns: merge_asof wants identical key dtypes."""
    return df.assign(**{c: df[c].astype(object) for c in cols})


# --- parsing ----------------------------------------------------------------------------------


def parse(wire: bytes) -> dict[str, Any]:
    """The message fields of MESSAGES_SCHEMA from one DNS message (never raises)."""
    out: dict[str, Any] = {k: None for k in MESSAGES_SCHEMA}
    out["size_bytes"] = len(wire)
    if len(wire) >= 2:
        out["id"] = struct.unpack("!H", wire[:2])[0]
    if len(wire) < 12:
        out["error"] = f"short DNS header ({len(wire)} of 12 bytes)"
        if len(wire) >= 4:
            out.update(_flags(struct.unpack("!H", wire[2:4])[0]))
        return out
    flags = struct.unpack("!H", wire[2:4])[0]
    out.update(_flags(flags))
    qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
    out["questions"], out["ancount"] = qd, an
    if qd == 1 and an == ns == ar == 0:
        question = _simple_question(wire)
        if question is not None:  # most queries: no need for the full parser
            out["qname"], out["qtype"] = question
            out["answers"] = 0
            return out
    import dns.exception  # dnspython's parser only when needed: its import takes ~70 ms
    import dns.message
    import dns.rdatatype

    try:
        msg = dns.message.from_wire(wire, ignore_trailing=True, one_rr_per_rrset=True)
    except (dns.exception.DNSException, ValueError, IndexError, struct.error) as exc:
        out["error"] = f"{type(exc).__name__}: {exc}".rstrip(": ")
        out.update(_question_only(wire))
        return out
    out["rcode"] = _RCODES.get(msg.rcode(), str(msg.rcode()))
    if msg.question:
        q = msg.question[0]
        out["qname"] = q.name.to_text().lower()
        out["qtype"] = dns.rdatatype.to_text(q.rdtype)
    data, ttls, asked = [], [], 0
    for rrset in msg.answer:
        ttls.append(rrset.ttl)
        for rd in rrset:
            data.append(f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
            if msg.question and rrset.rdtype == msg.question[0].rdtype:
                asked += 1
    out["answers"] = asked
    out["answer_data"] = " | ".join(sorted(data)) if data else None
    out["ttl_min_s"] = min(ttls) if ttls else None
    out["edns_payload"] = msg.payload if msg.edns >= 0 else None
    return out


_PLAIN = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_*")


def _simple_question(wire: bytes) -> tuple[str, str] | None:
    """(qname, qtype) of a message that is exactly one question of plain labels, else None.

    Anything unusual (compression, escapes needed, trailing bytes) goes to dnspython instead, so
    both paths give the same text.
    """
    import dns.rdatatype

    labels: list[str] = []
    pos = 12
    while True:
        if pos >= len(wire):
            return None
        n = wire[pos]
        if n == 0:
            break
        if n > 63 or pos + 1 + n > len(wire):
            return None
        label = wire[pos + 1 : pos + 1 + n]
        if not _PLAIN.issuperset(label):
            return None
        labels.append(label.decode("ascii").lower())
        pos += 1 + n
    if pos + 5 != len(wire):
        return None
    rdtype, rdclass = struct.unpack("!HH", wire[pos + 1 : pos + 5])
    if rdclass != 1:
        return None
    return ".".join(labels) + "." if labels else ".", dns.rdatatype.to_text(rdtype)


def _flags(flags: int) -> dict[str, Any]:
    opcode = (flags >> 11) & 0xF
    rcode = flags & 0xF
    return {
        "qr": bool(flags & 0x8000),
        "opcode": _OPCODES.get(opcode, str(opcode)),
        "aa": bool(flags & 0x0400),
        "tc": bool(flags & 0x0200),
        "rd": bool(flags & 0x0100),
        "ra": bool(flags & 0x0080),
        "ad": bool(flags & 0x0020),
        "rcode": _RCODES.get(rcode, str(rcode)),
    }


def _question_only(wire: bytes) -> dict[str, Any]:
    """The first question of a message whose later sections are broken, if it can be read."""
    import dns.exception
    import dns.name
    import dns.rdatatype

    try:
        name, used = dns.name.from_wire(wire, 12)
        (rdtype,) = struct.unpack("!H", wire[12 + used : 14 + used])
    except (dns.exception.DNSException, ValueError, IndexError, struct.error):
        return {}
    return {"qname": name.to_text().lower(), "qtype": dns.rdatatype.to_text(rdtype)}


def _parsed(wire: bytes, transport: str, expected: int) -> dict[str, Any]:
    """The parsed fields of one message (all but its id), with truncation noted."""
    out = parse(wire)
    if len(wire) < expected and not out["error"]:
        out["error"] = f"truncated capture ({len(wire)} of {expected} bytes)"
    elif len(wire) < expected:
        out["error"] = f"truncated capture ({len(wire)} of {expected} bytes); {out['error']}"
    out["transport"] = transport
    return out


def _tcp_rows(tcp: pd.DataFrame, by_frame: Mapping[int, bytes], acc: _Messages) -> None:
    """Reassemble each TCP direction (by sequence number) and cut it at the 2-byte length prefixes."""
    import pandas as pd

    keys = [tcp["src"].astype(object), tcp["sport"], tcp["dst"].astype(object), tcp["dport"]]
    for _, seg in tcp.groupby(keys, sort=False, observed=True, dropna=False):
        seg = seg.sort_values("frame")
        first_seq: Any = seg["tcp_seq"].iloc[0]
        base = 0 if pd.isna(first_seq) else int(first_seq)
        parts: list[tuple[int, Any, bytes]] = []
        seg_rows: Iterable[Any] = seg.itertuples(index=False)
        for r in seg_rows:
            raw = by_frame.get(int(r.frame))
            if raw is None or pd.isna(r.tcp_seq):
                continue
            start = int(r.l4_offset)
            data = raw[start : start + int(r.payload_len)]
            off = (int(r.tcp_seq) - base) % (1 << 32)
            parts.append((off, r, data))
        parts.sort(key=lambda p: (p[0], int(p[1].frame)))
        stream = bytearray()
        owners: list[tuple[int, Any]] = []  # (stream offset, packet row) where each part begins
        for off, r, data in parts:
            if off + len(data) <= len(stream):
                continue  # retransmission of bytes already placed
            if off > len(stream):
                break  # a gap: nothing after it can be framed reliably
            owners.append((len(stream), r))
            stream += data[len(stream) - off :]
        pos = 0
        while pos + 2 <= len(stream):
            (length,) = struct.unpack("!H", stream[pos : pos + 2])
            owner = next(r for o, r in reversed(owners) if o <= pos)
            body = bytes(stream[pos + 2 : pos + 2 + length])
            acc.add(int(owner.pos_), body, "tcp", length)
            pos += 2 + length
