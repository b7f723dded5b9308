from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "k8s"))

from apiserver import TEST_TOKEN, FakeApiServer  # noqa: E402
from apiserver_jobs import Cluster, JobsSim  # noqa: E402


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A fake API server serving Jobs, pods, watches and logs, with nodes n1..n6 (no workloads)."""
    srv = FakeApiServer(token=TEST_TOKEN)
    srv.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "netdebug"}})
    sim = JobsSim(srv, step_s=0.01)
    sim.add_nodes([f"n{i}" for i in range(1, 7)])
    srv.start()
    try:
        yield Cluster(srv, sim, srv.write_kubeconfig(tmp_path / "kubeconfig", namespace="netdebug"))
    finally:
        srv.stop()
