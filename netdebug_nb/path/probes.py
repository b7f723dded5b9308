"""Rung 6's reasoning: which addresses to connect to, and where the outcomes put the break.

Connecting to the ClusterIP and then to every endpoint directly splits the path in two: the
Service machinery (kube-proxy's DNAT) and the pods behind it. ClusterIP fails but every endpoint
answers → the Service or the dataplane; every endpoint fails the same way → NetworkPolicy, the
pods or the app (``refused``: nothing listens on the targetPort; ``timed out``: dropped on the
way); one endpoint fails → that pod. The I/O is :mod:`netdebug_nb.path.connect`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from netdebug_nb.path import connect, step
from netdebug_nb.path.service import Backend

if TYPE_CHECKING:
    import pandas as pd

FAILED = ("refused", "timed out", "no route", "error")


def targets(
    cluster_ip: str, service_port: int | None, service_name: str, backends: Sequence[Backend]
) -> list[connect.Target]:
    out = []
    if cluster_ip and service_port:
        out.append(connect.Target("clusterip", service_name, cluster_ip, service_port))
    seen = set()
    for b in backends:
        if b.port is None or (not b.serves and not b.pod_ready) or (b.ip, b.port) in seen:
            continue
        seen.add((b.ip, b.port))
        out.append(connect.Target("endpoint", b.name, b.ip, b.port))
    return out


def _outcomes(rows: pd.DataFrame) -> str:
    counts = rows["outcome"].value_counts()
    return ", ".join(f"{n}/{len(rows)} {o}" for o, n in counts.items())


def _ms(rows: pd.DataFrame) -> str:
    ok = rows[rows["outcome"] == "connected"]["time_ms"]
    return f", median {ok.median():.1f} ms" if len(ok) else ""


def rung(results: pd.DataFrame, where: str, protocol: str) -> list[step.Step]:
    """Rows for rung 6 from the probe table (:data:`connect.PROBE_SCHEMA`)."""
    if results.empty:
        return [step.skipped(6, "probe", "nothing to connect to (no address with a resolved port)")]
    rows: list[step.Step] = []
    cip = results[results["role"] == "clusterip"]
    eps = results[results["role"] != "clusterip"]
    per_ep: dict[str, pd.DataFrame] = {str(k): g for k, g in eps.groupby("name", sort=False)}
    failing = {n: g for n, g in per_ep.items() if g["outcome"].isin(FAILED).any()}
    silent = {n: g for n, g in per_ep.items() if (g["outcome"] == "no answer").all()}
    answered = {n: g for n, g in per_ep.items() if (g["outcome"] == "connected").all()}
    cip_fail = bool(len(cip)) and bool(cip["outcome"].isin(FAILED).any())
    evidence = {"from": where}
    if len(cip):
        c = cip.iloc[0]
        text = f"from {where}: {protocol} {c['ip']}:{c['port']} → {_outcomes(cip)}{_ms(cip)}"
        rows.append((step.warning if cip_fail else step.ok)(6, "probe.clusterip", text, [str(c["name"])]))
    ep_text = "; ".join(
        f"{n} {g['ip'].iloc[0]}:{g['port'].iloc[0]} {_outcomes(g)}{_ms(g)}"
        for n, g in list(per_ep.items())[:12]
    )
    names = [f"pod {n}" if "/" in n else n for n in per_ep]
    if per_ep and len(failing) == len(per_ep):
        kinds = sorted({o for g in failing.values() for o in g["outcome"] if o in FAILED})
        why = {
            "refused": "nothing listens on the targetPort (or a REJECT rule): the app or its port",
            "timed out": "packets dropped on the way: a NetworkPolicy, a firewall or a dead node",
            "no route": "no route to the pods: CNI routing or the node is down",
        }
        explain = "; ".join(why.get(k, k) for k in kinds)
        fid = "path.endpoints_fail"
        rows.append(
            step.blocked(
                6,
                "probe.endpoints",
                f"from {where}: every endpoint fails ({', '.join(kinds)}) — {explain}. {ep_text}",
                names,
                finding=fid,
                fix="look at the policy and pod rungs above; check the app listens on the targetPort",
                evidence={**evidence, "outcomes": kinds},
            )
        )
    elif failing:
        bad = ", ".join(f"{n} ({'/'.join(sorted(set(g['outcome'])))})" for n, g in failing.items())
        rows.append(
            step.blocked(
                6,
                "probe.endpoints",
                f"from {where}: {len(failing)} of {len(per_ep)} endpoint(s) fail: {bad}; the others answer — "
                f"connections through the Service fail for the share that lands there. {ep_text}",
                [f"pod {n}" if "/" in n else n for n in failing],
                finding="path.endpoint_fails",
                fix=f"fix or delete {next(iter(failing))} (its app, readiness probe or node)",
                evidence={**evidence, "failing": list(failing)},
            )
        )
    elif silent and not answered:
        rows.append(
            step.warning(
                6,
                "probe.endpoints",
                f"from {where}: {protocol} endpoints give no answer (open and silent, or filtered): {ep_text}",
                names,
            )
        )
    elif per_ep:
        rows.append(step.ok(6, "probe.endpoints", f"from {where}: every endpoint answers: {ep_text}", names))
    if cip_fail and per_ep and not failing:
        c = cip.iloc[0]
        rows.append(
            step.blocked(
                6,
                "probe.localise",
                f"the ClusterIP {c['ip']}:{c['port']} fails ({_outcomes(cip)}) but the endpoints answer directly: "
                "the break is in the Service or the dataplane (kube-proxy rules, ports, traffic policy)",
                [str(c["name"])],
                finding="path.clusterip_fails_endpoints_ok",
                fix="compare the dataplane rung: kube-proxy's rules for the ClusterIP on the source's node",
                evidence=evidence,
            )
        )
    elif cip_fail and not per_ep:
        c = cip.iloc[0]
        rows.append(
            step.blocked(
                6,
                "probe.localise",
                f"the ClusterIP {c['ip']}:{c['port']} fails ({_outcomes(cip)}) and there is no endpoint to try",
                [str(c["name"])],
                finding="path.endpoints_fail",
                fix="give the Service ready endpoints",
                evidence=evidence,
            )
        )
    return rows
