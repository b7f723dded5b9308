"""The kit's own Jupyter kernel spec.

Headless runs must execute in the Python that has ``netdebug_nb`` installed, whatever kernels the
user's Jupyter set-up knows. :func:`ensure` writes a spec named :data:`NAME` whose argv is this
interpreter, under ``sys.prefix`` (or a per-user cache when that is read-only), and returns the
directory to put first on ``JUPYTER_PATH`` so that spec wins over any same-named user kernel.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

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
