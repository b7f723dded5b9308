from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from apiserver import FIXTURES, FakeApiServer

from netdebug_nb import schema
from netdebug_nb.k8s import client, inventory
from netdebug_nb.k8s.client import ClusterUnreachableError

OBJECTS = [d for d in yaml.safe_load_all((FIXTURES / "cluster.yaml").read_text()) if d]


def _of(kind: str) -> list[dict]:
    return [d for d in OBJECTS if d["kind"] == kind]


def test_pure_frames_from_recorded_objects() -> None:
    pods = inventory.pods(_of("Pod"))
    schema.check(pods, inventory.PODS_SCHEMA)
    api = pods.set_index("name").loc["api-7d9f8b6c5-x2x9k"]
    assert (api["namespace"], api["node"], api["workload"], api["owner_kind"]) == (
        "payments",
        "node-3",
        "api",
        "ReplicaSet",
    )
    assert api["pod_ips"] == ["10.244.3.12", "fd00:10:244:3::c"]  # dual-stack
    proxy = pods.set_index("name").loc["kube-proxy-w4rtn"]
    assert proxy["host_network"] and proxy["pod_ip"] == "10.0.0.13"
    pending = pods.set_index("name").loc["worker-6c8d9f7b4-jr2lm"]
    assert pd.isna(pending["node"]) and pd.isna(pending["pod_ip"]) and pending["pod_ips"] == []
    assert pods.set_index("name").loc["etcd-node-1", "workload"] == "etcd-node-1"  # static pod

    svcs = inventory.services(_of("Service")).set_index("name")
    assert svcs.loc["kube-dns", "cluster_ips"] == ["10.96.0.10", "fd00:10:96::a"]
    assert svcs.loc["db", "headless"] and svcs.loc["db", "cluster_ips"] == []
    assert svcs.loc["api-public", "external_ips"] == ["203.0.113.50"]
    assert svcs.loc["kube-dns", "ports"] == "dns 53/UDP→53, dns-tcp 53/TCP→53, metrics 9153/TCP→9153"

    nodes = inventory.nodes(_of("Node")).set_index("name")
    assert nodes.loc["node-1", "internal_ips"] == ["10.0.0.11", "fd00:10::11"]
    assert nodes.loc["node-1", "roles"] == "control-plane"
    assert nodes.loc["node-1", "ready"] and nodes.loc["node-1", "problems"] == ""
    assert pd.isna(nodes.loc["node-3", "ready"]) and "Ready=Unknown" in nodes.loc["node-3", "problems"]
    assert pd.isna(nodes.loc["node-3", "external_ip"])


def test_slices_and_legacy_endpoints_agree() -> None:
    sl = inventory.endpoint_slices(_of("EndpointSlice"))
    legacy = inventory.endpoints(_of("Endpoints"))
    schema.check(sl, inventory.ENDPOINTS_SCHEMA)
    schema.check(legacy, inventory.ENDPOINTS_SCHEMA)
    key = ["namespace", "service", "ip", "ready", "target_name"]
    a = sl[sl["address_type"] == "IPv4"][key]
    a = a[a["service"].isin(legacy["service"])].sort_values(key).reset_index(drop=True)
    b = legacy[key].sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert not sl.set_index("target_name").loc["api-7d9f8b6c5-h5kzn", "ready"].any()


def test_empty_input_keeps_schemas() -> None:
    for fn, sch in [
        (inventory.pods, inventory.PODS_SCHEMA),
        (inventory.services, inventory.SERVICES_SCHEMA),
        (inventory.endpoint_slices, inventory.ENDPOINTS_SCHEMA),
        (inventory.endpoints, inventory.ENDPOINTS_SCHEMA),
        (inventory.nodes, inventory.NODES_SCHEMA),
    ]:
        schema.check(fn([]), sch)


def test_collect_paginates_through_the_client(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    inv = inventory.collect(client.connect(str(kubeconfig)), limit=4)
    assert inv.summary() == "19 pods, 7 services, 18 endpoints, 3 nodes (all namespaces)"
    assert inv.warnings == []
    pod_calls = [q for m, p, q in apiserver.requests if p == "/api/v1/pods"]
    assert len(pod_calls) == 5 and all(q["limit"] == "4" for q in pod_calls)
    assert sum("continue" in q for q in pod_calls) == 4
    assert len(inv.pods.drop_duplicates(["namespace", "name"])) == 19


def test_namespace_filter(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    inv = inventory.collect(client.connect(str(kubeconfig)), "payments")
    assert set(inv.pods["namespace"]) == set(inv.services["namespace"]) == {"payments"}
    assert set(inv.endpoints["namespace"]) == {"payments"}
    assert len(inv.nodes) == 3  # nodes are cluster-scoped
    assert ("GET", "/api/v1/namespaces/payments/pods", {"limit": "500"}) in apiserver.requests


def test_forbidden_parts_become_warnings(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    apiserver.forbid("list", "nodes")
    apiserver.forbid("list", "endpointslices")
    inv = inventory.collect(client.connect(str(kubeconfig)))
    assert len(inv.nodes) == 0 and len(inv.pods) == 19
    assert set(inv.endpoints["source"]) == {"Endpoints"}
    assert any("forbids list nodes cluster-wide" in w for w in inv.warnings)
    assert any("legacy Endpoints" in w for w in inv.warnings)


def test_unserved_endpointslices_fall_back(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    del apiserver.resources["discovery.k8s.io/v1/endpointslices"]  # an old cluster
    inv = inventory.collect(client.connect(str(kubeconfig)))
    assert set(inv.endpoints["source"]) == {"Endpoints"} and len(inv.endpoints) > 0


def test_cluster_dying_mid_collect_raises(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    c = client.connect(str(kubeconfig), timeout_s=0.5)
    apiserver.delay(r"/api/v1/services", 3)
    with pytest.raises(ClusterUnreachableError):
        inventory.collect(c)
