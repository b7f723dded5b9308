from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from apiserver_jobs import Cluster

from netdebug_nb import catalogue, schema
from netdebug_nb.fleet import controller, mesh, result
from netdebug_nb.fleet.controller import FleetOptions
from netdebug_nb.fleet.jobspec import JobOptions
from netdebug_nb.latency import probes

LAB = catalogue.DATA_DIR / "fleet" / "lab"  # recorded: 4 netns "nodes", node-4 isolated, node-1↔node-2 lossy


def test_recorded_lab_mesh_matrix() -> None:
    nodes, m = mesh.read(LAB)
    schema.check(m, mesh.MESH_SCHEMA)
    schema.check(nodes, mesh.NODES_SCHEMA)
    assert len(m) == 12 and set(m["src"]) == set(m["dst"]) == {"node-1", "node-2", "node-3", "node-4"}
    loss = mesh.matrix(m, "loss_pct", nodes)
    assert list(loss.index) == list(loss.columns) == ["node-1", "node-2", "node-3", "node-4"]
    assert loss.isna().to_numpy().diagonal().all()
    assert (loss.loc[["node-1", "node-2", "node-3"], "node-4"] == 100).all()
    assert (loss.loc["node-4"].drop("node-4") == 100).all()
    assert 10 < loss.loc["node-1", "node-2"] < 60 and 10 < loss.loc["node-2", "node-1"] < 60
    assert loss.loc["node-1", "node-3"] == 0 and loss.loc["node-3", "node-2"] == 0
    p50 = mesh.matrix(m, "p50_ms", nodes)
    assert p50.loc["node-1", "node-3"] < 5 and pd.isna(p50.loc["node-1", "node-4"])


def test_recorded_lab_findings() -> None:
    nodes, m = mesh.read(LAB)
    found = {f.id: f for f in mesh.assess(m, nodes)}
    assert set(found) == {"mesh.node_isolated", "mesh.pair_loss"}
    assert found["mesh.node_isolated"].evidence["node"] == "node-4"
    assert found["mesh.node_isolated"].severity == "critical"
    pairs = [(p["src"], p["dst"]) for p in found["mesh.pair_loss"].evidence["pairs"]]
    assert sorted(pairs) == [
        ("node-1", "node-2"),
        ("node-2", "node-1"),
    ]  # the isolated node is not repeated as pairs
    assert found["mesh.pair_loss"].severity == "critical"  # > 20 % by default
    lenient = {f.id: f for f in mesh.assess(m, nodes, mesh.Thresholds(loss_crit_pct=80))}
    assert lenient["mesh.pair_loss"].severity == "warning"


def stats(rows: list[dict[str, object]]) -> pd.DataFrame:
    full = [{c: None for c in probes.STATS_SCHEMA} | {"status": "ok", "sent": 20} | r for r in rows]
    return schema.frame(full, probes.STATS_SCHEMA)


def nodes_frame(names: list[str]) -> pd.DataFrame:
    rows = [
        {
            "node": n,
            "internal_ip": f"10.0.0.{i}",
            "pod_ip": f"10.244.0.{i}",
            "state": "succeeded",
            "reason": "",
            "has_data": True,
        }
        for i, n in enumerate(names, 1)
    ]
    return schema.frame(rows, mesh.NODES_SCHEMA)


def test_latency_pairs_and_unknown_targets() -> None:
    nodes = nodes_frame(["a", "b", "c"])
    per = {
        "a": stats(
            [
                {"target": "10.0.0.2", "loss_pct": 0.0, "p50_ms": 0.5, "p99_ms": 80.0},
                {"target": "10.0.0.3", "loss_pct": 0.0, "p50_ms": 0.4, "p99_ms": 1.0},
            ]
        ),
        "b": stats(
            [
                {"target": "10.0.0.1", "loss_pct": 0.0, "p50_ms": 12.0, "p99_ms": 20.0},
                {"target": "192.0.2.9", "loss_pct": 0.0, "p50_ms": 1.0, "p99_ms": 1.0},
                {"target": "10.244.0.3", "loss_pct": 0.0, "p50_ms": 1.0, "p99_ms": 1.0},
            ]
        ),
    }
    m = mesh.build(nodes, per)
    assert "192.0.2.9" in set(m["dst"])  # an address no node has stays an address
    assert "c/pod" in set(m["dst"])  # a fleet pod's IP is named after its node
    found = {f.id: f for f in mesh.assess(m, nodes)}
    slow = [(p["src"], p["dst"]) for p in found["mesh.pair_latency"].evidence["pairs"]]
    assert slow == [("a", "b"), ("b", "a")]  # worst p99 first
    assert "mesh.pair_loss" not in found and "mesh.node_isolated" not in found


def test_node_without_data_is_reported_and_keeps_its_row() -> None:
    nodes = nodes_frame(["a", "b", "c"])
    nodes.loc[2, "has_data"] = False
    nodes.loc[2, "reason"] = "Unschedulable"
    per = {"a": stats([{"target": "10.0.0.2", "loss_pct": 0.0, "p50_ms": 1.0, "p99_ms": 1.0}])}
    m = mesh.build(nodes, per)
    found = {f.id: f for f in mesh.assess(m, nodes)}
    assert "c: Unschedulable" in found["mesh.no_data"].detail
    assert list(mesh.matrix(m, "loss_pct", nodes).index) == ["a", "b", "c"]


def test_no_data_at_all_is_empty_not_an_error() -> None:
    nodes = nodes_frame(["a"])
    m = mesh.build(nodes, {})
    schema.check(m, mesh.MESH_SCHEMA)
    assert mesh.assess(m, nodes) == [] and mesh.isolated(m) == []


def test_stats_csv_is_preferred_over_raw_fping(tmp_path: Path) -> None:
    run_dir = tmp_path / "latency"
    shutil.copytree(LAB / "node-1" / "latency", run_dir)
    stats([{"target": "198.18.10.2", "loss_pct": 5.0, "p50_ms": 1.0, "p99_ms": 2.0}]).to_csv(
        run_dir / mesh.STATS_FILE, index=False
    )
    got = mesh.read_stats(run_dir)
    assert got is not None and list(got["target"]) == ["198.18.10.2"]
    assert mesh.read_stats(tmp_path / "nothing") is None


def test_heatmap_draws(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    nodes, m = mesh.read(LAB)
    fig = mesh.heatmap(mesh.matrix(m, "loss_pct", nodes), title="loss %", warn=1, crit=20)
    fig.savefig(tmp_path / "h.png")
    assert (tmp_path / "h.png").stat().st_size > 1000


@pytest.mark.slow
def test_fleet_of_recorded_nodes_is_collected_merged_and_indexed(cluster: Cluster, tmp_path: Path) -> None:
    """The lab's per-node outputs, served as pod logs by 4 simulated nodes; the merge notebook runs."""
    names = ["node-1", "node-2", "node-3", "node-4"]
    cluster.sim.add_nodes(names, ips=[f"198.18.10.{i}" for i in range(1, 5)])

    def payload(node: str, job: dict[str, object]) -> str:
        buf = io.StringIO()
        result.emit(LAB / node / "latency", buf)
        return buf.getvalue()

    cluster.sim.payload = payload
    out = tmp_path / "inc"
    opts = JobOptions(notebook="latency", run_id="mesh", namespace="netdebug", timeout_s=30)
    res = controller.run(cluster.api(), opts, FleetOptions(nodes=",".join(names), mesh=True, qps=100), out)
    assert res.merge_error is None
    assert all(r.collect == "done" for r in res.runs)
    merged = json.loads((out / "findings.json").read_text())
    ids = {(f["id"], f["run"]) for f in merged["findings"]}
    assert ("mesh.node_isolated", "fleet_mesh") in ids and ("mesh.pair_loss", "fleet_mesh") in ids
    assert (out / "fleet_mesh" / "fleet_mesh.html").is_file()


def test_nothing_to_merge_is_inconclusive() -> None:
    manifest = {"nodes": [{"node": "n1", "state": "failed"}, {"node": "n2", "state": "succeeded"}]}
    (f,) = mesh.coverage(manifest, pd.DataFrame(), {})
    assert f.id == "mesh.nothing_merged" and f.inconclusive
    assert f.evidence == {"nodes": {"n1": "failed", "n2": "succeeded"}}
    assert mesh.coverage(manifest, pd.DataFrame({"a": [1]}), {}) == []
