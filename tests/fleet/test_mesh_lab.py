"""Live mesh: network namespaces play nodes, each runs fping against the others.

node-4 is isolated (iptables drops all ICMP in and out), node-1 → node-2 loses ~30 % (random
drop in node-2's INPUT). Running this file as a script re-records the bundled demo data in
``netdebug_nb/data/fleet/lab/`` (``.venv/bin/python tests/fleet/test_mesh_lab.py``).
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lab import Lab

from netdebug_nb.fleet import mesh

pytestmark = pytest.mark.lab

NODES = ("node-1", "node-2", "node-3", "node-4")
DATA = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "fleet" / "lab"


def record(lab: Lab, out: Path, *, count: int = 40) -> None:
    """Build the lab, run fping on every node at once, write a fleet output directory."""
    switch = lab.host("switch")
    lab.bridge(switch, "br0", "198.18.10.254/24")
    hosts = {}
    for i, name in enumerate(NODES, start=1):
        h = lab.host(name)
        lab.attach(h, f"198.18.10.{i}/24", switch, "br0")
        hosts[name] = h
    ips = {name: f"198.18.10.{i}" for i, name in enumerate(NODES, start=1)}
    for chain in ("INPUT", "OUTPUT"):
        hosts["node-4"].iptables("-A", chain, "-p", "icmp", "-j", "DROP")
    hosts["node-2"].iptables(
        "-A", "INPUT", "-s", ips["node-1"], "-p", "icmp", "-m", "statistic", "--mode", "random",
        "--probability", "0.3", "-j", "DROP",
    )  # fmt: skip
    texts: dict[str, str] = {}

    def probe(name: str) -> None:
        targets = [ip for n, ip in ips.items() if n != name]
        p = hosts[name].run(
            "fping", "-C", str(count), "-D", "-p", "50", "-i", "5", "-t", "200", *targets, check=False
        )
        texts[name] = p.stdout + ("\n" if p.stdout and not p.stdout.endswith("\n") else "") + p.stderr

    threads = [threading.Thread(target=probe, args=(n,)) for n in NODES]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    nodes = []
    for name in NODES:
        run_dir = out / name / "latency"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / mesh.FPING_FILE).write_text(texts[name])
        doc = {
            "notebook": "latency",
            "parameters": {"targets": [ip for n, ip in ips.items() if n != name], "count": count},
            "status": "ok",
            "error": None,
            "started": None,
            "duration_s": 0,
            "findings": [],
        }
        (run_dir / "findings.json").write_text(json.dumps(doc, indent=2) + "\n")
        nodes.append(
            {"node": name, "dir": name, "internal_ip": ips[name], "ready": True, "state": "succeeded",
             "reason": "", "message": "", "collected": True}
        )  # fmt: skip
    manifest = {"run_id": "lab", "notebook": "latency", "namespace": "", "nodes": nodes}
    (out / "fleet.json").write_text(json.dumps(manifest, indent=2) + "\n")


def test_live_mesh_finds_the_isolated_node_and_the_lossy_pair(lab: Lab, tmp_path: Path) -> None:
    record(lab, tmp_path, count=30)
    nodes, m = mesh.read(tmp_path)
    found = {f.id: f for f in mesh.assess(m, nodes)}
    assert mesh.isolated(m) == ["node-4"]
    assert found["mesh.node_isolated"].evidence["node"] == "node-4"
    pairs = {(p["src"], p["dst"]) for p in found["mesh.pair_loss"].evidence["pairs"]}
    assert ("node-1", "node-2") in pairs
    assert not any("node-4" in pair for pair in pairs)


if __name__ == "__main__":
    import shutil

    shutil.rmtree(DATA, ignore_errors=True)
    with Lab() as lab_:
        record(lab_, DATA)
    print(f"recorded {DATA}")


def test_fleet_exec_mesh_mode_in_a_namespace(lab: Lab, tmp_path: Path) -> None:
    """What each mesh Job runs: fping first, the latency notebook on its output, a framed result."""
    import io

    from ndtestkit import netdebug_cmd

    from netdebug_nb.fleet import framing, result

    switch = lab.host("switch")
    lab.bridge(switch, "br0", "198.18.11.254/24")
    hosts = []
    for i in (1, 2, 3):
        h = lab.host(f"node-{i}")
        lab.attach(h, f"198.18.11.{i}/24", switch, "br0")
        hosts.append(h)
    hosts[2].iptables("-A", "INPUT", "-p", "icmp", "-j", "DROP")
    p = hosts[0].run(
        *netdebug_cmd(), "fleet", "exec", "latency", "--fping-first", "--out", str(tmp_path / "out"),
        "-p", "targets", '["198.18.11.2", "198.18.11.3"]', "-p", "count", "5", "-p", "interval_ms", "20",
        timeout=180, check=False,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    buf = io.BytesIO()
    records = framing.Unframer(buf.write).feed_all(p.stdout.splitlines())
    assert [r.ok for r in records] == [True]
    buf.seek(0)
    result.unpack(buf, tmp_path / "got")
    run_dir = tmp_path / "got" / "latency"
    doc = json.loads((run_dir / "findings.json").read_text())
    assert doc["status"] == "ok" and doc["parameters"]["fping_output"].endswith("fping.txt")
    stats = mesh.read_stats(run_dir)
    assert stats is not None
    loss = dict(zip(stats["target"], stats["loss_pct"], strict=True))
    assert loss == {"198.18.11.2": 0.0, "198.18.11.3": 100.0}
    assert "latency.unreachable" in {f["id"] for f in doc["findings"]} or any(
        "198.18.11.3" in json.dumps(f) for f in doc["findings"]
    )
