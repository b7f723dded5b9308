"""What the latency notebook probes: plain names and IPs, and Kubernetes objects by selector.

Entries of ``targets`` written as Kubernetes selectors (``nodes``, ``nodes:role=db``,
``pods:NAMESPACE/app=web``, ``service:NAMESPACE/NAME``) are expanded to the addresses of those
objects through :mod:`netdebug_nb.k8s.discovery`; without a reachable cluster they expand to
nothing and the reason is returned, so the plain targets are still probed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

_K8S = re.compile(r"^(?:nodes?(?::.*)?|pods?:.+|(?:service|svc):.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class Targets:
    """Addresses to probe plus where the Kubernetes ones came from."""

    addresses: list[str]
    kubernetes: pd.DataFrame | None = None  # discovery.TARGETS_SCHEMA rows (kind, namespace, name, node)
    notes: list[str] = field(default_factory=list)


def split(targets: Sequence[str]) -> tuple[list[str], list[str]]:
    """(plain names/IPs, Kubernetes selectors), each in the given order."""
    items = [str(t).strip() for t in targets if str(t).strip()]
    return [t for t in items if not _K8S.match(t)], [t for t in items if _K8S.match(t)]


def expand(targets: Sequence[str], *, kubeconfig: str = "", context: str = "") -> Targets:
    """Plain targets as given, then the addresses of the Kubernetes objects named by selectors."""
    plain, specs = split(targets)
    if not specs:
        return Targets(plain)
    from netdebug_nb.k8s import discovery

    found, note = discovery.targets_if_available(specs, kubeconfig=kubeconfig, context=context)
    extra = [str(a) for a in found["target"] if str(a) not in plain]
    return Targets(plain + extra, found, [note] if note else [])
