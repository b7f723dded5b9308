"""Frames and thresholds in, findings out: the conclusions the latency notebook records.

Each check returns :class:`~netdebug_nb.findings.Finding` objects without recording them, so the
rules are testable as pure functions; :func:`record` puts them in the notebook. One finding per
id, naming the targets concerned, keeps a 200-target run readable.

Stable ids: ``latency.loss``, ``latency.high_p99``, ``latency.jitter``, ``latency.outage``,
``target.unreachable``, ``target.unresolvable``, ``path.hop_loss``, ``path.rate_limited_hop``,
``path.unreached``, ``path.mtu_blackhole``, ``path.mtu_reduced``, ``latency.input_truncated``, ``latency.ok``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from netdebug_nb import findings
from netdebug_nb.findings import Finding
from netdebug_nb.latency.mtu import Verdict
from netdebug_nb.netstate import nexthop


@dataclass(frozen=True)
class Thresholds:
    loss_warn_pct: float = 1.0
    loss_crit_pct: float = 10.0
    p99_warn_ms: float = 100.0
    jitter_warn_ms: float = 20.0
    outage_min_probes: int = 3
    hop_loss_pct: float = 2.0


def _names(items: Iterable[Any], limit: int = 4) -> str:
    targets = [str(t) for t in items]
    shown = ", ".join(targets[:limit])
    return shown + (f" and {len(targets) - limit} more" if len(targets) > limit else "")


def targets(stats: pd.DataFrame, hops: pd.DataFrame | None = None) -> list[Finding]:
    """Targets that did not resolve or never answered.

    ``hops`` (:func:`netdebug_nb.netstate.nexthop.collect`, read after a live run) tells a target
    whose next hop never answered ARP / ND ("no ARP reply on eth0": wrong address, host down, wrong
    VLAN) from one whose packets left and were silently dropped further on. Without it (saved
    output) neither is claimed.
    """
    out: list[Finding] = []
    unres = stats[stats["status"] == "unresolvable"]
    if len(unres):
        names = [str(t) for t in unres["target"]]
        out.append(
            Finding(
                "target.unresolvable",
                "warning",
                f"{len(names)} target name(s) did not resolve: {_names(names)}",
                "The resolver gave no address, so nothing was probed. Check the name, the search "
                "domains in /etc/resolv.conf and the DNS server (the dns notebook traces resolution).",
                {"targets": {str(r["target"]): r["error"] for r in _records(unres)}},
            )
        )
    dead = stats[stats["status"] == "unreachable"]
    if len(dead):
        hop = {} if hops is None else {str(r["target"]): r for r in _records(hops)}
        names = [str(t) for t in dead["target"]]
        why: dict[str, str] = {}
        no_neighbour: list[str] = []
        for r in _records(dead):
            t = str(r["target"])
            h = hop.get(t)
            if h is not None and h["state"] in nexthop.BAD_STATES:
                why[t] = nexthop.reason(h)
                no_neighbour.append(t)
            elif isinstance(r["error"], str):
                why[t] = r["error"]
            elif h is not None and h["state"] in nexthop.RESOLVED_STATES:
                why[t] = "no reply (silently dropped)"
            else:
                why[t] = "no reply and no ICMP error"
        rejected = [t for t, w in why.items() if "Unreachable" in w or "Prohibited" in w]
        dropped = [t for t, w in why.items() if w == "no reply (silently dropped)"]
        unknown = [t for t, w in why.items() if w == "no reply and no ICMP error"]
        parts = ["Every probe was lost."]
        if no_neighbour:
            parts.append(
                f"Nothing answered ARP/ND for {_names(no_neighbour)} ({why[no_neighbour[0]]}): no packet "
                "left this host. The address is wrong, the host is down, or it is on another VLAN/subnet."
            )
        if rejected:
            parts.append(f"An ICMP error came back for {_names(rejected)} (actively rejected or no route).")
        if dropped:
            parts.append(
                f"The next hop answered ARP/ND for {_names(dropped)} but no reply and no ICMP error came "
                "back: a firewall DROP, a down host behind a router, or a missing return route."
            )
        if unknown:
            parts.append(
                f"No reply and no ICMP error for {_names(unknown)} (the neighbour state was not read: saved "
                "output): a firewall DROP, a down host, an unanswered ARP, or a missing return route."
            )
        evidence: dict[str, Any] = {
            "targets": why,
            "sent": {str(r["target"]): int(r["sent"]) for r in _records(dead)},
        }
        if hops is not None:
            evidence["neighbours"] = {
                t: {k: hop[t][k] for k in ("next_hop", "dev", "on_link", "state")} for t in names if t in hop
            }
        out.append(
            Finding(
                "target.unreachable",
                "critical",
                f"{len(names)} target(s) unreachable: {_names(names)}"
                + (f" (no ARP/ND reply for {_names(no_neighbour)})" if no_neighbour else ""),
                " ".join(parts),
                evidence,
            )
        )
    return out


def latency(stats: pd.DataFrame, outages: pd.DataFrame, th: Thresholds = Thresholds()) -> list[Finding]:
    """Loss, tail latency, jitter and outages of the targets that answered at all."""
    out: list[Finding] = []
    live = stats[stats["received"].fillna(0) > 0]
    lossy = live[live["loss_pct"].fillna(0) >= th.loss_warn_pct]
    if len(lossy):
        worst = float(lossy["loss_pct"].max())
        out.append(
            Finding(
                "latency.loss",
                "critical" if worst >= th.loss_crit_pct else "warning",
                f"Packet loss to {len(lossy)} target(s), up to {worst:.1f}%: {_names(lossy['target'])}",
                f"Loss at or above {th.loss_warn_pct:g}% (critical from {th.loss_crit_pct:g}%). TCP reacts to "
                "every lost packet with a retransmission and a smaller window, so even 1% costs throughput.",
                {"loss_pct": _col(lossy, "loss_pct"), "sent": _col(lossy, "sent")},
            )
        )
    slow = live[live["p99_ms"].fillna(0) >= th.p99_warn_ms]
    if len(slow):
        out.append(
            Finding(
                "latency.high_p99",
                "warning",
                f"High tail latency (p99 >= {th.p99_warn_ms:g} ms) to {len(slow)} target(s): {_names(slow['target'])}",
                "The slowest 1% of round trips is high; compare with p50 to tell a generally slow path "
                "from occasional spikes (queueing, CPU throttling, retransmits on the path).",
                {
                    "p50_ms": _col(slow, "p50_ms"),
                    "p99_ms": _col(slow, "p99_ms"),
                    "max_ms": _col(slow, "max_ms"),
                },
            )
        )
    jittery = live[live["jitter_ms"].fillna(0) >= th.jitter_warn_ms]
    if len(jittery):
        out.append(
            Finding(
                "latency.jitter",
                "warning",
                f"Jitter >= {th.jitter_warn_ms:g} ms to {len(jittery)} target(s): {_names(jittery['target'])}",
                "Consecutive round trips differ a lot (mean absolute difference); voice, video and "
                "latency-sensitive RPC suffer even when the average looks fine.",
                {"jitter_ms": _col(jittery, "jitter_ms"), "p50_ms": _col(jittery, "p50_ms")},
            )
        )
    live_names = {str(t) for t in live["target"]}
    runs = outages[(outages["probes"] >= th.outage_min_probes) & outages["target"].isin(live_names)]
    if len(runs):
        longest = runs.sort_values("probes", ascending=False).drop_duplicates("target")
        out.append(
            Finding(
                "latency.outage",
                "critical",
                f"{len(runs)} outage(s) of >= {th.outage_min_probes} consecutive lost probes: "
                f"{_names(longest['target'])}",
                "Runs of consecutive losses are outages, not random loss: a link flap, a route change, "
                "a restarting pod or a full conntrack table. Line up the start times with events.",
                {
                    "outages": [
                        {
                            "target": str(r["target"]),
                            "start_seq": int(r["start_seq"]),
                            "probes": int(r["probes"]),
                            "start_ts": None if pd.isna(r["start_ts"]) else r["start_ts"].isoformat(),
                            "duration_s": None
                            if pd.isna(r["duration_s"])
                            else round(float(r["duration_s"]), 3),
                        }
                        for r in _records(runs.head(50))
                    ]
                },
            )
        )
    return out


def path(path_frame: pd.DataFrame, th: Thresholds = Thresholds()) -> list[Finding]:
    """Real loss starting at a hop, and hops whose loss is only ICMP rate limiting."""
    from netdebug_nb.latency.path import loss_origin

    out: list[Finding] = []
    if len(path_frame) == 0:
        return out
    for dst, p in path_frame.groupby("dst", sort=False):
        if (p["verdict"] == "unreached").any():
            answered = p[p["responded"].astype(bool)]
            last = answered.iloc[-1] if len(answered) else None
            where = f"hop {int(last['hop'])} ({last['host']})" if last is not None else "no hop at all"
            out.append(
                Finding(
                    "path.unreached",
                    "warning",
                    f"Path to {dst}: the destination never answered; the last answer came from {where}",
                    "Probes die after the last answering hop: a firewall dropping the traffic, a missing "
                    "route (or return route) beyond it, or a host that is down. Per-hop loss on such a path "
                    "cannot be told from rate limiting, so it is not judged.",
                    {"dst": dst, "hops": _hops(p)},
                )
            )
            continue
        origin = loss_origin(p, loss_threshold_pct=th.hop_loss_pct)
        final = p[p["hop"] == p["hop"].max()]
        dest_loss = float(final["carried_loss_pct"].max())
        if len(origin):
            o = origin.iloc[0]
            at_dst = o["hop"] == p["hop"].max()
            where = "at the destination itself" if at_dst else f"at hop {int(o['hop'])} ({o['host']})"
            out.append(
                Finding(
                    "path.hop_loss",
                    "critical" if dest_loss >= th.hop_loss_pct * 5 else "warning",
                    f"Path to {dst}: loss starts {where} and carries to the destination ({dest_loss:.1f}%)",
                    "Loss that persists at every later hop is real packet loss on the link or device "
                    "into that hop" + (" (or on the destination host)" if at_dst else "") + ".",
                    {
                        "dst": dst,
                        "hop": int(o["hop"]),
                        "host": o["host"],
                        "carried_loss_pct": dest_loss,
                        "hops": _hops(p),
                    },
                )
            )
        limited = p[p["verdict"].isin(["rate_limited", "no_reply"]) & (p["responder"] == 0)]
        if len(limited):
            desc = [
                f"hop {int(r['hop'])} ({r['host']}) {float(r['loss_pct']):.0f}% loss"
                for r in _records(limited)
            ]
            out.append(
                Finding(
                    "path.rate_limited_hop",
                    "info",
                    f"Path to {dst}: {', '.join(desc[:3])} does not carry to later hops (ICMP rate limiting, not loss)",
                    "Routers answer traceroute probes from their control plane and rate-limit or filter "
                    "ICMP TTL-exceeded replies. Traffic through the hop is not lost: later hops and the "
                    "destination answer. Do not chase this as packet loss.",
                    {"dst": dst, "hops": _hops(limited)},
                )
            )
    return out


def mtu(verdicts: Iterable[Verdict]) -> list[Finding]:
    out: list[Finding] = []
    for v in verdicts:
        if v.blackhole:
            out.append(
                Finding(
                    "path.mtu_blackhole",
                    "critical",
                    f"Path-MTU black hole to {v.target}: packets above {v.largest_ok_packet} bytes vanish silently",
                    f"With Don't Fragment set, {v.largest_ok_packet}-byte packets get replies and "
                    f"{v.smallest_failed_packet}-byte packets get nothing, not even ICMP 'fragmentation needed'. "
                    "Small requests work and large responses hang (TLS handshakes, big API replies). A link "
                    "on the path has a smaller MTU (overlay/VPN/tunnel) and its ICMP is filtered: allow ICMP "
                    "type 3 code 4, lower the MTU, or clamp TCP MSS.",
                    {
                        "target": v.target,
                        "largest_ok_packet": v.largest_ok_packet,
                        "smallest_failed_packet": v.smallest_failed_packet,
                    },
                )
            )
        elif v.mtu_reported is not None and v.mtu_reported < 1500:
            out.append(
                Finding(
                    "path.mtu_reduced",
                    "info",
                    f"Path MTU to {v.target} is {v.mtu_reported} bytes (reported via ICMP; discovery works)",
                    "Packets above the path MTU are refused with ICMP 'fragmentation needed', so senders adapt.",
                    {"target": v.target, "mtu": v.mtu_reported, "largest_ok_packet": v.largest_ok_packet},
                )
            )
    return out


def notes(source: str, items: Sequence[str]) -> list[Finding]:
    """Saved outputs that are cut short still give partial results; say so."""
    cut = [n for n in items if n.startswith("truncated")]
    if not cut:
        return []
    return [
        Finding(
            "latency.input_truncated",
            "warning",
            f"{source} looks truncated; results cover only what was recorded",
            "; ".join(cut),
            {"source": source, "notes": list(items)},
        )
    ]


def record(items: Iterable[Finding]) -> list[Finding]:
    """Record findings in the running notebook, most severe first."""
    return [
        findings.record(f.id, f.severity, f.title, f.detail, f.evidence, inconclusive=f.inconclusive)
        for f in findings.sort(items)
    ]


def probes_missing(run: Any, *, expected: bool) -> list[Finding]:
    """``latency.no_probes`` when fping ran (or its output was read) but not one probe is in it."""
    if not expected or run is None or run.probes["seq"].notna().any():  # rows without seq: unresolved names
        return []
    return [
        Finding(
            "latency.no_probes",
            "warning",
            "No probe results: nothing to measure latency or loss on",
            "fping printed no probe line (every target unresolvable, or the output holds only "
            "summaries); the latency views are empty.",
            {"notes": list(getattr(run, "notes", []))[:10]},
            inconclusive=True,
        )
    ]


def all_clear(recorded: Iterable[Finding], *, measured: bool) -> list[Finding]:
    """``latency.ok``, only with evidence: something was measured and nothing at all was found.

    Any recorded finding (a problem, a note, a tool that could not run, nothing to measure)
    withholds the all-clear, so ``latency.ok`` never stands beside a failure.
    """
    if not measured or any(True for _ in recorded):
        return []
    return [
        Finding("latency.ok", "info", "No loss, outage, high latency or path problem above the thresholds")
    ]


def _col(df: pd.DataFrame, col: str) -> dict[str, Any]:
    return {
        str(t): (None if pd.isna(v) else round(float(v), 3))
        for t, v in zip(df["target"], df[col], strict=True)
    }


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in row.items()} for row in df.to_dict("records")]


def _hops(p: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "hop": int(r["hop"]),
            "host": str(r["host"]),
            "loss_pct": None if pd.isna(r["loss_pct"]) else float(r["loss_pct"]),
            "verdict": str(r["verdict"]),
        }
        for r in _records(p)
    ]
