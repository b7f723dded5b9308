"""A small, real HTTP Kubernetes API server for tests: the official client talks to it unmodified.

No API server can be installed on the test machines, and mocking the client would test nothing,
so this module serves the REST paths the kit uses from an in-memory object store, with the
behaviours the kit must cope with: pagination, selectors, RBAC refusals and slow answers.

Usage::

    srv = FakeApiServer(token="t0k3n")          # 127.0.0.1, random port, plain HTTP
    srv.load(FIXTURES / "k8s" / "cluster.yaml")   # realistic objects (several namespaces ...)
    srv.start()
    kubeconfig = srv.write_kubeconfig(tmp_path / "kubeconfig")   # context "fake"
    ...                                          # drive kubernetes.client / netdebug_nb.k8s
    srv.stop()

or the pytest fixtures :func:`apiserver` (started, loaded with ``cluster.yaml``) and
:func:`kubeconfig` (path of a kubeconfig for it). Import them into a ``conftest.py``::

    sys.path.insert(0, str(Path(__file__).parents[1] / "k8s"))
    from apiserver import apiserver, kubeconfig  # noqa: F401  (pytest fixtures)

API (everything thread-safe; the server runs in daemon threads):

- Store: ``srv.objects`` maps ``(resource_key, namespace, name)`` → object dict, where
  ``resource_key`` is ``"v1/pods"``, ``"discovery.k8s.io/v1/endpointslices"`` ... and namespace
  is ``""`` for cluster-scoped objects. ``srv.put(obj)`` / ``srv.get(key, ns, name)`` /
  ``srv.load(path)`` (YAML multi-document or JSON ``List``) fill and read it.
- Resources: ``srv.resources`` maps resource key → :class:`Resource`; ``srv.add_resource(...)``
  registers more (e.g. ``batch/v1`` jobs). Built in: pods, services, endpoints, nodes, namespaces,
  secrets, serviceaccounts, configmaps, events (v1); endpointslices (discovery.k8s.io/v1);
  networkpolicies (networking.k8s.io/v1);
  daemonsets, deployments, replicasets (apps/v1); roles, rolebindings, clusterroles,
  clusterrolebindings (rbac.authorization.k8s.io/v1).
- Generic verbs on every resource: list (``limit``/``continue`` pagination with
  ``remainingItemCount``, ``labelSelector`` with =, ==, !=, in, notin, exists, !exists,
  ``fieldSelector`` with =, ==, != on any dotted path), get, create (POST; 409 AlreadyExists,
  fills uid/resourceVersion/creationTimestamp), replace (PUT), delete (DELETE).
  ``watch=true`` answers 405 unless a route handles it.
- Extension: ``srv.route(method, regex, handler)`` adds a handler tried BEFORE the generic
  verbs; ``handler(req: Request) -> Response``; ``req.match`` holds the regex groups. A
  :class:`Response` may stream: give ``chunks`` (an iterable of bytes) instead of ``body``;
  they are sent as they come and the connection is closed at the end (how watches and
  ``follow=true`` logs behave). ``srv.on_create[resource_key] = fn(obj)`` mutates created
  objects (e.g. a Job creating its pod).
- Faults: ``srv.forbid(verb, plural, namespace=None)`` answers 403 with the API server's exact
  message shape; ``srv.delay(regex, seconds)`` sleeps before answering matching paths (timeouts).
  ``srv.fail(regex, status, message)`` answers any status.
- Discovery: ``/api``, ``/apis``, ``/apis/GROUP``, ``/api/v1``, ``/apis/GROUP/VERSION`` are served
  from ``srv.resources`` (with kubectl's short names), so the real ``kubectl`` works against it.
- Auth: with ``token=...`` every request needs ``Authorization: Bearer <token>`` (else 401).
- TLS: ``FakeApiServer(tls=(certfile, keyfile))`` serves HTTPS (the in-cluster path needs it).
- Log: ``srv.requests`` lists every request as ``(method, path, query dict)``.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

# scripts run in lab namespaces (tests/probe/apiserver_daemon.py) import this file with only tests/k8s on their path
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from ndtestkit import closed_port as closed_port  # re-exported: the k8s tests take it from here
from ndtestkit import listening_port

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "k8s"


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        return f"{self.group_version}/{self.plural}"


BUILTIN_RESOURCES = [
    Resource("", "v1", "pods", "Pod", True),
    Resource("", "v1", "services", "Service", True),
    Resource("", "v1", "endpoints", "Endpoints", True),
    Resource("", "v1", "nodes", "Node", False),
    Resource("", "v1", "namespaces", "Namespace", False),
    Resource("", "v1", "secrets", "Secret", True),
    Resource("", "v1", "serviceaccounts", "ServiceAccount", True),
    Resource("", "v1", "configmaps", "ConfigMap", True),
    Resource("", "v1", "events", "Event", True),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    Resource("apps", "v1", "daemonsets", "DaemonSet", True),
    Resource("apps", "v1", "deployments", "Deployment", True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True),
    Resource("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    Resource("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    Resource("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON, or None
    match: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list → JSON, str/bytes sent as they are
    content_type: str = "application/json"
    chunks: Iterable[bytes] | None = None  # streamed, connection closed at the end


Handler = Callable[[Request], Response]

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<namespace>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)

_SHORT_NAMES = {
    "pods": ["po"],
    "services": ["svc"],
    "endpoints": ["ep"],
    "nodes": ["no"],
    "namespaces": ["ns"],
    "serviceaccounts": ["sa"],
    "configmaps": ["cm"],
    "events": ["ev"],
    "daemonsets": ["ds"],
    "deployments": ["deploy"],
    "replicasets": ["rs"],
    "networkpolicies": ["netpol"],
}

_VERB = {"GET": "get", "POST": "create", "PUT": "update", "DELETE": "delete", "PATCH": "patch"}


def status(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> Response:
    """An error the way the API server sends it: a ``Status`` object."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return Response(code, body)


# --- selectors -------------------------------------------------------------------------------


def _split_terms(selector: str) -> list[str]:
    terms, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        terms.append(cur.strip())
    return terms


def label_matcher(selector: str) -> Callable[[dict[str, str]], bool]:
    """Compile a label selector (the API server's syntax) into a predicate on a labels dict."""
    checks: list[Callable[[dict[str, str]], bool]] = []
    for term in _split_terms(selector):
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            key, op, vals = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            if op == "in":
                checks.append(lambda lb, k=key, vs=vals: lb.get(k) in vs)
            else:
                checks.append(lambda lb, k=key, vs=vals: lb.get(k) not in vs)
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|!=|=)\s*([\w.-]*)", term)
        if m:
            key, op, val = m.groups()
            if op == "!=":
                checks.append(lambda lb, k=key, v=val: lb.get(k) != v)
            else:
                checks.append(lambda lb, k=key, v=val: lb.get(k) == v)
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", term)
        if m:
            neg, key = m.groups()
            checks.append(lambda lb, k=key, n=bool(neg): (k in lb) != n)
            continue
        raise ValueError(f"unable to parse requirement: {term!r}")
    return lambda labels: all(c(labels) for c in checks)


def _dig(obj: Any, path: str) -> str:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    if obj is None:
        return ""
    if isinstance(obj, bool):
        return str(obj).lower()
    return str(obj)


def field_matcher(selector: str) -> Callable[[dict[str, Any]], bool]:
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for term in _split_terms(selector):
        m = re.fullmatch(r"([\w.]+)\s*(==|!=|=)\s*(.*)", term)
        if not m:
            raise ValueError(f"invalid field selector: {term!r}")
        path, op, val = m.groups()
        if op == "!=":
            checks.append(lambda o, p=path, v=val: _dig(o, p) != v)
        else:
            checks.append(lambda o, p=path, v=val: _dig(o, p) == v)
    return lambda obj: all(c(obj) for c in checks)


# --- the server ------------------------------------------------------------------------------


class FakeApiServer:
    """See the module docstring."""

    def __init__(
        self,
        *,
        token: str | None = None,
        tls: tuple[str | Path, str | Path] | None = None,
        resources: Iterable[Resource] = BUILTIN_RESOURCES,
    ) -> None:
        self.token = token
        self.tls = tls
        self.resources: dict[str, Resource] = {}
        for r in resources:
            self.add_resource(r)
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.on_create: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._forbidden: list[tuple[str, str, str | None]] = []
        self._delays: list[tuple[re.Pattern[str], float]] = []
        self._failures: list[tuple[re.Pattern[str], int, str]] = []
        self._lock = threading.RLock()
        self._rv = 1000
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- configuration ------------------------------------------------------------------------

    def add_resource(self, resource: Resource) -> None:
        self.resources[resource.key] = resource

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method.upper(), re.compile(pattern), handler))

    def forbid(self, verb: str, plural: str, namespace: str | None = None) -> None:
        """Refuse ``verb`` (get, list, watch, create, delete ...) on ``plural`` (in ``namespace`` or everywhere)."""
        self._forbidden.append((verb, plural, namespace))

    def delay(self, pattern: str, seconds: float) -> None:
        self._delays.append((re.compile(pattern), seconds))

    def fail(self, pattern: str, code: int, message: str = "injected failure") -> None:
        self._failures.append((re.compile(pattern), code, message))

    # -- store --------------------------------------------------------------------------------

    def resource_for(self, api_version: str, kind: str) -> Resource:
        for r in self.resources.values():
            if r.group_version == api_version and r.kind == kind:
                return r
        raise KeyError(f"no resource registered for {api_version} {kind}")

    def _next_rv(self) -> str:
        with self._lock:
            self._rv += 1
            return str(self._rv)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` (must carry apiVersion and kind), filling server-set metadata."""
        res = self.resource_for(obj["apiVersion"], obj["kind"])
        meta = obj.setdefault("metadata", {})
        ns = meta.get("namespace", "default") if res.namespaced else ""
        if res.namespaced:
            meta["namespace"] = ns
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2026-11-27T09:14:03Z")
        meta["resourceVersion"] = self._next_rv()
        with self._lock:
            self.objects[(res.key, ns, meta["name"])] = obj
        return obj

    def get(self, key: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self.objects.get((key, namespace, name))

    def load(self, path: str | Path) -> None:
        text = Path(path).read_text()
        if str(path).endswith(".json"):
            doc = json.loads(text)
            docs = doc["items"] if doc.get("kind") == "List" else [doc]
        else:
            docs = [d for d in yaml.safe_load_all(text) if d]
        for d in docs:
            if d.get("kind") == "List":
                for item in d["items"]:
                    self.put(item)
            else:
                self.put(d)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    def start(self) -> FakeApiServer:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                server._serve(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        httpd.daemon_threads = True
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="fake-apiserver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        context: str = "fake",
        namespace: str = "default",
        extra_contexts: dict[str, str] | None = None,
    ) -> Path:
        """Write a kubeconfig whose ``context`` points here; ``extra_contexts`` maps more
        context names to server URLs (e.g. a closed port, to test context selection)."""
        servers = {context: self.url, **(extra_contexts or {})}
        cfg: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": context,
            "clusters": [],
            "contexts": [],
            "users": [{"name": "tester", "user": {"token": self.token} if self.token else {}}],
            "preferences": {},
        }
        for name, url in servers.items():
            cluster: dict[str, Any] = {"server": url}
            if url.startswith("https"):
                cluster["certificate-authority"] = str(self.tls[0]) if self.tls else ""
            cfg["clusters"].append({"name": name, "cluster": cluster})
            cfg["contexts"].append(
                {"name": name, "context": {"cluster": name, "user": "tester", "namespace": namespace}}
            )
        p = Path(path)
        p.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return p

    # -- request handling ---------------------------------------------------------------------

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = Request(h.command, parts.path, query, {k.lower(): v for k, v in h.headers.items()}, body)
        with self._lock:
            self.requests.append((req.method, req.path, dict(query)))
        try:
            resp = self._dispatch(req)
        except Exception as exc:  # a bug in a handler must show up in the test, not hang it
            resp = status(500, "InternalError", f"fake apiserver: {type(exc).__name__}: {exc}")
        self._write(h, resp)

    def _write(self, h: BaseHTTPRequestHandler, resp: Response) -> None:
        try:
            h.send_response(resp.status)
            h.send_header("Content-Type", resp.content_type)
            if resp.chunks is not None:
                h.send_header("Connection", "close")
                h.end_headers()
                for chunk in resp.chunks:
                    if self._stopping.is_set():
                        break
                    h.wfile.write(chunk)
                    h.wfile.flush()
                h.close_connection = True
                return
            if isinstance(resp.body, bytes):
                data = resp.body
            elif isinstance(resp.body, str):
                data = resp.body.encode()
            else:
                data = json.dumps(resp.body if resp.body is not None else {}).encode()
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            h.close_connection = True

    def _dispatch(self, req: Request) -> Response:
        for pattern, seconds in self._delays:
            if pattern.search(req.path):
                self._stopping.wait(seconds)
        if self.token is not None:
            scheme, _, given = req.headers.get("authorization", "").partition(" ")
            # auth schemes are case-insensitive (RFC 7235); the in-cluster loader sends "bearer"
            if scheme.lower() != "bearer" or given.strip() != self.token:
                return status(401, "Unauthorized", "Unauthorized")
        for pattern, code, message in self._failures:
            if pattern.search(req.path):
                return status(code, "InternalError" if code >= 500 else "BadRequest", message)
        for method, pattern, handler in self.routes:
            m = pattern.search(req.path)
            if m and method == req.method:
                req.match = {k: v for k, v in m.groupdict().items() if v is not None}
                return handler(req)
        if req.path.rstrip("/") == "/version":
            return Response(
                body={
                    "major": "1",
                    "minor": "31",
                    "gitVersion": "v1.31.2",
                    "gitCommit": "5864a4677267e6adeae276ad85882a8714d69d9d",
                    "gitTreeState": "clean",
                    "buildDate": "2024-10-22T20:28:14Z",
                    "goVersion": "go1.22.8",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                }
            )
        discovered = self._discovery(req.path.rstrip("/"))
        if discovered is not None:
            return discovered
        m = _PATH.match(req.path)
        if not m:
            return status(404, "NotFound", "the server could not find the requested resource")
        g = m.groupdict()
        gv = g["core"] or f"{g['group']}/{g['version']}"
        res = self.resources.get(f"{gv}/{g['plural']}")
        if res is None:
            return status(404, "NotFound", "the server could not find the requested resource")
        req.match = {k: v for k, v in g.items() if v is not None}
        ns, name = g["namespace"], g["name"]
        if g["sub"]:
            return status(404, "NotFound", f"subresource {g['sub']!r} not served by the fake apiserver")
        verb = _VERB.get(req.method, req.method.lower())
        if req.method == "GET" and name is None:
            verb = "watch" if req.query.get("watch") in ("true", "1") else "list"
        refused = self._refusal(verb, res, ns)
        if refused:
            return refused
        if verb == "watch":
            return status(405, "MethodNotAllowed", "watch is not served by the fake apiserver")
        if verb == "list":
            return self._list(req, res, ns)
        if res.namespaced and ns is None and name is not None:
            return status(404, "NotFound", "the server could not find the requested resource")
        key_ns = (ns or "") if res.namespaced else ""
        if verb == "create":
            return self._create(req, res, key_ns)
        assert name is not None
        with self._lock:
            obj = self.objects.get((res.key, key_ns, name))
        if obj is None:
            return self._not_found(res, name)
        if verb == "get":
            return Response(body=obj)
        if verb == "delete":
            with self._lock:
                self.objects.pop((res.key, key_ns, name), None)
            return Response(body=obj)
        if verb == "update":
            new = dict(req.body or {})
            new.setdefault("metadata", {})["namespace"] = key_ns or None
            new["metadata"]["uid"] = obj["metadata"]["uid"]
            new["metadata"]["creationTimestamp"] = obj["metadata"]["creationTimestamp"]
            new["metadata"]["resourceVersion"] = self._next_rv()
            with self._lock:
                self.objects[(res.key, key_ns, name)] = new
            return Response(body=new)
        return status(405, "MethodNotAllowed", f"{req.method} is not served by the fake apiserver")

    def _discovery(self, path: str) -> Response | None:
        """The unaggregated discovery documents ``kubectl`` reads before any request (it falls
        back to them when the answer to its aggregated-discovery Accept header is plain JSON)."""
        with self._lock:
            resources = list(self.resources.values())
        versions: dict[str, list[Resource]] = {}
        for r in resources:
            versions.setdefault(r.group_version, []).append(r)
        groups = sorted({r.group for r in resources if r.group})
        if path == "/api":
            return Response(
                body={
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
                }
            )

        def group_doc(name: str) -> dict[str, Any]:
            gvs = sorted({r.version for r in resources if r.group == name})
            entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in gvs]
            return {"name": name, "versions": entries, "preferredVersion": entries[0]}

        if path == "/apis":
            return Response(
                body={"kind": "APIGroupList", "apiVersion": "v1", "groups": [group_doc(g) for g in groups]}
            )
        m = re.fullmatch(r"/apis/([^/]+)", path)
        if m and m.group(1) in groups:
            return Response(body={"kind": "APIGroup", "apiVersion": "v1", **group_doc(m.group(1))})
        m = re.fullmatch(r"/api/(v1)|/apis/([^/]+/[^/]+)", path)
        if m and (m.group(1) or m.group(2)) in versions:
            gv = m.group(1) or m.group(2)
            verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
            return Response(
                body={
                    "kind": "APIResourceList",
                    "apiVersion": "v1",
                    "groupVersion": gv,
                    "resources": [
                        {
                            "name": r.plural,
                            "singularName": r.kind.lower(),
                            "namespaced": r.namespaced,
                            "kind": r.kind,
                            "verbs": verbs,
                            **({"shortNames": _SHORT_NAMES[r.plural]} if r.plural in _SHORT_NAMES else {}),
                        }
                        for r in versions[gv]
                    ],
                }
            )
        return None

    def _refusal(self, verb: str, res: Resource, ns: str | None) -> Response | None:
        for f_verb, f_plural, f_ns in self._forbidden:
            if f_verb == verb and f_plural == res.plural and (f_ns is None or f_ns == ns):
                scope = f' in the namespace "{ns}"' if ns else " at the cluster scope"
                user = "system:serviceaccount:netdebug:netdebug"
                return status(
                    403,
                    "Forbidden",
                    f'{res.plural} is forbidden: User "{user}" cannot {verb} resource "{res.plural}" '
                    f'in API group "{res.group}"{scope}',
                    {"kind": res.plural, "group": res.group},
                )
        return None

    def _not_found(self, res: Resource, name: str) -> Response:
        return status(
            404,
            "NotFound",
            f'{res.plural} "{name}" not found',
            {"name": name, "kind": res.plural, "group": res.group},
        )

    def _list(self, req: Request, res: Resource, ns: str | None) -> Response:
        try:
            labels = label_matcher(req.query.get("labelSelector", ""))
            fields = field_matcher(req.query.get("fieldSelector", ""))
        except ValueError as exc:
            return status(400, "BadRequest", str(exc))
        with self._lock:
            items = [
                o
                for (key, o_ns, _), o in sorted(self.objects.items())
                if key == res.key and (ns is None or not res.namespaced or o_ns == ns)
            ]
            rv = str(self._rv)
        items = [o for o in items if labels(o["metadata"].get("labels") or {}) and fields(o)]
        offset = 0
        if req.query.get("continue"):
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(req.query["continue"]))["offset"])
            except (ValueError, KeyError, TypeError):
                return status(400, "BadRequest", "continue key is not valid")
        limit = int(req.query.get("limit") or 0)
        page = items[offset : offset + limit] if limit > 0 else items[offset:]
        meta: dict[str, Any] = {"resourceVersion": rv}
        nxt = offset + len(page)
        if nxt < len(items):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"offset": nxt}).encode()).decode()
            meta["remainingItemCount"] = len(items) - nxt
        return Response(
            body={
                "kind": f"{res.kind}List",
                "apiVersion": res.group_version,
                "metadata": meta,
                "items": page,
            }
        )

    def _create(self, req: Request, res: Resource, ns: str) -> Response:
        obj = req.body
        if not isinstance(obj, dict):
            return status(400, "BadRequest", "the body of the request was not a JSON object")
        meta = obj.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name")
        if not name:
            return status(422, "Invalid", f"{res.kind} is invalid: metadata.name: Required value")
        obj.setdefault("apiVersion", res.group_version)
        obj.setdefault("kind", res.kind)
        if res.namespaced:
            meta["namespace"] = ns
        meta["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock:
            if (res.key, ns, name) in self.objects:
                return status(
                    409,
                    "AlreadyExists",
                    f'{res.plural} "{name}" already exists',
                    {"name": name, "kind": res.plural, "group": res.group},
                )
            if res.key == "v1/pods":
                obj.setdefault("status", {"phase": "Pending", "qosClass": "Burstable"})
            hook = self.on_create.get(res.key)
            if hook:
                hook(obj)
            self.put(obj)
        return Response(201, obj)


# --- helpers for tests -----------------------------------------------------------------------


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A CA-less self-signed certificate for 127.0.0.1 (what a test API server can present)."""
    import subprocess

    cert, key = directory / "apiserver.crt", directory / "apiserver.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=kubernetes",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:kubernetes.default.svc",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


silent_port = listening_port  # a port that accepts TCP connections but never answers (a hung API server)


TEST_TOKEN = "fake-sa-token-0123456789"


@pytest.fixture
def apiserver() -> Iterator[FakeApiServer]:
    """A started server holding ``tests/fixtures/k8s/cluster.yaml`` and ``networkpolicies.yaml``,
    requiring :data:`TEST_TOKEN`."""
    srv = FakeApiServer(token=TEST_TOKEN)
    srv.load(FIXTURES / "cluster.yaml")
    srv.load(FIXTURES / "networkpolicies.yaml")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def kubeconfig(apiserver: FakeApiServer, tmp_path: Path) -> Path:
    """A kubeconfig whose current context ``fake`` points at :func:`apiserver`."""
    return apiserver.write_kubeconfig(tmp_path / "kubeconfig")
