"""From the DNS tables to findings: each check is a pure function of frames and thresholds.

The notebook calls :func:`evaluate` once and records what it returns, so the same thresholds
give the same finding ids whether the rows came from live queries or from a capture. Finding
ids are stable: ``dns.ndots_amplification``, ``dns.timeout``, ``dns.retry_5s``,
``dns.servfail``, ``dns.nxdomain``, ``dns.inconsistent_answers``, ``dns.slow_server``,
``dns.truncated_no_tcp``, ``dns.too_many_nameservers``, ``dns.nodelocal_cache``, plus input
findings ``dns.resolv_conf``, ``dns.invalid_name``, ``dns.no_names``, ``dns.unreachable_server``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netdebug_nb.dns.resolvconf import MAXNS, NODELOCAL_ADDRESS, ResolvConf
from netdebug_nb.findings import SEVERITIES, Finding, Severity

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Thresholds:
    slow_ms: float = 100.0
    """A server whose median latency is above this is slow."""
    slow_factor: float = 3.0
    """... or whose median is this many times the median of the other servers (and > 10 ms)."""
    ndots_min_wasted: int = 2
    """Search-suffix NXDOMAIN queries before the answer that make a lookup 'amplified'."""
    timeout_rate_critical: float = 0.05
    """Share of queries without a response above which dns.timeout is critical."""


def resolv_conf(conf: ResolvConf, *, missing: str = "") -> list[Finding]:
    """Findings about the configuration alone."""
    out: list[Finding] = []
    if missing:
        out.append(Finding("dns.resolv_conf", "warning", "resolv.conf could not be read", missing))
    bad = [p for p in conf.problems if p.line is not None or p.problem.startswith("nameservers parameter")]
    if bad:
        lines = [
            f"line {p.line}: {p.problem} ({p.effect})" if p.line else f"{p.problem} ({p.effect})" for p in bad
        ]
        out.append(
            Finding(
                "dns.resolv_conf",
                "warning",
                f"{len(bad)} problem(s) in {conf.source}; the resolver skips them and uses the rest",
                "; ".join(lines[:8]),
                {"problems": lines, "unknown_options": list(conf.unknown_options)},
            )
        )
    if len(conf.nameservers) > MAXNS:
        out.append(
            Finding(
                "dns.too_many_nameservers",
                "warning",
                f"{len(conf.nameservers)} nameservers configured; the C resolver uses only the first {MAXNS}",
                f"ignored: {', '.join(conf.ignored_nameservers)}. Kubelet also warns about this "
                "('Nameserver limits were exceeded').",
                {"used": list(conf.used_nameservers), "ignored": list(conf.ignored_nameservers)},
            )
        )
    if not conf.nameservers:
        out.append(
            Finding(
                "dns.resolv_conf",
                "warning",
                f"no nameserver in {conf.source}",
                "the resolver would use 127.0.0.1",
            )
        )
    return out


def nodelocal(
    conf: ResolvConf, queries: pd.DataFrame | None = None, cluster: pd.DataFrame | None = None
) -> Finding:
    """NodeLocal DNSCache present (link-local 169.254.20.10) or absent; critical if it does not answer.

    ``cluster`` (servers found through the Kubernetes API, with a ``role`` column) tells a
    cluster without the cache from a pod that bypasses a deployed cache (a misconfiguration).
    """
    servers = list(conf.used_nameservers)
    deployed = (
        [] if cluster is None or cluster.empty else list(cluster[cluster["role"] == "nodelocal"]["server"])
    )
    local = [s for s in servers if s == NODELOCAL_ADDRESS or s in deployed]
    if not local and deployed:
        return Finding(
            "dns.nodelocal_cache",
            "warning",
            "NodeLocal DNSCache is deployed but this resolv.conf bypasses it",
            f"the cluster runs node-local-dns on {', '.join(deployed)}, but the nameservers are {', '.join(servers) or 'none'}: "
            "check kubelet --cluster-dns / the pod's dnsPolicy and dnsConfig.",
            {"nameservers": servers, "present": False, "deployed": deployed},
        )
    if not local:
        return Finding(
            "dns.nodelocal_cache",
            "info",
            "NodeLocal DNSCache not in use",
            f"no {NODELOCAL_ADDRESS} in the nameservers ({', '.join(servers) or 'none'}): every lookup goes to the "
            "cluster DNS service through conntrack/kube-proxy (UDP conntrack races are possible).",
            {"nameservers": servers, "present": False},
        )
    address = local[0]
    evidence: dict[str, Any] = {
        "nameservers": servers,
        "present": True,
        "position": servers.index(address) + 1,
    }
    if queries is not None and not queries.empty:
        mine = queries[queries["server"] == address]
        if len(mine) and (mine["status"] != "ok").all():
            return Finding(
                "dns.nodelocal_cache",
                "critical",
                "NodeLocal DNSCache configured but not answering",
                f"all {len(mine)} queries to {address} failed ({', '.join(sorted(set(mine['error'].dropna())))}): "
                "is the node-local-dns DaemonSet running on this node and the dummy interface up?",
                {**evidence, "queries": len(mine)},
            )
    return Finding(
        "dns.nodelocal_cache",
        "info",
        "NodeLocal DNSCache in use",
        f"{address} is nameserver #{evidence['position']}.",
        evidence,
    )


def names(requested: Sequence[str], errors: Sequence[str], *, offline: bool = False) -> list[Finding]:
    """Input findings: no names (live mode only: a capture brings its own), invalid names, nothing queryable."""
    out: list[Finding] = []
    if not requested and not offline:
        out.append(
            Finding(
                "dns.no_names",
                "info",
                "no names to trace",
                "set the 'names' parameter (e.g. -p names '[\"api.example.com\"]'); only resolv.conf was analysed.",
                inconclusive=True,
            )
        )
    invalid = [e for e in errors if "not a valid DNS name" in e]
    if invalid:
        out.append(
            Finding(
                "dns.invalid_name",
                "warning",
                f"{len(invalid)} name(s) are not valid DNS names",
                "; ".join(invalid),
                {"errors": list(invalid)},
            )
        )
    other = [e for e in errors if e not in invalid]
    if other:
        out.append(
            Finding(
                "dns.no_nameserver",
                "warning",
                "nothing could be queried",
                "; ".join(other),
                {"errors": list(other)},
                inconclusive=True,
            )
        )
    return out


def coverage(requested: Sequence[str], queries: pd.DataFrame, *, offline: bool = False) -> list[Finding]:
    """A trace with no query in it measured nothing: say so, so the run ends inconclusive, not ok."""
    if len(queries):
        return []
    if offline:
        return [
            Finding(
                "dns.capture",
                "warning",
                "the capture holds no DNS query",
                "No UDP/TCP port 53 query was found, so nothing about resolution could be measured; "
                "capture on the client (or the node) while the lookups happen.",
                inconclusive=True,
            )
        ]
    if not requested:
        return []  # dns.no_names says what to give
    return [
        Finding(
            "dns.no_queries",
            "warning",
            "no DNS query was sent",
            "None of the names could be sent to a nameserver (see the other findings); nothing was measured.",
            {"names": list(requested)},
            inconclusive=True,
        )
    ]


def lookups(
    lookup_df: pd.DataFrame, queries: pd.DataFrame, conf: ResolvConf, th: Thresholds = Thresholds()
) -> list[Finding]:
    """Findings about what the application experienced (live replay or capture)."""
    out: list[Finding] = []
    real = lookup_df[lookup_df["outcome"].fillna("") != "invalid"]
    if real.empty:
        return out
    amplified = real[real["nxdomain_queries"].fillna(0) >= th.ndots_min_wasted]
    if not amplified.empty:
        per_name = amplified.groupby("lookup")["nxdomain_queries"].max().astype(int).to_dict()
        worst = max(per_name.items(), key=lambda kv: kv[1])
        out.append(
            Finding(
                "dns.ndots_amplification",
                "warning",
                f"search-list expansion (ndots:{conf.ndots}) sent up to {worst[1]} useless NXDOMAIN queries per lookup",
                f"{len(per_name)} name(s) went through the search list before the real name, e.g. {worst[0]!r}. Use fully "
                "qualified names with a trailing dot, or lower ndots (dnsConfig options ndots:2) for pods that call external names.",
                {"nxdomain_queries_per_name": per_name, "ndots": conf.ndots, "search": list(conf.search)},
            )
        )
    live_q = queries[queries["status"].notna()]
    timeouts = live_q[live_q["status"] == "timeout"]
    if not timeouts.empty:
        rate = len(timeouts) / max(len(live_q), 1)
        per_server = timeouts.groupby("server").size().astype(int).to_dict()
        failed = real[real["outcome"] == "timeout"]
        sev: Severity = "critical" if rate >= th.timeout_rate_critical or not failed.empty else "warning"
        out.append(
            Finding(
                "dns.timeout",
                sev,
                f"{len(timeouts)} of {len(live_q)} queries got no response ({rate:.0%}); {len(failed)} lookup(s) failed outright",
                "UDP queries lost on the way to or from the server (conntrack races, overloaded replica, network policy).",
                {
                    "timeouts_per_server": per_server,
                    "rate": round(rate, 4),
                    "failed_lookups": sorted(set(failed["lookup"])),
                },
            )
        )
    stalled = real[(real["timeouts"].fillna(0) > 0) & (real["outcome"] != "timeout")]
    if not stalled.empty:
        waited = stalled["waited_timeout_ms"].astype(float)
        out.append(
            Finding(
                "dns.retry_5s",
                "warning",
                f"{len(stalled)} lookup(s) stalled {waited.median() / 1000:.1f} s waiting for the resolver timeout before a retry succeeded",
                f"the resolver waits 'timeout' ({conf.timeout_s} s here, 5 s by default) after a lost query before resending. "
                "Applications see this as '5-second DNS delays'. Remedies: NodeLocal DNSCache, single-request-reopen, fewer lost UDP packets.",
                {
                    "lookups": sorted(set(stalled["lookup"])),
                    "waited_ms_median": float(waited.median()),
                    "timeout_s": conf.timeout_s,
                },
            )
        )
    servfail = queries[queries["rcode"] == "SERVFAIL"]
    if not servfail.empty:
        out.append(
            Finding(
                "dns.servfail",
                "critical" if (real["outcome"] == "SERVFAIL").any() else "warning",
                f"{len(servfail)} SERVFAIL response(s)",
                "the server could not resolve the name (upstream unreachable, DNSSEC failure, loop).",
                {
                    "per_server": servfail.groupby("server").size().astype(int).to_dict(),
                    "qnames": sorted(set(servfail["qname"].dropna()))[:20],
                },
            )
        )
    nx = real[real["outcome"] == "NXDOMAIN"]
    if not nx.empty:
        out.append(
            Finding(
                "dns.nxdomain",
                "warning",
                f"{nx['lookup'].nunique()} name(s) do not exist (NXDOMAIN for every candidate)",
                f"names: {', '.join(sorted(set(nx['lookup'])))}",
                {"names": sorted(set(nx["lookup"]))},
            )
        )
    no_tcp = real[real["truncated_no_tcp"].fillna(0) > 0]
    if not no_tcp.empty:
        tc = queries[(queries["transport"] == "udp") & queries["tc"].fillna(False).astype(bool)]
        out.append(
            Finding(
                "dns.truncated_no_tcp",
                "critical",
                f"{int(no_tcp['truncated_no_tcp'].sum())} truncated UDP answer(s) could not be completed over TCP",
                "the answer is larger than the UDP limit (512 bytes, or the EDNS size) and the TCP retry failed: "
                "TCP port 53 blocked (network policy, firewall) or the server does not serve TCP.",
                {"lookups": sorted(set(no_tcp["lookup"])), "servers": sorted(set(tc["server"].dropna()))},
            )
        )
    unreachable = live_q[(live_q["status"] == "error") & (live_q["transport"] == "udp")]
    if not unreachable.empty:
        out.append(
            Finding(
                "dns.unreachable_server",
                "critical",
                f"{unreachable['server'].nunique()} nameserver(s) unreachable",
                "; ".join(
                    f"{s}: {', '.join(sorted(set(g['error'].dropna())))}"
                    for s, g in unreachable.groupby("server")
                ),
                {"servers": sorted(set(unreachable["server"]))},
            )
        )
    return out


def server_latency(
    per_server: pd.DataFrame, th: Thresholds = Thresholds(), *, label: str = "p50_ms"
) -> list[Finding]:
    """dns.slow_server from a per-server table with ``server`` and a latency column."""
    df = per_server.dropna(subset=[label])
    if df.empty:
        return []
    slow = []
    for _, r in df.iterrows():
        others = df[df["server"] != r["server"]][label].astype(float)
        ref = float(others.median()) if len(others) else None
        v = float(str(r[label]))
        if v > th.slow_ms or (ref is not None and v > 10 and v > th.slow_factor * max(ref, 0.1)):
            slow.append(
                {
                    "server": r["server"],
                    label: round(v, 2),
                    "others_median_ms": None if ref is None else round(ref, 2),
                }
            )
    if not slow:
        return []
    return [
        Finding(
            "dns.slow_server",
            "warning",
            f"{len(slow)} slow nameserver(s): {', '.join(str(s['server']) for s in slow)}",
            f"median latency above {th.slow_ms:g} ms or {th.slow_factor:g}x the other servers "
            "(resends after lost queries included).",
            {"servers": slow},
        )
    ]


def inconsistent(odd: pd.DataFrame) -> list[Finding]:
    """dns.inconsistent_answers from :func:`netdebug_nb.dns.servers.disagreements` (live comparison or a capture)."""
    out: list[Finding] = []
    if not odd.empty:
        bad = odd[~odd["agrees"].astype(bool)]
        out.append(
            Finding(
                "dns.inconsistent_answers",
                "critical",
                f"servers disagree on {odd[['qname', 'qtype']].drop_duplicates().shape[0]} question(s); odd one(s) out: "
                f"{', '.join(sorted(set(bad['server'])))}",
                "; ".join(
                    f"{r.server} says {r.rcode}: {r.answer_data} for {r.qname} {r.qtype} (majority: {r.majority})"
                    for r in bad.itertuples()
                )[:600],
                {
                    "disagreements": bad[["qname", "qtype", "server", "rcode", "answer_data", "majority"]]
                    .astype(str)
                    .to_dict("records")
                },
            )
        )
    return out


def replicas(
    compared: pd.DataFrame, stats: pd.DataFrame, odd: pd.DataFrame, th: Thresholds = Thresholds()
) -> list[Finding]:
    """Findings from asking every server the same questions."""
    out = inconsistent(odd)
    out.extend(server_latency(stats, th))
    if not stats.empty and (stats["timeouts"] > 0).any():
        t = stats[stats["timeouts"] > 0]
        out.append(
            Finding(
                "dns.timeout",
                "critical" if (t["timeout_rate"] >= th.timeout_rate_critical).any() else "warning",
                f"{int(t['timeouts'].sum())} direct queries got no answer after every try",
                "; ".join(
                    f"{r.server}: {r.timeouts}/{r.queries} ({r.timeout_rate:.0%})" for r in t.itertuples()
                ),
                {"per_server": {str(r.server): float(str(r.timeout_rate)) for r in t.itertuples()}},
            )
        )
    trunc = compared[compared["status"] == "truncated"]
    if not trunc.empty:
        out.append(
            Finding(
                "dns.truncated_no_tcp",
                "critical",
                f"{len(trunc)} truncated answer(s) could not be fetched over TCP",
                f"servers: {', '.join(sorted(set(trunc['server'])))}; TCP port 53 is refused or filtered there.",
                {"servers": sorted(set(trunc["server"])), "qnames": sorted(set(trunc["qname"]))},
            )
        )
    return out


def merge(items: Sequence[Finding]) -> list[Finding]:
    """One finding per id: the most severe wins, the others' details are appended to its evidence."""
    by_id: dict[str, Finding] = {}
    extra: dict[str, list[str]] = {}
    for f in items:
        cur = by_id.get(f.id)
        if cur is None:
            by_id[f.id] = f
        elif SEVERITIES.index(f.severity) < SEVERITIES.index(cur.severity):
            extra.setdefault(f.id, []).append(cur.title)
            by_id[f.id] = f
        else:
            extra.setdefault(f.id, []).append(f.title)
    out = []
    inconclusive = {f.id for f in items if f.inconclusive}
    for fid, f in by_id.items():
        if fid in extra:
            f = Finding(
                f.id, f.severity, f.title, f.detail, {**f.evidence, "also": extra[fid]}, fid in inconclusive
            )
        out.append(f)
    return out
