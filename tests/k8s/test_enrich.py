from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from apiserver import FIXTURES, FakeApiServer

from netdebug_nb import schema
from netdebug_nb.k8s import enrich as k8s_enrich
from netdebug_nb.k8s import inventory
from netdebug_nb.k8s.enrich import enrich, enrich_if_available, label
from netdebug_nb.k8s.enrich import optional as enrich_optional

OBJECTS = [d for d in yaml.safe_load_all((FIXTURES / "cluster.yaml").read_text()) if d]


def _inv() -> inventory.Inventory:
    of = lambda kind: [d for d in OBJECTS if d["kind"] == kind]  # noqa: E731
    return inventory.Inventory(
        pods=inventory.pods(of("Pod")),
        services=inventory.services(of("Service")),
        endpoints=inventory.endpoint_slices(of("EndpointSlice")),
        nodes=inventory.nodes(of("Node")),
    )


def _row(df: pd.DataFrame, col: str, i: int) -> tuple:
    return tuple(None if pd.isna(v) else v for v in df.loc[i, [f"{col}_{s}" for s in k8s_enrich.SUFFIXES]])


def test_every_kind_of_address() -> None:
    packets = pd.DataFrame(
        {
            "src": [
                "10.244.3.12",  # pod
                "fd00:10:244:3:0:0:0:c",  # same pod, IPv6, written long
                "10.96.0.10",  # service
                "fd00:10:96::A",  # service, IPv6, upper case
                "10.0.0.13",  # node (and host-network pods)
                "203.0.113.11",  # node external IP
                "8.8.8.8",  # external
                "10.244.3.99",  # in node-3's pod CIDR but no such pod (gone)
                "169.254.20.10",  # NodeLocal DNSCache
                None,
                "::ffff:10.244.2.7",  # IPv4-mapped coredns pod
                "not-an-ip",
            ],
            "bytes": range(12),
        }
    )
    out = enrich(packets, ["src"], _inv())
    assert list(out.columns) == ["src", "bytes", "src_kind", "src_namespace", "src_name", "src_node"]
    assert all(str(out[f"src_{s}"].dtype) == "string" for s in k8s_enrich.SUFFIXES)
    assert _row(out, "src", 0) == ("pod", "payments", "api-7d9f8b6c5-x2x9k", "node-3")
    assert _row(out, "src", 1) == _row(out, "src", 0)
    assert _row(out, "src", 2) == ("service", "kube-system", "kube-dns", None)
    assert _row(out, "src", 3) == _row(out, "src", 2)
    assert _row(out, "src", 4) == ("node", None, "node-3", "node-3")
    assert _row(out, "src", 5) == ("node", None, "node-1", "node-1")
    assert _row(out, "src", 6) == ("external", None, None, None)
    assert _row(out, "src", 7) == ("pod", None, None, "node-3")
    assert _row(out, "src", 8) == ("pod", "kube-system", "node-local-dns", None)
    assert _row(out, "src", 9) == (None, None, None, None)
    assert _row(out, "src", 10) == ("pod", "kube-system", "coredns-5d78c9869d-tmv4z", "node-2")
    assert _row(out, "src", 11) == (None, None, None, None)
    assert list(packets.columns) == ["src", "bytes"]  # input untouched


def test_host_network_pods_map_to_their_node_even_without_node_access() -> None:
    inv = _inv()
    inv.nodes = schema.empty(inventory.NODES_SCHEMA)  # RBAC refused nodes
    out = enrich(pd.DataFrame({"ip": ["10.0.0.12", "fd00:10::12"]}), "ip", inv)
    assert _row(out, "ip", 0) == ("node", None, "node-2", "node-2")
    assert _row(out, "ip", 1) == ("node", None, "node-2", "node-2")


def test_several_columns_and_labels() -> None:
    conv = pd.DataFrame(
        {"src_ip": ["10.244.3.12", "10.244.2.15"], "dst_ip": ["10.96.120.15", "1.1.1.1"], "packets": [3, 4]}
    )
    out = enrich(conv, ["src_ip", "dst_ip"], _inv())
    assert list(label(out, "src_ip")) == [
        "payments/api-7d9f8b6c5-x2x9k (node-3)",
        "payments/api-7d9f8b6c5-q8w7e (node-2)",
    ]
    assert list(label(out, "dst_ip")) == ["svc payments/api", "1.1.1.1"]
    with pytest.raises(KeyError, match="no column"):
        enrich(conv, ["nope"], _inv())


def test_empty_frame_and_empty_inventory() -> None:
    out = enrich(pd.DataFrame({"ip": pd.Series([], dtype="string")}), "ip", _inv())
    assert list(out.columns) == ["ip", "ip_kind", "ip_namespace", "ip_name", "ip_node"] and len(out) == 0
    out = enrich(pd.DataFrame({"ip": ["10.244.3.12"]}), "ip", inventory.empty())
    assert _row(out, "ip", 0) == ("external", None, None, None)
    schema.check(k8s_enrich.index(inventory.empty()), k8s_enrich.INDEX_SCHEMA)


def test_finished_pods_do_not_claim_reused_ips() -> None:
    objs = [d for d in OBJECTS if d["kind"] == "Pod"]
    done = yaml.safe_load(yaml.safe_dump(objs[0]))
    done["metadata"]["name"] = "old-job-xyz"
    done["status"]["phase"] = "Succeeded"
    done["status"]["podIPs"] = [{"ip": "10.244.9.9"}]
    inv = _inv()
    inv.pods = inventory.pods([*objs, done])
    out = enrich(pd.DataFrame({"ip": ["10.244.9.9"]}), "ip", inv)
    assert out.loc[0, "ip_kind"] == "external"


def test_large_frames_are_mapped_by_distinct_address() -> None:
    n = 200_000
    ips = pd.Series(["10.244.3.12", "10.96.0.10", "8.8.8.8", "10.0.0.11"] * (n // 4), dtype="string")
    out = enrich(pd.DataFrame({"ip": ips}), "ip", _inv())
    assert out["ip_kind"].value_counts().to_dict() == {
        "pod": n // 4,
        "service": n // 4,
        "external": n // 4,
        "node": n // 4,
    }


def test_enrich_if_available(kubeconfig: Path, apiserver: FakeApiServer, tmp_path: Path) -> None:
    k8s_enrich._CACHE.clear()
    df = pd.DataFrame({"server": ["10.96.0.10", "10.244.1.5"]})
    out, msg = enrich_if_available(df, ["server"], kubeconfig=str(kubeconfig))
    assert msg.startswith("Kubernetes names from context 'fake'") and "19 pods" in msg
    assert list(out["server_name"]) == ["kube-dns", "coredns-5d78c9869d-8xq2p"]
    # no cluster: the frame comes back unchanged with one line saying why, quickly
    same, why = enrich_if_available(df, "server", kubeconfig=str(tmp_path / "none"), timeout_s=1)
    assert same is df and why.startswith("Kubernetes names not added: kubeconfig") and "\n" not in why


def test_an_unreachable_cluster_costs_its_timeout_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdebug_nb.k8s import client

    k8s_enrich._CACHE.clear()
    srv = FakeApiServer().start()
    path = str(srv.write_kubeconfig(tmp_path / "kc"))
    srv.stop()
    attempts = []
    real_connect = client.connect
    monkeypatch.setattr(client, "connect", lambda *a, **kw: attempts.append(a) or real_connect(*a, **kw))
    df = pd.DataFrame({"ip": ["10.0.0.1"]})
    _, first = enrich_if_available(df, "ip", kubeconfig=path)
    _, second = enrich_if_available(df, "ip", kubeconfig=path)
    assert first == second and "connection refused" in first
    assert len(attempts) == 1


def test_optional_and_disabled(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    df = pd.DataFrame({"ip": ["10.96.0.10"]})
    assert enrich_optional(df, "ip", None) is df
    assert list(enrich_optional(df, "ip", _inv())["ip_name"]) == ["kube-dns"]
    inv, note = k8s_enrich.inventory_if_available(enabled=False, kubeconfig=str(kubeconfig))
    assert inv is None and note == "Kubernetes names off (kubernetes=False)"
    assert not any(p == "/version/" for _, p, _ in apiserver.requests)


def test_dns_answers_are_exploded_then_named() -> None:
    lookups = pd.DataFrame(
        {
            "name": ["kube-dns.kube-system.svc.cluster.local", "api.payments.svc", "nx.example", "db"],
            "answer_data": [
                "A 10.96.0.10 | AAAA fd00:10:96::a",
                "A 10.96.120.15",
                pd.NA,
                "CNAME db.example.",
            ],
        }
    )
    rows = k8s_enrich.addresses(lookups, "answer_data", into="answer_ip")
    assert list(rows["answer_ip"]) == ["10.96.0.10", "fd00:10:96::a", "10.96.120.15"]
    assert list(rows["name"]) == ["kube-dns.kube-system.svc.cluster.local"] * 2 + ["api.payments.svc"]
    named = enrich(rows, "answer_ip", _inv())
    assert list(named["answer_ip_name"]) == ["kube-dns", "kube-dns", "api"]
    empty = k8s_enrich.addresses(lookups.iloc[2:], "answer_data")
    assert len(empty) == 0 and "ip" in empty.columns


def test_selector_less_service_names_its_outside_endpoint() -> None:
    inv = _inv()
    external = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": "legacy-db-1",
            "namespace": "payments",
            "labels": {"kubernetes.io/service-name": "legacy-db"},
        },
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["192.0.2.40"], "conditions": {"ready": True}}],
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
    }
    inv.endpoints = inventory.endpoint_slices(
        [*[d for d in OBJECTS if d["kind"] == "EndpointSlice"], external]
    )
    out = enrich(pd.DataFrame({"ip": ["192.0.2.40", "10.0.0.11"]}), "ip", inv)
    assert _row(out, "ip", 0) == ("service", "payments", "legacy-db", None)
    assert _row(out, "ip", 1) == ("node", None, "node-1", "node-1")  # the `kubernetes` endpoint stays a node
