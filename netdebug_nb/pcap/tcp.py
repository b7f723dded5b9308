"""TCP health per flow: handshake, retransmissions, reordering, duplicate ACKs, zero windows, resets.

Everything is computed column-wise over the packet table with numpy (:mod:`groups`: the TCP
packets sorted once by flow direction and once by flow, radix sorts), never with a Python loop
over packets, so a million-packet capture is analysed in about half a second.

The sequence analysis follows Wireshark's ideas, simplified:

* sequence numbers are made relative to the first packet of each direction (flows under 2 GiB);
* a segment that starts below the highest sequence number already seen in its direction is a
  *retransmission*, unless it fills a hole never seen before and arrives within the flow's
  handshake RTT (at least ``ooo_threshold_ms``) of the previous segment: then it is *out of
  order*. Unlike Wireshark, a resend of bytes the capture did see is always a retransmission;
* a one-byte (or empty) segment one below the highest sequence is a keep-alive, not a
  retransmission;
* a segment starting above the highest sequence seen means the capture missed data
  (*unseen_segment*, Wireshark's "previous segment not captured");
* a pure ACK repeating the previous ACK number and window of its direction while the peer has
  data outstanding is a *duplicate ACK*;
* IPv4 packets seen twice with the same IP ID (a capture on ``any`` sees forwarded packets on two
  interfaces) are counted once, so they do not pass for retransmissions.

A flow is a 5-tuple: a client port reused for a new connection within one capture is analysed
as one flow (its sequence numbers jump, which shows as gaps).

Round-trip samples pair a data segment with the first ACK that acknowledges exactly its end,
skipping retransmitted ranges (Karn). Where the capture was taken decides what they measure: at
the sender, the network RTT; at the receiver, only the receiver's ACK delay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from netdebug_nb.pcap import flows, groups, heap
from netdebug_nb.pcap.schema import TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

HEALTH_SCHEMA: Schema = {
    "flow": "int64",  # flow number from flows.label
    "client": "string",  # the side that sent the SYN (side a when no handshake was captured)
    "client_port": "UInt16",
    "server": "string",
    "server_port": "UInt16",
    "state": "string",  # established | refused | unanswered | incomplete | mid_stream (see STATES)
    "closed": "string",  # fin | reset | open (no FIN or RST seen)
    "packets": "int64",
    "bytes": "int64",  # bytes on the wire, both directions
    "payload_c2s_bytes": "int64",  # TCP payload client → server, retransmissions included
    "payload_s2c_bytes": "int64",
    "start": "datetime64[ns, UTC]",
    "end": "datetime64[ns, UTC]",
    "duration_s": "float64",
    "syns": "int64",  # SYNs the client sent (1 + retries)
    "handshake_rtt_ms": "Float64",  # last SYN → final ACK of the handshake
    "syn_synack_ms": "Float64",  # last SYN → SYN/ACK: the server side as seen from the capture point
    "synack_ack_ms": "Float64",  # SYN/ACK → ACK: the client side as seen from the capture point
    "connect_ms": "Float64",  # first SYN → final ACK: what the client waited, SYN retries included
    "data_segments": "int64",  # segments carrying data, SYN or FIN
    "retransmissions": "int64",
    "retransmission_rate": "float64",  # retransmissions / data_segments (0 when there are none)
    "out_of_order": "int64",
    "unseen_segments": "int64",  # gaps: data the capture never saw
    "dup_acks": "int64",
    "zero_window": "int64",  # packets advertising a zero receive window
    "resets": "int64",
    "reset_by": "string",  # client | server | both; empty without RST
    "rtt_median_ms": "Float64",  # median data → ACK time (see module doc for what it measures)
}

EVENTS_SCHEMA: Schema = {
    "frame": "int64",
    "ts": "datetime64[ns, UTC]",
    "flow": "int64",
    "direction": "string",  # c2s | s2c
    "event": "string",  # one of EVENTS
}

RTT_SCHEMA: Schema = {
    "flow": "int64",
    "direction": "string",  # direction of the data segment: c2s | s2c
    "frame": "int64",  # data segment
    "ack_frame": "int64",  # the ACK that acknowledged it
    "ts": "datetime64[ns, UTC]",  # time of the data segment
    "rtt_ms": "float64",
}

EVENTS = ("retransmission", "out_of_order", "unseen_segment", "dup_ack", "zero_window", "reset")
STATES = {
    "established": "SYN/ACK and the final ACK seen",
    "refused": "SYN answered by RST",
    "unanswered": "SYN never answered",
    "incomplete": "SYN/ACK seen but not the final ACK",
    "mid_stream": "no handshake in the capture (it started before the capture)",
}
NEVER_COMPLETED = ("refused", "unanswered", "incomplete")


@dataclass(frozen=True)
class Analysis:
    """The three views of one pass over the TCP packets."""

    health: pd.DataFrame  # HEALTH_SCHEMA, one row per TCP flow
    events: pd.DataFrame  # EVENTS_SCHEMA, one row per notable packet
    rtt: pd.DataFrame  # RTT_SCHEMA, one row per round-trip sample


def analyze(
    packets: pd.DataFrame, labels: pd.DataFrame | None = None, *, ooo_threshold_ms: float = 3.0
) -> Analysis:
    """Per-flow TCP health, the notable packets, and RTT samples of every TCP flow in ``packets``."""
    import numpy as np
    import pandas as pd

    if labels is None:
        labels = flows.label(packets)
    if len(packets) == 0:
        return _empty()
    proto = packets["proto"].to_numpy(dtype=np.uint8, na_value=0)
    sel = (proto == 6) & packets["sport"].notna().to_numpy() & (labels["flow"].to_numpy() >= 0)
    del proto
    if not sel.any():
        return _empty()
    rows = np.flatnonzero(sel)  # the TCP rows in frame order; only the columns used are copied
    del sel
    frames = packets["frame"].to_numpy(dtype=np.int64)[rows]
    if len(frames) > 1 and not (frames[1:] >= frames[:-1]).all():
        by_frame = np.argsort(frames, kind="stable")
        rows, frames = rows[by_frame], frames[by_frame]
    flow_of, fwd = labels["flow"].to_numpy()[rows], labels["forward"].to_numpy()[rows]
    # flows renumbered 0..n-1 (in the order of their numbers): per-flow arrays stay small and
    # the sorts by flow below are radix sorts; flow_ids[k] is flow k's number in ``labels``
    flow, flow_ids = groups.dense(flow_of)
    del flow_of
    n = len(flow_ids)
    ids = np.arange(n)

    def col(name: str, na: int = 0, dtype: type = np.int64, at: np.ndarray = rows) -> np.ndarray:
        # na: the value for missing ones (nullable columns)
        out: np.ndarray = packets[name].array.take(at).to_numpy(dtype=dtype, na_value=na)
        return out

    ts = np.asarray(packets["ts"].array.asi8, dtype=np.int64)[rows]
    t0 = int(ts.min())
    ts -= t0  # relative ns: exact in float64 for captures under 100 days
    # the columns in the narrowest type their arithmetic below allows: the TCP rows are most rows
    fl = col("tcp_flags", 0, np.uint16)
    seq = col("tcp_seq", 0)
    ack = col("tcp_ack", 0)
    win = col("tcp_win", -1, np.int32)
    plen = col("payload_len", 0)
    wire = col("wirelen", 0, np.uint32)
    ip_id = col("ip_id", 0, np.uint32)
    v4 = col("ip_version", 0, np.uint8) == 4
    n_rows = len(rows)
    del rows, col

    syn, fin, rst, ackf = (fl & TCP_SYN) > 0, (fl & TCP_FIN) > 0, (fl & TCP_RST) > 0, (fl & TCP_ACK) > 0
    pure_syn, synack = syn & ~ackf, syn & ackf

    # --- who is the client -----------------------------------------------------------------
    client_fwd = np.ones(n, dtype=bool)
    sa_dir = _first(fwd, synack, flow, n)
    client_fwd = np.where(np.isnan(sa_dir), client_fwd, sa_dir == 0)
    syn_dir = _first(fwd, pure_syn, flow, n)
    client_fwd = np.where(np.isnan(syn_dir), client_fwd, syn_dir == 1)
    c2s = fwd == client_fwd[flow]

    # --- handshake ---------------------------------------------------------------------------
    tsf = ts.astype(np.float64)  # the times from here on (exact: integers under 2**53)
    del ts
    syn_first = _agg(tsf, pure_syn & c2s, flow, n, "min")
    synack_ts = _agg(tsf, synack & ~c2s, flow, n, "min")
    syn_last = _agg(tsf, pure_syn & c2s & (tsf <= synack_ts[flow]), flow, n, "max")
    final_ack = c2s & ackf & ~syn & ~rst & (tsf > synack_ts[flow])
    ack_ts = _agg(tsf, final_ack, flow, n, "min")
    syns = np.bincount(flow, weights=pure_syn & c2s, minlength=n).astype(np.int64)
    rst_c = np.bincount(flow, weights=rst & c2s, minlength=n)
    rst_s = np.bincount(flow, weights=rst & ~c2s, minlength=n)
    fins = np.bincount(flow, weights=fin, minlength=n)

    # --- relative sequence numbers per direction -------------------------------------------
    g = flow * 2 + c2s.astype(np.int64)  # flow direction
    g_ids, first_in_g = groups.first_rows(g)
    base = np.full(2 * n, -1, dtype=np.int64)
    base[g_ids] = seq[first_in_g]
    rel = _wrap(seq - base[g])
    del seq
    seg_len = plen + syn.astype(np.int64) + fin.astype(np.int64)
    end = rel + seg_len
    opp_base = base[g ^ 1]
    ack_rel = np.where(opp_base >= 0, _wrap(ack - opp_base), np.iinfo(np.int64).min)
    del opp_base, base

    # the same IPv4 packet captured twice (two interfaces) is not a retransmission
    captured_twice = (v4 & (ip_id != 0)) & groups.duplicated(g, rel, seg_len, ip_id, fl, ack)
    keep = ~captured_twice
    del captured_twice, ip_id, v4

    # --- segments: retransmission, out of order, unseen -----------------------------------
    hs_ns = ack_ts - syn_last
    thr = np.where(np.isnan(hs_ns), ooo_threshold_ms * 1e6, np.maximum(hs_ns, ooo_threshold_ms * 1e6))
    is_seg = keep & (seg_len > 0) & ~rst
    # every per-direction question below looks at a direction's packets in frame order
    by_g = groups.order(g, 2 * n)
    seg = by_g[is_seg[by_g]]  # the segments, direction by direction
    first = groups.starts(g[seg])
    has_prev = ~first
    prev_max = groups.previous(groups.running_max(end[seg], first), first, 0)  # highest end before
    sts = tsf[seg]
    prev_ts = groups.previous(sts, first, np.nan)
    srel, send, slen = rel[seg], end[seg], seg_len[seg]
    seen = groups.duplicated(g[seg], srel)  # the same start again in its direction
    keepalive = has_prev & (slen <= 1) & (srel == prev_max - 1) & ~syn[seg] & ~fin[seg]
    behind = has_prev & (srel < prev_max) & ~keepalive
    fills_hole = behind & ~seen & (send <= prev_max)
    ooo = fills_hole & ((sts - prev_ts) < thr[flow[seg]])
    retrans = behind & ~ooo
    unseen = has_prev & (srel > prev_max)
    del first, has_prev, prev_max, sts, prev_ts, srel, send, slen, seen, keepalive, behind, fills_hole

    seg_idx = seg
    retrans_rows = np.zeros(n_rows, dtype=bool)
    retrans_rows[seg_idx[retrans]] = True
    ooo_rows = np.zeros(n_rows, dtype=bool)
    ooo_rows[seg_idx[ooo]] = True
    unseen_rows = np.zeros(n_rows, dtype=bool)
    unseen_rows[seg_idx[unseen]] = True
    data_segments = np.bincount(flow, weights=is_seg, minlength=n).astype(np.int64)

    # --- duplicate ACKs: same ack and window again while the peer has data in flight ------
    kept = by_g[keep[by_g]]
    first = groups.starts(g[kept])
    same_ack = (
        ~first
        & (ack[kept] == groups.previous(ack[kept], first, 0))
        & (win[kept] == groups.previous(win[kept], first, 0))
    )
    del by_g, first
    # the highest segment end each direction has sent so far (the packet itself included)
    by_flow = groups.order(flow, n)
    first = groups.starts(flow[by_flow])
    none = int(end.min()) - 1
    dir_c2s, seg_end = c2s[by_flow], np.where(is_seg[by_flow], end[by_flow], none)
    high_c2s = groups.running_max(np.where(dir_c2s, seg_end, none), first)
    high_s2c = groups.running_max(np.where(dir_c2s, none, seg_end), first)
    peer_high = np.empty(n_rows, dtype=np.int64)
    peer_high[by_flow] = np.where(dir_c2s, high_s2c, high_c2s)
    del by_flow, first, dir_c2s, seg_end, high_c2s, high_s2c
    pure_ack = ackf & (plen == 0) & ~syn & ~fin & ~rst
    dup_rows = np.zeros(n_rows, dtype=bool)
    dup_rows[kept] = pure_ack[kept] & same_ack & (peer_high[kept] != none) & (peer_high[kept] > ack_rel[kept])
    del kept, same_ack, peer_high

    zero_rows = keep & (win == 0) & ~syn & ~fin & ~rst
    reset_rows = keep & rst

    # --- events --------------------------------------------------------------------------
    parts = []
    for name, mask in (
        ("retransmission", retrans_rows),
        ("out_of_order", ooo_rows),
        ("unseen_segment", unseen_rows),
        ("dup_ack", dup_rows),
        ("zero_window", zero_rows),
        ("reset", reset_rows),
    ):
        idx = np.flatnonzero(mask)
        parts.append(
            pd.DataFrame(
                {
                    "frame": frames[idx],
                    "ts": tsf[idx].astype(np.int64) + t0,
                    "flow": flow_ids[flow[idx]],
                    "direction": np.where(c2s[idx], "c2s", "s2c"),
                    "event": name,
                }
            )
        )
    ev = pd.concat(parts, ignore_index=True).sort_values(["frame", "event"], kind="stable")
    ev["ts"] = pd.to_datetime(ev["ts"], unit="ns", utc=True)
    events = frame(ev, EVENTS_SCHEMA) if len(ev) else empty(EVENTS_SCHEMA)

    # --- RTT samples ---------------------------------------------------------------------
    # a data segment pairs with the first ACK of exactly its end, unless its start was sent twice;
    # (direction, sequence offset) pairs are packed into one int64: offsets span under 2**33
    def key(direction: np.ndarray, offset: np.ndarray) -> np.ndarray:
        out: np.ndarray = direction * (1 << 33) + (offset + (1 << 32))
        return out

    data = np.flatnonzero(is_seg & (plen > 0))
    once = ~groups.repeated(g[data], rel[data])
    if retrans_rows.any():
        once &= ~pd.Index(key(g[data], rel[data])).isin(key(g[retrans_rows], rel[retrans_rows]))
    data = data[once]
    acks = np.flatnonzero(keep & ackf & (ack_rel != np.iinfo(np.int64).min))
    codes, ack_keys = pd.factorize(key(g[acks] ^ 1, ack_rel[acks]))
    acks = acks[groups.first_rows(codes)[1]]  # the first ACK of each (direction, end)
    hit = pd.Index(ack_keys).get_indexer(key(g[data], end[data]))
    data, acks = data[hit >= 0], acks[hit[hit >= 0]]
    later = tsf[acks] >= tsf[data]
    data, acks = data[later], acks[later]
    rtt = frame(
        {
            "flow": flow_ids[g[data] // 2],
            "direction": np.where(g[data] % 2 == 1, "c2s", "s2c"),
            "frame": frames[data],
            "ack_frame": frames[acks],
            "ts": pd.to_datetime(tsf[data].astype(np.int64) + t0, unit="ns", utc=True),
            "rtt_ms": (tsf[acks] - tsf[data]) / 1e6,
        },
        RTT_SCHEMA,
    ).sort_values("frame", ignore_index=True)
    rtt_median = rtt.groupby("flow")["rtt_ms"].median().reindex(flow_ids).to_numpy()

    # --- per-flow table --------------------------------------------------------------------
    ends_tbl = flows.endpoints(packets, labels).set_index("flow").reindex(flow_ids)
    cf = client_fwd[ids]
    a_addr, b_addr = ends_tbl["a"].to_numpy(), ends_tbl["b"].to_numpy()
    a_port, b_port = ends_tbl["a_port"].to_numpy(), ends_tbl["b_port"].to_numpy()
    first_ts = _agg(tsf, np.ones(n_rows, dtype=bool), flow, n, "min")[ids]
    last_ts = _agg(tsf, np.ones(n_rows, dtype=bool), flow, n, "max")[ids]

    has_syn, has_synack, has_ack = (
        ~np.isnan(syn_first[ids]),
        ~np.isnan(synack_ts[ids]),
        ~np.isnan(ack_ts[ids]),
    )
    state = np.select(
        [
            has_synack & has_ack,
            has_synack,
            has_syn & (rst_s[ids] > 0),
            has_syn,
        ],
        ["established", "incomplete", "refused", "unanswered"],
        default="mid_stream",
    )
    resets = (rst_c + rst_s)[ids].astype(np.int64)
    closed = np.where(resets > 0, "reset", np.where(fins[ids] > 0, "fin", "open"))
    reset_by = np.select(
        [(rst_c[ids] > 0) & (rst_s[ids] > 0), rst_c[ids] > 0, rst_s[ids] > 0],
        ["both", "client", "server"],
        default="",
    )

    def ms(x: np.ndarray) -> pd.Series:
        return pd.Series(x / 1e6, dtype="Float64")

    cnt = {
        name: np.bincount(flow, weights=rows, minlength=n).astype(np.int64)[ids]
        for name, rows in (
            ("retransmissions", retrans_rows),
            ("out_of_order", ooo_rows),
            ("unseen_segments", unseen_rows),
            ("dup_acks", dup_rows),
            ("zero_window", zero_rows),
        )
    }
    segs = data_segments[ids]
    health = frame(
        {
            "flow": flow_ids,
            "client": np.where(cf, a_addr, b_addr),
            "client_port": pd.array(np.where(cf, a_port, b_port), dtype="UInt16"),
            "server": np.where(cf, b_addr, a_addr),
            "server_port": pd.array(np.where(cf, b_port, a_port), dtype="UInt16"),
            "state": state,
            "closed": closed,
            "packets": np.bincount(flow, minlength=n).astype(np.int64)[ids],
            "bytes": np.bincount(flow, weights=wire, minlength=n).astype(np.int64)[ids],
            "payload_c2s_bytes": np.bincount(flow, weights=plen * c2s, minlength=n).astype(np.int64)[ids],
            "payload_s2c_bytes": np.bincount(flow, weights=plen * ~c2s, minlength=n).astype(np.int64)[ids],
            "start": pd.to_datetime(first_ts.astype(np.int64) + t0, unit="ns", utc=True),
            "end": pd.to_datetime(last_ts.astype(np.int64) + t0, unit="ns", utc=True),
            "duration_s": (last_ts - first_ts) / 1e9,
            "syns": syns[ids],
            "handshake_rtt_ms": ms(ack_ts[ids] - syn_last[ids]),
            "syn_synack_ms": ms(synack_ts[ids] - syn_last[ids]),
            "synack_ack_ms": ms(ack_ts[ids] - synack_ts[ids]),
            "connect_ms": ms(ack_ts[ids] - syn_first[ids]),
            "data_segments": segs,
            **cnt,
            "retransmission_rate": np.where(segs > 0, cnt["retransmissions"] / np.maximum(segs, 1), 0.0),
            "resets": resets,
            "reset_by": pd.Series(reset_by, dtype="string").replace("", pd.NA),
            "rtt_median_ms": pd.Series(rtt_median[ids], dtype="Float64"),
        },
        HEALTH_SCHEMA,
    )
    heap.release()  # the temporaries above were ~150 MB for a million packets
    return Analysis(health=health, events=events, rtt=rtt)


def ranked(health: pd.DataFrame) -> pd.DataFrame:
    """Flows with the most trouble first (retransmissions, resets, zero windows, failed handshakes)."""
    failed = health["state"].isin(NEVER_COMPLETED).astype("int64")
    score = health["retransmissions"] + health["resets"] + health["zero_window"] + health["dup_acks"] + failed
    order = score.sort_values(ascending=False, kind="stable").index
    return health.loc[order].reset_index(drop=True)


def never_completed(health: pd.DataFrame) -> pd.DataFrame:
    """Connections whose handshake did not finish (refused, unanswered, incomplete)."""
    return health[health["state"].isin(NEVER_COMPLETED)].reset_index(drop=True)


def _empty() -> Analysis:
    return Analysis(health=empty(HEALTH_SCHEMA), events=empty(EVENTS_SCHEMA), rtt=empty(RTT_SCHEMA))


def _wrap(delta: np.ndarray) -> np.ndarray:
    """A 32-bit sequence difference as a signed offset in [-2**31, 2**31)."""
    import numpy as np

    out: np.ndarray = ((delta + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)
    return out.astype(np.int64, copy=False)


def _agg(values: np.ndarray, mask: np.ndarray, flow: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-flow min/max of ``values`` where ``mask``; NaN for flows without such packets."""
    import numpy as np

    if not mask.any():
        return np.full(n, np.nan)
    f = flow[mask]
    out = np.full(n, np.inf if how == "min" else -np.inf)
    (np.minimum if how == "min" else np.maximum).at(out, f, values[mask])
    out[np.bincount(f, minlength=n) == 0] = np.nan
    return out


def _first(values: np.ndarray, mask: np.ndarray, flow: np.ndarray, n: int) -> np.ndarray:
    """Per-flow value of the first packet where ``mask`` (as float, NaN when none)."""
    import numpy as np

    out = np.full(n, np.nan)
    if mask.any():
        uniq, first = groups.first_rows(np.where(mask, flow, -1))
        out[uniq] = values[first].astype(np.float64)
    return out
