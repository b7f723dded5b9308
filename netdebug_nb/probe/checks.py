"""Frames and thresholds in, findings out: what the endpoint_probe notebook concludes.

Pure functions returning :class:`~netdebug_nb.findings.Finding` objects (recorded by the
notebook with :func:`record`); one finding per id naming every target concerned, with the
numbers per target (and backend) in the evidence, keyed by target so fleet merges can read them.

Stable ids: ``http.server_slow``, ``http.connect_slow``, ``http.dns_slow``, ``http.tls_slow``,
``http.errors``, ``http.backend_outlier``, ``tcp.refused``, ``tcp.timeout``, ``tls.cert_expired``,
``tls.cert_expiring``, ``tls.name_mismatch``, ``tls.untrusted``, ``tls.old_protocol``,
``tls.handshake_failed``, ``grpc.not_serving``, ``grpc.errors``, ``probe.bad_target``, ``probe.no_targets``, ``probe.ok``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from netdebug_nb import findings
from netdebug_nb.findings import Finding
from netdebug_nb.probe.stats import DEFAULT, VERSION_RANK, Thresholds


def _names(items: Iterable[Any], limit: int = 4) -> str:
    xs = [str(x) for x in items]
    return ", ".join(xs[:limit]) + (f" and {len(xs) - limit} more" if len(xs) > limit else "")


def _f(v: Any) -> float | None:
    return None if v is None or pd.isna(v) else round(float(v), 2)


def slow(target_stats: pd.DataFrame, backend_stats: pd.DataFrame, th: Thresholds = DEFAULT) -> list[Finding]:
    """One finding per phase whose percentile is at or above its threshold on some target."""
    q = th.percentile
    out: list[Finding] = []
    specs = (
        ("http.dns_slow", "dns", th.dns_slow_ms, "DNS resolution",
         "Name lookups are slow before the connection even starts: check the resolver path (search "
         "list expansion, a slow CoreDNS replica; the dns_trace notebook shows each query)."),
        ("http.connect_slow", "tcp", th.connect_slow_ms, "TCP connect",
         "The TCP handshake (SYN → SYN-ACK) is slow: the network path or the server's accept queue. "
         "The server's application code is not involved yet."),
        ("http.tls_slow", "tls", th.tls_slow_ms, "TLS handshake",
         "The TLS handshake is slow: server CPU (RSA keys), OCSP/CRL work on the server, or a long chain."),
        ("http.server_slow", "server", th.server_slow_ms, "Server time (request sent → first byte)",
         "The connection is up quickly but the server takes long to answer: the application (or "
         "what it waits for: a database, another service) is slow, not the network."),
    )  # fmt: skip
    for fid, ph, limit, what, why in specs:
        col = f"{ph}_{q}_ms"
        hit = target_stats[target_stats[col].astype("Float64").fillna(0) >= limit]
        if hit.empty:
            continue
        per_backend = {
            str(t): {str(r["backend"]): _f(r[col]) for r in g.to_dict("records")}
            for t, g in backend_stats[backend_stats["target"].isin(hit["target"])].groupby(
                "target", sort=False
            )
        }
        worst = float(hit[col].astype("float64").max())
        out.append(Finding(
            fid, "warning",
            f"{what} {q} >= {limit:g} ms on {len(hit)} target(s), up to {worst:.0f} ms: {_names(hit['target'])}",
            why,
            {f"{q}_ms": {str(r["target"]): _f(r[col]) for r in hit.to_dict("records")},
             "p50_ms": {str(r["target"]): _f(r[f"{ph}_p50_ms"]) for r in hit.to_dict("records")},
             "per_backend": per_backend, "threshold_ms": limit},
        ))  # fmt: skip
    return out


_CONNECT = ("refused", "unreachable", "connect")


def _connect_failed(id: str, rows: pd.DataFrame, title: str, detail: str) -> Finding:
    """A critical finding for connections that never opened, per target and backend."""
    targets = pd.unique(rows["target"])
    return Finding(
        id,
        "critical",
        f"{title} {len(targets)} target(s): {_names(targets)}",
        detail,
        {
            "rate_pct": _by_target(rows, "rate_pct"),
            "count": _by_target(rows, "count"),
            "backends": _backends(rows),
        },
    )


def errors(errs: pd.DataFrame, protocols: dict[str, str], th: Thresholds = DEFAULT) -> list[Finding]:
    """``tcp.refused`` / ``tcp.timeout`` for connections that failed (any protocol), ``http.errors``
    for HTTP(S) trials that failed otherwise (TLS included), ``grpc.not_serving`` and ``grpc.errors``."""
    out: list[Finding] = []
    e = errs.assign(protocol=errs["target"].map(protocols))
    refused = e[e["error_kind"] == "refused"]
    if len(refused):
        out.append(_connect_failed(
            "tcp.refused", refused, "Connection refused by",
            "The host answered the SYN with a RST: nothing listens on that port (the process is down, "
            "listens on another port or only on 127.0.0.1), or a firewall REJECTs it.",
        ))  # fmt: skip
    timeout = e[(e["error_kind"] == "timeout") & (e["error_phase"] == "connect")]
    if len(timeout):
        out.append(_connect_failed(
            "tcp.timeout", timeout, "TCP connect timed out to",
            "No answer at all to the SYN: a firewall DROPs it, the host is down, or the route (or the "
            "return route) is missing. Unlike a refusal, nothing came back.",
        ))  # fmt: skip
    connect_failed = (e["error_kind"] == "refused") | (
        (e["error_kind"] == "timeout") & (e["error_phase"] == "connect")
    )
    http = e[e["protocol"].isin(["http", "https"]) & ~connect_failed]
    if len(http):
        rate = http.groupby("target", sort=False)["rate_pct"].sum()
        bad = rate[rate >= th.error_rate_warn_pct]
        if len(bad):
            kinds = {str(t): {_kind(r): int(r["count"]) for r in g.to_dict("records")}
                     for t, g in http[http["target"].isin(bad.index)].groupby("target", sort=False)}  # fmt: skip
            out.append(Finding(
                "http.errors", "critical" if float(bad.max()) >= th.error_rate_crit_pct else "warning",
                f"Failed requests on {len(bad)} target(s), up to {float(bad.max()):.0f}%: {_names(bad.index)}",
                "Requests failed by status class (http_5xx: the server or a proxy in front of it failed; "
                "http_4xx: the request or its routing) or by error kind (dns, reset, tls, timeout in a phase).",
                {"rate_pct": {str(k): round(float(v), 2) for k, v in bad.items()}, "by_kind": kinds,
                 "examples": {str(r["target"]): str(r["example"]) for r in http.to_dict("records")}},
            ))  # fmt: skip
    grpc_bad = e[
        e["protocol"].isin(["grpc", "grpcs"]) & e["error_kind"].isin(["not_serving", "unknown_service"])
    ]
    if len(grpc_bad):
        out.append(Finding(
            "grpc.not_serving", "critical",
            f"gRPC health check not SERVING on {len(set(grpc_bad['target']))} target(s): {_names(pd.unique(grpc_bad['target']))}",
            "The server answers grpc.health.v1.Health/Check but says it is not ready to serve (or does "
            "not know the service asked): the application, not the network.",
            {"rate_pct": _by_target(grpc_bad, "rate_pct"), "examples": {str(r["target"]): str(r["example"]) for r in grpc_bad.to_dict("records")}},
        ))  # fmt: skip
    grpc_err = e[e["protocol"].isin(["grpc", "grpcs"]) & ~connect_failed
                 & ~e["error_kind"].isin(["not_serving", "unknown_service"])]  # fmt: skip
    if len(grpc_err):
        out.append(Finding(
            "grpc.errors", "critical",
            f"gRPC health calls failed on {len(set(grpc_err['target']))} target(s): {_names(pd.unique(grpc_err['target']))}",
            "The call did not get an answer: unavailable (connection or HTTP/2 trouble), TLS, no health "
            "service on that port (no_health_service), or a timeout waiting for the server.",
            {"by_kind": {str(t): {_kind(r): int(r["count"]) for r in g.to_dict("records")} for t, g in grpc_err.groupby("target", sort=False)},
             "examples": {str(r["target"]): str(r["example"]) for r in grpc_err.to_dict("records")}},
        ))  # fmt: skip
    return out


def _kind(r: Mapping[Any, Any]) -> str:
    return f"{r['error_kind']} in {r['error_phase']}" if r["error_phase"] else str(r["error_kind"])


def _by_target(df: pd.DataFrame, col: str) -> dict[str, Any]:
    return {str(t): _f(v) for t, v in df.groupby("target", sort=False)[col].sum().items()}


def _backends(df: pd.DataFrame) -> dict[str, list[str]]:
    return {
        str(t): sorted({str(b) for b in g["backend"].dropna()}) for t, g in df.groupby("target", sort=False)
    }


def outliers(out_df: pd.DataFrame) -> list[Finding]:
    if out_df.empty:
        return []
    items = [f"{r['target']} @ {r['backend']}" + (f" ({r['backend_name']})" if isinstance(r["backend_name"], str) else "")
             for r in out_df.to_dict("records")]  # fmt: skip
    return [Finding(
        "http.backend_outlier", "warning",
        f"{len(out_df)} backend(s) unlike their siblings: {_names(items)}",
        "One endpoint of a service is much slower (median server time) or fails much more often than "
        "the others: that pod, its node or its dependencies, not the service as a whole. Clients "
        "going through the ClusterIP see it as a fraction of slow or failed requests.",
        {"outliers": [{k: (_f(v) if isinstance(v, float) else (None if v is pd.NA else v)) for k, v in r.items()} for r in out_df.to_dict("records")]},
    )]  # fmt: skip


def certificates(tls_df: pd.DataFrame, th: Thresholds = DEFAULT) -> list[Finding]:
    out: list[Finding] = []
    got = tls_df[tls_df["connected"].fillna(False) & tls_df["subject"].notna()]

    def where(df: pd.DataFrame) -> list[str]:
        return [f"{r['target']} @ {r['backend']}:{r['port']}" for r in df.to_dict("records")]

    failed = tls_df[~tls_df["connected"].fillna(False)]
    if len(failed):
        out.append(Finding("tls.handshake_failed", "critical",
                           f"TLS handshake failed with {len(failed)} endpoint(s): {_names(where(failed))}",
                           "Even without verification the handshake did not complete (no common protocol or "
                           "cipher, not TLS on that port, or the connection itself failed).",
                           {"errors": dict(zip(where(failed), failed["error"].astype(str), strict=True))}))  # fmt: skip
    expired = got[got["expired"].fillna(False)]
    if len(expired):
        out.append(Finding("tls.cert_expired", "critical",
                           f"Certificate expired (or not yet valid) on {len(expired)} endpoint(s): {_names(where(expired))}",
                           "Every verifying client refuses this certificate; renew it (and check why rotation did not).",
                           {"not_after": dict(zip(where(expired), [str(x) for x in expired["not_after"]], strict=True)),
                            "days_left": dict(zip(where(expired), [_f(x) for x in expired["days_left"]], strict=True))}))  # fmt: skip
    soon = got[~got["expired"].fillna(False) & (got["days_left"].astype("Float64") < th.cert_expiring_days)]
    if len(soon):
        out.append(Finding("tls.cert_expiring", "warning",
                           f"Certificate expires within {th.cert_expiring_days:g} days on {len(soon)} endpoint(s): {_names(where(soon))}",
                           "Renew before clients start failing.",
                           {"days_left": dict(zip(where(soon), [_f(x) for x in soon["days_left"]], strict=True))}))  # fmt: skip
    mismatch = got[~got["name_match"].fillna(True)]
    if len(mismatch):
        out.append(Finding("tls.name_mismatch", "critical",
                           f"Certificate does not match the server name on {len(mismatch)} endpoint(s): {_names(where(mismatch))}",
                           "No subjectAltName matches the name sent in SNI: clients verifying the host name refuse it "
                           "(wrong certificate served, a missing SAN, or a request by the wrong name).",
                           {"sni": dict(zip(where(mismatch), mismatch["sni"].astype(str), strict=True)),
                            "sans": dict(zip(where(mismatch), mismatch["sans"].astype(str), strict=True))}))  # fmt: skip
    untrusted = got[~got["trusted"].fillna(True)]
    if len(untrusted):
        out.append(Finding("tls.untrusted", "critical",
                           f"Certificate chain not trusted on {len(untrusted)} endpoint(s): {_names(where(untrusted))}",
                           "The chain as sent does not lead to a trusted root: self-signed, an intermediate the "
                           "server does not send (browsers may hide this by caching it; curl and most clients fail), "
                           "or a private CA the client does not have (set ca_bundle).",
                           {"why": dict(zip(where(untrusted), untrusted["trust_error"].astype(str), strict=True)),
                            "store": str(untrusted["verify_store"].iloc[0])}))  # fmt: skip
    min_rank = VERSION_RANK.get(th.min_tls_version, 3)
    is_old = [VERSION_RANK.get(str(v), 9) < min_rank or VERSION_RANK.get(str(a), 9) < min_rank
              for v, a in zip(got["protocol_version"], got["old_protocol_accepted"], strict=True)]  # fmt: skip
    old = got[is_old]
    if len(old):
        out.append(Finding("tls.old_protocol", "warning",
                           f"Protocol older than {th.min_tls_version} negotiated or accepted on {len(old)} endpoint(s): {_names(where(old))}",
                           "TLS 1.0/1.1 are deprecated (RFC 8996); clients with current defaults refuse them.",
                           {"negotiated": dict(zip(where(old), old["protocol_version"].astype(str), strict=True)),
                            "accepts": dict(zip(where(old), old["old_protocol_accepted"].astype(str), strict=True))}))  # fmt: skip
    return out


def notes(lines: Sequence[str]) -> list[Finding]:
    """Targets and options that could not be used: one finding listing the one-line reasons."""
    if not lines:
        return []
    return [Finding("probe.bad_target", "warning", f"{len(lines)} target(s) or option(s) could not be used as given",
                    "; ".join(lines), {"problems": list(lines)})]  # fmt: skip


def record(found: Iterable[Finding]) -> None:
    for f in findings.sort(found):
        findings.record(f.id, f.severity, f.title, f.detail, f.evidence)
