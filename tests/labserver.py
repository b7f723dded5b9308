"""A real JupyterLab started by ``netdebug-nb lab`` (the command the image runs), for tests.

:func:`running` starts it on a free loopback port with a known token in its own process group,
waits until the API answers, and stops it (API shutdown, then SIGTERM, then SIGKILL) even when
the test fails. The log is kept in the test's directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NETDEBUG_NB = Path(sys.executable).with_name("netdebug-nb")


@dataclass
class Server:
    base: str
    token: str
    root: Path
    log: Path

    def get(self, path: str, *, token: str | None = "", follow: bool = True) -> tuple[int, str, str]:
        """(status, body, Location) of a GET; ``token=None`` sends none, "" sends the server's."""
        tok = self.token if token == "" else token
        req = urllib.request.Request(
            self.base + path, headers={"Authorization": f"token {tok}"} if tok else {}
        )
        opener = urllib.request.build_opener(*([] if follow else [_NoRedirect()]))
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, resp.read().decode(), ""
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode(errors="replace"), exc.headers.get("Location", "")

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body[:300])
        return json.loads(body)

    def put(self, path: str, model: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(model).encode(),
            method="PUT",
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running(
    root: Path, logdir: Path, *, token: str = "t0k-netdebug-test", extra: tuple[str, ...] = ()
) -> Iterator[Server]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER_", "NETDEBUG_LAB_"))}
    env["JUPYTER_TOKEN"] = token
    as_root = ("--", "--allow-root") if os.geteuid() == 0 else ()
    argv = [str(NETDEBUG_NB), "lab", "--port", str(port), "--root", str(root), *as_root, *extra]
    log = logdir / "jupyterlab.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(OSError):
                if server.get("/api/status")[0] == 200:
                    break
            assert proc.poll() is None, f"netdebug-nb lab exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"JupyterLab did not answer: {log.read_text()[-3000:]}"
            time.sleep(0.3)
        yield server
    finally:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{server.base}/api/shutdown", method="POST", headers={"Authorization": f"token {token}"}
                ),
                timeout=5,
            )
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
