"""The kit's own Jupyter kernel spec.

Headless runs must execute in the Python that has ``netdebug_nb`` installed, whatever kernels the
user's Jupyter set-up knows. :func:`ensure` writes a spec named :data:`NAME` whose argv is this
interpreter, under ``sys.prefix`` (or a per-user cache when that is read-only), and returns the
directory to put first on ``JUPYTER_PATH`` so that spec wins over any same-named user kernel.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

NAME = "netdebug"
DISPLAY_NAME = "Python (netdebug)"


def spec() -> dict[str, object]:
    return {
        "argv": [
            sys.executable,
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            "--log-level=CRITICAL",
        ],
        "display_name": DISPLAY_NAME,
        "language": "python",
        "metadata": {"debugger": True},
        "env": {"PYTHONUNBUFFERED": "1"},
    }


def _candidates() -> list[Path]:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "netdebug-nb" / "jupyter"
    return [Path(sys.prefix) / "share" / "jupyter", cache]


def ensure() -> Path:
    """Make sure the kernel spec exists and points at this interpreter; return its data dir."""
    wanted = spec()
    last_error: OSError | None = None
    for data_dir in _candidates():
        kdir = data_dir / "kernels" / NAME
        target = kdir / "kernel.json"
        try:
            if target.is_file() and json.loads(target.read_text()) == wanted:
                return data_dir
            kdir.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps(wanted, indent=1))
            tmp.replace(target)
            return data_dir
        except OSError as exc:
            last_error = exc
    raise OSError(f"cannot write the {NAME} kernel spec: {last_error}")


def jupyter_path_with(data_dir: Path) -> str:
    current = os.environ.get("JUPYTER_PATH", "")
    parts = [str(data_dir), *(p for p in current.split(os.pathsep) if p and p != str(data_dir))]
    return os.pathsep.join(parts)


# Imported by the kernel while it starts: every notebook's first cells need them, and a kernel
# launched before papermill is imported does this on the second core while the CLI imports.
PRELOAD = "import pandas, matplotlib.pyplot"


@contextlib.contextmanager
def launched(cwd: Path | None = None) -> Iterator[Any]:
    """The kit kernel, started now (a ``jupyter_client`` AsyncKernelManager) for :data:`ENGINE`.

    ``netdebug-nb run`` starts it before importing papermill and its client (~0.3 s) and the
    kernel imports pandas and matplotlib (:data:`PRELOAD`) meanwhile, so the first cell meets a
    ready kernel. The spec is looked up on ``JUPYTER_PATH`` as papermill would; the environment
    and working directory are taken now. The engine shuts it down when the notebook ends; at
    exit it is stopped here if it still runs (papermill failed before using it). None when it
    could not be started: papermill then starts one itself and reports why it cannot.
    """
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync

    km: Any = AsyncKernelManager(kernel_name=NAME)
    try:
        run_sync(km.start_kernel)(
            extra_arguments=["--HistoryManager.hist_file=:memory:", f"--IPKernelApp.exec_lines={PRELOAD}"],
            cwd=str(cwd or Path.cwd()),
        )
    except Exception:  # no such spec, no interpreter: papermill's own start says so, once
        km = None
    try:
        yield km
    finally:
        if km is not None and km.has_kernel:
            with contextlib.suppress(Exception):
                run_sync(km.shutdown_kernel)(now=True)
                run_sync(km.cleanup_resources)()


ENGINE = "netdebug-prelaunched"
# papermill writes the whole notebook (figures included) before and after every cell: ~60 writes of
# up to 0.5 MB for a 30-cell report. While cells run, one write per this many seconds keeps the
# partial notebook as fresh for someone watching it; the final write is papermill's own.
SAVE_EVERY_S = 1.0


@contextlib.contextmanager
def _saves_throttled(nb_man: Any) -> Iterator[None]:
    """Let ``nb_man.save`` write at most once per :data:`SAVE_EVERY_S` while the cells run.

    Restored before papermill ends the notebook, whose ``notebook_complete`` (run also when a cell
    fails or the kernel dies) writes the final state, so nothing a failing run produced is lost.
    """
    import time

    save = nb_man.save
    last = [float("-inf")]

    def throttled(**kwargs: Any) -> None:
        now = time.monotonic()
        if now - last[0] >= SAVE_EVERY_S:
            save(**kwargs)
            last[0] = time.monotonic()

    nb_man.save = throttled
    try:
        yield
    finally:
        nb_man.save = save


def register_engine() -> str:
    """Register (once) the papermill engine that executes on a kernel from :func:`launched`.

    It is papermill's own nbclient engine, except that the client is told to clean the kernel up
    as if it had started it (stop its channels, shut the kernel down), which papermill's engine
    skips for a kernel it was handed.
    """
    from papermill.clientwrap import PapermillNotebookClient
    from papermill.engines import NBClientEngine, papermill_engines
    from papermill.log import logger

    if ENGINE in papermill_engines._engines:
        return ENGINE

    class Prelaunched(NBClientEngine):  # type: ignore[misc]  # papermill is untyped
        @classmethod
        def execute_managed_notebook(  # type: ignore[override]
            cls,
            nb_man: Any,
            kernel_name: str,
            log_output: bool = False,
            stdout_file: Any = None,
            stderr_file: Any = None,
            start_timeout: int = 60,
            execution_timeout: int | None = None,
            **kwargs: Any,
        ) -> Any:
            kwargs.pop("input_path", None)
            client = PapermillNotebookClient(
                nb_man,
                timeout=execution_timeout,
                startup_timeout=start_timeout,
                kernel_name=kernel_name,
                log=logger,
                log_output=log_output,
                stdout_file=stdout_file,
                stderr_file=stderr_file,
                **kwargs,
            )
            with _saves_throttled(nb_man):
                return client.execute(cleanup_kc=True)

    papermill_engines.register(ENGINE, Prelaunched)
    return ENGINE
