"""Target entries: URLs checked one line at a time, Services turned into one target per backend."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netdebug_nb import schema
from netdebug_nb.probe import target

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "probe" / "k8s.yaml"


def test_url_targets_parse() -> None:
    t = target.parse("https://api.example.com:8443/healthz?x=1")
    assert (t.protocol, t.host, t.port, t.url, t.backend) == (
        "https",
        "api.example.com",
        8443,
        "https://api.example.com:8443/healthz?x=1",
        None,
    )
    assert target.parse("http://10.0.0.1/").port == 80
    g = target.parse("grpc://[fd00::1]:50051/shop.Cart")
    assert (g.host, g.port, g.url, g.health_service) == ("fd00::1", 50051, "[fd00::1]:50051", "shop.Cart")
    assert target.parse("grpcs://h.example").port == 443
    assert target.parse("tcp://db:5432").url == "db:5432"


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("ftp://x/", "unknown scheme 'ftp'"),
        ("example.com:80", "no scheme"),
        ("http://", "no host"),
        ("http://a:99999/", "malformed URL: Port out of range"),
        ("http://[::1/", "malformed URL"),
        ("http://bad host/", "whitespace"),
        ("http://exa$mple.com/", "not a host name"),
        ("tcp://db", "tcp:// needs a port"),
    ],
)
def test_bad_entries_are_one_line_naming_the_entry(spec: str, reason: str) -> None:
    with pytest.raises(target.TargetError) as err:
        target.parse(spec)
    assert reason in str(err.value) and repr(spec) in str(err.value) and "\n" not in str(err.value)


def test_expand_keeps_going_past_bad_entries() -> None:
    ex = target.expand(["http://a/", "ftp://b/", "", "tcp://c:1", "service:Bad_NS/x"])
    assert [t.target for t in ex.targets] == ["http://a/", "tcp://c:1"]
    assert len(ex.notes) == 2 and "ftp://b/" in ex.notes[0] and "service:NAMESPACE/NAME" in ex.notes[1]
    schema.check(ex.frame(), target.TARGETS_SCHEMA)


def test_service_without_a_cluster_is_a_note(tmp_path: Path) -> None:
    ex = target.expand(["service:shop/web", "http://a/"], kubeconfig=str(tmp_path / "nope"))
    assert [t.target for t in ex.targets] == ["http://a/"]
    assert ex.notes == [
        f"target 'service:shop/web': not expanded, no Kubernetes API: kubeconfig {tmp_path / 'nope'}: no such file"
    ]


def _objects() -> tuple[dict, list[dict]]:
    docs = list(yaml.safe_load_all(FIXTURE.read_text()))
    svc = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "web")
    slices = [d for d in docs if d["kind"] == "EndpointSlice"]
    return svc, slices


def test_a_service_is_its_cluster_ip_and_every_ready_endpoint_with_its_name_kept() -> None:
    svc, slices = _objects()
    eps = target._slice_endpoints(slices)
    found, notes = target.backends("service:shop/web", svc, eps)
    assert [(t.backend, t.backend_port, t.backend_kind, t.backend_name) for t in found] == [
        ("198.18.3.10", 80, "clusterip", "ClusterIP"),
        ("198.18.2.13", 8080, "endpoint", "web-5d8c7-a1"),
        ("198.18.2.14", 8080, "endpoint", "web-5d8c7-b2"),
        ("198.18.2.15", 8080, "endpoint", "web-5d8c7-c3"),
    ]
    assert {(t.url, t.host, t.protocol) for t in found} == {
        ("http://web.shop.svc.cluster.local/", "web.shop.svc.cluster.local", "http")
    }
    assert notes == ["target 'service:shop/web': 1 endpoint(s) not ready, not probed"]


def test_service_ports_schemes_and_empty_services() -> None:
    svc, _ = _objects()
    svc = {**svc, "spec": {**svc["spec"], "ports": [
        {"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"},
        {"name": "grpc-api", "port": 9090, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"port": 8443, "targetPort": 8443, "protocol": "TCP"},
    ]}}  # fmt: skip
    eps = [
        {"ip": "10.1.0.5", "ready": True, "ports": {"http": 8080, "grpc-api": 9000}, "pod": "p", "node": "n"}
    ]
    g, _ = target.backends("s", svc, eps, "grpc-api")
    assert [(t.protocol, t.url, t.backend_port) for t in g] == [
        ("grpc", "web.shop.svc.cluster.local:9090", 9090),
        ("grpc", "web.shop.svc.cluster.local:9090", 9000),
    ]
    h, _ = target.backends("s", svc, eps, "8443", path="/healthz")
    assert h[0].url == "https://web.shop.svc.cluster.local:8443/healthz"
    assert target.backends("s", svc, eps, "53")[1] == ["target 's': port 53 is UDP, only TCP can be probed"]
    assert (
        "has no port 99 (ports: http 80, grpc-api 9090, dns 53, 8443)"
        in target.backends("s", svc, eps, "99")[1][0]
    )
    empty, notes = target.backends("s", svc, [])
    assert [t.backend_kind for t in empty] == ["clusterip"]
    assert notes == ["target 's': service shop/web has no ready endpoints; probing the ClusterIP only"]
    headless = {**svc, "spec": {**svc["spec"], "clusterIP": "None"}}
    assert target.backends("s", headless, [])[1][0].endswith("nothing to probe (headless, no ClusterIP)")
