"""Node-to-node latency from a fleet run: a source x destination matrix and the worst pairs.

Mesh mode: ``fleet run latency --mesh`` gives each node's Job ``targets`` = every other node's
InternalIP, so each node's latency run is one row of the matrix. Per node, this module reads the
per-target table from ``DIR/<node>/latency/``: ``latency_stats.csv`` (the latency notebook's
:data:`netdebug_nb.latency.probes.STATS_SCHEMA`, when it saves one) or, failing that, a raw
``fping.txt`` (parsed and summarized with the latency package's own code). Addresses become node
names through ``DIR/fleet.json``.

Verdicts follow Goldpinger's idea (a pair is unhealthy above loss/latency thresholds) with one
addition: a node that nobody reaches, and that reaches nobody, is *isolated*, one finding instead
of 2(n-1) pair findings. Everything below :func:`read` is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from netdebug_nb import schema
from netdebug_nb.findings import Finding

STATS_FILE = "latency_stats.csv"
FPING_FILE = "fping.txt"

MESH_SCHEMA: schema.Schema = {
    "src": "string",  # node that probed
    "dst": "string",  # node probed, NODE/pod for its fleet pod, the address when no node has it
    "dst_addr": "string",
    "status": "string",  # ok | loss | unreachable, as the latency package says
    "sent": "Int64",
    "received": "Int64",
    "loss_pct": "Float64",
    "p50_ms": "Float64",
    "p99_ms": "Float64",
}

NODES_SCHEMA: schema.Schema = {
    "node": "string",
    "internal_ip": "string",
    "pod_ip": "string",  # its fleet pod's IP (a destination in mesh-with-pods mode)
    "state": "string",  # the Job's outcome: succeeded | failed | ...
    "reason": "string",  # why it has no data (Unschedulable, OOMKilled ...)
    "has_data": "boolean",  # a per-target table was found for it
}


@dataclass(frozen=True)
class Thresholds:
    loss_warn_pct: float = 1.0
    loss_crit_pct: float = 20.0
    p50_warn_ms: float = 10.0
    p99_warn_ms: float = 50.0
    top_n: int = 10  # worst pairs listed in a finding


# --- I/O edge --------------------------------------------------------------------------------


def read(fleet_dir: Path, notebook: str = "latency") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(nodes, mesh) from a fleet output directory."""
    from netdebug_nb.fleet.controller import read_manifest

    manifest = read_manifest(fleet_dir)
    node_rows: list[dict[str, Any]] = []
    per_node: dict[str, pd.DataFrame] = {}
    for n in manifest["nodes"]:
        run_dir = fleet_dir / str(n.get("dir") or n["node"]) / notebook
        stats = read_stats(run_dir)
        if stats is not None:
            per_node[str(n["node"])] = stats
        node_rows.append(
            {
                "node": n["node"],
                "internal_ip": n.get("internal_ip") or "",
                "pod_ip": n.get("pod_ip") or "",
                "state": n.get("state") or "",
                "reason": n.get("reason") or "",
                "has_data": stats is not None,
            }
        )
    nodes = schema.frame(node_rows, NODES_SCHEMA)
    return nodes, build(nodes, per_node)


def read_stats(run_dir: Path) -> pd.DataFrame | None:
    """One node's per-target stats, or None when its run left neither file."""
    from netdebug_nb.latency import fping, probes

    csv = run_dir / STATS_FILE
    if csv.is_file():
        return schema.conform(pd.read_csv(csv, dtype={"target": "string"}), probes.STATS_SCHEMA)
    raw = run_dir / FPING_FILE
    if raw.is_file():
        return probes.summarize(fping.read(raw).probes)
    return None


# --- pure ------------------------------------------------------------------------------------


def build(nodes: pd.DataFrame, per_node: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (source node, target) from each node's per-target stats."""
    recs = nodes.to_dict("records")
    by_ip = {
        str(r["pod_ip"]): f"{r['node']}/pod" for r in recs if isinstance(r["pod_ip"], str) and r["pod_ip"]
    }
    by_ip |= {
        str(r["internal_ip"]): str(r["node"])
        for r in recs
        if isinstance(r["internal_ip"], str) and r["internal_ip"]
    }
    rows: list[dict[str, Any]] = []
    for src, stats in per_node.items():
        for r in stats.itertuples():
            addr = str(r.target)
            rows.append(
                {
                    "src": src,
                    "dst": by_ip.get(addr, addr),
                    "dst_addr": addr,
                    "status": r.status,
                    "sent": r.sent,
                    "received": r.received,
                    "loss_pct": r.loss_pct,
                    "p50_ms": r.p50_ms,
                    "p99_ms": r.p99_ms,
                }
            )
    if not rows:
        return schema.empty(MESH_SCHEMA)
    return schema.frame(rows, MESH_SCHEMA).sort_values(["src", "dst"], ignore_index=True)


def matrix(mesh: pd.DataFrame, value: str, nodes: pd.DataFrame | None = None) -> pd.DataFrame:
    """Source x destination grid of ``value`` (``loss_pct``, ``p50_ms``, ``p99_ms``); every node
    appears on both axes (a node without data is an empty row), the diagonal is empty."""
    names = sorted(set(mesh["src"]) | set(mesh["dst"]) | (set(nodes["node"]) if nodes is not None else set()))
    grid = mesh.pivot_table(index="src", columns="dst", values=value, aggfunc="max") if len(mesh) else None
    out = pd.DataFrame(
        index=pd.Index(names, name="src"), columns=pd.Index(names, name="dst"), dtype="float64"
    )
    if grid is not None:
        out.update(grid.astype("float64"))
    return out


def isolated(mesh: pd.DataFrame) -> list[str]:
    """Nodes every other node failed to reach (100 % loss), and that reached none of them either
    when they reported at all."""
    out = []
    for node in sorted(set(mesh["dst"]) & set(mesh["src"]) | set(mesh["dst"])):
        inbound = mesh[(mesh["dst"] == node) & (mesh["src"] != node)]
        outbound = mesh[(mesh["src"] == node) & (mesh["dst"] != node)]
        if len(inbound) < 2 or not (inbound["loss_pct"].fillna(100) >= 100).all():
            continue
        if len(outbound) and not (outbound["loss_pct"].fillna(100) >= 100).all():
            continue
        out.append(str(node))
    return out


def assess(mesh: pd.DataFrame, nodes: pd.DataFrame, th: Thresholds = Thresholds()) -> list[Finding]:
    """mesh.node_isolated, mesh.pair_loss, mesh.pair_latency (worst first), mesh.no_data."""
    out: list[Finding] = []
    missing = nodes[~nodes["has_data"].fillna(False).astype(bool)]
    if len(missing):
        out.append(
            Finding(
                "mesh.no_data",
                "warning",
                f"{len(missing)} node(s) sent no measurements",
                "; ".join(
                    f"{r['node']}: {r['reason'] or r['state'] or 'no stats'}"
                    for r in missing.to_dict("records")
                ),
                {"nodes": list(missing["node"])},
            )
        )
    if not len(mesh):
        return out
    lonely = isolated(mesh)
    for node in lonely:
        inbound = mesh[mesh["dst"] == node]
        out.append(
            Finding(
                "mesh.node_isolated",
                "critical",
                f"{node} is isolated: no node reaches it",
                f"{len(inbound)} node(s) probed {node} and lost every probe"
                + ("; it reached none of the others either." if (mesh["src"] == node).any() else "."),
                {"node": node, "probed_by": sorted(inbound["src"])},
            )
        )
    rest = mesh[~mesh["src"].isin(lonely) & ~mesh["dst"].isin(lonely)]
    lossy = rest[rest["loss_pct"].fillna(100) >= th.loss_warn_pct].sort_values("loss_pct", ascending=False)
    if len(lossy):
        worst = float(lossy["loss_pct"].fillna(100).max())
        out.append(
            Finding(
                "mesh.pair_loss",
                "critical" if worst >= th.loss_crit_pct else "warning",
                f"{len(lossy)} node pair(s) lose packets (worst {worst:.0f} %)",
                ", ".join(
                    f"{r['src']}→{r['dst']} {_num(r['loss_pct'], 100):.0f} %"
                    for r in lossy.head(th.top_n).to_dict("records")
                ),
                {"pairs": _pairs(lossy.head(th.top_n))},
            )
        )
    slow = rest[
        (rest["p50_ms"] >= th.p50_warn_ms).fillna(False) | (rest["p99_ms"] >= th.p99_warn_ms).fillna(False)
    ]
    slow = slow.sort_values("p99_ms", ascending=False)
    if len(slow):
        out.append(
            Finding(
                "mesh.pair_latency",
                "warning",
                f"{len(slow)} node pair(s) slower than p50 {th.p50_warn_ms:g} ms / p99 {th.p99_warn_ms:g} ms",
                ", ".join(
                    f"{r['src']}→{r['dst']} p50 {_num(r['p50_ms']):.1f} / p99 {_num(r['p99_ms']):.1f} ms"
                    for r in slow.head(th.top_n).to_dict("records")
                ),
                {"pairs": _pairs(slow.head(th.top_n))},
            )
        )
    return out


def _pairs(df: pd.DataFrame) -> list[dict[str, Any]]:
    cols = ["src", "dst", "loss_pct", "p50_ms", "p99_ms"]
    return [
        {str(k): (None if pd.isna(v) else v) for k, v in row.items()} for row in df[cols].to_dict("records")
    ]


def _num(v: Any, missing: float = float("nan")) -> float:
    return missing if v is None or pd.isna(v) else float(v)


# --- plot ------------------------------------------------------------------------------------


def heatmap(grid: pd.DataFrame, *, title: str, warn: float, crit: float | None = None, unit: str = "") -> Any:
    """A Goldpinger-like grid: green below ``warn``, amber up to ``crit``, red above, grey = no data."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.colors import BoundaryNorm, ListedColormap

    crit = crit if crit is not None else warn * 4
    values = grid.to_numpy(dtype="float64")
    n = max(len(grid.index), 1)
    fig, ax = plt.subplots(figsize=(min(2 + 0.5 * n, 12), min(1.5 + 0.45 * n, 12)))  # fits a 1280-px page
    cmap = ListedColormap(["#43a047", "#ffb300", "#e53935"]).with_extremes(bad="#dddddd")
    top = max(crit * 2, float(np.nanmax(values)) + 1 if np.isfinite(values).any() else crit * 2)
    ax.imshow(
        np.ma.masked_invalid(values), cmap=cmap, norm=BoundaryNorm([0, warn, crit, top], 3), aspect="auto"
    )
    ax.set_xticks(range(len(grid.columns)), [str(c) for c in grid.columns], rotation=90)
    ax.set_yticks(range(len(grid.index)), [str(i) for i in grid.index])
    ax.set_xlabel("destination")
    ax.set_ylabel("source")
    ax.set_title(title)
    if n <= 30:
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}" if v >= 10 else f"{v:.1f}", ha="center", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def coverage(
    manifest: Mapping[str, Any], pairs: pd.DataFrame, dns_runs: Mapping[str, Any], *, probe_rows: int = 0
) -> list[Finding]:
    """``mesh.nothing_merged`` when the fleet directory holds no measurement at all to merge.

    A fleet run whose nodes all failed (or a manifest without nodes) gives empty heatmaps; the run
    ends inconclusive naming the nodes and their states rather than showing a clean mesh.
    """
    if len(pairs) or dns_runs or probe_rows:
        return []
    nodes = manifest.get("nodes") or []
    states = {
        str(n.get("node", n.get("name", "?"))): str(n.get("state") or n.get("reason") or "no result")
        for n in nodes
        if isinstance(n, Mapping)
    }
    return [
        Finding(
            "mesh.nothing_merged",
            "warning",
            f"No measurements to merge from {len(nodes)} node(s)",
            "No node's run left latency pairs, DNS results or endpoint probes in the fleet directory"
            + (": " + ", ".join(f"{k} ({v})" for k, v in list(states.items())[:8]) if states else "")
            + ".",
            {"nodes": states},
            inconclusive=True,
        )
    ]
