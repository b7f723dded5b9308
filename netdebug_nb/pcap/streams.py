"""TCP byte streams of the few flows whose application data is worth reading (HTTP, gRPC, TLS).

The packet table answers "how healthy is each connection" for millions of packets without
touching payloads. "What did the application say" needs the bytes, in order, per direction, with
the time each byte arrived: that is this module, run only on candidate flows (server port in a
list given, or a first payload that looks like HTTP/TLS/HTTP-2), so its per-segment Python loop costs
in proportion to the L7 traffic, not to the capture.

Reassembly follows the receiver: segments are placed by relative sequence number, a segment that
only repeats bytes already placed (a retransmission) adds nothing, a partial overlap adds its new
tail, and the first hole (bytes the capture never saw) ends the stream there, with the offset
recorded so the parsers can say "cut at a gap" instead of misreading what follows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from netdebug_nb.pcap.schema import TCP_FIN, TCP_RST, TCP_SYN

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

L7_PORTS: tuple[int, ...] = ()
"""Server ports whose flows are always read (the notebook's ``l7_ports``); other flows are read
when their first payload bytes look like HTTP/1.x, the HTTP/2 preface or a TLS handshake."""

SNIFF_BYTES = 24


class Segment(NamedTuple):  # a tuple: built once per payload packet, ~3x cheaper than a dataclass
    offset: int  # position of data[0] in the direction's byte stream
    ts_ns: int  # capture time of the packet that brought these bytes first
    frame: int
    data: bytes


@dataclass
class Half:
    """One direction of a connection, reassembled in order up to the first hole."""

    segments: list[Segment] = field(default_factory=list)
    gap_at: int | None = None  # offset of the first byte the capture never saw (None: no hole)
    fin: bool = False  # a FIN was seen in this direction

    @property
    def size(self) -> int:
        return self.segments[-1].offset + len(self.segments[-1].data) if self.segments else 0

    def data(self) -> bytes:
        return b"".join(s.data for s in self.segments)

    def index(self, offset: int) -> int:
        """Index of the segment holding byte ``offset`` (-1 past the end)."""
        lo, hi = 0, len(self.segments)
        while lo < hi:
            mid = (lo + hi) // 2
            s = self.segments[mid]
            if offset < s.offset:
                hi = mid
            elif offset >= s.offset + len(s.data):
                lo = mid + 1
            else:
                return mid
        return -1

    def arrived(self, start: int, end: int) -> tuple[int, int, int] | None:
        """(first byte ts, ts when the last of [start, end) had arrived, frame of that packet).

        The second is the latest arrival among the covering segments: a message is complete only
        once its last missing piece (maybe a retransmission) came, which is when a receiver, and
        Wireshark's reassembly, sees it.
        """
        i = self.index(start)
        if i < 0:
            return None
        first = self.segments[i]
        latest_ts, latest_frame = first.ts_ns, first.frame
        while i < len(self.segments) and self.segments[i].offset < end:
            s = self.segments[i]
            if s.ts_ns > latest_ts:
                latest_ts, latest_frame = s.ts_ns, s.frame
            i += 1
        return first.ts_ns, latest_ts, latest_frame


@dataclass
class Stream:
    flow: int
    client: str
    client_port: int
    server: str
    server_port: int
    c2s: Half
    s2c: Half
    syn_seen: bool  # the handshake was captured: the streams start at their first byte

    def sniff(self) -> str:
        """What the client's first bytes look like: http1 | http2 | tls | '' (unknown)."""
        return sniff(self.c2s.segments[0].data if self.c2s.segments else b"")


HTTP_METHODS = (
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
)
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def sniff(first: bytes) -> str:
    if first.startswith(H2_PREFACE[: min(len(first), len(H2_PREFACE))]) and first[:3] == b"PRI":
        return "http2"
    if first.startswith(HTTP_METHODS):
        return "http1"
    if len(first) >= 3 and first[0] == 0x16 and first[1] == 0x03 and first[2] <= 0x04:
        return "tls"
    return ""


def candidates(
    packets: pd.DataFrame, labels: pd.DataFrame, health: pd.DataFrame, ports: Sequence[int] = L7_PORTS
) -> tuple[np.ndarray, np.ndarray]:
    """(flows read for their server port, first-payload frames of the other TCP flows to sniff)."""
    import numpy as np

    if health.empty:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    by_port = health.loc[health["server_port"].isin(list(ports)), "flow"].to_numpy(dtype=np.int64)
    plen = packets["payload_len"].to_numpy(dtype=np.int64, na_value=0)
    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0)
    flags = packets["tcp_flags"].to_numpy(dtype=np.int64, na_value=0)
    seq = packets["tcp_seq"].to_numpy(dtype=np.int64, na_value=0)
    flow = labels["flow"].to_numpy(dtype=np.int64)
    frames = packets["frame"].to_numpy(dtype=np.int64)
    tcp = (proto == 6) & (flow >= 0) & ~np.isin(flow, by_port)
    # the client's first byte follows its SYN; without a captured SYN, the first payload packet
    syn = tcp & ((flags & (TCP_SYN | 0x10)) == TCP_SYN)
    first_byte = np.full(int(flow.max()) + 1 if len(flow) else 0, -1, dtype=np.int64)
    first_byte[flow[syn]] = (seq[syn] + 1) & 0xFFFFFFFF
    data = tcp & (plen > 0)
    starts = data & (seq == first_byte[np.where(flow >= 0, flow, 0)])
    pick = np.where(starts)[0]
    no_syn = data & (first_byte[np.where(flow >= 0, flow, 0)] < 0)
    pick = np.concatenate([pick, np.where(no_syn)[0]])
    order = np.argsort(frames[pick], kind="stable")
    pick = pick[order]
    _, first = np.unique(flow[pick], return_index=True)
    return by_port, frames[pick[first]]


def data_frames(packets: pd.DataFrame, labels: pd.DataFrame, flows: Iterable[int]) -> np.ndarray:
    """Frame numbers of the packets of ``flows`` that carry TCP payload, SYN, FIN or RST."""
    import numpy as np

    want = np.asarray(sorted(set(flows)), dtype=np.int64)
    flow = labels["flow"].to_numpy(dtype=np.int64)
    fl = packets["tcp_flags"].to_numpy(dtype=np.int64, na_value=0)
    plen = packets["payload_len"].to_numpy(dtype=np.int64, na_value=0)
    sel = np.isin(flow, want) & ((plen > 0) | ((fl & (TCP_SYN | TCP_FIN | TCP_RST)) > 0))
    out: np.ndarray = packets["frame"].to_numpy(dtype=np.int64)[sel]
    return out


def reassemble(
    packets: pd.DataFrame,
    labels: pd.DataFrame,
    health: pd.DataFrame,
    flows: Iterable[int],
    raw: Mapping[int, bytes],
) -> Iterator[Stream]:
    """The two byte streams of each flow in ``flows``; ``raw`` maps frame → captured packet bytes."""
    import numpy as np

    want = set(int(f) for f in flows)
    if not want:
        return
    flow_col = labels["flow"].to_numpy(dtype=np.int64)
    sel = np.isin(flow_col, np.asarray(sorted(want), dtype=np.int64))
    p = packets[sel]
    fl_ = flow_col[sel]
    order = np.lexsort((p["frame"].to_numpy(dtype=np.int64), fl_))
    p, fl_ = p.iloc[order], fl_[order]
    cols_h = ["flow", "client", "client_port", "server", "server_port"]
    mine = health.loc[health["flow"].isin(list(want)), cols_h]
    h: dict[int, dict[Any, Any]] = {int(r["flow"]): r for r in mine.to_dict("records")}
    frame_a, sport_a, flags_a, seq_a, plen_a, off_a = (
        p[c].to_numpy(dtype=np.int64, na_value=0)
        for c in ("frame", "sport", "tcp_flags", "tcp_seq", "payload_len", "l4_offset")
    )
    src = p["src"].astype("string").to_numpy(dtype=object, na_value="")
    ts_a = np.asarray(p["ts"].array.asi8, dtype=np.int64)
    # direction of every packet at once: from the flow's client (address and port) or not
    client_of = np.array([str(h[f]["client"]) if f in h else "" for f in fl_.tolist()], dtype=object)
    cport_of = np.array([int(h[f]["client_port"]) if f in h else -1 for f in fl_.tolist()], dtype=np.int64)
    c2s_a = (src == client_of) & (sport_a == cport_of)
    bounds = np.flatnonzero(np.diff(fl_)) + 1
    starts_, ends_ = np.r_[0, bounds].tolist(), np.r_[bounds, len(fl_)].tolist()
    carries = (plen_a > 0).tolist()
    frames, seqs, plens, offs, ts, c2s = (a.tolist() for a in (frame_a, seq_a, plen_a, off_a, ts_a, c2s_a))
    # per flow and direction, the first sequence number (the last SYN's + 1, as a receiver takes
    # it; rows are in (flow, frame) order) and whether a FIN was seen
    isn_at: dict[tuple[int, bool], int] = {}
    for i in np.flatnonzero(flags_a & TCP_SYN).tolist():
        isn_at[(int(fl_[i]), c2s[i])] = (seqs[i] + 1) & 0xFFFFFFFF
    fin_of = {(int(fl_[i]), c2s[i]) for i in np.flatnonzero(flags_a & TCP_FIN).tolist()}
    for lo, hi in zip(starts_, ends_, strict=True):
        f = int(fl_[lo])
        meta = h.get(f)
        if meta is None:
            continue
        pieces: dict[bool, list[tuple[int, int, int, int, bytes]]] = {True: [], False: []}
        for i in range(lo, hi):
            if not carries[i]:
                continue
            pkt = raw.get(frames[i])
            if pkt is None:
                continue
            start, n = offs[i], plens[i]
            # shorter than n when the snap length cut it
            pieces[c2s[i]].append((seqs[i], ts[i], frames[i], n, pkt[start : start + n]))
        yield Stream(
            flow=f,
            client=str(meta["client"]),
            client_port=int(meta["client_port"]),
            server=str(meta["server"]),
            server_port=int(meta["server_port"]),
            c2s=_half(pieces[True], isn_at.get((f, True)), (f, True) in fin_of),
            s2c=_half(pieces[False], isn_at.get((f, False)), (f, False) in fin_of),
            syn_seen=(f, True) in isn_at,
        )


def _half(pieces: list[tuple[int, int, int, int, bytes]], isn: int | None, fin: bool) -> Half:
    """Place pieces in arrival order, each byte kept from the packet that brought it first."""
    import bisect

    half = Half(fin=fin)
    if not pieces:
        return half
    base = isn if isn is not None else min(p[0] for p in pieces)
    # the common case: in order, no overlap, nothing cut: the pieces are the stream as they are
    expected = 0
    for seq, _ts, _frame, n, data in pieces:
        if (seq - base) & 0xFFFFFFFF != expected or len(data) != n:
            break
        expected += n
    else:
        half.segments = [
            Segment((seq - base) & 0xFFFFFFFF, ts, frame, data) for seq, ts, frame, _n, data in pieces
        ]
        return half
    starts: list[int] = []  # covered intervals, sorted and disjoint
    ends: list[int] = []
    placed: list[Segment] = []
    cut_at: int | None = None  # a snap-length cut: bytes from here were never captured
    for seq, ts, frame, n, data in sorted(pieces, key=lambda p: (p[1], p[2])):
        rel = (seq - base) & 0xFFFFFFFF
        if rel >= 1 << 31:  # before the base: a stray old segment
            continue
        if len(data) < n:
            cut = rel + len(data)
            cut_at = cut if cut_at is None else min(cut_at, cut)
        lo, hi = rel, rel + len(data)
        i = bisect.bisect_right(ends, lo)
        pos = lo
        while pos < hi:
            if i < len(starts) and starts[i] <= pos:
                pos = max(pos, ends[i])
                i += 1
                continue
            stop = min(hi, starts[i]) if i < len(starts) else hi
            if stop > pos:
                placed.append(Segment(pos, ts, frame, data[pos - rel : stop - rel]))
                starts.insert(i, pos)
                ends.insert(i, stop)
                i += 1
            pos = stop
    placed.sort(key=lambda seg: seg.offset)
    expected = 0
    for seg in placed:
        if seg.offset > expected:
            half.gap_at = expected
            return half
        half.segments.append(seg)
        expected = seg.offset + len(seg.data)
    if cut_at is not None and cut_at >= expected:
        half.gap_at = expected
    return half
