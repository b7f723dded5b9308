from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from lab import Lab, available
from ndtestkit import FIXTURES


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
