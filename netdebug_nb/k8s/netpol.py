"""Kubernetes NetworkPolicy (networking.k8s.io/v1) evaluated without a cluster: sans-I/O.

"Connection timed out inside the cluster" is very often a NetworkPolicy, and answering it by
reading YAML is slow and error-prone: isolation is per direction, the source's egress AND the
destination's ingress must both allow, rules are a union, one peer with both selectors is an AND
but two peers are an OR, named ports resolve on the destination pod. This module implements
those semantics once; the service path ladder asks it about one connection
(:meth:`Engine.allows`) and the truth table (:mod:`.policymatrix`) about every pair.

Usage::

    from netdebug_nb.k8s import netpol, objects

    engine = netpol.compile(objects.read("dump.yaml"))     # or netpol.Engine(pods, namespaces, policies)
    web, api = engine.pod("shop/web"), engine.pod("payments/api")
    v = engine.allows(netpol.Traffic(web, api, 8080))       # protocol "TCP" by default
    v.status            # "allowed" | "denied" | "unknown"
    v.egress.status     # "allowed" | "denied" | "not_evaluated", likewise v.ingress
    v.ingress.policies  # ("payments/default-deny", "payments/allow-web"): policies isolating api
    v.ingress.allowed_by  # (RuleRef("payments/allow-web", "ingress", 0),) or ()
    v.ingress.reason    # "no rule of policies payments/default-deny allows TCP/8080 from shop/web (…)"
    v.findings()        # [Finding("netpol.ingress_denied", "critical", ...)] for findings.record(**f.kwargs())

    # traffic to a Service: judge each backend pod on its targetPort (not the ClusterIP)
    for backend, port in engine.backends(service_obj, 80):   # named targetPorts resolved per pod
        engine.allows(netpol.Traffic(web, backend, port))

A source or destination that is not a pod is an IP address string (only ``ipBlock`` peers can
match it); an IP that belongs to a known pod is treated as that pod.

What depends on the CNI is marked, not guessed (``certain=False``, status ``not_evaluated``,
with a note): policies selecting ``hostNetwork`` pods, traffic from a ``hostNetwork`` pod on
another node, and connections allowed only because an ``ipBlock`` contains an in-cluster pod IP
(Calico matches them; Cilium's CIDR rules do not select cluster endpoints). ``allowed`` still gives the answer under the common
assumptions (a hostNetwork pod is treated like any pod; ipBlock matches pod IPs), which is what
the truth table shows. Policies of other kinds (CiliumNetworkPolicy, Calico, AdminNetworkPolicy)
are listed in :attr:`Verdict.other_policies` and make an otherwise allowed verdict ``unknown``.

Findings a caller records from a verdict: ``netpol.egress_denied``, ``netpol.ingress_denied``,
``netpol.not_evaluated`` (:meth:`Verdict.findings`).
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from netdebug_nb.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from netdebug_nb.k8s.objects import Objects

    BoolArray = npt.NDArray[np.bool_]

INGRESS, EGRESS = "ingress", "egress"
PROTOCOLS = ("TCP", "UDP", "SCTP")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set on every namespace since 1.22

Direction = Literal["ingress", "egress"]
DirectionStatus = Literal["allowed", "denied", "not_evaluated"]
VerdictStatus = Literal["allowed", "denied", "unknown"]


class NetpolError(InputError):
    """A policy, pod or name the engine cannot use (the message names which and why)."""


# --- the cluster as the engine sees it ----------------------------------------------------


@dataclass(frozen=True)
class ContainerPort:
    name: str  # "" when unnamed
    port: int
    protocol: str = "TCP"


@dataclass(frozen=True, eq=False)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    ips: tuple[str, ...] = ()
    host_network: bool = False
    container_ports: tuple[ContainerPort, ...] = ()
    node: str = ""
    phase: str = ""  # Pending | Running | Succeeded | Failed | Unknown ("" when not known)

    @property
    def terminated(self) -> bool:
        """Succeeded or Failed: no sandbox, no network, nothing to connect to or from."""
        return self.phase in ("Succeeded", "Failed")

    @property
    def key(self) -> str:
        """``ns/name``, how verdicts and the truth table name a pod."""
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Pod:
        meta, spec, st = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
        ips = tuple(x["ip"] for x in st.get("podIPs") or [] if x.get("ip"))
        if not ips and st.get("podIP"):
            ips = (str(st["podIP"]),)
        ports = tuple(
            ContainerPort(str(p.get("name") or ""), int(p["containerPort"]), str(p.get("protocol") or "TCP"))
            for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
            for p in c.get("ports") or []
            if p.get("containerPort") is not None
        )
        return cls(
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or ""),
            labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},  # YAML may say 1
            ips=ips,
            host_network=bool(spec.get("hostNetwork")),
            container_ports=ports,
            node=str(spec.get("nodeName") or ""),
            phase=str(st.get("phase") or ""),
        )

    def named_port(self, name: str, protocol: str = "TCP") -> int | None:
        """The number of the container port called ``name`` for ``protocol``, None if undeclared."""
        for p in self.container_ports:
            if p.name == name and p.protocol == protocol:
                return p.port
        return None

    def resolve_port(self, port: int | str, protocol: str = "TCP") -> int | None:
        """A Service targetPort (number, digit string or name) as a number on this pod."""
        if isinstance(port, int):
            return port
        if port.isdigit():
            return int(port)
        return self.named_port(port, protocol)


@dataclass(frozen=True)
class Traffic:
    """One connection attempt. An end given as a string is an IP address, not a pod."""

    source: Pod | str
    destination: Pod | str
    port: int
    protocol: str = "TCP"

    def describe(self) -> str:
        return f"{self.protocol}/{self.port} from {_name(self.source)} to {_name(self.destination)}"


def _name(end: Pod | str) -> str:
    return end.key if isinstance(end, Pod) else end


# --- compiled policies ---------------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist
    values: frozenset[str] = frozenset()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return labels.get(self.key) not in self.values  # an absent key is "not in"
        if self.operator == "Exists":
            return self.key in labels
        return self.key not in labels


@dataclass(frozen=True)
class Selector:
    """A compiled metav1.LabelSelector; no requirements selects everything."""

    requirements: tuple[Requirement, ...] = ()

    @classmethod
    def parse(cls, sel: Mapping[str, Any] | None, where: str) -> Selector:
        if sel is None:
            return cls()
        if not isinstance(sel, Mapping):
            raise NetpolError(where, f"label selector must be a mapping, got {sel!r}")
        reqs = [
            Requirement(str(k), "In", frozenset([str(v)])) for k, v in (sel.get("matchLabels") or {}).items()
        ]
        for e in sel.get("matchExpressions") or []:
            op = str(e.get("operator") or "")
            if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
                raise NetpolError(
                    where, f"matchExpressions operator {op!r} (valid: In, NotIn, Exists, DoesNotExist)"
                )
            values = frozenset(str(v) for v in e.get("values") or [])
            if op in ("In", "NotIn") and not values:
                raise NetpolError(where, f"matchExpressions {e.get('key')!r} {op} needs values")
            reqs.append(Requirement(str(e.get("key") or ""), op, values))
        return cls(tuple(reqs))

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)

    def mask(self, table: LabelTable) -> BoolArray:
        """Which rows of ``table`` match, vectorised (the truth table evaluates each selector once)."""
        import numpy as np

        out = np.ones(table.size, dtype=bool)
        for r in self.requirements:
            if r.operator in ("In", "NotIn"):
                m = np.zeros(table.size, dtype=bool)
                for v in r.values:
                    m |= table.equals(r.key, v)
                out &= m if r.operator == "In" else ~m
            else:
                m = table.has(r.key)
                out &= m if r.operator == "Exists" else ~m
        return out

    def __str__(self) -> str:
        if not self.requirements:
            return "{}"
        parts = []
        for r in self.requirements:
            if r.operator == "In" and len(r.values) == 1:
                parts.append(f"{r.key}={next(iter(r.values))}")
            elif r.operator in ("In", "NotIn"):
                parts.append(f"{r.key} {r.operator.lower()} ({','.join(sorted(r.values))})")
            else:
                parts.append(r.key if r.operator == "Exists" else f"!{r.key}")
        return ",".join(parts)


class LabelTable:
    """Labels of many objects indexed by key and value, so a selector costs one lookup per term."""

    def __init__(self, labels: Sequence[Mapping[str, str]]) -> None:
        import numpy as np

        self.size = len(labels)
        self._by_value: dict[tuple[str, str], list[int]] = {}
        self._by_key: dict[str, list[int]] = {}
        for i, lb in enumerate(labels):
            for k, v in lb.items():
                self._by_value.setdefault((k, v), []).append(i)
                self._by_key.setdefault(k, []).append(i)
        self._np = np

    def equals(self, key: str, value: str) -> BoolArray:
        m = self._np.zeros(self.size, dtype=bool)
        m[self._by_value.get((key, value), [])] = True
        return m

    def has(self, key: str) -> BoolArray:
        m = self._np.zeros(self.size, dtype=bool)
        m[self._by_key.get(key, [])] = True
        return m


@dataclass(frozen=True)
class IpBlock:
    cidr: str
    excepts: tuple[str, ...] = ()

    def networks(self) -> tuple[Any, tuple[Any, ...]]:
        return ipaddress.ip_network(self.cidr, strict=False), tuple(
            ipaddress.ip_network(e, strict=False) for e in self.excepts
        )

    def contains(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        net, excepts = self.networks()
        if addr.version != net.version or addr not in net:
            return False
        return not any(addr.version == e.version and addr in e for e in excepts)

    def __str__(self) -> str:
        return f"ipBlock {self.cidr}" + (f" except {', '.join(self.excepts)}" if self.excepts else "")


@dataclass(frozen=True)
class Peer:
    """One entry of ``from``/``to``. Both selectors in one peer: the pods must match both (AND)."""

    pod_selector: Selector | None = None
    namespace_selector: Selector | None = None
    ip_block: IpBlock | None = None

    def __str__(self) -> str:
        if self.ip_block is not None:
            return str(self.ip_block)
        parts = []
        if self.namespace_selector is not None:
            parts.append(f"namespaces {self.namespace_selector}")
        if self.pod_selector is not None:
            parts.append(f"pods {self.pod_selector}")
        return " and ".join(parts)


@dataclass(frozen=True)
class PortSpec:
    protocol: str = "TCP"
    port: int | None = None  # None with name None: every port of the protocol
    name: str | None = None  # a named port, resolved on the destination pod
    end_port: int | None = None

    def matches(self, protocol: str, port: int, destination: Pod | None) -> bool:
        if protocol != self.protocol:
            return False
        if self.name is not None:
            return destination is not None and destination.named_port(self.name, protocol) == port
        if self.port is None:
            return True
        if self.end_port is not None:
            return self.port <= port <= self.end_port
        return port == self.port

    def __str__(self) -> str:
        if self.name is not None:
            return f"{self.protocol}/{self.name}"
        if self.port is None:
            return f"{self.protocol}/*"
        if self.end_port is not None:
            return f"{self.protocol}/{self.port}-{self.end_port}"
        return f"{self.protocol}/{self.port}"


@dataclass(frozen=True)
class RuleRef:
    """Which rule: ``spec.ingress[index]`` or ``spec.egress[index]`` of ``policy`` (ns/name)."""

    policy: str
    direction: str
    index: int

    def __str__(self) -> str:
        return f"{self.policy} {self.direction}[{self.index}]"


@dataclass(frozen=True)
class Rule:
    ref: RuleRef
    peers: tuple[Peer, ...]  # empty: every source/destination
    ports: tuple[PortSpec, ...]  # empty: every port

    def ports_match(self, protocol: str, port: int, destination: Pod | None) -> bool:
        return not self.ports or any(p.matches(protocol, port, destination) for p in self.ports)

    def describe(self) -> str:
        who = "; ".join(str(p) for p in self.peers) if self.peers else "everyone"
        ports = ", ".join(str(p) for p in self.ports) if self.ports else "all ports"
        return f"{self.ref}: {'from' if self.ref.direction == INGRESS else 'to'} {who} on {ports}"


@dataclass(frozen=True)
class Policy:
    namespace: str
    name: str
    pod_selector: Selector
    types: frozenset[str]  # {"ingress", "egress"}
    ingress: tuple[Rule, ...]
    egress: tuple[Rule, ...]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def rules(self, direction: str) -> tuple[Rule, ...]:
        return self.ingress if direction == INGRESS else self.egress

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Policy:
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        ns, name = str(meta.get("namespace") or "default"), str(meta.get("name") or "")
        where = f"NetworkPolicy {ns}/{name}"
        raw_types = spec.get("policyTypes")
        if raw_types:
            bad = [t for t in raw_types if t not in ("Ingress", "Egress")]
            if bad:
                raise NetpolError(where, f"policyTypes {bad} (valid: Ingress, Egress)")
            types = frozenset(str(t).lower() for t in raw_types)
        else:  # the API's default: Ingress always, Egress when there are egress rules
            types = frozenset([INGRESS, EGRESS] if spec.get("egress") else [INGRESS])
        rules: dict[str, tuple[Rule, ...]] = {}
        for direction, peer_key in ((INGRESS, "from"), (EGRESS, "to")):
            out = []
            for i, r in enumerate(spec.get(direction) or []):
                ref = RuleRef(f"{ns}/{name}", direction, i)
                rw = f"{where} {direction}[{i}]"
                r = r or {}
                peers = tuple(_peer(p, f"{rw}.{peer_key}") for p in r.get(peer_key) or [])
                ports = tuple(_port(p, f"{rw}.ports") for p in r.get("ports") or [])
                out.append(Rule(ref, peers, ports))
            rules[direction] = tuple(out)
        return cls(
            namespace=ns,
            name=name,
            pod_selector=Selector.parse(spec.get("podSelector") or {}, f"{where} podSelector"),
            types=types,
            ingress=rules[INGRESS],
            egress=rules[EGRESS],
        )


def _peer(p: Mapping[str, Any], where: str) -> Peer:
    if not isinstance(p, Mapping):
        raise NetpolError(where, f"peer must be a mapping, got {p!r}")
    if p.get("ipBlock") is not None:
        block = p["ipBlock"]
        cidr = str(block.get("cidr") or "")
        ib = IpBlock(cidr, tuple(str(e) for e in block.get("except") or []))
        try:
            ib.networks()
        except ValueError as exc:
            raise NetpolError(where, f"ipBlock: {exc}") from exc
        return Peer(ip_block=ib)
    pod = p.get("podSelector")
    nsel = p.get("namespaceSelector")
    if pod is None and nsel is None:
        raise NetpolError(where, "peer has none of podSelector, namespaceSelector, ipBlock")
    return Peer(
        pod_selector=None if pod is None else Selector.parse(pod, f"{where} podSelector"),
        namespace_selector=None if nsel is None else Selector.parse(nsel, f"{where} namespaceSelector"),
    )


def _port(p: Mapping[str, Any], where: str) -> PortSpec:
    protocol = str(p.get("protocol") or "TCP")
    if protocol not in PROTOCOLS:
        raise NetpolError(where, f"protocol {protocol!r} (valid: {', '.join(PROTOCOLS)})")
    port = p.get("port")
    end = p.get("endPort")
    if port is None:
        return PortSpec(protocol)
    if isinstance(port, str) and not port.isdigit():
        return PortSpec(protocol, name=port)
    return PortSpec(protocol, int(port), end_port=None if end is None else int(end))


# --- verdicts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    """What :func:`netdebug_nb.findings.record` needs; ``record(**f.kwargs())``."""

    id: str
    severity: str
    title: str
    detail: str
    evidence: dict[str, Any]

    def kwargs(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": self.severity,
            "title": self.title,
            "detail": self.detail,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class DirectionVerdict:
    """The egress side (of the source) or the ingress side (of the destination) of one connection."""

    direction: str  # "ingress" | "egress"
    pod: str  # the pod judged: the destination for ingress, the source for egress ("ns/name" or an IP)
    peer: str  # the other end
    isolated: bool  # some policy selects ``pod`` for this direction
    policies: tuple[str, ...]  # those policies, "ns/name"
    allowed_by: tuple[RuleRef, ...]  # every rule that allows the traffic (empty when denied)
    allowed: bool  # the answer under the usual CNI behaviour (see the module docstring)
    certain: bool  # False: depends on the CNI
    reason: str  # one line
    notes: tuple[str, ...] = ()  # what makes it uncertain

    @property
    def status(self) -> DirectionStatus:
        if not self.certain:
            return "not_evaluated"
        return "allowed" if self.allowed else "denied"

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "pod": self.pod,
            "peer": self.peer,
            "status": self.status,
            "isolated": self.isolated,
            "policies": list(self.policies),
            "allowed_by": [str(r) for r in self.allowed_by],
            "allowed": self.allowed,
            "certain": self.certain,
            "reason": self.reason,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Verdict:
    traffic: Traffic
    egress: DirectionVerdict
    ingress: DirectionVerdict
    other_policies: tuple[str, ...] = ()  # "CiliumNetworkPolicy ns/name" that may also apply

    @property
    def allowed(self) -> bool:
        return self.egress.allowed and self.ingress.allowed

    @property
    def certain(self) -> bool:
        """The v1 answer does not depend on the CNI (a certain denial on either side settles it)."""
        if self.allowed:
            return self.egress.certain and self.ingress.certain
        return any(not d.allowed and d.certain for d in (self.egress, self.ingress))

    @property
    def status(self) -> VerdictStatus:
        if not self.allowed and self.certain:
            return "denied"
        if self.allowed and self.certain and not self.other_policies:
            return "allowed"
        return "unknown"

    def to_dict(self) -> dict[str, Any]:
        t = self.traffic
        return {
            "source": _name(t.source),
            "destination": _name(t.destination),
            "protocol": t.protocol,
            "port": t.port,
            "status": self.status,
            "allowed": self.allowed,
            "certain": self.certain,
            "summary": self.summary(),
            "egress": self.egress.to_dict(),
            "ingress": self.ingress.to_dict(),
            "other_policies": list(self.other_policies),
        }

    def summary(self) -> str:
        """One line: what decides, e.g. for the ladder's verdict."""
        t = self.traffic.describe()
        denied = [d for d in (self.egress, self.ingress) if not d.allowed]
        head = "; ".join(d.reason for d in denied) if denied else f"NetworkPolicy allows {t}"
        extra = [n for d in (self.egress, self.ingress) for n in d.notes]
        if self.other_policies:
            extra.append(_other_line(self.other_policies))
        return head + (f" ({'; '.join(extra)})" if extra else "")

    def findings(self) -> list[Finding]:
        out = []
        for d, fid in ((self.egress, "netpol.egress_denied"), (self.ingress, "netpol.ingress_denied")):
            if not d.allowed and d.certain:
                out.append(
                    Finding(
                        fid,
                        "critical",
                        f"NetworkPolicy denies {d.direction} of {d.pod}: {self.traffic.describe()}",
                        d.reason,
                        self._evidence(d),
                    )
                )
        uncertain = [d for d in (self.egress, self.ingress) if not d.certain]
        if uncertain or self.other_policies:
            notes = [n for d in uncertain for n in d.notes]
            if self.other_policies:
                notes.append(_other_line(self.other_policies))
            out.append(
                Finding(
                    "netpol.not_evaluated",
                    "warning",
                    f"NetworkPolicy verdict for {self.traffic.describe()} depends on the CNI",
                    "; ".join(notes),
                    {
                        "directions": [d.direction for d in uncertain],
                        "assumed_allowed": self.allowed,
                        "other_policies": list(self.other_policies),
                        "notes": notes,
                    },
                )
            )
        return out

    def _evidence(self, d: DirectionVerdict) -> dict[str, Any]:
        t = self.traffic
        return {
            "direction": d.direction,
            "pod": d.pod,
            "peer": d.peer,
            "protocol": t.protocol,
            "port": t.port,
            "policies": list(d.policies),
            "source": _name(t.source),
            "destination": _name(t.destination),
        }


def _other_line(names: Sequence[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"not evaluated: {shown}"


# --- the engine ----------------------------------------------------------------------------


class Engine:
    """Policies compiled once against a set of pods and namespaces; ask it about connections."""

    def __init__(
        self,
        pods: Iterable[Pod],
        namespaces: Mapping[str, Mapping[str, str]],
        policies: Iterable[Policy],
        other_policies: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        self.pods: list[Pod] = list(pods)
        self._ns_labels: dict[str, dict[str, str]] = {n: dict(lb) for n, lb in namespaces.items()}
        for p in self.pods:
            self._ns_labels.setdefault(p.namespace, {})
        for n, lb in self._ns_labels.items():
            lb.setdefault(NAMESPACE_NAME_LABEL, n)
        self.policies: list[Policy] = list(policies)
        self._by_ns: dict[str, list[Policy]] = {}
        for pol in self.policies:
            self._by_ns.setdefault(pol.namespace, []).append(pol)
        self._by_key = {p.key: p for p in self.pods}
        self._by_ip: dict[str, Pod] = {}
        for p in self.pods:
            # a node IP is shared by every hostNetwork pod of the node; a finished pod's IP is
            # free for reuse by a new pod
            if not p.host_network and not p.terminated:
                for ip in p.ips:
                    self._by_ip.setdefault(ip, p)
        self._other: list[tuple[str | None, str]] = []
        for o in other_policies:
            from netdebug_nb.k8s.objects import other_policy_name

            self._other.append(((o.get("metadata") or {}).get("namespace"), other_policy_name(dict(o))))

    @property
    def namespaces(self) -> dict[str, dict[str, str]]:
        """Namespace → labels (``kubernetes.io/metadata.name`` always present)."""
        return self._ns_labels

    # -- lookups --------------------------------------------------------------------------

    def pod(self, key: str) -> Pod:
        """The pod ``ns/name``; NetpolError naming the nearest pods when there is none."""
        found = self._by_key.get(key)
        if found is not None:
            return found
        ns = key.rpartition("/")[0]
        if ns and ns not in self._ns_labels:
            near = difflib.get_close_matches(ns, sorted(self._ns_labels), n=3, cutoff=0.5)
            hint = (
                f"; nearest: {', '.join(near)}" if near else f"; namespaces: {_few(sorted(self._ns_labels))}"
            )
            raise NetpolError(key, f"no namespace {ns!r}{hint}")
        near = difflib.get_close_matches(key, sorted(self._by_key), n=3, cutoff=0.5)
        hint = f"; nearest: {', '.join(near)}" if near else ""
        raise NetpolError(key, f"no pod {key!r}{hint}")

    def find(self, key: str) -> Pod | None:
        """The pod ``ns/name`` or None (:meth:`pod` raises with the nearest names instead)."""
        return self._by_key.get(key)

    def pod_by_ip(self, ip: str) -> Pod | None:
        return self._by_ip.get(ip)

    def selecting(self, pod: Pod, direction: str) -> list[Policy]:
        """Policies that select ``pod`` and have ``direction`` among their policyTypes."""
        labels = pod.labels
        return [
            pol
            for pol in self._by_ns.get(pod.namespace, [])
            if direction in pol.types and pol.pod_selector.matches(labels)
        ]

    def other_policies_for(self, *namespaces: str) -> tuple[str, ...]:
        """Policies of other kinds that may apply in these namespaces (plus cluster-scoped ones)."""
        return tuple(name for ns, name in self._other if ns is None or ns in namespaces)

    def backends(
        self, service: Mapping[str, Any], port: int | str, protocol: str = "TCP"
    ) -> list[tuple[Pod, int]]:
        """The pods behind a Service with the targetPort each would receive for Service port
        ``port`` (number or port name). Pods whose named targetPort does not resolve are left out
        (the ladder reports those as ``svc.target_port_unresolved``)."""
        meta, spec = service.get("metadata") or {}, service.get("spec") or {}
        ns = str(meta.get("namespace") or "default")
        sp = next(
            (
                p
                for p in spec.get("ports") or []
                if (p.get("protocol") or "TCP") == protocol
                and (p.get("port") == port or p.get("name") == port)
            ),
            None,
        )
        if sp is None:
            raise NetpolError(f"service {ns}/{meta.get('name')}", f"no {protocol} port {port!r}")
        target = sp.get("targetPort", sp.get("port"))
        selector = spec.get("selector") or {}
        if not selector:
            return []
        out = []
        for pod in self.pods:
            if pod.namespace == ns and all(pod.labels.get(k) == v for k, v in selector.items()):
                number = pod.resolve_port(target, protocol)
                if number is not None:
                    out.append((pod, number))
        return out

    # -- evaluation -----------------------------------------------------------------------

    def allows(self, traffic: Traffic) -> Verdict:
        """The verdict for one connection: egress of the source AND ingress of the destination."""
        if traffic.protocol not in PROTOCOLS:
            raise NetpolError("protocol", f"{traffic.protocol!r} (valid: {', '.join(PROTOCOLS)})")
        src = self._resolve(traffic.source)
        dst = self._resolve(traffic.destination)
        t = Traffic(src, dst, traffic.port, traffic.protocol)
        egress = self._direction(EGRESS, src, dst, t)
        ingress = self._direction(INGRESS, dst, src, t)
        namespaces = [e.namespace for e in (src, dst) if isinstance(e, Pod)]
        return Verdict(t, egress, ingress, self.other_policies_for(*namespaces))

    def _resolve(self, end: Pod | str) -> Pod | str:
        if isinstance(end, Pod):
            return end
        return self._by_ip.get(end, end)

    def _direction(self, direction: str, pod: Pod | str, peer: Pod | str, t: Traffic) -> DirectionVerdict:
        pname, peername = _name(pod), _name(peer)
        if not isinstance(pod, Pod):
            return DirectionVerdict(
                direction, pname, peername, False, (), (), True, True,
                f"{pname} is not a pod: no {direction} policy applies to it",
            )  # fmt: skip
        selecting = self.selecting(pod, direction)
        if not selecting:
            return DirectionVerdict(
                direction, pname, peername, False, (), (), True, True,
                f"no policy selects {pname} for {direction}: not isolated, all {direction} allowed",
            )  # fmt: skip
        names = tuple(p.key for p in selecting)
        dest = t.destination if isinstance(t.destination, Pod) else None
        if (
            direction == INGRESS
            and isinstance(peer, Pod)
            and peer.host_network
            and peer.node
            and peer.node == pod.node
        ):
            return DirectionVerdict(
                direction, pname, peername, True, names, (), True, True,
                f"{peername} is on {pname}'s node (host network): traffic from a pod's own node is always allowed",
            )  # fmt: skip
        sure: list[RuleRef] = []
        maybe: list[RuleRef] = []
        notes: list[str] = []
        for pol in selecting:
            for rule in pol.rules(direction):
                if not rule.ports_match(t.protocol, t.port, dest):
                    continue
                how = self._peer_match(rule, pol.namespace, peer)
                if how == "sure":
                    sure.append(rule.ref)
                elif how == "maybe":
                    maybe.append(rule.ref)
        allowed_by = tuple(sure + maybe)
        allowed = bool(allowed_by)
        peer_host = isinstance(peer, Pod) and peer.host_network
        # a denial is certain unless the peer's traffic comes from another node's host network:
        # whether ingress from there is filtered like pod traffic varies between CNIs
        certain = bool(sure) or (not allowed and not (peer_host and direction == INGRESS))
        if pod.host_network:
            certain = False
            notes.append(f"{pname} uses the host network: whether policies apply to it depends on the CNI")
        if peer_host and not sure and (allowed or direction == INGRESS):
            notes.append(
                f"{peername} uses the host network: its traffic carries the node's IP (CNI-dependent)"
            )
        elif maybe and not sure and isinstance(peer, Pod):
            notes.append(
                f"allowed only by an ipBlock containing the pod IP of {peername}: "
                "ipBlock on in-cluster pod IPs is CNI-dependent"
            )
        word = "from" if direction == INGRESS else "to"
        if allowed:
            reason = f"{direction} of {pname} allowed by {', '.join(str(r) for r in allowed_by)}"
        else:
            reason = (
                f"no rule of policies {', '.join(names)} allows {t.protocol}/{t.port} {word} {peername}"
                f" ({direction} of {pname} is isolated by them)"
            )
        return DirectionVerdict(
            direction, pname, peername, True, names, allowed_by, allowed, certain, reason, tuple(notes)
        )

    def _peer_match(self, rule: Rule, policy_ns: str, peer: Pod | str) -> str:
        """ "sure" when a peer selects ``peer`` without CNI doubt, "maybe" when only through an
        ipBlock holding a pod IP or by labels of a host-network pod, "" when nothing matches."""
        if not rule.peers:
            return "sure"
        best = ""
        for p in rule.peers:
            if p.ip_block is not None:
                ips = peer.ips if isinstance(peer, Pod) else (peer,)
                if any(p.ip_block.contains(ip) for ip in ips):
                    if not isinstance(peer, Pod):
                        return "sure"
                    best = "maybe"
                continue
            if not isinstance(peer, Pod):
                continue
            if p.namespace_selector is None:
                if peer.namespace != policy_ns:
                    continue
            elif not p.namespace_selector.matches(self._ns_labels.get(peer.namespace, {})):
                continue
            if p.pod_selector is not None and not p.pod_selector.matches(peer.labels):
                continue
            if peer.host_network:
                best = "maybe"
                continue
            return "sure"
        return best


def compile(objs: Objects) -> Engine:
    """An engine for what :mod:`.objects` read (a dump or a live cluster)."""
    pods = [Pod.from_object(p) for p in objs.pods]
    namespaces = {
        str((n.get("metadata") or {}).get("name")): {
            str(k): str(v) for k, v in ((n.get("metadata") or {}).get("labels") or {}).items()
        }
        for n in objs.namespaces
    }
    policies = [Policy.from_object(p) for p in objs.networkpolicies]
    return Engine(pods, namespaces, policies, objs.other_policies)


def connections(
    engine: Engine, objs: Objects, source: str, destination: str, port: str | int, protocol: str = "TCP"
) -> list[Traffic]:
    """The connections a "can SOURCE reach DESTINATION on PORT" question means: one, or one per
    backend pod of ``service:ns/name`` on its targetPort. Ends are ``ns/pod`` or IP addresses; a
    port name resolves on the destination pod (or is the Service's port name)."""
    protocol = protocol.upper()
    src: Pod | str = engine.pod(source) if "/" in source else _ip(source)
    if destination.startswith("service:"):
        key = destination.split(":", 1)[1]
        ns, _, name = key.rpartition("/")
        ns = ns or "default"
        svc = next(
            (
                s
                for s in objs.services
                if (s.get("metadata") or {}).get("namespace", "default") == ns
                and (s.get("metadata") or {}).get("name") == name
            ),
            None,
        )
        if svc is None:
            known = sorted(
                f"{(s.get('metadata') or {}).get('namespace')}/{(s.get('metadata') or {}).get('name')}"
                for s in objs.services
            )
            near = difflib.get_close_matches(f"{ns}/{name}", known, n=3, cutoff=0.5)
            raise NetpolError(
                destination, "no such Service" + (f"; nearest: {', '.join(near)}" if near else "")
            )
        number: int | str = int(port) if str(port).isdigit() else str(port)
        backends = engine.backends(svc, number, protocol)
        if not backends:
            raise NetpolError(
                destination, f"no backend pod with a resolvable targetPort for {protocol} port {port!r}"
            )
        return [Traffic(src, pod, target, protocol) for pod, target in backends]
    dst: Pod | str = engine.pod(destination) if "/" in destination else _ip(destination)
    if str(port).isdigit():
        return [Traffic(src, dst, int(port), protocol)]
    if not isinstance(dst, Pod):
        raise NetpolError("--port", f"{port!r}: a port name needs a pod destination, {dst} is an address")
    resolved = dst.named_port(str(port), protocol)
    if resolved is None:
        declared = (
            ", ".join(f"{p.name}={p.port}/{p.protocol}" for p in dst.container_ports if p.name) or "none"
        )
        raise NetpolError(
            "--port", f"pod {dst.key} declares no {protocol} port named {port!r} (named ports: {declared})"
        )
    return [Traffic(src, dst, resolved, protocol)]


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as exc:
        raise NetpolError(text, "expected ns/pod or an IP address") from exc


def overall(verdicts: Sequence[Verdict]) -> str:
    """One word for several connections (a Service's backends): allowed, denied, unknown, or
    mixed when some backends are allowed and others denied."""
    statuses = {v.status for v in verdicts}
    if len(statuses) == 1:
        return next(iter(statuses))
    if statuses >= {"allowed", "denied"}:
        return "mixed"
    return "unknown"


def _few(names: Sequence[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f" … ({len(names)} in all)" if len(names) > n else "")


def iter_rules(policies: Iterable[Policy], direction: str) -> Iterator[tuple[Policy, Rule]]:
    """Every (policy, rule) of ``direction`` from policies with that policyType, in order."""
    for pol in policies:
        if direction in pol.types:
            for rule in pol.rules(direction):
                yield pol, rule
