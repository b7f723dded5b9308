from __future__ import annotations

from pathlib import Path

import pytest
from apiserver import FakeApiServer

from netdebug_nb.errors import UsageError
from netdebug_nb.k8s import client, lab, manifests
from netdebug_nb.k8s.client import ClusterForbiddenError


def test_apply_creates_everything_then_is_idempotent(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    c = client.connect(str(kubeconfig))
    res = lab.apply(c, lab.plan("netdebug", "registry.example.com/netdebug:0.1"))
    assert res.actions == [
        ("Namespace", "netdebug", "created"),
        ("ServiceAccount", "netdebug", "created"),
        ("ClusterRole", "netdebug-read", "created"),
        ("ClusterRoleBinding", "netdebug-read-netdebug", "created"),
        ("Secret", "netdebug-lab-token", "created"),
        ("Pod", "netdebug-lab", "created"),
    ]
    pod = apiserver.get("v1/pods", "netdebug", "netdebug-lab")
    assert pod is not None and pod["spec"]["containers"][0]["image"] == "registry.example.com/netdebug:0.1"
    token = apiserver.get("v1/secrets", "netdebug", "netdebug-lab-token")["stringData"]["token"]  # type: ignore[index]
    assert len(token) >= 32
    assert res.port_forward == "kubectl -n netdebug port-forward pod/netdebug-lab 8888:8888"
    assert "get secret netdebug-lab-token" in res.token_command and token not in res.instructions()

    again = lab.apply(c, lab.plan())
    assert {a for _, _, a in again.actions} == {"exists"}
    # the running lab keeps its token
    assert apiserver.get("v1/secrets", "netdebug", "netdebug-lab-token")["stringData"]["token"] == token  # type: ignore[index]


def test_host_network_variant(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    with pytest.raises(UsageError, match="--node"):
        lab.plan(host_network=True)
    res = lab.apply(client.connect(str(kubeconfig)), lab.plan(host_network=True, node="node-3"))
    pod = apiserver.get("v1/pods", "netdebug", manifests.HOST_POD)
    assert pod is not None and pod["spec"]["nodeName"] == "node-3" and pod["spec"]["hostNetwork"]
    assert res.port_forward.endswith(f"pod/{manifests.HOST_POD} 8888:18888")


def test_existing_namespace_without_create_rights(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    apiserver.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "netdebug"}})
    apiserver.forbid("create", "namespaces")
    res = lab.apply(client.connect(str(kubeconfig)), lab.plan())
    assert res.actions[0] == ("Namespace", "netdebug", "exists")
    apiserver.forbid("create", "clusterroles")
    with pytest.raises(ClusterForbiddenError, match="forbids create clusterroles cluster-wide"):
        lab.apply(client.connect(str(kubeconfig)), lab.plan())


def test_wait_reports_why_the_pod_is_not_ready(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    c = client.connect(str(kubeconfig))
    lab.apply(c, lab.plan())
    pod = apiserver.get("v1/pods", "netdebug", "netdebug-lab")
    assert pod is not None
    pod["status"] = {
        "phase": "Pending",
        "containerStatuses": [
            {
                "name": "lab",
                "ready": False,
                "restartCount": 0,
                "image": "ghcr.io/netdebug/netdebug:lab",
                "imageID": "",
                "state": {
                    "waiting": {
                        "reason": "ImagePullBackOff",
                        "message": 'Back-off pulling image "ghcr.io/netdebug/netdebug:lab"',
                    }
                },
            }
        ],
    }
    with pytest.raises(
        lab.LabNotReadyError,
        match=r"not Ready after 0.3 s: container lab waiting: ImagePullBackOff \(Back-off",
    ):
        lab.wait_ready(c, "netdebug", "netdebug-lab", 0.3, poll_s=0.1)
    pod["status"] = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"name": "lab", "ready": True, "state": {"running": {}}}],
    }
    assert lab.wait_ready(c, "netdebug", "netdebug-lab", 5, poll_s=0.1)
