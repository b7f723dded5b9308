"""The notebook end to end through the CLI: the demo snapshot, and a snapshot with a broken file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from ndtestkit import ROOT, netdebug_cmd

SNAPSHOT = ROOT / "netdebug_nb" / "data" / "netstate" / "snapshot"


def run(out: Path, *params: str) -> dict[str, object]:
    p = subprocess.run(
        [*netdebug_cmd(), "run", "netstate", "--out", str(out), *params],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads((out / "netstate" / "findings.json").read_text())  # type: ignore[no-any-return]


def test_demo_snapshot(tmp_path: Path) -> None:
    doc = run(tmp_path, "-p", "snapshot_dir", str(SNAPSHOT), "-p", "targets", "198.18.2.10")
    got = {f["id"]: f for f in doc["findings"]}  # type: ignore[attr-defined]
    for fid in ("route.blackhole", "neigh.incomplete", "neigh.failed", "firewall.drop_hits",
                "socket.listen_loopback_only", "iface.mtu_mismatch", "netstate.state_only"):  # fmt: skip
        assert fid in got, sorted(got)
    assert "offline" in got["netstate.state_only"]["title"]
    html = (tmp_path / "netstate" / "netstate.html").read_text()
    assert "198.18.99.0/24" in html


def test_broken_file_is_named_rest_reported(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(SNAPSHOT, snap)
    (snap / "nft.json").write_text('{"nftables": [\n{"table": {"family": "ip",\n')
    (snap / "ip-neigh.json").unlink()
    doc = run(tmp_path / "out", "-p", "snapshot_dir", str(snap))
    got = {f["id"]: f for f in doc["findings"]}  # type: ignore[attr-defined]
    assert got["snapshot.unparseable"]["detail"].startswith(f"{snap / 'nft.json'}:3: ")
    assert "route.blackhole" in got and "firewall.drop_hits" in got  # iptables-save still read
    assert "neigh.failed" not in got
