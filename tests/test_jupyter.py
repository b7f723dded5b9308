"""``netdebug-nb lab`` (netdebug_nb.jupyter): argument and environment handling, the notebooks
root it fills, the as-root rule, and a real JupyterLab started by the command: token enforced,
``/`` lands on START.md, news and update checks off."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import labserver
import pytest

from netdebug_nb import catalogue, jupyter
from netdebug_nb.cli import Env, main
from netdebug_nb.jupyter import LabAsRootError, LabRootError


def test_defaults_are_the_images_loopback_8888_and_home_notebooks() -> None:
    launch = jupyter.plan(environ={}, as_root=False)
    assert (launch.ip, launch.port, launch.root) == ("127.0.0.1", 8888, Path.home() / "notebooks")
    assert launch.env["NETDEBUG_LAB_IP"] == "127.0.0.1" and launch.env["NETDEBUG_LAB_PORT"] == "8888"
    assert launch.argv[1:] == ["-m", "jupyterlab"]
    assert launch.env["JUPYTER_CONFIG_PATH"] == str(jupyter.CONFIG_DIR)
    assert launch.url == "http://127.0.0.1:8888/"


def test_environment_then_options_win(tmp_path: Path) -> None:
    environ = {
        "NETDEBUG_LAB_IP": "0.0.0.0",
        "NETDEBUG_LAB_PORT": "9000",
        "NETDEBUG_LAB_ROOT": str(tmp_path / "env-root"),
        "JUPYTER_CONFIG_PATH": "/etc/other",
    }
    launch = jupyter.plan(environ=environ, as_root=False)
    assert (launch.ip, launch.port, launch.root) == ("0.0.0.0", 9000, tmp_path / "env-root")
    assert launch.env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(jupyter.CONFIG_DIR), "/etc/other"]
    launch = jupyter.plan(
        ip="::1",
        port=8123,
        root=tmp_path / "opt-root",
        extra=["--ServerApp.x=1"],
        environ=environ,
        as_root=False,
    )
    assert (launch.ip, launch.port, launch.root) == ("::1", 8123, tmp_path / "opt-root")
    assert launch.env["NETDEBUG_LAB_ROOT"] == str(tmp_path / "opt-root")
    assert launch.argv[-1] == "--ServerApp.x=1"
    assert launch.url == "http://[::1]:8123/"


def test_kernel_dir_goes_first_on_jupyter_path(tmp_path: Path) -> None:
    launch = jupyter.plan(environ={"JUPYTER_PATH": "/x"}, as_root=False, kernel_dir=tmp_path)
    assert launch.env["JUPYTER_PATH"].split(os.pathsep) == [str(tmp_path), "/x"]


def test_as_root_needs_allow_root_like_jupyter() -> None:
    with pytest.raises(LabAsRootError, match=r"-- --allow-root"):
        jupyter.plan(environ={}, as_root=True)
    assert jupyter.plan(environ={}, as_root=True, extra=["--allow-root"]).argv[-1] == "--allow-root"


@pytest.mark.parametrize(("port", "env"), [(0, {}), (70000, {}), (None, {"NETDEBUG_LAB_PORT": "http"})])
def test_bad_ports_are_one_line_usage_errors(port: int | None, env: dict[str, str]) -> None:
    with pytest.raises(jupyter.UsageError, match="port|PORT"):
        jupyter.plan(port=port, environ=env, as_root=False)


def test_root_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(LabRootError, match="not a directory"):
        jupyter.plan(root=tmp_path / "f", environ={}, as_root=False)


def test_seed_copies_what_is_missing_and_never_replaces_a_users_edit(tmp_path: Path) -> None:
    root = tmp_path / "nb"
    root.mkdir()
    (root / "latency.ipynb").write_text("my edit")
    launch = jupyter.plan(root=root, environ={}, as_root=False)
    names = {p.name for p in launch.missing}
    assert "START.md" in names and "pcap_analysis.ipynb" in names and "latency.ipynb" not in names
    copied = jupyter.seed(launch)
    assert {p.name for p in copied} == names
    assert (root / "latency.ipynb").read_text() == "my edit"
    assert (root / "START.md").read_text() == (catalogue.notebooks_dir() / "START.md").read_text()
    assert jupyter.plan(root=root, environ={}, as_root=False).missing == []


def test_start_page_links_every_notebook_with_parameters_that_exist() -> None:
    text = (catalogue.notebooks_dir() / "START.md").read_text()
    for info in catalogue.all_notebooks():
        row = next((ln for ln in text.splitlines() if f"]({info.name}.ipynb)" in ln), None)
        assert row is not None, f"START.md does not link {info.name}.ipynb"
        mentioned = re.findall(r"`([a-z_]+)`", row.split("|")[3])
        assert mentioned, info.name
        valid = {p.name for p in info.parameters}
        assert set(mentioned) <= valid, (info.name, set(mentioned) - valid)
    for topic in ("kubectl cp", "capture_interface", "netdebug-nb run", "findings.json", "Interrupt"):
        assert topic in text


def test_cli_as_root_without_allow_root_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    err = io.StringIO()
    assert main(["lab", "--port", "1"], Env(stdout=io.StringIO(), stderr=err)) == 2
    assert err.getvalue().count("\n") == 1 and "-- --allow-root" in err.getvalue()


def test_cli_rejects_a_non_numeric_port() -> None:
    err = io.StringIO()
    assert main(["lab", "--port", "web"], Env(stdout=io.StringIO(), stderr=err)) == 2


def test_netdebug_nb_lab_serves_with_a_token_lands_on_start_and_stays_offline(tmp_path: Path) -> None:
    root = tmp_path / "notebooks"
    with labserver.running(root, tmp_path) as server:
        assert server.get("/api/status", token=None)[0] == 403
        assert server.get("/api/status", token="wrong")[0] == 403
        status, _, location = server.get(f"/?token={server.token}", token=None, follow=False)
        assert status == 302 and location.startswith("/lab/tree/START.md")
        assert (root / "START.md").is_file() and (root / "pcap_analysis.ipynb").is_file()
        notification = server.json("/lab/api/settings/@jupyterlab/apputils-extension:notification")
        defaults = {k: v.get("default") for k, v in notification["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False
        viewers = server.json("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
        assert viewers["schema"]["properties"]["defaultViewers"]["default"]["markdown"] == "Markdown Preview"
        assert server.json("/lab/api/news") == {"news": []}
        assert server.json("/lab/api/update") == {"notification": None}
        assert '"news": {"disabled": true}' in server.get("/lab")[1]
        kernels = server.json("/api/kernelspecs")["kernelspecs"]
        assert "netdebug" in kernels
    log = server.log.read_text()
    assert "START.md?token=" in log  # the URL people click first


def test_a_root_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    launch = jupyter.plan(root=tmp_path / "file" / "notebooks", environ={}, as_root=False)
    with pytest.raises(LabRootError, match=r"^--root .*/file/notebooks: "):
        jupyter.seed(launch)
