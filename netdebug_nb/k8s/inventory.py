"""The cluster's pods, services, endpoints and nodes as DataFrames with declared schemas.

:func:`collect` does the I/O (paginated list calls through :class:`~.client.Cluster`); the
``pods``/``services``/``endpoint_slices``/``endpoints``/``nodes`` functions are pure: API objects
(plain dicts, as served) → frame, so they are tested from recorded objects. A refusal by RBAC for
one resource keeps the others (a namespaced Role cannot list nodes; that should cost the node
names, not the whole inventory) and is reported in :attr:`Inventory.warnings`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.k8s.client import Cluster

PODS_SCHEMA: schema.Schema = {
    "namespace": "string",
    "name": "string",
    "node": "string",  # <NA> while unscheduled
    "phase": "string",  # Pending | Running | Succeeded | Failed | Unknown
    "ready": "boolean",  # every container ready
    "restarts": "Int64",  # summed over containers
    "host_network": "boolean",  # the pod's IPs are its node's IPs
    "pod_ip": "string",  # primary IP; <NA> before the pod has one
    "pod_ips": "object",  # list[str], both families on dual-stack clusters
    "host_ip": "string",
    "owner_kind": "string",  # ReplicaSet, DaemonSet, StatefulSet, Job, Node (static pod) ...
    "owner_name": "string",
    "workload": "string",  # owner with a Deployment's pod-template-hash removed: api-7d9f8b6c5 → api
    "dns_policy": "string",
    "labels": "object",  # dict[str, str]
    "created": "datetime64[ns, UTC]",
}

SERVICES_SCHEMA: schema.Schema = {
    "namespace": "string",
    "name": "string",
    "type": "string",  # ClusterIP | NodePort | LoadBalancer | ExternalName
    "cluster_ip": "string",  # "None" for headless services, as the API says
    "cluster_ips": "object",  # list[str]; empty for headless
    "external_ips": "object",  # list[str]: spec.externalIPs and load-balancer ingress IPs
    "headless": "boolean",
    "ports": "string",  # "dns 53/UDP→53, metrics 9153/TCP→9153"
    "selector": "object",  # dict[str, str]; {} when endpoints are managed by hand
}

ENDPOINTS_SCHEMA: schema.Schema = {
    "namespace": "string",
    "service": "string",
    "source": "string",  # EndpointSlice | Endpoints (fallback when slices are not readable)
    "slice": "string",  # name of the EndpointSlice / Endpoints object
    "address_type": "string",  # IPv4 | IPv6 | FQDN
    "ip": "string",
    "ready": "boolean",
    "serving": "boolean",
    "terminating": "boolean",
    "node": "string",
    "target_kind": "string",  # usually Pod
    "target_namespace": "string",
    "target_name": "string",
    "ports": "string",  # "dns 53/UDP, metrics 9153/TCP"
}

NODES_SCHEMA: schema.Schema = {
    "name": "string",
    "internal_ip": "string",  # first InternalIP
    "internal_ips": "object",  # list[str]; dual-stack nodes have one per family
    "external_ip": "string",
    "external_ips": "object",  # list[str]
    "pod_cidrs": "object",  # list[str] from spec.podCIDRs
    "ready": "boolean",  # <NA> when the Ready condition is Unknown (kubelet silent)
    "conditions": "object",  # dict condition type → "True" | "False" | "Unknown"
    "problems": "string",  # unhealthy conditions with their message; "" when healthy
    "roles": "string",  # from node-role.kubernetes.io/<role> labels
    "zone": "string",
    "kubelet_version": "string",
    "os_image": "string",
    "kernel_version": "string",
    "labels": "object",
}


@dataclass
class Inventory:
    """One read of the cluster. ``warnings`` says what could not be read and why (one line each)."""

    pods: pd.DataFrame
    services: pd.DataFrame
    endpoints: pd.DataFrame
    nodes: pd.DataFrame
    cluster: str = ""  # Cluster.describe()
    namespace: str | None = None  # the filter used (None: all namespaces)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        scope = f"namespace {self.namespace!r}" if self.namespace else "all namespaces"
        return (
            f"{len(self.pods)} pods, {len(self.services)} services, {len(self.endpoints)} endpoints, "
            f"{len(self.nodes)} nodes ({scope})"
        )


def empty(namespace: str | None = None, warnings: Iterable[str] = ()) -> Inventory:
    """An inventory with no rows (what enrichment uses when there is no cluster)."""
    return Inventory(
        pods=schema.empty(PODS_SCHEMA),
        services=schema.empty(SERVICES_SCHEMA),
        endpoints=schema.empty(ENDPOINTS_SCHEMA),
        nodes=schema.empty(NODES_SCHEMA),
        namespace=namespace,
        warnings=list(warnings),
    )


# --- pure: API objects → frames ----------------------------------------------------------


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("metadata") or {}


def _owner(meta: dict[str, Any]) -> tuple[str | None, str | None]:
    refs = meta.get("ownerReferences") or []
    ref = next((r for r in refs if r.get("controller")), refs[0] if refs else None)
    return (ref.get("kind"), ref.get("name")) if ref else (None, None)


def _workload(kind: str | None, name: str | None, labels: dict[str, str], pod_name: str) -> str:
    if kind == "ReplicaSet" and name:
        h = labels.get("pod-template-hash")
        if h and name.endswith("-" + h):
            return name[: -len(h) - 1]
        return name
    if kind in ("Node", None):
        return pod_name  # static or bare pod: it is its own workload
    return name or pod_name


def pods(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for p in items:
        meta, spec, st = _meta(p), p.get("spec") or {}, p.get("status") or {}
        labels = dict(meta.get("labels") or {})
        kind, owner = _owner(meta)
        ips = [x["ip"] for x in st.get("podIPs") or [] if x.get("ip")]
        if not ips and st.get("podIP"):
            ips = [st["podIP"]]
        statuses = st.get("containerStatuses") or []
        rows.append(
            {
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
                "node": spec.get("nodeName"),
                "phase": st.get("phase"),
                "ready": bool(statuses) and all(c.get("ready") for c in statuses),
                "restarts": sum(int(c.get("restartCount") or 0) for c in statuses),
                "host_network": bool(spec.get("hostNetwork")),
                "pod_ip": ips[0] if ips else None,
                "pod_ips": ips,
                "host_ip": st.get("hostIP"),
                "owner_kind": kind,
                "owner_name": owner,
                "workload": _workload(kind, owner, labels, meta.get("name") or ""),
                "dns_policy": spec.get("dnsPolicy"),
                "labels": labels,
                "created": meta.get("creationTimestamp"),
            }
        )
    return schema.frame(rows, PODS_SCHEMA)


def _port_text(ports: Iterable[dict[str, Any]], *, target: bool) -> str:
    out = []
    for p in ports:
        name = f"{p['name']} " if p.get("name") else ""
        text = f"{name}{p.get('port')}/{p.get('protocol', 'TCP')}"
        if target and p.get("targetPort") is not None:
            text += f"→{p['targetPort']}"
        out.append(text)
    return ", ".join(out)


def services(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for s in items:
        meta, spec, st = _meta(s), s.get("spec") or {}, s.get("status") or {}
        cluster_ip = spec.get("clusterIP")
        ips = [ip for ip in spec.get("clusterIPs") or ([cluster_ip] if cluster_ip else []) if ip != "None"]
        ext = list(spec.get("externalIPs") or [])
        ext += [i["ip"] for i in (st.get("loadBalancer") or {}).get("ingress") or [] if i.get("ip")]
        rows.append(
            {
                "namespace": meta.get("namespace"),
                "name": meta.get("name"),
                "type": spec.get("type", "ClusterIP"),
                "cluster_ip": cluster_ip,
                "cluster_ips": ips,
                "external_ips": ext,
                "headless": cluster_ip == "None",
                "ports": _port_text(spec.get("ports") or [], target=True),
                "selector": dict(spec.get("selector") or {}),
            }
        )
    return schema.frame(rows, SERVICES_SCHEMA)


def endpoint_slices(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for sl in items:
        meta = _meta(sl)
        service = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        ports = _port_text(sl.get("ports") or [], target=False)
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            ref = ep.get("targetRef") or {}
            ready = cond.get("ready")
            for ip in ep.get("addresses") or []:
                rows.append(
                    {
                        "namespace": meta.get("namespace"),
                        "service": service,
                        "source": "EndpointSlice",
                        "slice": meta.get("name"),
                        "address_type": sl.get("addressType"),
                        "ip": ip,
                        # the API says: nil ready means ready, unless terminating
                        "ready": True if ready is None and not cond.get("terminating") else bool(ready),
                        "serving": cond.get("serving", ready if ready is not None else True),
                        "terminating": bool(cond.get("terminating")),
                        "node": ep.get("nodeName"),
                        "target_kind": ref.get("kind"),
                        "target_namespace": ref.get("namespace"),
                        "target_name": ref.get("name"),
                        "ports": ports,
                    }
                )
    return schema.frame(rows, ENDPOINTS_SCHEMA)


def endpoints(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Legacy ``Endpoints`` objects, in the EndpointSlice frame's shape."""
    rows = []
    for e in items:
        meta = _meta(e)
        for subset in e.get("subsets") or []:
            ports = _port_text(subset.get("ports") or [], target=False)
            for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
                for a in subset.get(key) or []:
                    ref = a.get("targetRef") or {}
                    ip = a.get("ip") or ""
                    rows.append(
                        {
                            "namespace": meta.get("namespace"),
                            "service": meta.get("name"),
                            "source": "Endpoints",
                            "slice": meta.get("name"),
                            "address_type": "IPv6" if ":" in ip else "IPv4",
                            "ip": ip,
                            "ready": ready,
                            "serving": ready,
                            "terminating": False,
                            "node": a.get("nodeName"),
                            "target_kind": ref.get("kind"),
                            "target_namespace": ref.get("namespace"),
                            "target_name": ref.get("name"),
                            "ports": ports,
                        }
                    )
    return schema.frame(rows, ENDPOINTS_SCHEMA)


_HEALTHY = {"Ready": "True"}  # every other standard condition is healthy when "False"


def nodes(items: Iterable[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for n in items:
        meta, spec, st = _meta(n), n.get("spec") or {}, n.get("status") or {}
        labels = dict(meta.get("labels") or {})
        addrs = st.get("addresses") or []
        internal = [a["address"] for a in addrs if a.get("type") == "InternalIP"]
        external = [a["address"] for a in addrs if a.get("type") == "ExternalIP"]
        conds = {c["type"]: c.get("status", "Unknown") for c in st.get("conditions") or []}
        problems = [
            f"{c['type']}={c.get('status')}" + (f" ({c['message']})" if c.get("message") else "")
            for c in st.get("conditions") or []
            if c.get("status") != _HEALTHY.get(c["type"], "False")
        ]
        ready = conds.get("Ready")
        info = st.get("nodeInfo") or {}
        roles = sorted(k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/"))
        rows.append(
            {
                "name": meta.get("name"),
                "internal_ip": internal[0] if internal else None,
                "internal_ips": internal,
                "external_ip": external[0] if external else None,
                "external_ips": external,
                "pod_cidrs": list(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])),
                "ready": None if ready in (None, "Unknown") else ready == "True",
                "conditions": conds,
                "problems": "; ".join(problems),
                "roles": ",".join(roles),
                "zone": labels.get("topology.kubernetes.io/zone"),
                "kubelet_version": info.get("kubeletVersion"),
                "os_image": info.get("osImage"),
                "kernel_version": info.get("kernelVersion"),
                "labels": labels,
            }
        )
    return schema.frame(rows, NODES_SCHEMA)


# --- I/O ---------------------------------------------------------------------------------


def collect(
    cluster: Cluster,
    namespace: str | None = None,
    *,
    label_selector: str = "",
    limit: int = 500,
) -> Inventory:
    """Read pods, services, endpoints (EndpointSlices, else Endpoints) and nodes.

    ``namespace`` restricts the namespaced resources (nodes are always cluster-wide);
    ``label_selector`` applies to pods only. Unreachable clusters raise; RBAC refusals and
    unserved resources become warnings with an empty frame.
    """
    from netdebug_nb.k8s.client import ClusterApiError

    warnings: list[str] = []

    def read(resource: str, **kw: Any) -> list[dict[str, Any]] | None:
        try:
            return cluster.list(resource, limit=limit, **kw)
        except ClusterApiError as exc:
            warnings.append(str(exc))
            return None

    ns = namespace or None
    pod_items = read("pods", namespace=ns, label_selector=label_selector) or []
    svc_items = read("services", namespace=ns) or []
    slice_items = read("endpointslices", namespace=ns)
    if slice_items is not None:
        eps = endpoint_slices(slice_items)
    else:
        legacy = read("endpoints", namespace=ns)
        eps = endpoints(legacy or [])
        if legacy is not None:
            warnings.append("EndpointSlices not readable: used the legacy Endpoints API instead")
    node_items = read("nodes") or []
    return Inventory(
        pods=pods(pod_items),
        services=services(svc_items),
        endpoints=eps,
        nodes=nodes(node_items),
        cluster=cluster.describe(),
        namespace=ns,
        warnings=warnings,
    )
