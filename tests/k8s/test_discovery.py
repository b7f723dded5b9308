from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from apiserver import FakeApiServer

from netdebug_nb import schema
from netdebug_nb.k8s import client, discovery
from netdebug_nb.k8s.discovery import TargetSpecError, parse_spec


def test_parse_spec() -> None:
    assert parse_spec("nodes") == discovery.Spec("nodes")
    assert (
        parse_spec("nodes:topology.kubernetes.io/zone=zone-a").selector
        == "topology.kubernetes.io/zone=zone-a"
    )
    assert parse_spec("pods:payments/app=api,tier in (backend)") == discovery.Spec(
        "pods", "payments", "", "app=api,tier in (backend)"
    )
    assert parse_spec("pods:*/app=api").namespace is None
    assert parse_spec("svc:kube-system/kube-dns") == discovery.Spec("service", "kube-system", "kube-dns")
    for bad in ["", "pods:", "service:payments", "deploy:payments/api", "pods:ns/=x", "service:a/b/c"]:
        with pytest.raises(TargetSpecError, match="target spec"):
            parse_spec(bad)


def test_targets(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    c = client.connect(str(kubeconfig))
    nodes = discovery.targets("nodes", c)
    schema.check(nodes, discovery.TARGETS_SCHEMA)
    assert list(nodes["target"]) == [
        "10.0.0.11",
        "fd00:10::11",
        "10.0.0.12",
        "fd00:10::12",
        "10.0.0.13",
        "fd00:10::13",
    ]
    assert list(discovery.targets("nodes:topology.kubernetes.io/zone=zone-b", c, family=4)["name"]) == [
        "node-3"
    ]

    pods = discovery.targets("pods:payments/app=api", c, family=6)
    assert sorted(pods["name"]) == ["api-7d9f8b6c5-h5kzn", "api-7d9f8b6c5-q8w7e", "api-7d9f8b6c5-x2x9k"]
    assert set(pods["family"]) == {6}
    assert (
        "GET",
        "/api/v1/namespaces/payments/pods",
        {"labelSelector": "app=api", "limit": "500"},
    ) in apiserver.requests
    assert discovery.targets("pods:payments/app=worker", c).empty  # Pending, no IP

    svc = discovery.targets("service:payments/api", c, family=4)
    assert sorted(svc["target"]) == ["10.244.1.23", "10.244.2.15", "10.244.3.12"]
    assert set(svc["port"]) == {8080}
    assert svc.set_index("name").loc["api-7d9f8b6c5-h5kzn", "ready"] == False  # noqa: E712
    both = discovery.targets(["service:payments/api", "pods:payments/app=api"], c)
    assert len(both) == 6  # duplicates between specs removed
    with pytest.raises(TargetSpecError, match="no service payments/nope"):
        discovery.targets("service:payments/nope", c)


def test_service_targets_fall_back_to_endpoints(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    apiserver.forbid("list", "endpointslices")
    t = discovery.targets("service:kube-system/kube-dns", client.connect(str(kubeconfig)))
    assert sorted(t["target"]) == ["10.244.1.5", "10.244.2.7"]


def test_cluster_dns(kubeconfig: Path, apiserver: FakeApiServer, tmp_path: Path) -> None:
    c = client.connect(str(kubeconfig))
    env = {"POD_NAME": "debug-shell", "POD_NAMESPACE": "default"}
    dns = discovery.cluster_dns(c, environ=env, serviceaccount_dir=tmp_path)
    assert (dns.service_name, dns.service_ips) == ("kube-dns", ["10.96.0.10", "fd00:10:96::a"])
    assert dns.nodelocal and dns.nodelocal_ip == "169.254.20.10" and dns.nodelocal_pods == 3
    assert dns.own_pod == "default/debug-shell" and dns.dns_policy == "ClusterFirst"
    assert dns.notes == []
    servers = dns.servers()
    schema.check(servers, discovery.DNS_SERVERS_SCHEMA)
    assert list(servers["server"]) == [
        "169.254.20.10",
        "10.96.0.10",
        "fd00:10:96::a",
        "fd00:10:244:1::5",
        "fd00:10:244:2::7",
        "10.244.1.5",
        "10.244.2.7",
    ]
    assert list(servers["role"]) == ["nodelocal", "service", "service"] + ["endpoint"] * 4
    assert set(servers[servers["role"] == "endpoint"]["name"]) == {
        "coredns-5d78c9869d-8xq2p",
        "coredns-5d78c9869d-tmv4z",
    }
    assert "NodeLocal DNSCache on 169.254.20.10 (3 pods)" in dns.summary()


def test_cluster_dns_partial_when_refused(kubeconfig: Path, apiserver: FakeApiServer, tmp_path: Path) -> None:
    apiserver.forbid("list", "pods")
    apiserver.forbid("get", "pods")
    (tmp_path / "namespace").write_text("netdebug")
    c = client.connect(str(kubeconfig))
    dns = discovery.cluster_dns(c, environ={"POD_NAME": "lab"}, serviceaccount_dir=tmp_path)
    assert dns.service_ips == ["10.96.0.10", "fd00:10:96::a"]
    assert not dns.nodelocal and dns.own_pod is None
    assert any("forbids list pods" in n for n in dns.notes)
    assert any(n.startswith("own pod netdebug/lab not readable") for n in dns.notes)
    assert list(dns.servers()["role"]).count("endpoint") == 4


def test_nodelocal_ip_from_args() -> None:
    pod = {
        "spec": {"containers": [{"args": ["-localip=169.254.25.10,10.96.0.10", "-conf", "/etc/Corefile"]}]}
    }
    assert discovery.nodelocal_ip(pod) == "169.254.25.10"
    assert discovery.nodelocal_ip({"spec": {"containers": [{"args": []}]}}) is None


def test_no_kube_dns_service(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    for key in [k for k in apiserver.objects if k[0] == "v1/services" and k[1] == "kube-system"]:
        del apiserver.objects[key]
    dns = discovery.cluster_dns(client.connect(str(kubeconfig)), environ={"POD_NAME": "x"})
    assert dns.service_name is None and "no kube-dns service found" in dns.summary()
    assert pd.isna(dns.servers()["name"]).sum() == 0


def test_targets_if_available(kubeconfig: Path, apiserver: FakeApiServer, tmp_path: Path) -> None:
    found, note = discovery.targets_if_available(["service:payments/api", ""], kubeconfig=str(kubeconfig))
    assert len(found) == 6 and note.startswith("6 target(s) from service:payments/api (context 'fake'")
    empty, note = discovery.targets_if_available([], kubeconfig=str(kubeconfig))
    assert empty.empty and note == ""
    none, note = discovery.targets_if_available("nodes", kubeconfig=str(tmp_path / "absent"))
    schema.check(none, discovery.TARGETS_SCHEMA)
    assert none.empty and note.startswith("Kubernetes targets not resolved: kubeconfig")
    with pytest.raises(TargetSpecError):  # a typo is reported even without a cluster
        discovery.targets_if_available("pod:", kubeconfig=str(tmp_path / "absent"))
