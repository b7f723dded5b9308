"""Interfaces with their state, MTU, addresses and error/drop counters (``ip -j -s -s link``).

Counters are cumulative since the interface came up, so a non-zero value says "this happened",
not "this is happening"; the table keeps the packet totals next to them for a rate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.netstate.parsing import json_list

if TYPE_CHECKING:
    import pandas as pd

IFACE_SCHEMA: schema.Schema = {
    "ifname": "string",
    "ifindex": "Int64",
    "kind": "string",  # link_type (ether, loopback, none for tunnels ...)
    "operstate": "string",  # UP | DOWN | UNKNOWN | LOWERLAYERDOWN
    "up": "boolean",  # administratively up (UP flag)
    "lower_up": "boolean",  # carrier (LOWER_UP flag)
    "mtu": "Int64",
    "master": "string",  # bridge/bond the interface is enslaved to
    "addresses": "string",  # comma-joined CIDRs (from ip -j addr)
    "rx_packets": "Int64",
    "tx_packets": "Int64",
    "rx_bytes": "Int64",
    "tx_bytes": "Int64",
    "rx_errors": "Int64",
    "tx_errors": "Int64",
    "rx_dropped": "Int64",
    "tx_dropped": "Int64",
    "rx_over_errors": "Int64",  # overruns (ring full)
    "rx_missed_errors": "Int64",
    "rx_crc_errors": "Int64",
    "tx_carrier_errors": "Int64",
    "collisions": "Int64",
}

ADDR_SCHEMA: schema.Schema = {
    "ifname": "string",
    "family": "string",  # inet | inet6
    "address": "string",
    "prefixlen": "Int64",
    "scope": "string",  # global | link | host
}


def _stats(link: dict[str, Any]) -> dict[str, Any]:
    s = link.get("stats64") or link.get("stats") or {}
    rx, tx = s.get("rx") or {}, s.get("tx") or {}
    return {
        "rx_packets": rx.get("packets"),
        "tx_packets": tx.get("packets"),
        "rx_bytes": rx.get("bytes"),
        "tx_bytes": tx.get("bytes"),
        "rx_errors": rx.get("errors"),
        "tx_errors": tx.get("errors"),
        "rx_dropped": rx.get("dropped"),
        "tx_dropped": tx.get("dropped"),
        "rx_over_errors": rx.get("over_errors"),
        "rx_missed_errors": rx.get("missed_errors"),
        "rx_crc_errors": rx.get("crc_errors"),
        "tx_carrier_errors": tx.get("carrier_errors"),
        "collisions": tx.get("collisions"),
    }


def parse_addrs(text: str, source: str = "ip-addr.json") -> pd.DataFrame:
    """``ip -j addr show`` → one row per address."""
    rows = []
    for link in json_list(text, source, what="ip -j addr"):
        for a in link.get("addr_info") or []:
            rows.append(
                {
                    "ifname": link.get("ifname", ""),
                    "family": a.get("family", ""),
                    "address": a.get("local", ""),
                    "prefixlen": a.get("prefixlen"),
                    "scope": a.get("scope", ""),
                }
            )
    return schema.frame(rows, ADDR_SCHEMA)


def parse(link_text: str, addrs: pd.DataFrame | None = None, source: str = "ip-link.json") -> pd.DataFrame:
    """``ip -j -s -s link show`` (+ the address table) → one row per interface."""
    by_if: dict[str, list[str]] = {}
    if addrs is not None:
        for r in addrs.itertuples(index=False):
            by_if.setdefault(str(r.ifname), []).append(f"{r.address}/{r.prefixlen}")
    rows = []
    for link in json_list(link_text, source, what="ip -j -s -s link"):
        flags = [str(f) for f in link.get("flags") or []]
        name = str(link.get("ifname", ""))
        rows.append(
            {
                "ifname": name,
                "ifindex": link.get("ifindex"),
                "kind": link.get("link_type", ""),
                "operstate": link.get("operstate", ""),
                "up": "UP" in flags,
                "lower_up": "LOWER_UP" in flags,
                "mtu": link.get("mtu"),
                "master": link.get("master", ""),
                "addresses": ",".join(by_if.get(name, [])),
                **_stats(link),
            }
        )
    return schema.frame(rows, IFACE_SCHEMA)
