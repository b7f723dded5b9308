"""The cluster objects that reasoning about a path needs, read from a dump or from a live cluster.

"Why can't A reach B?" is often asked about a cluster the person cannot reach: someone else ran
``kubectl get ns,pods,svc,endpointslices,networkpolicies -A -o yaml > dump.yaml``. :func:`read`
takes exactly that (a file or a directory of YAML or JSON, multi-document or ``kind: List``) and
:func:`collect` reads the same objects from a live cluster, so everything downstream (the
NetworkPolicy engine :mod:`.netpol`, the service path ladder) sees one shape: plain dicts as the
API serves them, grouped by resource in :class:`Objects`.

Usage::

    from netdebug_nb.k8s import objects
    objs = objects.read("dump.yaml")            # or objects.collect(client.connect())
    objs.pods, objs.networkpolicies, objs.other_policies, objs.unsupported

Objects of other kinds are counted in :attr:`Objects.unsupported` and otherwise ignored; policies
of CNI-specific or admin kinds (CiliumNetworkPolicy, Calico, AdminNetworkPolicy ...) go to
:attr:`Objects.other_policies` so a verdict can say they exist and were not evaluated. A file that
does not parse raises :class:`ObjectsError` naming the file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import InputError

if TYPE_CHECKING:
    from netdebug_nb.k8s.client import Cluster

RESOURCES: dict[tuple[str, str], str] = {
    # (apiVersion, kind) → attribute of Objects
    ("v1", "Namespace"): "namespaces",
    ("v1", "Pod"): "pods",
    ("v1", "Service"): "services",
    ("discovery.k8s.io/v1", "EndpointSlice"): "endpointslices",
    ("v1", "Endpoints"): "endpoints",
    ("v1", "Node"): "nodes",
    ("networking.k8s.io/v1", "NetworkPolicy"): "networkpolicies",
}
"""What :class:`Objects` keeps. Endpoints and Nodes are not in the usual dump but are used when present."""

OTHER_POLICY_KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    # (API group, kind) → (plural, namespaced): policies the v1 engine does not evaluate
    ("cilium.io", "CiliumNetworkPolicy"): ("ciliumnetworkpolicies", True),
    ("cilium.io", "CiliumClusterwideNetworkPolicy"): ("ciliumclusterwidenetworkpolicies", False),
    ("crd.projectcalico.org", "NetworkPolicy"): ("networkpolicies", True),
    ("crd.projectcalico.org", "GlobalNetworkPolicy"): ("globalnetworkpolicies", False),
    ("projectcalico.org", "NetworkPolicy"): ("networkpolicies", True),
    ("projectcalico.org", "GlobalNetworkPolicy"): ("globalnetworkpolicies", False),
    ("projectcalico.org", "StagedNetworkPolicy"): ("stagednetworkpolicies", True),
    ("policy.networking.k8s.io", "AdminNetworkPolicy"): ("adminnetworkpolicies", False),
    ("policy.networking.k8s.io", "BaselineAdminNetworkPolicy"): ("baselineadminnetworkpolicies", False),
    ("crd.antrea.io", "NetworkPolicy"): ("networkpolicies", True),
    ("crd.antrea.io", "ClusterNetworkPolicy"): ("clusternetworkpolicies", False),
}

_LIVE_OTHER: list[tuple[str, str, str]] = [
    # (group, version, plural) looked for on a live cluster; absent CRDs answer 404 and are skipped
    ("cilium.io", "v2", "ciliumnetworkpolicies"),
    ("cilium.io", "v2", "ciliumclusterwidenetworkpolicies"),
    ("crd.projectcalico.org", "v1", "networkpolicies"),
    ("crd.projectcalico.org", "v1", "globalnetworkpolicies"),
    ("policy.networking.k8s.io", "v1alpha1", "adminnetworkpolicies"),
    ("policy.networking.k8s.io", "v1alpha1", "baselineadminnetworkpolicies"),
    ("crd.antrea.io", "v1beta1", "networkpolicies"),
    ("crd.antrea.io", "v1beta1", "clusternetworkpolicies"),
]

SUFFIXES = (".yaml", ".yml", ".json")


class ObjectsError(InputError):
    """A manifests file or directory that cannot be read as Kubernetes objects."""


@dataclass
class Objects:
    """Plain API objects by resource. ``sources`` says where they came from (files or a cluster)."""

    namespaces: list[dict[str, Any]] = field(default_factory=list)
    pods: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    endpointslices: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    networkpolicies: list[dict[str, Any]] = field(default_factory=list)
    other_policies: list[dict[str, Any]] = field(default_factory=list)
    unsupported: dict[str, int] = field(default_factory=dict)  # "apps/v1 Deployment" → count, ignored
    sources: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, obj: dict[str, Any]) -> None:
        """File one object under its resource (or count it as unsupported)."""
        api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
        attr = RESOURCES.get((api_version, kind))
        if attr is not None:
            getattr(self, attr).append(obj)
        elif (api_version.split("/", 1)[0], kind) in OTHER_POLICY_KINDS:
            self.other_policies.append(obj)
        else:
            key = f"{api_version} {kind}".strip() or "(no apiVersion/kind)"
            self.unsupported[key] = self.unsupported.get(key, 0) + 1

    def summary(self) -> str:
        parts = [
            f"{len(self.namespaces)} namespaces",
            f"{len(self.pods)} pods",
            f"{len(self.services)} services",
            f"{len(self.endpointslices)} endpointslices",
            f"{len(self.networkpolicies)} networkpolicies",
        ]
        if self.other_policies:
            parts.append(f"{len(self.other_policies)} other policies (not evaluated)")
        where = ", ".join(self.sources) if len(self.sources) <= 3 else f"{len(self.sources)} files"
        return f"{', '.join(parts)} from {where}"

    def unsupported_line(self) -> str:
        """One line naming the ignored kinds, "" when there were none."""
        if not self.unsupported:
            return ""
        kinds = ", ".join(f"{k} ×{n}" for k, n in sorted(self.unsupported.items()))
        return f"ignored unsupported kinds: {kinds}"


def other_policy_name(obj: dict[str, Any]) -> str:
    """``Kind ns/name`` (or ``Kind name`` when cluster-scoped), how a verdict lists it."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = f"{ns}/{meta.get('name')}" if ns else str(meta.get("name"))
    return f"{obj.get('kind')} {name}"


# --- files ---------------------------------------------------------------------------------


def files(path: str | Path) -> list[Path]:
    """The manifest files of ``path`` (itself, or every *.yaml/*.yml/*.json below it, sorted)."""
    p = Path(path).expanduser()
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        if not found:
            raise ObjectsError(p, "directory has no .yaml, .yml or .json files")
        return found
    if not p.exists():
        raise ObjectsError(p, "no such file or directory")
    return [p]


def documents(path: Path) -> Iterator[tuple[int | None, Any]]:
    """Every top-level document of one file, with the line it starts on (1-based, when known)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ObjectsError(path, f"unreadable: {exc}") from exc
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith(("{", "[")):
        try:
            doc = json.loads(text)
        except ValueError as exc:
            if path.suffix.lower() == ".json":
                line = getattr(exc, "lineno", None)
                msg = getattr(exc, "msg", str(exc))
                raise ObjectsError(path, f"not valid JSON: {msg}", line=line) from exc
        else:
            yield from ((1, d) for d in (doc if isinstance(doc, list) else [doc]))
            return
    yield from _yaml_documents(path, text)


def _yaml_documents(path: Path, text: str) -> Iterator[tuple[int | None, Any]]:
    fast = _ryml_documents(text)
    if fast is not None:
        yield from ((None, d) for d in fast)
        return
    yield from _pyyaml_documents(path, text)


_YAML_ONLY = re.compile(
    # what the JSON route would read differently from PyYAML: anchors, aliases and merge keys,
    # explicit tags, and YAML 1.1 plain scalars (yes/no/on/off booleans, ~ for null). kubectl
    # writes none of them unquoted; hand-written manifests may, and then PyYAML reads them.
    r"(?:^|[\s\[{,])[&*!][^\s\]},]|[:-][ \t]+(?:~|yes|no|on|off|y|n)[ \t]*(?:#.*)?$",
    re.MULTILINE | re.IGNORECASE,
)


def _ryml_documents(text: str) -> list[Any] | None:
    """The documents through rapidyaml (C++ parse → JSON → json.loads): a 5,000-pod dump in
    about a second where PyYAML, even with libyaml, takes half a minute. None when rapidyaml is
    missing, the text does not parse, or a document is not an object: then PyYAML reads it again
    and reports the file and line."""
    if _YAML_ONLY.search(text):
        return None
    try:
        import ryml  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    try:
        tree = ryml.parse_in_arena(text.encode("utf-8"))
        root = tree.root_id()
        if tree.is_stream(root) and tree.num_children(root) == 0:
            return []
        doc = json.loads(ryml.emit_json(tree))
    except Exception:  # any failure: PyYAML reads it again, decides and says where
        return None
    docs = doc if tree.is_stream(root) else [doc]
    docs = [d for d in docs if d is not None]
    for d in docs:
        if not isinstance(d, dict):
            return None
        items = d.get("items")
        if str(d.get("kind") or "").endswith("List") and (
            not isinstance(items, list) or not all(isinstance(i, dict) for i in items)
        ):
            return None
    return docs


def _pyyaml_documents(path: Path, text: str) -> Iterator[tuple[int | None, Any]]:
    import yaml

    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~10x faster on big dumps
    loader = loader_cls(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            line = node.start_mark.line + 1 if node is not None else None
            doc = loader.construct_document(node)
            if doc is not None:
                yield line, doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "syntax error"
        raise ObjectsError(path, f"not valid YAML: {problem}", line=line) from exc
    except yaml.YAMLError as exc:
        raise ObjectsError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from exc
    finally:
        loader.dispose()


def _items(doc: Any, source: Path, line: int | None) -> Iterator[dict[str, Any]]:
    if not isinstance(doc, dict):
        raise ObjectsError(source, f"expected a Kubernetes object, got a {type(doc).__name__}", line=line)
    kind = str(doc.get("kind") or "")
    if kind == "List" or (kind.endswith("List") and isinstance(doc.get("items"), list)):
        for i, item in enumerate(doc.get("items") or []):
            if not isinstance(item, dict):
                raise ObjectsError(source, f"{kind} item {i} is not an object", line=line)
            if kind != "List" and not item.get("kind"):
                # typed lists (PodList from the API) carry kind/apiVersion on the list only
                item = {"apiVersion": doc.get("apiVersion"), "kind": kind[: -len("List")], **item}
            yield item
    else:
        yield doc


def read(path: str | Path | Iterable[str | Path]) -> Objects:
    """Objects from a file, a directory, or several of them (what ``--manifests`` names)."""
    paths = [path] if isinstance(path, (str, Path)) else list(path)
    out = Objects()
    for p in paths:
        for f in files(p):
            out.sources.append(str(f))
            for line, doc in documents(f):
                for obj in _items(doc, f, line):
                    out.add(obj)
    return out


# --- a live cluster ------------------------------------------------------------------------


def collect(cluster: Cluster, namespace: str | None = None) -> Objects:
    """The same objects from a cluster. RBAC refusals become warnings (the rest is still read);
    an unreachable cluster raises."""
    from netdebug_nb.k8s.client import ClusterApiError, ClusterNotFoundError

    out = Objects(sources=[cluster.describe()])
    ns = namespace or None
    kinds = {attr: kind for (_, kind), attr in RESOURCES.items()}
    for resource, api_version in (
        ("namespaces", "v1"),
        ("pods", "v1"),
        ("services", "v1"),
        ("endpointslices", "discovery.k8s.io/v1"),
        ("networkpolicies", "networking.k8s.io/v1"),
        ("nodes", "v1"),
    ):
        try:
            items = cluster.list(resource, namespace=None if resource in ("namespaces", "nodes") else ns)
        except ClusterApiError as exc:
            out.warnings.append(str(exc))
            continue
        for item in items:  # list items carry no kind/apiVersion on the wire
            out.add({"apiVersion": api_version, "kind": kinds[resource], **item})
    api = cluster.client("CustomObjectsApi")
    names = {(g, plural): kind for (g, kind), (plural, _) in OTHER_POLICY_KINDS.items()}
    for group, version, plural in _LIVE_OTHER:
        resource = f"{plural}.{group}"
        try:
            doc = cluster.get_json("list", resource, api.list_cluster_custom_object, group, version, plural)
        except ClusterNotFoundError:
            continue  # the CRD is not installed
        except ClusterApiError as exc:
            out.warnings.append(f"could not check for {resource}: {exc}")
            continue
        for item in doc.get("items") or []:
            out.add({"apiVersion": f"{group}/{version}", "kind": names[(group, plural)], **item})
    return out


def load(
    manifests: str | Path | Sequence[str | Path] = (),
    *,
    kubeconfig: str = "",
    context: str = "",
    timeout_s: float = 5.0,
    namespace: str | None = None,
) -> Objects:
    """What a command or notebook works from: the ``manifests`` when given, else the cluster
    (in-cluster or kubeconfig). Neither available: one line saying both ways to fix it."""
    if isinstance(manifests, (str, Path)):
        manifests = [manifests] if str(manifests) else []
    if manifests:
        return read(manifests)
    from netdebug_nb.k8s import client

    try:
        cluster = client.connect(kubeconfig, context, timeout_s=timeout_s)
    except client.ClusterConfigError as exc:
        raise client.ClusterConfigError(
            exc.message,
            hint="pass --manifests PATH (a `kubectl get ns,pods,svc,endpointslices,networkpolicies -A -o yaml` "
            "dump), or --kubeconfig FILE, or set KUBECONFIG",
        ) from exc
    return collect(cluster, namespace)
