from __future__ import annotations

import io
import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from apiserver import FakeApiServer
from ndtestkit import netdebug_cmd

from netdebug_nb.cli import Env, main
from netdebug_nb.k8s import manifests


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_inventory_table(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    code, out, err = run("k8s", "inventory", "--kubeconfig", str(kubeconfig))
    assert code == 0, err
    assert out.startswith(f"context 'fake' at {apiserver.url}: 19 pods, 7 services, 18 endpoints, 3 nodes")
    for heading in ("NODES", "PODS", "SERVICES"):
        assert f"\n{heading}\n" in out
    assert "api-7d9f8b6c5-x2x9k" in out and "203.0.113.50" in out and "Ready=Unknown" in out


def test_inventory_json_namespace_and_warnings(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    apiserver.forbid("list", "nodes")
    code, out, err = run("k8s", "inventory", "--kubeconfig", str(kubeconfig), "-n", "payments", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["namespace"] == "payments" and doc["nodes"] == []
    assert {p["namespace"] for p in doc["pods"]} == {"payments"}
    pending = next(p for p in doc["pods"] if p["phase"] == "Pending")
    assert pending["node"] is None and pending["pod_ips"] == []
    assert err.startswith("netdebug-nb: warning: Kubernetes RBAC forbids list nodes cluster-wide")


def test_lab_creates_the_pod_and_prints_how_to_reach_it(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    code, out, err = run("k8s", "lab", "--kubeconfig", str(kubeconfig), "--image", "reg.example/nd:1")
    assert code == 0, err
    assert "Pod/netdebug-lab: created" in out
    assert "kubectl -n netdebug port-forward pod/netdebug-lab 8888:8888" in out
    assert "kubectl -n netdebug get secret netdebug-lab-token -o jsonpath='{.data.token}' | base64 -d" in out
    assert (
        apiserver.get("v1/pods", "netdebug", "netdebug-lab")["spec"]["containers"][0]["image"]
        == "reg.example/nd:1"
    )  # type: ignore[index]
    code, out, _ = run("k8s", "lab", "--kubeconfig", str(kubeconfig))
    assert code == 0 and "Pod/netdebug-lab: exists" in out


def test_lab_dry_run_needs_no_cluster(tmp_path: Path) -> None:
    code, out, _ = run("k8s", "lab", "--dry-run", "-n", "debug", "--kubeconfig", str(tmp_path / "none"))
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Secret",
        "Pod",
    ]
    for d in docs:
        manifests.validate(d)
    assert docs[-1]["metadata"]["namespace"] == "debug"


def test_no_cluster_is_one_line_nonzero_and_fast(tmp_path: Path) -> None:
    """The real installed CLI, in a clean environment: no pod, no kubeconfig."""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    t0 = time.monotonic()
    p = subprocess.run(
        [*netdebug_cmd(), "k8s", "inventory"], capture_output=True, text=True, env=env, timeout=60
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.count("\n") == 1 and p.stderr.startswith(
        "netdebug-nb: error: no Kubernetes configuration"
    )
    assert time.monotonic() - t0 < 30


@pytest.mark.parametrize("argv", [["k8s"], ["k8s", "lab", "--host-network"]])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(*argv)
    assert code == 2 and (err or capsys.readouterr().err)  # argparse writes to sys.stderr


def test_installed_cli_reads_the_fake_cluster(
    kubeconfig: Path, apiserver: FakeApiServer, tmp_path: Path
) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    argv = [
        *netdebug_cmd(),
        "k8s",
        "inventory",
        "--kubeconfig",
        str(kubeconfig),
        "--namespace",
        "kube-system",
    ]
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "coredns-5d78c9869d-8xq2p" in p.stdout and "api-7d9f8b6c5" not in p.stdout
    assert ("GET", "/api/v1/namespaces/kube-system/pods", {"limit": "500"}) in apiserver.requests


def test_targets_and_dns(kubeconfig: Path, apiserver: FakeApiServer, monkeypatch: pytest.MonkeyPatch) -> None:
    kc = ["--kubeconfig", str(kubeconfig)]
    code, out, _ = run(
        "k8s",
        "targets",
        "service:payments/api",
        "nodes:topology.kubernetes.io/zone=zone-b",
        "--family",
        "4",
        *kc,
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["target", "family", "kind"] and len(lines) == 1 + 3 + 1
    assert "10.0.0.13" in out and "api-7d9f8b6c5-x2x9k" in out
    code, out, _ = run("k8s", "targets", "service:payments/api", "--json", *kc)
    assert code == 0 and len(json.loads(out)) == 6
    code, _, err = run("k8s", "targets", "deployment:payments/api", *kc)
    assert code == 2 and "unknown kind 'deployment'" in err

    monkeypatch.setenv("POD_NAME", "debug-shell")
    monkeypatch.setenv("POD_NAMESPACE", "default")
    code, out, err = run("k8s", "dns", *kc)
    assert code == 0 and err == ""
    assert out.startswith("cluster DNS kube-system/kube-dns at 10.96.0.10, fd00:10:96::a; 2 CoreDNS pod(s)")
    assert "this pod default/debug-shell: dnsPolicy ClusterFirst" in out
    code, out, _ = run("k8s", "dns", "--json", *kc)
    doc = json.loads(out)
    assert doc["nodelocal_ip"] == "169.254.20.10" and doc["servers"][0]["role"] == "nodelocal"
