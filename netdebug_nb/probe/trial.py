"""One row per request: libcurl's timers, the derived phases, and what went wrong where.

Live trials (pycurl) and saved ``curl -w '%{json}'`` lines go through the same :func:`row`, so a
run someone did by hand reads exactly like one the kit did. The phases follow curl's timer
definitions (all measured from the start of the request)::

    dns      = time_namelookup
    tcp      = time_connect      - time_namelookup
    tls      = time_appconnect   - time_connect        (TLS only)
    server   = time_starttransfer - time_pretransfer    (request sent → first response byte)
    transfer = time_total        - time_starttransfer

A phase that was not reached (the request failed before it) is <NA>, never 0.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema, textfile
from netdebug_nb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.probe.target import Target

PHASES = ("dns", "tcp", "tls", "server", "transfer")
TIMERS = ("namelookup", "connect", "appconnect", "pretransfer", "starttransfer", "total", "redirect")

TRIALS_SCHEMA: schema.Schema = {
    "target": "string",
    "protocol": "string",  # http | https | grpc | grpcs | tcp
    "backend": "string",  # address connected to (the --connect-to address, else the resolved remote_ip)
    "backend_kind": "string",  # direct | clusterip | endpoint
    "backend_name": "string",  # endpoint pod / ClusterIP / <NA>
    "trial": "Int64",  # 0-based, per (target, backend)
    "ts": "datetime64[ns, UTC]",  # start of the trial; NaT for saved curl lines without one
    "ok": "boolean",  # the trial succeeded: transport fine, expected status / SERVING
    "completed": "boolean",  # an answer came back (any HTTP status, a connect, a gRPC reply)
    "status": "Int64",  # HTTP status code; <NA> for tcp/grpc or no response
    "health": "string",  # grpc: SERVING | NOT_SERVING | UNKNOWN | SERVICE_UNKNOWN
    "error_kind": "string",  # "" | refused | reset | timeout | dns | tls | unreachable | http_5xx | not_serving ...
    "error_phase": "string",  # where a timeout hit: dns | connect | tls | server | transfer; "" otherwise
    "error": "string",  # curl's / the TLS library's / gRPC's message, "" when ok
    "curl_code": "Int64",  # libcurl's CURLcode (curl's exit code); <NA> for gRPC
    "http_version": "string",  # "1.0" | "1.1" | "2" | "3"
    "remote_ip": "string",
    "remote_port": "Int64",
    **{f"{t}_ms": "Float64" for t in TIMERS},
    **{f"{p}_ms": "Float64" for p in PHASES},
    "size_download_bytes": "Int64",
    "size_upload_bytes": "Int64",
    "size_header_bytes": "Int64",
    "size_request_bytes": "Int64",
    "redirects": "Int64",
    "url_effective": "string",
}

# curl exit codes → error kind (CURLE_*)
_TLS_CODES = {35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91, 98}
_KINDS = {
    1: "url", 3: "url", 5: "dns", 6: "dns", 16: "http2", 18: "transfer", 47: "redirects",
    52: "empty_reply", 55: "reset", 56: "reset", 92: "http2", 95: "http3",
}  # fmt: skip
_HTTP_VERSIONS = {"0": "", "1": "1.0", "1.0": "1.0", "1.1": "1.1", "2": "2", "3": "3"}


_ERRNO_KINDS = {111: "refused", 104: "reset", 113: "unreachable", 101: "unreachable", 110: "timeout"}


def classify(
    exitcode: int,
    message: str,
    timers: Mapping[str, float],
    *,
    tls: bool,
    ip_host: bool,
    os_errno: int = 0,
    got_headers: bool = False,
) -> tuple[str, str]:
    """(error_kind, error_phase) of a failed transfer from curl's exit code, the socket errno
    (live trials only: saved curl lines do not carry it), the message and the timers."""
    low = message.lower()
    if exitcode == 0:
        return "", ""
    if (
        exitcode == 28
        or "timed out" in low
        or "timeout was reached" in low
        or _ERRNO_KINDS.get(os_errno) == "timeout"
    ):
        return "timeout", _timeout_phase(low, timers, tls=tls, ip_host=ip_host, got_headers=got_headers)
    if exitcode == 7:
        if os_errno in _ERRNO_KINDS:
            return _ERRNO_KINDS[os_errno], ""
        if "refused" in low:
            return "refused", ""
        if "no route" in low or "unreachable" in low:
            return "unreachable", ""
        return "connect", ""
    if os_errno == 104 and exitcode in (35, 52, 55, 56):
        return "reset", ""
    if exitcode in _TLS_CODES:
        return "tls", ""
    if "reset by peer" in low:
        return "reset", ""
    return _KINDS.get(exitcode, "other"), ""


def _timeout_phase(low: str, t: Mapping[str, float], *, tls: bool, ip_host: bool, got_headers: bool) -> str:
    if "resolv" in low:
        return "dns"
    if "ssl" in low or "tls" in low:
        return "tls"
    if "connection timed out" in low or "failed to connect" in low:
        return "connect"
    if not t.get("namelookup") and not ip_host:
        return "dns"
    if not t.get("connect"):
        return "connect"
    if tls and not t.get("appconnect"):
        return "tls"
    return "transfer" if got_headers else "server"


def status_ok(status: int, expected: Sequence[str]) -> bool:
    """``expected`` holds codes or classes ("200", "2xx", "3xx"); empty means < 400."""
    if not expected:
        return 0 < status < 400
    code = str(status)
    return any(e == code or (len(e) == 3 and e[1:].lower() == "xx" and e[0] == code[0]) for e in expected)


def row(
    *,
    target: str,
    protocol: str,
    backend: str | None,
    backend_kind: str,
    backend_name: str | None,
    trial: int,
    ts: dt.datetime | None,
    timers_s: Mapping[str, float],
    exitcode: int,
    message: str,
    status: int,
    http_version: str,
    remote_ip: str,
    remote_port: int,
    sizes: Mapping[str, int],
    redirects: int,
    url_effective: str,
    expected: Sequence[str] = (),
    ip_host: bool = False,
    os_errno: int = 0,
) -> dict[str, Any]:
    """One TRIALS_SCHEMA row from curl's view of a transfer (timers in seconds, as curl gives them)."""
    tls = protocol in ("https", "grpcs")
    kind, phase = classify(exitcode, message, timers_s, tls=tls, ip_host=ip_host, os_errno=os_errno,
                           got_headers=sizes.get("header", 0) > 0)  # fmt: skip
    completed = exitcode == 0 and (status > 0 or protocol == "tcp")
    if completed and protocol in ("http", "https") and not status_ok(status, expected):
        kind = f"http_{str(status)[0]}xx"
    ms = {k: float(timers_s.get(k) or 0.0) * 1000.0 for k in TIMERS}
    reached = _reached(ms, tls=tls, completed=completed, protocol=protocol)
    timers = {f"{k}_ms": (ms[k] if reached[k] else None) for k in TIMERS}
    phases = {
        "dns_ms": ms["namelookup"] if reached["namelookup"] else None,
        "tcp_ms": ms["connect"] - ms["namelookup"] if reached["connect"] else None,
        "tls_ms": ms["appconnect"] - ms["connect"] if tls and reached["appconnect"] else None,
        "server_ms": ms["starttransfer"] - ms["pretransfer"]
        if completed and reached["starttransfer"]
        else None,
        "transfer_ms": ms["total"] - ms["starttransfer"] if completed and reached["starttransfer"] else None,
    }
    return {
        "target": target,
        "protocol": protocol,
        "backend": backend or remote_ip or None,
        "backend_kind": backend_kind,
        "backend_name": backend_name,
        "trial": trial,
        "ts": ts,
        "ok": completed and not kind,
        "completed": completed,
        "status": status if status > 0 else None,
        "health": None,
        "error_kind": kind,
        "error_phase": phase,
        "error": "" if not kind else (message or f"HTTP status {status}"),
        "curl_code": exitcode,
        "http_version": _HTTP_VERSIONS.get(http_version, http_version),
        "remote_ip": remote_ip or None,
        "remote_port": remote_port or None,
        **timers,
        **phases,
        "size_download_bytes": sizes.get("download", 0),
        "size_upload_bytes": sizes.get("upload", 0),
        "size_header_bytes": sizes.get("header", 0),
        "size_request_bytes": sizes.get("request", 0),
        "redirects": redirects,
        "url_effective": url_effective,
    }


def _reached(ms: Mapping[str, float], *, tls: bool, completed: bool, protocol: str) -> dict[str, bool]:
    """Which timers belong to phases the transfer got through (curl leaves the rest at 0)."""
    out = {k: ms[k] > 0 for k in TIMERS}
    out["namelookup"] = ms["connect"] > 0 or ms["namelookup"] > 0
    if not completed:  # libcurl may leave small values in the timers of phases it never entered
        out["pretransfer"] = out["starttransfer"] = False
    if protocol == "tcp":
        out["pretransfer"] = out["starttransfer"] = False
    if not tls:
        out["appconnect"] = False
    return out


def frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return schema.frame([dict(r) for r in rows], TRIALS_SCHEMA)


def empty() -> pd.DataFrame:
    return schema.empty(TRIALS_SCHEMA)


# --- saved curl -w '%{json}' output ------------------------------------------------------------


def parse(
    text: str, *, source: str = "curl output", expected: Sequence[str] = ()
) -> tuple[pd.DataFrame, list[str]]:
    """Lines of ``curl -w '%{json}'`` (other lines, e.g. response bodies, are skipped and counted)
    → (trials, notes). Extra keys ``target``, ``backend``, ``ts`` (ISO or epoch seconds) are used
    when present; without ``target`` the request's ``url`` names the target."""
    rows: list[dict[str, Any]] = []
    counts: dict[tuple[str, str], int] = {}
    skipped = 0
    for n, line in enumerate(text.splitlines(), start=1):
        d = _json_tail(line)
        if d is None or "time_total" not in d:
            skipped += bool(line.strip())
            continue
        try:
            rows.append(_curl_row(d, counts, expected))
        except (TypeError, ValueError) as exc:
            raise ParseError(source, f"not a curl -w '%{{json}}' record: {exc}", line=n) from exc
    if not rows and text.strip():
        raise ParseError(source, "no curl -w '%{json}' lines found (run curl with -w '%{json}\\n')")
    notes = (
        [f"{source}: {skipped} line(s) that are not curl -w '%{{json}}' records were skipped"]
        if skipped
        else []
    )
    return frame(rows), notes


def _json_tail(line: str) -> dict[str, Any] | None:
    """The JSON object that ends ``line`` (``curl -w`` without ``-o`` prints the body first)."""
    text = line.rstrip()
    if not text.endswith("}"):
        return None
    pos = text.find('{"')
    while pos >= 0:
        try:
            d = json.loads(text[pos:])
        except ValueError:
            pos = text.find('{"', pos + 1)
            continue
        return d if isinstance(d, dict) else None
    return None


def read(path: str | Path, *, expected: Sequence[str] = ()) -> tuple[pd.DataFrame, list[str]]:
    return parse(textfile.read(path, "curl_json"), source=str(path), expected=expected)


def _curl_row(
    d: Mapping[str, Any], counts: dict[tuple[str, str], int], expected: Sequence[str]
) -> dict[str, Any]:
    url = str(d.get("url") or d.get("url_effective") or "")
    target = str(d.get("target") or url)
    backend = str(d.get("backend") or d.get("remote_ip") or "") or None
    scheme = str(d.get("scheme") or url.partition("://")[0] or "http").lower()
    protocol = scheme if scheme in ("http", "https") else "http"
    key = (target, backend or "")
    counts[key] = counts.get(key, -1) + 1
    host = re.sub(r"^\w+://(\[[^]]*\]|[^/:]*).*$", r"\1", url).strip("[]")
    return row(
        target=target,
        protocol=protocol,
        backend=backend,
        backend_kind=str(d.get("backend_kind") or "direct"),
        backend_name=d.get("backend_name"),
        trial=int(d.get("trial", counts[key])),
        ts=_ts(d.get("ts")),
        timers_s={k: float(d.get(f"time_{k}") or 0.0) for k in TIMERS},
        exitcode=int(d.get("exitcode") or 0),
        message=str(d.get("errormsg") or ""),
        status=int(d.get("response_code") or d.get("http_code") or 0),
        http_version=str(d.get("http_version") or "0"),
        remote_ip=str(d.get("remote_ip") or ""),
        remote_port=int(d.get("remote_port") or 0),
        sizes={
            "download": int(d.get("size_download") or 0),
            "upload": int(d.get("size_upload") or 0),
            "header": int(d.get("size_header") or 0),
            "request": int(d.get("size_request") or 0),
        },
        redirects=int(d.get("num_redirects") or 0),
        url_effective=str(d.get("url_effective") or url),
        expected=expected,
        ip_host=is_ip(host),
    )


def _ts(value: object) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(dt.UTC)


def is_ip(host: str) -> bool:
    """A literal IPv4/IPv6 address (no SNI is sent for one, and Host needs no resolution)."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def to_curl_json(trials: pd.DataFrame) -> str:
    """HTTP trials as ``curl -w '%{json}'`` lines (plus ``target``/``backend``/``ts``): what
    :func:`parse` reads back, so a live run can be saved and reported on elsewhere."""
    out: list[str] = []
    for r in trials.to_dict("records"):
        if r["protocol"] not in ("http", "https"):
            continue
        d: dict[str, Any] = {
            "target": r["target"],
            "backend": _plain(r["backend"]),
            "backend_kind": _plain(r["backend_kind"]),
            "backend_name": _plain(r["backend_name"]),
            "trial": int(r["trial"]),
            "ts": None if _na(r["ts"]) else r["ts"].isoformat(),
            "url": r["target"] if "://" in str(r["target"]) else r["url_effective"],
            "url_effective": _plain(r["url_effective"]),
            "scheme": str(r["protocol"]).upper(),
            "exitcode": 0 if _na(r["curl_code"]) else int(r["curl_code"]),
            "errormsg": r["error"] if not r["completed"] and r["error"] else None,
            "response_code": 0 if _na(r["status"]) else int(r["status"]),
            "http_version": {"1.0": "1", "": "0"}.get(str(r["http_version"] or ""), str(r["http_version"])),
            "remote_ip": _plain(r["remote_ip"]) or "",
            "remote_port": 0 if _na(r["remote_port"]) else int(r["remote_port"]),
            "size_download": int(r["size_download_bytes"]),
            "size_upload": int(r["size_upload_bytes"]),
            "size_header": int(r["size_header_bytes"]),
            "size_request": int(r["size_request_bytes"]),
            "num_redirects": int(r["redirects"]),
        }
        for t in TIMERS:
            v = r[f"{t}_ms"]
            d[f"time_{t}"] = 0.0 if _na(v) else round(float(v) / 1000.0, 6)
        out.append(json.dumps(d))
    return "\n".join(out) + ("\n" if out else "")


def _na(v: object) -> bool:
    import pandas as pd

    return v is None or bool(pd.isna(v))  # type: ignore[call-overload]


def _plain(v: object) -> Any:
    return None if _na(v) else v


def for_target(t: Target, trial: int, ts: dt.datetime | None) -> dict[str, Any]:
    """The identifying columns of a trial of ``t`` (the probers fill in the rest)."""
    return {
        "target": t.target,
        "protocol": t.protocol,
        "backend": t.backend,
        "backend_kind": t.backend_kind,
        "backend_name": t.backend_name,
        "trial": trial,
        "ts": ts,
    }
