"""The cluster objects the ladder reasons about, indexed once: from a live API or a dump.

The ladder asks the same few questions many times (which pod has this IP, which pods does this
selector match, which slices belong to this Service), so :class:`Index` builds those indexes
when it is made; a 5,000-pod dump is then walked in well under a second. Index stay the plain
dicts the API serves, so nothing is lost between what ``kubectl get -o yaml`` wrote and what the
ladder shows.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import InputError

if TYPE_CHECKING:
    from netdebug_nb.k8s.client import Cluster
    from netdebug_nb.k8s.netpol import Engine
    from netdebug_nb.k8s.objects import Objects

Obj = dict[str, Any]


class NotInClusterError(InputError):
    """A pod, Service or namespace the objects do not have; the message lists the nearest names."""

    def __init__(self, what: str, name: str, near: Iterable[str]) -> None:
        close = list(near)
        hint = f"; nearest: {', '.join(close)}" if close else ""
        super().__init__(what, f"no {what} {name!r}{hint}")
        self.name = name
        self.near = close


def key(obj: Obj) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


def ref(kind: str, obj: Obj) -> str:
    """``pod payments/api-0`` — how objects are named in step rows."""
    ns, name = key(obj)
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def pod_ips(pod: Obj) -> list[str]:
    st = pod.get("status") or {}
    ips = [x["ip"] for x in st.get("podIPs") or [] if x.get("ip")]
    return ips or ([st["podIP"]] if st.get("podIP") else [])


def pod_ready(pod: Obj) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    if ready is not None:
        return bool(ready.get("status") == "True")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(c.get("ready") for c in statuses)


def host_network(pod: Obj) -> bool:
    return bool((pod.get("spec") or {}).get("hostNetwork"))


def selector_matches(selector: Mapping[str, str], have: Mapping[str, str]) -> bool:
    """A Service selector (equality only): every pair present."""
    return all(have.get(k) == v for k, v in selector.items())


@dataclass
class Index:
    """Everything the ladder needs, as served, plus indexes. ``source`` says where it came from."""

    namespaces: dict[str, Obj] = field(default_factory=dict)
    pods: dict[tuple[str, str], Obj] = field(default_factory=dict)
    services: dict[tuple[str, str], Obj] = field(default_factory=dict)
    slices: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)  # (ns, service) → slices
    endpoints: dict[tuple[str, str], Obj] = field(default_factory=dict)  # legacy Endpoints
    policies: list[Obj] = field(default_factory=list)
    nodes: dict[str, Obj] = field(default_factory=dict)
    other_policies: list[str] = field(default_factory=list)  # "CiliumNetworkPolicy payments/x"
    ignored_kinds: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    source: str = ""
    pods_by_ip: dict[str, Obj] = field(default_factory=dict)
    services_by_ip: dict[str, Obj] = field(default_factory=dict)
    pods_by_ns: dict[str, list[Obj]] = field(default_factory=dict)
    objects: Objects | None = None  # what was read, for the NetworkPolicy engine
    _engine: Engine | None = None

    def __repr__(self) -> str:  # the objects themselves would fill a screen
        return f"Index({self.summary()})"

    def engine(self) -> Engine:
        """The NetworkPolicy engine, compiled once for this index."""
        from netdebug_nb.k8s import netpol
        from netdebug_nb.k8s.objects import Objects

        if self._engine is None:
            self._engine = netpol.compile(self.objects if self.objects is not None else Objects())
        return self._engine

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        self.pods_by_ip = {}
        self.pods_by_ns = {}
        for p in self.pods.values():
            self.pods_by_ns.setdefault(key(p)[0], []).append(p)
            phase = (p.get("status") or {}).get("phase")
            if host_network(p) or phase in ("Succeeded", "Failed"):
                continue
            for ip in pod_ips(p):
                self.pods_by_ip[ip] = p
        self.services_by_ip = {}
        for s in self.services.values():
            spec = s.get("spec") or {}
            for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
                if ip and ip != "None":
                    self.services_by_ip[ip] = s
        if not self.namespaces:
            names = {k[0] for k in self.pods} | {k[0] for k in self.services}
            self.namespaces = {n: {"metadata": {"name": n}} for n in names if n}

    # --- lookups that fail with the nearest names -------------------------------------------

    def namespace(self, name: str) -> Obj:
        if name in self.namespaces:
            return self.namespaces[name]
        raise NotInClusterError("namespace", name, _near(name, self.namespaces))

    def pod(self, ns: str, name: str) -> Obj:
        found = self.pods.get((ns, name))
        if found is not None:
            return found
        self.namespace(ns)
        return self._missing("pod", ns, name, [k[1] for k in self.pods if k[0] == ns])

    def service(self, ns: str, name: str) -> Obj:
        found = self.services.get((ns, name))
        if found is not None:
            return found
        self.namespace(ns)
        return self._missing("service", ns, name, [k[1] for k in self.services if k[0] == ns])

    def _missing(self, what: str, ns: str, name: str, names: list[str]) -> Obj:
        near = [f"{ns}/{n}" for n in _near(name, names)]
        raise NotInClusterError(what, f"{ns}/{name}", near)

    def namespace_labels(self, ns: str) -> dict[str, str]:
        got = labels(self.namespaces.get(ns) or {})
        got.setdefault("kubernetes.io/metadata.name", ns)
        return got

    def service_slices(self, ns: str, name: str) -> list[Obj]:
        return self.slices.get((ns, name), [])

    def summary(self) -> str:
        n_slices = sum(len(v) for v in self.slices.values())
        return (
            f"{len(self.namespaces)} namespaces, {len(self.pods)} pods, {len(self.services)} services, "
            f"{n_slices} endpointslices, {len(self.policies)} networkpolicies, {len(self.nodes)} nodes"
            + (f" ({self.source})" if self.source else "")
        )


def _near(name: str, names: Iterable[str], n: int = 3) -> list[str]:
    pool = sorted(set(names))
    close = difflib.get_close_matches(name, pool, n=n, cutoff=0.5)
    if not close:
        close = [x for x in pool if x.startswith(name[:3])][:n] if name else []
    return close or pool[:n]


def from_objects(objs: Objects) -> Index:
    """Index what :mod:`netdebug_nb.k8s.objects` read (a dump or a live cluster)."""
    from netdebug_nb.k8s.objects import other_policy_name

    out = Index(
        source=", ".join(objs.sources[:3]) + (f" (+{len(objs.sources) - 3})" if len(objs.sources) > 3 else "")
    )
    out.objects = objs
    for n in objs.namespaces:
        out.namespaces[key(n)[1]] = n
    for p in objs.pods:
        out.pods[key(p)] = p
    for s in objs.services:
        out.services[key(s)] = s
    for sl in objs.endpointslices:
        svc = labels(sl).get("kubernetes.io/service-name", "")
        out.slices.setdefault((key(sl)[0], svc), []).append(sl)
    for e in objs.endpoints:
        out.endpoints[key(e)] = e
    for n in objs.nodes:
        out.nodes[key(n)[1]] = n
    for (ns, name), ep in out.endpoints.items():
        if (ns, name) not in out.slices:  # an older dump or cluster: the Endpoints object as a slice
            out.slices[(ns, name)] = [slice_from_endpoints(ep)]
    out.policies = list(objs.networkpolicies)
    out.other_policies = [other_policy_name(o) for o in objs.other_policies]
    out.notes = list(objs.warnings) + ([objs.unsupported_line()] if objs.unsupported else [])
    out.reindex()
    return out


def slice_from_endpoints(ep: Obj) -> Obj:
    """A legacy ``Endpoints`` object in EndpointSlice shape (ready and not-ready addresses, ports),
    so the Service rung reads one kind. Its name says where it came from."""
    ns, name = key(ep)
    endpoints: list[Obj] = []
    ports: list[Obj] = []
    for subset in ep.get("subsets") or []:
        ports = ports or list(subset.get("ports") or [])
        for ready, field_ in ((True, "addresses"), (False, "notReadyAddresses")):
            for a in subset.get(field_) or []:
                e: Obj = {"addresses": [a.get("ip")], "conditions": {"ready": ready}}
                if a.get("nodeName"):
                    e["nodeName"] = a["nodeName"]
                if a.get("targetRef"):
                    e["targetRef"] = a["targetRef"]
                endpoints.append(e)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name} (Endpoints)",
            "namespace": ns,
            "labels": {"kubernetes.io/service-name": name},
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }


def from_items(items: Iterable[Obj], source: str = "objects") -> Index:
    """Index API objects given in memory (tests, notebooks that built their own)."""
    from netdebug_nb.k8s.objects import Objects

    objs = Objects(sources=[source])
    for obj in items:
        objs.add(obj)
    return from_objects(objs)


def read(path: str | Path) -> Index:
    """A file or directory of YAML/JSON manifests, as ``kubectl get ... -A -o yaml`` writes them."""
    from netdebug_nb.k8s import objects

    return from_objects(objects.read(path))


def collect(cluster: Cluster) -> Index:
    """The same objects from a live cluster (RBAC refusals become notes)."""
    from netdebug_nb.k8s import objects

    return from_objects(objects.collect(cluster))
