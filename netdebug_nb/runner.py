"""Running one notebook headless: the recipe behind ``netdebug-nb run``.

    resolve → validate parameters (types, domains, input files) → prepare output
            → execute (papermill, kit kernel)
            → always: export HTML, collect findings, write findings.json → raise on failure

Whatever happens during execution, the executed notebook (up to the failing cell, with
papermill's banner at that cell), its HTML and a ``findings.json`` saying ``"status": "failed"``
are on disk before the error reaches the caller. A run that completed is ``ok``, or
``inconclusive`` when a finding says something it was asked to measure could not be measured.

Exit codes come from the errors raised here (``exit_code`` of each class): bad parameters and
input errors raised inside a cell are 2 (:class:`CellInputError`), other cell failures 3, the
run's time limit 4, a dead kernel 5.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from netdebug_nb import artifacts, catalogue, errors, export, findings, kernel
from netdebug_nb.errors import (
    CellInputError,
    ExecutionError,
    KernelDiedError,
    NetdebugError,
    OutputDirError,
    RunTimeoutError,
)
from netdebug_nb.parameters import search_dirs, validate

FINDINGS_FILE = "findings.json"


@dataclass
class RunResult:
    notebook: str
    out_dir: Path
    ipynb: Path
    html: Path
    findings_json: Path
    status: str  # ok | inconclusive | failed
    duration_s: float
    findings: list[findings.Finding] = field(default_factory=list)
    error: NetdebugError | None = None


def run(
    notebook: str,
    parameters: Mapping[str, Any] | None = None,
    *,
    out: Path = Path("reports"),
    timeout: float | None = None,
    progress: TextIO | None = None,
    cwd: Path | None = None,
) -> RunResult:
    """Execute ``notebook`` and write its report to ``out/NAME/``; raises after writing on failure.

    ``progress`` is the stream to draw "cell i of n" on (a terminal), or None for a quiet run.
    """
    info = catalogue.find(notebook)
    values = validate(
        info.parameters, dict(parameters or {}), notebook=info.name, search=search_dirs(info.path)
    )
    out_dir = prepare_output(Path(out) / info.name)
    ipynb, html_path, fjson = (
        out_dir / f"{info.name}.ipynb",
        out_dir / f"{info.name}.html",
        out_dir / FINDINGS_FILE,
    )
    for stale in (ipynb, html_path, fjson):
        stale.unlink(missing_ok=True)
    effective = {p.name: p.default for p in info.parameters} | values
    started = dt.datetime.now(dt.UTC)
    t0 = time.monotonic()
    error: NetdebugError | None = None
    # while the kernel works this process only waits: ready the HTML export meanwhile (imports,
    # templates: once the kernel process started, see _execute), then sanitize each cell's output
    sanitizing = ThreadPoolExecutor(1, thread_name_prefix="netdebug-html")
    try:
        _execute(
            info.path, ipynb, values, name=info.name, timeout=timeout, progress=progress, cwd=cwd,
            sanitizing=sanitizing,
        )  # fmt: skip
    except NetdebugError as exc:
        error = exc
    duration = time.monotonic() - t0
    sanitizing.shutdown(wait=True, cancel_futures=error is not None)
    result = _finish(info.name, ipynb, html_path, fjson, effective, started, duration, error)
    if error is not None:
        raise error
    return result


def prepare_output(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise OutputDirError(path, "exists and is not a directory") from exc
    except OSError as exc:
        raise OutputDirError(path, exc.strerror or str(exc)) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputDirError(path, "not writable")
    return path


def _execute(
    src: Path,
    dst: Path,
    values: Mapping[str, Any],
    *,
    name: str,
    timeout: float | None,
    progress: TextIO | None,
    cwd: Path | None,
    sanitizing: ThreadPoolExecutor,
) -> None:
    data_dir = kernel.ensure()
    env = {"JUPYTER_PATH": kernel.jupyter_path_with(data_dir), artifacts.ENV: str(dst.parent.resolve())}
    meanwhile = functools.partial(sanitizing.submit, export.warm)
    with _env(**env), _deadline(timeout) as expired, kernel.launched(cwd, meanwhile=meanwhile) as km:
        papermill = _papermill()  # while the kernel starts
        from papermill.exceptions import PapermillExecutionError

        logging.getLogger("papermill").setLevel(logging.CRITICAL)  # we report errors ourselves, once
        on = {"engine_name": kernel.register_engine(), "km": km} if km is not None else {}
        on["on_cell_executed"] = lambda **kw: sanitizing.submit(export.preclean, kw["cell"])
        try:
            papermill.execute_notebook(
                str(src),
                str(dst),
                parameters=dict(values),
                kernel_name=kernel.NAME,
                language="python",
                progress_bar={"file": progress, "desc": name} if progress else False,
                log_output=False,
                execution_timeout=int(timeout) + 1 if timeout else None,
                start_timeout=120,
                # the outputs are all in once the last cell's reply came, and cells write their files
                # before they end: a graceful shutdown only waits (~0.7 s) for a big kernel to tidy up
                shutdown_kernel="immediate",
                cwd=str(cwd) if cwd else None,
                **on,
            )
        except PapermillExecutionError as exc:
            cls = errors.by_name(exc.ename)
            if cls is not None and errors.is_input_error(cls):
                raise CellInputError(
                    name, cell_index=exc.cell_index, ename=exc.ename, evalue=exc.evalue
                ) from exc
            raise ExecutionError(
                name, cell_index=exc.cell_index, ename=exc.ename, evalue=exc.evalue, source=exc.source
            ) from exc
        except _DeadlineExpired as exc:
            raise RunTimeoutError(name, timeout or 0, cell_index=_running_cell(dst)) from exc
        except Exception as exc:
            kind = type(exc).__name__
            if kind == "CellTimeoutError" or expired.is_set():
                raise RunTimeoutError(name, timeout or 0, cell_index=_running_cell(dst)) from exc
            if kind == "DeadKernelError":
                raise KernelDiedError(name, cell_index=_running_cell(dst)) from exc
            raise ExecutionError(name, cell_index=_running_cell(dst), ename=kind, evalue=str(exc)) from exc


def _papermill() -> Any:
    """papermill, imported without pyarrow's file systems.

    papermill imports ``pyarrow.fs`` (and with it pyarrow and numpy) at import time only to offer
    ``hdfs://`` notebook paths, which a run never uses: a quarter of a second of every run. The
    block lasts for this import only; a later ``import pyarrow.fs`` (``pcap export``) works.
    """
    blocked = [name for name in _UNUSED_BY_PAPERMILL if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # import → ImportError
    try:
        import papermill
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return papermill


_UNUSED_BY_PAPERMILL = ("pyarrow.fs",)


def _finish(
    name: str,
    ipynb: Path,
    html_path: Path,
    fjson: Path,
    parameters: Mapping[str, Any],
    started: dt.datetime,
    duration: float,
    error: NetdebugError | None,
) -> RunResult:
    import nbformat

    found: list[findings.Finding] = []
    if ipynb.is_file():
        nb = nbformat.read(str(ipynb), as_version=4)
        found = findings.from_notebook(nb)
        export.write_html(
            nb, html_path, title=f"netdebug: {name}", error=None if error is None else str(error)
        )
    status = findings.status(found) if error is None else "failed"
    doc = {
        "notebook": name,
        "parameters": findings.jsonable(dict(parameters)),
        "status": status,
        "error": None if error is None else str(error),
        "error_detail": _error_detail(error),
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(duration, 3),
        "findings": [f.to_dict() for f in found],
    }
    tmp = fjson.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    tmp.replace(fjson)
    return RunResult(name, ipynb.parent, ipynb, html_path, fjson, status, duration, found, error)


def _error_detail(error: NetdebugError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    detail: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, ExecutionError):
        detail |= {"cell_index": error.cell_index, "ename": error.ename, "evalue": error.evalue}
    return detail


def _running_cell(path: Path) -> int | None:
    """Index of the cell papermill marked as running/failed in the partial output, if any."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    started = None
    for i, cell in enumerate(nb.get("cells", [])):
        meta = cell.get("metadata", {}).get("papermill", {})
        if meta.get("exception") or meta.get("status") == "running":
            return i
        if meta.get("start_time"):
            started = i
    return started


class _DeadlineExpired(Exception):
    pass


@contextmanager
def _deadline(timeout: float | None) -> Iterator[threading.Event]:
    """Whole-run time limit; the per-cell limit inside nbclient is the first line of defence."""
    expired = threading.Event()
    if not timeout or threading.current_thread() is not threading.main_thread():
        yield expired
        return

    def _fire(signum: int, frame: object) -> None:
        expired.set()
        raise _DeadlineExpired()

    previous = signal.signal(signal.SIGALRM, _fire)
    signal.setitimer(signal.ITIMER_REAL, timeout + 5)
    try:
        yield expired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _env(**values: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
