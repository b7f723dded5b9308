"""The kit kernel: started before jupyter_client is imported, then adopted by its manager."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from jupyter_core.utils import run_sync

from netdebug_nb import kernel


@pytest.fixture
def kit_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_PATH", kernel.jupyter_path_with(kernel.ensure()))


def _execute(km: object, code: str) -> str:
    kc = km.client()  # type: ignore[attr-defined]
    kc.start_channels()
    try:
        run_sync(kc.wait_for_ready)(timeout=60)
        out: list[str] = []
        reply = run_sync(kc.execute_interactive)(
            code, output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=60
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(out)
    finally:
        kc.stop_channels()


def test_the_kernel_started_early_is_the_one_the_manager_runs_and_it_is_cleaned_up(
    kit_path: None, tmp_path: Path
) -> None:
    seen: list[int] = []
    with kernel.launched(tmp_path, meanwhile=lambda: seen.append(len(seen))) as km:
        assert km is not None and km.has_kernel and seen == [0]
        conn = Path(km.connection_file)
        assert conn.name.startswith("netdebug-kernel-") and conn.is_file()
        assert oct(conn.stat().st_mode & 0o777) == "0o600"
        pid = km.provisioner.process.pid
        assert os.getpgid(pid) == pid  # its own process group: an interrupt reaches only it
        text = _execute(km, "import os, sys; print(os.getpid(), os.getcwd(), 'pandas' in sys.modules)")
        assert text.split() == [str(pid), str(tmp_path), "True"]  # preloaded, in the asked directory
    assert not conn.exists()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # stopped and reaped


def test_without_the_kit_spec_nothing_is_started_early(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))  # no kernels/netdebug/kernel.json there
    assert kernel._start(str(tmp_path)) is None
