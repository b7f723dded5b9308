"""netdebug_nb/data/jupyter/jupyter_server_config.py (what `netdebug-nb lab` and the image use): where the lab's JupyterLab gets its token, and that no
combination of settings turns authentication off (checked against jupyter_server itself)."""

from __future__ import annotations

from pathlib import Path

import pytest
from jupyter_server.auth.identity import IdentityProvider
from traitlets.config import Config

CONFIG = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "jupyter" / "jupyter_server_config.py"
VARS = ("JUPYTER_TOKEN", "JUPYTER_TOKEN_FILE", "NETDEBUG_LAB_IP", "NETDEBUG_LAB_PORT", "NETDEBUG_LAB_ROOT")


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Config:
    for name in VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config()
    exec(compile(CONFIG.read_text(), str(CONFIG), "exec"), {"get_config": lambda: config})
    return config


def provider(config: Config) -> IdentityProvider:
    return IdentityProvider(config=config)


def test_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    ip = provider(load(monkeypatch, JUPYTER_TOKEN=" s3cret "))
    assert ip.token == "s3cret"


def test_token_file_first_line_without_its_newline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-secret\n")
    ip = provider(load(monkeypatch, JUPYTER_TOKEN_FILE=str(secret)))
    assert ip.token == "from-secret"


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-secret\n")
    ip = provider(load(monkeypatch, JUPYTER_TOKEN="from-env", JUPYTER_TOKEN_FILE=str(secret)))
    assert ip.token == "from-env"


@pytest.mark.parametrize("content", [None, "", "\n  \n"], ids=["missing", "empty", "blank"])
def test_no_usable_token_means_a_random_one_never_none(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    secret = tmp_path / "token"
    if content is not None:
        secret.write_text(content)
    ip = provider(load(monkeypatch, JUPYTER_TOKEN="", JUPYTER_TOKEN_FILE=str(secret)))
    assert len(ip.token) >= 32
    assert ip.token_generated  # so the server prints the login URL with it


def test_listens_on_loopback_by_default_and_can_be_moved(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(monkeypatch)
    assert config.ServerApp.ip == "127.0.0.1"
    assert config.ServerApp.port == 8888
    assert config.ServerApp.allow_unauthenticated_access is False
    config = load(monkeypatch, NETDEBUG_LAB_IP="0.0.0.0", NETDEBUG_LAB_PORT="9999")
    assert (config.ServerApp.ip, config.ServerApp.port) == ("0.0.0.0", 9999)


def test_landing_page_and_nothing_fetched_from_the_internet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load(monkeypatch, NETDEBUG_LAB_ROOT=str(tmp_path))
    assert "default_url" not in config.LabApp  # no START.md there: JupyterLab's own /lab
    (tmp_path / "START.md").write_text("# start")
    config = load(monkeypatch, NETDEBUG_LAB_ROOT=str(tmp_path))
    assert config.LabApp.default_url == "/lab/tree/START.md"
    assert config.LabApp.news_url is None
    assert config.LabApp.check_for_updates_class.endswith("NeverCheckForUpdate")
    assert config.LabApp.extension_manager == "readonly"
