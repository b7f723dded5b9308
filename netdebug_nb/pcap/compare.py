"""Where do the packets disappear? Match the same packets across captures taken at several points.

Each capture becomes a fingerprint table (:mod:`netdebug_nb.pcap.fingerprint`: fields that
survive forwarding and NAT). For every pair of points A, B:

1. **Repeats.** In a Linux cooked capture (``tcpdump -i any``) on a forwarding host the same
   packet shows once per interface it crossed (received on one, sent on another): those copies
   count once. Any other repeat of a key is a packet of its own (a retransmission usually has a
   new IP ID, hence its own key; a TIME_WAIT socket's identical ACKs do not), and a copy the
   receiver saw more often than the sender sent it is a *duplicate* made on the way.
2. **Clock offset**, by the minimum-delay method: keys seen exactly once at each point give raw
   delays ``t_B - t_A``. Per conversation, the direction with the larger raw delay travels A → B.
   With ``θ`` B's clock minus A's and ``d`` the one-way delays, ``min(raw A→B) = θ + d_AB`` and
   ``max(raw B→A) = θ - d_BA``, so ``θ ≈ (min A→B + max B→A) / 2`` assuming equal minimum delays
   each way. Stated in the report; when one direction has no matches it cannot be estimated,
   and delays are shown raw.
3. **Matching** within ``window``: each point's keys are sorted once (with time); a binary
   search of B's keys in A's pairs every key A sent once with its B sightings (an A sighting
   claimed twice keeps the nearer, the other B sighting is a duplicate); keys A sent several
   times are paired one to one, nearest first. Vectorised: two 1M-packet captures match in a
   couple of CPU seconds.
4. **Report** per flow and direction: sent / seen / lost (only packets whose time falls inside
   the other capture's span count), duplicated, reordered, TTL decrement, NAT rewrite, MSS
   change, one-way delays; lost packets with their times; return traffic seen at one point only
   (asymmetric path).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netdebug_nb.errors import InputError, ParameterTypeError
from netdebug_nb.findings import Finding
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}

CAPTURES_SCHEMA: Schema = {
    "label": "string",
    "path": "string",
    "packets": "int64",
    "matchable": "int64",  # IP packets with a fingerprint
    "duplicates": "int64",  # repeated sightings within the window (same direction)
    "forwarded_copies": "int64",  # second copy of a forwarded packet in a -i any capture
    "tunnelled": "int64",  # packets matched by their inner packet (VXLAN, Geneve, IPIP)
    "fragments": "int64",
    "first": "datetime64[ns, UTC]",
    "last": "datetime64[ns, UTC]",
    "node": "string",  # from a fleet capture's capture.json (else empty)
    "interface": "string",
    "clock": "string",  # the node's clock state (chrony / timedatectl) when it was visible
    "note": "string",  # e.g. "truncated at 100 MB"
}

OFFSETS_SCHEMA: Schema = {
    "a": "string",
    "b": "string",
    "offset_ms": "Float64",  # B's clock minus A's (subtract from B's times); empty: not estimable
    "min_delay_ms": "Float64",  # the minimum one-way delay, assumed equal both ways by the method
    "pairs_ab": "int64",  # packets used for the estimate, each way
    "pairs_ba": "int64",
    "matched": "int64",  # packets matched between the two points
    "overlap_s": "float64",  # time both captures ran (after the correction)
    "method": "string",  # how the offset was found, or why it could not be
}

PATHS_SCHEMA: Schema = {
    "sender": "string",  # capture point that saw the packets first
    "receiver": "string",
    "flow": "string",  # as seen at the sender: "tcp 10.0.0.5:40000 → 10.96.0.10:80"
    "flow_at_receiver": "string",  # as seen at the receiver (differs under NAT); empty: never seen
    "proto": "string",
    "sent": "int64",  # packets at the sender inside the receiver's capture span
    "seen": "int64",  # ... of which the receiver saw
    "lost": "int64",
    "loss_pct": "float64",
    "duplicated": "int64",  # extra copies at the receiver
    "reordered": "int64",  # packets the receiver saw before one sent earlier
    "outside_overlap": "int64",  # packets at the sender while the receiver was not capturing
    "fragmented": "int64",  # packets whole at the sender, fragmented at the receiver (first fragments)
    "ttl_decrement": "Int64",  # hops between the points (median TTL difference)
    "nat": "string",  # "", "DNAT", "SNAT", "SNAT+DNAT"
    "mss_sent": "Int64",  # MSS option of the SYNs at the sender / at the receiver
    "mss_seen": "Int64",
    "delay_p50_ms": "Float64",  # one-way delay after the clock-offset correction
    "delay_p99_ms": "Float64",
    "delay_max_ms": "Float64",
    "first": "datetime64[ns, UTC]",
    "last": "datetime64[ns, UTC]",
}

NAT_SCHEMA: Schema = {
    "sender": "string",
    "receiver": "string",
    "kind": "string",  # DNAT (destination rewritten) or SNAT (source rewritten)
    "proto": "string",
    "before": "string",  # address:port at the sender
    "after": "string",  # address:port at the receiver
    "flows": "int64",
    "packets": "int64",
}

LOST_SCHEMA: Schema = {
    "sender": "category",
    "receiver": "category",
    "flow": "category",
    "frame": "int64",  # frame number in the sender's capture
    "ts": "datetime64[ns, UTC]",  # when the sender's capture saw it
    "tcp_flags": "uint16",
    "payload_len": "int32",
}

DELAYS_SCHEMA: Schema = {  # one row per packet seen at two points: categories keep it small
    "sender": "category",
    "receiver": "category",
    "ts": "datetime64[ns, UTC]",  # at the sender
    "delay_ms": "float64",  # one-way delay (offset-corrected when the offset is known)
    "corrected": "bool",
}

ASYMMETRIC_SCHEMA: Schema = {
    "seen_at": "string",  # the point that saw this direction of the conversation
    "missing_at": "string",  # the point that saw the other direction but never this one
    "flow": "string",  # as seen at seen_at
    "packets": "int64",
    "reverse_matched": "int64",  # packets of the reverse direction seen at both points
}


@dataclass
class Capture:
    """One capture point: its label, file, fingerprints and what its collector said about it."""

    label: str
    path: Path
    packets: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Comparison:
    captures: pd.DataFrame
    offsets: pd.DataFrame
    paths: pd.DataFrame
    nat: pd.DataFrame
    lost: pd.DataFrame
    delays: pd.DataFrame
    asymmetric: pd.DataFrame
    window_ms: float


@dataclass(frozen=True)
class Thresholds:
    loss_warn_pct: float = 0.0
    """Loss between two points above this share is a warning (any loss by default) ..."""
    loss_crit_pct: float = 5.0
    """... and above this, critical."""
    delay_warn_ms: float = 50.0
    """p99 one-way delay between two points above this raises compare.one_way_delay_high."""
    asymmetric_min_packets: int = 3
    """A direction seen at one point only needs this many packets to count as an asymmetric path."""


# --- loading ---------------------------------------------------------------------------------


FLEET_CAPTURE_FILE = "capture.pcap"
FLEET_META_FILE = "capture.json"


def expand(
    captures: Sequence[str | Path], labels: Sequence[str] = ()
) -> list[tuple[str, Path, dict[str, Any]]]:
    """(label, path, metadata) per capture; a ``fleet capture`` directory gives one per node."""
    from netdebug_nb.parameters import search_dirs

    items: list[tuple[str, Path, dict[str, Any]]] = []
    for c in captures:
        p = Path(c).expanduser()
        if not p.is_absolute():  # like every input path: the current directory, then the notebooks'
            p = next((d / p for d in search_dirs() if (d / p).exists()), p)
        if p.is_dir():
            found = sorted(p.glob(f"*/*/{FLEET_CAPTURE_FILE}")) or sorted(p.glob(f"*/{FLEET_CAPTURE_FILE}"))
            if not found:
                raise InputError(
                    p, f"a directory without */capture/{FLEET_CAPTURE_FILE} (not a fleet capture)"
                )
            for f in found:
                meta = _meta(f.parent / FLEET_META_FILE)
                label = str(meta.get("label") or meta.get("node") or f.parent.parent.name)
                items.append((label, f, meta))
        elif p.is_file():
            items.append((p.stem, p, {}))
        else:
            raise InputError(p, "no such capture file or directory")
    if labels:
        if len(labels) != len(items):
            raise ParameterTypeError(
                "labels", list(labels), f"one label per capture ({len(items)} captures, {len(labels)} labels)"
            )
        items = [(str(lab), p, m) for lab, (_l, p, m) in zip(labels, items, strict=True)]
    seen: dict[str, int] = {}
    out = []
    for lab, p, m in items:  # labels name columns and findings: make them unique
        k = seen.get(lab, 0)
        seen[lab] = k + 1
        out.append((lab if not k else f"{lab}#{k + 1}", p, m))
    if len(out) < 2:
        raise ParameterTypeError("captures", [str(c) for c in captures], "two or more captures to compare")
    return out


def load(
    captures: Sequence[str | Path], labels: Sequence[str] = (), *, bpf: str = "", workdir: Path | None = None
) -> list[Capture]:
    """Read every capture's fingerprints; ``bpf`` first filters each file with tcpdump."""
    from netdebug_nb.pcap import fingerprint

    out = []
    for label, path, meta in expand(captures, labels):
        src = path
        if bpf:
            src = filter_file(path, bpf, workdir=workdir)
        fp = fingerprint.read(src)
        out.append(Capture(label, path, fp, meta))
    return out


def filter_file(path: Path, bpf: str, *, workdir: Path | None = None) -> Path:
    """``tcpdump -r path -w out BPF``: the packets of ``path`` that match the filter."""
    import tempfile

    from netdebug_nb import tools

    d = workdir or Path(tempfile.mkdtemp(prefix="netdebug-compare-"))
    out = d / f"{path.stem}.filtered.pcap"
    tools.run(["tcpdump", "-r", str(path), "-w", str(out), "-n", bpf], timeout=600)
    return out


def _meta(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(path, f"unreadable capture metadata: {exc}") from exc
    return doc if isinstance(doc, dict) else {}


# --- the comparison ---------------------------------------------------------------------------


def compare(captures: Sequence[Capture], *, window_ms: float = 500.0) -> Comparison:
    """Every pair of capture points matched; the tables of the report."""
    import pandas as pd

    if window_ms <= 0:
        raise ParameterTypeError("window_ms", window_ms, "a positive number of milliseconds")
    window = int(window_ms * 1e6)
    prepared = [_Point.of(c, window) for c in captures]
    labels = [p.cap.label for p in prepared]
    for p in prepared:
        p.labels = labels
    tables: dict[str, list[pd.DataFrame]] = {
        k: [] for k in ("offsets", "paths", "nat", "lost", "delays", "asym")
    }
    for a, b in itertools.combinations(prepared, 2):
        pair = _pair(a, b, window)
        for k, v in pair.items():
            tables[k].append(v)

    def cat(name: str, schema: Schema) -> pd.DataFrame:
        parts = [t for t in tables[name] if len(t)]
        return frame(pd.concat(parts, ignore_index=True), schema) if parts else empty(schema)

    return Comparison(
        captures=frame([p.summary() for p in prepared], CAPTURES_SCHEMA),
        offsets=cat("offsets", OFFSETS_SCHEMA),
        paths=cat("paths", PATHS_SCHEMA).sort_values(["lost", "sent"], ascending=False, ignore_index=True),
        nat=cat("nat", NAT_SCHEMA),
        lost=cat("lost", LOST_SCHEMA),
        delays=cat("delays", DELAYS_SCHEMA),
        asymmetric=cat("asym", ASYMMETRIC_SCHEMA),
        window_ms=window_ms,
    )


@dataclass
class _Point:
    cap: Capture
    key: np.ndarray  # uint64, 0 = not matchable
    ts: np.ndarray  # int64 ns
    primary: np.ndarray  # rows that take part in matching
    dup_of: np.ndarray  # for duplicate rows: the primary row they repeat (-1 otherwise)
    copies: int
    flow: np.ndarray  # directional flow id per row
    rev: np.ndarray  # flow id of the reverse direction
    flow_text: list[str]
    by_key: np.ndarray  # the primary rows sorted by (key, time): every join walks this order
    labels: list[str] = field(default_factory=list)  # every point's label (shared categories)

    @classmethod
    def of(cls, cap: Capture, window: int) -> _Point:
        df = cap.packets
        key = df["key"].to_numpy()
        ts = df["ts_ns"].to_numpy()
        order = _key_order(key, ts)
        dup_of, copy = _repeats(key, ts, df["outbound"].to_numpy(), df["ifindex"].to_numpy(), window, order)
        # repeats stay in: a host may really send the same packet twice (a TIME_WAIT socket
        # answers each retransmitted FIN with an identical ACK, IP ID 0); only the second copy
        # of a packet forwarded through the capturing host is left out
        primary = (key != 0) & ~copy
        flow, rev, text = _flows(df)
        by_key = order[primary[order]]
        return cls(cap, key, ts, primary, dup_of, int(copy.sum()), flow, rev, text, by_key)

    def summary(self) -> dict[str, Any]:
        import pandas as pd

        df, meta = self.cap.packets, self.cap.meta
        ts = self.ts
        return {
            "label": self.cap.label,
            "path": str(self.cap.path),
            "packets": len(df),
            "matchable": int((self.key != 0).sum()),
            "duplicates": int((self.dup_of >= 0).sum()),
            "forwarded_copies": self.copies,
            "tunnelled": int((df["tunnel"].to_numpy() != 0).sum()),
            "fragments": int(df["frag"].to_numpy().sum()),
            "first": pd.Timestamp(int(ts.min()), tz="UTC") if len(ts) else pd.NaT,
            "last": pd.Timestamp(int(ts.max()), tz="UTC") if len(ts) else pd.NaT,
            "node": str(meta.get("node") or ""),
            "interface": str(meta.get("interface") or ""),
            "clock": str(meta.get("clock") or ""),
            "note": str(meta.get("note") or ""),
        }


def _key_order(key: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Rows sorted by (key, time). A capture is (nearly always) in time order already, and then
    one stable sort by key is enough, at a third of the cost of a two-key sort."""
    if len(ts) < 2 or bool((ts[1:] >= ts[:-1]).all()):
        order: np.ndarray = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((ts, key))
    return order


def _repeats(
    key: np.ndarray,
    ts: np.ndarray,
    outbound: np.ndarray,
    ifindex: np.ndarray,
    window: int,
    order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(row each duplicate repeats or -1, forwarded-copy mask): same key again within the window.

    A repeat on another interface, or the other way (received, then sent), is the same packet
    forwarded through the capturing host; on the same interface the same way, a duplicate.
    """
    n = len(key)
    dup_of = np.full(n, -1, dtype=np.int64)
    copy = np.zeros(n, dtype=bool)
    if n < 2:
        return dup_of, copy
    k, t, o, i = key[order], ts[order], outbound[order], ifindex[order]
    again = np.zeros(n, dtype=bool)
    again[1:] = (k[1:] == k[:-1]) & (k[1:] != 0) & (t[1:] - t[:-1] <= window)
    fwd = np.zeros(n, dtype=bool)
    fwd[1:] = again[1:] & (((o[1:] >= 0) & (o[:-1] >= 0) & (o[1:] != o[:-1])) | (i[1:] != i[:-1]))
    # the sighting a repeat belongs to: the last row of the run that is not itself a repeat
    pos = np.where(again, -1, np.arange(n))
    first = np.maximum.accumulate(pos)
    dup_sorted = again & ~fwd
    dup_of[order[dup_sorted]] = order[first[dup_sorted]]
    copy[order[fwd]] = True
    return dup_of, copy


def _flows(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Directional flow id per row, the id of the reverse direction (-1 if absent), and texts."""
    import pandas as pd

    src = df["src"].cat.codes.to_numpy().astype(np.int64)
    dst = df["dst"].cat.codes.to_numpy().astype(np.int64)
    sp = df["sport"].to_numpy().astype(np.int64)
    dp = df["dport"].to_numpy().astype(np.int64)
    pr = df["proto"].to_numpy().astype(np.int64)
    # endpoints (address, port) numbered once for sources and destinations together, so a flow
    # and its reverse are exact integers (no hashing, no overflow below ~10^8 endpoints)
    n = len(src)
    ends, _u = pd.factorize(np.concatenate([(src + 1) * 65536 + sp, (dst + 1) * 65536 + dp]))
    e_src, e_dst = ends[:n].astype(np.int64), ends[n:].astype(np.int64)
    width = max(len(_u), 1)
    fwd = (e_src * width + e_dst) * 256 + pr
    back = (e_dst * width + e_src) * 256 + pr
    codes, uniq = pd.factorize(fwd)
    table = pd.Index(uniq)
    rev_of_flow = table.get_indexer(pd.Index(np.asarray(back)[_first_rows(codes, len(uniq))]))
    rev = rev_of_flow[codes] if len(codes) else np.zeros(0, dtype=np.int64)
    firsts = _first_rows(codes, len(uniq))
    cats = list(df["src"].cat.categories)
    text = [
        _flow_text(
            int(pr[i]),
            cats[src[i]] if src[i] >= 0 else "",
            int(sp[i]),
            cats[dst[i]] if dst[i] >= 0 else "",
            int(dp[i]),
        )
        for i in firsts.tolist()
    ]
    return codes.astype(np.int64), np.asarray(rev, dtype=np.int64), text


def _first_rows(codes: np.ndarray, k: int) -> np.ndarray:
    first = np.full(k, len(codes), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(codes)))
    return first


def _endpoint(addr: str, port: int, proto: int) -> str:
    if proto in (6, 17, 132):
        return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"
    return addr


def _flow_text(proto: int, src: str, sport: int, dst: str, dport: int) -> str:
    name = PROTO_NAMES.get(proto, str(proto))
    return f"{name} {_endpoint(src, sport, proto)} → {_endpoint(dst, dport, proto)}"


def _pair(a: _Point, b: _Point, window: int) -> dict[str, pd.DataFrame]:
    """Everything the report says about points a and b."""
    import pandas as pd

    ia, ib = a.by_key, b.by_key
    est = _offset(a, b, window)
    offset: float | None = est["offset"]
    center = round(offset if offset is not None else est["center"])
    ma, mb = _nearest(a.key[ia], a.ts[ia], b.key[ib], b.ts[ib] - center, window)
    pa, pb = ia[ma], ib[mb]
    raw = (b.ts[pb] - a.ts[pa]).astype(np.float64)
    fwd = raw - (offset if offset is not None else 0.0) > 0  # this pair travelled A → B
    role_a = _roles(a, pa, fwd)  # per flow at A: 1 sent towards B, 0 received from B, -1 unrelated
    role_b = _roles(b, pb, ~fwd)
    other_of_a = np.full(len(a.key), -1, dtype=np.int64)
    other_of_a[pa] = pb
    other_of_b = np.full(len(b.key), -1, dtype=np.int64)
    other_of_b[pb] = pa
    if len(a.ts) and len(b.ts):
        b_in_a = (int(b.ts.min()) - center, int(b.ts.max()) - center)
        a_in_b = (int(a.ts.min()) + center, int(a.ts.max()) + center)
        overlap_s = max(0.0, (min(b_in_a[1], int(a.ts.max())) - max(b_in_a[0], int(a.ts.min()))) / 1e9)
    else:
        b_in_a = a_in_b = (0, -1)
        overlap_s = 0.0
    parts = [
        _direction(a, b, role_a, other_of_a, _extras(a, b, other_of_a, other_of_b), b_in_a, offset, window),
        _direction(
            b,
            a,
            role_b,
            other_of_b,
            _extras(b, a, other_of_b, other_of_a),
            a_in_b,
            -offset if offset is not None else None,
            window,
        ),
    ]
    asym = [_asymmetric(a, b, role_a, other_of_a), _asymmetric(b, a, role_b, other_of_b)]
    off_row = {
        "a": a.cap.label,
        "b": b.cap.label,
        "offset_ms": offset / 1e6 if offset is not None else None,
        "min_delay_ms": est["min_delay"] / 1e6 if est["min_delay"] is not None else None,
        "pairs_ab": est["pairs_ab"],
        "pairs_ba": est["pairs_ba"],
        "matched": len(pa),
        "overlap_s": overlap_s,
        "method": est["method"],
    }
    return {
        "offsets": frame([off_row], OFFSETS_SCHEMA),
        "paths": pd.concat([p[0] for p in parts], ignore_index=True),
        "nat": pd.concat([p[1] for p in parts], ignore_index=True),
        "lost": pd.concat([p[2] for p in parts], ignore_index=True),
        "delays": pd.concat([p[3] for p in parts], ignore_index=True),
        "asym": pd.concat(asym, ignore_index=True),
    }


def _offset(a: _Point, b: _Point, window: int) -> dict[str, Any]:
    """Clock offset of B relative to A by the minimum-delay method (see the module docstring)."""
    out: dict[str, Any] = {"offset": None, "center": 0.0, "min_delay": None, "pairs_ab": 0, "pairs_ba": 0}
    rows_a, rows_b = _singles(a), _singles(b)
    ka, kb = a.key[rows_a], b.key[rows_b]  # sorted, each key once
    pos = np.minimum(np.searchsorted(ka, kb), max(len(ka) - 1, 0))
    hit = (ka[pos] == kb) if len(ka) else np.zeros(len(kb), dtype=bool)
    rows_a, rows_b = rows_a[pos[hit]], rows_b[hit]
    if not len(rows_a):
        out["method"] = "no packet seen at both points: no offset"
        return out
    raw = (b.ts[rows_b] - a.ts[rows_a]).astype(np.float64)
    med = float(np.median(raw))
    keep = np.abs(raw - med) <= max(window, 1_000_000)
    raw, rows_a, rows_b = raw[keep], rows_a[keep], rows_b[keep]
    out["center"] = med
    # each packet's direction from its conversation, as one point sees it; a host that
    # forwards through NAT (a router's -i any capture) sees a conversation as two flows, so
    # the other point's view decides what this one cannot
    ab, ba = _directions(a, rows_a, raw)
    ab_b, ba_b = _directions(b, rows_b, raw)
    undecided = ~ab & ~ba
    ab |= undecided & ab_b
    ba |= undecided & ba_b
    out["pairs_ab"], out["pairs_ba"] = int(ab.sum()), int(ba.sum())
    if not ab.any() or not ba.any():
        out["method"] = (
            "matched in one direction only: the clock offset and the one-way delay cannot be "
            "separated; delays below include the unknown offset"
        )
        return out
    lo, hi = float(raw[ab].min()), float(raw[ba].max())
    out["offset"] = (lo + hi) / 2
    out["min_delay"] = max((lo - hi) / 2, 0.0)
    out["method"] = (
        f"minimum-delay method: {int(ab.sum())} packets A→B and {int(ba.sum())} B→A seen once at "
        "each point; assumes equal minimum delays both ways"
    )
    return out


def _directions(p: _Point, rows: np.ndarray, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A → B, B → A) per matched packet, from the median raw delay of its flow at ``p``.

    Of a flow and its reverse direction, both matched, the one whose packets arrive later
    (larger ``t_B - t_A``) travels A → B, whatever the clock offset. Equal medians (a capture
    compared with a shifted copy of itself) count both ways.
    """
    flow = p.flow[rows]
    k = len(p.flow_text)
    fmed = _group_median(flow, raw, k)
    rev = p.rev[_first_rows(p.flow, k)] if len(p.flow) else np.zeros(0, dtype=np.int64)
    rmed = np.where(rev >= 0, fmed[np.maximum(rev, 0)], np.nan)
    both = ~np.isnan(fmed) & ~np.isnan(rmed)
    tie = both & (fmed == rmed)
    ab: np.ndarray = (both & (fmed > rmed))[flow] | tie[flow]
    ba: np.ndarray = (both & (fmed < rmed))[flow] | tie[flow]
    return ab, ba


def _singles(p: _Point) -> np.ndarray:
    """Rows whose key occurs once among the point's primary rows, in key order."""
    k = p.key[p.by_key]
    if not len(k):
        return np.zeros(0, dtype=np.int64)
    change = k[1:] != k[:-1]
    alone = np.concatenate([[True], change]) & np.concatenate([change, [True]])
    out: np.ndarray = p.by_key[alone]
    return out


def _group_median(groups: np.ndarray, values: np.ndarray, k: int) -> np.ndarray:
    import pandas as pd

    out = np.full(k, np.nan)
    if len(groups):
        med = pd.Series(values).groupby(groups).median()
        out[med.index.to_numpy()] = med.to_numpy()
    return out


def _nearest(
    ka: np.ndarray, ta: np.ndarray, kb: np.ndarray, tb: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (position in a, position in b): same key, nearest in time, at most ``window`` apart.

    Both sides come sorted by (key, time). Most keys occur once at A: a binary search of B's
    keys in A's finds them directly; keys repeated at A (a retransmission whose fields did not
    change, ID wrap-around) go through a merge of both sides in (key, time) order, where the
    nearest A sighting of each B sighting is the previous or next A row (running max/min).
    """
    na, nb = len(ka), len(kb)
    if not na or not nb:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lo = np.searchsorted(ka, kb, side="left")
    hi = np.searchsorted(ka, kb, side="right")
    one = (hi - lo) == 1
    bpos = np.flatnonzero(one)
    cand = lo[one]
    gap = np.abs(tb[bpos] - ta[cand])
    ok = gap <= window
    cand, bpos, gap = cand[ok], bpos[ok], gap[ok]
    many = np.flatnonzero((hi - lo) > 1)
    if len(many):
        c2, b2, g2 = _assign(lo, hi, many, ta, tb, window)
        cand = np.concatenate([cand, c2])
        bpos = np.concatenate([bpos, b2])
        gap = np.concatenate([gap, g2])
    # an A sighting claimed by two B sightings keeps the nearer one
    claims = np.bincount(cand, minlength=na)[cand]
    if (claims > 1).any():
        o = np.lexsort((gap, cand))
        cand, bpos = cand[o], bpos[o]
        keep = np.ones(len(cand), dtype=bool)
        keep[1:] = cand[1:] != cand[:-1]
        cand, bpos = cand[keep], bpos[keep]
    return cand, bpos


def _assign(
    lo: np.ndarray, hi: np.ndarray, many: np.ndarray, ta: np.ndarray, tb: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-to-one pairs within keys seen several times at A (rare: identical packets sent again).

    Each B sighting, in time order, takes the nearest A sighting of its key not taken yet
    within the window; the counts come out right whichever copy is taken.
    """
    ca: list[int] = []
    cb: list[int] = []
    cg: list[int] = []
    taken: set[int] = set()
    for j in many.tolist():
        best, gap = -1, window + 1
        t = int(tb[j])
        for i in range(int(lo[j]), int(hi[j])):
            g = abs(t - int(ta[i]))
            if g < gap and i not in taken:
                best, gap = i, g
        if best >= 0:
            taken.add(best)
            ca.append(best)
            cb.append(j)
            cg.append(gap)
    return np.asarray(ca, dtype=np.int64), np.asarray(cb, dtype=np.int64), np.asarray(cg, dtype=np.int64)


def _roles(p: _Point, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Per flow at p: 1 sent towards the other point, 0 received from it, -1 not seen there.

    Flows with matched packets take the majority of their pairs; a flow never matched takes the
    opposite role of its reverse direction (a reply that never reached the other point, or
    traffic that came another way); the rest are traffic that does not pass both points.
    """
    k = len(p.flow_text)
    role = np.full(k, -1, dtype=np.int64)
    if len(rows):
        f = p.flow[rows]
        total = np.bincount(f, minlength=k)
        outs = np.bincount(f, weights=out.astype(np.float64), minlength=k)
        has = total > 0
        role[has] = (outs[has] * 2 >= total[has]).astype(np.int64)
    if k and len(p.flow):
        rev = p.rev[_first_rows(p.flow, k)]
        unknown = (role < 0) & (rev >= 0)
        rr = role[np.maximum(rev, 0)]
        role = np.where(unknown & (rr >= 0), 1 - rr, role)
    return role


def _extras(s: _Point, r: _Point, other_s: np.ndarray, other_r: np.ndarray) -> np.ndarray:
    """Per receiver row: the sender row it is an extra copy of (-1 if none).

    A receiver sighting left unmatched whose key the sender sent once, and that one copy was
    matched to another sighting: the network (or the receiver's capture) duplicated it.
    """
    extra = np.full(len(r.key), -1, dtype=np.int64)
    ks = s.key[s.by_key]
    rows = r.by_key[other_r[r.by_key] < 0]
    if not len(ks) or not len(rows):
        return extra
    lo = np.searchsorted(ks, r.key[rows], side="left")
    hi = np.searchsorted(ks, r.key[rows], side="right")
    once = (hi - lo) == 1
    src = s.by_key[lo[once]]
    hit = other_s[src] >= 0
    extra[rows[once][hit]] = src[hit]
    return extra


def _direction(
    s: _Point,
    r: _Point,
    role: np.ndarray,
    other: np.ndarray,
    extra: np.ndarray,
    span: tuple[int, int],
    offset: float | None,
    window: int,
) -> tuple[pd.DataFrame, ...]:
    """Tables for the packets sender ``s`` sent towards receiver ``r``."""
    import pandas as pd

    df_s, df_r = s.cap.packets, r.cap.packets
    rows = np.flatnonzero(s.primary & (role[s.flow] == 1)) if len(s.flow) else np.zeros(0, dtype=np.int64)
    if not len(rows):
        return empty(PATHS_SCHEMA), empty(NAT_SCHEMA), empty(LOST_SCHEMA), empty(DELAYS_SCHEMA)
    inside = (s.ts[rows] >= span[0] - window) & (s.ts[rows] <= span[1] + window)
    got = other[rows]
    seen = got >= 0
    lost = inside & ~seen
    flow = s.flow[rows]
    k = len(s.flow_text)
    m_rows, m_other = rows[seen], got[seen]
    fragd = df_r["frag"].to_numpy()[m_other] & ~df_s["frag"].to_numpy()[m_rows]
    delay = (r.ts[m_other] - s.ts[m_rows]).astype(np.float64) - (offset or 0.0)
    # extra copies the receiver saw of packets it matched
    dup_src = extra[extra >= 0]
    dup_src = dup_src[role[s.flow[dup_src]] == 1] if len(dup_src) else dup_src
    # per flow sums with bincount (a groupby costs ten times more on a million rows)
    present = np.flatnonzero(np.bincount(flow, minlength=k))
    first_ts = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    last_ts = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first_ts, flow, s.ts[rows])
    np.maximum.at(last_ts, flow, s.ts[rows])
    agg = pd.DataFrame(
        {
            "sent": np.bincount(flow, weights=inside, minlength=k)[present].astype(np.int64),
            "seen": np.bincount(flow, weights=seen, minlength=k)[present].astype(np.int64),
            "lost": np.bincount(flow, weights=lost, minlength=k)[present].astype(np.int64),
            "n": np.bincount(flow, minlength=k)[present],
            "first": first_ts[present],
            "last": last_ts[present],
        },
        index=present,
    )
    agg["outside"] = agg["n"] - agg["sent"]
    dups = pd.Series(s.flow[dup_src]).value_counts() if len(dup_src) else pd.Series(dtype="int64")
    mf = s.flow[m_rows]  # flow of each matched pair; numpy group operations below, no groupby
    reord = pd.Series(_reordered(mf, s.ts[m_rows], r.ts[m_other], k), index=np.arange(k))
    ttl = _mode(mf, df_s["ttl"].to_numpy()[m_rows].astype(np.int64) - df_r["ttl"].to_numpy()[m_other], k)
    mss_s = df_s["mss"].to_numpy()[m_rows].astype(np.int64)
    mss_r = df_r["mss"].to_numpy()[m_other].astype(np.int64)
    syn = mss_s > 0
    mss_sent = pd.Series(mss_s[syn]).groupby(mf[syn]).max()
    mss_seen = pd.Series(mss_r[syn]).groupby(mf[syn]).max()
    p50, p99, dmax = (pd.Series(q) for q in _quantiles(mf, delay / 1e6, k, (0.5, 0.99, 1.0)))
    # the receiver's view of each flow (the most common one; several under a NAT port change)
    rf = _mode(mf, r.flow[m_other], k)
    flows_idx = agg.index.to_numpy()
    recv = rf.reindex(flows_idx).to_numpy(dtype=np.float64)
    cats_s, cats_r = list(df_s["src"].cat.categories), list(df_r["src"].cat.categories)
    src_s, dst_s = df_s["src"].cat.codes.to_numpy(), df_s["dst"].cat.codes.to_numpy()
    src_r, dst_r = df_r["src"].cat.codes.to_numpy(), df_r["dst"].cat.codes.to_numpy()
    proto_s = df_s["proto"].to_numpy().astype(np.int64)
    sp_s, dp_s = df_s["sport"].to_numpy().astype(np.int64), df_s["dport"].to_numpy().astype(np.int64)
    sp_r, dp_r = df_r["sport"].to_numpy().astype(np.int64), df_r["dport"].to_numpy().astype(np.int64)
    first_s = _first_rows(s.flow, k)
    first_r = _first_rows(r.flow, len(r.flow_text))
    nat_rows: list[tuple[str, int, str, str, int]] = []
    kinds_out: list[str] = []
    rtexts: list[str] = []
    for f, rfl in zip(flows_idx.tolist(), recv.tolist(), strict=True):
        if np.isnan(rfl):
            kinds_out.append("")
            rtexts.append("")
            continue
        i, j = int(first_s[f]), int(first_r[int(rfl)])
        proto = int(proto_s[i])
        rtexts.append(r.flow_text[int(rfl)])
        kinds = []
        for kind, before, after in (
            (
                "SNAT",
                _endpoint(cats_s[src_s[i]], int(sp_s[i]), proto),
                _endpoint(cats_r[src_r[j]], int(sp_r[j]), proto),
            ),
            (
                "DNAT",
                _endpoint(cats_s[dst_s[i]], int(dp_s[i]), proto),
                _endpoint(cats_r[dst_r[j]], int(dp_r[j]), proto),
            ),
        ):
            if before != after:
                kinds.append(kind)
                nat_rows.append((kind, proto, before, after, f))
        kinds_out.append("+".join(kinds))
    sent = agg["sent"].to_numpy()
    lost_n = agg["lost"].to_numpy()
    fp = proto_s[first_s[flows_idx]] if len(flows_idx) else np.zeros(0, dtype=np.int64)

    def per_flow(series: pd.Series, *, delay: bool = False) -> Any:
        if delay and offset is None:
            return pd.array([None] * len(flows_idx), dtype="Float64")
        return series.reindex(flows_idx).to_numpy()

    recs = {
        "sender": [s.cap.label] * len(flows_idx),
        "receiver": [r.cap.label] * len(flows_idx),
        "flow": [s.flow_text[f] for f in flows_idx.tolist()],
        "flow_at_receiver": rtexts,
        "proto": [PROTO_NAMES.get(int(p), str(int(p))) for p in fp.tolist()],
        "sent": sent,
        "seen": agg["seen"].to_numpy(),
        "lost": lost_n,
        "loss_pct": np.where(sent > 0, 100.0 * lost_n / np.maximum(sent, 1), 0.0),
        "duplicated": dups.reindex(flows_idx, fill_value=0).to_numpy(),
        "reordered": reord.reindex(flows_idx, fill_value=0).to_numpy(),
        "outside_overlap": agg["outside"].to_numpy(),
        "fragmented": np.bincount(s.flow[m_rows][fragd], minlength=k)[flows_idx] if len(flows_idx) else [],
        "ttl_decrement": pd.array(ttl.reindex(flows_idx).round().to_numpy(), dtype="Float64").astype("Int64"),
        "nat": kinds_out,
        "mss_sent": pd.array(mss_sent.reindex(flows_idx).to_numpy(), dtype="Float64").astype("Int64"),
        "mss_seen": pd.array(mss_seen.reindex(flows_idx).to_numpy(), dtype="Float64").astype("Int64"),
        "delay_p50_ms": per_flow(p50, delay=True),
        "delay_p99_ms": per_flow(p99, delay=True),
        "delay_max_ms": per_flow(dmax, delay=True),
        "first": _utc(agg["first"].to_numpy()),
        "last": _utc(agg["last"].to_numpy()),
    }
    paths = frame(recs, PATHS_SCHEMA)
    nat = empty(NAT_SCHEMA)
    if nat_rows:
        sent_by_flow = agg["n"]
        nd = pd.DataFrame(nat_rows, columns=["kind", "proto", "before", "after", "flow"])
        nd["packets"] = sent_by_flow.reindex(nd["flow"]).to_numpy()
        nat = nd.groupby(["kind", "proto", "before", "after"], as_index=False).agg(
            flows=("flow", "nunique"), packets=("packets", "sum")
        )
        nat["proto"] = [PROTO_NAMES.get(int(p), str(p)) for p in nat["proto"]]
        nat["sender"], nat["receiver"] = s.cap.label, r.cap.label
        nat = frame(nat, NAT_SCHEMA)
    lrows = rows[lost]
    lost_df = frame(
        {
            "sender": _label(s, len(lrows)),
            "receiver": _label(r, len(lrows)),
            "flow": pd.Categorical.from_codes(s.flow[lrows], categories=pd.Index(s.flow_text).unique())
            if len(set(s.flow_text)) == len(s.flow_text)
            else [s.flow_text[f] for f in s.flow[lrows].tolist()],
            "frame": df_s["frame"].to_numpy()[lrows],
            "ts": _utc(s.ts[lrows]),
            "tcp_flags": df_s["tcp_flags"].to_numpy()[lrows],
            "payload_len": df_s["payload_len"].to_numpy()[lrows],
        },
        LOST_SCHEMA,
    )
    delays = frame(
        {
            "sender": _label(s, len(m_rows)),
            "receiver": _label(r, len(m_rows)),
            "ts": _utc(s.ts[m_rows]),
            "delay_ms": delay / 1e6,
            "corrected": np.full(len(m_rows), offset is not None),
        },
        DELAYS_SCHEMA,
    )
    return paths, nat, lost_df, delays


def _reordered(flow: np.ndarray, ts: np.ndarray, rts: np.ndarray, k: int) -> np.ndarray:
    """Per flow: packets that reached the receiver before one the sender sent earlier.

    Pairs in (flow, send time) order; each flow's receive times are shifted into their own
    range (flow rank × span), so one running maximum over all of them never crosses flows.
    """
    if not len(flow):
        return np.zeros(k, dtype=np.int64)
    order = _group_order(flow, ts)
    f, r = flow[order], rts[order].astype(np.int64)
    r = r - r.min()
    span = int(r.max()) + 1
    rank = np.cumsum(np.concatenate([[0], f[1:] != f[:-1]]))
    shifted = r + rank * span
    before = np.maximum.accumulate(shifted)
    late = np.zeros(len(f), dtype=bool)
    late[1:] = shifted[1:] < before[:-1]
    return np.bincount(f[late], minlength=k)


def _group_order(groups: np.ndarray, within: np.ndarray) -> np.ndarray:
    """Order by (group, value): two single-key sorts, cheaper than numpy's two-key lexsort."""
    if len(within) > 1 and bool((within[1:] >= within[:-1]).all()):
        first = np.arange(len(within))
    else:
        first = np.argsort(within)
    out: np.ndarray = first[np.argsort(groups[first], kind="stable")]
    return out


def _mode(groups: np.ndarray, values: np.ndarray, k: int) -> Any:
    """The most common value per group (ties: the smallest), indexed by group."""
    import pandas as pd

    if not len(groups):
        return pd.Series(dtype="int64")
    vals = values.astype(np.int64)
    lo = int(vals.min())
    width = int(vals.max()) - lo + 1
    combined, counts = np.unique(groups.astype(np.int64) * width + (vals - lo), return_counts=True)
    g, v = combined // width, combined % width + lo
    order = np.lexsort((v, -counts, g))
    g, v = g[order], v[order]
    first = np.concatenate([[True], g[1:] != g[:-1]])
    return pd.Series(v[first], index=g[first])


def _quantiles(
    groups: np.ndarray, values: np.ndarray, k: int, qs: tuple[float, ...]
) -> list[dict[int, float]]:
    """Per group quantiles (linear interpolation, as numpy's default) from one sort."""
    if not len(groups):
        return [{} for _ in qs]
    order = _group_order(groups, values)
    g, v = groups[order], values[order]
    starts = np.flatnonzero(np.concatenate([[True], g[1:] != g[:-1]]))
    counts = np.diff(np.concatenate([starts, [len(g)]]))
    out = []
    for q in qs:
        pos = starts + (counts - 1) * q
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, starts + counts - 1)
        val = v[lo] + (v[hi] - v[lo]) * (pos - lo)
        out.append(dict(zip(g[starts].tolist(), val.tolist(), strict=True)))
    return out


def _utc(ns: np.ndarray) -> Any:
    """Nanoseconds since the epoch as UTC timestamps (a view, not a parse)."""
    import pandas as pd

    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("M8[ns]")).tz_localize("UTC")


def _label(p: _Point, n: int) -> Any:
    """``n`` times the point's label, as a categorical over every point's label."""
    import pandas as pd

    labels = p.labels or [p.cap.label]
    code = labels.index(p.cap.label)
    return pd.Categorical.from_codes(np.full(n, code, dtype=np.int64), dtype=pd.CategoricalDtype(labels))


def _asymmetric(s: _Point, r: _Point, role: np.ndarray, other: np.ndarray) -> pd.DataFrame:
    """Directions received at ``s`` that never passed ``r`` although their reverse did."""
    k = len(s.flow_text)
    if not k:
        return empty(ASYMMETRIC_SCHEMA)
    matched = np.bincount(s.flow[other >= 0], minlength=k)
    packets = np.bincount(s.flow[s.primary], minlength=k)
    rev = s.rev[_first_rows(s.flow, k)]
    cand = np.flatnonzero((role == 0) & (matched == 0) & (packets > 0) & (rev >= 0))
    return frame(
        {
            "seen_at": [s.cap.label] * len(cand),
            "missing_at": [r.cap.label] * len(cand),
            "flow": [s.flow_text[f] for f in cand.tolist()],
            "packets": packets[cand],
            "reverse_matched": matched[rev[cand]] if len(cand) else np.zeros(0, dtype=np.int64),
        },
        ASYMMETRIC_SCHEMA,
    )


BETWEEN_SCHEMA: Schema = {
    "sender": "string",
    "receiver": "string",
    "flows": "int64",
    "sent": "int64",
    "seen": "int64",
    "lost": "int64",
    "loss_pct": "float64",
    "duplicated": "int64",
    "reordered": "int64",
    "fragmented": "int64",
    "delay_p50_ms": "Float64",  # over every packet of the direction (offset-corrected)
    "delay_p99_ms": "Float64",
    "offset_ms": "Float64",  # receiver's clock minus sender's
}


def between(res: Comparison) -> pd.DataFrame:
    """One row per ordered pair of points: where, in total, packets disappear."""
    import pandas as pd

    if not len(res.paths):
        return empty(BETWEEN_SCHEMA)
    g = res.paths.groupby(["sender", "receiver"], sort=False)
    out = g[["sent", "seen", "lost", "duplicated", "reordered", "fragmented"]].sum().reset_index()
    out["flows"] = g.size().to_numpy()
    out["loss_pct"] = (100.0 * out["lost"] / out["sent"].where(out["sent"] > 0)).fillna(0.0)
    d = res.delays[res.delays["corrected"]]
    qi: dict[tuple[str, str], tuple[float, float]] = {}
    for key, grp in d.groupby(["sender", "receiver"], observed=True):
        v = grp["delay_ms"].to_numpy()
        qi[(str(key[0]), str(key[1]))] = (float(np.quantile(v, 0.5)), float(np.quantile(v, 0.99)))
    offs = {}
    for row in res.offsets.to_dict("records"):
        if not _isna(row["offset_ms"]):
            offs[(row["a"], row["b"])] = float(row["offset_ms"])
            offs[(row["b"], row["a"])] = -float(row["offset_ms"])
    keys = list(zip(out["sender"].astype(str), out["receiver"].astype(str), strict=True))
    out["delay_p50_ms"] = pd.array([qi[k][0] if k in qi else None for k in keys], dtype="Float64")
    out["delay_p99_ms"] = pd.array([qi[k][1] if k in qi else None for k in keys], dtype="Float64")
    out["offset_ms"] = pd.array([offs.get(k) for k in keys], dtype="Float64")
    return frame(out, BETWEEN_SCHEMA)


# --- findings ---------------------------------------------------------------------------------


def check(res: Comparison, thresholds: Thresholds = Thresholds(), *, top_n: int = 5) -> list[Finding]:
    """The findings of a comparison: ``compare.no_overlap``, ``compare.clock_offset``,
    ``compare.loss_between``, ``compare.nat``, ``compare.one_way_delay_high``,
    ``compare.reordering``, ``compare.duplicates``, ``compare.mss_clamped``,
    ``compare.asymmetric_path``."""
    t = thresholds
    out: list[Finding] = []
    for row in res.offsets.to_dict("records"):
        a, b = str(row["a"]), str(row["b"])
        if int(row["matched"]) == 0 or float(row["overlap_s"]) <= 0:
            why = "no time in common" if float(row["overlap_s"]) <= 0 else "no packet in common"
            out.append(
                Finding(
                    "compare.no_overlap",
                    "warning",
                    f"{a} and {b} share {why}",
                    "check that both captures ran at the same time, on the path of the same traffic, with "
                    "filters that keep it (and a window_ms wide enough for the clock difference)",
                    {"a": a, "b": b, "overlap_s": float(row["overlap_s"]), "matched": int(row["matched"])},
                    inconclusive=True,  # nothing between these two points could be measured
                )
            )
            continue
        if not _isna(row["offset_ms"]):
            off = float(row["offset_ms"])
            out.append(
                Finding(
                    "compare.clock_offset",
                    "info",
                    f"{b}'s clock is {off:+.3f} ms from {a}'s (minimum-delay estimate)",
                    f"{row['method']}; one-way delays are corrected by it. Minimum one-way delay "
                    f"{float(row['min_delay_ms']):.3f} ms.",
                    {"a": a, "b": b, "offset_ms": off, "min_delay_ms": float(row["min_delay_ms"]),
                     "pairs_ab": int(row["pairs_ab"]), "pairs_ba": int(row["pairs_ba"])},
                )
            )  # fmt: skip
        else:
            out.append(
                Finding(
                    "compare.clock_offset",
                    "info",
                    f"clock offset between {a} and {b} not estimated",
                    str(row["method"]),
                    {"a": a, "b": b, "offset_ms": None},
                )
            )
    p = res.paths
    for (s, r), g in p.groupby(["sender", "receiver"], sort=False):
        sent, lost = int(g["sent"].sum()), int(g["lost"].sum())
        pct = 100.0 * lost / sent if sent else 0.0
        if lost and pct > t.loss_warn_pct:
            worst = g.sort_values("lost", ascending=False).head(top_n)
            out.append(
                Finding(
                    "compare.loss_between",
                    "critical" if pct >= t.loss_crit_pct else "warning",
                    f"{lost} of {sent} packets ({pct:.2f} %) seen at {s} on their way to {r} never reached it",
                    "; ".join(
                        f"{f}: {int(n)} lost" for f, n in zip(worst["flow"], worst["lost"], strict=True) if int(n)
                    ),
                    {"sender": s, "receiver": r, "sent": sent, "lost": lost, "loss_pct": round(pct, 3),
                     "flows": int((g["lost"] > 0).sum())},
                )
            )  # fmt: skip
        d99 = g["delay_p99_ms"].dropna()
        if len(d99) and float(d99.max()) > t.delay_warn_ms:
            worst = g.sort_values("delay_p99_ms", ascending=False).head(top_n)
            out.append(
                Finding(
                    "compare.one_way_delay_high",
                    "warning",
                    f"one-way delay {s} → {r} reaches p99 {float(d99.max()):.1f} ms",
                    "; ".join(f"{f}: p99 {float(v):.1f} ms" for f, v in zip(worst["flow"], worst["delay_p99_ms"], strict=True)),
                    {"sender": s, "receiver": r, "p99_ms": float(d99.max()), "threshold_ms": t.delay_warn_ms},
                )
            )  # fmt: skip
        for col, fid, what in (("reordered", "compare.reordering", "arrived out of order"),
                               ("duplicated", "compare.duplicates", "arrived more than once")):  # fmt: skip
            n = int(g[col].sum())
            if n:
                seen = int(g["seen"].sum())
                out.append(
                    Finding(
                        fid,
                        "warning",
                        f"{n} packets {s} → {r} {what} at {r}",
                        "; ".join(f"{f}: {int(v)}" for f, v in zip(g["flow"], g[col], strict=True) if int(v))[
                            :2000
                        ],
                        {"sender": s, "receiver": r, col: n, "seen": seen},
                    )
                )
        clamp = g[g["mss_sent"].notna() & g["mss_seen"].notna() & (g["mss_sent"] != g["mss_seen"])]
        if len(clamp):
            pairs = sorted(
                {(int(x), int(y)) for x, y in zip(clamp["mss_sent"], clamp["mss_seen"], strict=True)}
            )
            out.append(
                Finding(
                    "compare.mss_clamped",
                    "warning",
                    f"TCP MSS rewritten between {s} and {r}: " + ", ".join(f"{x} → {y}" for x, y in pairs),
                    "a middlebox clamps the MSS (TCPMSS rule, tunnel MTU): "
                    + "; ".join(clamp["flow"].head(top_n)),
                    {"sender": s, "receiver": r, "flows": len(clamp), "mss": [list(x) for x in pairs]},
                )
            )
    # one NAT finding per pair of points, from the direction that needs the fewest mappings to
    # describe (the initiator's: ClusterIP → pod and client → node; the replies undo them)
    nat = res.nat
    done: set[frozenset[str]] = set()
    by_dir = {k: g for k, g in nat.groupby(["sender", "receiver"], sort=False)}
    for (s, r), g in by_dir.items():
        pair = frozenset((str(s), str(r)))
        if pair in done:
            continue
        done.add(pair)
        back = by_dir.get((r, s))
        if back is not None and _hosts(back) < _hosts(g):
            s, r, g = r, s, back
        rows = g.groupby(["kind", "before", "after"], as_index=False).agg(
            packets=("packets", "sum"), proto=("proto", lambda x: ",".join(sorted(set(x))))
        )
        rows = rows.sort_values(["kind", "packets"], ascending=[True, False])
        parts = [
            f"{k} {b} → {a} ({p})"
            for k, b, a, p in zip(rows["kind"], rows["before"], rows["after"], rows["proto"], strict=True)
        ]
        out.append(
            Finding(
                "compare.nat",
                "info",
                f"NAT between {s} and {r}: " + ", ".join(parts[:2]) + (" …" if len(parts) > 2 else ""),
                "; ".join(parts[: top_n * 4]),
                {"sender": s, "receiver": r, "dnat": int((rows["kind"] == "DNAT").sum()),
                 "snat": int((rows["kind"] == "SNAT").sum()),
                 "mappings": [{"kind": k, "before": b, "after": a, "proto": p} for k, b, a, p in
                              zip(rows["kind"], rows["before"], rows["after"], rows["proto"], strict=True)][:50]},
            )
        )  # fmt: skip
    asym = res.asymmetric[res.asymmetric["packets"] >= t.asymmetric_min_packets]
    for (seen_at, missing), g in asym.groupby(["seen_at", "missing_at"], sort=False):
        out.append(
            Finding(
                "compare.asymmetric_path",
                "warning",
                f"{len(g)} flow(s) reach {seen_at} without passing {missing}, while their reverse does",
                "return traffic takes another path (or the capture at "
                f"{missing} missed that interface): " + "; ".join(g["flow"].head(top_n)),
                {
                    "seen_at": seen_at,
                    "missing_at": missing,
                    "flows": len(g),
                    "packets": int(g["packets"].sum()),
                },
            )
        )
    return out


def _hosts(nat: pd.DataFrame) -> int:
    """Distinct address rewrites (ports aside) in a direction's NAT rows."""
    strip = [
        (b.rsplit(":", 1)[0], a.rsplit(":", 1)[0]) for b, a in zip(nat["before"], nat["after"], strict=True)
    ]
    return len(set(strip))


def _isna(v: Any) -> bool:
    try:
        return bool(v != v) or v is None
    except (TypeError, ValueError):
        return True
