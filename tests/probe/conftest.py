"""Fixtures for the probe tests: one endpoint lab per test module (it takes a few seconds to build)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))  # after tests/: its modules win clashes

from lab import available
from probelab import ProbeLab, build


@pytest.fixture(scope="module")
def probelab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProbeLab]:
    why = available()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"lab tests must run in CI: {why}")
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("probelab")
    pl = build(tmp)
    try:
        yield pl
    finally:
        pl.close()
