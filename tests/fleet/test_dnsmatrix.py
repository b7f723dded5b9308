from __future__ import annotations

import json
from pathlib import Path

from netdebug_nb import schema
from netdebug_nb.fleet import dnsmatrix

FINDINGS = {
    "node-1": [],
    "node-2": [
        {
            "id": "dns.timeout",
            "severity": "critical",
            "title": "t",
            "evidence": {"timeouts_per_server": {"10.96.0.10": 4}},
        },
        {
            "id": "dns.slow_server",
            "severity": "warning",
            "title": "s",
            "evidence": {"servers": [{"server": "10.244.1.5", "p50_ms": 180.0}]},
        },
    ],
    "node-3": [
        {
            "id": "dns.timeout",
            "severity": "warning",
            "title": "t",
            "evidence": {"per_server": {"10.96.0.10": 0.02}},
        },
        {
            "id": "dns.unreachable_server",
            "severity": "critical",
            "title": "u",
            "evidence": {"servers": ["169.254.20.10"]},
        },
    ],
}


def test_problems_name_node_server_and_finding() -> None:
    probs = dnsmatrix.problems(FINDINGS)
    schema.check(probs, dnsmatrix.PROBLEMS_SCHEMA)
    assert list(zip(probs["node"], probs["server"], probs["finding"], strict=True)) == [
        ("node-2", "10.244.1.5", "dns.slow_server"),
        ("node-2", "10.96.0.10", "dns.timeout"),
        ("node-3", "10.96.0.10", "dns.timeout"),
        ("node-3", "169.254.20.10", "dns.unreachable_server"),
    ]


def test_table_is_node_by_server_with_clean_nodes_kept() -> None:
    grid = dnsmatrix.table(dnsmatrix.problems(FINDINGS), sorted(FINDINGS))
    assert list(grid.index) == ["node-1", "node-2", "node-3"]
    assert grid.loc["node-2", "10.96.0.10"] == "timeout" and grid.loc["node-2", "10.244.1.5"] == "slow_server"
    assert (grid.loc["node-1"] == "").all()


def test_read_from_a_fleet_directory(tmp_path: Path) -> None:
    nodes = []
    for node, found in FINDINGS.items():
        d = tmp_path / node / "dns_trace"
        d.mkdir(parents=True)
        (d / "findings.json").write_text(
            json.dumps({"notebook": "dns_trace", "status": "ok", "findings": found})
        )
        nodes.append({"node": node, "dir": node})
    (tmp_path / "fleet.json").write_text(json.dumps({"nodes": [*nodes, {"node": "node-9", "dir": "node-9"}]}))
    got = dnsmatrix.read(tmp_path)
    assert sorted(got) == ["node-1", "node-2", "node-3"]  # node-9 ran nothing


def test_no_findings_is_an_empty_declared_frame() -> None:
    schema.check(dnsmatrix.problems({"a": []}), dnsmatrix.PROBLEMS_SCHEMA)
