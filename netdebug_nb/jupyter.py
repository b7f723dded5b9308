"""``netdebug-nb lab``: JupyterLab started the one way the image, a laptop and the tests share.

The settings live in the package (``data/jupyter``: the server config with its token rules, and
``labconfig/`` with the settings overrides that keep JupyterLab offline and render the landing
page), so ``pip install netdebug-nb`` gives the same JupyterLab as the image's CMD. :func:`plan`
is pure (what to run, with which environment, which notebooks to copy into the root); the CLI
copies them with :func:`seed` and hands the process over to JupyterLab (``tools.replace``), so a
pod's SIGTERM reaches the server directly.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from netdebug_nb import catalogue
from netdebug_nb.errors import UsageError

CONFIG_DIR = catalogue.DATA_DIR / "jupyter"
"""A Jupyter config directory: ``jupyter_server_config.py`` and ``labconfig/``."""

LANDING_PAGE = "START.md"
DEFAULT_IP = "127.0.0.1"
DEFAULT_PORT = 8888


class LabRootError(UsageError):
    """The notebooks root cannot be used (not a directory, not writable)."""

    def __init__(self, root: Path, reason: str) -> None:
        self.root = root
        super().__init__(f"--root {root}: {reason}")


class LabAsRootError(UsageError):
    """JupyterLab refuses to run as root unless told to; say how before it starts."""

    def __init__(self) -> None:
        super().__init__(
            "running as root: JupyterLab refuses to unless asked; add '-- --allow-root' "
            "(netdebug-nb lab -- --allow-root)"
        )


@dataclass(frozen=True)
class Launch:
    """What :func:`plan` decided: the command, the variables set on top of the environment, the
    notebooks root and the shipped files missing from it (copied by :func:`seed`)."""

    argv: list[str]
    env: dict[str, str]
    root: Path
    ip: str
    port: int
    missing: list[Path]

    @property
    def url(self) -> str:
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"http://{host}:{self.port}/"


def shipped() -> list[Path]:
    """The files a notebooks root starts with: the landing page and every shipped notebook."""
    src = catalogue.notebooks_dir()
    return [p for p in [src / LANDING_PAGE, *sorted(src.glob("*.ipynb"))] if p.is_file()]


def default_root(environ: Mapping[str, str]) -> Path:
    """``$NETDEBUG_LAB_ROOT`` (the image sets none: ``~/notebooks``), else ``~/notebooks``."""
    given = environ.get("NETDEBUG_LAB_ROOT", "")
    return Path(given).expanduser() if given else Path.home() / "notebooks"


def plan(
    *,
    ip: str | None = None,
    port: int | None = None,
    root: Path | None = None,
    extra: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    as_root: bool | None = None,
    kernel_dir: Path | None = None,
) -> Launch:
    """How to start JupyterLab: options win over ``NETDEBUG_LAB_IP/PORT/ROOT``, which win over
    127.0.0.1:8888 and ``~/notebooks``; ``extra`` goes to JupyterLab as is (after ours, so it
    can override anything but the token rules, which the server config enforces)."""
    environ = os.environ if environ is None else environ
    as_root = (os.geteuid() == 0) if as_root is None else as_root
    if as_root and "--allow-root" not in extra:
        raise LabAsRootError()
    ip = ip or environ.get("NETDEBUG_LAB_IP", "") or DEFAULT_IP
    if port is None:
        text = environ.get("NETDEBUG_LAB_PORT", "")
        try:
            port = int(text) if text else DEFAULT_PORT
        except ValueError:
            raise UsageError(f"NETDEBUG_LAB_PORT={text!r}: not a port number") from None
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: not a TCP port (1-65535)")
    root = (root or default_root(environ)).expanduser().absolute()
    if root.exists() and not root.is_dir():
        raise LabRootError(root, "not a directory")
    missing = [p for p in shipped() if not (root / p.name).exists()]
    env = {
        "NETDEBUG_LAB_IP": ip,
        "NETDEBUG_LAB_PORT": str(port),
        "NETDEBUG_LAB_ROOT": str(root),
        "NETDEBUG_NOTEBOOK_DIR": str(root),  # where relative paths in notebooks are also looked up
        "JUPYTER_CONFIG_PATH": _prepend(CONFIG_DIR, environ.get("JUPYTER_CONFIG_PATH", "")),
    }
    if kernel_dir is not None:
        env["JUPYTER_PATH"] = _prepend(kernel_dir, environ.get("JUPYTER_PATH", ""))
    argv = [sys.executable, "-m", "jupyterlab", *extra]
    return Launch(argv=argv, env=env, root=root, ip=ip, port=port, missing=missing)


def seed(launch: Launch) -> list[Path]:
    """Create the root and copy the shipped files it lacks (a user's edits are never replaced)."""
    try:
        launch.root.mkdir(parents=True, exist_ok=True)
        copied = []
        for src in launch.missing:
            dest = launch.root / src.name
            shutil.copyfile(src, dest)
            copied.append(dest)
    except OSError as exc:
        raise LabRootError(launch.root, exc.strerror or str(exc)) from exc
    if not os.access(launch.root, os.W_OK | os.X_OK):
        raise LabRootError(launch.root, "not writable (notebooks and uploads are saved there)")
    return copied


def _prepend(first: Path, current: str) -> str:
    parts = [str(first), *(p for p in current.split(os.pathsep) if p and p != str(first))]
    return os.pathsep.join(parts)
