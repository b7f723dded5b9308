"""The three notebooks name addresses through a (fake) cluster, and run unchanged without one.

Runs each notebook's demo through the real runner with a kubeconfig for the fake API server, in
which the demo captures' addresses are a pod (198.18.1.2) and a service (198.18.2.10). Skips a
notebook until its Kubernetes cells are integrated (it has no ``kubeconfig`` parameter or never
calls ``netdebug_nb.k8s``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from apiserver import FakeApiServer

from netdebug_nb import catalogue, demo, runner

pytestmark = pytest.mark.slow

NOTEBOOKS = ["pcap_analysis", "latency", "dns_trace"]


def _integrated(name: str) -> catalogue.NotebookInfo:
    try:
        info = catalogue.find(name)
    except Exception as exc:  # the notebook may not exist yet in a partial checkout
        pytest.skip(f"{name}: {exc}")
    names = {p.name for p in info.parameters}
    if not {"kubeconfig", "kubernetes"} <= names or "netdebug_nb.k8s" not in info.path.read_text():
        pytest.skip(f"{name}: Kubernetes cells not integrated yet")
    return info


def _seed(srv: FakeApiServer) -> None:
    srv.put(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "client-5f7d8-abcde", "namespace": "payments", "labels": {"app": "client"}},
            "spec": {"nodeName": "node-2", "containers": [{"name": "c", "image": "x"}]},
            "status": {"phase": "Running", "podIP": "198.18.1.2", "podIPs": [{"ip": "198.18.1.2"}]},
        }
    )
    srv.put(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": "198.18.2.10", "clusterIPs": ["198.18.2.10"]},
        }
    )


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_demo_with_cluster_names_addresses(
    name: str, apiserver: FakeApiServer, kubeconfig: Path, tmp_path: Path
) -> None:
    info = _integrated(name)
    _seed(apiserver)
    params = demo.parameters_for(info) | {"kubeconfig": str(kubeconfig), "kubernetes": True}
    res = runner.run(name, params, out=tmp_path, timeout=300)
    text = res.ipynb.read_text()
    assert "Kubernetes names from context 'fake'" in text
    assert "web" in text and ("client-5f7d8-abcde" in text or name != "pcap_analysis")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_demo_without_cluster_says_so_and_finishes(name: str, tmp_path: Path) -> None:
    info = _integrated(name)
    empty = tmp_path / "kubeconfig"  # a kubeconfig that names no cluster (a missing one is exit 2)
    empty.write_text("")
    params = demo.parameters_for(info) | {"kubeconfig": str(empty), "kubernetes": True}
    res = runner.run(name, params, out=tmp_path, timeout=300)
    assert res.status == "ok" or res.error is None
    assert "Kubernetes names not added: kubeconfig" in res.ipynb.read_text()
