"""The truth table: equal to Engine.allows on every cell (property test over random clusters),
monotone as the NetworkPolicy model promises, and the ``k8s netpol matrix`` command."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdebug_nb import cli
from netdebug_nb.k8s import netpol, objects, policymatrix
from netdebug_nb.k8s.netpol import NetpolError, Traffic

# --- random clusters ---------------------------------------------------------------------------

KEYS = ["app", "tier"]
VALUES = ["a", "b", "c"]
NS = ["n0", "n1", "n2"]
PORTS = [("TCP", 80), ("TCP", 8080), ("UDP", 53), ("SCTP", 80)]

labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=2)


@st.composite
def selectors(draw: st.DrawFn) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    ml = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=1))
    if ml:
        sel["matchLabels"] = ml
    exprs = []
    for _ in range(draw(st.integers(0, 1))):
        op = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        e: dict[str, Any] = {"key": draw(st.sampled_from(KEYS)), "operator": op}
        if op in ("In", "NotIn"):
            e["values"] = draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True))
        exprs.append(e)
    if exprs:
        sel["matchExpressions"] = exprs
    return sel


@st.composite
def peers(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["pod", "ns", "both", "ip"]))
    if kind == "ip":
        block: dict[str, Any] = {"cidr": draw(st.sampled_from(["10.0.0.0/16", "10.0.1.0/24", "0.0.0.0/0"]))}
        if draw(st.booleans()):
            block["except"] = [draw(st.sampled_from(["10.0.1.0/25", "10.0.0.0/24"]))]
        return {"ipBlock": block}
    peer: dict[str, Any] = {}
    if kind in ("pod", "both"):
        peer["podSelector"] = draw(selectors())
    if kind in ("ns", "both"):
        peer["namespaceSelector"] = draw(selectors())
    return peer


@st.composite
def port_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    proto = draw(st.sampled_from([None, "TCP", "UDP", "SCTP"]))
    if proto:
        spec["protocol"] = proto
    kind = draw(st.sampled_from(["none", "number", "name", "range"]))
    if kind == "number":
        spec["port"] = draw(st.sampled_from([80, 53, 8080]))
    elif kind == "name":
        spec["port"] = draw(st.sampled_from(["http", "dns"]))
    elif kind == "range":
        spec["port"], spec["endPort"] = 53, draw(st.sampled_from([79, 80, 9000]))
    return spec


@st.composite
def rules(draw: st.DrawFn, key: str) -> dict[str, Any]:
    rule: dict[str, Any] = {}
    ps = draw(st.lists(peers(), max_size=2))
    if ps:
        rule[key] = ps
    ports = draw(st.lists(port_specs(), max_size=2))
    if ports:
        rule["ports"] = ports
    return rule


@st.composite
def policies(draw: st.DrawFn, name: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": draw(selectors())}
    types = draw(st.sampled_from([None, ["Ingress"], ["Egress"], ["Ingress", "Egress"]]))
    if types:
        spec["policyTypes"] = types
    for direction, key in (("ingress", "from"), ("egress", "to")):
        if draw(st.booleans()):
            spec[direction] = draw(st.lists(rules(key), max_size=2))
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": draw(st.sampled_from(NS))},
        "spec": spec,
    }


@st.composite
def clusters(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": draw(labels)}} for n in NS
    ]
    for i in range(draw(st.integers(2, 6))):
        ports = draw(
            st.lists(
                st.sampled_from(
                    [
                        {"name": "http", "containerPort": 80},
                        {"name": "http", "containerPort": 8080},
                        {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                        {"name": "dns", "containerPort": 53, "protocol": "TCP"},
                    ]
                ),
                max_size=1,
            )
        )
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"p{i}", "namespace": draw(st.sampled_from(NS)), "labels": draw(labels)},
                "spec": {
                    "nodeName": draw(st.sampled_from(["node-a", "node-b"])),
                    "hostNetwork": draw(st.booleans()) and draw(st.booleans()),
                    "containers": [{"name": "c", "image": "x", "ports": ports}],
                },
                "status": {"podIP": f"10.0.{draw(st.sampled_from([0, 1]))}.{i + 1}"},
            }
        )
    for i in range(draw(st.integers(0, 4))):
        docs.append(draw(policies(f"pol{i}")))
    return docs


def build(docs: list[dict[str, Any]]) -> netpol.Engine:
    objs = objects.Objects()
    for d in docs:
        objs.add(copy.deepcopy(d))
    return netpol.compile(objs)


def table(docs: list[dict[str, Any]]) -> policymatrix.Matrix:
    return policymatrix.compute(build(docs), PORTS)


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(clusters())
def test_matrix_equals_allows_on_every_cell(docs: list[dict[str, Any]]) -> None:
    engine = build(docs)
    m = policymatrix.compute(engine, PORTS)
    assert len(m.pods) == len(engine.pods)
    for i, j, k in m.cells():
        v = engine.allows(Traffic(m.pods[i], m.pods[j], PORTS[k][1], PORTS[k][0]))
        assert (bool(m.allowed[i, j, k]), bool(m.certain[i, j, k])) == (v.allowed, v.certain), (
            m.pods[i].key,
            m.pods[j].key,
            PORTS[k],
            v.summary(),
        )


@SETTINGS
@given(clusters(), st.data())
def test_adding_an_allow_rule_never_removes_a_connection(
    docs: list[dict[str, Any]], data: st.DataObject
) -> None:
    before = table(docs)
    pols = [d for d in docs if d["kind"] == "NetworkPolicy"]
    direction = data.draw(st.sampled_from(["ingress", "egress"]))
    if pols:
        target = data.draw(st.sampled_from(pols))
    else:
        target = data.draw(policies("added"))
        docs = [*docs, target]
        before = table(docs)
    # give the policy its effective policyTypes explicitly, so that adding an egress rule to a
    # policy without policyTypes does not also make it isolate egress (that is not "an allow rule")
    spec = target["spec"]
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]
        before = table(docs)
    spec.setdefault(direction, []).append(data.draw(rules("from" if direction == "ingress" else "to")))
    after = table(docs)
    assert not (before.allowed & ~after.allowed).any()


@SETTINGS
@given(
    clusters(),
    selectors(),
    st.sampled_from([["Ingress"], ["Egress"], ["Ingress", "Egress"]]),
    st.sampled_from(NS),
)
def test_adding_a_default_deny_policy_never_adds_a_connection(
    docs: list[dict[str, Any]], selector: dict[str, Any], types: list[str], ns: str
) -> None:
    before = table(docs)
    deny = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "zz-deny", "namespace": ns},
        "spec": {"podSelector": selector, "policyTypes": types},
    }
    after = table([*docs, deny])
    assert not (after.allowed & ~before.allowed).any()


# --- the table's outputs -----------------------------------------------------------------------

DUMP = """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: shop}}
- {apiVersion: v1, kind: Namespace, metadata: {name: payments}}
- apiVersion: v1
  kind: Pod
  metadata: {name: web, namespace: shop, labels: {app: web}}
  spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 80}]}]}
  status: {podIP: 10.0.0.1}
- apiVersion: v1
  kind: Pod
  metadata: {name: api, namespace: payments, labels: {app: api}}
  spec: {containers: [{name: c, image: x, ports: [{name: http, containerPort: 8080}]}]}
  status: {podIP: 10.0.0.2}
- apiVersion: v1
  kind: Pod
  metadata: {name: db, namespace: payments, labels: {app: db}}
  spec: {containers: [{name: c, image: x}]}
  status: {podIP: 10.0.0.3}
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata: {name: api-from-shop, namespace: payments}
  spec:
    podSelector: {matchLabels: {app: api}}
    ingress:
    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: shop}}}]
      ports: [{port: http}]
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: web, namespace: shop}
"""


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, cli.Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    p = tmp_path / "dump.yaml"
    p.write_text(DUMP)
    return p


def test_cli_json_rows_for_every_ordered_pair_and_port(dump: Path) -> None:
    code, out, err = run(
        ["k8s", "netpol", "matrix", "--manifests", str(dump), "--ports", "tcp/80,tcp/8080", "--json"]
    )
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 3 * 2 * 2
    assert set(rows[0]) == {"source", "destination", "protocol", "port", "allowed", "cni_dependent"}
    allowed = {(r["source"], r["destination"], r["port"]) for r in rows if r["allowed"]}
    denied = {(r["source"], r["destination"], r["port"]) for r in rows if not r["allowed"]}
    assert ("shop/web", "payments/api", 8080) in allowed  # named port http = 8080 on api
    assert ("shop/web", "payments/api", 80) in denied
    assert ("payments/db", "payments/api", 8080) in denied  # not from shop
    assert ("payments/api", "payments/db", 80) in allowed  # db is not isolated
    assert denied == {(s, "payments/api", p) for s in ("shop/web", "payments/db") for p in (80, 8080)} - {
        ("shop/web", "payments/api", 8080)
    }
    assert "ignored unsupported kinds: apps/v1 Deployment ×1" in err


def test_cli_grid_and_namespace_filter(dump: Path) -> None:
    code, out, err = run(["k8s", "netpol", "matrix", "--manifests", str(dump), "-n", "payments"])
    assert code == 0, err
    assert "TCP/8080" in out and "payments/api" in out and "shop/web" not in out
    grid = out.split("TCP/8080", 1)[1].splitlines()
    row_db = next(line for line in grid if "payments/db" in line)
    assert row_db.split()[-2:] == ["X", "-"]  # db → api denied, db → db diagonal
    m = policymatrix.compute(netpol.compile(objects.read(dump)), [("TCP", 8080)], ["payments"])
    assert policymatrix.records(m) == [
        {
            "source": "payments/api",
            "destination": "payments/db",
            "protocol": "TCP",
            "port": 8080,
            "allowed": True,
            "cni_dependent": False,
        },
        {
            "source": "payments/db",
            "destination": "payments/api",
            "protocol": "TCP",
            "port": 8080,
            "allowed": False,
            "cni_dependent": False,
        },
    ]
    assert list(m.frame().dtypes.astype(str)) == list(policymatrix.MATRIX_SCHEMA.values())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-n", "paymnts"], "-n: no namespace 'paymnts'; nearest: payments"),
        (["--ports", "tcp/http"], "--ports: 'tcp/http': port must be a number"),
        (["--ports", "icmp/1"], "--ports: 'icmp/1': protocol must be one of TCP, UDP, SCTP"),
    ],
)
def test_cli_bad_input_is_one_line(dump: Path, argv: list[str], message: str) -> None:
    code, out, err = run(["k8s", "netpol", "matrix", "--manifests", str(dump), *argv])
    assert code == 2 and out == ""
    assert err.startswith(f"netdebug-nb: error: {message}")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_cli_without_cluster_or_manifests_says_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    code, out, err = run(["k8s", "netpol", "matrix"])
    assert code == 2 and out == ""
    assert err.startswith("netdebug-nb: error: no Kubernetes configuration") and "--manifests PATH" in err
    assert err.count("\n") == 1


def test_cli_live_cluster_through_the_stand_in(kubeconfig: Path, apiserver: Any) -> None:
    code, out, err = run(
        ["k8s", "netpol", "matrix", "--kubeconfig", str(kubeconfig), "--json", "--ports", "tcp/8080"]
    )
    assert code == 0, err
    rows = json.loads(out)
    assert rows and all(r["port"] == 8080 for r in rows)
    assert any(not r["allowed"] for r in rows)  # the fixture's policies deny something


def test_default_ports_are_the_declared_container_ports(dump: Path) -> None:
    engine = netpol.compile(objects.read(dump))
    assert policymatrix.default_ports(engine.pods) == [("TCP", 80), ("TCP", 8080)]
    assert policymatrix.default_ports([]) == [("TCP", 80)]
    with pytest.raises(NetpolError):
        policymatrix.parse_ports(" , ")
    assert policymatrix.parse_ports("tcp/80,UDP/53,8080,tcp/80") == [("TCP", 80), ("UDP", 53), ("TCP", 8080)]


def test_yaml_dump_fixture_is_a_kubectl_list() -> None:
    assert yaml.safe_load(DUMP)["kind"] == "List"


def test_terminated_pods_are_left_out_and_empty_tables_work() -> None:
    objs = objects.Objects()
    for doc in yaml.safe_load(DUMP)["items"]:
        objs.add(doc)
    done = copy.deepcopy(objs.pods[0])
    done["metadata"]["name"] = "migrate-job"
    done["status"]["phase"] = "Succeeded"
    objs.add(done)
    engine = netpol.compile(objs)
    assert engine.pod("shop/migrate-job").terminated
    m = policymatrix.compute(engine, [("TCP", 80)])
    assert [p.key for p in m.pods] == ["payments/api", "payments/db", "shop/web"]
    empty = policymatrix.compute(netpol.Engine([], {}, []), [("TCP", 80)])
    assert empty.summary() == "0 pods, 1 ports: 0 of 0 connections allowed"
    assert list(empty.frame().columns) == list(policymatrix.MATRIX_SCHEMA)
    out = io.StringIO()
    empty.write_json(out)
    assert json.loads(out.getvalue()) == []


def test_by_namespace_counts_add_up_to_the_table(dump: Path) -> None:
    m = policymatrix.compute(netpol.compile(objects.read(dump)), [("TCP", 80), ("TCP", 8080)])
    ns = m.by_namespace()
    assert list(ns.dtypes.astype(str)) == list(policymatrix.NAMESPACES_SCHEMA.values())
    rows = policymatrix.records(m)
    assert int(ns["allowed"].sum()) == sum(r["allowed"] for r in rows)
    assert int((ns["allowed"] + ns["denied"]).sum()) == len(rows)
    shop_to_payments = ns[(ns.source_namespace == "shop") & (ns.destination_namespace == "payments")]
    assert shop_to_payments[["port", "allowed", "denied"]].values.tolist() == [[80, 1, 1], [8080, 2, 0]]
    code, out, _ = run(["k8s", "netpol", "matrix", "--manifests", str(dump)])
    assert code == 0 and "BY NAMESPACE" in out
