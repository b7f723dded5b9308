"""JupyterLab settings of the netdebug lab image (loaded from /opt/netdebug/etc/jupyter).

The server listens on 127.0.0.1 unless told otherwise (reach it with ``kubectl port-forward``) and
always wants a token: ``JUPYTER_TOKEN``, else the first line of ``JUPYTER_TOKEN_FILE`` (a mounted
Secret), else a random one that the server prints in its log. An empty token never disables
authentication here, unlike stock Jupyter.
"""

import os
import secrets
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821  (injected by traitlets)


def _token() -> str:
    token = os.environ.get("JUPYTER_TOKEN", "").strip()
    if token:
        return token
    path = os.environ.get("JUPYTER_TOKEN_FILE", "")
    if path and Path(path).is_file():
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        token = lines[0].strip() if lines else ""
        if token:
            return token
        print(f"netdebug-lab: {path} is empty; using a random token", file=sys.stderr)
    return secrets.token_urlsafe(24)


c.ServerApp.ip = os.environ.get("NETDEBUG_LAB_IP", "127.0.0.1")
c.ServerApp.port = int(os.environ.get("NETDEBUG_LAB_PORT", "8888"))
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.allow_root = False
c.ServerApp.allow_unauthenticated_access = False
c.ServerApp.root_dir = os.environ.get("NETDEBUG_LAB_ROOT", str(Path.home() / "notebooks"))
c.IdentityProvider.token = _token()
c.PasswordIdentityProvider.allow_password_change = False
