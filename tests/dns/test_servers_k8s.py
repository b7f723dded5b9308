"""CoreDNS discovery through the Kubernetes API (the kit's fake API server from tests/k8s)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1] / "k8s"))

from apiserver import FakeApiServer, apiserver, kubeconfig  # noqa: F401  (pytest fixtures)

from netdebug_nb.dns import servers


def test_every_coredns_endpoint_and_the_nodelocal_cache_are_found(kubeconfig: Path) -> None:  # noqa: F811
    found, notes = servers.cluster_servers(str(kubeconfig))
    assert {"169.254.20.10", "10.96.0.10", "10.244.1.5", "10.244.2.7"} <= set(found["server"])
    assert set(found[found["server"].isin(["10.244.1.5", "10.244.2.7"])]["role"]) == {"endpoint"}
    assert notes and "kube-dns" in notes[0]


def test_an_unreachable_cluster_is_a_note_not_an_error(tmp_path: Path) -> None:
    found, notes = servers.cluster_servers(str(tmp_path / "missing-kubeconfig"))
    assert found.empty and len(notes) == 1 and "missing-kubeconfig" in notes[0]


def test_forbidden_parts_are_notes(kubeconfig: Path, apiserver: FakeApiServer) -> None:  # noqa: F811
    apiserver.forbid("list", "pods")
    found, notes = servers.cluster_servers(str(kubeconfig))
    assert "10.96.0.10" in set(found["server"]) and "169.254.20.10" not in set(found["server"])
    assert any("forbids list pods" in n for n in notes)
