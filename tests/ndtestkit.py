"""Paths and commands shared by test modules.

Test modules import these from here, not from ``conftest``: several ``conftest.py`` files exist
(tests/, tests/dns, tests/k8s, tests/fleet) and ``import conftest`` gets whichever was loaded
first, so the result depended on which tests were collected.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus" / "tcpdump-tests"
VENV_BIN = Path(sys.executable).parent


def netdebug_cmd() -> list[str]:
    """The installed CLI of the environment running the tests."""
    return [str(VENV_BIN / "netdebug-nb")]
