"""The fake API server is itself tested: if its pagination or selectors were wrong, every k8s test
built on it would prove nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from apiserver import TEST_TOKEN, FakeApiServer, Response, label_matcher


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
