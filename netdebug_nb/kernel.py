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
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

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
        target = _spec_path(data_dir)
        try:
            if target.is_file() and json.loads(target.read_text()) == wanted:
                return data_dir
            target.parent.mkdir(parents=True, exist_ok=True)
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
EXTRA_ARGUMENTS = ["--HistoryManager.hist_file=:memory:", f"--IPKernelApp.exec_lines={PRELOAD}"]
# What the kernel started early runs instead of ``-m ipykernel_launcher`` (see _launch_headless)
# (the working directory off the path first, as ipykernel_launcher does: IPython puts it back
# after the standard library, and cells import from it)
HEADLESS_LAUNCH = """import sys
if sys.path[0] == "": del sys.path[0]
from netdebug_nb.kernel import _launch_headless; _launch_headless()"""


def _launch_headless() -> None:  # pragma: no cover - runs as the kernel process (tests/test_kernel.py)
    """ipykernel's own launch, with its debugger module imported while debugpy cannot be.

    A headless run never debugs, and debugpy with its pydevd costs ~0.1 s of every run's
    start; ``import debugpy`` works again in the cells. Kernels that JupyterLab starts come from
    the spec, with the debugger.
    """
    sys.modules["debugpy"] = None  # type: ignore[assignment]  # None: "cannot be imported"
    import ipykernel.debugger  # noqa: F401

    del sys.modules["debugpy"]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


@dataclass
class _Early:
    """A kernel process started before ``jupyter_client`` is imported, and what it listens on."""

    proc: subprocess.Popen[bytes]
    connection_file: Path
    info: dict[str, Any]

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.connection_file.unlink(missing_ok=True)


def _start(cwd: str) -> _Early | None:
    """Start the kit kernel with the standard library only, as ``jupyter_client`` would.

    The connection file (five free local ports, a fresh key, mode 0600) is written before the
    process starts, which reads it; the process gets its own session (signals go to its group)
    and ``JPY_PARENT_PID``, like jupyter_client's launcher gives it. None when the spec or the
    interpreter is missing: the manager's own start then reports that.
    """
    import socket
    import tempfile
    import uuid

    from netdebug_nb import tools
    from netdebug_nb.errors import NetdebugError

    spec_file = _spec_file()
    if spec_file is None:
        return None
    try:
        kspec = json.loads(spec_file.read_text())
        argv = list(kspec["argv"])
        socks = [socket.socket() for _ in range(5)]
        try:
            for sock in socks:
                sock.bind(("127.0.0.1", 0))
            ports = [int(sock.getsockname()[1]) for sock in socks]
        finally:
            for sock in socks:
                sock.close()
        info: dict[str, Any] = dict(
            zip(("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"), ports, strict=True)
        )
        info |= {
            "ip": "127.0.0.1",
            "key": str(uuid.uuid4()),
            "transport": "tcp",
            "signature_scheme": "hmac-sha256",
            "kernel_name": NAME,
        }
        fd, name = tempfile.mkstemp(prefix="netdebug-kernel-", suffix=".json")  # mode 0600
        with os.fdopen(fd, "w") as f:
            json.dump(info, f)
        path = Path(name)
        env = {**os.environ, **kspec.get("env", {}), "JPY_PARENT_PID": str(os.getpid())}
        env.pop("PYTHONEXECUTABLE", None)
        cmd = [a.replace("{connection_file}", name) for a in argv] + EXTRA_ARGUMENTS
        if cmd[1:3] == ["-m", "ipykernel_launcher"]:
            cmd[1:3] = ["-c", HEADLESS_LAUNCH]
        try:
            proc = tools.start(cmd, stdout=None, stderr=None, env=env, cwd=cwd)
        except (OSError, NetdebugError):
            path.unlink(missing_ok=True)
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return _Early(proc, path, info)


def _spec_file() -> Path | None:
    """The kernel.json that ``jupyter_client`` would use for :data:`NAME`: the first one on
    ``JUPYTER_PATH`` (the runner puts the kit's own data directory first)."""
    for data_dir in os.environ.get("JUPYTER_PATH", "").split(os.pathsep):
        if data_dir and _spec_path(Path(data_dir)).is_file():
            return _spec_path(Path(data_dir))
    return None


def _spec_path(data_dir: Path) -> Path:
    """Where a Jupyter data directory holds the kit kernel's spec."""
    return data_dir / "kernels" / NAME / "kernel.json"


@contextlib.contextmanager
def launched(cwd: Path | None = None, *, meanwhile: Callable[[], object] | None = None) -> Iterator[Any]:
    """The kit kernel, started now (a ``jupyter_client`` AsyncKernelManager) for :data:`ENGINE`.

    ``netdebug-nb run`` starts it before importing papermill and its client, and the kernel
    imports pandas and matplotlib (:data:`PRELOAD`) meanwhile, so the first cell meets a ready
    kernel. The process itself is started before ``jupyter_client`` is imported (~0.3 s: its
    package imports zmq and asyncio), from a connection file written here (:func:`_start`),
    and then adopted by the kernel manager as if it had launched it. ``meanwhile`` runs right
    after the process started (the runner readies the HTML export on a thread then). The
    manager's clients are ready as soon as the kernel answers and its IOPub messages arrive
    (``Ready``: without jupyter_client's 0.2 s of waiting for IOPub to fall silent).

    The spec is looked up on ``JUPYTER_PATH`` as papermill would; the environment and working
    directory are taken now. The engine shuts the kernel down when the notebook ends; at exit
    it is stopped here if it still runs (papermill failed before using it). None when it could
    not be started: papermill then starts one itself and reports why it cannot.
    """
    workdir = str(cwd or Path.cwd())
    early = _start(workdir)
    if meanwhile is not None:
        meanwhile()
    from jupyter_client.asynchronous.client import AsyncKernelClient
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning.local_provisioner import LocalProvisioner
    from jupyter_core.utils import run_sync

    class Ready(AsyncKernelClient):  # type: ignore[misc]
        """jupyter_client's client, less the 0.2 s at the end of ``wait_for_ready`` spent taking
        IOPub messages until none came for that long: nbclient takes only the messages of each
        cell's own request, so those left over are never mistaken for a cell's output."""

        async def wait_for_ready(self, timeout: float | None = None) -> None:
            import time
            from queue import Empty

            deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
            while True:  # as jupyter_client: kernel_info until it is answered and IOPub is heard
                self.kernel_info()
                try:
                    msg = await self.shell_channel.get_msg(timeout=1)
                except Empty:
                    pass
                else:
                    if msg["msg_type"] == "kernel_info_reply":
                        try:
                            await self.iopub_channel.get_msg(timeout=0.2)  # subscribed: none is lost
                        except Empty:
                            pass
                        else:
                            self._handle_kernel_info_reply(msg)
                            return
                if not await self._async_is_alive():
                    raise RuntimeError("Kernel died before replying to kernel_info")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Kernel didn't respond in {timeout:.0f} seconds")

    class Adopting(AsyncKernelManager):  # type: ignore[misc]  # jupyter_client is untyped here
        """Adopts the process started early instead of launching one (the launch hook the
        manager documents for launching kernels differently)."""

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            if early is None:
                await super()._async_launch_kernel(kernel_cmd, **kw)
                return
            prov = self.provisioner
            if not isinstance(prov, LocalProvisioner):  # a spec with a provisioner of its own
                raise TypeError(f"cannot adopt a kernel into {type(prov).__name__}")
            prov.process, prov.pid, prov.cwd = early.proc, early.proc.pid, workdir
            prov.pgid = early.proc.pid  # started in its own session: signals go to its group
            self._reconcile_connection_info(prov.connection_info)

        async def _async_wait(self, pollinterval: float = 0.01) -> None:
            # after the kill at the notebook's end, whether the kernel is gone is asked every 0.1 s:
            # it is gone within milliseconds, and the report waited for the next question
            await super()._async_wait(pollinterval)

    km: Any = Adopting(kernel_name=NAME, client_factory=Ready)
    try:
        if early is not None:
            km.load_connection_info(early.info)
            km.connection_file = str(early.connection_file)
            km.cache_ports = False  # the ports are the early process' own
            km._connection_file_written = True  # never rewritten under a starting kernel; removed at cleanup
        run_sync(km.start_kernel)(extra_arguments=EXTRA_ARGUMENTS, cwd=workdir)
    except Exception:  # no such spec, no interpreter: papermill's own start says so, once
        if early is not None:
            early.stop()
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
