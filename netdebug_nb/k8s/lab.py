"""Apply the JupyterLab pod to a cluster and tell the user how to reach it.

Idempotent by design: an object that already exists is reported and left alone (a second
``k8s lab`` must not rotate the token of a running lab or restart its pod). The token is never
printed: the user reads it from the Secret with the command we print, so it does not end up in
terminal scrollback or CI logs.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import ClusterError
from netdebug_nb.k8s import manifests

if TYPE_CHECKING:
    from netdebug_nb.k8s.client import Cluster


@dataclass
class LabResult:
    namespace: str
    pod: str
    local_port: int
    remote_port: int
    actions: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, name, created|exists)

    @property
    def port_forward(self) -> str:
        return f"kubectl -n {self.namespace} port-forward pod/{self.pod} {self.local_port}:{self.remote_port}"

    @property
    def token_command(self) -> str:
        return (
            f"kubectl -n {self.namespace} get secret {manifests.TOKEN_SECRET} "
            "-o jsonpath='{.data.token}' | base64 -d"
        )

    def instructions(self) -> str:
        return "\n".join(
            [
                f"1. forward the port:  {self.port_forward}",
                f"2. read the token:    {self.token_command}",
                f"3. open http://127.0.0.1:{self.local_port}/?token=<token>  (lands on START.md)",
                f"   wait for Ready:    kubectl -n {self.namespace} wait --for=condition=Ready pod/{self.pod} --timeout=120s",
            ]
        )


# kind → (API class, create method, namespaced)
_CREATE: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("CoreV1Api", "create_namespace", False),
    "ServiceAccount": ("CoreV1Api", "create_namespaced_service_account", True),
    "Secret": ("CoreV1Api", "create_namespaced_secret", True),
    "Pod": ("CoreV1Api", "create_namespaced_pod", True),
    "ClusterRole": ("RbacAuthorizationV1Api", "create_cluster_role", False),
    "ClusterRoleBinding": ("RbacAuthorizationV1Api", "create_cluster_role_binding", False),
}
_RESOURCE = {
    "Namespace": "namespaces",
    "ServiceAccount": "serviceaccounts",
    "Secret": "secrets",
    "Pod": "pods",
    "ClusterRole": "clusterroles",
    "ClusterRoleBinding": "clusterrolebindings",
}


def plan(
    namespace: str = manifests.NAMESPACE,
    image: str = manifests.DEFAULT_IMAGE,
    *,
    host_network: bool = False,
    node: str = "",
) -> list[dict[str, Any]]:
    """The objects :func:`apply` would create (the Secret's token is a fresh random one)."""
    if host_network and not node:
        from netdebug_nb.errors import UsageError

        raise UsageError("a host-network lab pod needs --node NAME (the node to run on)")
    objs = manifests.lab_objects(
        namespace, image, token=secrets.token_urlsafe(32), host_network=host_network, node=node
    )
    for i, obj in enumerate(objs):
        manifests.validate(obj, f"lab object {i + 1} ({obj['kind']})")
    return objs


def apply(cluster: Cluster, objs: list[dict[str, Any]]) -> LabResult:
    """Create each object unless it exists; report what happened."""
    from netdebug_nb.k8s.client import ClusterConflictError, ClusterForbiddenError

    pod = next(o for o in objs if o["kind"] == "Pod")
    ns = pod["metadata"]["namespace"]
    host = bool(pod["spec"].get("hostNetwork"))
    result = LabResult(
        namespace=ns,
        pod=pod["metadata"]["name"],
        local_port=manifests.LAB_PORT,
        remote_port=manifests.HOST_LAB_PORT if host else manifests.LAB_PORT,
    )
    for obj in objs:
        kind, name = obj["kind"], obj["metadata"]["name"]
        api_name, method, namespaced = _CREATE[kind]
        fn = getattr(cluster.client(api_name), method)
        args = (obj["metadata"]["namespace"], obj) if namespaced else (obj,)
        try:
            cluster.get_json(
                "create", _RESOURCE[kind], fn, *args, namespace=ns if namespaced else None, name=name
            )
            result.actions.append((kind, name, "created"))
        except ClusterConflictError:
            result.actions.append((kind, name, "exists"))
        except ClusterForbiddenError:
            # may not create namespaces, yet the namespace is there: carry on
            if kind != "Namespace" or not _exists(cluster, "namespaces", name):
                raise
            result.actions.append((kind, name, "exists"))
    return result


def _exists(cluster: Cluster, resource: str, name: str) -> bool:
    from netdebug_nb.k8s.client import ClusterApiError

    try:
        cluster.get(resource, name)
    except ClusterApiError:
        return False
    return True


class LabNotReadyError(ClusterError):
    """The lab pod did not become Ready in time; the message carries the kubelet's reason."""

    def __init__(self, namespace: str, pod: str, timeout_s: float, why: str) -> None:
        self.namespace = namespace
        self.pod = pod
        super().__init__(f"pod {namespace}/{pod} not Ready after {timeout_s:g} s: {why}")


def pod_state(pod: dict[str, Any]) -> tuple[bool, str]:
    """(ready, what the pod is doing) from a Pod object, e.g. ``container lab waiting: ImagePullBackOff``."""
    st = pod.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or [])
    for c in st.get("containerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting")
        if waiting:
            msg = f" ({waiting['message']})" if waiting.get("message") else ""
            return ready, f"container {c.get('name')} waiting: {waiting.get('reason', '?')}{msg}"
        if not c.get("ready"):
            return ready, f"container {c.get('name')} running, readiness probe not passing yet"
    for c in st.get("conditions") or []:
        if c.get("status") != "True" and c.get("reason"):
            return ready, f"{c.get('type')}: {c['reason']}" + (
                f" ({c['message']})" if c.get("message") else ""
            )
    return ready, f"phase {st.get('phase', 'unknown')}"


def wait_ready(cluster: Cluster, namespace: str, pod: str, timeout_s: float, *, poll_s: float = 2.0) -> str:
    """Poll until the pod is Ready (its exec probe reached JupyterLab with the token)."""
    deadline = time.monotonic() + timeout_s
    while True:
        ready, why = pod_state(cluster.get("pods", pod, namespace))
        if ready:
            return why
        if time.monotonic() >= deadline:
            raise LabNotReadyError(namespace, pod, timeout_s, why)
        time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
