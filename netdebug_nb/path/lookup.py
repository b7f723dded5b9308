"""Rung 2: the destination's name as the source pod's resolver would look it up.

Kubernetes writes a pod's resolv.conf from its ``dnsPolicy`` and ``dnsConfig`` (search list
``<ns>.svc.<domain> svc.<domain> <domain>``, ``ndots:5``, the cluster DNS Service as nameserver);
:func:`pod_resolv_conf` writes the same text and the dns package's parser and search expansion
(:mod:`netdebug_nb.dns.expansion`) give the exact names sent. What cluster DNS answers is predicted
from the objects (CoreDNS's ``kubernetes`` plugin: Service → ClusterIP, headless → ready endpoint
IPs, ExternalName → CNAME, ``<hostname>.<subdomain>`` → pod IP); a live lookup, when the source is
where this runs, is compared with that prediction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from netdebug_nb.dns import expansion, resolvconf
from netdebug_nb.dns.resolvconf import ResolvConf
from netdebug_nb.path import index as ix
from netdebug_nb.path import step
from netdebug_nb.path.index import Index, Obj

DEFAULT_DNS_IP = "10.96.0.10"  # kubeadm's default when no kube-dns Service is in the objects


@dataclass
class Answer:
    """What cluster DNS answers for one absolute name."""

    qname: str
    rcode: str  # NOERROR | NXDOMAIN | upstream (outside the cluster zone: not known offline)
    records: list[str] = field(default_factory=list)  # "A 10.96.0.7", "CNAME db.example.com."
    service: Obj | None = None
    pod: Obj | None = None

    @property
    def addresses(self) -> list[str]:
        return [r.split(" ", 1)[1] for r in self.records if r.startswith(("A ", "AAAA "))]


@dataclass
class Target:
    """The object a name stands for (rung 1), or the Service it seems to mean when absent."""

    service: Obj | None = None
    pod: Obj | None = None
    answer: Answer | None = None
    tried: list[tuple[str, str]] = field(default_factory=list)  # (qname, rcode) in order
    missing: str = ""  # "payments/apii" when the name is in the cluster zone but does not exist
    near: list[str] = field(default_factory=list)


def dns_service(idx: Index) -> Obj | None:
    for svc in idx.services.values():
        ns, name = ix.key(svc)
        if ns == "kube-system" and (name == "kube-dns" or ix.labels(svc).get("k8s-app") == "kube-dns"):
            return svc
    return None


def pod_resolv_conf(
    pod: Obj | None, idx: Index, domain: str = "cluster.local"
) -> tuple[ResolvConf | None, str]:
    """The resolv.conf the kubelet writes for ``pod`` (``None`` when it is the node's own file,
    which the objects do not show), with a note on how it was derived."""
    spec = (pod or {}).get("spec") or {}
    ns = ix.key(pod)[0] if pod else "default"
    policy = spec.get("dnsPolicy") or "ClusterFirst"
    if policy == "ClusterFirst" and spec.get("hostNetwork"):
        return None, "hostNetwork pod with dnsPolicy ClusterFirst uses the node's resolv.conf (Default)"
    if policy == "Default":
        return None, "dnsPolicy Default: the node's resolv.conf"
    svc = dns_service(idx)
    dns_ip = str(((svc or {}).get("spec") or {}).get("clusterIP") or DEFAULT_DNS_IP)
    cfg = spec.get("dnsConfig") or {}
    if policy == "None":
        servers, search, options = [], [], []
    else:
        servers, search, options = [dns_ip], [f"{ns}.svc.{domain}", f"svc.{domain}", domain], ["ndots:5"]
    servers += list(cfg.get("nameservers") or [])
    search += [s for s in cfg.get("searches") or [] if s not in search]
    opts = {o.split(":")[0]: o for o in options}
    for o in cfg.get("options") or []:
        name = str(o.get("name", ""))
        opts[name] = f"{name}:{o['value']}" if o.get("value") not in (None, "") else name
    lines = [f"nameserver {s}" for s in servers]
    if search:
        lines.append("search " + " ".join(search))
    if opts:
        lines.append("options " + " ".join(opts.values()))
    source = f"resolv.conf of {ns}/{ix.key(pod)[1]}" if pod else "resolv.conf of a default-namespace pod"
    conf = resolvconf.parse("\n".join(lines) + "\n", source=source)
    return conf, f"dnsPolicy {policy}" + (" + dnsConfig" if cfg else "")


def answer(qname: str, idx: Index, domain: str = "cluster.local") -> Answer:
    """CoreDNS's answer for one absolute name (A records; CNAME for ExternalName)."""
    name = qname.rstrip(".").lower()
    zone = domain.strip(".").lower()
    if name != zone and not name.endswith("." + zone):
        return Answer(qname, "upstream")
    labels = name[: -len(zone) - 1].split(".") if name != zone else []
    if len(labels) >= 3 and labels[-1] == "svc":
        svc_name, ns = labels[-3], labels[-2]
        svc = idx.services.get((ns, svc_name))
        if svc is None:
            return Answer(qname, "NXDOMAIN")
        if len(labels) == 3:
            return Answer(qname, "NOERROR", service_records(svc, idx), service=svc)
        if len(labels) == 4:  # <hostname>.<service>.<ns>.svc: a pod of a headless Service
            for p in idx.pods_by_ns.get(ns, []):
                spec = p.get("spec") or {}
                if spec.get("subdomain") == svc_name and (spec.get("hostname") or ix.key(p)[1]) == labels[0]:
                    return Answer(
                        qname, "NOERROR", [f"A {ip}" for ip in ix.pod_ips(p)[:1]], service=svc, pod=p
                    )
        return Answer(qname, "NXDOMAIN")
    if len(labels) == 3 and labels[-1] == "pod":
        ip = labels[0].replace("-", ".")
        pod = idx.pods_by_ip.get(ip)
        return Answer(qname, "NOERROR", [f"A {ip}"], pod=pod)
    return Answer(qname, "NXDOMAIN")


def service_records(svc: Obj, idx: Index) -> list[str]:
    spec = svc.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return [f"CNAME {str(spec.get('externalName', '')).rstrip('.')}."]
    ip = spec.get("clusterIP")
    if ip and ip != "None":
        return [f"{'AAAA' if ':' in i else 'A'} {i}" for i in spec.get("clusterIPs") or [ip]]
    ns, name = ix.key(svc)
    publish = bool(spec.get("publishNotReadyAddresses"))
    out: list[str] = []
    for sl in idx.service_slices(ns, name):
        for ep in sl.get("endpoints") or []:
            ready = (ep.get("conditions") or {}).get("ready")
            if publish or ready is None or ready:
                out += [f"{'AAAA' if ':' in a else 'A'} {a}" for a in ep.get("addresses") or []]
    return sorted(set(out))


def resolve_name(name: str, conf: ResolvConf, idx: Index, domain: str = "cluster.local") -> Target:
    """Walk the search expansion like glibc until cluster DNS would answer."""
    out = Target()
    for qname, _why in expansion.candidates(name, conf):
        a = answer(qname, idx, domain)
        out.tried.append((qname, a.rcode))
        if a.rcode == "NOERROR":
            out.answer, out.service, out.pod = a, a.service, a.pod
            return out
        if a.rcode == "upstream":
            if _looks_like_service(name, idx):
                break  # "apii.payments": the cluster zone said NXDOMAIN; the root will too
            out.answer = a
            return out
    intended = _intended(name, conf, domain)
    if intended:
        ns, svc = intended
        out.missing = f"{ns}/{svc}"
        if ns in idx.namespaces:
            pool = [k[1] for k in idx.services if k[0] == ns]
            out.near = [f"{ns}/{n}" for n in ix._near(svc, pool)]
        else:
            out.near = [f"namespace {n}" for n in ix._near(ns, idx.namespaces)]
    return out


def _looks_like_service(name: str, idx: Index) -> bool:
    """``api`` or ``api.payments`` (payments a namespace): a Service name, not an Internet name."""
    parts = name.rstrip(".").lower().split(".")
    return not name.endswith(".") and (len(parts) == 1 or (len(parts) == 2 and parts[1] in idx.namespaces))


def _intended(name: str, conf: ResolvConf, domain: str) -> tuple[str, str] | None:
    """Which Service a name that got NXDOMAIN everywhere was meant to be (for nearest names)."""
    base = name.rstrip(".").lower()
    zone = domain.strip(".").lower()
    if base.endswith("." + zone):
        base = base[: -len(zone) - 1]
    if base.endswith(".svc"):
        base = base[:-4]
    parts = base.split(".")
    if len(parts) == 1:
        first = next((s for s in conf.search if s.endswith(f".svc.{zone}")), "")
        return (first.split(".")[0] if first else "default", parts[0])
    if len(parts) == 2:
        return parts[1], parts[0]
    return None


def cluster_object(
    name: str, idx: Index, domain: str = "cluster.local", source_pod: Obj | None = None
) -> Target:
    """The object a destination name stands for, seen from ``source_pod``'s search list."""
    conf, _ = pod_resolv_conf(source_pod, idx, domain)
    if conf is None:  # the node's resolver: assume the cluster search list of the pod's namespace
        conf, _ = pod_resolv_conf(
            {"metadata": {"namespace": ix.key(source_pod or {})[0] or "default"}}, idx, domain
        )
    assert conf is not None
    return resolve_name(name, conf, idx, domain)


# --- the rung -------------------------------------------------------------------------------


def rung(
    name: str,
    source_pod: Obj | None,
    idx: Index,
    *,
    domain: str = "cluster.local",
    live: tuple[str, Sequence[str]] | None = None,
    source_node: str = "",
) -> list[step.Step]:
    """Rows for rung 2. ``live`` is (outcome, addresses) of a real lookup from the source, if any;
    ``source_node`` names the node when the source is a node itself (its own resolv.conf)."""
    if not name:
        return [step.skipped(2, "dns", "destination given without a name: no DNS lookup on the path")]
    rows: list[step.Step] = []
    conf, how = pod_resolv_conf(source_pod, idx, domain)
    if source_node and source_pod is None:
        conf, how = None, f"node {source_node} uses its own resolv.conf"
    objs_involved = [ix.ref("pod", source_pod)] if source_pod is not None else []
    if conf is None:
        policy = ((source_pod or {}).get("spec") or {}).get("dnsPolicy") or "ClusterFirst"
        if source_pod is None:
            fix = "query from a pod, or make the node's resolver forward the cluster zone to cluster DNS"
        elif policy == "ClusterFirst":
            fix = "set dnsPolicy: ClusterFirstWithHostNet on the hostNetwork pod"
        else:
            fix = "use dnsPolicy ClusterFirst (or make the node's resolver forward the cluster zone)"
        in_zone = answer(name if name.endswith(".") else name + ".", idx, domain).rcode != "upstream"
        if in_zone or "." not in name.rstrip(".") or name.count(".") <= 2:
            rows.append(
                step.warning(
                    2,
                    "dns.resolver",
                    f"{how}: cluster names resolve only if the node's resolver forwards {domain}",
                    objs_involved,
                    fix=fix,
                    finding="dns.wrong_answer",
                    severity="warning",
                )
            )
        conf, _ = pod_resolv_conf(
            {"metadata": {"namespace": ix.key(source_pod or {})[0] or "default"}}, idx, domain
        )
        assert conf is not None
    target = resolve_name(name, conf, idx, domain)
    sent = [q for q, _ in target.tried]
    wasted = sum(1 for _, r in target.tried if r == "NXDOMAIN")
    servers = ", ".join(conf.used_nameservers) or "(none)"
    dns_svc = dns_service(idx)
    query_objs = objs_involved + ([ix.ref("service", dns_svc)] if dns_svc is not None else [])
    rows.append(
        step.ok(
            2,
            "dns.query",
            f"{how}; search {' '.join(conf.search) or '(none)'}, ndots:{conf.ndots}; to {servers} the resolver "
            f"sends {', '.join(sent)}" + (f" ({wasted} NXDOMAIN first)" if wasted else ""),
            query_objs,
            evidence={"queries": sent, "nameservers": list(conf.used_nameservers)},
        )
    )
    a = target.answer
    if a is None:
        rows.append(
            step.blocked(
                2,
                "dns.answer",
                f"every candidate gets NXDOMAIN from cluster DNS: no Service {target.missing or name}"
                + (f" (nearest: {', '.join(target.near)})" if target.near else ""),
                query_objs,
                finding="dns.wrong_answer",
                fix=f"use an existing name, e.g. {target.near[0]}" if target.near else "check the name",
            )
        )
        return rows
    expected = a.records
    if a.rcode == "upstream":
        detail = f"{a.qname} is outside {domain}: answered by the upstream resolvers"
    elif a.service is not None and (a.service.get("spec") or {}).get("type") == "ExternalName":
        detail = f"{a.qname} → {', '.join(expected)} (ExternalName: a CNAME, traffic leaves the cluster)"
    elif a.service is not None and not a.pod and (a.service.get("spec") or {}).get("clusterIP") == "None":
        detail = f"{a.qname} → headless: the pod IPs {', '.join(a.addresses) or '(none: no ready endpoint)'}"
    else:
        detail = f"{a.qname} → {', '.join(expected)}"
    involved = query_objs + ([ix.ref("service", a.service)] if a.service is not None else [])
    if live is None:
        status_row = (
            step.warning(2, "dns.answer", detail + " — no address: the name has no ready endpoint", involved)
            if a.rcode == "NOERROR" and not expected
            else step.ok(2, "dns.answer", detail + " (predicted from the objects; not queried)", involved)
        )
        rows.append(status_row)
        return rows
    outcome, got = live[0], sorted(set(live[1]))
    want = sorted(set(a.addresses))
    if outcome != "answer" or (want and got != want):
        seen = f"{outcome}: {', '.join(got)}" if got else outcome
        rows.append(
            step.blocked(
                2,
                "dns.answer",
                f"live lookup of {name} from here got {seen}; cluster DNS should answer {', '.join(expected) or '(nothing)'}",
                involved,
                finding="dns.wrong_answer",
                fix="check CoreDNS (k8s dns_trace notebook) and any stale /etc/hosts or dnsConfig override",
                evidence={"got": got, "expected": want, "outcome": outcome},
            )
        )
    else:
        rows.append(step.ok(2, "dns.answer", f"{detail}; the live lookup agrees", involved))
    return rows
