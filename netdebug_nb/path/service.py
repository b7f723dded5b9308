"""Rung 3: the Service between the source and its pods — the port, the selector, the pods'
readiness, the targetPort on each pod, the EndpointSlices, and the traffic policies.

Each check answers a question the on-call engineer would otherwise answer with three ``kubectl
describe`` calls and a diff in their head ("the selector says app=api, the pods say app=api-v2").
The result is the rows plus the :class:`Backend` list (pod, IP, resolved target port) that the
NetworkPolicy, dataplane and probe rungs judge: traffic to a Service is traffic to its pods.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from netdebug_nb.path import index as ix
from netdebug_nb.path import step
from netdebug_nb.path.index import Index, Obj


@dataclass
class Backend:
    """One endpoint the Service sends to (or should send to)."""

    ip: str
    port: int | None  # the resolved targetPort; None when it does not resolve on this pod
    pod: Obj | None = None
    node: str = ""
    pod_ready: bool | None = None  # None: no pod behind the address (manual or stale endpoint)
    in_slices: bool = False
    slice_ready: bool | None = None

    @property
    def name(self) -> str:
        if self.pod is not None:
            return "/".join(ix.key(self.pod))
        return self.ip

    @property
    def serves(self) -> bool:
        """Whether kube-proxy sends traffic here: in a slice and ready there."""
        return self.in_slices and bool(self.slice_ready) and self.port is not None


@dataclass
class Result:
    rows: list[step.Step] = field(default_factory=list)
    backends: list[Backend] = field(default_factory=list)
    service_port: dict[str, Any] | None = None  # the ServicePort used
    port: int | None = None  # the Service port number (ClusterIP:port)
    external_name: str = ""

    @property
    def blocked(self) -> bool:
        return any(r.status == "blocked" for r in self.rows)


def container_ports(pod: Obj) -> list[dict[str, Any]]:
    spec = pod.get("spec") or {}
    return [p for c in spec.get("containers") or [] for p in c.get("ports") or []]


def resolve_target(pod: Obj, target: int | str, protocol: str) -> int | None:
    """A targetPort on one pod: numbers are what they are, names must be a containerPort's name."""
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for p in container_ports(pod):
        if p.get("name") == target and str(p.get("protocol") or "TCP") == protocol:
            return int(str(p.get("containerPort")))
    return None


def declares(pod: Obj, port: int, protocol: str) -> bool:
    return any(
        int(str(p.get("containerPort") or 0)) == port and str(p.get("protocol") or "TCP") == protocol
        for p in container_ports(pod)
    )


def not_ready_reason(pod: Obj) -> str:
    """Why a pod is not Ready, from its conditions and container states (what describe shows)."""
    st = pod.get("status") or {}
    bits = []
    phase = st.get("phase")
    if phase and phase != "Running":
        bits.append(f"phase {phase}")
    for c in st.get("conditions") or []:
        if c.get("type") in ("Ready", "ContainersReady", "PodScheduled") and c.get("status") != "True":
            why = " ".join(x for x in (c.get("reason"), c.get("message")) if x)
            bits.append(f"{c['type']}=False" + (f" ({why})" if why else ""))
    for cs in st.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if "waiting" in state:
            w = state["waiting"] or {}
            bits.append(f"container {cs.get('name')} waiting: {w.get('reason', '?')}")
        elif "terminated" in state:
            t = state["terminated"] or {}
            bits.append(
                f"container {cs.get('name')} terminated: {t.get('reason', '?')} (exit {t.get('exitCode')})"
            )
        elif not cs.get("ready"):
            bits.append(f"container {cs.get('name')} running but not ready (readiness probe failing)")
        if int(cs.get("restartCount") or 0) >= 3:
            bits.append(f"{cs.get('name')} restarted {cs['restartCount']}x")
    return "; ".join(dict.fromkeys(bits)) or "not Ready"


def _port_list(ports: Sequence[dict[str, Any]]) -> str:
    return ", ".join(
        f"{str(p['name']) + ' ' if p.get('name') else ''}{p.get('port')}/{p.get('protocol') or 'TCP'}"
        for p in ports
    )


def pick_port(svc: Obj, port: int | str, protocol: str) -> tuple[dict[str, Any] | None, str]:
    """The ServicePort for ``port`` (number or name) and protocol; else None and why."""
    ports = list((svc.get("spec") or {}).get("ports") or [])
    if not port:
        same = [p for p in ports if str(p.get("protocol") or "TCP") == protocol]
        if len(same) == 1:
            return same[0], ""
        return None, f"no port given and the Service has {len(same)} {protocol} ports ({_port_list(ports)})"
    field_ = "port" if isinstance(port, int) else "name"
    hits = [p for p in ports if p.get(field_) == port]
    right = [p for p in hits if str(p.get("protocol") or "TCP") == protocol]
    if right:
        return right[0], ""
    if hits:
        other = "/".join(str(p.get("protocol") or "TCP") for p in hits)
        return None, f"port {port} exists only as {other}, not {protocol}"
    return None, f"no port {port!r} (has: {_port_list(ports) or 'no ports'})"


def nearest_miss(selector: dict[str, str], pods: Sequence[Obj]) -> tuple[str, list[str]]:
    """The pods closest to the selector and how they differ ("pods have app=api-v2"): fewest
    differing labels first, then the most similar values (``ledger-v2`` is nearer ``ledger``)."""
    import difflib

    best: list[tuple[int, float, str, str]] = []
    for p in pods:
        have = ix.labels(p)
        diff, similarity = [], 0.0
        for k, v in selector.items():
            if have.get(k) == v:
                continue
            if k in have:
                diff.append(f"pods have {k}={have[k]}, the selector wants {k}={v}")
                similarity += difflib.SequenceMatcher(None, have[k], v).ratio()
            else:
                diff.append(f"pods have no label {k}, the selector wants {k}={v}")
        best.append((len(diff), -similarity, ix.key(p)[1], "; ".join(diff)))
    if not best:
        return "", []
    best.sort()
    top = [b for b in best if b[:2] == best[0][:2]]
    return top[0][3], [b[2] for b in top[:5]]


@dataclass
class _Service:
    """What every check of one Service port needs, read once."""

    svc: Obj
    me: str  # "service ns/name"
    sp: dict[str, Any]  # the ServicePort
    target: int | str  # its targetPort
    protocol: str
    slices: list[Obj]
    slice_eps: dict[str, tuple[dict[str, Any], Obj]]  # address → (endpoint, its slice)

    @property
    def slice_objs(self) -> list[str]:
        return [ix.ref("endpointslice", sl) for sl in self.slices]

    def slice_port(self, sl: Obj) -> int | None:
        """The slice's port for this ServicePort (matched by name and protocol, as kube-proxy does)."""
        for p in sl.get("ports") or []:
            same_name = (p.get("name") or "") == (self.sp.get("name") or "")
            if same_name and str(p.get("protocol") or "TCP") == self.protocol:
                return int(p["port"]) if p.get("port") is not None else None
        return None

    def slice_backend(self, ip: str, pod: Obj | None = None) -> Backend:
        ep, sl = self.slice_eps[ip]
        ready = (ep.get("conditions") or {}).get("ready")
        return Backend(
            ip,
            self.slice_port(sl),
            pod=pod,
            node=str(ep.get("nodeName") or ""),
            pod_ready=ix.pod_ready(pod) if pod else None,
            in_slices=True,
            slice_ready=ready is None or bool(ready),
        )


def check(svc: Obj, port: int | str, protocol: str, idx: Index, *, source_node: str = "") -> Result:
    """Rung 3 for one Service port: the recipe, each step a function below."""
    res = Result()
    spec = svc.get("spec") or {}
    if (spec.get("type") or "ClusterIP") == "ExternalName":
        return _external_name(res, svc, port)
    s = _port(res, svc, port, protocol, idx)
    if s is None:
        return res
    if not spec.get("selector"):
        _selectorless(res, s, idx)
    else:
        matching = _selector(res, s, idx)
        if matching is None:
            return res
        ready_pods = _readiness(res, s, matching)
        _target_ports(res, s, matching)
        _slices(res, s, ready_pods)
    _policies(res, svc, idx, source_node)
    return res


def _external_name(res: Result, svc: Obj, port: int | str) -> Result:
    res.external_name = str((svc.get("spec") or {}).get("externalName", ""))
    res.rows.append(
        step.ok(
            3,
            "service.type",
            f"ExternalName Service: a CNAME to {res.external_name}; no ClusterIP, ports or endpoints in the cluster",
            [ix.ref("service", svc)],
        )
    )
    res.port = port if isinstance(port, int) and port else None
    return res


def _port(res: Result, svc: Obj, port: int | str, protocol: str, idx: Index) -> _Service | None:
    me = ix.ref("service", svc)
    spec = svc.get("spec") or {}
    sp, why = pick_port(svc, port, protocol)
    if sp is None:
        res.rows.append(
            step.blocked(
                3,
                "service.port",
                f"{me}: {why}",
                [me],
                finding="svc.port_missing",
                fix=f"connect to one of the Service's ports, or add {protocol}/{port} to {me}'s spec.ports",
            )
        )
        return None
    res.service_port = sp
    res.port = int(str(sp.get("port")))
    target: int | str = sp.get("targetPort", sp.get("port"))  # type: ignore[assignment]
    if isinstance(target, str) and target.isdigit():
        target = int(target)
    stype = spec.get("type") or "ClusterIP"
    where = f"{stype} {spec.get('clusterIP')}" if spec.get("clusterIP") else stype
    res.rows.append(
        step.ok(3, "service.port", f"{me} {where} port {_port_list([sp])} → targetPort {target}", [me])
    )
    ns, name = ix.key(svc)
    slices = idx.service_slices(ns, name)
    slice_eps: dict[str, tuple[dict[str, Any], Obj]] = {}
    for sl in slices:
        for ep in sl.get("endpoints") or []:
            for a in ep.get("addresses") or []:
                slice_eps[str(a)] = (ep, sl)
    return _Service(svc, me, sp, target, protocol, slices, slice_eps)


def _selectorless(res: Result, s: _Service, idx: Index) -> None:
    """Endpoints managed by hand (or by another controller): the slices are the truth."""
    for ip in s.slice_eps:
        res.backends.append(s.slice_backend(ip, idx.pods_by_ip.get(ip)))
    name = ix.key(s.svc)[1]
    if not res.backends:
        res.rows.append(
            step.blocked(
                3,
                "service.endpoints",
                f"{s.me} has no selector and no EndpointSlice/Endpoints with addresses: nothing to send to",
                [s.me],
                finding="svc.no_ready_endpoints",
                fix=f"add a selector to {s.me}, or create an EndpointSlice labelled kubernetes.io/service-name={name}",
            )
        )
        return
    ready = [b for b in res.backends if b.serves]
    detail = (
        f"selector-less Service: {len(res.backends)} manual endpoint(s), {len(ready)} ready: "
        + ", ".join(f"{b.ip}:{b.port}" for b in res.backends[:8])
    )
    if ready:
        res.rows.append(step.ok(3, "service.endpoints", detail, [s.me, *s.slice_objs]))
    else:
        res.rows.append(
            step.blocked(
                3,
                "service.endpoints",
                detail,
                [s.me, *s.slice_objs],
                finding="svc.no_ready_endpoints",
                fix="mark the manual endpoints ready",
            )
        )


def _selector(res: Result, s: _Service, idx: Index) -> list[Obj] | None:
    """The pods the selector matches (finished pods are not endpoints); None when there are none."""
    ns = ix.key(s.svc)[0]
    selector = dict((s.svc.get("spec") or {}).get("selector") or {})
    in_ns = idx.pods_by_ns.get(ns, [])
    matching = [
        p
        for p in in_ns
        if ix.selector_matches(selector, ix.labels(p))
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
    sel_text = ",".join(f"{k}={v}" for k, v in selector.items())
    if matching:
        res.rows.append(
            step.ok(3, "service.selector", f"selector {sel_text} matches {len(matching)} pod(s)", [s.me])
        )
        return matching
    diff, names = nearest_miss(selector, in_ns)
    detail = f"selector {sel_text} matches no pod in namespace {ns}"
    if names:
        detail += f"; nearest: {', '.join(names)}: {diff}"
    res.rows.append(
        step.blocked(
            3,
            "service.selector",
            detail,
            [s.me] + [f"pod {ns}/{n}" for n in names[:3]],
            finding="svc.selector_matches_nothing",
            fix=(
                f"make {s.me}'s selector match the pods ({diff}), or relabel the pods"
                if names
                else f"deploy pods labelled {sel_text} in {ns}"
            ),
            evidence={"selector": selector, "nearest": names},
        )
    )
    for ip in s.slice_eps:  # whatever the slices still list is stale
        res.backends.append(s.slice_backend(ip))
    return None


def _readiness(res: Result, s: _Service, matching: list[Obj]) -> list[Obj]:
    publish = bool((s.svc.get("spec") or {}).get("publishNotReadyAddresses"))
    ready_pods = [p for p in matching if ix.pod_ready(p)]
    unready = [p for p in matching if not ix.pod_ready(p)]
    reasons = "; ".join(f"{ix.key(p)[1]}: {not_ready_reason(p)}" for p in unready[:5])
    involved = [ix.ref("pod", p) for p in unready[:5]]
    if not unready:
        res.rows.append(step.ok(3, "service.ready", f"all {len(matching)} matching pod(s) Ready", []))
    elif ready_pods:
        res.rows.append(
            step.warning(
                3,
                "service.ready",
                f"{len(ready_pods)} of {len(matching)} pods Ready; not Ready (get no traffic): {reasons}",
                involved,
            )
        )
    elif publish:
        res.rows.append(
            step.warning(
                3,
                "service.ready",
                f"no matching pod is Ready, but publishNotReadyAddresses sends to them anyway: {reasons}",
                [s.me, *involved],
            )
        )
    else:
        res.rows.append(
            step.blocked(
                3,
                "service.ready",
                f"none of the {len(matching)} matching pod(s) is Ready: {reasons}",
                [s.me, *involved],
                finding="svc.no_ready_endpoints",
                fix="fix the pods' readiness (see the container states; kubectl logs / describe pod)",
            )
        )
    return ready_pods


def _target_ports(res: Result, s: _Service, matching: list[Obj]) -> None:
    """The targetPort on every selected pod; each pod becomes a backend with its resolved port."""
    unresolved, undeclared = [], []
    for p in matching:
        tp = resolve_target(p, s.target, s.protocol)
        if tp is None:
            unresolved.append(p)
        elif isinstance(s.target, int) and not declares(p, tp, s.protocol) and container_ports(p):
            undeclared.append(p)
        for ip in ix.pod_ips(p)[:1]:
            b = (
                s.slice_backend(ip, p)
                if ip in s.slice_eps
                else Backend(ip, None, pod=p, pod_ready=ix.pod_ready(p))
            )
            b.port, b.node = tp, str((p.get("spec") or {}).get("nodeName") or "")
            res.backends.append(b)
    if unresolved:
        who = ", ".join(ix.key(p)[1] for p in unresolved[:5])
        all_bad = len(unresolved) == len(matching)
        res.rows.append(
            step.make(
                "blocked" if all_bad else "warning",
                3,
                "service.target_port",
                f"named targetPort {s.target!r} ({s.protocol}) is declared by no container of {who}"
                + ("" if all_bad else f" ({len(matching) - len(unresolved)} other pod(s) resolve it)"),
                [s.me, *(ix.ref("pod", p) for p in unresolved[:5])],
                finding="svc.target_port_unresolved",
                severity="critical",
                fix=f"add port name `{s.target}` ({s.protocol}) to the container's ports, or set targetPort to a number",
            )
        )
    elif undeclared:
        who = ", ".join(ix.key(p)[1] for p in undeclared[:5])
        res.rows.append(
            step.warning(
                3,
                "service.target_port",
                f"targetPort {s.target} is not among the containerPorts of {who} (informational only: "
                "traffic still goes there; check the app listens on it)",
                [ix.ref("pod", p) for p in undeclared[:5]],
                finding="svc.target_port_unresolved",
                severity="warning",
            )
        )
    else:
        ports = ", ".join(map(str, sorted({b.port for b in res.backends if b.port is not None})))
        res.rows.append(
            step.ok(
                3,
                "service.target_port",
                f"targetPort {s.target} resolves to {s.protocol}/{ports} on every pod",
                [],
            )
        )


def _slices(res: Result, s: _Service, ready_pods: list[Obj]) -> None:
    """EndpointSlices against the pods: stale addresses, Ready pods missing, ready flags."""
    publish = bool((s.svc.get("spec") or {}).get("publishNotReadyAddresses"))
    # every family of a selected pod counts: a dual-stack pod's IPv6 slice entry is not stale
    pod_ips = {ip for b in res.backends if b.pod is not None for ip in ix.pod_ips(b.pod)}
    for ip in s.slice_eps:
        if ip not in pod_ips:
            res.backends.append(s.slice_backend(ip))
    stale = [b for b in res.backends if b.in_slices and b.pod is None]
    missing = [b for b in res.backends if b.pod is not None and b.pod_ready and not b.in_slices]
    flag_wrong = [
        b
        for b in res.backends
        if b.pod is not None and b.in_slices and b.slice_ready != b.pod_ready and not publish
    ]
    problems = []
    if stale:
        problems.append(
            f"{len(stale)} stale endpoint(s) with no matching pod: {', '.join(b.ip for b in stale[:6])}"
        )
    if missing:
        problems.append(
            f"{len(missing)} Ready pod(s) missing from the slices: {', '.join(b.name for b in missing[:6])}"
        )
    if flag_wrong:
        problems.append("ready flag disagrees with the pod for " + ", ".join(b.name for b in flag_wrong[:6]))
    if not s.slices and ready_pods:
        problems.append(
            "no EndpointSlice for the Service (endpointslice controller down, or slices not in the dump)"
        )
    serving = [b for b in res.backends if b.serves]
    if problems:
        dead = not serving and bool(ready_pods)
        res.rows.append(
            step.make(
                "blocked" if dead else "warning",
                3,
                "service.endpoints",
                "EndpointSlices disagree with the pods: " + "; ".join(problems),
                [s.me, *s.slice_objs],
                severity="critical" if dead else "warning",
                finding="svc.endpoints_stale",
                fix="check kube-controller-manager (endpointslice controller) and the slices' age",
            )
        )
    elif not serving:
        res.rows.append(
            step.ok(
                3,
                "service.endpoints",
                "EndpointSlices agree with the pods: no ready endpoint with this port",
                s.slice_objs,
            )
        )
    else:
        pub = " (publishNotReadyAddresses: not-ready pods included)" if publish else ""
        res.rows.append(
            step.ok(
                3,
                "service.endpoints",
                f"EndpointSlices list {len(serving)} ready endpoint(s), matching the pods{pub}: "
                + ", ".join(f"{b.ip}:{b.port}" for b in serving[:8]),
                s.slice_objs,
            )
        )


def _policies(res: Result, svc: Obj, idx: Index, source_node: str) -> None:
    """internalTrafficPolicy / externalTrafficPolicy / sessionAffinity."""
    spec = svc.get("spec") or {}
    me = ix.ref("service", svc)
    serving = [b for b in res.backends if b.serves]
    if spec.get("internalTrafficPolicy") == "Local":
        local = [b for b in serving if b.node and b.node == source_node]
        nodes = sorted({b.node for b in serving if b.node})
        if not source_node:
            res.rows.append(
                step.warning(
                    3,
                    "service.traffic_policy",
                    f"internalTrafficPolicy: Local — only endpoints on the client's node are used; the source's "
                    f"node is unknown (endpoints on: {', '.join(nodes) or 'none'})",
                    [me],
                )
            )
        elif not local:
            res.rows.append(
                step.blocked(
                    3,
                    "service.traffic_policy",
                    f"internalTrafficPolicy: Local and no ready endpoint on the source's node {source_node} "
                    f"(endpoints on: {', '.join(nodes) or 'none'}): kube-proxy drops the traffic",
                    [me],
                    finding="svc.local_traffic_no_endpoint",
                    fix=f"run a backend on {source_node} (e.g. a DaemonSet) or set internalTrafficPolicy: Cluster",
                )
            )
            return
        else:
            res.rows.append(
                step.ok(
                    3,
                    "service.traffic_policy",
                    f"internalTrafficPolicy: Local; {len(local)} ready endpoint(s) on {source_node}",
                    [me],
                )
            )
    if spec.get("externalTrafficPolicy") == "Local" and spec.get("type") in ("NodePort", "LoadBalancer"):
        nodes = sorted({b.node for b in serving if b.node})
        res.rows.append(
            step.ok(
                3,
                "service.external_policy",
                f"externalTrafficPolicy: Local — traffic from outside via NodePort/LB is answered only on nodes "
                f"with a ready endpoint ({', '.join(nodes) or 'none'}); client IP preserved. In-cluster "
                "traffic to the ClusterIP is not affected",
                [me],
            )
        )
    if spec.get("sessionAffinity") == "ClientIP":
        timeout = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get(
            "timeoutSeconds", 10800
        )
        res.rows.append(
            step.ok(
                3,
                "service.session_affinity",
                f"sessionAffinity: ClientIP ({timeout} s): one client sticks to one endpoint, so a single bad "
                "pod fails the same client every time",
                [me],
            )
        )


def pod_target(pod: Obj, port: int | str, protocol: str) -> tuple[int | None, list[step.Step]]:
    """A pod as the destination: its port (a name resolves on its containers)."""
    me = ix.ref("pod", pod)
    rows: list[step.Step] = []
    if not port:
        ports = [p for p in container_ports(pod) if str(p.get("protocol") or "TCP") == protocol]
        if len(ports) == 1:
            only = int(str(ports[0].get("containerPort")))
            rows.append(
                step.ok(3, "pod.port", f"no port given: the pod's only {protocol} containerPort {only}", [me])
            )
            return only, rows
        rows.append(
            step.blocked(
                3,
                "pod.port",
                f"no port given and {me} declares {len(ports)} {protocol} ports",
                [me],
                finding="svc.port_missing",
                fix="pass --port",
            )
        )
        return None, rows
    n = resolve_target(pod, port, protocol)
    if n is None:
        rows.append(
            step.blocked(
                3,
                "pod.port",
                f"{me} declares no {protocol} port named {port!r} "
                f"(has: {', '.join(str(p.get('name') or p.get('containerPort')) for p in container_ports(pod)) or 'none'})",
                [me],
                finding="svc.target_port_unresolved",
                severity="critical",
                fix=f"add port name `{port}` to the container, or give the number",
            )
        )
        return None, rows
    if not ix.pod_ready(pod):
        rows.append(step.warning(3, "pod.ready", f"{me} is not Ready: {not_ready_reason(pod)}", [me]))
    else:
        rows.append(
            step.ok(
                3,
                "pod.port",
                f"{me} {protocol}/{n}"
                + ("" if declares(pod, n, protocol) else " (not a declared containerPort: informational)"),
                [me],
            )
        )
    return n, rows
