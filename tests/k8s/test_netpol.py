"""The NetworkPolicy engine against the worked examples of the Kubernetes documentation
(https://kubernetes.io/docs/concepts/services-networking/network-policies/), policy text as
published there, plus the CNI-dependent cases it must mark instead of guessing."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from netdebug_nb import cli
from netdebug_nb.k8s import netpol, objects
from netdebug_nb.k8s.netpol import NetpolError, Traffic

NAMESPACES = """
- {apiVersion: v1, kind: Namespace, metadata: {name: default}}
- {apiVersion: v1, kind: Namespace, metadata: {name: myproject, labels: {project: myproject}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: alice, labels: {user: alice}}}
- {apiVersion: v1, kind: Namespace, metadata: {name: bob, labels: {user: bob}}}
"""


def pod(ns: str, name: str, ip: str, labels: dict[str, str], **spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "c", "image": "x", "ports": spec.pop("ports", [])}])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": spec,
        "status": {"podIP": ip, "podIPs": [{"ip": ip}]},
    }


PODS = [
    pod("default", "db", "10.1.0.10", {"role": "db"}, ports=[{"name": "redis", "containerPort": 6379}]),
    pod("default", "frontend", "10.1.0.11", {"role": "frontend"}),
    pod("default", "client", "10.1.0.12", {"role": "client"}),
    pod("myproject", "worker", "10.1.1.10", {"app": "worker"}),
    pod("alice", "client", "10.1.2.10", {"role": "client"}),
    pod("alice", "server", "10.1.2.11", {"role": "server"}),
    pod("bob", "client", "10.1.3.10", {"role": "client"}),
]


def engine(*policies: str, pods: list[dict[str, Any]] | None = None, extra: str = "") -> netpol.Engine:
    objs = objects.Objects()
    for doc in yaml.safe_load(NAMESPACES) + (pods or PODS):
        objs.add(doc)
    for text in [*policies, extra]:
        for doc in yaml.safe_load_all(text):
            if doc:
                objs.add(doc)
    return netpol.compile(objs)


def allows(e: netpol.Engine, src: str, dst: str, port: int, protocol: str = "TCP") -> netpol.Verdict:
    s = e.pod(src) if "/" in src else src
    d = e.pod(dst) if "/" in dst else dst
    return e.allows(Traffic(s, d, port, protocol))


# The docs' first example, verbatim.
TEST_NETWORK_POLICY = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: test-network-policy
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
  - Ingress
  - Egress
  ingress:
  - from:
    - ipBlock:
        cidr: 172.17.0.0/16
        except:
        - 172.17.1.0/24
    - namespaceSelector:
        matchLabels:
          project: myproject
    - podSelector:
        matchLabels:
          role: frontend
    ports:
    - protocol: TCP
      port: 6379
  egress:
  - to:
    - ipBlock:
        cidr: 10.0.0.0/24
    ports:
    - protocol: TCP
      port: 5978
"""


def test_docs_example_ingress_peers_are_a_union() -> None:
    e = engine(TEST_NETWORK_POLICY)
    ok = allows(e, "default/frontend", "default/db", 6379)
    assert ok.status == "allowed"
    assert ok.ingress.allowed_by == (netpol.RuleRef("default/test-network-policy", "ingress", 0),)
    assert allows(e, "myproject/worker", "default/db", 6379).status == "allowed"  # namespaceSelector
    assert allows(e, "172.17.0.5", "default/db", 6379).status == "allowed"  # ipBlock
    denied = allows(e, "172.17.1.5", "default/db", 6379)  # in the except
    assert denied.status == "denied"
    assert denied.ingress.reason.startswith(
        "no rule of policies default/test-network-policy allows TCP/6379 from 172.17.1.5"
    )
    assert allows(e, "default/client", "default/db", 6379).status == "denied"  # no peer matches
    assert allows(e, "default/frontend", "default/db", 6380).status == "denied"  # wrong port
    assert allows(e, "default/frontend", "default/db", 6379, "UDP").status == "denied"  # wrong protocol


def test_docs_example_egress_isolates_db_and_allows_the_ipblock_port() -> None:
    e = engine(TEST_NETWORK_POLICY)
    assert allows(e, "default/db", "10.0.0.7", 5978).status == "allowed"
    v = allows(e, "default/db", "10.0.0.7", 5979)
    assert v.status == "denied" and v.egress.status == "denied" and v.ingress.status == "allowed"
    assert [f.id for f in v.findings()] == ["netpol.egress_denied"]
    # db → frontend: db's egress is isolated and only 10.0.0.0/24 is allowed; frontend is not isolated
    v = allows(e, "default/db", "default/frontend", 80)
    assert v.egress.isolated and not v.egress.allowed and not v.ingress.isolated
    # frontend itself is selected by nothing: everything from it is allowed (the ingress side decides)
    assert allows(e, "default/frontend", "default/client", 80).status == "allowed"


DEFAULT_DENY_INGRESS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-ingress
  namespace: default
spec:
  podSelector: {}
  policyTypes:
  - Ingress
"""

ALLOW_ALL_INGRESS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-ingress
  namespace: default
spec:
  podSelector: {}
  ingress:
  - {}
  policyTypes:
  - Ingress
"""

DEFAULT_DENY_EGRESS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-egress
  namespace: default
spec:
  podSelector: {}
  policyTypes:
  - Egress
"""

ALLOW_ALL_EGRESS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-all-egress
  namespace: default
spec:
  podSelector: {}
  egress:
  - {}
  policyTypes:
  - Egress
"""

DEFAULT_DENY_ALL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny-all
  namespace: default
spec:
  podSelector: {}
  policyTypes:
  - Ingress
  - Egress
"""


def test_default_deny_ingress_isolates_every_pod_of_the_namespace_only() -> None:
    e = engine(DEFAULT_DENY_INGRESS)
    v = allows(e, "alice/client", "default/frontend", 80)
    assert v.status == "denied"
    assert v.ingress.policies == ("default/default-deny-ingress",)
    assert v.ingress.reason == (
        "no rule of policies default/default-deny-ingress allows TCP/80 from alice/client "
        "(ingress of default/frontend is isolated by them)"
    )
    assert allows(e, "default/client", "default/frontend", 80).status == "denied"  # same namespace too
    assert allows(e, "default/frontend", "alice/server", 80).status == "allowed"  # egress untouched
    finding = allows(e, "alice/client", "default/frontend", 80).findings()[0]
    assert finding.id == "netpol.ingress_denied" and finding.severity == "critical"
    assert finding.evidence["policies"] == ["default/default-deny-ingress"]


def test_allow_all_ingress_wins_over_default_deny_rules_are_a_union() -> None:
    e = engine(DEFAULT_DENY_INGRESS, ALLOW_ALL_INGRESS)
    v = allows(e, "bob/client", "default/db", 12345, "UDP")
    assert v.status == "allowed"
    assert v.ingress.policies == ("default/default-deny-ingress", "default/allow-all-ingress")
    assert v.ingress.allowed_by == (netpol.RuleRef("default/allow-all-ingress", "ingress", 0),)


def test_default_deny_egress_and_allow_all_egress() -> None:
    e = engine(DEFAULT_DENY_EGRESS)
    v = allows(e, "default/client", "alice/server", 443)
    assert v.status == "denied" and v.egress.status == "denied"
    assert "to alice/server" in v.egress.reason
    assert allows(e, "default/client", "8.8.8.8", 53, "UDP").status == "denied"
    assert allows(e, "alice/client", "default/client", 443).status == "allowed"  # ingress untouched
    e = engine(DEFAULT_DENY_EGRESS, ALLOW_ALL_EGRESS)
    assert allows(e, "default/client", "8.8.8.8", 53, "UDP").status == "allowed"


def test_default_deny_all_both_directions() -> None:
    e = engine(DEFAULT_DENY_ALL)
    v = allows(e, "default/client", "default/db", 6379)
    assert v.egress.status == "denied" and v.ingress.status == "denied"
    assert {f.id for f in v.findings()} == {"netpol.egress_denied", "netpol.ingress_denied"}


def test_policy_types_default_ingress_always_egress_when_egress_rules_exist() -> None:
    only_egress_rules = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: egress-rules, namespace: default}
spec:
  podSelector: {matchLabels: {role: client}}
  egress:
  - to: [{podSelector: {matchLabels: {role: db}}}]
"""
    e = engine(only_egress_rules)
    pol = e.policies[0]
    assert pol.types == frozenset({"ingress", "egress"})
    assert allows(e, "default/client", "default/db", 6379).status == "allowed"
    assert allows(e, "default/client", "default/frontend", 80).status == "denied"  # egress isolated
    assert allows(e, "default/frontend", "default/client", 80).status == "denied"  # ingress: no rules
    no_types = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: ingress-only, namespace: default}
spec:
  podSelector: {matchLabels: {role: client}}
  ingress: [{}]
"""
    assert engine(no_types).policies[0].types == frozenset({"ingress"})


AND_PEER = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: and-peer, namespace: alice}
spec:
  podSelector: {matchLabels: {role: server}}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          user: alice
      podSelector:
        matchLabels:
          role: client
"""

OR_PEERS = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: or-peers, namespace: alice}
spec:
  podSelector: {matchLabels: {role: server}}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          user: alice
    - podSelector:
        matchLabels:
          role: client
"""


def test_and_versus_or_peers() -> None:
    """The docs' warning: one element with both selectors is an AND, two elements an OR."""
    e = engine(AND_PEER)
    assert allows(e, "alice/client", "alice/server", 80).status == "allowed"
    assert allows(e, "bob/client", "alice/server", 80).status == "denied"  # client, wrong namespace
    assert allows(e, "default/client", "alice/server", 80).status == "denied"
    e = engine(OR_PEERS)
    assert allows(e, "alice/client", "alice/server", 80).status == "allowed"
    # podSelector alone means the policy's own namespace: bob/client is still not allowed
    assert allows(e, "bob/client", "alice/server", 80).status == "denied"
    # ... but the namespaceSelector alone admits every pod of alice, client or not
    p = pod("alice", "batch", "10.1.2.12", {"role": "batch"})
    e = engine(OR_PEERS, pods=[*PODS, p])
    assert allows(e, "alice/batch", "alice/server", 80).status == "allowed"
    e = engine(AND_PEER, pods=[*PODS, p])
    assert allows(e, "alice/batch", "alice/server", 80).status == "denied"


def test_namespace_by_name_label_and_match_expressions() -> None:
    policy = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: exprs, namespace: default}
spec:
  podSelector: {matchExpressions: [{key: role, operator: In, values: [db, frontend]}]}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: bob}}
    - podSelector: {matchExpressions: [{key: role, operator: NotIn, values: [client]}]}
    - namespaceSelector: {matchExpressions: [{key: project, operator: Exists}]}
      podSelector: {matchExpressions: [{key: role, operator: DoesNotExist}]}
"""
    e = engine(policy)
    assert allows(e, "bob/client", "default/db", 1).status == "allowed"  # namespace by name
    assert allows(e, "default/frontend", "default/db", 1).status == "allowed"  # role NotIn [client]
    assert allows(e, "default/client", "default/db", 1).status == "denied"
    assert allows(e, "myproject/worker", "default/db", 1).status == "allowed"  # Exists + DoesNotExist
    assert allows(e, "alice/client", "default/db", 1).status == "denied"
    assert not allows(e, "alice/client", "default/client", 1).ingress.isolated  # not selected: In


def test_named_port_resolves_on_the_destination_pod_with_its_protocol() -> None:
    policy = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: named, namespace: default}
spec:
  podSelector: {}
  ingress:
  - ports:
    - port: redis
"""
    udp_redis = pod(
        "default",
        "udp",
        "10.1.0.13",
        {"x": "y"},
        ports=[{"name": "redis", "containerPort": 7000, "protocol": "UDP"}],
    )
    e = engine(policy, pods=[*PODS, udp_redis])
    assert allows(e, "alice/client", "default/db", 6379).status == "allowed"  # db declares redis=6379
    assert allows(e, "alice/client", "default/db", 7000).status == "denied"
    assert allows(e, "alice/client", "default/frontend", 6379).status == "denied"  # no port named redis
    assert (
        allows(e, "alice/client", "default/udp", 7000).status == "denied"
    )  # redis is UDP there, rule is TCP
    assert e.pod("default/db").resolve_port("redis") == 6379
    assert e.pod("default/db").resolve_port("8080") == 8080
    assert e.pod("default/db").resolve_port("nope") is None


def test_end_port_range_docs_example() -> None:
    policy = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: multi-port-egress
  namespace: default
spec:
  podSelector:
    matchLabels:
      role: db
  policyTypes:
    - Egress
  egress:
    - to:
        - ipBlock:
            cidr: 10.0.0.0/24
      ports:
        - protocol: TCP
          port: 32000
          endPort: 32768
"""
    e = engine(policy)
    for port, expected in (
        (31999, "denied"),
        (32000, "allowed"),
        (32500, "allowed"),
        (32768, "allowed"),
        (32769, "denied"),
    ):
        assert allows(e, "default/db", "10.0.0.1", port).status == expected, port
    assert allows(e, "default/db", "10.0.1.1", 32000).status == "denied"


def test_ipblock_on_an_in_cluster_pod_ip_is_cni_dependent_not_guessed() -> None:
    policy = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: by-cidr, namespace: default}
spec:
  podSelector: {matchLabels: {role: db}}
  ingress:
  - from:
    - ipBlock: {cidr: 10.1.2.0/24, except: [10.1.2.11/32]}
"""
    e = engine(policy)
    v = allows(e, "alice/client", "default/db", 6379)  # 10.1.2.10: inside the block
    assert v.allowed and not v.certain
    assert v.ingress.status == "not_evaluated" and v.status == "unknown"
    assert "ipBlock" in v.ingress.notes[0]
    assert [f.id for f in v.findings()] == ["netpol.not_evaluated"]
    v = allows(e, "alice/server", "default/db", 6379)  # excepted: denied whatever the CNI does
    assert v.status == "denied" and v.certain
    # the same IP given as an address string is recognised as that pod
    assert allows(e, "10.1.2.10", "default/db", 6379).ingress.peer == "alice/client"


def test_host_network_pods_are_marked_cni_dependent() -> None:
    node_agent = pod("default", "agent", "192.168.0.5", {"role": "agent"}, hostNetwork=True, nodeName="n1")
    node_agent2 = pod("default", "agent2", "192.168.0.6", {"role": "agent"}, hostNetwork=True, nodeName="n2")
    db = pod("default", "db", "10.1.0.10", {"role": "db"}, nodeName="n1")
    e = engine(DEFAULT_DENY_ALL, pods=[db, node_agent, node_agent2])
    v = allows(e, "default/agent2", "default/db", 6379)  # from another node's host network
    assert v.ingress.status == "not_evaluated" and v.egress.status == "not_evaluated"
    assert v.status == "unknown" and "host network" in " ".join(v.ingress.notes)
    v = allows(e, "default/agent", "default/db", 6379)  # from the db's own node: always allowed
    assert v.ingress.status == "allowed" and "own node" in v.ingress.reason
    ids = [f.id for f in allows(e, "default/db", "default/agent", 1).findings()]
    assert "netpol.egress_denied" in ids and "netpol.not_evaluated" in ids


def test_other_policy_kinds_are_listed_as_not_evaluated() -> None:
    cilium = """
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: l7, namespace: default}
spec: {endpointSelector: {}}
---
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: cluster-guard}
spec: {priority: 10, subject: {namespaces: {}}}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: elsewhere, namespace: bob}
spec: {endpointSelector: {}}
"""
    e = engine(extra=cilium)
    v = allows(e, "default/client", "default/db", 6379)
    assert v.allowed and v.status == "unknown"
    assert v.other_policies == ("CiliumNetworkPolicy default/l7", "AdminNetworkPolicy cluster-guard")
    f = v.findings()[0]
    assert f.id == "netpol.not_evaluated" and "CiliumNetworkPolicy default/l7" in f.detail


def test_traffic_to_a_service_is_judged_on_backends_and_target_port() -> None:
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "redis", "namespace": "default"},
        "spec": {"selector": {"role": "db"}, "ports": [{"name": "tcp", "port": 80, "targetPort": "redis"}]},
    }
    e = engine(
        DEFAULT_DENY_INGRESS,
        ALLOW_ALL_INGRESS.replace("ingress:\n  - {}", "ingress:\n  - ports: [{port: redis}]"),
    )
    backends = e.backends(svc, 80)
    assert [(p.key, port) for p, port in backends] == [("default/db", 6379)]
    assert e.backends(svc, "tcp") == backends
    verdicts = [e.allows(Traffic(e.pod("alice/client"), p, port)) for p, port in backends]
    assert [v.status for v in verdicts] == ["allowed"]  # 6379 on the pod, not 80 on the ClusterIP
    with pytest.raises(NetpolError, match="no TCP port 81"):
        e.backends(svc, 81)


def test_unknown_names_list_the_nearest() -> None:
    e = engine()
    with pytest.raises(NetpolError, match="no namespace 'alic'; nearest: alice"):
        e.pod("alic/client")
    with pytest.raises(NetpolError, match="no pod 'alice/clint'; nearest: alice/client"):
        e.pod("alice/clint")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}},
            "operator 'Equals'",
        ),
        ({"podSelector": {}, "ingress": [{"from": [{}]}]}, "peer has none of"),
        ({"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}]}, "ipBlock"),
        ({"podSelector": {}, "ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "protocol 'ICMP'"),
        ({"podSelector": {}, "policyTypes": ["Inbound"]}, "policyTypes"),
    ],
)
def test_invalid_policies_name_the_policy(spec: dict[str, Any], message: str) -> None:
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "bad", "namespace": "x"},
        "spec": spec,
    }
    with pytest.raises(NetpolError, match=message) as info:
        netpol.Policy.from_object(obj)
    assert str(info.value).startswith("NetworkPolicy x/bad")


# --- connections() and `k8s netpol check` -------------------------------------------------------

FIXTURE_FILES = [
    Path(__file__).resolve().parents[1] / "fixtures" / "k8s" / f
    for f in ("cluster.yaml", "networkpolicies.yaml")
]


def check(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    manifests = [a for f in FIXTURE_FILES for a in ("--manifests", str(f))]
    code = cli.main(["k8s", "netpol", "check", *argv, *manifests], cli.Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_check_a_service_judges_every_backend_on_its_target_port() -> None:
    code, out, err = check("default/debug-shell", "service:payments/api", "--port", "http", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "allowed"
    assert len(doc["connections"]) == 3  # the three api pods
    assert {c["port"] for c in doc["connections"]} == {8080}  # targetPort, not the Service's 80
    assert doc["connections"][0]["ingress"]["allowed_by"] == [
        "payments/api-from-default-and-monitoring ingress[0]"
    ]
    assert doc["findings"] == []


def test_check_denied_text_names_the_policies_and_the_finding() -> None:
    code, out, err = check("default/debug-shell", "payments/db-0", "--port", "5432")
    assert code == 0, err
    assert out.splitlines()[0] == "TCP/5432 from default/debug-shell to payments/db-0: denied"
    assert "no rule of policies payments/default-deny-ingress, payments/db-from-api allows TCP/5432" in out
    code, out, err = check("default/debug-shell", "payments/db-0", "--port", "5432", "--json")
    doc = json.loads(out)
    assert doc["verdict"] == "denied"
    assert [f["id"] for f in doc["findings"]] == ["netpol.ingress_denied"]
    assert doc["findings"][0]["evidence"]["policies"] == [
        "payments/default-deny-ingress",
        "payments/db-from-api",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["default/debug-shell", "payments/db-0", "--port", "http"],
            "pod payments/db-0 declares no TCP port named 'http'",
        ),
        (
            ["default/debug-shell", "service:payments/apii", "--port", "80"],
            "no such Service; nearest: payments/api",
        ),
        (
            ["default/debug-shel", "payments/db-0", "--port", "1"],
            "no pod 'default/debug-shel'; nearest: default/debug-shell",
        ),
        (["kube-sytem/x", "payments/db-0", "--port", "1"], "no namespace 'kube-sytem'; nearest: kube-system"),
        (["not-an-ip", "payments/db-0", "--port", "1"], "not-an-ip: expected ns/pod or an IP address"),
        (["default/debug-shell", "service:payments/api", "--port", "81"], "no TCP port 81"),
    ],
)
def test_check_bad_input_is_one_line(argv: list[str], message: str) -> None:
    code, out, err = check(*argv)
    assert code == 2 and out == ""
    assert message in err and err.startswith("netdebug-nb: error: ") and err.count("\n") == 1


def test_overall_word_for_several_backends() -> None:
    e = engine(DEFAULT_DENY_INGRESS)
    denied = allows(e, "alice/client", "default/db", 1)
    ok = allows(e, "alice/client", "alice/server", 1)
    assert netpol.overall([ok, ok]) == "allowed"
    assert netpol.overall([denied]) == "denied"
    assert netpol.overall([ok, denied]) == "mixed"


def test_check_against_the_live_stand_in(kubeconfig: Path, apiserver: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["k8s", "netpol", "check", "monitoring/prometheus-0", "payments/db-0", "--port", "5432"]
    code = cli.main([*argv, "--kubeconfig", str(kubeconfig), "--json"], cli.Env(stdout=out, stderr=err))
    assert code == 0, err.getvalue()
    doc = json.loads(out.getvalue())
    assert doc["verdict"] == "denied"
    assert doc["connections"][0]["ingress"]["policies"] == [
        "payments/db-from-api",
        "payments/default-deny-ingress",
    ]
    assert [r[1] for r in apiserver.requests if r[0] == "GET"][1:4] == [
        "/api/v1/namespaces",
        "/api/v1/pods",
        "/api/v1/services",
    ]
