"""Rung 1: who is talking to whom — the source and destination as the engineer wrote them,
resolved to cluster objects (a pod, a Service, a node, or outside the cluster).

``parse_*`` are pure and run before anything is read, so a typo is a one-line usage error; the
``resolve_*`` functions are pure functions of :class:`~netdebug_nb.path.objects.Index` and of
:class:`Here` (where the notebook runs, read once by :func:`here`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from netdebug_nb.errors import InputError
from netdebug_nb.path import index as ix
from netdebug_nb.path import step
from netdebug_nb.path.index import Index, Obj

PROTOCOLS = ("TCP", "UDP", "SCTP")
SOURCE_HELP = "NAMESPACE/POD | NAMESPACE/label=value | IP | empty (where this runs)"
DESTINATION_HELP = (
    "service:NAMESPACE/NAME | DNS name (api.payments, api.payments.svc.cluster.local) | NAMESPACE/POD | IP"
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_PAIR = re.compile(r"^[\w./-]+=[\w.-]*$")


class SubjectError(InputError):
    """A source, destination, port or protocol that cannot be parsed."""


@dataclass(frozen=True)
class Spec:
    """What the engineer wrote, classified but not yet looked up."""

    text: str
    kind: str  # here | pod | selector | ip | service | name
    namespace: str = ""
    name: str = ""
    selector: tuple[tuple[str, str], ...] = ()
    ip: str = ""


@dataclass(frozen=True)
class Here:
    """Where the notebook / CLI runs: its own pod (downward API or hostname), or a node."""

    pod_namespace: str = ""
    pod_name: str = ""
    node: str = ""
    hostname: str = ""

    def describe(self) -> str:
        if self.pod_name:
            where = f"pod {self.pod_namespace}/{self.pod_name}"
            return where + (f" on node {self.node}" if self.node else "")
        if self.node:
            return f"node {self.node}"
        return f"host {self.hostname or '?'} (not identified as a pod or node)"


@dataclass
class Subject:
    """A resolved end of the path."""

    spec: Spec
    kind: str  # pod | node | external | service | unknown
    ip: str = ""
    namespace: str = ""
    pod: Obj | None = None
    service: Obj | None = None
    node: str = ""
    dns_name: str = ""  # destination given as a DNS name
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.pod is not None:
            ns, name = ix.key(self.pod)
            return f"{ns}/{name}"
        if self.service is not None:
            ns, name = ix.key(self.service)
            return f"service {ns}/{name}"
        if self.kind == "node":
            return f"node {self.node}"
        return self.ip or self.spec.text or "?"

    def describe(self) -> str:
        bits = []
        if self.ip and self.ip not in self.label:
            bits.append(self.ip)
        if self.node and self.kind == "pod":
            bits.append(f"node {self.node}")
        if self.pod is not None and ix.host_network(self.pod):
            bits.append("hostNetwork")
        return self.label + (f" ({', '.join(bits)})" if bits else "")


# --- parsing -------------------------------------------------------------------------------


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def _ns_name(text: str, what: str) -> tuple[str, str]:
    ns, _, name = text.partition("/")
    if not ns or not name or "/" in name:
        raise SubjectError(what, f"{text!r}: expected NAMESPACE/NAME")
    return ns, name


def parse_source(text: str) -> Spec:
    t = (text or "").strip()
    if not t:
        return Spec("", "here")
    if _ip(t):
        return Spec(t, "ip", ip=_ip(t))
    if "/" not in t:
        raise SubjectError("source", f"{t!r} is not one of: {SOURCE_HELP}")
    ns, rest = _ns_name(t, "source")
    if "=" in rest:
        pairs = []
        for part in rest.split(","):
            if not _LABEL_PAIR.match(part.strip()):
                raise SubjectError(
                    "source", f"{t!r}: bad label selector {part!r} (label=value[,label=value])"
                )
            k, _, v = part.strip().partition("=")
            pairs.append((k, v))
        return Spec(t, "selector", namespace=ns, selector=tuple(pairs))
    return Spec(t, "pod", namespace=ns, name=rest)


def parse_destination(text: str) -> Spec:
    t = (text or "").strip()
    if not t:
        raise SubjectError("destination", f"empty; expected {DESTINATION_HELP}")
    low = t.lower()
    for prefix in ("service:", "svc:", "service/", "svc/"):
        if low.startswith(prefix):
            ns, name = _ns_name(t[len(prefix) :], "destination")
            return Spec(t, "service", namespace=ns, name=name)
    if _ip(t):
        return Spec(t, "ip", ip=_ip(t))
    if "/" in t:
        ns, name = _ns_name(t, "destination")
        return Spec(t, "pod", namespace=ns, name=name)
    from netdebug_nb.dns import expansion

    try:
        expansion.validate(t)
    except InputError as exc:
        raise SubjectError("destination", f"{t!r}: {exc.reason}") from exc
    return Spec(t, "name", name=t.lower())


def parse_port(value: object) -> int | str:
    """A port number (1-65535) or an IANA_SVC_NAME as Kubernetes allows it (``http``, ``dns-tcp``)."""
    text = str(value).strip()
    if text.isdigit():
        n = int(text)
        if 1 <= n <= 65535:
            return n
        raise SubjectError("port", f"{text}: not in 1-65535")
    if text and len(text) <= 15 and _DNS_LABEL.match(text) and any(c.isalpha() for c in text):
        return text
    if not text:
        return 0
    raise SubjectError("port", f"{text!r}: expected a number 1-65535 or a port name such as 'http'")


def parse_protocol(value: str) -> str:
    p = (value or "TCP").strip().upper()
    if p not in PROTOCOLS:
        raise SubjectError("protocol", f"{value!r}: expected one of {', '.join(PROTOCOLS)}")
    return p


# --- where this runs -----------------------------------------------------------------------


def here(
    environ: Mapping[str, str] | None = None,
    hostname: str | None = None,
    serviceaccount_dir: str | Path = "/var/run/secrets/kubernetes.io/serviceaccount",
) -> Here:
    """The downward API's POD_NAME/POD_NAMESPACE/NODE_NAME (set by the kit's lab manifests), else
    the hostname (a pod's hostname is its name) with the service-account namespace."""
    env = os.environ if environ is None else environ
    host = hostname if hostname is not None else socket.gethostname()
    ns = env.get("POD_NAMESPACE", "")
    if not ns:
        try:
            ns = (Path(serviceaccount_dir) / "namespace").read_text().strip()
        except OSError:
            ns = ""
    return Here(
        pod_namespace=ns,
        pod_name=env.get("POD_NAME", "") or (host if ns else ""),
        node=env.get("NODE_NAME", ""),
        hostname=host,
    )


# --- resolution ----------------------------------------------------------------------------


def _pod_subject(spec: Spec, pod: Obj) -> Subject:
    ips = ix.pod_ips(pod)
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    return Subject(spec, "pod", ip=ips[0] if ips else "", namespace=ix.key(pod)[0], pod=pod, node=node)


def _by_ip(spec: Spec, ip: str, idx: Index) -> Subject:
    pod = idx.pods_by_ip.get(ip)
    if pod is not None:
        return _pod_subject(spec, pod)
    svc = idx.services_by_ip.get(ip)
    if svc is not None:
        return Subject(spec, "service", ip=ip, namespace=ix.key(svc)[0], service=svc)
    for name, node in idx.nodes.items():
        addrs = [a.get("address") for a in (node.get("status") or {}).get("addresses") or []]
        if ip in addrs:
            return Subject(spec, "node", ip=ip, node=name)
    return Subject(spec, "external", ip=ip, notes=[f"{ip} is no pod, Service or node of the cluster"])


def resolve_source(spec: Spec, idx: Index, where: Here) -> Subject:
    if spec.kind == "pod":
        return _pod_subject(spec, idx.pod(spec.namespace, spec.name))
    if spec.kind == "selector":
        idx.namespace(spec.namespace)
        sel = dict(spec.selector)
        matching = sorted(
            (p for p in idx.pods_by_ns.get(spec.namespace, []) if ix.selector_matches(sel, ix.labels(p))),
            key=lambda p: (not ix.pod_ready(p), ix.key(p)[1]),
        )
        if not matching:
            raise ix.NotInClusterError(
                "pod matching",
                spec.text,
                _nearest_labels(idx.pods_by_ns.get(spec.namespace, []), sel),
            )
        subject = _pod_subject(spec, matching[0])
        if not ix.pod_ready(matching[0]):
            subject.notes.append(
                f"no Ready pod matches {spec.text}; using {ix.key(matching[0])[1]} (not Ready)"
            )
        return subject
    if spec.kind == "ip":
        return _by_ip(spec, spec.ip, idx)
    # where this runs
    if where.pod_name and (where.pod_namespace, where.pod_name) in idx.pods:
        s = _pod_subject(spec, idx.pods[(where.pod_namespace, where.pod_name)])
        s.notes.append("this notebook's own pod")
        return s
    if where.pod_name and not where.pod_namespace:
        found = [p for (ns, name), p in idx.pods.items() if name == where.pod_name]
        if len(found) == 1:
            return _pod_subject(spec, found[0])
    node = where.node if where.node in idx.nodes else (where.hostname if where.hostname in idx.nodes else "")
    if node:
        ips = [
            a.get("address", "")
            for a in (idx.nodes[node].get("status") or {}).get("addresses") or []
            if a.get("type") == "InternalIP"
        ]
        return Subject(spec, "node", ip=ips[0] if ips else "", node=node, notes=["this host is a node"])
    return Subject(spec, "unknown", notes=[f"where this runs is not in the objects: {where.describe()}"])


def _nearest_labels(pods: list[Obj], sel: Mapping[str, str]) -> list[str]:
    """Pods that miss the selector by the fewest labels, the most similar values first."""
    import difflib

    scored = []
    for p in pods:
        have = ix.labels(p)
        diff = [f"{k}={have[k]}" if k in have else f"no {k}" for k, v in sel.items() if have.get(k) != v]
        similar = sum(difflib.SequenceMatcher(None, have.get(k, ""), v).ratio() for k, v in sel.items())
        scored.append((len(diff), -similar, ix.key(p)[1], ", ".join(diff)))
    scored.sort()
    return [f"{name} ({diff})" for _, _, name, diff in scored[:3]]


def resolve_destination(
    spec: Spec, idx: Index, source: Subject | None = None, cluster_domain: str = "cluster.local"
) -> Subject:
    if spec.kind == "service":
        svc = idx.service(spec.namespace, spec.name)
        return Subject(spec, "service", ip=_cluster_ip(svc), namespace=spec.namespace, service=svc)
    if spec.kind == "pod":
        return _pod_subject(spec, idx.pod(spec.namespace, spec.name))
    if spec.kind == "ip":
        return _by_ip(spec, spec.ip, idx)
    # a DNS name: which object it names in the cluster zone (rung 2 checks what the resolver sends)
    from netdebug_nb.path import lookup

    target = lookup.cluster_object(spec.name, idx, cluster_domain, source.pod if source else None)
    if target.service is not None:
        ns = ix.key(target.service)[0]
        return Subject(
            spec,
            "service",
            ip=_cluster_ip(target.service),
            namespace=ns,
            service=target.service,
            dns_name=spec.name,
        )
    if target.pod is not None:
        s = _pod_subject(spec, target.pod)
        s.dns_name = spec.name
        return s
    if target.missing:
        near = f" (nearest: {', '.join(target.near)})" if target.near else ""
        return Subject(
            spec,
            "unknown",
            dns_name=spec.name,
            notes=[f"no Service {target.missing} in the cluster zone{near}"],
        )
    return Subject(spec, "external", dns_name=spec.name, notes=["a name outside the cluster's zone"])


def _cluster_ip(svc: Obj) -> str:
    ip = str((svc.get("spec") or {}).get("clusterIP") or "")
    return "" if ip == "None" else ip


def rung(src: Subject, dst: Subject, port: int | str, protocol: str, where: Here) -> list[step.Step]:
    """Rung 1's rows: what each end resolved to."""
    rows = []
    src_objs = [ix.ref("pod", src.pod)] if src.pod is not None else []
    text = f"source {src.spec.text or '(where this runs: ' + where.describe() + ')'} → {src.describe()}"
    if src.notes:
        text += "; " + "; ".join(src.notes)
    if src.kind == "unknown":
        rows.append(step.warning(1, "resolve.source", text, src_objs))
    else:
        rows.append(step.ok(1, "resolve.source", text, src_objs))
    dst_objs = [ix.ref("service", dst.service)] if dst.service is not None else []
    if dst.pod is not None:
        dst_objs.append(ix.ref("pod", dst.pod))
    port_text = f"{protocol}/{port}" if port else protocol
    text = f"destination {dst.spec.text} → {dst.describe()}, {port_text}"
    if dst.notes:
        text += "; " + "; ".join(dst.notes)
    rows.append(step.ok(1, "resolve.destination", text, dst_objs))
    return rows
