from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netdebug_nb.errors import InputError
from netdebug_nb.netstate import snapshot


def test_read_recorded(fixtures: Path) -> None:
    snap = snapshot.read(fixtures / "netstate/router")
    assert "ip-route.json" in snap.texts and snap.hostname and snap.collector_pid
    assert snap.notes == []


def test_missing_files_become_notes(tmp_path: Path, fixtures: Path) -> None:
    shutil.copy(fixtures / "netstate/router/ip-route.json", tmp_path)
    snap = snapshot.read(tmp_path)
    missing = {n.source for n in snap.notes if n.kind == "missing_file"}
    assert "nft.json" in missing and "ip-route.json" not in missing
    assert all(str(tmp_path) in n.message for n in snap.notes)


def test_not_a_snapshot(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no snapshot files"):
        snapshot.read(tmp_path)
    with pytest.raises(InputError, match="does not exist"):
        snapshot.read(tmp_path / "nope")


def test_collect_live_keeps_going_without_a_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = {
        "ip-route.json": ("ip", "-j", "route", "show", "table", "all"),
        "nft.json": ("netdebug-no-such-tool", "-j"),
    }
    monkeypatch.setattr(snapshot, "COMMANDS", commands)
    snap = snapshot.collect(tmp_path)
    assert json.loads((tmp_path / "ip-route.json").read_text()) is not None
    (note,) = snap.notes
    assert (note.kind, note.source) == (
        "tool_missing",
        "nft.json",
    ) and "netdebug-no-such-tool" in note.message
    assert (tmp_path / "sysctl.txt").is_file()
    again = snapshot.read(tmp_path)  # the reason travels with the snapshot
    assert [n.kind for n in again.notes if n.source == "nft.json"] == ["tool_missing"]


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop capabilities"
)
def test_collect_without_capabilities_names_them(tmp_path: Path) -> None:
    code = "import sys; from pathlib import Path; from netdebug_nb.netstate import snapshot; snapshot.collect(Path(sys.argv[1]), files=['conntrack-S.txt', 'ip-neigh.json'])"
    subprocess.run(
        ["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-c", code, str(tmp_path)],
        check=True,
        timeout=60,
    )
    snap = snapshot.read(tmp_path)
    denied = [n for n in snap.notes if n.kind == "permission"]
    assert [n.source for n in denied] == ["conntrack-S.txt"] and "NET_ADMIN" in denied[0].hint
    assert "ip-neigh.json" in snap.texts
