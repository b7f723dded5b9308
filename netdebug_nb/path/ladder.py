""" "Pod A cannot reach service B: where does it break?" — the ladder, rung by rung.

:func:`walk` is the recipe: resolve both ends → DNS → Service → NetworkPolicy → dataplane →
live probes → verdict. Each rung is a pure function of the indexed objects (and of what was
read from the node or the network, passed in), so the same ladder is built from a live cluster,
from someone else's ``kubectl get -o yaml`` dump, or in a test from crafted objects. The verdict
is the first blocked rung with its one-line explanation and the change that fixes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netdebug_nb.errors import NetdebugError, UsageError
from netdebug_nb.findings import Finding
from netdebug_nb.path import dataplane, lookup, policy, probes, service, step, subjects
from netdebug_nb.path import index as ix
from netdebug_nb.path.index import Index
from netdebug_nb.path.subjects import Here, Subject

if TYPE_CHECKING:
    import pandas as pd

Verdict = Literal["allowed", "blocked", "unknown"]


@dataclass(frozen=True)
class Options:
    port: int | str = 0
    protocol: str = "TCP"
    probe: bool = False
    tries: int = 3
    timeout_s: float = 2.0
    cluster_domain: str = "cluster.local"
    resolv_conf: str = ""  # resolver of a live DNS check (source = where this runs); "" = /etc/resolv.conf


@dataclass
class Ladder:
    source: Subject
    destination: Subject
    protocol: str
    port: int | str
    steps: list[step.Step]
    verdict: Verdict
    blocked_at: str | None
    explanation: str
    fix: str
    where: str  # where this ran (and probed from)
    notes: list[str] = field(default_factory=list)
    probes: pd.DataFrame | None = None

    def to_dict(self) -> dict[str, Any]:
        """``k8s why --json``: the issue's keys first."""
        return {
            "verdict": self.verdict,
            "blocked_at": self.blocked_at,
            "steps": [s.to_dict() for s in self.steps],
            "explanation": self.explanation,
            "fix": self.fix or None,
            "source": self.source.describe(),
            "destination": self.destination.describe(),
            "protocol": self.protocol,
            "port": self.port,
            "probed_from": self.where,
            "notes": self.notes,
            "probes": None if self.probes is None else json.loads(self.probes.to_json(orient="records")),
        }

    def table(self) -> pd.DataFrame:
        return step.frame(self.steps)

    def view(self) -> pd.DataFrame:
        """:meth:`table` for a report (see :func:`step.view`)."""
        return step.view(self.steps)

    def markdown(self) -> str:
        """The ladder for a report, nothing clipped (see :func:`step.markdown`)."""
        return step.markdown(self.steps)

    def findings(self) -> list[Finding]:
        out: list[Finding] = []
        for s in self.steps:
            if not s.finding or s.status not in ("blocked", "warning"):
                continue
            severity = s.severity or ("critical" if s.status == "blocked" else "warning")
            out.append(
                Finding(
                    s.finding,
                    severity,  # type: ignore[arg-type]
                    _title(s),
                    s.detail + (f" Fix: {s.fix}" if s.fix else ""),
                    {
                        "step": s.step,
                        "status": s.status,
                        "objects": list(s.objects),
                        "fix": s.fix,
                        **s.evidence,
                    },
                )
            )
        if self.verdict == "unknown":
            out.append(
                Finding(
                    "path.unknown",
                    "info",
                    "the path could not be settled either way",
                    self.explanation,
                    {"probed_from": self.where, "verdict": self.verdict},
                    inconclusive=True,
                )
            )
        if self.verdict == "allowed" and not any(f.severity == "critical" for f in out):
            out.append(
                Finding(
                    "path.ok",
                    "info",
                    f"{self.source.describe()} → {self.destination.describe()} {self.protocol}/{self.port}: allowed",
                    self.explanation,
                    {"probed_from": self.where, "verdict": self.verdict},
                )
            )
        return out

    def text(self, width: int = 110) -> str:
        """The ladder for a terminal: one line per rung row, the verdict last."""
        import textwrap

        lines = [
            f"{self.source.describe()} → {self.destination.describe()} {self.protocol}/{self.port or '?'}",
            f"(reasoned from {self.notes[0] if self.notes else 'the objects'}; running on {self.where})",
            "",
        ]
        mark = {"ok": "ok", "blocked": "BLOCKED", "warning": "warn", "skipped": "skip"}
        for s in self.steps:
            head = f"{s.stage} {mark[s.status]:<7} {s.step:<24} "
            body = textwrap.wrap(s.detail, max(40, width - len(head))) or [""]
            lines.append(head + body[0])
            lines += [" " * len(head) + b for b in body[1:]]
            if s.fix and s.status in ("blocked", "warning"):
                lines.append(" " * len(head) + f"fix: {s.fix}")
        return "\n".join(lines) + "\n"


def _title(s: step.Step) -> str:
    """A finding's title: the rung and the first clause of what was seen (the detail has the rest)."""
    first = s.detail.split("; ")[0].split(" — ")[0]
    if len(first) > 100:
        first = first[:99].rsplit(" ", 1)[0] + "…"
    return f"{step.STAGES[s.stage]} ({s.step}): {first}"


def _source_node(src: Subject) -> str:
    return src.node


def _live_dns(name: str, opts: Options) -> tuple[str, list[str]] | None:
    from netdebug_nb.dns import resolvconf, tracer

    try:
        conf = resolvconf.read(opts.resolv_conf or "/etc/resolv.conf")
    except (NetdebugError, OSError):  # an unreadable resolv.conf: no live lookup, the prediction stands
        return None
    trace = tracer.trace([name], conf, tracer.Options(qtypes=("A",)))
    if trace.lookups.empty:
        return None
    row = trace.lookups.iloc[0]
    data = str(row["answer_data"] or "") if row["answer_data"] is not None else ""
    ips = [d.split(" ", 1)[1] for d in data.split(" | ") if d.startswith("A ")]
    return str(row["outcome"]), ips


def is_here(src: Subject) -> bool:
    return src.spec.kind == "here" or "this notebook's own pod" in src.notes


def walk(
    idx: Index,
    source: str,
    destination: str,
    opts: Options = Options(),
    *,
    where: Here | None = None,
    programmed: dataplane.Programmed | None = None,
    dataplane_note: str = "",
) -> Ladder:
    """Every rung for one (source, destination, port, protocol). Bad specs raise InputError."""
    where = where or Here()
    protocol = subjects.parse_protocol(opts.protocol)
    port = subjects.parse_port(opts.port) if opts.port not in (0, "", None) else 0
    src_spec = subjects.parse_source(source)
    dst_spec = subjects.parse_destination(destination)
    src = subjects.resolve_source(src_spec, idx, where)
    dst = subjects.resolve_destination(dst_spec, idx, src, opts.cluster_domain)
    rows = subjects.rung(src, dst, port, protocol, where)
    if dst.kind == "unknown":
        rows[-1] = step.warning(1, "resolve.destination", rows[-1].detail, rows[-1].objects)

    # 2: DNS
    live = None
    if dst.dns_name and opts.probe and is_here(src):
        live = _live_dns(dst.dns_name, opts)
    rows += lookup.rung(
        dst.dns_name,
        src.pod,
        idx,
        domain=opts.cluster_domain,
        live=live,
        source_node=src.node if src.kind == "node" else "",
    )

    # 3: Service (or the pod itself)
    svc_res = service.Result()
    target_port: int | None = None
    if dst.service is not None:
        svc_res = service.check(dst.service, port, protocol, idx, source_node=_source_node(src))
        rows += svc_res.rows
    elif dst.pod is not None:
        target_port, pod_rows = service.pod_target(dst.pod, port, protocol)
        rows += pod_rows
    else:
        target_port = port if isinstance(port, int) and port else None
        what = {
            "external": "outside the cluster",
            "node": f"node {dst.node}",
            "unknown": "not in the cluster",
        }.get(dst.kind, dst.kind)
        rows.append(step.skipped(3, "service", f"destination is {what}: no Service on the path"))

    # 4: NetworkPolicy
    engine = None
    why_not = ""
    try:
        engine = idx.engine()
    except NetdebugError as exc:  # a policy the engine refuses must not hide the other rungs
        why_not = f"policies not evaluated: {exc}"
    if svc_res.external_name:
        pol = policy.Result(
            rows=[
                step.skipped(
                    4,
                    "netpol",
                    "ExternalName: the destination is outside the cluster; egress ipBlock rules need its address",
                )
            ]
        )
    elif not svc_res.blocked or svc_res.backends:
        pol = policy.rung(engine, src, dst, svc_res.backends, target_port, protocol, why_not=why_not)
    else:
        pol = policy.Result(
            rows=[step.skipped(4, "netpol", "no backends to judge (the Service rung is blocked)")]
        )
    rows += pol.rows

    # 5: dataplane
    rows += dataplane.rung(
        dst.service,
        svc_res.port,
        protocol,
        svc_res.backends,
        programmed,
        why_not=dataplane_note,
        source_node=_source_node(src),
    )

    # 6: live probes
    results = None
    where_text = where.describe()
    if opts.probe and not is_here(src):
        where_text += f", not the source {src.label}: policies judged for the source may differ from what these probes meet"
    if opts.probe:
        from netdebug_nb.path import connect

        if dst.service is not None and not svc_res.external_name:
            spec = dst.service.get("spec") or {}
            cip = str(spec.get("clusterIP") or "")
            tgts = probes.targets(
                "" if cip == "None" else cip, svc_res.port, ix.ref("service", dst.service), svc_res.backends
            )
        elif dst.ip and (target_port or port):
            role = "pod" if dst.pod is not None else "address"
            p = target_port or (port if isinstance(port, int) else 0)
            tgts = [connect.Target(role, dst.label, dst.ip, int(p))]
        else:
            tgts = []
        results = connect.probe(tgts, protocol, tries=opts.tries, timeout_s=opts.timeout_s)
        rows += probes.rung(results, where_text, protocol)
    else:
        rows.append(step.skipped(6, "probe", "live probes off (probe=true / --probe connects from here)"))

    verdict, blocked_at, explanation, fix = judge(rows, probed=results is not None)
    final = {
        "allowed": step.ok(7, "verdict", explanation),
        "blocked": step.blocked(7, "verdict", explanation, finding="", fix=fix),
        "unknown": step.warning(7, "verdict", explanation),
    }[verdict]
    rows.append(final)
    notes = [idx.summary()] + list(idx.notes) + (programmed.notes if programmed else [])
    return Ladder(
        src, dst, protocol, port, rows, verdict, blocked_at, explanation, fix, where_text, notes, results
    )


def judge(rows: list[step.Step], *, probed: bool) -> tuple[Verdict, str | None, str, str]:
    """The first blocked row decides; without one, 'allowed' needs the policy rung evaluated
    (or probes that connected), else 'unknown'."""
    first = next((r for r in rows if r.status == "blocked"), None)
    if first is not None:
        return (
            "blocked",
            first.step,
            f"blocked at {first.step} ({step.STAGES[first.stage]}): {first.detail}",
            first.fix,
        )
    probe_ok = probed and any(r.step == "probe.endpoints" and r.status == "ok" for r in rows)
    netpol_rows = [r for r in rows if r.stage == 4]
    netpol_ok = bool(netpol_rows) and all(r.status == "ok" for r in netpol_rows)
    warnings = [r.step for r in rows if r.status == "warning"]
    tail = f" (warnings: {', '.join(warnings)})" if warnings else ""
    if probe_ok:
        return "allowed", None, "the probes connected and no rung blocks" + tail, ""
    unsure = [r.step for r in rows if r.status == "warning" and r.finding in ("dns.wrong_answer",)]
    if netpol_ok and not unsure:
        return "allowed", None, "no rung blocks" + ("" if probed else " (not probed live)") + tail, ""
    open_ = [
        r.step
        for r in rows
        if r.stage in (3, 4) and r.status in ("skipped", "warning") and r.step not in unsure
    ]
    why = ", ".join(dict.fromkeys(unsure + open_)) or "the policy rung"
    return "unknown", None, f"nothing blocks, but {why} leave(s) the answer open", ""


class NoObjectsError(UsageError):
    """Neither manifests nor a cluster to read: bad input, whatever the run (exit 2)."""


def load(manifests: str = "", *, kubeconfig: str = "", context: str = "", timeout_s: float = 5.0) -> Index:
    """The objects to reason on: the dump when given, else the live cluster; neither is one line."""
    from netdebug_nb.k8s import objects
    from netdebug_nb.k8s.client import ClusterConfigError

    try:
        objs = objects.load(manifests, kubeconfig=kubeconfig, context=context, timeout_s=timeout_s)
    except ClusterConfigError as exc:
        raise NoObjectsError(exc.message, hint=exc.hint) from exc
    return ix.from_objects(objs)


def dataplane_for(
    src: Subject, where: Here, kubeproxy_snapshot: str = ""
) -> tuple[dataplane.Programmed | None, str]:
    """kube-proxy's rules: the snapshot when given; this host's when it is the source's node (a
    node, or a hostNetwork pod there); else none, and why."""
    if kubeproxy_snapshot:
        return dataplane.read(kubeproxy_snapshot), ""
    if not src.node:
        return (
            None,
            "the source's node is unknown: pass kubeproxy_snapshot (iptables-save / ipvsadm -Ln / nft -j from it)",
        )
    on_node = where.node == src.node or where.hostname == src.node
    host_net = src.kind == "node" or (src.pod is not None and ix.host_network(src.pod) and is_here(src))
    if on_node and (host_net or not where.pod_name):
        return dataplane.collect(f"this host ({src.node})"), ""
    return None, (
        f"not running in {src.node}'s host network: pass kubeproxy_snapshot "
        f"(iptables-save -c, ipvsadm -Ln or nft -j list ruleset from {src.node})"
    )


def investigate(
    source: str,
    destination: str,
    opts: Options = Options(),
    *,
    manifests: str = "",
    kubeproxy_snapshot: str = "",
    kubeconfig: str = "",
    context: str = "",
    timeout_s: float = 5.0,
    where: Here | None = None,
) -> Ladder:
    """The whole run as the CLI and the notebook do it: specs checked before anything is read."""
    subjects.parse_source(source)
    subjects.parse_destination(destination)
    subjects.parse_protocol(opts.protocol)
    if opts.port not in (0, "", None):
        subjects.parse_port(opts.port)
    idx = load(manifests, kubeconfig=kubeconfig, context=context, timeout_s=timeout_s)
    here_ = where or subjects.here()
    src = subjects.resolve_source(subjects.parse_source(source), idx, here_)
    programmed, note = dataplane_for(src, here_, kubeproxy_snapshot)
    return walk(idx, source, destination, opts, where=here_, programmed=programmed, dataplane_note=note)
