from __future__ import annotations

import pytest

from netdebug_nb.errors import InputError
from netdebug_nb.latency import targets


def test_split_plain_and_kubernetes() -> None:
    plain, k8s = targets.split(
        ["10.0.0.1", "nodes", "db.example", "pods:shop/app=web", "service:shop/api", " "]
    )
    assert plain == ["10.0.0.1", "db.example"]
    assert k8s == ["nodes", "pods:shop/app=web", "service:shop/api"]


def test_plain_only_needs_no_cluster() -> None:
    t = targets.expand(["198.18.2.10"])
    assert t.addresses == ["198.18.2.10"] and t.kubernetes is None and t.notes == []


def test_without_cluster_plain_targets_survive(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/nonexistent/kubeconfig")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    t = targets.expand(["198.18.2.10", "nodes"], kubeconfig="/nonexistent/kubeconfig")
    assert t.addresses == ["198.18.2.10"]
    assert t.notes and "not resolved" in t.notes[0]


def test_bad_selector_is_an_input_error() -> None:
    with pytest.raises(InputError, match="pods needs a namespace|bad namespace"):
        targets.expand(["pods:/"])
