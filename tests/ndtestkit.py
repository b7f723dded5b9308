"""Paths, commands and loopback ports shared by test modules.

Test modules import these from here, not from ``conftest``: several ``conftest.py`` files exist
(tests/, tests/dns, tests/k8s, tests/fleet) and ``import conftest`` gets whichever was loaded
first, so the result depended on which tests were collected.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus" / "tcpdump-tests"
VENV_BIN = Path(sys.executable).parent


def netdebug_cmd() -> list[str]:
    """The installed CLI of the environment running the tests."""
    return [str(VENV_BIN / "netdebug-nb")]


@contextlib.contextmanager
def listening_port() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections (the kernel completes the handshake) and
    never answers: a live listener, or a hung server."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def closed_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 with nothing bound (TCP: connection refused; UDP: port unreachable)."""
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()
    return port
