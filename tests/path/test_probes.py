"""Where the probe outcomes put the break (pure: crafted probe tables)."""

from __future__ import annotations

from netdebug_nb import schema
from netdebug_nb.path import connect, probes
from netdebug_nb.path.service import Backend


def table(cip: list[str], eps: dict[str, list[str]]) -> object:
    rows = []
    for i, o in enumerate(cip):
        rows.append(("clusterip", "service ns/api", "10.96.0.5", 80, i, o))
    for n, (name, outs) in enumerate(eps.items()):
        for i, o in enumerate(outs):
            rows.append(("endpoint", name, f"10.244.0.{n + 1}", 8080, i, o))
    return schema.frame(
        [
            {
                "role": r,
                "name": nm,
                "ip": ip,
                "port": p,
                "protocol": "TCP",
                "attempt": a + 1,
                "outcome": o,
                "time_ms": 1.0 if o == "connected" else 2000.0,
                "error": "",
            }
            for r, nm, ip, p, a, o in rows
        ],
        connect.PROBE_SCHEMA,
    )


def steps(t: object) -> dict[str, object]:
    return {s.step: s for s in probes.rung(t, "pod shop/web", "TCP")}  # type: ignore[arg-type]


def test_clusterip_fails_but_endpoints_answer() -> None:
    s = steps(table(["timed out"] * 3, {"ns/a": ["connected"] * 3, "ns/b": ["connected"] * 3}))
    loc = s["probe.localise"]
    assert loc.status == "blocked" and loc.finding == "path.clusterip_fails_endpoints_ok"  # type: ignore[attr-defined]
    assert "Service or the dataplane" in loc.detail  # type: ignore[attr-defined]


def test_every_endpoint_fails_the_same_way() -> None:
    s = steps(table(["timed out"] * 3, {"ns/a": ["timed out"] * 3, "ns/b": ["timed out"] * 3}))
    ep = s["probe.endpoints"]
    assert ep.finding == "path.endpoints_fail" and "NetworkPolicy" in ep.detail  # type: ignore[attr-defined]
    assert "probe.localise" not in s
    s = steps(table(["refused"] * 3, {"ns/a": ["refused"] * 3}))
    assert "nothing listens on the targetPort" in s["probe.endpoints"].detail  # type: ignore[attr-defined]


def test_one_endpoint_fails() -> None:
    s = steps(
        table(["connected", "refused", "connected"], {"ns/a": ["connected"] * 3, "ns/b": ["refused"] * 3})
    )
    ep = s["probe.endpoints"]
    assert ep.status == "blocked" and ep.finding == "path.endpoint_fails"  # type: ignore[attr-defined]
    assert "ns/b (refused)" in ep.detail and ep.objects == ("pod ns/b",)  # type: ignore[attr-defined]


def test_all_good_and_the_origin_is_stated() -> None:
    s = steps(table(["connected"] * 3, {"ns/a": ["connected"] * 3}))
    assert s["probe.endpoints"].status == "ok"  # type: ignore[attr-defined]
    assert s["probe.clusterip"].detail.startswith("from pod shop/web:")  # type: ignore[attr-defined]


def test_targets_skip_unresolved_and_unready() -> None:
    b = [
        Backend("10.244.0.1", 8080, in_slices=True, slice_ready=True, pod_ready=True),
        Backend("10.244.0.2", None, in_slices=True, slice_ready=True, pod_ready=True),
        Backend("10.244.0.3", 8080, in_slices=True, slice_ready=False, pod_ready=False),
    ]
    t = probes.targets("10.96.0.5", 80, "service ns/api", b)
    assert [(x.role, x.ip, x.port) for x in t] == [
        ("clusterip", "10.96.0.5", 80),
        ("endpoint", "10.244.0.1", 8080),
    ]
