"""Routes (every table), policy rules and per-target route lookups, from ``ip -j``.

All tables are read because the problems hide outside ``main``: a blackhole in a VRF or policy
table, a CNI's table selected by an ``ip rule``, the ``local`` table. ``ip route get`` is what
the kernel would actually do for one destination, so 'no route' and 'wrong interface' show up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from netdebug_nb import schema, tools
from netdebug_nb.errors import NetdebugError
from netdebug_nb.netstate.parsing import json_list

if TYPE_CHECKING:
    import pandas as pd

ROUTE_SCHEMA: schema.Schema = {
    "family": "string",  # inet | inet6 (ip -j omits it; derived from the destination)
    "table": "string",  # main when ip omits it
    "type": "string",  # unicast | blackhole | unreachable | prohibit | local | broadcast | multicast ...
    "dst": "string",  # "default" or a prefix
    "gateway": "string",
    "dev": "string",
    "protocol": "string",  # kernel | boot | static | bird | ...
    "scope": "string",
    "prefsrc": "string",
    "metric": "Int64",
    "mtu": "Int64",  # route mtu attribute (ip route ... mtu N), when set
    "flags": "string",  # comma-joined (linkdown, onlink, ...)
}

RULE_SCHEMA: schema.Schema = {
    "priority": "Int64",
    "src": "string",  # "all" or a prefix
    "dst": "string",
    "iif": "string",
    "oif": "string",
    "fwmark": "string",
    "table": "string",
    "action": "string",  # lookup table, or blackhole/unreachable/prohibit/goto
}

LOOKUP_SCHEMA: schema.Schema = {
    "target": "string",
    "type": "string",  # unicast, local, blackhole, unreachable ... or "" when the lookup failed
    "dev": "string",
    "gateway": "string",
    "prefsrc": "string",
    "mtu": "Int64",  # dev MTU, filled by the caller from the interface table
    "error": "string",  # e.g. "Network is unreachable" (no route)
}


def _family(dst: str) -> str:
    return "inet6" if ":" in dst else "inet"


def _metrics_mtu(r: dict[str, Any]) -> int | None:
    for m in r.get("metrics") or []:
        if isinstance(m, dict) and "mtu" in m:
            try:
                return int(m["mtu"])
            except (TypeError, ValueError):
                return None
    return None


def parse(text: str, source: str = "ip-route.json") -> pd.DataFrame:
    """``ip -j route show table all`` → one row per route."""
    rows = []
    for r in json_list(text, source, what="ip -j route"):
        dst = str(r.get("dst", ""))
        rows.append(
            {
                "family": r.get("family") or _family(dst),
                "table": str(r.get("table", "main")),
                "type": r.get("type", "unicast"),
                "dst": dst,
                "gateway": r.get("gateway", ""),
                "dev": r.get("dev", ""),
                "protocol": r.get("protocol", ""),
                "scope": r.get("scope", ""),
                "prefsrc": r.get("prefsrc", ""),
                "metric": r.get("metric"),
                "mtu": _metrics_mtu(r),
                "flags": ",".join(str(f) for f in r.get("flags") or []),
            }
        )
    return schema.frame(rows, ROUTE_SCHEMA)


def parse_rules(text: str, source: str = "ip-rule.json") -> pd.DataFrame:
    """``ip -j rule show`` → policy rules in priority order."""
    rows = []
    for r in json_list(text, source, what="ip -j rule"):
        src = str(r.get("src", "all"))
        if "srclen" in r:
            src = f"{src}/{r['srclen']}"
        dst = str(r.get("dst", "all"))
        if "dstlen" in r:
            dst = f"{dst}/{r['dstlen']}"
        table = str(r.get("table", ""))
        rows.append(
            {
                "priority": r.get("priority"),
                "src": src,
                "dst": dst,
                "iif": r.get("iif", ""),
                "oif": r.get("oif", ""),
                "fwmark": str(r.get("fwmark", "")),
                "table": table,
                "action": f"lookup {table}" if table else str(r.get("action", "")),
            }
        )
    return schema.frame(rows, RULE_SCHEMA)


def collect_lookup(target: str, *, timeout: float = 5.0) -> str:
    """``ip -j route get TARGET``; a failed lookup (no route) is returned as its stderr text."""
    try:
        return tools.run(("ip", "-j", "route", "get", target), timeout=timeout).stdout
    except NetdebugError as exc:
        stderr = getattr(exc, "stderr", "") or str(exc)
        return "ERROR " + " ".join(stderr.split())


def parse_lookup(target: str, text: str) -> dict[str, Any]:
    """One ``ip route get`` result (JSON, or ``ERROR message`` from :func:`collect_lookup`)."""
    row: dict[str, Any] = {
        "target": target,
        "type": "",
        "dev": "",
        "gateway": "",
        "prefsrc": "",
        "mtu": None,
        "error": "",
    }
    if text.startswith("ERROR"):
        msg = text[len("ERROR") :].strip()
        err = msg.split("RTNETLINK answers:")[-1].strip() or msg
        # the kernel answers a lookup that hits a blackhole/prohibit route with these errnos
        meaning = {
            "Invalid argument": "blackhole route",
            "Permission denied": "prohibit route",
            "No route to host": "unreachable route",
            "Network is unreachable": "no route",
        }
        row["error"] = next((f"{m} ({err})" for k, m in meaning.items() if k in err), err)
        return row
    items = json_list(text, f"ip route get {target}", what="ip -j route get")
    if not items:
        row["error"] = "no answer from ip route get"
        return row
    r = items[0]
    row.update(
        type=r.get("type", "unicast"),
        dev=r.get("dev", ""),
        gateway=r.get("gateway", ""),
        prefsrc=r.get("prefsrc", ""),
    )
    return row


def lookups(results: dict[str, str]) -> pd.DataFrame:
    """Frame of :func:`parse_lookup` over ``{target: text}``."""
    return schema.frame([parse_lookup(t, txt) for t, txt in results.items()], LOOKUP_SCHEMA)
