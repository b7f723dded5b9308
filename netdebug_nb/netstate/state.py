"""All sections of one snapshot parsed into declared frames, with a note for every section that
was missing or could not be parsed (the others still stand)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.errors import InputError
from netdebug_nb.netstate import conntrack, firewall, interfaces, kubeproxy, neighbours, routes, sockets
from netdebug_nb.netstate.snapshot import SECTIONS, Note, Snapshot

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class State:
    hostname: str
    routes: pd.DataFrame
    rules: pd.DataFrame
    neighbours: pd.DataFrame
    interfaces: pd.DataFrame
    addresses: pd.DataFrame
    listening: pd.DataFrame
    tcp: pd.DataFrame
    conntrack_stats: pd.DataFrame
    conntrack_usage: pd.DataFrame
    firewall: pd.DataFrame
    chains: pd.DataFrame
    services: pd.DataFrame
    ipvs: pd.DataFrame
    notes: list[Note] = field(default_factory=list)
    present: set[str] = field(default_factory=set)  # snapshot files that were read


def build(snap: Snapshot) -> State:
    """Parse every file of ``snap``; an unparseable file becomes a note naming the file and line."""
    notes = list(snap.notes)

    def parsed(name: str, parser: Callable[[str, str], Any], empty: Any) -> Any:
        text = snap.text(name)
        if text is None:
            return empty
        try:
            return parser(text, snap.source(name))
        except InputError as exc:
            notes.append(Note(SECTIONS.get(name, ""), name, "unparseable", str(exc)))
            return empty

    addrs = parsed("ip-addr.json", interfaces.parse_addrs, schema.empty(interfaces.ADDR_SCHEMA))
    ifaces = parsed(
        "ip-link.json",
        lambda t, s: interfaces.parse(t, addrs, source=s),
        schema.empty(interfaces.IFACE_SCHEMA),
    )
    stats = parsed("conntrack-S.txt", conntrack.parse_stats, schema.empty(conntrack.STATS_SCHEMA))
    if stats.empty:  # conntrack not permitted or not installed: the kernel's own counters
        stats = parsed("nf_conntrack-stat.txt", conntrack.parse_proc_stat, stats)
    count = parsed("conntrack-count.txt", conntrack.parse_count, None)
    sysctls = parsed("sysctl.txt", conntrack.parse_sysctl, {})
    fw_parts = [
        parsed("iptables-save.txt", lambda t, s: firewall.parse_iptables_save(t, s), schema.empty(firewall.RULE_SCHEMA)),
        parsed("ip6tables-save.txt", lambda t, s: firewall.parse_iptables_save(t, s, family="ipv6"), schema.empty(firewall.RULE_SCHEMA)),
        parsed("iptables-legacy-save.txt", lambda t, s: firewall.parse_iptables_save(t, s, backend="iptables-legacy"), schema.empty(firewall.RULE_SCHEMA)),
        parsed("nft.json", firewall.parse_nft, schema.empty(firewall.RULE_SCHEMA)),
    ]  # fmt: skip
    rules = firewall.combine(*fw_parts)
    ipvs = parsed("ipvsadm.txt", kubeproxy.parse_ipvsadm, schema.empty(kubeproxy.IPVS_SCHEMA))
    services = _concat(
        [kubeproxy.from_iptables(p) for p in fw_parts[:3]] + [kubeproxy.from_ipvs(ipvs)],
        kubeproxy.SERVICE_SCHEMA,
    )
    return State(
        hostname=snap.hostname,
        routes=parsed("ip-route.json", routes.parse, schema.empty(routes.ROUTE_SCHEMA)),
        rules=parsed("ip-rule.json", routes.parse_rules, schema.empty(routes.RULE_SCHEMA)),
        neighbours=parsed("ip-neigh.json", neighbours.parse, schema.empty(neighbours.NEIGH_SCHEMA)),
        interfaces=ifaces,
        addresses=addrs,
        listening=_not_collector(
            parsed("ss-tulpn.txt", sockets.parse_listening, schema.empty(sockets.LISTEN_SCHEMA)),
            snap.collector_pid,
        ),
        tcp=parsed("ss-tin.txt", sockets.parse_tcp_info, schema.empty(sockets.TCP_SCHEMA)),
        conntrack_stats=stats,
        conntrack_usage=conntrack.usage(stats, count, sysctls),
        firewall=rules,
        chains=firewall.chains(rules),
        services=services,
        ipvs=ipvs,
        notes=notes,
        present=set(snap.texts),
    )


def _concat(frames: list[pd.DataFrame], sch: schema.Schema) -> pd.DataFrame:
    import pandas as pd

    parts = [f for f in frames if not f.empty]
    return schema.conform(pd.concat(parts, ignore_index=True), sch) if parts else schema.empty(sch)


def _not_collector(listening: pd.DataFrame, pid: int | None) -> pd.DataFrame:
    """Drop the collector's own sockets (a notebook kernel listens on loopback ports)."""
    if pid is None or listening.empty:
        return listening
    return listening[listening["pid"] != pid].reset_index(drop=True)
