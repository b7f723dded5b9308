"""Connecting to a cluster with the official client, with every call bounded and every failure a
one-line :class:`~netdebug_nb.errors.ClusterError`.

On call, "the API server did not answer" must come back in seconds, not after urllib3's default
retries and no read timeout; and "RBAC forbids it" must name the verb and resource so the reader
knows which rule to add. All calls therefore go through :meth:`Cluster.call`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdebug_nb.errors import ClusterError

SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
"""Where the kubelet mounts a pod's service-account token, CA and namespace."""

DEFAULT_PAGE = 500
"""Items per list call: large enough to be quick, small enough to bound one response."""


class ClusterConfigError(ClusterError):
    """No usable configuration: not in a pod and no kubeconfig, or a bad kubeconfig/context."""

    exit_code = 2


class ClusterUnreachableError(ClusterError):
    def __init__(self, server: str, reason: str) -> None:
        self.server = server
        self.reason = reason
        super().__init__(f"Kubernetes API {server} unreachable: {reason}")


class ClusterApiError(ClusterError):
    """The API server answered with an error status."""

    def __init__(self, message: str, *, status: int, verb: str, resource: str) -> None:
        self.status = status
        self.verb = verb
        self.resource = resource
        super().__init__(message)


class ClusterForbiddenError(ClusterApiError):
    def __init__(self, verb: str, resource: str, namespace: str | None, identity: str = "") -> None:
        self.namespace = namespace
        where = f" in namespace {namespace!r}" if namespace else " cluster-wide"
        who = f" for {identity}" if identity else ""
        super().__init__(
            f"Kubernetes RBAC forbids {verb} {resource}{where}{who} "
            f"(grant {verb} on {resource}: see deploy/rbac.yaml)",
            status=403,
            verb=verb,
            resource=resource,
        )


class ClusterUnauthorizedError(ClusterApiError):
    def __init__(self, verb: str, resource: str, source: str) -> None:
        super().__init__(
            f"Kubernetes API rejected the credentials from {source} (401) on {verb} {resource}",
            status=401,
            verb=verb,
            resource=resource,
        )


class ClusterNotFoundError(ClusterApiError):
    def __init__(self, verb: str, resource: str, name: str, namespace: str | None) -> None:
        self.name = name
        self.namespace = namespace
        where = f"{namespace}/{name}" if namespace else name
        super().__init__(f"{resource} {where!r} not found", status=404, verb=verb, resource=resource)


class ClusterConflictError(ClusterApiError):
    def __init__(self, verb: str, resource: str, name: str) -> None:
        self.name = name
        super().__init__(f"{resource} {name!r} already exists", status=409, verb=verb, resource=resource)


@dataclass
class Cluster:
    """A connected client plus what the reader needs to know about where it points."""

    api: Any  # kubernetes.client.ApiClient
    source: str  # "in-cluster" or the kubeconfig path
    context: str  # kubeconfig context ("" in-cluster)
    server: str
    namespace: str  # the default namespace of the context / the pod
    timeout_s: float

    def describe(self) -> str:
        where = f"context {self.context!r}" if self.context else "in-cluster service account"
        return f"{where} at {self.server}"

    def client(self, name: str) -> Any:
        """A typed API group client (``CoreV1Api``, ``DiscoveryV1Api``, ``RbacAuthorizationV1Api`` ...)."""
        from kubernetes import client

        return getattr(client, name)(self.api)

    def call(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        name: str = "",
        **kwargs: Any,
    ) -> Any:
        """Run one API call with the cluster's timeout; map every failure to a ClusterError."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        t = self.timeout_s
        try:
            return fn(*args, _request_timeout=(t, t), **kwargs)
        except ApiException as exc:
            raise self._api_error(exc, verb, resource, namespace, name) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise ClusterUnreachableError(self.server, _reason(exc, t)) from exc
        except OSError as exc:
            raise ClusterUnreachableError(self.server, str(exc) or type(exc).__name__) from exc

    def _api_error(
        self, exc: Any, verb: str, resource: str, namespace: str | None, name: str
    ) -> ClusterError:
        code = int(exc.status or 0)
        message = ""
        try:
            message = json.loads(exc.body or "{}").get("message", "")
        except (TypeError, ValueError):
            message = ""
        if code == 403:
            identity = ""
            if 'User "' in message:
                identity = message.split('User "', 1)[1].split('"', 1)[0]
            return ClusterForbiddenError(verb, resource, namespace, identity)
        if code == 401:
            return ClusterUnauthorizedError(verb, resource, self.source)
        if code == 404:
            return ClusterNotFoundError(verb, resource, name, namespace)
        if code == 409:
            return ClusterConflictError(verb, resource, name)
        text = message or exc.reason or "error"
        return ClusterApiError(
            f"Kubernetes API {verb} {resource} failed ({code}): {text}".replace("\n", " "),
            status=code,
            verb=verb,
            resource=resource,
        )

    def get_json(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        namespace: str | None = None,
        name: str = "",
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Like :meth:`call` but returns the raw JSON document.

        Deserializing into the client's typed models doubles the cost of listing a large
        cluster (bench/k8s_inventory.py); the inventory only needs plain fields, so it reads
        the JSON itself."""
        resp = self.call(
            verb, resource, fn, *args, namespace=namespace, name=name, _preload_content=False, **kwargs
        )
        try:
            doc: dict[str, Any] = json.loads(resp.data)
        except ValueError as exc:
            raise ClusterApiError(
                f"Kubernetes API {verb} {resource}: answer is not JSON",
                status=int(getattr(resp, "status", 0) or 0),
                verb=verb,
                resource=resource,
            ) from exc
        return doc

    def list(
        self,
        resource: str,
        *,
        namespace: str | None = None,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = DEFAULT_PAGE,
    ) -> list[dict[str, Any]]:
        """Every object of ``resource`` (paginated with limit/continue), as plain dicts."""
        group, namespaced, cluster_wide = _LISTS[resource]
        api = self.client(group)
        args: tuple[str, ...] = ()
        if namespace and namespaced:
            fn, args = getattr(api, namespaced), (namespace,)
        else:
            fn, args = getattr(api, cluster_wide), ()
        kwargs: dict[str, Any] = {"limit": limit}
        if label_selector:
            kwargs["label_selector"] = label_selector
        if field_selector:
            kwargs["field_selector"] = field_selector
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            if token:
                kwargs["_continue"] = token
            doc = self.get_json("list", resource, fn, *args, namespace=namespace, **kwargs)
            items.extend(doc.get("items") or [])
            token = (doc.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def get(self, resource: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        group, method, namespaced = _GETS[resource]
        fn = getattr(self.client(group), method)
        args = (name, namespace) if namespaced else (name,)
        return self.get_json("get", resource, fn, *args, namespace=namespace, name=name)


_LISTS: dict[str, tuple[str, str, str]] = {
    # resource: (API class, namespaced list method, all-namespaces / cluster list method)
    "pods": ("CoreV1Api", "list_namespaced_pod", "list_pod_for_all_namespaces"),
    "services": ("CoreV1Api", "list_namespaced_service", "list_service_for_all_namespaces"),
    "endpoints": ("CoreV1Api", "list_namespaced_endpoints", "list_endpoints_for_all_namespaces"),
    "endpointslices": (
        "DiscoveryV1Api",
        "list_namespaced_endpoint_slice",
        "list_endpoint_slice_for_all_namespaces",
    ),
    "nodes": ("CoreV1Api", "", "list_node"),
    "namespaces": ("CoreV1Api", "", "list_namespace"),
    "networkpolicies": (
        "NetworkingV1Api",
        "list_namespaced_network_policy",
        "list_network_policy_for_all_namespaces",
    ),
}

_GETS: dict[str, tuple[str, str, bool]] = {
    "pods": ("CoreV1Api", "read_namespaced_pod", True),
    "services": ("CoreV1Api", "read_namespaced_service", True),
    "nodes": ("CoreV1Api", "read_node", False),
    "namespaces": ("CoreV1Api", "read_namespace", False),
    "secrets": ("CoreV1Api", "read_namespaced_secret", True),
    "serviceaccounts": ("CoreV1Api", "read_namespaced_service_account", True),
}


def _reason(exc: Exception, timeout_s: float) -> str:
    """The innermost cause of a urllib3 failure, in a few words."""
    import urllib3

    inner: BaseException = exc
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        inner = exc.reason
    # NewConnectionError derives from ConnectTimeoutError in urllib3 2: test it first.
    if isinstance(inner, urllib3.exceptions.NewConnectionError):
        text = str(inner)
        return "connection refused" if "refused" in text.lower() else text.split(": ", 1)[-1][:160]
    if isinstance(inner, urllib3.exceptions.TimeoutError):
        return f"no answer within {timeout_s:g} s"
    if isinstance(inner, urllib3.exceptions.SSLError):
        return f"TLS failed: {str(inner).splitlines()[0][:160]}"
    return (str(inner).splitlines() or [type(inner).__name__])[0][:160]


def in_cluster_available(
    serviceaccount_dir: str | Path = SERVICEACCOUNT_DIR, environ: Mapping[str, str] | None = None
) -> bool:
    env = os.environ if environ is None else environ
    sa = Path(serviceaccount_dir)
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (sa / "token").is_file()


def default_kubeconfig(environ: Mapping[str, str] | None = None) -> Path:
    """``$KUBECONFIG`` (its first existing entry) or ``~/.kube/config``, read at call time."""
    env = os.environ if environ is None else environ
    for entry in (env.get("KUBECONFIG") or "").split(os.pathsep):
        if entry and Path(entry).expanduser().is_file():
            return Path(entry).expanduser()
    return Path("~/.kube/config").expanduser()


def connect(
    kubeconfig: str = "",
    context: str = "",
    *,
    timeout_s: float = 5.0,
    serviceaccount_dir: str | Path = SERVICEACCOUNT_DIR,
    probe: bool = True,
) -> Cluster:
    """Connect the way ``kubectl`` would: an explicit kubeconfig/context wins; else the pod's
    service account when running in a pod; else ``$KUBECONFIG`` or ``~/.kube/config``.

    With ``probe`` (the default) the API server's ``/version`` is read once so that an
    unreachable cluster fails here, in at most ``timeout_s`` seconds, not in the first query.
    """
    from kubernetes import client

    cfg = client.Configuration()
    if not kubeconfig and not context and in_cluster_available(serviceaccount_dir):
        source, ctx_name, namespace = _load_in_cluster(cfg, Path(serviceaccount_dir))
    else:
        path = Path(kubeconfig).expanduser() if kubeconfig else default_kubeconfig()
        if not path.is_file():
            if kubeconfig:
                raise ClusterConfigError(f"kubeconfig {path}: no such file")
            raise ClusterConfigError(
                "no Kubernetes configuration: not running in a pod (KUBERNETES_SERVICE_HOST unset "
                f"or no service-account token) and no kubeconfig at {path}",
                hint="pass --kubeconfig/kubeconfig= or set KUBECONFIG",
            )
        source, ctx_name, namespace = str(path), *_load_kubeconfig(cfg, path, context)
    # urllib3 would otherwise retry a refused connection three times and wait forever on a
    # silent server; one attempt per call, bounded by Cluster.call's (connect, read) timeout.
    cfg.retries = 0
    api = client.ApiClient(cfg)
    cluster = Cluster(
        api=api,
        source=source,
        context=ctx_name,
        server=str(cfg.host),
        namespace=namespace,
        timeout_s=timeout_s,
    )
    if probe:
        cluster.get_json("get", "version", cluster.client("VersionApi").get_code)
    return cluster


def _load_in_cluster(cfg: Any, sa: Path) -> tuple[str, str, str]:
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    try:
        InClusterConfigLoader(
            token_filename=str(sa / "token"), cert_filename=str(sa / "ca.crt")
        ).load_and_set(cfg)
    except ConfigException as exc:
        raise ClusterConfigError(f"in-cluster configuration ({sa}): {exc}") from exc
    ns_file = sa / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    return "in-cluster", "", namespace or "default"


def _load_kubeconfig(cfg: Any, path: Path, context: str) -> tuple[str, str]:
    import yaml
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    try:
        contexts, current = config.list_kube_config_contexts(config_file=str(path))
        chosen = next((c for c in contexts if c["name"] == context), None) if context else current
        if context and chosen is None:
            names = ", ".join(c["name"] for c in contexts)
            raise ClusterConfigError(f"kubeconfig {path}: no context {context!r} (has: {names})")
        config.load_kube_config(
            config_file=str(path), context=context or None, client_configuration=cfg, persist_config=False
        )
    except ConfigException as exc:
        raise ClusterConfigError(f"kubeconfig {path}: {str(exc).splitlines()[0]}") from exc
    except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise ClusterConfigError(f"kubeconfig {path}: unreadable ({type(exc).__name__}: {exc})") from exc
    chosen = chosen or {}
    namespace = (chosen.get("context") or {}).get("namespace") or "default"
    return str(chosen.get("name", context)), str(namespace)
