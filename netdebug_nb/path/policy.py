"""Rung 4: NetworkPolicy, asked of the shared engine (:mod:`netdebug_nb.k8s.netpol`) for every
backend the Service would send to, on that backend's targetPort — never the ClusterIP, which
policies do not see (kube-proxy has already DNATed the packet when the CNI judges it).

One row per direction: the source's egress, then the backends' ingress. A direction denied for
every backend blocks the path; denied for some is a warning naming them (the ClusterIP then fails
a share of connections); CNI-dependent answers (hostNetwork, ipBlock on pod IPs, Cilium/Calico
policies in the cluster) are a warning with ``netpol.not_evaluated`` instead of a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from netdebug_nb.path import index as ix
from netdebug_nb.path import step
from netdebug_nb.path.service import Backend
from netdebug_nb.path.subjects import Subject

if TYPE_CHECKING:
    from netdebug_nb.k8s import netpol


@dataclass
class Result:
    rows: list[step.Step] = field(default_factory=list)
    verdicts: list[netpol.Verdict] = field(default_factory=list)
    denied: set[str] = field(default_factory=set)  # backend IPs a certain denial cuts off


def _end(engine: netpol.Engine, subject: Subject) -> netpol.Pod | str | None:
    if subject.pod is not None:
        return engine.pod("/".join(ix.key(subject.pod)))
    return subject.ip or None


def _fix(d: netpol.DirectionVerdict, engine: netpol.Engine, traffic: netpol.Traffic) -> str:
    """The rule to add, written as YAML would say it, in the most specific selecting policy."""
    direction = d.direction
    best = d.policies[-1] if d.policies else "a policy"
    for key in d.policies:  # prefer a policy that already has rules for this pod (not a default deny)
        pol = next((p for p in engine.policies if p.key == key), None)
        if pol is not None and pol.rules(direction) and pol.pod_selector.requirements:
            best = key
    peer = next((p for p in engine.pods if p.key == d.peer), None)
    if peer is not None:
        who = f"namespaceSelector kubernetes.io/metadata.name={peer.namespace}"
        app = next(
            (f"{k}={v}" for k, v in peer.labels.items() if k in ("app", "app.kubernetes.io/name", "k8s-app")),
            "",
        )
        if app:
            who += f" + podSelector {app}"
    else:
        who = f"ipBlock {d.peer}/32"
    word = "from" if direction == "ingress" else "to"
    return f"add to {best} an {direction} rule {word} {who} on {traffic.protocol}/{traffic.port}"


def _direction_row(
    direction: str,
    verdicts: Sequence[tuple[str, netpol.Verdict]],
    res: Result,
    engine: netpol.Engine,
) -> step.Step:
    name = f"netpol.{direction}"
    pick = [(who, getattr(v, direction)) for who, v in verdicts]
    denied = [(who, d) for who, d in pick if not d.allowed and d.certain]
    unsure = [(who, d) for who, d in pick if not d.certain]
    policies = sorted({p for _, d in pick for p in d.policies})
    objs = [f"networkpolicy {p}" for p in policies]
    fid = f"netpol.{direction}_denied"
    if denied:
        for who, _ in denied:
            res.denied.add(who)
        first = denied[0][1]
        all_denied = len(denied) == len(pick)
        where = (
            ""
            if len(pick) == 1
            else (
                " for every backend"
                if all_denied
                else f" for {len(denied)} of {len(pick)} backends ({', '.join(w for w, _ in denied[:5])})"
            )
        )
        fix = _fix(first, engine, next(v for w, v in verdicts if w == denied[0][0]).traffic)
        status: step.Status = "blocked" if all_denied else "warning"
        return step.make(
            status,
            4,
            name,
            first.reason + where,
            objs,
            finding=fid,
            fix=fix,
            severity="critical",
            evidence={"policies": policies, "denied": [w for w, _ in denied]},
        )
    if unsure:
        notes = sorted({n for _, d in unsure for n in d.notes})
        return step.warning(
            4,
            name,
            f"{direction}: CNI-dependent — " + "; ".join(notes),
            objs,
            finding="netpol.not_evaluated",
            severity="warning",
        )
    first = pick[0][1]
    if first.allowed_by:
        rules = sorted({str(r) for _, d in pick for r in d.allowed_by})
        text = f"{direction} allowed by {', '.join(rules[:4])}"
    else:
        text = first.reason
    return step.ok(4, name, text, objs)


def rung(
    engine: netpol.Engine | None,
    src: Subject,
    dst: Subject,
    backends: Sequence[Backend],
    port: int | None,
    protocol: str,
    *,
    why_not: str = "",
) -> Result:
    from netdebug_nb.errors import InputError
    from netdebug_nb.k8s import netpol

    res = Result()
    if engine is None:
        res.rows.append(step.skipped(4, "netpol", why_not or "no NetworkPolicy engine for this run"))
        return res
    try:
        source = _end(engine, src)
    except InputError as exc:
        res.rows.append(step.skipped(4, "netpol", f"policies not evaluated: {exc}"))
        return res
    if source is None:
        res.rows.append(
            step.skipped(
                4,
                "netpol",
                "the source is not identified (no pod, no IP): policies cannot be judged",
            )
        )
        return res
    targets: list[tuple[str, netpol.Pod | str, int]] = []
    engine_keys = {p.key for p in engine.pods}
    if dst.service is not None:
        selector = bool((dst.service.get("spec") or {}).get("selector"))
        for b in backends:
            if b.port is None or (selector and b.pod is None):
                continue  # stale addresses are the Service rung's business, not policy's
            end: netpol.Pod | str = b.ip
            if b.pod is not None and "/".join(ix.key(b.pod)) in engine_keys:
                end = _end(engine, Subject(dst.spec, "pod", pod=b.pod)) or b.ip
            targets.append((b.ip, end, b.port))
        if not targets:
            res.rows.append(step.skipped(4, "netpol", "no backend with a resolved port to judge"))
            return res
    elif port is not None:
        dst_end = _end(engine, dst) if dst.pod is None or "/".join(ix.key(dst.pod)) in engine_keys else dst.ip
        if dst_end is None:
            res.rows.append(step.skipped(4, "netpol", "destination address unknown (an external name)"))
            return res
        targets.append((dst.ip, dst_end, port))
    else:
        res.rows.append(step.skipped(4, "netpol", "no destination port: policies cannot be judged"))
        return res
    verdicts = []
    try:
        for who, end, p in targets:
            v = engine.allows(netpol.Traffic(source, end, p, protocol))
            verdicts.append((who, v))
            res.verdicts.append(v)
    except InputError as exc:
        res.rows.append(step.skipped(4, "netpol", f"policies not evaluated: {exc}"))
        return res
    res.rows.append(_direction_row("egress", verdicts, res, engine))
    res.rows.append(_direction_row("ingress", verdicts, res, engine))
    others = sorted({o for _, v in verdicts for o in v.other_policies})
    if others:
        res.rows.append(
            step.warning(
                4,
                "netpol.other",
                f"{len(others)} policy object(s) of other kinds may also apply and were not evaluated: "
                + ", ".join(others[:5]),
                [o.lower() for o in others[:5]],
                finding="netpol.not_evaluated",
                severity="warning",
            )
        )
    return res
