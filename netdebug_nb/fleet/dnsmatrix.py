"""DNS from every node: which nodes see timeouts or a slow nameserver / CoreDNS replica.

Input: each node's ``dns_trace`` run (``DIR/<node>/dns_trace/findings.json``). The DNS checks
put their per-server numbers in the findings' evidence (``timeouts_per_server``, ``per_server``,
``servers``), so the node x server table is built from findings alone and works for runs made
anywhere. Pure below :func:`read`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from netdebug_nb import schema

PROBLEMS_SCHEMA: schema.Schema = {
    "node": "string",
    "server": "string",  # nameserver address as the DNS notebook named it
    "finding": "string",  # dns.timeout, dns.slow_server, dns.unreachable_server ...
    "severity": "string",
    "value": "string",  # the per-server number from the evidence (count, rate, p50 ...)
}


def read(fleet_dir: Path, notebook: str = "dns_trace") -> dict[str, list[dict[str, Any]]]:
    """node → findings of its DNS run (nodes without a DNS run are left out)."""
    from netdebug_nb.fleet.controller import read_manifest

    out: dict[str, list[dict[str, Any]]] = {}
    for n in read_manifest(fleet_dir)["nodes"]:
        fj = fleet_dir / str(n.get("dir") or n["node"]) / notebook / "findings.json"
        if fj.is_file():
            doc = json.loads(fj.read_text(encoding="utf-8"))
            out[str(n["node"])] = list(doc.get("findings") or [])
    return out


def problems(per_node: Mapping[str, Sequence[Mapping[str, Any]]]) -> pd.DataFrame:
    """One row per (node, server, finding) that names a server."""
    rows: list[dict[str, Any]] = []
    for node, found in per_node.items():
        for f in found:
            for server, value in _servers(f.get("evidence") or {}):
                rows.append(
                    {
                        "node": node,
                        "server": server,
                        "finding": f.get("id", ""),
                        "severity": f.get("severity", ""),
                        "value": value,
                    }
                )
    if not rows:
        return schema.empty(PROBLEMS_SCHEMA)
    return schema.frame(rows, PROBLEMS_SCHEMA).sort_values(["node", "server", "finding"], ignore_index=True)


def table(probs: pd.DataFrame, nodes: Sequence[str]) -> pd.DataFrame:
    """Node x server grid; a cell lists the short finding names (``timeout, slow_server``)."""
    servers = sorted(set(probs["server"]))
    grid = pd.DataFrame(
        "", index=pd.Index(list(nodes), name="node"), columns=pd.Index(servers, name="server")
    )
    for (node, server), g in probs.groupby(["node", "server"]):
        grid.loc[node, server] = ", ".join(sorted({str(x).removeprefix("dns.") for x in g["finding"]}))
    return grid


def _servers(ev: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key in ("timeouts_per_server", "per_server"):
        val = ev.get(key)
        if isinstance(val, Mapping):
            out += [(str(k), str(v)) for k, v in val.items()]
    servers = ev.get("servers")
    if isinstance(servers, list):
        for s in servers:
            if isinstance(s, Mapping) and s.get("server"):
                out.append((str(s["server"]), str(s.get("p50_ms", ""))))
            elif isinstance(s, str):
                out.append((s, ""))
    return out
