"""The neighbour (ARP / NDP) table from ``ip -j neigh``.

INCOMPLETE and FAILED entries are the 'incomplete ARP' problem: the host wants to send to a next
hop on a link and nobody answers for that address, so traffic to everything behind it is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from netdebug_nb import schema, tools
from netdebug_nb.netstate.parsing import json_list

if TYPE_CHECKING:
    import pandas as pd

NEIGH_SCHEMA: schema.Schema = {
    "family": "string",  # inet | inet6
    "dst": "string",
    "dev": "string",
    "lladdr": "string",  # empty while unresolved
    "state": "string",  # REACHABLE | STALE | DELAY | PROBE | INCOMPLETE | FAILED | PERMANENT | NOARP (first state)
    "router": "boolean",  # IPv6 neighbour is a router
}

BAD_STATES = ("INCOMPLETE", "FAILED")


def parse(text: str, source: str = "ip-neigh.json") -> pd.DataFrame:
    rows = []
    for n in json_list(text, source, what="ip -j neigh"):
        dst = str(n.get("dst", ""))
        states = n.get("state") or []
        if isinstance(states, str):
            states = [states]
        rows.append(
            {
                "family": "inet6" if ":" in dst else "inet",
                "dst": dst,
                "dev": n.get("dev", ""),
                "lladdr": n.get("lladdr", ""),
                "state": str(states[0]) if states else "NONE",
                "router": "router" in n,
            }
        )
    return schema.frame(rows, NEIGH_SCHEMA)


def unresolved(neigh: pd.DataFrame) -> pd.DataFrame:
    """Entries whose address never answered (INCOMPLETE while resolving, FAILED after)."""
    return neigh[neigh["state"].isin(BAD_STATES)].reset_index(drop=True)


def collect(*, timeout: float = 5.0) -> str:
    """``ip -j neigh show``: the whole table (both families), as the kernel has it now."""
    return tools.run(("ip", "-j", "neigh", "show"), timeout=timeout).stdout
