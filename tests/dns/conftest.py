"""Fixtures for the DNS tests: one cluster-DNS lab per test module (building it takes a few seconds)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent))  # after tests/: its modules win clashes

from dnslab import DnsLab, build
from lab import available


@pytest.fixture(scope="module")
def dnslab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DnsLab]:
    why = available()
    if why:
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("dnslab")
    tmp.chmod(0o755)
    dl = build(tmp)
    try:
        yield dl
    finally:
        dl.lab.close()
