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


def test_the_headless_kernel_runs_without_the_debugger_yet_cells_can_import_debugpy(
    kit_path: None, tmp_path: Path
) -> None:
    pytest.importorskip("debugpy")
    with kernel.launched(tmp_path) as km:
        assert km is not None
        code = "import sys; print('debugpy' in sys.modules, hasattr(get_ipython().kernel, 'debugger'))\n"
        code += "import debugpy; print(debugpy.__name__, '' in sys.path)"
        # no debugger, and cells import from the working directory as in any kernel
        assert _execute(km, code).split() == ["False", "False", "debugpy", "True"]


def test_a_ready_client_leaves_the_kernel_info_iopub_messages_instead_of_waiting_for_silence(
    kit_path: None, tmp_path: Path
) -> None:
    """jupyter_client's own client drains IOPub until 0.2 s pass without a message; nbclient
    ignores messages of other requests, so the kit's client returns with them still queued."""
    from queue import Empty

    with kernel.launched(tmp_path) as km:
        assert km is not None
        kc = km.client()
        kc.start_channels()
        try:
            run_sync(kc.wait_for_ready)(timeout=60)
            left: list[str] = []
            try:
                while True:
                    msg = run_sync(kc.iopub_channel.get_msg)(timeout=2)
                    left.append(msg["parent_header"].get("msg_type", ""))
            except Empty:
                pass
            assert "kernel_info_request" in left
            # and a cell right after it gets its own outputs
            reply = run_sync(kc.execute_interactive)("print(6 * 7)", timeout=60, output_hook=left.append)
            assert reply["content"]["status"] == "ok"
            assert any(m.get("content", {}).get("text") == "42\n" for m in left if isinstance(m, dict))
        finally:
            kc.stop_channels()


def test_a_ready_client_says_so_when_the_kernel_died_before_answering(kit_path: None, tmp_path: Path) -> None:
    import signal

    with kernel.launched(tmp_path) as km:
        assert km is not None
        os.killpg(km.provisioner.process.pid, signal.SIGKILL)
        km.provisioner.process.wait()
        kc = km.client()
        kc.start_channels()
        try:
            with pytest.raises(RuntimeError, match="died"):
                run_sync(kc.wait_for_ready)(timeout=30)
        finally:
            kc.stop_channels()
