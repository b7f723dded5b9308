"""The ladder against a real dataplane: network namespaces as pods, a "node" namespace doing
kube-proxy's DNAT with real iptables (KUBE-SERVICES → KUBE-SVC → KUBE-SEP, ``statistic --mode
random``), one backend that refuses, a NetworkPolicy enforced by an iptables DROP, a ClusterIP
that kube-proxy REJECTs although its endpoint is up, and dnsmasq standing in for CoreDNS.

``netdebug-nb k8s why --probe`` runs inside the client "pod" on a manifests dump that describes
the lab, so its live probes go through the real rules; each case must be seen and named.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from lab import Host, Lab, available
from ndtestkit import netdebug_cmd

pytestmark = pytest.mark.lab

SERVICES = {  # name → (cluster IP, port, targetPort, protocol)
    "api": ("198.19.96.10", 80, 8080, "TCP"),
    "db": ("198.19.96.20", 5432, 5432, "TCP"),
    "web2": ("198.19.96.30", 80, 8080, "TCP"),
    "echo": ("198.19.96.40", 53, 5353, "UDP"),
}
CLUSTER_IP = {name: s[0] for name, s in SERVICES.items()}
BACKENDS = {  # pod → (address, listening?)
    "api-0": ("198.18.2.10", True),
    "api-1": ("198.18.2.11", True),
    "api-2": ("198.18.2.12", False),  # refuses: nothing listens on 8080
    "web2-0": ("198.18.2.13", True),
    "db-0": ("198.18.2.20", True),
    "echo-0": ("198.18.2.14", True),  # UDP: answers
    "echo-1": ("198.18.2.15", False),  # UDP: ICMP port unreachable
}
LISTENER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)\n"
    "while True:\n    c,_=s.accept(); c.close()\n"
)
UDP_ECHO = (
    "import socket,sys\n"
    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], int(sys.argv[2])))\n"
    "while True:\n    d,a=s.recvfrom(2048); s.sendto(d,a)\n"
)


def manifests() -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for ns in ("shop",):
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            }
        )
    items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
                  "status": {"addresses": [{"type": "InternalIP", "address": "198.18.1.1"}]}})  # fmt: skip

    def pod(name: str, ip: str, labels: dict[str, str], port: int, proto: str = "TCP") -> None:
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": name, "namespace": "shop", "labels": labels},
                "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "x",
                         "ports": [{"name": "http", "containerPort": port, "protocol": proto}]}]},
                "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "image": "x", "imageID": "",
                                                  "state": {"running": {}}}]},
            }
        )  # fmt: skip

    pod("web", "198.18.1.2", {"app": "web"}, 8080)
    for name, (ip, _) in BACKENDS.items():
        app = name.rsplit("-", 1)[0]
        pod(name, ip, {"app": app}, SERVICES[app][2], SERVICES[app][3])
    for svc, (ip, port, target, proto) in SERVICES.items():
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": svc, "namespace": "shop"},
                "spec": {"clusterIP": ip, "clusterIPs": [ip], "selector": {"app": svc},
                         "ports": [{"name": "http", "port": port, "protocol": proto, "targetPort": target}]},
            }
        )  # fmt: skip
        eps = [(n, a) for n, (a, _) in BACKENDS.items() if n.rsplit("-", 1)[0] == svc]
        items.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {"name": f"{svc}-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": svc}},
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": target, "protocol": proto}],
                "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": "node-1",
                               "targetRef": {"kind": "Pod", "namespace": "shop", "name": n}} for n, a in eps],
            }
        )  # fmt: skip
    items.append(
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "db-admin-only", "namespace": "shop"},
            "spec": {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "admin"}}}]}]},
        }
    )  # fmt: skip
    return {"apiVersion": "v1", "kind": "List", "items": items}


def kube_proxy(node: Host) -> None:
    """kube-proxy's iptables mode, as it writes it, for api (3 endpoints) and db; web2 REJECTed."""
    ipt = node.iptables
    ipt("-t", "nat", "-N", "KUBE-SERVICES")
    for hook in ("PREROUTING", "OUTPUT"):
        portals = ["-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]
        ipt("-t", "nat", "-A", hook, *portals)
    for svc, eps in (("api", ["api-0", "api-1", "api-2"]), ("db", ["db-0"]), ("echo", ["echo-0", "echo-1"])):
        chain = f"KUBE-SVC-LAB{svc.upper()}"
        _, port, target, proto = SERVICES[svc]
        p = proto.lower()
        ipt("-t", "nat", "-N", chain)
        ipt("-t", "nat", "-A", "KUBE-SERVICES", "-d", f"{CLUSTER_IP[svc]}/32", "-p", p, "-m", "comment",
            "--comment", f"shop/{svc}:http cluster IP", "-m", p, "--dport", str(port), "-j", chain)  # fmt: skip
        for i, name in enumerate(eps):
            sep = f"KUBE-SEP-LAB{svc.upper()}{i}"
            addr = f"{BACKENDS[name][0]}:{target}"
            ipt("-t", "nat", "-N", sep)
            ipt("-t", "nat", "-A", sep, "-p", p, "-m", "comment", "--comment", f"shop/{svc}:http", "-m", p,
                "-j", "DNAT", "--to-destination", addr)  # fmt: skip
            left = len(eps) - i
            prob = (
                ["-m", "statistic", "--mode", "random", "--probability", f"{1 / left:.11f}"]
                if left > 1
                else []
            )
            ipt(
                "-t",
                "nat",
                "-A",
                chain,
                "-m",
                "comment",
                "--comment",
                f"shop/{svc}:http -> {addr}",
                *prob,
                "-j",
                sep,
            )
    ipt("-N", "KUBE-SERVICES")
    ipt("-A", "FORWARD", "-m", "conntrack", "--ctstate", "NEW", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES")  # fmt: skip
    ipt("-A", "KUBE-SERVICES", "-d", f"{CLUSTER_IP['web2']}/32", "-p", "tcp", "-m", "comment", "--comment",
        "shop/web2:http has no endpoints", "-m", "tcp", "--dport", "80", "-j", "REJECT", "--reject-with", "icmp-port-unreachable")  # fmt: skip
    # the NetworkPolicy db-admin-only, as a CNI would enforce it: only app=admin may reach db
    ipt("-A", "FORWARD", "-d", BACKENDS["db-0"][0], "-p", "tcp", "--dport", "5432", "-j", "DROP")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    why = available() or (None if shutil.which("dnsmasq") else "dnsmasq not installed")
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"lab tests must run in CI: {why}")
        pytest.skip(why)
    tmp = tmp_path_factory.mktemp("pathlab")
    lab = Lab("np")
    try:
        client = lab.host("client")
        node = lab.host("node", forward=True)
        lab.link(client, "198.18.1.2/24", node, "198.18.1.1/24")
        br = lab.bridge(node, "br0", "198.18.2.1/24")
        for name, (addr, listening) in BACKENDS.items():
            h = lab.host(name)
            lab.attach(h, f"{addr}/24", node, br)
            lab.route(h, "198.18.1.0/24", "198.18.2.1")
            if listening:
                _, _, target, proto = SERVICES[name.rsplit("-", 1)[0]]
                h.spawn(sys.executable, "-c", UDP_ECHO if proto == "UDP" else LISTENER, addr, str(target))
        lab.route(client, "198.18.2.0/24", "198.18.1.1")
        lab.route(client, "198.19.96.0/24", "198.18.1.1")
        node.run(
            "ip", "route", "add", "198.19.96.0/24", "dev", "br0"
        )  # Service IPs: only DNAT makes them real
        kube_proxy(node)
        node.spawn(
            "dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address=198.18.1.1",
            "--local=/cluster.local/", f"--address=/api.shop.svc.cluster.local/{CLUSTER_IP['api']}",
            "--address=/db.shop.svc.cluster.local/198.19.96.99", "--pid-file=",
        )  # fmt: skip
        dump = tmp / "cluster.yaml"
        dump.write_text(yaml.safe_dump(manifests()))
        snap = tmp / "node-1.iptables-save.txt"
        snap.write_text(node.run("iptables-save", "-c").stdout)
        resolv = tmp / "resolv.conf"
        resolv.write_text(
            "nameserver 198.18.1.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n"
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # listeners and dnsmasq up
            ok = client.run("bash", "-c", "exec 3<>/dev/tcp/198.18.2.10/8080", check=False).returncode == 0
            if ok and "198.18.1.1:53" in node.run("ss", "-uln").stdout:
                break
            time.sleep(0.1)
        yield {"lab": lab, "client": client, "node": node, "dump": dump, "snap": snap, "resolv": resolv}
    finally:
        lab.close()


def why(
    cluster: dict[str, Any],
    *args: str,
    env: dict[str, str] | None = None,
    on: str = "client",
    snapshot: bool = True,
) -> dict[str, Any]:
    client: Host = cluster[on]
    argv = [
        *netdebug_cmd(), "k8s", "why", *args, "--manifests", str(cluster["dump"]),
        *(["--kubeproxy-snapshot", str(cluster["snap"])] if snapshot else []),
        "--probe", "--tries", "3", "--probe-timeout", "1", "--resolv-conf", str(cluster["resolv"]), "--json",
    ]  # fmt: skip
    if env:
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), *argv]
    p = client.run(*argv, check=False, timeout=120)
    assert p.returncode == 0, p.stderr
    doc: dict[str, Any] = json.loads(p.stdout)
    return doc


def rows(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in doc["steps"]}


def test_one_backend_refuses(cluster: dict[str, Any]) -> None:
    doc = why(cluster, "shop/web", "service:shop/api", "--port", "80")
    r = rows(doc)
    assert r["dataplane"]["status"] == "ok"  # the three SEPs equal the API's three ready endpoints
    ep = r["probe.endpoints"]
    assert ep["status"] == "blocked" and ep["finding"] == "path.endpoint_fails"
    assert "shop/api-2 (refused)" in ep["detail"] and ep["objects"] == ["pod shop/api-2"]
    assert doc["verdict"] == "blocked" and doc["blocked_at"] == "probe.endpoints"
    assert "shop/api-2" in doc["explanation"]
    tries = [p for p in doc["probes"] if p["name"] == "shop/api-2"]
    assert [p["outcome"] for p in tries] == ["refused"] * 3 and all(p["time_ms"] >= 0 for p in tries)


def test_policy_drop_seen_statically_and_live(cluster: dict[str, Any]) -> None:
    doc = why(cluster, "shop/web", "service:shop/db", "--port", "5432")
    r = rows(doc)
    assert (
        r["netpol.ingress"]["status"] == "blocked" and "shop/db-admin-only" in r["netpol.ingress"]["detail"]
    )
    ep = r["probe.endpoints"]
    assert ep["finding"] == "path.endpoints_fail" and "timed out" in ep["detail"]
    assert "timed out" in r["probe.clusterip"]["detail"]
    assert doc["blocked_at"] == "netpol.ingress"


def test_clusterip_rejected_while_the_endpoint_answers(cluster: dict[str, Any]) -> None:
    doc = why(cluster, "shop/web", "service:shop/web2", "--port", "80")
    r = rows(doc)
    assert (
        r["dataplane"]["status"] == "blocked" and r["dataplane"]["finding"] == "kubeproxy.endpoints_mismatch"
    )
    assert "missing 198.18.2.13:8080" in r["dataplane"]["detail"]
    assert "refused" in r["probe.clusterip"]["detail"] and r["probe.endpoints"]["status"] == "ok"
    assert r["probe.localise"]["finding"] == "path.clusterip_fails_endpoints_ok"
    assert doc["blocked_at"] == "dataplane"


def test_live_dns_from_here_and_a_healthy_path(cluster: dict[str, Any]) -> None:
    here = {"POD_NAMESPACE": "shop", "POD_NAME": "web"}
    doc = why(cluster, "", "api.shop", "--port", "80", env=here)
    r = rows(doc)
    assert "own pod" in r["resolve.source"]["detail"] and doc["probed_from"].startswith("pod shop/web")
    assert r["dns.answer"]["status"] == "ok" and "live lookup agrees" in r["dns.answer"]["detail"]
    # the DNS rung is fine; the refusing backend is what breaks this path
    assert doc["blocked_at"] == "probe.endpoints"
    doc = why(cluster, "", "db.shop", "--port", "5432", env=here)
    r = rows(doc)
    assert r["dns.answer"]["status"] == "blocked" and "198.19.96.99" in r["dns.answer"]["detail"]
    assert r["dns.answer"]["finding"] == "dns.wrong_answer" and doc["blocked_at"] == "dns.answer"


def test_healthy_backend_direct(cluster: dict[str, Any], tmp_path: Path) -> None:
    doc = why(cluster, "shop/web", "shop/api-0", "--port", "http")
    r = rows(doc)
    assert r["probe.endpoints"]["status"] == "ok" and doc["verdict"] == "allowed"


def test_on_the_node_reads_its_own_rules(cluster: dict[str, Any]) -> None:
    """Run where the source is (the node's host network): kube-proxy's rules are read live."""
    node = {"NODE_NAME": "node-1"}
    doc = why(cluster, "", "service:shop/web2", "--port", "80", env=node, on="node", snapshot=False)
    r = rows(doc)
    assert r["resolve.source"]["detail"].endswith("this host is a node")
    assert "this host (node-1)" in r["dataplane"]["detail"] and r["dataplane"]["status"] == "blocked"
    doc = why(cluster, "", "service:shop/api", "--port", "80", env=node, on="node", snapshot=False)
    assert rows(doc)["dataplane"]["status"] == "ok"


def test_udp_endpoint_that_sends_port_unreachable(cluster: dict[str, Any]) -> None:
    doc = why(cluster, "shop/web", "service:shop/echo", "--port", "53", "--protocol", "udp")
    r = rows(doc)
    assert r["service.port"]["detail"].find("53/UDP") > 0 and r["dataplane"]["status"] == "ok"
    ep = r["probe.endpoints"]
    assert ep["finding"] == "path.endpoint_fails" and "shop/echo-1 (refused)" in ep["detail"]
    assert "shop/echo-0" in ep["detail"] and "3/3 connected" in ep["detail"]
