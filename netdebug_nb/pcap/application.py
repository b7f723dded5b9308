"""What the application saw, from the capture: HTTP/1.x, HTTP/2 / gRPC and TLS per server, with
the network round trip (TCP handshake) next to the server's think time, and their findings.

"Is it the network or the app?" has a direct answer here: for each server, the SYN → SYN/ACK time
is the network (and the server's kernel), the request → first response byte time is the
application. A server whose handshakes take 0.3 ms and whose responses take 800 ms is slow; one
whose handshakes take 300 ms has a network (or an overloaded accept queue) problem.

:func:`read` is the I/O edge (payload bytes of the candidate flows only, see :mod:`.streams`);
:func:`analyze` is pure over the packet table and those bytes.

Captures too big for one packet table get the same tables: the flow-bucket analysis
(:mod:`.partition`) runs :func:`read` on each bucket (a bucket holds whole flows, its packets
know their files and offsets) and :func:`combine` merges the buckets' tables, flows numbered as
one analysis numbers them. A Parquet export (:mod:`.dataset`) stores these tables, made at
export time, next to the others: an export must stay usable where its captures are not (moved,
deleted, or on another machine), and its own packet table has no payloads to re-read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.findings import Finding
from netdebug_nb.pcap import http, http2, streams, tls
from netdebug_nb.schema import Schema, empty, frame

if TYPE_CHECKING:
    import pandas as pd

SERVERS_SCHEMA: Schema = {
    "server": "string",
    "server_port": "UInt16",
    "protocol": "string",  # http | grpc | http2 | tls
    "connections": "int64",  # TCP connections to it in the capture
    "handshake_p50_ms": "Float64",  # SYN → SYN/ACK (network + server kernel), median
    "handshake_p90_ms": "Float64",
    "requests": "int64",  # HTTP requests / HTTP-2 streams / TLS handshakes
    "server_p50_ms": "Float64",  # request complete → first response byte (the application), median
    "server_p90_ms": "Float64",
    "server_p99_ms": "Float64",
    "server_max_ms": "Float64",
    "errors": "int64",  # 5xx, non-OK grpc-status, resets, fatal alerts
    "verdict": "string",  # application | network | ok | '' (not enough data)
}


@dataclass(frozen=True)
class Thresholds:
    """The numbers behind each L7 finding; the notebook exposes every one as a parameter."""

    server_slow_ms: float = 500.0
    """p90 server time (request → first response byte) above which a server is slow."""
    errors_5xx_rate: float = 0.01
    """Share of a server's responses that are 5xx above which it is reported (critical from 10×)."""
    tls_handshake_slow_ms: float = 300.0
    """ClientHello → first encrypted client record above which a TLS handshake is slow."""
    min_requests: int = 1
    """Servers with fewer requests are not judged."""


@dataclass
class Application:
    http: pd.DataFrame  # http.EXCHANGES_SCHEMA
    h2: pd.DataFrame  # http2.STREAMS_SCHEMA
    h2_events: pd.DataFrame  # http2.EVENTS_SCHEMA
    tls: pd.DataFrame  # tls.HANDSHAKES_SCHEMA
    flows_read: int = 0  # candidate flows reassembled
    notes: list[str] = field(default_factory=list)
    gaps: int = 0  # of those, connections with bytes the capture never saw

    def tables(self) -> dict[str, pd.DataFrame]:
        """The four tables by the names an export gives their files."""
        return {"http": self.http, "http2_streams": self.h2, "http2_events": self.h2_events, "tls": self.tls}


def read(
    path: str | Path,
    packets: pd.DataFrame,
    labels: pd.DataFrame,
    health: pd.DataFrame,
    *,
    ports: Sequence[int] = streams.L7_PORTS,
) -> Application:
    """Read the payloads of the L7 candidate flows of ``path`` and analyse them.

    Only the packets needed are read, at their offsets in their capture files (the packet table
    knows them, also for a capture set): the first payload packet of every TCP flow not on a
    known port (to sniff), then every data packet of the chosen flows.
    """
    from netdebug_nb.pcap import captureset

    known = packets.attrs.get("files") or packets.attrs.get("path")
    paths = () if known else (path,)

    def payloads(rows: pd.DataFrame) -> list[bytes]:
        return captureset.packet_bytes(packets, rows, paths=paths)

    if not str(path) or health.empty:
        return analyze(packets, labels, health, [], {})
    by_port, sniff_frames = streams.candidates(packets, labels, health, ports)
    chosen = set(by_port.tolist())
    if len(sniff_frames):
        sel = packets["frame"].isin(sniff_frames)
        rows = packets[sel]
        flows_of = dict(zip(rows["frame"].tolist(), labels["flow"][sel].tolist(), strict=True))
        firsts = payloads(rows)
        for fr, off, n, raw in zip(
            rows["frame"].tolist(),
            rows["l4_offset"].tolist(),
            rows["payload_len"].tolist(),
            firsts,
            strict=True,
        ):
            if streams.sniff(raw[int(off) : int(off) + min(int(n), streams.SNIFF_BYTES)]):
                chosen.add(int(flows_of[fr]))
    frames = streams.data_frames(packets, labels, chosen).tolist()
    data_rows = packets[packets["frame"].isin(frames)].set_index("frame", drop=False).loc[frames]
    raw_by_frame = dict(zip(frames, payloads(data_rows), strict=True)) if frames else {}
    return analyze(packets, labels, health, sorted(chosen), raw_by_frame)


def analyze(
    packets: pd.DataFrame,
    labels: pd.DataFrame,
    health: pd.DataFrame,
    flows: Sequence[int],
    raw: Mapping[int, bytes],
) -> Application:
    """HTTP, HTTP/2 and TLS tables of ``flows``, whose packets' bytes are in ``raw`` (frame → bytes)."""
    all_streams = list(streams.reassemble(packets, labels, health, flows, raw))
    h2 = http2.analyze(all_streams)
    app = Application(
        http=http.exchanges(all_streams),
        h2=h2.streams,
        h2_events=h2.events,
        tls=tls.handshakes(all_streams),
        flows_read=len(all_streams),
    )
    app.gaps = sum(1 for s in all_streams if s.c2s.gap_at is not None or s.s2c.gap_at is not None)
    app.notes.extend(gap_notes(app))
    return app


def gap_notes(app: Application) -> list[str]:
    """The note an analysis adds when streams stop at a hole in the capture."""
    if not app.gaps:
        return []
    return [
        f"{app.gaps} of {app.flows_read} L7 connection(s) have bytes the capture never saw: read up to the gap"
    ]


def combine(parts: Sequence[Application]) -> Application:
    """One :class:`Application` from those of disjoint sets of flows, numbered already as one.

    Each table is in flow order (streams are analysed flow by flow), so the parts' rows merged
    by flow, keeping each part's own order, are the rows one analysis of every flow gives.
    """
    import pandas as pd

    def cat(tables: list[pd.DataFrame], schema: Schema) -> pd.DataFrame:
        tables = [t for t in tables if len(t)]
        if not tables:
            return empty(schema)
        out = pd.concat(tables, ignore_index=True) if len(tables) > 1 else tables[0]
        return frame(out, schema).sort_values("flow", kind="stable", ignore_index=True)

    app = Application(
        http=cat([p.http for p in parts], http.EXCHANGES_SCHEMA),
        h2=cat([p.h2 for p in parts], http2.STREAMS_SCHEMA),
        h2_events=cat([p.h2_events for p in parts], http2.EVENTS_SCHEMA),
        tls=cat([p.tls for p in parts], tls.HANDSHAKES_SCHEMA),
        flows_read=sum(p.flows_read for p in parts),
        gaps=sum(p.gaps for p in parts),
    )
    app.notes.extend(gap_notes(app))
    return app


def empty_application() -> Application:
    """No L7 connection at all (every table empty, with its schema)."""
    return combine([])


def servers(app: Application, health: pd.DataFrame) -> pd.DataFrame:
    """Per server: network round trip (TCP handshake) next to server time, and a verdict."""
    import numpy as np
    import pandas as pd

    parts = []
    if len(app.http):
        h = app.http
        parts.append(
            pd.DataFrame(
                {
                    "server": h["server"], "server_port": h["server_port"], "protocol": "http",
                    "server_ms": h["server_ms"], "error": h["status"].fillna(0).astype("int64") >= 500,
                }
            )
        )  # fmt: skip
    if len(app.h2):
        g = app.h2
        bad = g["grpc_status"].fillna(0).astype("int64").ne(0) | g["rst_code"].notna() & g["rst_code"].ne("")
        bad |= g["status"].fillna(0).astype("int64") >= 500
        parts.append(
            pd.DataFrame(
                {
                    "server": g["server"], "server_port": g["server_port"],
                    "protocol": np.where(g["grpc"].fillna(False), "grpc", "http2"),
                    "server_ms": g["server_ms"], "error": bad,
                }
            )
        )  # fmt: skip
    if len(app.tls):
        t = app.tls
        served = {(a, b) for p in parts for a, b in zip(p["server"], p["server_port"], strict=True)}
        t = t[[(s, p) not in served for s, p in zip(t["server"], t["server_port"], strict=True)]]
        parts.append(
            pd.DataFrame(
                {
                    "server": t["server"], "server_port": t["server_port"], "protocol": "tls",
                    "server_ms": t["server_hello_ms"], "error": t["alert_level"].eq("fatal").fillna(False),
                }
            )
        )  # fmt: skip
    if not parts:
        return empty(SERVERS_SCHEMA)
    req = pd.concat(parts, ignore_index=True)
    req["server_ms"] = req["server_ms"].astype("float64")
    hs = health[["server", "server_port", "syn_synack_ms"]].astype({"syn_synack_ms": "float64"})
    handshakes = {k: g.dropna().to_numpy() for k, g in hs.groupby(["server", "server_port"])["syn_synack_ms"]}
    counts = hs.groupby(["server", "server_port"]).size().to_dict()
    rows = []
    for (server, port, proto), g in req.groupby(["server", "server_port", "protocol"], sort=False):
        sv = g["server_ms"].to_numpy()
        sv = sv[~np.isnan(sv)]
        hsk = handshakes.get((server, port), np.empty(0))
        p = np.percentile(sv, [50, 90, 99]) if len(sv) else [None] * 3
        row = {
            "server": server, "server_port": port, "protocol": proto,
            "connections": int(counts.get((server, port), 0)),
            "handshake_p50_ms": float(np.median(hsk)) if len(hsk) else None,
            "handshake_p90_ms": float(np.percentile(hsk, 90)) if len(hsk) else None,
            "requests": len(g),
            "server_p50_ms": p[0], "server_p90_ms": p[1], "server_p99_ms": p[2],
            "server_max_ms": float(sv.max()) if len(sv) else None,
            "errors": int(g["error"].sum()),
        }  # fmt: skip
        row["verdict"] = _verdict(row)
        rows.append(row)
    return frame(rows, SERVERS_SCHEMA).sort_values("server_p90_ms", ascending=False, ignore_index=True)


def _verdict(row: Mapping[str, Any]) -> str:
    net, app = row["handshake_p50_ms"], row["server_p50_ms"]
    if app is None:
        return ""
    if net is None:
        return "application" if app >= 100 else "ok"
    if app >= max(100.0, 10 * net):
        return "application"
    if net >= max(50.0, app):
        return "network"
    return "ok"


def slowest(app: Application, top_n: int = 10) -> pd.DataFrame:
    """The slowest HTTP requests and HTTP/2 streams, with the flow and frames to open with dissect."""
    import pandas as pd

    cols = [
        "flow",
        "client",
        "server",
        "server_port",
        "method",
        "path",
        "status",
        "server_ms",
        "request_frame",
        "response_frame",
    ]
    a = app.http[cols] if len(app.http) else None
    b = None
    if len(app.h2):
        none = pd.Series([pd.NA] * len(app.h2), index=app.h2.index, dtype="Int64")
        b = app.h2.assign(request_frame=none, response_frame=none)[cols]
    both = [x for x in (a, b) if x is not None]
    if not both:
        return pd.DataFrame(columns=cols)
    out = pd.concat(both, ignore_index=True)
    return (
        out[out["server_ms"].notna()].sort_values("server_ms", ascending=False, ignore_index=True).head(top_n)
    )


def findings(
    app: Application, by_server: pd.DataFrame, th: Thresholds = Thresholds(), *, top_n: int = 5
) -> list[Finding]:
    """``http.*``, ``grpc.errors``, ``http2.resets`` and ``tls.*`` findings, most severe first."""
    from netdebug_nb.findings import sort

    out: list[Finding] = []
    judged = by_server[by_server["requests"] >= th.min_requests]
    slow = judged[
        judged["protocol"].isin(["http", "grpc", "http2"])
        & (judged["server_p90_ms"].fillna(0) > th.server_slow_ms)
    ]
    if len(slow):
        worst = slow.head(top_n)
        out.append(
            Finding(
                "http.server_slow",
                "warning",
                f"{len(slow)} server(s) slow to answer: p90 server time up to {float(slow['server_p90_ms'].max()):.0f} ms",
                "Request complete → first response byte, from the capture. "
                + "; ".join(
                    f"{r['server']}:{r['server_port']} p90 {r['server_p90_ms']:.0f} ms vs TCP handshake "
                    f"{'?' if r['handshake_p50_ms'] is None or r['handshake_p50_ms'] != r['handshake_p50_ms'] else format(r['handshake_p50_ms'], '.2g')} ms "
                    f"({r['verdict'] or 'no verdict'})"
                    for r in _records(worst)
                ),
                {"servers": _records(worst), "threshold_ms": th.server_slow_ms},
            )
        )
    h = app.http
    if len(h):
        status = h["status"].fillna(0).astype("int64")
        for lo, fid, sev in ((500, "http.errors_5xx", "warning"), (400, "http.errors_4xx", "info")):
            bad = h[(status >= lo) & (status < lo + 100)]
            if bad.empty:
                continue
            rate = len(bad) / int((status > 0).sum() or 1)
            if fid == "http.errors_5xx" and rate < th.errors_5xx_rate:
                continue
            severity = "critical" if fid == "http.errors_5xx" and rate >= 10 * th.errors_5xx_rate else sev
            counts = bad.groupby(["server", "server_port", "status"]).size().reset_index(name="count")
            out.append(
                Finding(
                    fid,
                    severity,  # type: ignore[arg-type]
                    f"{len(bad)} HTTP {lo // 100}xx response(s) ({rate:.1%} of responses)",
                    ", ".join(
                        f"{r['server']}:{r['server_port']} → {r['status']} ×{r['count']}"
                        for r in _records(counts.head(top_n))
                    ),
                    {
                        "rate": rate,
                        "by_server": _records(counts),
                        "examples": _records(
                            bad[["flow", "method", "host", "path", "status", "response_frame"]].head(top_n)
                        ),
                    },
                )
            )
    g = app.h2
    if len(g):
        grpc_bad = g[g["grpc_status"].notna() & g["grpc_status"].fillna(0).ne(0)]
        if len(grpc_bad):
            by = grpc_bad.groupby(["grpc_code", "path"]).size().reset_index(name="count")
            out.append(
                Finding(
                    "grpc.errors",
                    "warning",
                    f"{len(grpc_bad)} gRPC call(s) failed: "
                    + ", ".join(f"{c} ×{n}" for c, n in grpc_bad["grpc_code"].value_counts().items()),
                    ", ".join(
                        f"{r['path']} → {r['grpc_code']} ×{r['count']}" for r in _records(by.head(top_n))
                    ),
                    {
                        "by_code": {str(k): int(v) for k, v in grpc_bad["grpc_code"].value_counts().items()},
                        "calls": _records(by),
                    },
                )
            )
    ev = app.h2_events
    resets = ev[
        ev["kind"].isin(["rst_stream", "goaway"]) & ~((ev["kind"] == "goaway") & (ev["code"] == "NO_ERROR"))
    ]
    resets = resets[~((resets["kind"] == "rst_stream") & (resets["code"].isin(["NO_ERROR"])))]
    if len(resets):
        out.append(
            Finding(
                "http2.resets",
                "warning",
                f"{len(resets)} HTTP/2 reset(s)/GOAWAY(s): "
                + ", ".join(
                    f"{r['kind']} {r['code']} ×{r['count']}"
                    for r in _records(resets.groupby(["kind", "code"]).size().reset_index(name="count"))
                ),
                "RST_STREAM cancels one stream (CANCEL from a client is often a deadline), GOAWAY closes the connection.",
                {
                    "events": _records(
                        resets[["flow", "frame", "from", "kind", "stream_id", "code", "detail"]].head(50)
                    )
                },
            )
        )
    t = app.tls
    if len(t):
        alerts = t[t["alert_level"].isin(["fatal", "warning"]) & t["alert"].ne("close_notify")]
        if len(alerts):
            by = (
                alerts.groupby(["server", "server_port", "alert", "alert_from"])
                .size()
                .reset_index(name="count")
            )
            out.append(
                Finding(
                    "tls.alerts",
                    "critical" if alerts["alert_level"].eq("fatal").any() else "warning",
                    f"{len(alerts)} TLS handshake(s) ended by an alert: "
                    + ", ".join(f"{a} ×{n}" for a, n in alerts["alert"].value_counts().items()),
                    "; ".join(
                        f"{r['alert_from']} sent {r['alert']} to/from {r['server']}:{r['server_port']} ×{r['count']}"
                        for r in _records(by.head(top_n))
                    ),
                    {"alerts": _records(by)},
                )
            )
        slow = t[t["handshake_ms"].fillna(0) > th.tls_handshake_slow_ms]
        if len(slow):
            out.append(
                Finding(
                    "tls.handshake_slow",
                    "warning",
                    f"{len(slow)} TLS handshake(s) slower than {th.tls_handshake_slow_ms:g} ms (max {float(slow['handshake_ms'].max()):.0f} ms)",
                    ", ".join(
                        f"{r['sni'] or r['server']} {r['handshake_ms']:.0f} ms"
                        for r in _records(slow.head(top_n))
                    ),
                    {
                        "handshakes": _records(
                            slow[["flow", "server", "server_port", "sni", "server_hello_ms", "handshake_ms"]]
                        )
                    },
                )
            )
        old = t[t["version"].isin(["SSL 3.0", "TLS 1.0", "TLS 1.1"])]
        if len(old):
            out.append(
                Finding(
                    "tls.old_protocol",
                    "warning",
                    f"{len(old)} connection(s) negotiated {', '.join(sorted(set(old['version'])))}",
                    "TLS below 1.2 is deprecated (RFC 8996): "
                    + ", ".join(
                        sorted({f"{r['sni'] or r['server']}:{r['server_port']}" for r in _records(old)})
                    ),
                    {
                        "connections": _records(
                            old[["flow", "server", "server_port", "sni", "version", "cipher"]]
                        )
                    },
                )
            )
        expired = t[t["cert_expired"].fillna(False).astype(bool)]
        if len(expired):
            out.append(
                Finding(
                    "tls.cert_expired",
                    "critical",
                    f"{len(expired)} server certificate(s) seen expired (or not yet valid)",
                    ", ".join(
                        sorted(
                            {
                                f"{r['cert_subject']} (not after {r['cert_not_after']})"
                                for r in _records(expired)
                            }
                        )
                    ),
                    {
                        "certificates": _records(
                            expired[
                                ["flow", "server", "server_port", "sni", "cert_subject", "cert_not_after"]
                            ]
                        )
                    },
                )
            )
    return sort(out)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    from netdebug_nb.findings import jsonable

    out: list[dict[str, Any]] = jsonable(df.to_dict("records"))
    return out
