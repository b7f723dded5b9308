"""Findings from the state, reachability and throughput tables: pure functions of frames and
thresholds, each returning :class:`~netdebug_nb.findings.Finding` objects with stable ids.

The notebook records what these return; nothing here displays or collects anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netdebug_nb.findings import Finding, Severity
from netdebug_nb.netstate import firewall, neighbours, nexthop
from netdebug_nb.netstate.snapshot import COMMANDS, SECTIONS, Note

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.netstate.state import State


@dataclass(frozen=True)
class Thresholds:
    iface_errors_min: int = 1  # any error counter at or above this → iface.errors
    iface_drop_pct: float = 0.1  # dropped packets as % of packets → iface.drops
    iface_drops_min: int = 10  # and at least this many
    conntrack_full_pct: float = 90.0  # table fill → conntrack.table_full
    retrans_pct: float = 2.0  # per-connection retransmitted segments % → tcp.high_retrans
    retrans_min_segs: int = 100  # ignore connections that sent fewer data segments
    throughput_min_mbps: float = 100.0  # iperf3 result below this → throughput.low
    udp_loss_pct: float = 1.0  # iperf3 UDP loss above this → throughput.udp_loss


_VIRTUAL = ("lo",)


def _records(df: pd.DataFrame, cols: Sequence[str], limit: int = 20) -> list[dict[str, Any]]:
    return [
        {c: (None if _na(v) else v) for c, v in zip(cols, row, strict=True)}
        for row in df[list(cols)].head(limit).itertuples(index=False)
    ]


def _dicts(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as plain dicts (values typed Any, <NA> kept) for the message-building loops."""
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def _na(v: Any) -> bool:
    try:
        import pandas as pd

        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


# --- collection ---------------------------------------------------------------------------


def _command(source: str) -> str:
    """``conntrack -S (conntrack-S.txt)`` for a snapshot file name."""
    argv = COMMANDS.get(source)
    return f"{' '.join(argv)} ({source})" if argv else source


def coverage(st: State) -> list[Finding]:
    """``netstate.no_data`` when neither routes nor interfaces could be read: the report would be empty.

    A missing ``ip`` (or an empty snapshot directory) leaves nothing to judge the host by; the run
    ends inconclusive with what each command said, instead of a clean-looking report.
    """
    read = {SECTIONS.get(f, "") for f in st.present}
    if read & {"routes", "interfaces"}:
        return []
    return [
        Finding(
            "netstate.no_data",
            "critical",
            "No routes or interfaces could be read: nothing to judge this host by",
            "ip -j route/link/addr produced nothing"
            + (f" ({len(st.present)} other file(s) read)" if st.present else " and no other state was read")
            + "; see the collection notes (tool not installed, not permitted, empty snapshot directory).",
            {
                "files_read": sorted(st.present),
                "notes": [f"{n.source}: {n.kind}: {n.message}" for n in st.notes][:20],
            },
            inconclusive=True,
        )
    ]


def notes(items: Sequence[Note]) -> list[Finding]:
    """Tools missing / not permitted / files unparseable: say which package, capability, file and line."""
    out: list[Finding] = []
    collect_problems: tuple[tuple[str, str, Severity, str], ...] = (
        ("tool_missing", "collect.tool_missing", "info", "not installed"),
        ("permission", "collect.permission_denied", "warning", "not permitted"),
    )
    for kind, fid, severity, what in collect_problems:
        hit = [n for n in items if n.kind == kind]
        if not hit:
            continue
        hints = sorted({n.hint for n in hit if n.hint})
        out.append(
            Finding(
                fid,
                severity,
                f"{len(hit)} state command(s) {what}; their outputs are missing",
                f"{what.capitalize()}: "
                + ", ".join(_command(n.source) for n in hit)
                + (f" — {'; '.join(hints)}" if hints else ""),
                {"files": [n.source for n in hit], "hints": hints, "messages": [n.message for n in hit]},
            )
        )
    failed = [n for n in items if n.kind in ("failed", "timeout")]
    if failed:
        out.append(
            Finding(
                "collect.failed",
                "info",
                f"{len(failed)} state command(s) failed; their outputs are missing",
                "; ".join(n.message for n in failed),
                {"files": [n.source for n in failed]},
            )
        )
    for n in items:
        if n.kind == "unparseable":
            out.append(
                Finding(
                    "snapshot.unparseable",
                    "warning",
                    f"{n.source} could not be parsed; its section is skipped",
                    n.message,
                    {"file": n.source, "section": n.section},
                )
            )
    return out


# --- state --------------------------------------------------------------------------------


def routes(st: State) -> list[Finding]:
    out: list[Finding] = []
    r = st.routes
    if "ip-route.json" in st.present:
        v4 = r[(r["family"] == "inet") & (r["table"] != "local")]
        if not (v4["dst"] == "default").any():
            tables = sorted(set(v4["table"].dropna()))
            out.append(
                Finding(
                    "route.missing_default",
                    "warning",
                    "no IPv4 default route",
                    "Destinations outside the connected and listed prefixes are unreachable ('Network is unreachable').",
                    {"tables": tables, "routes": len(v4)},
                )
            )
    holes = r[r["type"].isin(["blackhole", "unreachable", "prohibit", "throw"])]
    if not holes.empty:
        out.append(
            Finding(
                "route.blackhole",
                "warning",
                f"{len(holes)} blackhole/unreachable route(s): traffic to these prefixes is discarded",
                ", ".join(
                    f"{t} {d} (table {tb})"
                    for t, d, tb in zip(holes["type"], holes["dst"], holes["table"], strict=True)
                ),
                {"routes": _records(holes, ["type", "dst", "table", "protocol"])},
            )
        )
    return out


def neighbour_findings(st: State) -> list[Finding]:
    out: list[Finding] = []
    gateways = set(st.routes["gateway"].dropna()) - {""}
    bad = neighbours.unresolved(st.neighbours)
    for state, fid in (("INCOMPLETE", "neigh.incomplete"), ("FAILED", "neigh.failed")):
        rows = bad[bad["state"] == state]
        if rows.empty:
            continue
        hops = [f"{d} on {dev}" for d, dev in zip(rows["dst"], rows["dev"], strict=True)]
        gw = sorted(set(rows["dst"]) & gateways)
        sev: Severity = "critical" if gw else "warning"
        what = "resolving (no answer yet)" if state == "INCOMPLETE" else "unresolved (no answer to ARP/ND)"
        detail = f"Neighbours {what}: {', '.join(hops)}."
        if gw:
            detail += f" {', '.join(gw)} is a route gateway: everything routed through it is lost."
        out.append(
            Finding(
                fid,
                sev,
                f"{len(rows)} neighbour(s) {state}: nobody answers ARP/ND for them",
                detail,
                {"neighbours": _records(rows, ["dst", "dev", "state"]), "gateways": gw},
            )
        )
    return out


def interface_findings(st: State, th: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    i = st.interfaces
    if i.empty:
        return out
    err_cols = ["rx_errors", "tx_errors", "rx_crc_errors", "rx_over_errors", "tx_carrier_errors"]
    errs = i.assign(errors=i["rx_errors"].fillna(0) + i["tx_errors"].fillna(0))
    errs = errs[errs["errors"] >= th.iface_errors_min]
    if not errs.empty:
        out.append(
            Finding(
                "iface.errors",
                "warning",
                f"{len(errs)} interface(s) with RX/TX errors",
                ", ".join(f"{n}: {int(e)}" for n, e in zip(errs["ifname"], errs["errors"], strict=True)),
                {"interfaces": _records(errs, ["ifname", *err_cols])},
            )
        )
    pk = i["rx_packets"].fillna(0) + i["tx_packets"].fillna(0)
    drops = (
        i["rx_dropped"].fillna(0)
        + i["tx_dropped"].fillna(0)
        + i["rx_over_errors"].fillna(0)
        + i["rx_missed_errors"].fillna(0)
    )
    pct = (100 * drops / pk.where(pk > 0)).fillna(0)
    d = i.assign(drops=drops, drop_pct=pct)
    d = d[(d["drops"] >= th.iface_drops_min) & (d["drop_pct"] >= th.iface_drop_pct)]
    if not d.empty:
        out.append(
            Finding(
                "iface.drops",
                "warning",
                f"{len(d)} interface(s) dropping packets",
                ", ".join(
                    f"{n}: {int(x)} ({p:.2f}%)"
                    for n, x, p in zip(d["ifname"], d["drops"], d["drop_pct"], strict=True)
                ),
                {
                    "interfaces": _records(
                        d,
                        [
                            "ifname",
                            "rx_dropped",
                            "tx_dropped",
                            "rx_over_errors",
                            "rx_missed_errors",
                            "drop_pct",
                        ],
                    )
                },
            )
        )
    out.extend(mtu_findings(st))
    return out


def mtu_findings(st: State) -> list[Finding]:
    """Different MTUs among the interfaces that carry traffic (routed through, or bridge ports).

    A path through a 1500 and a 1400 interface (overlay vs underlay, a bridge whose port has a
    smaller MTU) only works if PMTU discovery works; a mismatch inside a bridge never does.
    """
    i = st.interfaces
    if i.empty:
        return []
    routed = set(st.routes[(st.routes["table"] != "local")]["dev"].dropna()) - {""}
    carrying = i["up"].fillna(False) & i["lower_up"].fillna(False) & ~i["ifname"].isin(_VIRTUAL)
    used = i[carrying & (i["ifname"].isin(routed) | (i["master"] != ""))]
    mtus = sorted({int(m) for m in used["mtu"].dropna()})
    if len(mtus) < 2:
        return []
    by = {m: sorted(used[used["mtu"] == m]["ifname"]) for m in mtus}
    bridge_bad = []
    master_mtu = {str(d["ifname"]): d["mtu"] for d in _dicts(i)}
    for r in _dicts(used[used["master"] != ""]):
        m = master_mtu.get(str(r["master"]))
        if m is not None and not _na(m) and int(m) != int(r["mtu"]):
            bridge_bad.append(f"{r['ifname']} ({r['mtu']}) in {r['master']} ({int(m)})")
    detail = "; ".join(f"MTU {m}: {', '.join(n)}" for m, n in by.items())
    if bridge_bad:
        detail += ". Bridge ports differ from their bridge: " + ", ".join(bridge_bad)
    return [
        Finding(
            "iface.mtu_mismatch",
            "warning",
            f"different MTUs on the paths through this host ({', '.join(map(str, mtus))})",
            detail
            + ". Packets larger than the smallest MTU rely on PMTU discovery (ICMP 'frag needed') getting through.",
            {"mtus": {str(m): n for m, n in by.items()}, "bridge_ports": bridge_bad},
        )
    ]


def conntrack_findings(st: State, th: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    u = st.conntrack_usage
    if u.empty:
        return out
    row = _dicts(u)[0]
    failed = row["total_insert_failed"]
    if not _na(failed) and int(failed) > 0:
        out.append(
            Finding(
                "conntrack.insert_failed",
                "warning",
                f"conntrack insert_failed = {int(failed)}",
                "Entries lost an insert race (typically parallel UDP DNS queries through NAT); the first packet of those flows was dropped.",
                {
                    "insert_failed": int(failed),
                    "drop": None if _na(row["total_drop"]) else int(row["total_drop"]),
                },
            )
        )
    pct, early = row["used_pct"], row["total_early_drop"]
    if not _na(pct) and float(pct) >= th.conntrack_full_pct:
        out.append(
            Finding(
                "conntrack.table_full",
                "critical",
                f"conntrack table {float(pct):.0f}% full ({int(row['count'])}/{int(row['max'])})",
                "New connections are dropped when the table is full (raise net.netfilter.nf_conntrack_max or find the flood).",
                {
                    "count": int(row["count"]),
                    "max": int(row["max"]),
                    "early_drop": None if _na(early) else int(early),
                },
            )
        )
    elif not _na(early) and int(early) > 0:
        out.append(
            Finding(
                "conntrack.table_full",
                "warning",
                f"conntrack early_drop = {int(early)}: the table has been full",
                "The kernel evicted entries to make room; it is not full now but was.",
                {
                    "early_drop": int(early),
                    "count": None if _na(row["count"]) else int(row["count"]),
                    "max": None if _na(row["max"]) else int(row["max"]),
                },
            )
        )
    return out


def firewall_findings(st: State) -> list[Finding]:
    hits = firewall.drop_hits(st.firewall)
    if hits.empty:
        return []
    detail = "; ".join(
        f"{b} {t}/{c} {k} {tg} {r} — {int(p)} pkts"
        for b, t, c, k, tg, r, p in zip(
            hits["backend"],
            hits["table"],
            hits["chain"],
            hits["kind"],
            hits["target"],
            hits["rule"],
            hits["packets"],
            strict=True,
        )
    )
    return [
        Finding(
            "firewall.drop_hits",
            "warning",
            f"{len(hits)} DROP/REJECT rule(s) have matched packets",
            detail,
            {
                "rules": _records(
                    hits,
                    ["backend", "family", "table", "chain", "kind", "target", "rule", "packets", "bytes"],
                )
            },
        )
    ]


def kubeproxy_findings(st: State) -> list[Finding]:
    s = st.services
    if s.empty:
        return []
    bad = s[s["no_endpoints"].fillna(False)]
    if bad.empty:
        return []
    return [
        Finding(
            "kubeproxy.no_endpoints",
            "warning",
            f"{len(bad)} Service address(es) programmed without endpoints",
            ", ".join(
                f"{n or a}:{p}/{pr}"
                for n, a, p, pr in zip(bad["service"], bad["address"], bad["port"], bad["proto"], strict=True)
            ),
            {"services": _records(bad, ["mode", "service", "address", "port", "proto", "reject_packets"])},
        )
    ]


def tcp_findings(st: State, th: Thresholds) -> list[Finding]:
    t = st.tcp
    if t.empty:
        return []
    segs = t["data_segs_out"].fillna(t["segs_out"]).fillna(0)
    bad = t[(segs >= th.retrans_min_segs) & (t["retrans_pct"].fillna(0) >= th.retrans_pct)]
    if bad.empty:
        return []
    bad = bad.sort_values("retrans_pct", ascending=False)
    return [
        Finding(
            "tcp.high_retrans",
            "warning",
            f"{len(bad)} TCP connection(s) retransmit ≥ {th.retrans_pct:g}% of segments",
            ", ".join(
                f"{a}:{p}→{pa}:{pp} {r:.1f}% (rtt {rt} ms)"
                for a, p, pa, pp, r, rt in zip(
                    bad["local_addr"],
                    bad["local_port"],
                    bad["peer_addr"],
                    bad["peer_port"],
                    bad["retrans_pct"],
                    bad["rtt_ms"],
                    strict=True,
                )
            ),
            {
                "connections": _records(
                    bad,
                    [
                        "local_addr",
                        "local_port",
                        "peer_addr",
                        "peer_port",
                        "process",
                        "retrans_total",
                        "data_segs_out",
                        "retrans_pct",
                        "rtt_ms",
                        "cwnd",
                    ],
                )
            },
        )
    ]


def socket_findings(st: State, reach: pd.DataFrame | None = None) -> list[Finding]:
    """Listeners bound to loopback only; a warning when a probed port is served only on loopback here."""
    lo = st.listening[st.listening["loopback_only"].fillna(False)]
    if lo.empty:
        return []
    probed: set[int] = set()
    if reach is not None and not reach.empty:
        probed = {int(p) for p in reach["port"].dropna()}
    elsewhere = set(
        st.listening[~st.listening["loopback_only"].fillna(False)]["local_port"].dropna().astype(int)
    )
    asked = lo[lo["local_port"].isin(probed) & ~lo["local_port"].isin(elsewhere)]
    sev: Severity = "warning" if not asked.empty else "info"
    desc = ", ".join(
        f"{a}:{p}/{pr} ({proc or '?'})"
        for a, p, pr, proc in zip(lo["local_addr"], lo["local_port"], lo["proto"], lo["process"], strict=True)
    )
    detail = f"Bound to loopback only, unreachable from other hosts: {desc}."
    if not asked.empty:
        detail += f" Port(s) {', '.join(str(p) for p in sorted(set(asked['local_port'])))} were probed but are only listened on loopback here."
    return [
        Finding(
            "socket.listen_loopback_only",
            sev,
            f"{len(lo)} service(s) listen on loopback only",
            detail,
            {
                "listeners": _records(lo, ["proto", "local_addr", "local_port", "process", "pid"]),
                "probed_ports_on_loopback_only": sorted({int(p) for p in asked["local_port"]}),
            },
        )
    ]


def state(st: State, th: Thresholds) -> list[Finding]:
    """Every state finding, in report order."""
    return [
        *routes(st),
        *neighbour_findings(st),
        *interface_findings(st, th),
        *conntrack_findings(st, th),
        *firewall_findings(st),
        *kubeproxy_findings(st),
        *tcp_findings(st, th),
    ]


# --- reachability and throughput ----------------------------------------------------------


def probed_neighbours(hops: pd.DataFrame, known: pd.DataFrame | None = None) -> list[Finding]:
    """``neigh.incomplete`` / ``neigh.failed`` for the next hops of probed targets that never answered.

    The neighbour table collected before the probes cannot show these: the probes create the
    entries. Entries already in ``known`` (the table read before) were reported with the state.
    """
    bad = nexthop.unanswered(hops)
    if known is not None and not known.empty and not bad.empty:
        seen = set(zip(known["dst"], known["dev"], known["state"], strict=True))
        bad = bad[
            [(h, d, s) not in seen for h, d, s in zip(bad["next_hop"], bad["dev"], bad["state"], strict=True)]
        ]
    out: list[Finding] = []
    for state_, fid in (("INCOMPLETE", "neigh.incomplete"), ("FAILED", "neigh.failed")):
        rows = bad[bad["state"] == state_]
        if rows.empty:
            continue
        recs = rows.to_dict("records")
        gateways = sorted({str(r["next_hop"]) for r in recs if not r["on_link"]})
        out.append(
            Finding(
                fid,
                "critical",
                f"{len(recs)} probed target(s) unreachable: "
                + "; ".join(nexthop.reason(r) for r in recs[:4]),
                "Nothing answered ARP / ND for these addresses on their link while they were probed, so "
                "no packet could be sent: the address is wrong, the host is down, or it sits on another "
                "VLAN / subnet. This is not a firewall: the ports were never reached."
                + (
                    f" {', '.join(gateways)} is the gateway for them: everything routed through it is lost."
                    if gateways
                    else ""
                ),
                {
                    "targets": [
                        {k: r[k] for k in ("target", "address", "next_hop", "dev", "on_link", "state")}
                        for r in recs
                    ],
                    "neighbours": [
                        {"dst": r["next_hop"], "dev": r["dev"], "state": r["state"]} for r in recs
                    ],
                    "gateways": gateways,
                },
            )
        )
    return out


def reachability(
    reach: pd.DataFrame,
    lookups: pd.DataFrame,
    hops: pd.DataFrame | None = None,
    known_neighbours: pd.DataFrame | None = None,
) -> list[Finding]:
    out: list[Finding] = [] if hops is None else probed_neighbours(hops, known_neighbours)
    for state_, fid, what in (
        ("filtered", "port.filtered", "no answer / ICMP prohibited: a firewall or a route drops them"),
        (
            "closed",
            "port.closed",
            "the host answered with RST / ICMP port unreachable: nothing listens there",
        ),
    ):
        rows = reach[reach["state"] == state_]
        if rows.empty:
            continue
        out.append(
            Finding(
                fid,
                "warning",
                f"{len(rows)} target port(s) {state_}",
                f"{what}: "
                + ", ".join(
                    f"{t}:{p}/{pr} ({r})"
                    for t, p, pr, r in zip(
                        rows["target"], rows["port"], rows["proto"], rows["reason"], strict=True
                    )
                ),
                {
                    "ports": _records(
                        rows, ["source", "target", "address", "proto", "port", "reason", "method"]
                    )
                },
            )
        )
    errs = reach[reach["state"] == "error"]
    if not errs.empty:
        out.append(
            Finding(
                "port.error",
                "warning",
                f"{len(errs)} target port(s) could not be probed",
                ", ".join(
                    f"{t}:{p}/{pr} ({r})"
                    for t, p, pr, r in zip(
                        errs["target"], errs["port"], errs["proto"], errs["reason"], strict=True
                    )
                ),
                {"ports": _records(errs, ["target", "proto", "port", "reason"])},
            )
        )
    noroute = lookups[lookups["error"] != ""]
    if not noroute.empty:
        out.append(
            Finding(
                "route.no_route",
                "warning",
                f"{len(noroute)} target(s) have no usable route from this host",
                ", ".join(f"{t}: {e}" for t, e in zip(noroute["target"], noroute["error"], strict=True)),
                {"targets": _records(noroute, ["target", "error"])},
            )
        )
    return out


def throughput(summary: pd.DataFrame, th: Thresholds) -> list[Finding]:
    out: list[Finding] = []
    for r in _dicts(summary):
        if r["error"]:
            out.append(
                Finding(
                    "throughput.failed",
                    "warning",
                    f"iperf3 {r['test'] or ''} test failed".replace("  ", " "),
                    str(r["error"]),
                    {"server": r["server"], "test": r["test"]},
                )
            )
            continue
        mbps = r["received_mbps"] if not _na(r["received_mbps"]) else r["sent_mbps"]
        # UDP runs at the requested rate: its problem is loss, reported below, not the rate
        if r["test"] == "tcp" and not _na(mbps) and float(mbps) < th.throughput_min_mbps:
            out.append(
                Finding(
                    "throughput.low",
                    "warning",
                    f"{r['test'].upper()} throughput to {r['server']} is {float(mbps):.1f} Mbit/s (< {th.throughput_min_mbps:g})",
                    f"{int(r['streams']) if not _na(r['streams']) else 1} stream(s) for {float(r['duration_s'] or 0):.0f} s"
                    + (f", {int(r['retransmits'])} retransmits" if not _na(r["retransmits"]) else "")
                    + (
                        f", {float(r['lost_pct']):.1f}% lost, jitter {float(r['jitter_ms']):.2f} ms"
                        if not _na(r["lost_pct"])
                        else ""
                    ),
                    {
                        "server": r["server"],
                        "test": r["test"],
                        "mbps": float(mbps),
                        "retransmits": None if _na(r["retransmits"]) else int(r["retransmits"]),
                    },
                )
            )
        if not _na(r["lost_pct"]) and float(r["lost_pct"]) > th.udp_loss_pct:
            out.append(
                Finding(
                    "throughput.udp_loss",
                    "warning",
                    f"UDP loss to {r['server']}: {float(r['lost_pct']):.1f}%",
                    f"{int(r['lost_packets'])} of {int(r['packets'])} datagrams lost, jitter {float(r['jitter_ms']):.2f} ms",
                    {
                        "server": r["server"],
                        "lost_pct": float(r["lost_pct"]),
                        "jitter_ms": float(r["jitter_ms"]),
                    },
                )
            )
    return out
