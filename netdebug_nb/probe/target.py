"""What the endpoint prober probes: URLs, gRPC and TCP endpoints, and Kubernetes Services.

A Service (``service:NAMESPACE/NAME[:PORT]``) becomes one target per backend: its ClusterIP and
every ready endpoint, each reached directly while the Host header, SNI and gRPC authority stay the
Service's DNS name (``curl --connect-to`` semantics), so "one pod of three is slow" shows as one
backend of one target. Bad entries never stop the others: :func:`parse` raises a one-line
:class:`TargetError`; :func:`expand` turns each problem into a note and goes on.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from netdebug_nb import schema
from netdebug_nb.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.k8s.client import Cluster

PROTOCOLS = ("http", "https", "grpc", "grpcs", "tcp")
DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 50051, "grpcs": 443}
SPEC_HELP = "http://…, https://…, grpc://HOST:PORT, grpcs://HOST:PORT, tcp://HOST:PORT or service:NAMESPACE/NAME[:PORT]"

TARGETS_SCHEMA: schema.Schema = {
    "target": "string",  # the entry as written in the targets parameter
    "protocol": "string",  # http | https | grpc | grpcs | tcp
    "url": "string",  # what is requested: a URL, or HOST:PORT for grpc/tcp
    "host": "string",  # Host header / SNI / gRPC authority
    "port": "Int64",
    "backend": "string",  # address connected to instead of resolving host; <NA>: as DNS says
    "backend_port": "Int64",
    "backend_kind": "string",  # direct | clusterip | endpoint
    "backend_name": "string",  # the endpoint's pod, "ClusterIP", or <NA>
    "node": "string",  # the endpoint's node
}


class TargetError(InputError):
    """A target entry that cannot be probed (malformed, unknown scheme, bad port)."""

    def __init__(self, spec: str, reason: str) -> None:
        self.spec = spec
        super().__init__(f"target {spec!r}", reason)


@dataclass(frozen=True)
class Target:
    """One thing to probe over one path: a name (Host/SNI) and, optionally, the address to use."""

    target: str
    protocol: str
    url: str
    host: str
    port: int
    backend: str | None = None
    backend_port: int | None = None
    backend_kind: str = "direct"
    backend_name: str | None = None
    node: str | None = None
    health_service: str = ""  # grpc: the service name asked in grpc.health.v1 ("" = the server)

    @property
    def key(self) -> tuple[str, str]:
        """(target, backend): the unit a schedule runs trials for serially."""
        return (self.target, self.backend or "")

    def row(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in TARGETS_SCHEMA}


@dataclass
class Expansion:
    """Targets to probe, in the order given, and one line per entry that could not be used."""

    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def frame(self) -> pd.DataFrame:
        return schema.frame([t.row() for t in self.targets], TARGETS_SCHEMA)


_SERVICE = re.compile(
    r"^(?:service|svc):(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)(?::(?P<port>[\w-]+))?$"
)


def is_service(spec: str) -> bool:
    return spec.strip().lower().startswith(("service:", "svc:"))


def parse(spec: str) -> Target:
    """A URL-like target (not a Service) → :class:`Target`; :class:`TargetError` when unusable."""
    text = spec.strip()
    if not text:
        raise TargetError(spec, "empty")
    if any(c.isspace() or ord(c) < 32 for c in text):
        raise TargetError(spec, "contains whitespace or control characters")
    scheme, sep, _ = text.partition("://")
    if not sep:
        raise TargetError(spec, f"no scheme; expected {SPEC_HELP}")
    scheme = scheme.lower()
    if scheme not in PROTOCOLS:
        raise TargetError(spec, f"unknown scheme {scheme!r}; expected {SPEC_HELP}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise TargetError(spec, f"malformed URL: {exc}") from exc
    host = parts.hostname or ""
    if not host:
        raise TargetError(spec, "malformed URL: no host")
    if not _valid_host(host):
        raise TargetError(spec, f"malformed URL: {host!r} is not a host name or IP address")
    if port is None:
        if scheme == "tcp":
            raise TargetError(spec, "tcp:// needs a port (tcp://HOST:PORT)")
        port = DEFAULT_PORTS[scheme]
    if port == 0:
        raise TargetError(spec, "port 0 cannot be probed")
    if scheme in ("http", "https"):
        return Target(text, scheme, text, host, port)
    service = parts.path.strip("/") if scheme in ("grpc", "grpcs") else ""
    return Target(text, scheme, f"{_bracket(host)}:{port}", host, port, health_service=service)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return bool(
        re.fullmatch(r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,62}))*\.?", host)
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def via(t: Target, backend: str, backend_port: int, kind: str, name: str | None, node: str | None) -> Target:
    """``t`` reached at ``backend:backend_port`` with its name unchanged (curl --connect-to)."""
    return replace(
        t, backend=backend, backend_port=backend_port, backend_kind=kind, backend_name=name, node=node
    )


def expand(
    specs: Sequence[str],
    *,
    kubeconfig: str = "",
    context: str = "",
    cluster_domain: str = "cluster.local",
    service_scheme: str = "auto",
    service_path: str = "/",
    timeout_s: float = 5.0,
) -> Expansion:
    """Every entry of ``specs`` as targets; Services through the Kubernetes API (connected once)."""
    out = Expansion()
    cluster: Cluster | None = None
    cluster_error = ""
    for spec in (str(s) for s in specs):
        if not spec.strip():
            continue
        if not is_service(spec):
            try:
                out.targets.append(parse(spec))
            except TargetError as exc:
                out.notes.append(str(exc))
            continue
        m = _SERVICE.match(spec.strip())
        if not m:
            out.notes.append(str(TargetError(spec, "expected service:NAMESPACE/NAME[:PORT]")))
            continue
        if cluster is None and not cluster_error:
            from netdebug_nb.errors import ClusterError
            from netdebug_nb.k8s import client

            try:
                cluster = client.connect(kubeconfig, context, timeout_s=timeout_s)
            except ClusterError as exc:
                cluster_error = str(exc)
        if cluster is None:
            out.notes.append(f"target {spec!r}: not expanded, no Kubernetes API: {cluster_error}")
            continue
        found, notes = service_targets(
            cluster,
            spec.strip(),
            m["ns"],
            m["name"],
            m["port"] or "",
            cluster_domain=cluster_domain,
            scheme=service_scheme,
            path=service_path,
        )
        out.targets += found
        out.notes += notes
    return out


def service_targets(
    cluster: Cluster,
    spec: str,
    namespace: str,
    name: str,
    port: str,
    *,
    cluster_domain: str = "cluster.local",
    scheme: str = "auto",
    path: str = "/",
) -> tuple[list[Target], list[str]]:
    """The Service's ClusterIP and each ready endpoint as targets (the I/O half of :func:`expand`)."""
    from netdebug_nb.errors import ClusterError
    from netdebug_nb.k8s.client import ClusterNotFoundError

    try:
        svc = cluster.get("services", name, namespace)
    except ClusterNotFoundError:
        return [], [f"target {spec!r}: no service {namespace}/{name}"]
    except ClusterError as exc:
        return [], [f"target {spec!r}: {exc}"]
    try:
        slices = cluster.list(
            "endpointslices", namespace=namespace, label_selector=f"kubernetes.io/service-name={name}"
        )
        eps = _slice_endpoints(slices)
    except ClusterError:
        try:
            legacy = cluster.list("endpoints", namespace=namespace, field_selector=f"metadata.name={name}")
            eps = [e for ep in legacy for e in _legacy_endpoints(ep)]
        except ClusterError as exc:
            return [], [f"target {spec!r}: endpoints not readable: {exc}"]
    return backends(spec, svc, eps, port, cluster_domain=cluster_domain, scheme=scheme, path=path)


def backends(
    spec: str,
    svc: Mapping[str, Any],
    endpoints: Sequence[Mapping[str, Any]],
    port: str = "",
    *,
    cluster_domain: str = "cluster.local",
    scheme: str = "auto",
    path: str = "/",
) -> tuple[list[Target], list[str]]:
    """Pure: a Service object and its endpoints (``{ip, ready, ports: {name: port}, pod, node}``) →
    targets for the ClusterIP and every ready endpoint, plus notes."""
    meta, sp = svc.get("metadata") or {}, svc.get("spec") or {}
    ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    ports = list(sp.get("ports") or [])
    notes: list[str] = []
    if not ports:
        return [], [f"target {spec!r}: service {ns}/{name} has no ports"]
    chosen = (
        ports[0]
        if not port
        else next((p for p in ports if str(p.get("port")) == port or p.get("name") == port), None)
    )
    if chosen is None:
        have = ", ".join(f"{p.get('name') or ''} {p.get('port')}".strip() for p in ports)
        return [], [f"target {spec!r}: service {ns}/{name} has no port {port} (ports: {have})"]
    if str(chosen.get("protocol", "TCP")).upper() != "TCP":
        return [], [
            f"target {spec!r}: port {chosen.get('port')} is {chosen.get('protocol')}, only TCP can be probed"
        ]
    proto = scheme if scheme != "auto" else _guess_scheme(chosen)
    if proto not in PROTOCOLS:
        return [], [f"target {spec!r}: service_scheme {scheme!r} is not one of auto, {', '.join(PROTOCOLS)}"]
    svc_port = int(chosen["port"])
    host = f"{name}.{ns}.svc.{cluster_domain}".rstrip(".")
    if proto in ("http", "https"):
        default = DEFAULT_PORTS[proto]
        url = f"{proto}://{host}{'' if svc_port == default else f':{svc_port}'}{path if path.startswith('/') else '/' + path}"
    else:
        url = f"{host}:{svc_port}"
    base = Target(spec, proto, url, host, svc_port)
    out: list[Target] = []
    cluster_ip = sp.get("clusterIP")
    if cluster_ip and cluster_ip != "None":
        out.append(via(base, str(cluster_ip), svc_port, "clusterip", "ClusterIP", None))
    port_name = chosen.get("name") or ""
    target_port = chosen.get("targetPort", svc_port)
    ready = [e for e in endpoints if e.get("ready")]
    for e in ready:
        eport = _endpoint_port(e.get("ports") or {}, port_name, target_port)
        if eport is None:
            notes.append(
                f"target {spec!r}: endpoint {e.get('ip')} has no port for {port_name or svc_port}; skipped"
            )
            continue
        out.append(via(base, str(e["ip"]), eport, "endpoint", e.get("pod"), e.get("node")))
    not_ready = len(endpoints) - len(ready)
    if not ready:
        where = "probing the ClusterIP only" if out else "nothing to probe (headless, no ClusterIP)"
        notes.append(f"target {spec!r}: service {ns}/{name} has no ready endpoints; {where}")
    elif not_ready:
        notes.append(f"target {spec!r}: {not_ready} endpoint(s) not ready, not probed")
    return out, notes


def _guess_scheme(port: Mapping[str, Any]) -> str:
    hint = str(port.get("appProtocol") or port.get("name") or "").lower()
    for prefix, proto in (("grpcs", "grpcs"), ("grpc", "grpc"), ("https", "https"), ("kubernetes.io/h2c", "http"),
                          ("h2c", "http"), ("http", "http"), ("tls", "https")):  # fmt: skip
        if hint.startswith(prefix):
            return proto
    return "https" if int(port.get("port", 0)) in (443, 8443) else "http"


def _endpoint_port(ports: Mapping[str, int], port_name: str, target_port: object) -> int | None:
    if port_name in ports:
        return int(ports[port_name])
    if len(ports) == 1:
        return int(next(iter(ports.values())))
    if isinstance(target_port, int):
        return target_port
    return None


def _slice_endpoints(slices: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sl in slices:
        if sl.get("addressType") not in ("IPv4", "IPv6", None):
            continue
        ports = {str(p.get("name") or ""): int(p["port"]) for p in sl.get("ports") or [] if p.get("port")}
        for ep in sl.get("endpoints") or []:
            cond = ep.get("conditions") or {}
            ready = cond.get("ready")
            ready = (not cond.get("terminating")) if ready is None else bool(ready)
            ref = ep.get("targetRef") or {}
            for ip in ep.get("addresses") or []:
                if ip in seen:
                    continue
                seen.add(ip)
                out.append(
                    {
                        "ip": ip,
                        "ready": ready,
                        "ports": ports,
                        "pod": ref.get("name"),
                        "node": ep.get("nodeName"),
                    }
                )
    return out


def _legacy_endpoints(ep: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for subset in ep.get("subsets") or []:
        ports = {str(p.get("name") or ""): int(p["port"]) for p in subset.get("ports") or [] if p.get("port")}
        for ready, key in ((True, "addresses"), (False, "notReadyAddresses")):
            for a in subset.get(key) or []:
                ref = a.get("targetRef") or {}
                out.append(
                    {
                        "ip": a.get("ip"),
                        "ready": ready,
                        "ports": ports,
                        "pod": ref.get("name"),
                        "node": a.get("nodeName"),
                    }
                )
    return out
