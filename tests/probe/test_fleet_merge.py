"""The fleet merge of endpoint_probe runs: node x endpoint verdicts and endpoints bad from some nodes only."""

from __future__ import annotations

import json
from pathlib import Path

from netdebug_nb import schema
from netdebug_nb.fleet import probematrix
from netdebug_nb.probe import stats, trial

DEMO = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "probe" / "curl.jsonl"


def test_node_by_endpoint_and_node_specific_problems(tmp_path: Path) -> None:
    df, _ = trial.read(DEMO)
    per_t = stats.summarize(df)
    table = per_t.merge(
        stats.verdicts(per_t, stats.errors(df))[["target", "verdict", "reasons"]], on="target"
    )
    nodes = ["node-1", "node-2", "node-3"]
    for node in nodes[:2]:
        (tmp_path / node / "endpoint_probe").mkdir(parents=True)
        t = table.copy()
        if node == "node-2":  # the cart service fails only from node-2
            t.loc[t["target"] == "http://web.shop.svc.cluster.local/api/cart", ["verdict", "reasons"]] = [
                "network",
                "network: timeout in connect",
            ]
        t.to_csv(tmp_path / node / "endpoint_probe" / probematrix.TARGETS_FILE, index=False)
    (tmp_path / "fleet.json").write_text(
        json.dumps(
            {"run_id": "x", "notebook": "endpoint_probe", "nodes": [{"node": n, "dir": n} for n in nodes]}
        )
    )
    per_node = probematrix.read(tmp_path)
    schema.check(per_node, probematrix.NODE_TARGETS_SCHEMA)
    grid = probematrix.table(per_node)
    assert list(grid.index) == ["node-1", "node-2"] and grid.shape[1] == len(table)
    assert grid.loc["node-2", "http://web.shop.svc.cluster.local/api/cart"] == "network"
    [f] = probematrix.assess(per_node)
    ev = f.evidence["endpoints"]
    assert f.id == "probe.node_specific" and list(ev) == ["http://web.shop.svc.cluster.local/api/cart"]
    cart = ev["http://web.shop.svc.cluster.local/api/cart"]
    assert cart["verdicts"]["node-2"] == "network: network: timeout in connect"
    assert cart["verdicts"]["node-1"] == "ok" and cart["ok_from"] == ["node-1"]
    assert probematrix.read(tmp_path, "nothing").empty
