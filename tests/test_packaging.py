"""A wheel carries the notebooks and sample data: the kit works when installed, not only from git."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_notebooks_and_data(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("netdebug_nb-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        zf.extractall(tmp_path / "site")
    shipped = {
        Path(n).stem for n in names if n.startswith("netdebug_nb/_notebooks/") and n.endswith(".ipynb")
    }
    in_repo = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert shipped == in_repo
    assert "netdebug_nb/py.typed" in names
    # netdebug-nb lab from a wheel: its landing page, server config and settings overrides
    assert "netdebug_nb/_notebooks/START.md" in names
    assert "netdebug_nb/data/jupyter/jupyter_server_config.py" in names
    assert "netdebug_nb/data/jupyter/labconfig/default_setting_overrides.json" in names
    assert any(n.startswith("netdebug_nb/data/") for n in names)
    # the installed copy finds its notebooks without the source tree
    probe = "import netdebug_nb.catalogue as c, json; print(json.dumps([str(c.notebooks_dir()), c.names()]))"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(tmp_path / "site" / "netdebug_nb" / "_notebooks") in out
    for name in in_repo:
        assert name in out
