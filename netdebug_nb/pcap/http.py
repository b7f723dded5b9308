"""HTTP/1.x requests paired with their responses, from reassembled TCP streams.

Parsing is llhttp's (Node.js's parser, through ``httptools``): a request parser over the client's
bytes and a response parser over the server's, fed segment by segment so each message's first
byte and completion are tied to the packets that carried them; responses pair with requests in
order, which is how HTTP/1.1 pairs pipelined and keep-alive requests. A response parser cannot be
told that a request was HEAD (its response has headers only) or that a connection was upgraded,
so connections with HEAD, CONNECT or Upgrade requests are read with h11's state machine instead,
run as a passive observer on both sides (slower, exact).

Times come from the bytes' arrival: a message starts when its first byte was captured and is
complete when its last missing piece arrived. ``server_ms`` (request complete → first response
byte) is the server's think time as seen from the capture point; ``ttlb_ms`` (request complete →
response complete) is what Wireshark calls ``http.time``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netdebug_nb.pcap.streams import Half, Segment, Stream
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

EXCHANGES_SCHEMA: Schema = {
    "flow": "int64",
    "client": "string",
    "client_port": "UInt16",
    "server": "string",
    "server_port": "UInt16",
    "method": "string",
    "host": "string",  # Host header
    "path": "string",  # request target
    "version": "string",  # HTTP version of the request (1.0, 1.1)
    "status": "UInt16",  # empty when no response was captured
    "reason": "string",
    "request_bytes": "Int64",  # headers + body as sent
    "response_bytes": "Int64",
    "request_ts": "datetime64[ns, UTC]",  # first byte of the request
    "response_ts": "datetime64[ns, UTC]",  # first byte of the response
    "response_end_ts": "datetime64[ns, UTC]",  # the response complete
    "server_ms": "Float64",  # request complete → first response byte (server think time)
    "ttlb_ms": "Float64",  # request complete → response complete (Wireshark's http.time)
    "request_frame": "Int64",  # packet that completed the request (Wireshark shows the request there)
    "response_frame": "Int64",  # packet that completed the response
    "error": "string",  # '' | no response | response cut | gap in capture | protocol error: …
}
_BLANK: dict[str, Any] = dict.fromkeys(EXCHANGES_SCHEMA)


def exchanges(streams: Iterable[Stream]) -> pd.DataFrame:
    """One row per request of every HTTP/1.x stream in ``streams`` (others are skipped)."""
    rows: list[dict[str, Any]] = []
    for s in streams:
        if s.sniff() == "http1":
            rows.extend(_fast(s))
    if not rows:
        return empty(EXCHANGES_SCHEMA)
    import pandas as pd

    df = pd.DataFrame.from_records(rows, columns=list(EXCHANGES_SCHEMA))
    for col in ("request_ts", "response_ts", "response_end_ts"):
        df[col] = pd.to_datetime(df[col].astype("Int64"), unit="ns", utc=True)
    out = frame(df, EXCHANGES_SCHEMA)
    return out.sort_values(["request_ts", "flow"], kind="stable", ignore_index=True)


@dataclass
class _Feed:
    """Feeds one direction's segments into an h11 connection as the parser asks for more."""

    half: Half
    conn: Any
    i: int = 0
    fed: int = 0
    eof: bool = False

    def consumed(self) -> int:
        return self.fed - len(self.conn._receive_buffer)

    def next(self) -> Any:
        import h11

        while True:
            ev = self.conn.next_event()
            if ev is not h11.NEED_DATA:
                return ev
            if self.i < len(self.half.segments):
                seg = self.half.segments[self.i]
                self.conn.receive_data(seg.data)
                self.fed += len(seg.data)
                self.i += 1
            elif self.half.fin and self.half.gap_at is None and not self.eof:
                self.conn.receive_data(b"")  # the peer closed: ends a read-until-close body
                self.eof = True
            else:
                return None


@dataclass
class _Message:
    first: int  # index of the segment holding the first byte
    last: int = -1  # index of the segment in which the message completed (-1: not complete)
    method: str = ""
    url: bytes = b""
    version: str = ""
    status: int = 0
    reason: bytes = b""
    host: bytes = b""
    upgrade: bool = False
    head_bytes: int = 0  # request/status line + headers, as parsed
    body_bytes: int = 0
    headers_done: bool = False


class _Collector:
    """httptools callbacks → messages with the index of the segment being fed."""

    def __init__(self, request: bool) -> None:
        self.seg = 0
        self.msgs: list[_Message] = []
        self.request = request
        self.parser: Any = None

    def on_message_begin(self) -> None:
        self.msgs.append(_Message(first=self.seg))

    def on_url(self, url: bytes) -> None:
        self.msgs[-1].url += url

    def on_status(self, status: bytes) -> None:
        self.msgs[-1].reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        m = self.msgs[-1]
        m.head_bytes += len(name) + len(value) + 4
        low = name.lower()
        if low == b"host":
            m.host = value
        elif low == b"upgrade":
            m.upgrade = True

    def on_headers_complete(self) -> None:
        m = self.msgs[-1]
        m.headers_done = True
        m.version = self.parser.get_http_version()
        if self.request:
            m.method = self.parser.get_method().decode("latin-1")
        else:
            m.status = self.parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        self.msgs[-1].body_bytes += len(body)

    def on_message_complete(self) -> None:
        self.msgs[-1].last = self.seg


def _parse(half: Half, parser_type: Any) -> tuple[list[_Message], str, Any]:
    """Messages of one direction; (messages, error text, the parser)."""
    import httptools

    col = _Collector(request=parser_type is httptools.HttpRequestParser)
    parser = col.parser = parser_type(col)
    error = ""
    for i, seg in enumerate(half.segments):
        col.seg = i
        try:
            parser.feed_data(seg.data)
        except httptools.HttpParserUpgrade:
            break
        except httptools.HttpParserError as exc:
            error = f"protocol error: {exc}"
            break
    return col.msgs, error, parser


def _fast(s: Stream) -> list[dict[str, Any]]:
    """Pair requests and responses with llhttp; HEAD/CONNECT/Upgrade connections go to h11."""
    import httptools

    reqs, req_error, _ = _parse(s.c2s, httptools.HttpRequestParser)
    if any(m.method in ("HEAD", "CONNECT") or m.upgrade for m in reqs):
        return _exchanges(s)
    resps, resp_error, _ = _parse(s.s2c, httptools.HttpResponseParser)
    resps = [m for m in resps if not 100 <= m.status < 200]  # interim responses (100 Continue)
    blank = _BLANK | _base(s)  # every column, the connection's filled in: copied per row
    rows: list[dict[str, Any]] = []
    for k, rq in enumerate(reqs):
        row = blank.copy()
        row.update(
            method=rq.method,
            path=rq.url.decode("latin-1"),
            host=rq.host.decode("latin-1"),
            version=rq.version,
            error="",
        )
        if rq.last < 0:  # the capture ends (or a hole opens) inside the request
            row["error"] = "gap in capture" if s.c2s.gap_at is not None else req_error or "request cut"
            rows.append(row)
            break
        rq_first, rq_done, rq_frame = _span(s.c2s, rq)
        row.update(
            request_bytes=len(row["method"]) + len(rq.url) + 12 + rq.head_bytes + 2 + rq.body_bytes,
            request_ts=_ts(rq_first),
            request_frame=rq_frame,
        )
        rs = resps[k] if k < len(resps) else None
        if rs is None or not rs.headers_done:
            if s.s2c.gap_at is not None:
                row["error"] = "gap in capture"
            elif resp_error:
                row["error"] = resp_error
            elif s.s2c.fin and len(resps) <= k:
                row["error"] = "no response (connection closed)"
            else:
                row["error"] = "no response"
            rows.append(row)
            continue
        row.update(status=rs.status, reason=rs.reason.decode("latin-1"))
        if rs.last < 0 and s.s2c.fin and s.s2c.gap_at is None:
            rs.last = len(s.s2c.segments) - 1  # a body read until the server closed
        if rs.last < 0:
            row["error"] = "gap in capture" if s.s2c.gap_at is not None else "response cut"
            first = s.s2c.segments[rs.first]
            row.update(response_ts=_ts(first.ts_ns), server_ms=(first.ts_ns - rq_done) / 1e6)
            rows.append(row)
            continue
        rs_first, rs_done, rs_frame = _span(s.s2c, rs)
        row.update(
            response_bytes=len(rs.reason) + 15 + rs.head_bytes + 2 + rs.body_bytes,
            response_ts=_ts(rs_first),
            response_end_ts=_ts(rs_done),
            response_frame=rs_frame,
            server_ms=(rs_first - rq_done) / 1e6,
            ttlb_ms=(rs_done - rq_done) / 1e6,
        )
        rows.append(row)
    return rows


def _base(s: Stream) -> dict[str, Any]:
    """The connection's columns, the same in every row of it."""
    return {
        "flow": s.flow,
        "client": s.client,
        "client_port": s.client_port,
        "server": s.server,
        "server_port": s.server_port,
    }


def _span(half: Half, m: _Message) -> tuple[int, int, int]:
    """(first byte ts, completion ts, frame that completed it) of a parsed message."""
    segs = half.segments
    first = segs[m.first]
    if m.first == m.last:  # the usual case: a message in one segment
        return first.ts_ns, first.ts_ns, first.frame
    done = max(segs[m.first : m.last + 1], key=_arrival)
    return first.ts_ns, done.ts_ns, done.frame


def _arrival(seg: Segment) -> tuple[int, int]:
    return seg.ts_ns, seg.frame


def _exchanges(s: Stream) -> list[dict[str, Any]]:
    import h11

    srv = _Feed(s.c2s, h11.Connection(h11.SERVER, max_incomplete_event_size=256 * 1024))
    cli = _Feed(s.s2c, h11.Connection(h11.CLIENT, max_incomplete_event_size=256 * 1024))
    base = _base(s)
    rows: list[dict[str, Any]] = []
    while True:
        row: dict[str, Any] = {**base, **{k: None for k in EXCHANGES_SCHEMA if k not in base}}
        row["error"] = ""
        try:
            start = srv.consumed()
            req = srv.next()
            if not isinstance(req, h11.Request):
                break
            while not isinstance(ev := srv.next(), h11.EndOfMessage):
                if ev is None:
                    raise _Cut("request cut")
            end = srv.consumed()
            row.update(_request(req), request_bytes=end - start)
            req_time = srv.half.arrived(start, end)
            if req_time:
                row["request_ts"] = _ts(req_time[0])
                row["request_frame"] = req_time[2]
            cli.conn.send(_as_sent(req))
            cli.conn.send(h11.EndOfMessage())
            resp, rstart = None, cli.consumed()
            while True:
                ev = cli.next()
                if ev is None:
                    raise _Cut("no response" if resp is None else "response cut")
                if isinstance(ev, h11.InformationalResponse):
                    if ev.status_code == 101:
                        row.update(status=101, reason=ev.reason.decode("latin-1"))
                        _times(row, req_time, cli.half.arrived(rstart, cli.consumed()))
                        rows.append(row)
                        return rows  # switched protocols: the rest is not HTTP/1
                    rstart = cli.consumed()
                    continue
                if isinstance(ev, h11.Response):
                    resp = ev
                    row.update(status=ev.status_code, reason=ev.reason.decode("latin-1"))
                elif isinstance(ev, h11.EndOfMessage):
                    break
                elif isinstance(ev, h11.ConnectionClosed):
                    raise _Cut("response cut")
            rend = cli.consumed()
            row["response_bytes"] = rend - rstart
            _times(row, req_time, cli.half.arrived(rstart, rend))
            rows.append(row)
            srv.conn.send(h11.Response(status_code=resp.status_code if resp else 200, headers=[]))
            srv.conn.send(h11.EndOfMessage())
            if not all(c.conn.states == {h11.CLIENT: h11.DONE, h11.SERVER: h11.DONE} for c in (srv, cli)):
                rows.extend(_unanswered(srv, base))  # the server closed: later requests got nothing
                break
            srv.conn.start_next_cycle()
            cli.conn.start_next_cycle()
        except _Cut as cut:
            cut_half = srv.half if cut.args[0] == "request cut" else cli.half
            row["error"] = "gap in capture" if cut_half.gap_at is not None else str(cut)
            if cut.args[0] != "request cut" or row["method"] is not None:
                rows.append(row)
            break
        except h11.RemoteProtocolError as exc:
            row["error"] = f"protocol error: {exc}"
            rows.append(row)
            break
        except h11.LocalProtocolError:
            break  # our bookkeeping cannot follow this exchange (e.g. CONNECT); keep what we have
    return rows


class _Cut(Exception):
    pass


def _unanswered(srv: _Feed, base: dict[str, Any]) -> list[dict[str, Any]]:
    """Requests the client sent after the response that closed the connection (pipelined ones)."""
    import h11

    leftover = bytes(srv.conn._receive_buffer)
    if not leftover and srv.i >= len(srv.half.segments):
        return []
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=256 * 1024)
    if leftover:
        conn.receive_data(leftover)  # (an empty call would mean end of stream to h11)
    feed = _Feed(srv.half, conn, i=srv.i, fed=srv.fed)
    rows: list[dict[str, Any]] = []
    try:
        while True:
            start = feed.consumed()
            req = feed.next()
            if not isinstance(req, h11.Request):
                break
            while not isinstance(ev := feed.next(), h11.EndOfMessage | type(None)):
                pass
            end = feed.consumed()
            row = {**base, **{k: None for k in EXCHANGES_SCHEMA if k not in base}}
            row.update(_request(req), request_bytes=end - start, error="no response (connection closed)")
            when = srv.half.arrived(start, end)
            if when:
                row.update(request_ts=_ts(when[0]), request_frame=when[2])
            rows.append(row)
            if ev is None:
                break
            conn.send(h11.Response(status_code=200, headers=[]))
            conn.send(h11.EndOfMessage())
            conn.start_next_cycle()
    except (h11.RemoteProtocolError, h11.LocalProtocolError):
        pass
    return rows


def _request(req: Any) -> dict[str, Any]:
    host = next((v for k, v in req.headers if k == b"host"), b"")
    return {
        "method": req.method.decode("latin-1"),
        "path": req.target.decode("latin-1"),
        "host": host.decode("latin-1"),
        "version": req.http_version.decode("latin-1"),
    }


def _as_sent(req: Any) -> Any:
    """The request as the client-role parser must believe it sent it: same method, no body framing."""
    import h11

    headers = [(k, v) for k, v in req.headers if k not in (b"content-length", b"transfer-encoding")]
    if not any(k == b"host" for k, _ in headers):
        headers.append((b"host", b"unknown"))
    return h11.Request(method=req.method, target=req.target, headers=headers)


def _ts(ns: int) -> int:
    """Times stay integer ns in the rows; :func:`exchanges` makes the columns datetimes at once."""
    return ns


def _times(row: dict[str, Any], req: tuple[int, int, int] | None, resp: tuple[int, int, int] | None) -> None:
    if resp is None:
        return
    row["response_ts"] = _ts(resp[0])
    row["response_end_ts"] = _ts(resp[1])
    row["response_frame"] = resp[2]
    if req is not None:
        row["server_ms"] = (resp[0] - req[1]) / 1e6
        row["ttlb_ms"] = (resp[1] - req[1]) / 1e6
