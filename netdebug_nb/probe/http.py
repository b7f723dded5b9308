"""HTTP(S) trials with pycurl: libcurl's own timers, a fresh connection and DNS lookup each time.

Every trial opens a new connection (no reuse, no DNS cache), because the question is what a new
client pays: a reused connection would hide DNS, TCP and TLS. A target with a backend address is
reached there with curl's ``--connect-to``, so Host and SNI stay the target's name; an SNI
override asks for the SNI name in the URL and keeps the Host header.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from netdebug_nb.probe import trial
from netdebug_nb.probe.prober import Options

if TYPE_CHECKING:
    from netdebug_nb.probe.target import Target

_VERSION_NAMES = {1: "1.0", 2: "1.1", 3: "2", 4: "2", 5: "2", 30: "3"}


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def request_plan(t: Target, o: Options) -> tuple[str, list[str], list[str]]:
    """(URL to request, extra headers, --connect-to entries) for ``t`` under ``o`` (pure)."""
    url, headers, connect_to = t.url, list(o.headers), []
    to_host, to_port = t.backend, t.backend_port
    if o.sni and t.protocol == "https" and o.sni != t.host:
        parts = urlsplit(t.url)
        port = f":{parts.port}" if parts.port else ""
        url = urlunsplit(parts._replace(netloc=f"{_bracket(o.sni)}{port}"))
        if not any(h.lower().startswith("host:") for h in headers):
            headers.append(f"Host: {_bracket(t.host)}{port}")
        to_host, to_port = to_host or t.host, to_port or t.port
        connect_to.append(f"{o.sni}:{t.port}:{_bracket(to_host)}:{to_port}")
    elif to_host:
        connect_to.append(f"{t.host}:{t.port}:{_bracket(to_host)}:{to_port or t.port}")
    return url, headers, connect_to


class HttpProber:
    def __init__(self, options: Options) -> None:
        import pycurl

        self.o = options
        self.c = pycurl.Curl()

    def close(self) -> None:
        self.c.close()

    def trial(self, t: Target, n: int) -> dict[str, Any]:
        import pycurl

        c, o = self.c, self.o
        c.reset()
        url, headers, connect_to = request_plan(t, o)
        c.setopt(pycurl.URL, url)
        c.setopt(pycurl.NOSIGNAL, 1)
        c.setopt(pycurl.FRESH_CONNECT, 1)
        c.setopt(pycurl.FORBID_REUSE, 1)
        c.setopt(pycurl.DNS_CACHE_TIMEOUT, 0)
        c.setopt(pycurl.TIMEOUT_MS, max(1, int(o.timeout_s * 1000)))
        c.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(o.timeout_s * 1000)))
        c.setopt(pycurl.WRITEFUNCTION, len)
        c.setopt(pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        if connect_to:
            c.setopt(pycurl.CONNECT_TO, connect_to)
        if headers:
            c.setopt(pycurl.HTTPHEADER, headers)
        method = o.method.upper()
        if method == "HEAD":
            c.setopt(pycurl.NOBODY, 1)
        elif method != "GET" or o.body:
            if o.body or method in ("POST", "PUT", "PATCH"):
                c.setopt(pycurl.POSTFIELDS, o.body)
            if method != "POST":
                c.setopt(pycurl.CUSTOMREQUEST, method)
        if o.http_version == "2":
            c.setopt(
                pycurl.HTTP_VERSION,
                pycurl.CURL_HTTP_VERSION_2TLS
                if t.protocol == "https"
                else pycurl.CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE,
            )
        else:
            c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_1_1)
        if o.ca_bundle:
            c.setopt(pycurl.CAINFO, o.ca_bundle)
        if o.insecure:
            c.setopt(pycurl.SSL_VERIFYPEER, 0)
            c.setopt(pycurl.SSL_VERIFYHOST, 0)
        if o.follow_redirects:
            c.setopt(pycurl.FOLLOWLOCATION, 1)
            c.setopt(pycurl.MAXREDIRS, 10)
            c.setopt(pycurl.REDIR_PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS)
        ts, code, message = perform(c)
        return trial.row(**curl_info(c), **trial.for_target(t, n, ts), exitcode=code, message=message,
                         expected=o.expect_status, ip_host=bool(t.backend) or trial.is_ip(t.host))  # fmt: skip


def perform(c: Any) -> tuple[dt.datetime, int, str]:
    """Run a prepared curl handle: (when it started, curl's exit code, its message); 0 and "" on success."""
    import pycurl

    ts = dt.datetime.now(dt.UTC)
    try:
        c.perform()
    except pycurl.error as exc:
        return ts, int(exc.args[0]), str(exc.args[1]) if len(exc.args) > 1 else ""
    return ts, 0, ""


def curl_info(c: Any) -> dict[str, Any]:
    """What libcurl knows about the finished transfer, in curl -w '%{json}' units (seconds)."""
    import pycurl

    g = c.getinfo
    us = 1e-6
    return {
        "timers_s": {
            "namelookup": g(pycurl.NAMELOOKUP_TIME_T) * us,
            "connect": g(pycurl.CONNECT_TIME_T) * us,
            "appconnect": g(pycurl.APPCONNECT_TIME_T) * us,
            "pretransfer": g(pycurl.PRETRANSFER_TIME_T) * us,
            "starttransfer": g(pycurl.STARTTRANSFER_TIME_T) * us,
            "total": g(pycurl.TOTAL_TIME_T) * us,
            "redirect": g(pycurl.REDIRECT_TIME_T) * us,
        },
        "status": int(g(pycurl.RESPONSE_CODE)),
        "http_version": _VERSION_NAMES.get(int(g(pycurl.INFO_HTTP_VERSION)), "0"),
        "remote_ip": g(pycurl.PRIMARY_IP) or "",
        "remote_port": int(g(pycurl.PRIMARY_PORT) or 0),
        "sizes": {
            "download": int(g(pycurl.SIZE_DOWNLOAD_T)),
            "upload": int(g(pycurl.SIZE_UPLOAD_T)),
            "header": int(g(pycurl.HEADER_SIZE)),
            "request": int(g(pycurl.REQUEST_SIZE)),
        },
        "redirects": int(g(pycurl.REDIRECT_COUNT)),
        "url_effective": g(pycurl.EFFECTIVE_URL) or "",
        "os_errno": int(g(pycurl.OS_ERRNO) or 0),
    }
