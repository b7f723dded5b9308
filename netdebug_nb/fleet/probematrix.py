"""Endpoints from every node: ``fleet run endpoint_probe`` gives each node's view of the same
targets; this module lays them out node x endpoint, so "fails only from node-3" (its network,
its routes, its conntrack) stands out from "fails from everywhere" (the endpoint itself).

Input per node: ``DIR/<node>/endpoint_probe/probe_targets.csv`` (the notebook's per-target
percentiles with its verdict). Pure below :func:`read`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from netdebug_nb import schema
from netdebug_nb.findings import Finding

TARGETS_FILE = "probe_targets.csv"

NODE_TARGETS_SCHEMA: schema.Schema = {
    "node": "string",
    "target": "string",
    "verdict": "string",  # ok | network | tls | application
    "error_rate_pct": "Float64",
    "total_p50_ms": "Float64",
    "total_p90_ms": "Float64",
    "reasons": "string",
}


def read(fleet_dir: Path, notebook: str = "endpoint_probe") -> pd.DataFrame:
    """One row per (node, target) from every node that left a per-target table."""
    from netdebug_nb.fleet.controller import read_manifest

    frames = []
    for n in read_manifest(fleet_dir)["nodes"]:
        csv = fleet_dir / str(n.get("dir") or n["node"]) / notebook / TARGETS_FILE
        if csv.is_file():
            df = pd.read_csv(csv, dtype={"target": "string", "verdict": "string", "reasons": "string"})
            frames.append(df.assign(node=str(n["node"])))
    if not frames:
        return schema.empty(NODE_TARGETS_SCHEMA)
    df = pd.concat(frames, ignore_index=True)
    return schema.conform(df.fillna({"reasons": ""}), NODE_TARGETS_SCHEMA)


def table(per_node: pd.DataFrame, value: str = "verdict") -> pd.DataFrame:
    """Node x endpoint grid of ``value`` (a verdict, an error rate, a percentile)."""
    if per_node.empty:
        return pd.DataFrame()
    grid = per_node.pivot_table(index="node", columns="target", values=value, aggfunc="first")
    grid.columns.name, grid.index.name = "target", "node"
    return grid


def assess(per_node: pd.DataFrame) -> list[Finding]:
    """``probe.node_specific``: endpoints whose verdict depends on the node probing them."""
    split: dict[str, Mapping[str, Any]] = {}
    for tgt, g in per_node.groupby("target", sort=False):
        if g["verdict"].nunique() > 1:
            split[str(tgt)] = {
                "verdicts": {
                    str(r["node"]): f"{r['verdict']}: {r['reasons']}".rstrip(": ")
                    for r in g.to_dict("records")
                },
                "ok_from": sorted(str(x) for x in g.loc[g["verdict"] == "ok", "node"]),
            }
    if not split:
        return []
    return [
        Finding(
            "probe.node_specific",
            "warning",
            f"{len(split)} endpoint(s) look different from different nodes: {', '.join(list(split)[:4])}",
            "The same endpoint gets another verdict from other nodes, so look at what differs on the "
            "nodes where it is bad: their routes, firewall, conntrack table, CNI, DNS (NodeLocal cache) "
            "or node-level egress.",
            {"endpoints": split},
        )
    ]
