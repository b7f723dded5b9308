"""From the capture's analysis frames to findings: pure functions of frames and thresholds.

The notebook records what these return (``findings.record(**f.to_dict())``), so every
conclusion and its threshold is unit-testable without a kernel. Finding ids are stable:
``capture.empty``, ``capture.truncated``, ``tcp.retransmissions``, ``tcp.resets``,
``tcp.zero_window``, ``tcp.handshake_failures``, ``tcp.slow_handshake``, ``tcp.out_of_order``,
``tcp.dup_acks``, ``tcp.capture_gaps``, ``dns.unanswered``, ``dns.nxdomain_expansion``,
``dns.retry_after_timeout``, ``dns.errors``, ``dns.slow``, ``dns.malformed``,
``icmp.fragmentation_needed``, ``icmp.unreachable``, ``pcap.no_problems``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netdebug_nb.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.pcap.dns import Summary


@dataclass(frozen=True)
class Thresholds:
    """The numbers behind each finding; the notebook exposes every one as a parameter."""

    retrans_rate_warning: float = 0.01
    """Share of data segments retransmitted (all TCP flows together) that is a warning ..."""
    retrans_rate_critical: float = 0.05
    """... and that is critical."""
    retrans_min: int = 3
    """Fewer retransmissions than this in the whole capture are not worth a finding."""
    handshake_rtt_warning_ms: float = 200.0
    """A TCP handshake slower than this (last SYN to final ACK) is slow."""
    handshake_failure_critical: float = 0.2
    """Share of connection attempts that never completed above which it is critical."""
    dns_unanswered_critical: float = 0.05
    """Share of DNS queries without a response above which it is critical."""
    dns_timeout_s: float = 5.0
    """Queries sent in the last this many seconds of the capture may still have been answered."""
    dns_slow_ms: float = 100.0
    """DNS 95th-percentile latency above this is slow."""
    dns_min_expansion: int = 2
    """NXDOMAIN answers for search-suffixed names (per lookup) that make the expansion worth reporting."""
    retry_gap_s: tuple[float, float] = (4.0, 6.5)
    """A query asked again this long after an unanswered one is a resolver timeout retry."""


def capture_findings(overview: pd.DataFrame) -> list[Finding]:
    """Findings about the capture itself (empty, cut by a snap length)."""
    out: list[Finding] = []
    row = overview.iloc[0] if len(overview) else None
    if row is None or int(row["packets"]) == 0:
        out.append(Finding("capture.empty", "warning", "the capture holds no packets"))
        return out
    truncated = int(row["truncated_packets"])
    if truncated:
        out.append(
            Finding(
                "capture.truncated",
                "info",
                f"{truncated} of {int(row['packets'])} packets were cut by the capture's snap length",
                "headers are complete, but payloads (DNS) past the snap length could not be parsed",
                {"truncated_packets": truncated},
            )
        )
    return out


def tcp_findings(
    health: pd.DataFrame, thresholds: Thresholds = Thresholds(), *, top_n: int = 5
) -> list[Finding]:
    """Retransmissions, resets, zero windows, failed and slow handshakes, reordering."""
    out: list[Finding] = []
    if len(health) == 0:
        return out
    t = thresholds
    segs = int(health["data_segments"].sum())
    retrans = int(health["retransmissions"].sum())
    rate = retrans / segs if segs else 0.0
    if retrans >= t.retrans_min and rate >= t.retrans_rate_warning:
        worst = health[health["retransmissions"] > 0].sort_values("retransmissions", ascending=False)
        severity: Severity = "critical" if rate >= t.retrans_rate_critical else "warning"
        out.append(
            Finding(
                "tcp.retransmissions",
                severity,
                f"{retrans} TCP retransmissions ({rate:.1%} of {segs} segments) in {len(worst)} flow(s)",
                "packets are being lost between the endpoints (or the capture point is after the loss); "
                f"threshold {t.retrans_rate_warning:.1%} warning, {t.retrans_rate_critical:.1%} critical",
                {
                    "retransmissions": retrans,
                    "segments": segs,
                    "rate": round(rate, 5),
                    "flows": _rows(worst, ["retransmissions", "retransmission_rate"], top_n),
                },
            )
        )
    resets = health[(health["resets"] > 0) & (health["state"] != "refused")]
    if len(resets):
        out.append(
            Finding(
                "tcp.resets",
                "warning",
                f"{len(resets)} TCP connection(s) were reset",
                "a RST ends a connection abruptly: an application abort, an idle timeout in a "
                "middlebox or a conntrack entry that expired",
                {
                    "resets": int(resets["resets"].sum()),
                    "by_client": int((resets["reset_by"] == "client").sum()),
                    "by_server": int((resets["reset_by"] == "server").sum()),
                    "flows": _rows(resets, ["state", "reset_by"], top_n),
                },
            )
        )
    zw = health[health["zero_window"] > 0]
    if len(zw):
        out.append(
            Finding(
                "tcp.zero_window",
                "warning",
                f"{len(zw)} flow(s) advertised a zero receive window ({int(zw['zero_window'].sum())} packets)",
                "the receiving application is not reading fast enough: the sender has to stop",
                {"flows": _rows(zw, ["zero_window"], top_n)},
            )
        )
    attempts = health[health["state"] != "mid_stream"]
    failed = health[health["state"].isin(["refused", "unanswered", "incomplete"])]
    if len(failed):
        share = len(failed) / max(len(attempts), 1)
        counts = failed["state"].value_counts().to_dict()
        out.append(
            Finding(
                "tcp.handshake_failures",
                "critical" if share >= t.handshake_failure_critical else "warning",
                f"{len(failed)} of {len(attempts)} TCP connection attempts never completed",
                ", ".join(f"{n} {s}" for s, n in counts.items())
                + " (refused: RST to the SYN, nothing listening or a REJECT rule; unanswered: "
                "SYN dropped or no route; incomplete: the final ACK never came)",
                {
                    "by_state": {str(k): int(v) for k, v in counts.items()},
                    "flows": _rows(failed, ["state", "syns"], top_n),
                },
            )
        )
    slow = health[health["handshake_rtt_ms"].fillna(0) > t.handshake_rtt_warning_ms]
    if len(slow):
        out.append(
            Finding(
                "tcp.slow_handshake",
                "warning",
                f"{len(slow)} TCP handshake(s) took longer than {t.handshake_rtt_warning_ms:g} ms",
                "high round-trip time or a busy listener (SYN backlog)",
                {
                    "flows": _rows(
                        slow.sort_values("handshake_rtt_ms", ascending=False), ["handshake_rtt_ms"], top_n
                    )
                },
            )
        )
    for col, fid, what in (
        ("out_of_order", "tcp.out_of_order", "segments arrived out of order"),
        ("dup_acks", "tcp.dup_acks", "duplicate ACKs (the receiver saw a gap)"),
        (
            "unseen_segments",
            "tcp.capture_gaps",
            "gaps: data the capture never saw (capture drops or asymmetric routing)",
        ),
    ):
        n = int(health[col].sum())
        if n:
            flows = health[health[col] > 0].sort_values(col, ascending=False)
            out.append(Finding(fid, "info", f"{n} {what}", "", {"flows": _rows(flows, [col], top_n)}))
    return out


def dns_findings(
    summary: Summary,
    thresholds: Thresholds = Thresholds(),
    *,
    capture_end: Any = None,
    top_n: int = 5,
) -> list[Finding]:
    """Unanswered queries, timeout retries, search-suffix expansion, error rcodes, slowness.

    ``summary``: :func:`dns.summary` of the analysis (counts of every query, the problem rows).
    """
    import pandas as pd

    from netdebug_nb.pcap import dns

    out: list[Finding] = []
    t = thresholds
    lost = summary.unanswered
    queries = summary.queries
    if capture_end is not None and queries:
        cutoff = pd.Timestamp(capture_end) - pd.Timedelta(seconds=t.dns_timeout_s)
        lost = lost[lost["query_ts"] <= cutoff]
        queries = summary.answered + len(lost)
    if len(lost):
        share = len(lost) / queries
        by_name = dns.unanswered_names(lost)
        out.append(
            Finding(
                "dns.unanswered",
                "critical" if share >= t.dns_unanswered_critical else "warning",
                f"{len(lost)} of {queries} DNS queries got no response ({share:.1%})",
                "the query or its answer was lost (conntrack race, overloaded DNS pod, policy drop); "
                f"queries in the last {t.dns_timeout_s:g} s of the capture are not counted",
                {
                    "unanswered": len(lost),
                    "queries": queries,
                    "names": [f"{q} {ty}" for (q, ty) in by_name.index[:top_n]],
                },
            )
        )
    retries = summary.retries
    lo, hi = t.retry_gap_s
    timed = retries[(retries["gap_s"] >= lo) & (retries["gap_s"] <= hi)]
    if len(timed):
        race = timed[timed["sibling_answered"].fillna(False).astype(bool)]
        detail = (
            f"a query was asked again {timed['gap_s'].median():.1f} s after going unanswered: "
            "the client waited for the resolver timeout"
        )
        if len(race):
            detail += (
                f"; {len(race)} time(s) the A/AAAA sibling sent with it was answered, the classic "
                "conntrack insert race on parallel UDP queries (fix: single-request-reopen, "
                "NodeLocal DNSCache, or use TCP)"
            )
        out.append(
            Finding(
                "dns.retry_after_timeout",
                "warning",
                f"{len(timed)} DNS retries after a ~{timed['gap_s'].median():.0f} s timeout",
                detail,
                {
                    "retries": len(timed),
                    "a_aaaa_race": len(race),
                    "examples": _rows(
                        timed, ["client", "qname", "qtype", "gap_s", "sibling_qtype"], top_n, keys=False
                    ),
                },
            )
        )
    heavy = summary.expansions[summary.expansions["nxdomain"] >= t.dns_min_expansion]
    if len(heavy):
        wasted = int(heavy["nxdomain"].sum())
        out.append(
            Finding(
                "dns.nxdomain_expansion",
                "warning",
                f"{len(heavy)} lookup(s) went through the search list first: {wasted} NXDOMAIN queries",
                "names with fewer dots than ndots (5 in Kubernetes) are tried with every search suffix "
                "before the name itself; use fully qualified names (trailing dot) or lower ndots",
                {
                    "nxdomain_queries": wasted,
                    "lookups": _rows(
                        heavy, ["client", "qtype", "base", "nxdomain", "answered_name"], top_n, keys=False
                    ),
                },
            )
        )
    if summary.error_count:
        counts = summary.error_rcodes
        out.append(
            Finding(
                "dns.errors",
                "warning",
                f"{summary.error_count} DNS responses were errors ("
                + ", ".join(f"{n} {r}" for r, n in counts.items())
                + ")",
                "the DNS server could not (SERVFAIL) or would not (REFUSED) answer",
                {"by_rcode": dict(counts), "names": list(summary.error_names[:top_n])},
            )
        )
    if summary.answered:
        latency = pd.Series(summary.latency_ms)
        p95 = float(latency.quantile(0.95))
        if p95 > t.dns_slow_ms:
            out.append(
                Finding(
                    "dns.slow",
                    "warning",
                    f"DNS answers are slow: 95th percentile {p95:.0f} ms (threshold {t.dns_slow_ms:g} ms)",
                    "",
                    {"p50_ms": float(latency.median()), "p95_ms": p95},
                )
            )
    bad = summary.malformed
    if summary.malformed_count:
        out.append(
            Finding(
                "dns.malformed",
                "info",
                f"{summary.malformed_count} DNS message(s) could not be parsed completely",
                str(bad["error"].iloc[0]),
                {"frames": bad["frame"].head(top_n * 2).tolist()},
            )
        )
    return out


def icmp_findings(errors: pd.DataFrame) -> list[Finding]:
    """Path-MTU errors and unreachable destinations reported by ICMP."""
    from netdebug_nb.pcap.icmp import MTU_ERRORS

    out: list[Finding] = []
    mtu = errors[errors["meaning"].isin(MTU_ERRORS)]
    if len(mtu):
        out.append(
            Finding(
                "icmp.fragmentation_needed",
                "warning",
                f"{int(mtu['packets'].sum())} ICMP 'fragmentation needed' / 'packet too big' messages",
                "the path MTU is smaller than the packets sent: check the overlay (VXLAN/IPIP) MTU and "
                "MSS clamping; if these errors are filtered elsewhere, large transfers stall",
                {"senders": sorted(set(", ".join(mtu["senders"]).split(", ")))},
            )
        )
    unreachable = errors[
        ~errors["meaning"].isin(MTU_ERRORS)
        & errors["meaning"].str.contains("unreachable|prohibited|no route")
    ]
    if len(unreachable):
        out.append(
            Finding(
                "icmp.unreachable",
                "warning",
                f"{int(unreachable['packets'].sum())} ICMP destination-unreachable messages",
                "; ".join(
                    f"{n} × {m}" for m, n in zip(unreachable["meaning"], unreachable["packets"], strict=True)
                ),
                {
                    "by_meaning": dict(
                        zip(
                            unreachable["meaning"].astype(str),
                            unreachable["packets"].astype(int),
                            strict=True,
                        )
                    )
                },
            )
        )
    return out


def _rows(df: pd.DataFrame, cols: list[str], n: int, *, keys: bool = True) -> list[dict[str, Any]]:
    """The first ``n`` rows as small dicts for a finding's evidence."""
    from netdebug_nb.findings import jsonable

    base = ["client", "client_port", "server", "server_port"] if keys else []
    head = df[[*base, *[c for c in cols if c not in base]]].head(n)
    out: list[dict[str, Any]] = [jsonable(r) for r in head.to_dict("records")]
    return out


def coverage(path: object, packets: pd.DataFrame | int) -> list[Finding]:
    """``capture.empty`` when a capture was read but holds no packet: nothing was measured.

    ``packets``: the packet table, or just how many packets it has (``overview["packets"]``).
    """
    n = int(packets) if not hasattr(packets, "columns") else len(packets)  # type: ignore[arg-type]
    if not path or n:
        return []
    return [
        Finding(
            "capture.empty",
            "warning",
            "The capture holds no packets: nothing was analysed",
            f"{path} was read but has no packet records (a live capture that saw no traffic matching "
            "the filter, or a capture stopped before the first packet).",
            {"capture": str(path)},
            inconclusive=True,
        )
    ]


def evaluate(
    overview: pd.DataFrame,
    health: pd.DataFrame,
    dns_summary: Summary,
    thresholds: Thresholds = Thresholds(),
    *,
    icmp_errors: pd.DataFrame | None = None,
    top_n: int = 5,
) -> list[Finding]:
    """Every check of the capture, most severe first; one info finding when nothing is wrong."""
    from netdebug_nb.findings import sort

    end = overview["end"].iloc[0] if len(overview) else None
    out = capture_findings(overview)
    out += tcp_findings(health, thresholds, top_n=top_n)
    out += dns_findings(dns_summary, thresholds, capture_end=end, top_n=top_n)
    if icmp_errors is not None:
        out += icmp_findings(icmp_errors)
    if len(overview) and int(overview["packets"].iloc[0]) and all(f.severity == "info" for f in out):
        out.append(
            Finding(
                "pcap.no_problems",
                "info",
                "no TCP, DNS or ICMP problem above the thresholds in this capture",
                "",
                {
                    "packets": int(overview["packets"].iloc[0]),
                    "tcp_flows": len(health),
                    "dns_queries": dns_summary.queries,
                },
            )
        )
    return sort(out)
