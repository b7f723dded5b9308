"""What to probe, in Kubernetes terms: targets from a selector, and where cluster DNS runs.

``targets("service:payments/api", cluster)`` turns a name the on-call engineer knows into the
addresses the latency notebook probes; :func:`cluster_dns` finds every server a pod's DNS query
can reach (NodeLocal DNSCache, the kube-dns ClusterIP, each CoreDNS pod) so the DNS notebook can
ask each of them and tell a bad endpoint from a bad service.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.errors import InputError
from netdebug_nb.k8s import inventory

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.k8s.client import Cluster

TARGETS_SCHEMA: schema.Schema = {
    "target": "string",  # the IP address to probe
    "family": "UInt8",  # 4 | 6
    "kind": "string",  # node | pod | endpoint
    "namespace": "string",
    "name": "string",  # node, pod, or the endpoint's pod
    "node": "string",
    "port": "Int64",  # the service's first endpoint port; <NA> for nodes and pods
    "ready": "boolean",
}

DNS_SERVERS_SCHEMA: schema.Schema = {
    "server": "string",  # IP address to send queries to
    "role": "string",  # nodelocal | service | endpoint
    "namespace": "string",
    "name": "string",  # kube-dns (service), coredns-... (endpoint pod), node-local-dns
    "node": "string",
    "ready": "boolean",
}

SPEC_HELP = "nodes[:label=value] | pods:NAMESPACE[/label=value,...] | service:NAMESPACE/NAME"


class TargetSpecError(InputError):
    """A target selector that is not one of :data:`SPEC_HELP`."""

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"target spec {spec!r}", f"{reason} (expected {SPEC_HELP})")


@dataclass(frozen=True)
class Spec:
    kind: str  # nodes | pods | service
    namespace: str | None = None
    name: str = ""
    selector: str = ""


_LABEL_SEL = re.compile(r"^[\w./-]+(\s*(=|==|!=)\s*[\w.-]*|\s+(in|notin)\s+\([^)]*\))?(,.+)?$")


def parse_spec(spec: str) -> Spec:
    text = spec.strip()
    kind, _, rest = text.partition(":")
    kind = kind.strip().lower()
    rest = rest.strip()
    if kind in ("nodes", "node"):
        if rest and not _LABEL_SEL.match(rest):
            raise TargetSpecError(spec, f"bad node label selector {rest!r}")
        return Spec("nodes", selector=rest)
    if kind in ("pods", "pod"):
        if not rest:
            raise TargetSpecError(spec, "pods needs a namespace")
        ns, _, sel = rest.partition("/")
        if not ns or (sel and not _LABEL_SEL.match(sel)):
            raise TargetSpecError(spec, "bad namespace or label selector")
        return Spec("pods", namespace=ns if ns != "*" else None, selector=sel)
    if kind in ("service", "svc"):
        ns, _, name = rest.partition("/")
        if not ns or not name or "/" in name:
            raise TargetSpecError(spec, "service needs NAMESPACE/NAME")
        return Spec("service", namespace=ns, name=name)
    raise TargetSpecError(spec, f"unknown kind {kind!r}")


def _family(ip: str) -> int:
    return 6 if ":" in ip else 4


def targets(spec: str | Sequence[str], cluster: Cluster, *, family: int | None = None) -> pd.DataFrame:
    """Addresses to probe for one spec or several (rows in spec order, duplicates removed)."""
    from netdebug_nb.k8s.client import ClusterNotFoundError

    specs = [spec] if isinstance(spec, str) else list(spec)
    rows: list[dict[str, Any]] = []
    for text in specs:
        s = parse_spec(text)
        if s.kind == "nodes":
            nodes = inventory.nodes(cluster.list("nodes", label_selector=s.selector))
            for n in nodes.to_dict("records"):
                for ip in n["internal_ips"]:
                    rows.append(_target(ip, "node", None, n["name"], n["name"], None, n["ready"]))
        elif s.kind == "pods":
            pods = inventory.pods(cluster.list("pods", namespace=s.namespace, label_selector=s.selector))
            for p in pods.to_dict("records"):
                if p["phase"] != "Running":
                    continue
                for ip in p["pod_ips"]:
                    rows.append(_target(ip, "pod", p["namespace"], p["name"], p["node"], None, p["ready"]))
        else:
            assert s.namespace is not None
            try:
                cluster.get("services", s.name, s.namespace)
            except ClusterNotFoundError as exc:
                raise TargetSpecError(text, f"no service {s.namespace}/{s.name}") from exc
            for e in service_endpoints(cluster, s.namespace, s.name).to_dict("records"):
                port = _first_port(e["ports"])
                name = e["target_name"] if isinstance(e["target_name"], str) else None
                rows.append(_target(e["ip"], "endpoint", s.namespace, name, e["node"], port, e["ready"]))
    df = schema.frame(rows, TARGETS_SCHEMA)
    if family is not None:
        df = df[df["family"] == family]
    return df.drop_duplicates("target").reset_index(drop=True)


def targets_if_available(
    specs: str | Sequence[str],
    *,
    kubeconfig: str = "",
    context: str = "",
    timeout_s: float = 5.0,
) -> tuple[pd.DataFrame, str]:
    """:func:`targets` for notebooks: without a cluster, no targets and a one-line note.

    The specs are checked first, so a typo is a TargetSpecError with or without a cluster."""
    from netdebug_nb.errors import ClusterError
    from netdebug_nb.k8s import client

    wanted = [specs] if isinstance(specs, str) else [str(s) for s in specs if str(s).strip()]
    if not wanted:
        return schema.empty(TARGETS_SCHEMA), ""
    for text in wanted:
        parse_spec(text)
    try:
        cluster = client.connect(kubeconfig, context, timeout_s=timeout_s)
        found = targets(wanted, cluster)
    except ClusterError as exc:
        return schema.empty(TARGETS_SCHEMA), f"Kubernetes targets not resolved: {exc}"
    return found, f"{len(found)} target(s) from {', '.join(wanted)} ({cluster.describe()})"


def _target(
    ip: str, kind: str, ns: object, name: object, node: object, port: int | None, ready: object
) -> dict[str, Any]:
    return {
        "target": ip,
        "family": _family(ip),
        "kind": kind,
        "namespace": ns,
        "name": name,
        "node": node,
        "port": port,
        "ready": ready,
    }


def _first_port(ports: object) -> int | None:
    m = re.search(r"(\d+)/", str(ports or ""))
    return int(m.group(1)) if m else None


def service_endpoints(cluster: Cluster, namespace: str, name: str) -> pd.DataFrame:
    """The service's endpoints (EndpointSlices; the Endpoints object when slices are not readable)."""
    from netdebug_nb.k8s.client import ClusterApiError, ClusterNotFoundError

    try:
        items = cluster.list(
            "endpointslices", namespace=namespace, label_selector=f"kubernetes.io/service-name={name}"
        )
        return inventory.endpoint_slices(items)
    except ClusterApiError:
        pass
    try:
        ep = cluster.get_json(
            "get",
            "endpoints",
            cluster.client("CoreV1Api").read_namespaced_endpoints,
            name,
            namespace,
            namespace=namespace,
            name=name,
        )
    except ClusterNotFoundError:
        return schema.empty(inventory.ENDPOINTS_SCHEMA)
    return inventory.endpoints([ep])


# --- cluster DNS ---------------------------------------------------------------------------


def nodelocal_ip(pod_or_template: Mapping[str, Any]) -> str | None:
    """The link-local address from node-local-dns's ``-localip a,b`` argument (first of the list)."""
    spec = pod_or_template.get("spec") or {}
    for c in spec.get("containers") or []:
        argv = [*(c.get("command") or []), *(c.get("args") or [])]
        for i, arg in enumerate(argv):
            value = None
            if arg in ("-localip", "--localip") and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(("-localip=", "--localip=")):
                value = arg.split("=", 1)[1]
            if value:
                return str(value).split(",")[0].strip()
    return None


@dataclass
class ClusterDns:
    """Where DNS runs for pods of this cluster, and how this pod resolves (when it can tell)."""

    service_namespace: str = "kube-system"
    service_name: str | None = None  # kube-dns, when found
    service_ips: list[str] = field(default_factory=list)  # ClusterIPs (both families)
    endpoints: pd.DataFrame | None = None  # CoreDNS endpoints (ENDPOINTS_SCHEMA)
    nodelocal: bool = False  # a NodeLocal DNSCache DaemonSet has pods
    nodelocal_ip: str | None = None
    nodelocal_pods: int = 0
    own_pod: str | None = None  # namespace/name of the pod this runs in
    dns_policy: str | None = None  # ClusterFirst | Default | ClusterFirstWithHostNet | None
    dns_config: dict[str, Any] | None = None  # spec.dnsConfig: nameservers, searches, options
    notes: list[str] = field(default_factory=list)  # what could not be read, one line each

    def servers(self) -> pd.DataFrame:
        """Every server worth querying, nearest first: NodeLocal cache, service, each endpoint."""
        rows: list[dict[str, Any]] = []
        if self.nodelocal and self.nodelocal_ip:
            rows.append(
                {
                    "server": self.nodelocal_ip,
                    "role": "nodelocal",
                    "namespace": self.service_namespace,
                    "name": "node-local-dns",
                    "node": None,
                    "ready": True,
                }
            )
        for ip in self.service_ips:
            rows.append(
                {
                    "server": ip,
                    "role": "service",
                    "namespace": self.service_namespace,
                    "name": self.service_name,
                    "node": None,
                    "ready": True,
                }
            )
        if self.endpoints is not None:
            for e in self.endpoints.to_dict("records"):
                rows.append(
                    {
                        "server": e["ip"],
                        "role": "endpoint",
                        "namespace": e["target_namespace"],
                        "name": e["target_name"],
                        "node": e["node"],
                        "ready": e["ready"],
                    }
                )
        df = schema.frame(rows, DNS_SERVERS_SCHEMA)
        return df.drop_duplicates("server").reset_index(drop=True)

    def summary(self) -> str:
        n = 0 if self.endpoints is None else len(self.endpoints.drop_duplicates("target_name"))
        parts = [
            f"cluster DNS {self.service_namespace}/{self.service_name} at {', '.join(self.service_ips)}"
            if self.service_name
            else "no kube-dns service found",
            f"{n} CoreDNS pod(s)",
            f"NodeLocal DNSCache on {self.nodelocal_ip} ({self.nodelocal_pods} pods)"
            if self.nodelocal
            else "no NodeLocal DNSCache",
        ]
        if self.own_pod:
            parts.append(f"this pod {self.own_pod}: dnsPolicy {self.dns_policy}")
        return "; ".join(parts)


def cluster_dns(
    cluster: Cluster,
    *,
    namespace: str = "kube-system",
    environ: Mapping[str, str] | None = None,
    serviceaccount_dir: str | Path | None = None,
) -> ClusterDns:
    """Read the DNS service, its endpoints, NodeLocal DNSCache pods and this pod's DNS settings.

    Refusals are notes, not errors: each part is useful on its own. This pod is found from
    ``POD_NAME``/``POD_NAMESPACE`` (set by the lab manifest through the downward API), else the
    hostname and the service-account namespace file.
    """
    from netdebug_nb.k8s.client import SERVICEACCOUNT_DIR, ClusterApiError

    env = os.environ if environ is None else environ
    out = ClusterDns(service_namespace=namespace)

    try:
        svcs = inventory.services(
            cluster.list("services", namespace=namespace, label_selector="k8s-app=kube-dns")
        )
        named = svcs[svcs["name"] == "kube-dns"]
        svc = (named if len(named) else svcs).head(1)
        if len(svc):
            out.service_name = str(svc["name"].iloc[0])
            out.service_ips = list(svc["cluster_ips"].iloc[0])
        else:
            out.notes.append(f"no service labelled k8s-app=kube-dns in {namespace}")
    except ClusterApiError as exc:
        out.notes.append(str(exc))
    if out.service_name:
        try:
            out.endpoints = service_endpoints(cluster, namespace, out.service_name)
        except ClusterApiError as exc:
            out.notes.append(str(exc))
    try:
        local = cluster.list("pods", namespace=namespace, label_selector="k8s-app=node-local-dns")
        out.nodelocal_pods = len(local)
        out.nodelocal = bool(local)
        if local:
            from netdebug_nb.k8s.enrich import NODELOCAL_DNS_IP

            out.nodelocal_ip = nodelocal_ip(local[0]) or NODELOCAL_DNS_IP
    except ClusterApiError as exc:
        out.notes.append(str(exc))

    sa = Path(serviceaccount_dir) if serviceaccount_dir is not None else SERVICEACCOUNT_DIR
    pod_name = env.get("POD_NAME") or socket.gethostname()
    pod_ns = env.get("POD_NAMESPACE") or _read(sa / "namespace") or cluster.namespace
    try:
        me = cluster.get("pods", pod_name, pod_ns)
        spec = me.get("spec") or {}
        out.own_pod = f"{pod_ns}/{pod_name}"
        out.dns_policy = spec.get("dnsPolicy", "ClusterFirst")
        out.dns_config = spec.get("dnsConfig")
    except ClusterApiError as exc:
        out.notes.append(f"own pod {pod_ns}/{pod_name} not readable: {exc}")
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
