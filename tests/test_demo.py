"""`netdebug-nb demo`: every shipped notebook on bundled sample data, offline, then the index."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from ndtestkit import netdebug_cmd

from netdebug_nb import catalogue


@pytest.mark.slow
def test_demo_builds_a_complete_incident(tmp_path: Path) -> None:
    out = tmp_path / "incident"
    proc = subprocess.run(
        [*netdebug_cmd(), "demo", "--out", str(out)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"report: {out / 'index.html'}"
    assert (out / "index.html").is_file()
    merged = json.loads((out / "findings.json").read_text())
    assert merged["status"] == "ok"
    for name in catalogue.names():
        run = out / name
        for f in (f"{name}.ipynb", f"{name}.html", "findings.json"):
            assert (run / f).is_file(), f"{name}: {f} missing"
        doc = json.loads((run / "findings.json").read_text())
        assert doc["status"] == "ok", (name, doc["error"])
        assert doc["findings"], f"{name}: the demo data should produce findings"
    stats = (out / "latency" / "latency_stats.csv").read_text().splitlines()
    assert stats[0].startswith("target,") and len(stats) > 1  # artifacts land next to the report
