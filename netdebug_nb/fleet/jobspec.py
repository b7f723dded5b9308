"""The Job that runs a notebook on one node: a pure function of the node and the options.

Choices, and why:

* Pinning uses required node affinity on ``metadata.name`` (``matchFields``), like DaemonSets,
  so the scheduler still checks taints and resources and a Job that cannot run says
  ``Unschedulable`` instead of failing obscurely in the kubelet; ``pin="nodeName"`` bypasses
  the scheduler for clusters where it is the problem.
* ``backoffLimit: 0`` and ``restartPolicy: Never``: a diagnosis run is not retried (a retry on
  a flaky node hides the flakiness, and the second pod's log would replace the first's).
* ``activeDeadlineSeconds`` = notebook timeout + a margin for image pull and start-up; the
  notebook's own ``--timeout`` fires first, so a slow notebook still reports what it has.
* ``ttlSecondsAfterFinished`` is the backstop if the controller dies before cleaning up.
* Non-root (uid 1000), all capabilities dropped but NET_RAW (fping, mtr, tcpdump) and
  NET_ADMIN (iptables/conntrack reads), like the lab pod in ``deploy/``: the tools carry file
  capabilities, which is why ``allowPrivilegeEscalation`` stays true (no_new_privs would void
  them). Read-only root filesystem with an ``emptyDir`` at ``/tmp`` (HOME, Jupyter runtime,
  matplotlib cache and the run's output live there).
* Every object carries the fleet labels so ``netdebug-nb fleet clean`` (all runs) or the
  controller (one run, by ``netdebug.dev/run``) can find and delete them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from netdebug_nb.errors import UsageError

GROUP = "netdebug.dev"
LABEL_MANAGED = "app.kubernetes.io/managed-by"
MANAGED_BY = "netdebug-nb-fleet"
LABEL_RUN = f"{GROUP}/run"
LABEL_NODE = f"{GROUP}/node"
LABEL_NOTEBOOK = f"{GROUP}/notebook"
ANNOTATION_NODE = f"{GROUP}/node-name"
CONTAINER = "netdebug"
OUT_DIR = "/tmp/out"

FLEET_SELECTOR = f"{LABEL_MANAGED}={MANAGED_BY}"
"""Selects every object any fleet run created (``fleet clean``)."""

DEFAULT_IMAGE = "ghcr.io/netdebug/netdebug:lab"
"""The same image as ``netdebug-nb k8s lab`` (deploy/); its ServiceAccount is ``netdebug``."""


class JobSpecError(UsageError):
    """A fleet option cannot be turned into a valid Job (bad toleration, bad resource...)."""


@dataclass(frozen=True)
class JobOptions:
    """Everything about the Jobs that does not depend on the node."""

    notebook: str
    run_id: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    image: str = DEFAULT_IMAGE
    image_pull_policy: str = "IfNotPresent"
    namespace: str = "netdebug"
    service_account: str = "netdebug"
    timeout_s: int = 300  # notebook limit; the Job deadline adds start_margin_s
    start_margin_s: int = 120
    ttl_s: int = 3600
    host_network: bool = False
    pin: str = "affinity"  # or "nodeName"
    tolerations: Sequence[Mapping[str, Any]] = ({"operator": "Exists"},)  # run on every node
    cpu_request: str = "100m"
    cpu_limit: str = "1"
    memory_request: str = "256Mi"
    memory_limit: str = "1Gi"
    result_limit: int = 4 * 1024 * 1024
    priority_class: str = ""
    fping_first: bool = False  # mesh mode: probe with fping, then run the notebook on its output
    peers: int = 0  # mesh with pods: also probe the pods of this many other Jobs of the run
    mode: str = "notebook"  # or "capture": tcpdump at a common start instant (fleet/capture.py)


def run_selector(run_id: str) -> str:
    return f"{LABEL_MANAGED}={MANAGED_BY},{LABEL_RUN}={run_id}"


def job_name(run_id: str, node: str) -> str:
    """A DNS-1123 name of at most 63 characters (the Job controller copies it into a label)."""
    digest = hashlib.sha256(node.encode()).hexdigest()[:6]
    stem = re.sub(r"[^a-z0-9-]+", "-", node.lower()).strip("-")[:30].strip("-") or "node"
    return f"nd-{run_id}-{stem}-{digest}"[:63].rstrip("-")


def label_value(text: str) -> str:
    """``text`` made a valid label value (≤63, alphanumeric ends); long names keep a hash."""
    v = re.sub(r"[^A-Za-z0-9._-]+", "-", text)
    if len(v) > 63:
        v = v[:56] + "-" + hashlib.sha256(text.encode()).hexdigest()[:6]
    return v.strip("-._") or "x"


def _capture_command(parameters: Mapping[str, Any], opts: JobOptions) -> list[str]:
    """The argv of a capture Job (``fleet capture``): tcpdump at the common start instant."""
    argv = [
        "netdebug-nb",
        "fleet",
        "capture-exec",
        "--out",
        OUT_DIR,
        "--limit",
        str(opts.result_limit),
    ]
    for name in ("t0", "interface", "filter", "seconds", "snaplen", "max_mb", "pod_ip", "label"):
        value = parameters.get(name)
        if value not in (None, ""):
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return argv


def command(opts: JobOptions) -> list[str]:
    """The container's argv: run the notebook, then frame its result into the log."""
    if opts.mode == "capture":
        return _capture_command(opts.parameters, opts)
    argv = [
        "netdebug-nb",
        "fleet",
        "exec",
        opts.notebook,
        "--out",
        OUT_DIR,
        "--timeout",
        str(opts.timeout_s),
        "--limit",
        str(opts.result_limit),
    ]
    if opts.fping_first:
        argv.append("--fping-first")
    if opts.peers:
        argv += ["--peers", str(opts.peers), "--run-id", opts.run_id]
    for k, v in opts.parameters.items():
        argv += ["-p", str(k), _param_text(v)]
    return argv


def build(
    node: str, opts: JobOptions, *, extra_parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The Job manifest for ``node`` (``extra_parameters`` override per node, e.g. mesh targets)."""
    if opts.pin not in ("affinity", "nodeName"):
        raise JobSpecError(f"--pin {opts.pin!r}: expected 'affinity' or 'nodeName'")
    if opts.timeout_s <= 0:
        raise JobSpecError(f"--timeout {opts.timeout_s}: must be positive")
    labels = {
        LABEL_MANAGED: MANAGED_BY,
        "app.kubernetes.io/name": "netdebug",
        LABEL_RUN: opts.run_id,
        LABEL_NODE: label_value(node),
        LABEL_NOTEBOOK: label_value(opts.notebook),
    }
    annotations = {ANNOTATION_NODE: node, f"{GROUP}/notebook": opts.notebook}
    params = {**opts.parameters, **(extra_parameters or {})}
    run_opts = JobOptions(**{**opts.__dict__, "parameters": params})
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "serviceAccountName": opts.service_account,
        "automountServiceAccountToken": True,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "tolerations": [dict(t) for t in opts.tolerations],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "runAsGroup": 1000,
            "fsGroup": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": CONTAINER,
                "image": opts.image,
                "imagePullPolicy": opts.image_pull_policy,
                "command": command(run_opts),
                "env": [
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "MPLCONFIGDIR", "value": "/tmp/.matplotlib"},
                    {"name": "JUPYTER_RUNTIME_DIR", "value": "/tmp/.jupyter-runtime"},
                    {"name": "PYTHONUNBUFFERED", "value": "1"},
                    {
                        "name": "NETDEBUG_NODE_NAME",
                        "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                    },
                    {"name": "NETDEBUG_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                    {
                        "name": "NETDEBUG_NAMESPACE",
                        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
                    },
                ],
                "resources": {
                    "requests": {"cpu": opts.cpu_request, "memory": opts.memory_request},
                    "limits": {"cpu": opts.cpu_limit, "memory": opts.memory_limit},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 1000,
                    # file capabilities on fping/tcpdump in the image (deploy/lab-pod.yaml): with
                    # no_new_privs (false here) uid 1000 could not use NET_RAW at all
                    "allowPrivilegeEscalation": True,
                    "privileged": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]},
                },
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}}],
    }
    if opts.pin == "nodeName":
        pod_spec["nodeName"] = node
    else:
        pod_spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    ]
                }
            }
        }
    if opts.host_network:
        pod_spec["hostNetwork"] = True
        pod_spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if opts.priority_class:
        pod_spec["priorityClassName"] = opts.priority_class
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(opts.run_id, node),
            "namespace": opts.namespace,
            "labels": labels,
            "annotations": annotations,
        },
        "spec": {
            "backoffLimit": 0,
            "completions": 1,
            "parallelism": 1,
            "activeDeadlineSeconds": opts.timeout_s + opts.start_margin_s,
            "ttlSecondsAfterFinished": opts.ttl_s,
            "template": {
                "metadata": {"labels": dict(labels), "annotations": dict(annotations)},
                "spec": pod_spec,
            },
        },
    }


def parse_tolerations(text: str) -> list[dict[str, Any]]:
    """``all`` | ``none`` | ``KEY[=VALUE][:EFFECT],...`` → toleration objects."""
    text = text.strip()
    if text == "all":
        return [{"operator": "Exists"}]
    if text in ("none", ""):
        return []
    out: list[dict[str, Any]] = []
    for item in text.split(","):
        spec, _, effect = item.partition(":")
        key, eq, value = spec.partition("=")
        if not key or effect not in ("", "NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise JobSpecError(f"--tolerations {item!r}: expected KEY[=VALUE][:NoSchedule|NoExecute|...]")
        tol: dict[str, Any] = {"key": key, "operator": "Equal" if eq else "Exists"}
        if eq:
            tol["value"] = value
        if effect:
            tol["effect"] = effect
        out.append(tol)
    return out


def _param_text(value: Any) -> str:
    """A parameter value as the text ``-p NAME VALUE`` parses back (JSON for lists/dicts)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict | tuple):
        return json.dumps(list(value) if isinstance(value, tuple) else value)
    return str(value)
