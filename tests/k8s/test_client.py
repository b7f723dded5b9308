from __future__ import annotations

import time
from pathlib import Path

import pytest
from apiserver import TEST_TOKEN, FakeApiServer, closed_port, self_signed_cert, silent_port

from netdebug_nb.k8s import client as k8s
from netdebug_nb.k8s.client import (
    ClusterConfigError,
    ClusterForbiddenError,
    ClusterUnauthorizedError,
    ClusterUnreachableError,
)


@pytest.fixture(autouse=True)
def _no_ambient_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The machine running the tests must not leak its own cluster into them."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))


def test_kubeconfig_current_context(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    c = k8s.connect(str(kubeconfig))
    assert (c.context, c.server, c.namespace, c.source) == ("fake", apiserver.url, "default", str(kubeconfig))
    assert ("GET", "/version/", {}) in apiserver.requests
    pods = c.list("pods", namespace="payments")
    assert {p["metadata"]["namespace"] for p in pods} == {"payments"}
    assert c.get("nodes", "node-3")["metadata"]["name"] == "node-3"


def test_kubeconfig_env_var_and_named_context(
    apiserver: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = apiserver.write_kubeconfig(
        tmp_path / "kc",
        context="dead",
        namespace="payments",
        extra_contexts={"live": apiserver.url, "dead": f"http://127.0.0.1:{closed_port()}"},
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(ClusterUnreachableError, match="connection refused"):
        k8s.connect()  # current context "dead"
    c = k8s.connect(context="live")
    assert c.context == "live" and c.server == apiserver.url and c.namespace == "payments"
    with pytest.raises(ClusterConfigError, match=r"no context 'nope' \(has: dead, live\)"):
        k8s.connect(str(path), "nope")


def test_in_cluster_service_account_over_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed_cert(tmp_path)
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(TEST_TOKEN)
    (sa / "ca.crt").write_bytes(cert.read_bytes())
    (sa / "namespace").write_text("netdebug\n")
    with FakeApiServer(token=TEST_TOKEN, tls=(cert, key)) as srv:
        srv.put({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(srv.port))
        c = k8s.connect(serviceaccount_dir=sa)
        assert (c.source, c.context, c.namespace) == ("in-cluster", "", "netdebug")
        assert c.server == f"https://127.0.0.1:{srv.port}"
        assert [n["metadata"]["name"] for n in c.list("nodes")] == ["n1"]
        # a wrong token file is reported as rejected credentials, not as a crash
        (sa / "token").write_text("stale")
        with pytest.raises(ClusterUnauthorizedError, match="in-cluster"):
            k8s.connect(serviceaccount_dir=sa)


def test_in_cluster_rejects_an_untrusted_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed_cert(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other_cert, _ = self_signed_cert(other_dir)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text(TEST_TOKEN)
    (sa / "ca.crt").write_bytes(other_cert.read_bytes())
    with FakeApiServer(token=TEST_TOKEN, tls=(cert, key)) as srv:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(srv.port))
        with pytest.raises(ClusterUnreachableError, match="TLS failed"):
            k8s.connect(serviceaccount_dir=sa)


def test_no_configuration_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ClusterConfigError) as err:
        k8s.connect(serviceaccount_dir=tmp_path / "none")
    msg = str(err.value)
    assert "no Kubernetes configuration" in msg and "KUBECONFIG" in msg and "\n" not in msg
    with pytest.raises(ClusterConfigError, match="no such file"):
        k8s.connect(str(tmp_path / "missing.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("clusters: [\n")
    with pytest.raises(ClusterConfigError, match="bad.yaml"):
        k8s.connect(str(bad))


def test_unreachable_is_fast(tmp_path: Path) -> None:
    srv = FakeApiServer()
    srv.start()
    path = srv.write_kubeconfig(tmp_path / "kc")
    srv.stop()  # the port is now closed
    t0 = time.monotonic()
    with pytest.raises(ClusterUnreachableError, match="unreachable: connection refused"):
        k8s.connect(str(path), timeout_s=5)
    assert time.monotonic() - t0 < 3  # refused once, not retried


def test_hung_server_times_out(tmp_path: Path) -> None:
    with silent_port() as port:
        srv = FakeApiServer()
        srv.start()
        srv.stop()
        path = tmp_path / "kc"
        path.write_text(srv.write_kubeconfig(tmp_path / "tmpl").read_text().replace(str(srv.port), str(port)))
        t0 = time.monotonic()
        with pytest.raises(ClusterUnreachableError, match=r"no answer within 0.5 s"):
            k8s.connect(str(path), timeout_s=0.5)
        assert time.monotonic() - t0 < 4


def test_slow_list_times_out(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    c = k8s.connect(str(kubeconfig), timeout_s=0.5)
    apiserver.delay(r"/api/v1/nodes$", 3)
    with pytest.raises(ClusterUnreachableError, match="no answer within 0.5 s"):
        c.list("nodes")


def test_forbidden_names_verb_resource_and_identity(kubeconfig: Path, apiserver: FakeApiServer) -> None:
    apiserver.forbid("list", "pods", "kube-system")
    c = k8s.connect(str(kubeconfig))
    with pytest.raises(ClusterForbiddenError) as err:
        c.list("pods", namespace="kube-system")
    assert str(err.value).startswith(
        "Kubernetes RBAC forbids list pods in namespace 'kube-system' for system:serviceaccount:netdebug:netdebug"
    )
    assert (err.value.verb, err.value.resource, err.value.status) == ("list", "pods", 403)
    assert c.list("pods", namespace="payments")  # other namespaces still readable


def test_importing_the_package_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, netdebug_nb.k8s.client, netdebug_nb.k8s.inventory, netdebug_nb.k8s.enrich, "
        "netdebug_nb.k8s.discovery, netdebug_nb.k8s.manifests, netdebug_nb.k8s.lab; "
        "print(sorted(m for m in ('kubernetes', 'pandas', 'urllib3', 'yaml') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
