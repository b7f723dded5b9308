"""The ladder on crafted cluster dumps: every fault the Service and policy rungs know, each
named by its rung, its finding id and the change that fixes it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pathkit import IPTABLES, WEB, find

from netdebug_nb.path import dataplane, index, ladder
from netdebug_nb.path.subjects import Here


def walk(idx: index.Index, src: str, dst: str, port: int | str = 0, **kw: Any) -> ladder.Ladder:
    return ladder.walk(idx, src, dst, ladder.Options(port=port, **kw))


def row(result: ladder.Ladder, step_id: str) -> Any:
    return next(s for s in result.steps if s.step == step_id)


def ids(result: ladder.Ladder) -> set[str]:
    return {f.id for f in result.findings()}


def test_policy_denies_shop_to_payments_api(idx: index.Index) -> None:
    r = walk(idx, WEB, "api.payments", "http")
    assert (r.verdict, r.blocked_at) == ("blocked", "netpol.ingress")
    ingress = row(r, "netpol.ingress")
    assert (
        "payments/default-deny-ingress" in ingress.detail
        and "from shop/web-6c9f7d8b5-q4z8m" in ingress.detail
    )
    assert "networkpolicy payments/allow-frontend-to-api" in ingress.objects
    # the policy is judged on the backends' targetPort, not the Service port 80
    assert "TCP/8080" in ingress.detail
    assert "kubernetes.io/metadata.name=shop" in r.fix and "payments/allow-frontend-to-api" in r.fix
    assert "netpol.ingress_denied" in ids(r) and "path.ok" not in ids(r)
    assert row(r, "netpol.egress").status == "ok"


def test_allowed_from_the_namespace_the_policy_names(idx: index.Index) -> None:
    r = walk(idx, "frontend/app=gateway", "service:payments/api", 80)
    assert r.verdict == "allowed" and r.blocked_at is None
    assert "payments/allow-frontend-to-api ingress[0]" in row(r, "netpol.ingress").detail
    assert "path.ok" in ids(r)


def test_dns_expansion_and_answer_from_the_source_pod(idx: index.Index) -> None:
    r = walk(idx, WEB, "api.payments", "http")
    q = row(r, "dns.query")
    assert "api.payments.shop.svc.cluster.local., api.payments.svc.cluster.local." in q.detail
    assert "ndots:5" in q.detail and "10.96.0.10" in q.detail
    assert row(r, "dns.answer").detail.startswith("api.payments.svc.cluster.local. → A 10.96.20.10")


def test_headless_answers_pod_ips_and_externalname_a_cname(idx: index.Index) -> None:
    r = walk(idx, WEB, "api-headless.payments.svc.cluster.local", 8080)
    assert "10.244.1.21, 10.244.2.21" in row(r, "dns.answer").detail
    assert row(r, "dataplane").status == "skipped"
    r = walk(idx, WEB, "db.payments", 5432)
    assert "CNAME db.prod.example.com." in row(r, "dns.answer").detail
    assert r.verdict == "unknown"


def test_unknown_name_is_nxdomain_with_the_nearest_service(idx: index.Index) -> None:
    r = walk(idx, WEB, "apii.payments", 80)
    assert r.blocked_at == "dns.answer"
    assert "payments/apii" in r.explanation and "nearest: payments/api" in r.explanation
    assert "dns.wrong_answer" in ids(r)


def test_port_missing_lists_the_service_ports(idx: index.Index) -> None:
    r = walk(idx, WEB, "service:payments/api", 443)
    assert r.blocked_at == "service.port" and "has: http 80/TCP" in r.explanation
    assert "svc.port_missing" in ids(r)
    r = walk(idx, WEB, "service:payments/api", "http", protocol="UDP")
    assert r.blocked_at == "service.port" and "exists only as TCP" in r.explanation


def test_selector_nearest_miss_names_the_differing_label(idx: index.Index) -> None:
    r = walk(idx, WEB, "ledger.payments", 80)
    assert r.blocked_at == "service.selector"
    assert "ledger-5f6d7-abcde" in r.explanation
    assert "pods have app=ledger-v2, the selector wants app=ledger" in r.explanation
    assert "svc.selector_matches_nothing" in ids(r)


def test_pods_not_ready_show_conditions_and_container_state(idx: index.Index) -> None:
    r = walk(idx, WEB, "service:payments/worker", 80)
    assert r.blocked_at == "service.ready"
    assert "CrashLoopBackOff" in r.explanation and "Ready=False" in r.explanation
    assert "svc.no_ready_endpoints" in ids(r)


def test_named_target_port_no_pod_declares_is_critical(idx: index.Index) -> None:
    r = walk(idx, WEB, "service:payments/billing", "http")
    assert r.blocked_at == "service.target_port"
    assert "add port name `http` (TCP) to the container" in r.fix
    f = next(f for f in r.findings() if f.id == "svc.target_port_unresolved")
    assert f.severity == "critical"


def test_numeric_target_port_not_declared_is_a_warning(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        find(objs, "Service", "shop", "cart")["spec"]["ports"][0]["targetPort"] = 9090

    r = walk(crafted(edit), WEB, "cart", 80)
    tp = row(r, "service.target_port")
    assert tp.status == "warning" and "not among the containerPorts of cart-0" in tp.detail
    f = next(f for f in r.findings() if f.id == "svc.target_port_unresolved")
    assert f.severity == "warning"


def test_stale_endpoint_in_the_slice(idx: index.Index) -> None:
    r = walk(idx, "frontend/gateway-7b9c-xx1", "service:payments/search", 80)
    ep = row(r, "service.endpoints")
    assert ep.status == "warning" and "stale endpoint(s) with no matching pod: 10.244.2.81" in ep.detail
    assert "svc.endpoints_stale" in ids(r)


def test_ready_pod_missing_from_slices(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        sl = find(objs, "EndpointSlice", "payments", "api-abc12")
        sl["endpoints"] = sl["endpoints"][:1]

    r = walk(crafted(edit), "frontend/gateway-7b9c-xx1", "service:payments/api", 80)
    assert (
        "Ready pod(s) missing from the slices: payments/api-7d9f8b6c5-k8s2p"
        in row(r, "service.endpoints").detail
    )


def test_internal_traffic_policy_local_without_local_endpoint(idx: index.Index) -> None:
    r = walk(idx, WEB, "service:payments/cache", 6379)
    assert r.blocked_at == "service.traffic_policy" and "node-1" in r.explanation
    assert "svc.local_traffic_no_endpoint" in ids(r)
    # from node-2, where the endpoint is, the same Service is fine at that rung
    r = walk(idx, "frontend/gateway-7b9c-xx1", "service:payments/cache", 6379)
    assert row(r, "service.traffic_policy").status == "ok"


def test_selectorless_service_uses_manual_endpoints(idx: index.Index) -> None:
    r = walk(idx, WEB, "service:payments/legacy", 5432)
    assert (
        "selector-less Service: 1 manual endpoint(s), 1 ready: 192.168.50.5:5432"
        in row(r, "service.endpoints").detail
    )
    assert r.verdict == "allowed"


def test_selectorless_without_endpoints_blocks(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        objs.remove(find(objs, "EndpointSlice", "payments", "legacy-manual"))

    r = walk(crafted(edit), WEB, "service:payments/legacy", 5432)
    assert r.blocked_at == "service.endpoints" and "no selector" in r.explanation


def test_publish_not_ready_addresses(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        find(objs, "Service", "payments", "worker")["spec"]["publishNotReadyAddresses"] = True

    r = walk(crafted(edit), WEB, "service:payments/worker", 80)
    assert row(r, "service.ready").status == "warning"
    assert "publishNotReadyAddresses" in row(r, "service.ready").detail


def test_session_affinity_and_external_traffic_policy(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        svc = find(objs, "Service", "shop", "cart")
        svc["spec"].update(type="LoadBalancer", externalTrafficPolicy="Local")

    r = walk(crafted(edit), WEB, "cart", 80)
    assert "sessionAffinity: ClientIP (10800 s)" in row(r, "service.session_affinity").detail
    assert "only on nodes with a ready endpoint (node-2)" in row(r, "service.external_policy").detail


def test_egress_denied_by_a_policy_on_the_source(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        objs.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": "web-egress-dns-only", "namespace": "shop"},
                "spec": {
                    "podSelector": {"matchLabels": {"app": "web"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"protocol": "UDP", "port": 53}]}],
                },
            }
        )

    r = walk(crafted(edit), WEB, "cart", 80)
    assert r.blocked_at == "netpol.egress" and "shop/web-egress-dns-only" in r.explanation
    assert "netpol.egress_denied" in ids(r)


def test_other_policy_kinds_are_listed_not_evaluated(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        objs.append(
            {
                "apiVersion": "cilium.io/v2",
                "kind": "CiliumNetworkPolicy",
                "metadata": {"name": "l7", "namespace": "shop"},
                "spec": {"endpointSelector": {}},
            }
        )

    r = walk(crafted(edit), WEB, "cart", 80)
    other = row(r, "netpol.other")
    assert other.status == "warning" and "CiliumNetworkPolicy shop/l7" in other.detail
    assert "netpol.not_evaluated" in ids(r)


def test_pod_destination_with_a_port_name_it_does_not_declare(idx: index.Index) -> None:
    r = walk(idx, WEB, "payments/api-7d9f8b6c5-x2x9k", "grpc")
    assert r.blocked_at == "pod.port" and "has: http" in r.explanation


def test_ip_ends_resolve_to_pods_and_services(idx: index.Index) -> None:
    r = walk(idx, "10.244.1.10", "10.96.30.10", 80)
    assert r.source.label == WEB and r.destination.label == "service shop/cart"
    assert r.verdict == "allowed"


def test_source_where_this_runs(idx: index.Index) -> None:
    r = ladder.walk(
        idx, "", "cart", ladder.Options(port=80), where=Here("shop", "web-6c9f7d8b5-q4z8m", "node-1")
    )
    assert r.source.label == WEB and "own pod" in r.steps[0].detail
    r = ladder.walk(idx, "", "10.96.30.10", ladder.Options(port=80), where=Here(node="node-2"))
    assert r.source.kind == "node" and r.source.ip == "192.168.10.12"


def test_dataplane_from_the_node_snapshot(idx: index.Index) -> None:
    programmed = dataplane.read(IPTABLES)
    r = ladder.walk(
        idx, "frontend/app=gateway", "service:payments/api", ladder.Options(port=80), programmed=programmed
    )
    dp = row(r, "dataplane")
    assert dp.status == "warning" and "missing 10.244.2.21:8080; stale 10.244.2.19:8080" in dp.detail
    assert "kubeproxy.endpoints_mismatch" in ids(r)
    r = ladder.walk(idx, WEB, "cart", ladder.Options(port=80), programmed=programmed)
    assert row(r, "dataplane").status == "ok"


def test_dataplane_service_missing(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        svc = find(objs, "Service", "shop", "cart")
        svc["spec"]["clusterIP"] = "10.96.30.99"
        svc["spec"]["clusterIPs"] = ["10.96.30.99"]

    r = ladder.walk(crafted(edit), WEB, "cart", ladder.Options(port=80), programmed=dataplane.read(IPTABLES))
    assert r.blocked_at == "dataplane" and "10.96.30.99:80/TCP is not programmed" in r.explanation
    assert "kubeproxy.service_missing" in ids(r)


def test_json_shape(idx: index.Index) -> None:
    doc = walk(idx, WEB, "api.payments", "http").to_dict()
    assert doc["verdict"] == "blocked" and doc["blocked_at"] == "netpol.ingress"
    for s in doc["steps"]:
        assert {"step", "status", "detail", "objects"} <= set(s)
        assert s["status"] in ("ok", "blocked", "warning", "skipped")
    assert doc["steps"][-1]["step"] == "verdict"


@pytest.mark.parametrize(
    ("src", "dst", "message"),
    [
        ("shop/nope", "cart", "no pod 'shop/nope'; nearest: shop/"),
        ("shopp/web", "cart", "no namespace 'shopp'; nearest: shop"),
        (WEB, "service:payments/apx", "no service 'payments/apx'; nearest: payments/api"),
        ("shop/app=webb", "cart", "no pod matching 'shop/app=webb'; nearest: web-6c9f7d8b5-q4z8m (app=web)"),
        ("shop", "cart", "'shop' is not one of"),
        (WEB, "a..b", "not a valid"),
    ],
)
def test_bad_input_is_one_line_naming_the_nearest(idx: index.Index, src: str, dst: str, message: str) -> None:
    from netdebug_nb.errors import InputError

    with pytest.raises(InputError) as exc:
        walk(idx, src, dst, 80)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_every_pair_of_the_dump_walks_without_error(crafted: Any) -> None:
    """Every pod × every Service (each port by number and name, and none) × TCP/UDP: a ladder
    ending in a verdict, never an exception — including objects with missing fields."""

    def edit(objs: list[dict[str, Any]]) -> None:
        objs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bare", "namespace": "shop"}})
        objs.append(
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "noports", "namespace": "shop"}}
        )

    idx = crafted(edit)
    seen = set()
    for src in ["/".join(k) for k in idx.pods]:
        for ns, name in idx.services:
            svc = idx.services[(ns, name)]
            ports: list[int | str] = [0]
            for p in (svc.get("spec") or {}).get("ports") or []:
                ports += [p["port"]] + ([p["name"]] if p.get("name") else [])
            for port in ports:
                for proto in ("TCP", "UDP"):
                    r = walk(idx, src, f"service:{ns}/{name}", port, protocol=proto)
                    assert r.steps[-1].step == "verdict" and r.verdict in ("allowed", "blocked", "unknown")
                    seen.add(r.verdict)
    assert seen == {"allowed", "blocked", "unknown"}


def test_host_network_source_is_not_evaluated(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        find(objs, "Pod", "shop", "web-6c9f7d8b5-q4z8m")["spec"]["hostNetwork"] = True

    r = walk(crafted(edit), WEB, "service:payments/api", 80)
    assert any(s.finding == "netpol.not_evaluated" or s.finding == "netpol.ingress_denied" for s in r.steps)
    assert r.source.describe().endswith("hostNetwork)")


def test_legacy_endpoints_stand_in_for_missing_slices(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        objs.remove(find(objs, "EndpointSlice", "shop", "cart-abc12"))
        objs.append(
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": {"name": "cart", "namespace": "shop"},
                "subsets": [
                    {
                        "addresses": [{"ip": "10.244.2.90", "nodeName": "node-2",
                                       "targetRef": {"kind": "Pod", "namespace": "shop", "name": "cart-0"}}],
                        "notReadyAddresses": [{"ip": "10.244.2.91"}],
                        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                    }
                ],
            }
        )  # fmt: skip

    r = walk(crafted(edit), WEB, "cart", 80)
    ep = row(r, "service.endpoints")
    assert "endpointslice shop/cart (Endpoints)" in ep.objects
    assert "stale endpoint(s) with no matching pod: 10.244.2.91" in ep.detail


def test_dual_stack_second_family_is_not_stale(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        pod = find(objs, "Pod", "shop", "cart-0")
        pod["status"]["podIPs"].append({"ip": "fd00:10:244:2::90"})
        v6 = copy.deepcopy(find(objs, "EndpointSlice", "shop", "cart-abc12"))
        v6["metadata"]["name"] = "cart-v6"
        v6["addressType"] = "IPv6"
        v6["endpoints"][0]["addresses"] = ["fd00:10:244:2::90"]
        objs.append(v6)

    r = walk(crafted(edit), WEB, "cart", 80)
    assert row(r, "service.endpoints").status == "ok" and r.verdict == "allowed"


def test_no_all_clear_beside_a_critical_finding(crafted: Any) -> None:
    """One of two pods lacks the named port: the path works for the other, but path.ok would hide
    a critical finding, so it is not recorded."""

    def edit(objs: list[dict[str, Any]]) -> None:
        pod = find(objs, "Pod", "payments", "api-7d9f8b6c5-k8s2p")
        pod["spec"]["containers"][0]["ports"][0]["name"] = "web"

    r = walk(crafted(edit), "frontend/app=gateway", "service:payments/api", 80)
    assert r.verdict == "allowed" and row(r, "service.target_port").status == "warning"
    got = {f.id: f.severity for f in r.findings()}
    assert got["svc.target_port_unresolved"] == "critical" and "path.ok" not in got
