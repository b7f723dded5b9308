from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lab import Lab, available

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = ROOT.parent / "shared" / "corpus" / "tcpdump-tests"
VENV_BIN = Path(sys.executable).parent


@pytest.fixture
def lab() -> Iterator[Lab]:
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"lab tests must run in CI: {why}")
        pytest.skip(why)
    lab = Lab()
    try:
        yield lab
    finally:
        lab.close()


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


def netdebug_cmd() -> list[str]:
    """The installed CLI of the environment running the tests."""
    return [str(VENV_BIN / "netdebug-nb")]
