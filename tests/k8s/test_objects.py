"""Reading cluster objects from dumps (what kubectl writes) and from a live cluster (the stand-in)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from apiserver import FIXTURES, TEST_TOKEN, FakeApiServer, self_signed_cert

from netdebug_nb.k8s import client, netpol, objects, policymatrix
from netdebug_nb.k8s.objects import ObjectsError

KUBECTL = str(Path(sys.executable).parent / "kubectl")

CLUSTER_DOCS = [
    d
    for f in ("cluster.yaml", "networkpolicies.yaml")
    for d in yaml.safe_load_all((FIXTURES / f).read_text())
    if d
]


def counts(o: objects.Objects) -> dict[str, int]:
    return {
        k: len(getattr(o, k))
        for k in ("namespaces", "pods", "services", "endpointslices", "endpoints", "nodes", "networkpolicies")
    }


def test_multi_document_yaml_and_unsupported_kinds() -> None:
    o = objects.read([FIXTURES / "cluster.yaml", FIXTURES / "networkpolicies.yaml"])
    assert counts(o) == {
        "namespaces": 4,
        "pods": 19,
        "services": 7,
        "endpointslices": 9,
        "endpoints": 5,
        "nodes": 3,
        "networkpolicies": 3,
    }
    assert o.unsupported == {"apps/v1 DaemonSet": 1}
    assert o.unsupported_line() == "ignored unsupported kinds: apps/v1 DaemonSet ×1"
    assert o.summary().startswith(
        "4 namespaces, 19 pods, 7 services, 9 endpointslices, 3 networkpolicies from "
    )


def test_json_list_directory_and_typed_lists(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    pods = [d for d in CLUSTER_DOCS if d["kind"] == "Pod"]
    (tmp_path / "a.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": pods[:5]}))
    # what the API itself serves for a list: PodList, items without kind/apiVersion
    bare = [{k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in pods[5:]]
    (tmp_path / "sub" / "b.yml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "PodList", "items": bare})
    )
    (tmp_path / "notes.txt").write_text("not a manifest")
    o = objects.read(tmp_path)
    assert len(o.pods) == 19 and all(p["kind"] == "Pod" for p in o.pods)
    assert o.sources == [str(tmp_path / "a.json"), str(tmp_path / "sub" / "b.yml")]


def test_other_policy_kinds_are_kept_apart(tmp_path: Path) -> None:
    p = tmp_path / "cni.yaml"
    p.write_text(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: a, namespace: x}\n---\n"
        "apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: g}\n---\n"
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: c, namespace: y}\n"
    )
    o = objects.read(p)
    assert [objects.other_policy_name(x) for x in o.other_policies] == [
        "CiliumNetworkPolicy x/a",
        "GlobalNetworkPolicy g",
        "NetworkPolicy y/c",
    ]
    assert not o.networkpolicies and not o.unsupported


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n  namespace: b\n",
            r"bad.yaml:5: not valid YAML",
        ),
        ("bad.json", '{\n  "kind": "List",\n  "items": [,]\n}\n', r"bad.json:3: not valid JSON"),
        (
            "scalar.yaml",
            "apiVersion: v1\n---\njust text\n",
            r"scalar.yaml:3: expected a Kubernetes object, got a str",
        ),
        (
            "list.yaml",
            "apiVersion: v1\nkind: List\nitems: [3]\n",
            r"list.yaml:1: List item 0 is not an object",
        ),
    ],
)
def test_parse_errors_name_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ObjectsError, match=message) as info:
        objects.read(p)
    assert info.value.exit_code == 2 and "\n" not in str(info.value)


def test_missing_paths(tmp_path: Path) -> None:
    with pytest.raises(ObjectsError, match="no such file or directory"):
        objects.read(tmp_path / "nope.yaml")
    with pytest.raises(ObjectsError, match="directory has no .yaml, .yml or .json files"):
        objects.read(tmp_path)


def test_collect_from_the_stand_in_equals_the_fixtures(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    live = objects.collect(client.connect(str(kubeconfig)))
    files = objects.read([FIXTURES / "cluster.yaml", FIXTURES / "networkpolicies.yaml"])
    want = counts(files) | {"endpoints": 0}  # collect reads EndpointSlices, not the legacy API
    assert counts(live) == want
    assert live.warnings == [] and live.other_policies == []
    assert all(p["kind"] == "Pod" and p["apiVersion"] == "v1" for p in live.pods)


def test_collect_keeps_going_on_refusals_and_lists_other_policy_kinds(
    kubeconfig: Path, apiserver: FakeApiServer
) -> None:
    from apiserver import Resource

    apiserver.forbid("list", "networkpolicies")
    apiserver.add_resource(Resource("cilium.io", "v2", "ciliumnetworkpolicies", "CiliumNetworkPolicy", True))
    apiserver.put(
        {
            "apiVersion": "cilium.io/v2",
            "kind": "CiliumNetworkPolicy",
            "metadata": {"name": "l7-api", "namespace": "payments"},
            "spec": {"endpointSelector": {}},
        }
    )
    live = objects.collect(client.connect(str(kubeconfig)))
    assert live.networkpolicies == [] and len(live.pods) == 19
    assert len(live.warnings) == 1 and "forbids list networkpolicies" in live.warnings[0]
    assert [objects.other_policy_name(p) for p in live.other_policies] == [
        "CiliumNetworkPolicy payments/l7-api"
    ]


def test_kubectl_dump_reads_like_the_live_cluster(tmp_path: Path) -> None:
    """`kubectl get ns,pods,svc,endpointslices,networkpolicies -A -o yaml` (real kubectl, against
    the stand-in) read by objects.read gives the same engine answers as objects.collect."""
    srv = FakeApiServer(token=TEST_TOKEN, tls=self_signed_cert(tmp_path))
    srv.load(FIXTURES / "cluster.yaml")
    srv.load(FIXTURES / "networkpolicies.yaml")
    with srv:
        kc = srv.write_kubeconfig(tmp_path / "kubeconfig")
        argv = [KUBECTL, "--kubeconfig", str(kc), "--cache-dir", str(tmp_path / "cache")]
        done = subprocess.run(
            [*argv, "get", "ns,pods,svc,endpointslices,networkpolicies", "-A", "-o", "yaml"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        dump = tmp_path / "dump.yaml"
        dump.write_text(done.stdout)
        live = objects.collect(client.connect(str(kc)))
    read = objects.read(dump)
    assert counts(read) == counts(live) | {"nodes": 0}  # the usual dump has no nodes
    assert read.unsupported == {}
    ports = [("TCP", 8080), ("TCP", 5432), ("UDP", 53)]
    a = policymatrix.compute(netpol.compile(read), ports)
    b = policymatrix.compute(netpol.compile(live), ports)
    assert [p.key for p in a.pods] == [p.key for p in b.pods]
    assert (a.allowed == b.allowed).all() and (a.certain == b.certain).all()


def test_fixture_cluster_verdicts() -> None:
    """The stand-in's policies, end to end through the loader and the engine."""
    e = netpol.compile(objects.read([FIXTURES / "cluster.yaml", FIXTURES / "networkpolicies.yaml"]))
    api = next(p for p in e.pods if p.namespace == "payments" and p.labels.get("app") == "api")
    db = next(p for p in e.pods if p.name == "db-0")
    shell = e.pod("default/debug-shell")
    prom = e.pod("monitoring/prometheus-0")
    v = e.allows(netpol.Traffic(shell, api, 8080))
    assert v.status == "allowed"
    assert [str(r) for r in v.ingress.allowed_by] == ["payments/api-from-default-and-monitoring ingress[0]"]
    assert e.allows(netpol.Traffic(prom, api, 8080)).status == "allowed"
    v = e.allows(netpol.Traffic(shell, db, 5432))
    assert v.status == "denied"
    assert v.ingress.policies == ("payments/default-deny-ingress", "payments/db-from-api")
    assert v.ingress.reason.startswith(
        "no rule of policies payments/default-deny-ingress, payments/db-from-api allows TCP/5432 from default/debug-shell"
    )
    assert e.allows(netpol.Traffic(api, db, 5432)).status == "allowed"
    dns = next(p for p in e.pods if p.labels.get("k8s-app") == "kube-dns")
    assert e.allows(netpol.Traffic(db, dns, 53, "UDP")).status == "allowed"
    assert e.allows(netpol.Traffic(db, prom, 9090)).egress.status == "denied"
    assert e.allows(netpol.Traffic(db, "10.1.2.3", 31000)).status == "allowed"  # endPort range, ipBlock
    assert e.allows(netpol.Traffic(db, "10.244.9.9", 31000)).status == "denied"  # except


@pytest.mark.parametrize("name", ["cluster.yaml", "networkpolicies.yaml"])
def test_rapidyaml_fast_path_reads_what_pyyaml_reads(name: str) -> None:
    """Big dumps go through rapidyaml (about 25× faster); it must give PyYAML's documents."""
    path = FIXTURES / name
    text = path.read_text()
    fast = objects._ryml_documents(text)
    assert fast is not None
    assert fast == [d for _, d in objects._pyyaml_documents(path, text)]
    assert objects._ryml_documents("a: [1\n") is None  # errors: PyYAML says where
    for yaml_only in (
        "base: &b {app: x}\nlabels: *b\n",
        "c:\n  <<: *b\n",
        "d: !!str 12\n",
        "hostNetwork: yes\n",
        "podSelector: ~\n",
        "- On\n",
    ):
        assert objects._ryml_documents(yaml_only) is None, yaml_only
    assert objects._ryml_documents('a: "x & y, a*b!"\nb: yesterday\n') == [
        {"a": "x & y, a*b!", "b": "yesterday"}
    ]
    assert objects._ryml_documents("--- 3\n") is None
