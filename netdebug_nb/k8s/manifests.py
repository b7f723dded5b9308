"""The kit's Kubernetes objects: read-only RBAC, the JupyterLab pod (and its host-network
variant), the token Secret; rendered here and checked strictly against the client's models.

The YAML under ``deploy/`` is what people read and ``kubectl apply``; :func:`lab_objects` is what
``netdebug-nb k8s lab`` creates when the package is installed without the repository. A test keeps
the two identical. :func:`validate` refuses unknown fields (the client's deserializer drops them
silently, and a misspelt ``readinesProbe`` would otherwise deploy a pod without its probe) and
wrong types (pydantic strict models).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from netdebug_nb.errors import InputError

DEFAULT_IMAGE = "ghcr.io/netdebug/netdebug:lab"
NAMESPACE = "netdebug"
SERVICE_ACCOUNT = "netdebug"
CLUSTER_ROLE = "netdebug-read"
LAB_POD = "netdebug-lab"
HOST_POD = "netdebug-lab-host"
TOKEN_SECRET = "netdebug-lab-token"
TOKEN_DIR = "/run/secrets/netdebug"
LAB_PORT = 8888
HOST_LAB_PORT = 18888  # on a node's loopback 8888 is often taken; 18888 rarely is
NODE_PLACEHOLDER = "NODE_NAME"  # upper case: the API rejects it if applied unedited

READ_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [""],
        "resources": ["pods", "services", "endpoints", "nodes", "namespaces"],
        "verbs": ["get", "list", "watch"],
    },
    {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
    {
        # policies of other kinds, only to list them as "not evaluated" (objects.collect)
        "apiGroups": ["cilium.io", "crd.projectcalico.org", "policy.networking.k8s.io", "crd.antrea.io"],
        "resources": [
            "ciliumnetworkpolicies",
            "ciliumclusterwidenetworkpolicies",
            "networkpolicies",
            "globalnetworkpolicies",
            "adminnetworkpolicies",
            "baselineadminnetworkpolicies",
            "clusternetworkpolicies",
        ],
        "verbs": ["get", "list", "watch"],
    },
]

MODELS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "Secret"): "V1Secret",
    ("v1", "Pod"): "V1Pod",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
}


class ManifestError(InputError):
    """A manifest that the API server would refuse or silently change."""


def _labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "netdebug", "app.kubernetes.io/component": component}


def namespace(ns: str = NAMESPACE) -> dict[str, Any]:
    # NET_ADMIN is outside the "baseline" Pod Security level: the namespace must allow it.
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {
                "app.kubernetes.io/name": "netdebug",
                "pod-security.kubernetes.io/enforce": "privileged",
            },
        },
    }


def rbac(ns: str = NAMESPACE) -> list[dict[str, Any]]:
    """ServiceAccount + read-only ClusterRole (get/list/watch, nothing else) + binding."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": SERVICE_ACCOUNT, "namespace": ns, "labels": _labels("rbac")},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": CLUSTER_ROLE, "labels": _labels("rbac")},
            "rules": READ_RULES,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"{CLUSTER_ROLE}-{ns}", "labels": _labels("rbac")},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": ns}],
        },
    ]


def token_secret(token: str, ns: str = NAMESPACE) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": TOKEN_SECRET, "namespace": ns, "labels": _labels("lab")},
        "type": "Opaque",
        "stringData": {"token": token},
    }


def _env_field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def lab_pod(
    ns: str = NAMESPACE,
    image: str = DEFAULT_IMAGE,
    *,
    host_network: bool = False,
    node: str = "",
) -> dict[str, Any]:
    """The JupyterLab pod: uid 1000, NET_RAW+NET_ADMIN only, listening on 127.0.0.1 (reached
    with ``kubectl port-forward`` only), token from the Secret, exec readiness probe."""
    port = HOST_LAB_PORT if host_network else LAB_PORT
    probe = (
        'curl -fsS -o /dev/null -H "Authorization: token $(head -n1 "$JUPYTER_TOKEN_FILE")" '
        f'"http://127.0.0.1:{port}/api/status"'
    )
    container: dict[str, Any] = {
        "name": "lab",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["netdebug-nb", "lab"],
        "env": [
            {"name": "NETDEBUG_LAB_IP", "value": "127.0.0.1"},
            {"name": "NETDEBUG_LAB_PORT", "value": str(port)},
            {"name": "JUPYTER_TOKEN_FILE", "value": f"{TOKEN_DIR}/token"},
            _env_field("POD_NAME", "metadata.name"),
            _env_field("POD_NAMESPACE", "metadata.namespace"),
            _env_field("NODE_NAME", "spec.nodeName"),
        ],
        "securityContext": {
            # file capabilities on tcpdump/fping only work without no_new_privs, so privilege
            # escalation stays allowed; the bounding set is still just NET_RAW and NET_ADMIN.
            "allowPrivilegeEscalation": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]},
        },
        "readinessProbe": {
            "exec": {"command": ["sh", "-c", probe]},
            "initialDelaySeconds": 5,
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": {"cpu": "100m", "memory": "512Mi", "ephemeral-storage": "1Gi"},
            "limits": {"cpu": "2", "memory": "2Gi", "ephemeral-storage": "8Gi"},
        },
        "volumeMounts": [
            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True},
            {"name": "reports", "mountPath": "/home/netdebug/reports"},
        ],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": SERVICE_ACCOUNT,
        "automountServiceAccountToken": True,
        "securityContext": {
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "runAsNonRoot": True,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "token", "secret": {"secretName": TOKEN_SECRET, "defaultMode": 0o440}},
            {"name": "reports", "emptyDir": {"sizeLimit": "8Gi"}},
        ],
        "terminationGracePeriodSeconds": 10,
        "restartPolicy": "Always",
    }
    if host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
        spec["nodeName"] = node or NODE_PLACEHOLDER
        spec["tolerations"] = [{"operator": "Exists"}]  # run on tainted (control-plane) nodes too
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": HOST_POD if host_network else LAB_POD,
            "namespace": ns,
            "labels": _labels("lab"),
        },
        "spec": spec,
    }


def lab_objects(
    ns: str = NAMESPACE,
    image: str = DEFAULT_IMAGE,
    *,
    token: str | None = None,
    host_network: bool = False,
    node: str = "",
) -> list[dict[str, Any]]:
    """Everything the lab needs, in apply order (the Secret only when a token is given)."""
    objs = [namespace(ns), *rbac(ns)]
    if token is not None:
        objs.append(token_secret(token, ns))
    objs.append(lab_pod(ns, image, host_network=host_network, node=node))
    return objs


# --- strict validation ---------------------------------------------------------------------

_PRIMITIVES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "datetime": (str,),
    "date": (str,),
}


def _unknown_fields(data: Any, type_name: str, path: str) -> list[str]:
    """Every key the model does not declare, with its path (``spec.containers[0].imag``)."""
    from kubernetes import client

    m = re.fullmatch(r"List\[(.+)\]", type_name)
    if m:
        if not isinstance(data, list):
            return [f"{path}: expected a list"]
        return [e for i, item in enumerate(data) for e in _unknown_fields(item, m.group(1), f"{path}[{i}]")]
    m = re.fullmatch(r"Dict\[str, (.+)\]", type_name)
    if m:
        if not isinstance(data, dict):
            return [f"{path}: expected a mapping"]
        return [e for k, v in data.items() for e in _unknown_fields(v, m.group(1), f"{path}.{k}")]
    if type_name == "object":
        return []
    if type_name in _PRIMITIVES:
        ok = isinstance(data, _PRIMITIVES[type_name]) and not (type_name == "int" and isinstance(data, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {type(data).__name__} {data!r}"]
    model = getattr(client, type_name, None)
    if model is None:
        return []
    if not isinstance(data, dict):
        return [f"{path}: expected a {type_name} mapping"]
    by_json = {json_key: py for py, json_key in model.attribute_map.items()}
    errors = []
    for key, value in data.items():
        if key not in by_json:
            errors.append(f"{path}.{key}: unknown field in {type_name}".lstrip("."))
        elif value is not None:
            errors += _unknown_fields(value, model.openapi_types[by_json[key]], f"{path}.{key}".lstrip("."))
    return errors


def validate(doc: dict[str, Any], source: str = "manifest") -> Any:
    """The client model for ``doc`` (``V1Pod`` ...); ManifestError on unknown fields or bad types."""
    import json

    from kubernetes import client

    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    type_name = MODELS.get(key)
    if type_name is None:
        raise ManifestError(source, f"unsupported object {key[0]} {key[1]}")
    errors = _unknown_fields(doc, type_name, "")
    if errors:
        raise ManifestError(source, f"{key[1]}: {'; '.join(errors)}")
    try:
        return client.ApiClient().deserialize(json.dumps(doc), type_name, "application/json")
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        first = "; ".join(str(exc).splitlines()[:3])
        raise ManifestError(source, f"{key[1]}: {first}") from exc


def load(path: str | Path) -> list[tuple[dict[str, Any], Any]]:
    """Every document of a YAML file, each with its validated model."""
    import yaml

    p = Path(path)
    try:
        docs = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(p, f"unreadable: {str(exc).splitlines()[0]}") from exc
    return [(d, validate(d, f"{p} document {i + 1}")) for i, d in enumerate(docs)]


def to_yaml(objs: Iterable[dict[str, Any]]) -> str:
    import yaml

    return yaml.safe_dump_all(list(objs), sort_keys=False, default_flow_style=False, width=110)
