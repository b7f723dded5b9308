"""The source pod's resolver as the kubelet writes it, and cluster DNS answers predicted from objects."""

from __future__ import annotations

from typing import Any

from pathkit import WEB

from netdebug_nb.path import index, lookup


def pod(ns: str = "shop", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": ns, "name": "p"}, "spec": spec}


def test_cluster_first_search_list_and_ndots(idx: index.Index) -> None:
    conf, how = lookup.pod_resolv_conf(idx.pods[tuple(WEB.split("/"))], idx)  # type: ignore[arg-type]
    assert conf is not None and how == "dnsPolicy ClusterFirst"
    assert conf.search == ("shop.svc.cluster.local", "svc.cluster.local", "cluster.local")
    assert conf.ndots == 5 and conf.used_nameservers == ("10.96.0.10",)


def test_dns_policies(idx: index.Index) -> None:
    assert lookup.pod_resolv_conf(pod(hostNetwork=True), idx)[0] is None
    assert lookup.pod_resolv_conf(pod(dnsPolicy="Default"), idx)[0] is None
    conf, _ = lookup.pod_resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), idx)
    assert conf is not None and conf.ndots == 5
    conf, how = lookup.pod_resolv_conf(
        pod(
            dnsPolicy="None",
            dnsConfig={
                "nameservers": ["1.1.1.1"],
                "searches": ["corp.example"],
                "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
            },
        ),
        idx,
    )
    assert conf is not None and "dnsConfig" in how
    assert conf.used_nameservers == ("1.1.1.1",) and conf.search == ("corp.example",) and conf.ndots == 2
    conf, _ = lookup.pod_resolv_conf(pod(dnsConfig={"options": [{"name": "ndots", "value": "1"}]}), idx)
    assert conf is not None and conf.ndots == 1 and conf.search[0] == "shop.svc.cluster.local"


def test_answers(idx: index.Index) -> None:
    assert lookup.answer("api.payments.svc.cluster.local.", idx).records == ["A 10.96.20.10"]
    assert lookup.answer("nope.payments.svc.cluster.local.", idx).rcode == "NXDOMAIN"
    assert lookup.answer("10-244-1-21.payments.pod.cluster.local.", idx).records == ["A 10.244.1.21"]
    assert lookup.answer("example.com.", idx).rcode == "upstream"
    assert lookup.answer("db.payments.svc.cluster.local.", idx).records == ["CNAME db.prod.example.com."]


def test_host_network_source_warns_about_its_resolver(crafted: Any) -> None:
    def edit(objs: list[dict[str, Any]]) -> None:
        for o in objs:
            if o["kind"] == "Pod" and o["metadata"]["name"].startswith("web-"):
                o["spec"]["hostNetwork"] = True

    idx = crafted(edit)
    rows = lookup.rung("api.payments", idx.pods[tuple(WEB.split("/"))], idx)
    first = rows[0]
    assert first.step == "dns.resolver" and first.status == "warning"
    assert "ClusterFirstWithHostNet" in first.fix


def test_live_answer_compared(idx: index.Index) -> None:
    src = idx.pods[tuple(WEB.split("/"))]  # type: ignore[index]
    ok = lookup.rung("api.payments", src, idx, live=("answer", ["10.96.20.10"]))
    assert ok[-1].status == "ok" and "live lookup agrees" in ok[-1].detail
    bad = lookup.rung("api.payments", src, idx, live=("answer", ["10.96.99.99"]))
    assert bad[-1].status == "blocked" and bad[-1].finding == "dns.wrong_answer"
    assert "got answer: 10.96.99.99" in bad[-1].detail
    nx = lookup.rung("api.payments", src, idx, live=("NXDOMAIN", []))
    assert nx[-1].status == "blocked"


def test_a_node_as_source_uses_its_own_resolver(idx: index.Index) -> None:
    from netdebug_nb.path import ladder
    from netdebug_nb.path.subjects import Here

    r = ladder.walk(idx, "", "api.payments", ladder.Options(port=80), where=Here(node="node-1"))
    first = next(s for s in r.steps if s.stage == 2)
    assert first.step == "dns.resolver" and "node node-1 uses its own resolv.conf" in first.detail
    assert "forward the cluster zone" in first.fix
