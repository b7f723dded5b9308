"""JupyterLab settings of ``netdebug-nb lab``, the command the lab image starts (this folder is
put first on ``JUPYTER_CONFIG_PATH``; ``labconfig/`` beside it holds the settings overrides).

The server listens on 127.0.0.1 unless told otherwise (reach it with ``kubectl port-forward``) and
always wants a token: ``JUPYTER_TOKEN``, else the first line of the file ``JUPYTER_TOKEN_FILE``
names (a mounted Secret), else a random one that the server prints in its log. Stock Jupyter
would read that file verbatim (a trailing newline becomes part of the token), stop on a missing
file, and turn authentication off for an empty one; here none of that happens.
"""

import os
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by traitlets)


def _token() -> str:
    token = os.environ.get("JUPYTER_TOKEN", "").strip()
    path = os.environ.get("JUPYTER_TOKEN_FILE", "")
    if not token and path and Path(path).is_file():
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
        if not token:
            print(f"netdebug-lab: {path} is empty; the server generates a token", file=sys.stderr)
    return token


_given = _token()
if _given:
    c.IdentityProvider.token = _given
else:
    # Jupyter then generates a random token and prints the full login URL in its log.
    os.environ.pop("JUPYTER_TOKEN", None)
    os.environ.pop("JUPYTER_TOKEN_FILE", None)

c.ServerApp.ip = os.environ.get("NETDEBUG_LAB_IP", "127.0.0.1")
c.ServerApp.port = int(os.environ.get("NETDEBUG_LAB_PORT", "8888"))
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_root = False
c.ServerApp.allow_unauthenticated_access = False
c.ServerApp.root_dir = os.environ.get("NETDEBUG_LAB_ROOT", str(Path.home() / "notebooks"))
c.PasswordIdentityProvider.allow_password_change = False

# The landing page: START.md of the notebooks folder, rendered (labconfig/ makes Markdown Preview
# the default viewer), is where ``/`` and the login lead, and the URL the server prints.
if (Path(c.ServerApp.root_dir) / "START.md").is_file():
    c.LabApp.default_url = "/lab/tree/START.md"

# A pod usually has no internet: nothing is fetched at start-up or later. No news feed (the
# front end then never asks "get notified about official Jupyter news?"), no update check, and
# an extension manager that does not query PyPI.
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.handlers.announcements.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
