"""HTTP/2 (and so gRPC) streams, resets and GOAWAYs, from reassembled cleartext TCP streams.

Frames are cut with hyperframe and header blocks decoded with hpack, one decoder per direction,
as the endpoints do. HPACK is stateful: a capture that starts after the connection's first
header blocks cannot decode the names and values that refer to the dynamic table, so a stream
without the client preface is reported as "not decodable" instead of guessed at (the frames'
types, stream ids and RST/GOAWAY error codes are still read where the framing is intact).

gRPC is HTTP/2 with ``content-type: application/grpc``; its outcome is the ``grpc-status`` of the
trailers (or of a trailers-only response), not the HTTP status, which is 200 for most gRPC errors.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netdebug_nb.pcap.streams import H2_PREFACE, Half, Stream
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

STREAMS_SCHEMA: Schema = {
    "flow": "int64",
    "client": "string",
    "server": "string",
    "server_port": "UInt16",
    "stream_id": "int64",
    "method": "string",
    "authority": "string",
    "path": "string",  # for gRPC /package.Service/Method
    "grpc": "boolean",  # content-type application/grpc
    "status": "UInt16",  # :status
    "grpc_status": "Int64",  # from the trailers (0 OK); empty when not gRPC or not seen
    "grpc_code": "string",  # its name (UNAVAILABLE, DEADLINE_EXCEEDED …)
    "grpc_message": "string",
    "request_ts": "datetime64[ns, UTC]",  # client HEADERS
    "response_ts": "datetime64[ns, UTC]",  # first server HEADERS
    "end_ts": "datetime64[ns, UTC]",  # server END_STREAM (trailers) or RST_STREAM
    "server_ms": "Float64",  # request → first response headers
    "rst_code": "string",  # RST_STREAM error code name, when reset
    "rst_by": "string",  # client | server
    "error": "string",  # '' | no response | …
}

EVENTS_SCHEMA: Schema = {
    "flow": "int64",
    "ts": "datetime64[ns, UTC]",
    "frame": "int64",
    "from": "string",  # client | server
    "kind": "string",  # goaway | rst_stream | undecodable
    "stream_id": "int64",  # RST: the stream; GOAWAY: last stream id processed
    "code": "string",  # error code name
    "detail": "string",
}

ERROR_CODES = {
    0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR", 4: "SETTINGS_TIMEOUT",
    5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL", 9: "COMPRESSION_ERROR",
    10: "CONNECT_ERROR", 11: "ENHANCE_YOUR_CALM", 12: "INADEQUATE_SECURITY", 13: "HTTP_1_1_REQUIRED",
}  # fmt: skip

GRPC_CODES = {
    0: "OK", 1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}  # fmt: skip


@dataclass
class Result:
    streams: pd.DataFrame  # STREAMS_SCHEMA
    events: pd.DataFrame  # EVENTS_SCHEMA


@dataclass
class _Frame:
    ts_ns: int
    frame: int
    obj: Any


@dataclass
class _Side:
    frames: list[_Frame] = field(default_factory=list)
    error: str = ""


def analyze(streams: Iterable[Stream]) -> Result:
    """Every HTTP/2 stream and connection-level event in the HTTP/2 connections of ``streams``."""
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for s in streams:
        if s.sniff() == "http2" or _looks_like_frames(s.c2s):
            _connection(s, rows, events)
    out_rows = (
        frame(rows, STREAMS_SCHEMA).sort_values(["request_ts", "flow", "stream_id"], ignore_index=True)
        if rows
        else empty(STREAMS_SCHEMA)
    )
    out_events = frame(events, EVENTS_SCHEMA) if events else empty(EVENTS_SCHEMA)
    return Result(out_rows, out_events)


def _looks_like_frames(half: Half) -> bool:
    """HTTP/2 without the preface: a SETTINGS frame on stream 0 first (capture started late)."""
    if not half.segments:
        return False
    d = half.segments[0].data
    return len(d) >= 9 and d[3] == 0x4 and d[5:9] == b"\0\0\0\0" and int.from_bytes(d[:3], "big") % 6 == 0


def _frames(half: Half, skip: int) -> _Side:
    """Cut a direction into frames, each with the arrival time of its last byte."""
    from hyperframe.exceptions import InvalidFrameError
    from hyperframe.frame import Frame

    side = _Side()
    data = half.data()
    pos = skip
    while pos + 9 <= len(data):
        try:
            f, length = Frame.parse_frame_header(memoryview(data[pos : pos + 9]), strict=False)
        except (InvalidFrameError, ValueError) as exc:
            side.error = f"not HTTP/2 framing at byte {pos}: {exc}"
            break
        if pos + 9 + length > len(data):
            break  # the rest was not captured
        try:
            f.parse_body(memoryview(data[pos + 9 : pos + 9 + length]))
        except (InvalidFrameError, ValueError) as exc:
            side.error = f"bad frame at byte {pos}: {exc}"
            break
        when = half.arrived(pos, pos + 9 + length)
        if when is not None:
            side.frames.append(_Frame(when[1], when[2], f))
        pos += 9 + length
    return side


def _connection(s: Stream, rows: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    import hpack
    import pandas as pd
    from hyperframe.frame import (
        ContinuationFrame,
        GoAwayFrame,
        HeadersFrame,
        RstStreamFrame,
        SettingsFrame,
    )

    preface = s.c2s.data()[: len(H2_PREFACE)] == H2_PREFACE
    cside = _frames(s.c2s, len(H2_PREFACE) if preface else 0)
    sside = _frames(s.s2c, 0)
    base = {"flow": s.flow, "client": s.client, "server": s.server, "server_port": s.server_port}
    decodable = preface
    if not preface:
        first = next(iter(cside.frames), None)
        events.append(
            {
                "flow": s.flow,
                "ts": pd.Timestamp(first.ts_ns if first else 0, tz="UTC"),
                "frame": first.frame if first else 0,
                "from": "client",
                "kind": "undecodable",
                "stream_id": 0,
                "code": "",
                "detail": "HTTP/2 without the client preface (the capture started after it): header "
                "blocks cannot be decoded (HPACK state unknown); resets and GOAWAYs are still read",
            }
        )
    merged = sorted(
        [(f.ts_ns, 0, f) for f in cside.frames] + [(f.ts_ns, 1, f) for f in sside.frames],
        key=lambda x: (x[0], x[1]),
    )
    decoders = {0: hpack.Decoder(), 1: hpack.Decoder()}
    pending: dict[int, bytes] = {}
    st: dict[int, dict[str, Any]] = {}

    def stream(sid: int) -> dict[str, Any]:
        if sid not in st:
            st[sid] = {**base, **{k: None for k in STREAMS_SCHEMA if k not in base}, "stream_id": sid}
            st[sid]["error"] = ""
            st[sid]["grpc"] = False
        return st[sid]

    for ts, side, fr in merged:
        f = fr.obj
        who = "client" if side == 0 else "server"
        if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
            size = f.settings.get(SettingsFrame.HEADER_TABLE_SIZE)
            if size is not None:
                decoders[1 - side].header_table_size = size  # the peer's encoder limit
        if isinstance(f, HeadersFrame | ContinuationFrame):
            block = pending.pop(f.stream_id * 2 + side, b"") + bytes(f.data)
            if "END_HEADERS" not in f.flags:
                pending[f.stream_id * 2 + side] = block
                continue
            row = stream(f.stream_id)
            if not decodable:
                continue
            try:
                headers = {
                    (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                    for k, v in decoders[side].decode(block)
                }
            except hpack.HPACKError as exc:
                decodable = False
                row["error"] = f"header block not decodable: {exc}"
                continue
            _headers(row, headers, side, ts)
            if side == 1 and "END_STREAM" in f.flags:
                row["end_ts"] = pd.Timestamp(ts, tz="UTC")
        elif isinstance(f, RstStreamFrame):
            row = stream(f.stream_id)
            if not row["rst_code"]:  # the first reset says why; the peer's answer to it does not
                row["rst_code"] = ERROR_CODES.get(f.error_code, str(f.error_code))
                row["rst_by"] = who
            row["end_ts"] = row["end_ts"] or pd.Timestamp(ts, tz="UTC")
            events.append(_event(s, ts, fr.frame, who, "rst_stream", f.stream_id, f.error_code, ""))
        elif isinstance(f, GoAwayFrame):
            detail = bytes(f.additional_data).decode("utf-8", "replace")
            events.append(_event(s, ts, fr.frame, who, "goaway", f.last_stream_id, f.error_code, detail))
        elif f.type == 0x0 and side == 1 and "END_STREAM" in f.flags and f.stream_id in st:
            st[f.stream_id]["end_ts"] = pd.Timestamp(ts, tz="UTC")
    for sid, row in st.items():
        if sid == 0:
            continue
        if row["status"] is None and not row["rst_code"] and not row["error"]:
            row["error"] = "no response" if decodable else "not decodable"
        if row["request_ts"] is not None and row["response_ts"] is not None:
            row["server_ms"] = (row["response_ts"].value - row["request_ts"].value) / 1e6
        rows.append(row)
    for side_, err in (("client", cside.error), ("server", sside.error)):
        if err:
            events.append(_event(s, 0, 0, side_, "undecodable", 0, None, err))


def _headers(row: dict[str, Any], h: dict[str, str], side: int, ts: int) -> None:
    import pandas as pd

    when = pd.Timestamp(ts, tz="UTC")
    if side == 0:
        if ":method" in h:
            row.update(
                method=h[":method"], path=h.get(":path"), authority=h.get(":authority"), request_ts=when
            )
            row["grpc"] = h.get("content-type", "").startswith("application/grpc")
        return
    if ":status" in h and row["status"] is None:
        row["status"] = int(h[":status"])
        row["response_ts"] = when
        if h.get("content-type", "").startswith("application/grpc"):
            row["grpc"] = True
    if "grpc-status" in h:
        code = int(h["grpc-status"])
        row.update(
            grpc_status=code, grpc_code=GRPC_CODES.get(code, str(code)), grpc_message=h.get("grpc-message")
        )


def _event(
    s: Stream, ts: int, fr: int, who: str, kind: str, sid: int, code: int | None, detail: str
) -> dict[str, Any]:
    import pandas as pd

    return {
        "flow": s.flow,
        "ts": pd.Timestamp(ts, tz="UTC"),
        "frame": fr,
        "from": who,
        "kind": kind,
        "stream_id": sid,
        "code": "" if code is None else ERROR_CODES.get(code, str(code)),
        "detail": detail,
    }
