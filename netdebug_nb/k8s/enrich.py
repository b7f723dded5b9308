"""IP addresses → Kubernetes names, for any DataFrame with IP columns.

An on-call reader cannot act on ``10.244.3.12``; ``payments/api-7d9f8b6c5-x2x9k (node-3)`` is
actionable. :func:`enrich` adds ``<col>_kind``, ``<col>_namespace``, ``<col>_name`` and
``<col>_node`` for each IP column. Only the distinct addresses are looked up (a capture has
millions of packets but a few hundred addresses), then mapped back onto the rows by pandas.

Precedence when an address has several owners: a Service's ClusterIP / external IP, then a pod's
own IP, then a node's address (host-network pods share it and are named by their node), then the
NodeLocal DNSCache link-local address, then an endpoint that is not a pod (named by its
selector-less service), then a node's pod CIDR (a pod that no longer exists: its node is still
known). Everything else is ``external``.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.k8s.inventory import Inventory

INDEX_SCHEMA: schema.Schema = {
    "ip": "string",  # canonical text form (IPv6 compressed, IPv4-mapped IPv6 unwrapped)
    "kind": "string",  # pod | service | node
    "namespace": "string",  # <NA> for nodes
    "name": "string",
    "node": "string",  # the node a pod runs on / the node itself; <NA> for services
}

KINDS = ("pod", "service", "node", "external")
SUFFIXES = ("kind", "namespace", "name", "node")
NODELOCAL_DNS_IP = "169.254.20.10"
"""The address NodeLocal DNSCache listens on, on every node (its documented default)."""


def canonical(value: object) -> str | None:
    """One text form per address, so ``fd00::0a``, ``FD00::A`` and ``::ffff:10.0.0.1`` match."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or text in ("<NA>", "nan", "None"):
        return None
    text = text.split("%", 1)[0]  # IPv6 zone (fe80::1%eth0)
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return ip.compressed


def index(inventory: Inventory) -> pd.DataFrame:
    """Every address the inventory knows, one row each, the strongest owner kept."""
    rows: list[dict[str, Any]] = []

    def add(ips: Iterable[object], kind: str, ns: object, name: object, node: object) -> None:
        for ip in ips:
            c = canonical(ip)
            if c:
                rows.append({"ip": c, "kind": kind, "namespace": ns, "name": name, "node": node})

    for s in _records(inventory.services):
        add([*s["cluster_ips"], *s["external_ips"]], "service", s["namespace"], s["name"], None)
    host_net = []
    for p in _records(inventory.pods):
        if p["host_network"]:
            host_net.append(p)
        elif p["phase"] in ("Running", "Pending", "Unknown"):  # a finished pod's IP is reused
            add(p["pod_ips"], "pod", p["namespace"], p["name"], p["node"])
    for n in _records(inventory.nodes):
        add([*n["internal_ips"], *n["external_ips"]], "node", None, n["name"], n["name"])
    for p in host_net:  # when nodes are not readable, their host-network pods still name them
        add(p["pod_ips"], "node", None, p["node"], p["node"])
    nodelocal = inventory.pods[inventory.pods["labels"].map(lambda lb: lb.get("k8s-app") == "node-local-dns")]
    if len(nodelocal):
        add([NODELOCAL_DNS_IP], "pod", nodelocal["namespace"].iloc[0], nodelocal["workload"].iloc[0], None)
    # endpoints that are not pods (a selector-less service in front of a VM or database): the
    # address is outside the cluster, but the service in front of it is what the reader knows
    for e in _records(inventory.endpoints):
        if not isinstance(e["target_kind"], str):
            add([e["ip"]], "service", e["namespace"], e["service"], e["node"])
    if not rows:
        return schema.empty(INDEX_SCHEMA)
    df = schema.frame(rows, INDEX_SCHEMA)
    return df.drop_duplicates("ip", keep="first").reset_index(drop=True)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in df.to_dict("records")]


def _cidrs(inventory: Inventory) -> list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]]:
    out = []
    for n in _records(inventory.nodes):
        for cidr in n["pod_cidrs"]:
            try:
                out.append((ipaddress.ip_network(cidr, strict=False), str(n["name"])))
            except ValueError:
                continue
    return out


def enrich(
    df: pd.DataFrame,
    columns: str | Sequence[str],
    inventory: Inventory,
    *,
    ip_index: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A copy of ``df`` with ``<col>_kind/_namespace/_name/_node`` (all ``string``) per column.

    Missing addresses (NA) get NA in all four; unparseable text counts as missing. Pass
    ``ip_index`` (from :func:`index`) to reuse one index across several frames.
    """
    import pandas as pd

    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise KeyError(
            f"enrich: no column(s) {', '.join(missing)} in the frame (has: {', '.join(map(str, df.columns))})"
        )
    idx = index(inventory) if ip_index is None else ip_index
    known = {r["ip"]: (r["kind"], r["namespace"], r["name"], r["node"]) for r in _records(idx)}
    cidrs = _cidrs(inventory)
    na = (pd.NA, pd.NA, pd.NA, pd.NA)
    out = df.copy()
    for col in cols:
        uniques = pd.unique(df[col].dropna())
        table: dict[object, tuple[Any, Any, Any, Any]] = {}
        for value in uniques:
            c = canonical(value)
            if c is None:
                table[value] = na
            elif c in known:
                table[value] = known[c]
            else:
                addr = ipaddress.ip_address(c)
                node = next((nm for net, nm in cidrs if addr.version == net.version and addr in net), None)
                table[value] = ("pod", pd.NA, pd.NA, node) if node else ("external", pd.NA, pd.NA, pd.NA)
        for i, suffix in enumerate(SUFFIXES):
            mapping = {k: v[i] for k, v in table.items()}
            out[f"{col}_{suffix}"] = df[col].map(mapping).astype("string")
    return out


_SEPARATORS = re.compile(r"[\s|,;]+")


def addresses(df: pd.DataFrame, column: str, *, into: str = "ip") -> pd.DataFrame:
    """One row per IP address found in a text column (DNS ``answer_data`` like
    ``"A 10.96.0.10 | AAAA fd00::a"``), the address in column ``into``; rows without one dropped.

    Answers are lists, not one address per row: exploding them lets :func:`enrich` name each."""
    import pandas as pd

    if column not in df.columns:
        raise KeyError(
            f"addresses: no column {column!r} in the frame (has: {', '.join(map(str, df.columns))})"
        )
    found = df[column].map(
        lambda text: (
            [c for tok in _SEPARATORS.split(str(text)) if (c := canonical(tok))] if pd.notna(text) else []
        )
    )
    out = df.assign(**{into: found}).explode(into)
    out = out[out[into].notna()].copy()
    out[into] = out[into].astype("string")
    return out.reset_index(drop=True)


def optional(df: pd.DataFrame, columns: str | Sequence[str], inventory: Inventory | None) -> pd.DataFrame:
    """:func:`enrich` when there is an inventory, ``df`` unchanged when there is none (notebooks)."""
    return df if inventory is None else enrich(df, columns, inventory)


def label(df: pd.DataFrame, column: str) -> pd.Series:
    """``payments/api-7d9f (node-3)``, ``svc kube-system/kube-dns``, ``node node-2`` or the IP itself."""
    import pandas as pd

    kind, ns, name, node = (df[f"{column}_{s}"] for s in SUFFIXES)
    ip = df[column].astype("string")
    pod = ns.fillna("?") + "/" + name.fillna("?") + (" (" + node + ")").fillna("")
    pod_gone = ip + " (pod on " + node + ")"
    text = pd.Series(ip, index=df.index, dtype="string")
    text = text.mask(kind.eq("pod") & name.notna(), pod)
    text = text.mask(kind.eq("pod") & name.isna(), pod_gone)
    text = text.mask(kind.eq("service"), "svc " + ns.fillna("?") + "/" + name.fillna("?"))
    text = text.mask(kind.eq("node"), "node " + name.fillna("?"))
    return text.fillna(ip).astype("string")


_CACHE: dict[tuple[str, str, str], tuple[float, Inventory | None, str]] = {}
CACHE_S = 60.0
"""How long an inventory (or the reason there is none) is reused: notebooks enrich several
frames, and an unreachable cluster should cost its timeout once, not once per table."""


def inventory_if_available(
    *,
    enabled: bool = True,
    kubeconfig: str = "",
    context: str = "",
    namespace: str = "",
    timeout_s: float = 5.0,
) -> tuple[Inventory | None, str]:
    """The cluster's inventory and a one-line note, or None and why there is none.

    ``enabled`` is the notebook's ``kubernetes`` parameter, so the cell needs no ``if``."""
    from netdebug_nb.errors import ClusterError
    from netdebug_nb.k8s import client, inventory

    if not enabled:
        return None, "Kubernetes names off (kubernetes=False)"
    key = (kubeconfig, context, namespace)
    cached = _CACHE.get(key)
    if cached and time.monotonic() - cached[0] < CACHE_S:
        return cached[1], cached[2]
    inv: Inventory | None
    try:
        cluster = client.connect(kubeconfig, context, timeout_s=timeout_s)
        inv = inventory.collect(cluster, namespace or None)
        msg = f"Kubernetes names from {inv.cluster}: {inv.summary()}"
        if inv.warnings:
            msg += f"; partial: {' | '.join(inv.warnings)}"
    except ClusterError as exc:
        inv, msg = None, f"Kubernetes names not added: {exc}"
    _CACHE[key] = (time.monotonic(), inv, msg)
    return inv, msg


def enrich_if_available(
    df: pd.DataFrame,
    columns: str | Sequence[str],
    *,
    kubeconfig: str = "",
    context: str = "",
    namespace: str = "",
    timeout_s: float = 5.0,
) -> tuple[pd.DataFrame, str]:
    """Enrich when a cluster can be read; otherwise return ``df`` unchanged. Never raises a
    ClusterError: the one-line message says which case happened, for the notebook to print."""
    inv, msg = inventory_if_available(
        kubeconfig=kubeconfig, context=context, namespace=namespace, timeout_s=timeout_s
    )
    if inv is None:
        return df, msg
    return enrich(df, columns, inv), msg
