"""Which neighbour each target depends on, and whether it answered ARP / ND.

A probe to an address on a connected subnet that no host holds gets no answer at all: the kernel
asks "who has 198.18.80.9?" on the link, nobody replies, and the connect times out or fails with
EHOSTUNREACH. Port scanners call that "filtered", which sends people looking for a firewall. The
truth is in the neighbour table *after* the probe (the probe is what creates the entry), so this
module reads the route the kernel takes to every target (``ip route get``) and the neighbour state
of its next hop (the target itself when on-link, else the gateway) once the probes have run.

:func:`build` is pure (route lookups + neighbour table → one row per target); :func:`collect` runs
the two commands through :mod:`netdebug_nb.tools`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.netstate import neighbours, reachability, routes

if TYPE_CHECKING:
    import pandas as pd

HOP_SCHEMA: schema.Schema = {
    "target": "string",  # as given
    "address": "string",  # the target's address ("" when it did not resolve)
    "dev": "string",  # interface of the route to it ("" without a route)
    "next_hop": "string",  # the neighbour asked for: the target itself on-link, else the gateway
    "on_link": "boolean",  # no gateway: the target itself must answer ARP / ND
    "family": "string",  # inet | inet6
    "state": "string",  # neighbour state of next_hop after the probes ("" when there is no entry)
}

RESOLVED_STATES = ("REACHABLE", "STALE", "DELAY", "PROBE", "PERMANENT", "NOARP")
BAD_STATES = neighbours.BAD_STATES


def build(lookups: pd.DataFrame, neigh: pd.DataFrame, addresses: Mapping[str, str]) -> pd.DataFrame:
    """One row per target of ``lookups``: its next hop and that neighbour's state in ``neigh``."""
    states: dict[tuple[str, str], str] = {
        (str(d), str(v)): str(s) for d, v, s in zip(neigh["dst"], neigh["dev"], neigh["state"], strict=True)
    }
    rows: list[dict[str, Any]] = []
    for r in lookups.to_dict("records"):
        target = str(r["target"])
        address = addresses.get(target, "") or ""
        dev = "" if r["dev"] is None or r["dev"] != r["dev"] else str(r["dev"])
        gateway = "" if r["gateway"] is None or r["gateway"] != r["gateway"] else str(r["gateway"])
        if r["type"] not in ("unicast", "") or r["error"]:
            dev = ""  # local, blackhole, no route: no neighbour is asked
        hop = gateway or address
        rows.append(
            {
                "target": target,
                "address": address,
                "dev": dev,
                "next_hop": hop if dev else "",
                "on_link": bool(dev) and not gateway,
                "family": "inet6" if ":" in hop else "inet",
                "state": states.get((hop, dev), "") if dev else "",
            }
        )
    return schema.frame(rows, HOP_SCHEMA)


def unanswered(hops: pd.DataFrame) -> pd.DataFrame:
    """Targets whose next hop never answered ARP / ND (INCOMPLETE while asking, FAILED after)."""
    return hops[hops["state"].isin(BAD_STATES)].reset_index(drop=True)


def reason(row: Mapping[Any, Any]) -> str:
    """``no ARP reply for 198.18.80.9 on eth0`` (or from the gateway), in the words people search for."""
    proto = "ND" if row["family"] == "inet6" else "ARP"
    if row["on_link"]:
        return f"no {proto} reply for {row['next_hop']} on {row['dev']}"
    return f"no {proto} reply from gateway {row['next_hop']} on {row['dev']}"


def explain(reach: pd.DataFrame, hops: pd.DataFrame) -> pd.DataFrame:
    """``reach`` with the ports of targets whose next hop never answered ARP / ND marked unreachable.

    Without this a host absent from its link shows as "filtered (no answer)" on every port, which
    sends people looking for a firewall. ``hops`` is :func:`collect` read after the probes, when
    the probes' own ARP / ND requests have failed.
    """
    bad = unanswered(hops)
    if reach.empty or bad.empty:
        return reach
    why = {str(r["target"]): reason(r) for r in bad.to_dict("records")}
    out = reach.copy()
    hit = out["target"].isin(list(why)) & out["state"].isin(["filtered", "open|filtered", "error"])
    out.loc[hit, "state"] = reachability.UNREACHABLE
    out.loc[hit, "reason"] = out.loc[hit, "target"].map(why)
    return schema.conform(out, reachability.REACH_SCHEMA)


def collect(targets: Sequence[str], addresses: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Route lookups and the neighbour table, read now (call it after the probes)."""
    if not targets:
        return schema.empty(HOP_SCHEMA)
    addr = {t: (addresses or {}).get(t) or reachability.resolve(t)[0] for t in targets}
    lookups = routes.lookups({t: routes.collect_lookup(addr[t] or t) for t in targets})
    return build(lookups, neighbours.parse(neighbours.collect(), "ip -j neigh show"), addr)
