"""kube-proxy's footprint on a node: its iptables service chains or its IPVS virtual servers.

The questions are the same in both modes: which Service addresses are programmed, how many
endpoints each has, and which have none (kube-proxy then installs a REJECT, so clients see
'connection refused' or 'no route to host' for a Service IP that looks fine in the API).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

SERVICE_SCHEMA: schema.Schema = {
    "mode": "string",  # iptables | ipvs
    "service": "string",  # namespace/name:port from kube-proxy's comment (iptables), "" for ipvs
    "proto": "string",  # tcp | udp | sctp
    "address": "string",  # cluster/external IP
    "port": "Int64",
    "endpoints": "Int64",  # KUBE-SEP chains (iptables) or real servers (ipvs)
    "no_endpoints": "boolean",
    "reject_packets": "Int64",  # packets rejected by the 'has no endpoints' rule (iptables)
}

IPVS_SCHEMA: schema.Schema = {
    "proto": "string",
    "service": "string",  # virtual address:port (or fwmark)
    "scheduler": "string",
    "real_server": "string",  # "" for a virtual server without real servers
    "forward": "string",  # Masq | Route | Tunnel
    "weight": "Int64",
    "active_conn": "Int64",
    "inactive_conn": "Int64",
}


def from_iptables(rules: pd.DataFrame) -> pd.DataFrame:
    """Services programmed in the KUBE-SERVICES chains of an iptables rule table."""
    if rules.empty:
        return schema.empty(SERVICE_SCHEMA)
    kube = rules[(rules["kind"] == "rule") & rules["chain"].str.startswith("KUBE-")]
    if kube.empty:
        return schema.empty(SERVICE_SCHEMA)
    sep_count = kube[kube["target"].str.startswith("KUBE-SEP-")].groupby("chain").size().to_dict()
    rows: list[dict[str, Any]] = []
    for r in kube[kube["chain"].isin(["KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES"])].itertuples(index=False):
        rule, comment, target = str(r.rule), str(r.comment), str(r.target)
        if not (
            target.startswith("KUBE-SVC-") or target.startswith("KUBE-EXT-") or "has no endpoints" in comment
        ):
            continue
        addr = re.search(r"-d (\S+?)(?:/32|/128)?(?:\s|$)", rule)
        port = re.search(r"--dport (\d+)", rule)
        proto = re.search(r"-p (\S+)", rule)
        no_ep = "has no endpoints" in comment
        rows.append(
            {
                "mode": "iptables",
                "service": comment.replace(" has no endpoints", "").replace(" cluster IP", "").strip(),
                "proto": proto[1] if proto else "",
                "address": addr[1] if addr else "",
                "port": int(port[1]) if port else None,
                "endpoints": 0 if no_ep else int(sep_count.get(target, 0)),
                "no_endpoints": no_ep or sep_count.get(target, 0) == 0,
                "reject_packets": r.packets if no_ep else None,
            }
        )
    return schema.frame(rows, SERVICE_SCHEMA)


def parse_ipvsadm(text: str, source: str = "ipvsadm.txt") -> pd.DataFrame:
    """``ipvsadm -Ln`` → one row per (virtual server, real server)."""
    rows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    pending = False
    for no, line in enumerate(text.splitlines(), start=1):
        s = line.strip()
        if not s or s.startswith(("IP Virtual Server", "Prot LocalAddress", "-> RemoteAddress")):
            continue
        parts = s.split()
        if s.startswith("->"):
            if current is None or len(parts) < 6:
                raise ParseError(source, f"real server line outside a virtual server: {s!r}", line=no)
            rows.append(
                {
                    **current,
                    "real_server": parts[1],
                    "forward": parts[2],
                    "weight": int(parts[3]),
                    "active_conn": int(parts[4]),
                    "inactive_conn": int(parts[5]),
                }
            )
            pending = False
            continue
        if parts[0] not in ("TCP", "UDP", "SCTP", "FWM") or len(parts) < 2:
            raise ParseError(
                source, f"expected a virtual server line (TCP/UDP/SCTP/FWM ...), got {s!r}", line=no
            )
        if current is not None and pending:
            rows.append(_without_real_servers(current))
        current = {
            "proto": parts[0].lower(),
            "service": parts[1],
            "scheduler": parts[2] if len(parts) > 2 else "",
        }
        pending = True
    if current is not None and pending:
        rows.append(_without_real_servers(current))
    return schema.frame(rows, IPVS_SCHEMA)


def from_ipvs(ipvs: pd.DataFrame) -> pd.DataFrame:
    """Virtual servers as services (endpoints = real servers)."""
    if ipvs.empty:
        return schema.empty(SERVICE_SCHEMA)
    rows = []
    for (proto, service), g in ipvs.groupby(["proto", "service"], sort=True):
        n = int((g["real_server"] != "").sum())
        addr, _, port = str(service).rpartition(":")
        rows.append(
            {
                "mode": "ipvs",
                "service": "",
                "proto": proto,
                "address": addr.strip("[]"),
                "port": int(port) if port.isdigit() else None,
                "endpoints": n,
                "no_endpoints": n == 0,
                "reject_packets": None,
            }
        )
    return schema.frame(rows, SERVICE_SCHEMA)


def _without_real_servers(service: dict[str, Any]) -> dict[str, Any]:
    """The row of a virtual server that has no real server behind it (no endpoints)."""
    return {
        **service,
        "real_server": "",
        "forward": "",
        "weight": None,
        "active_conn": None,
        "inactive_conn": None,
    }


# --- per-endpoint view: which backends each Service address is DNATed to -----------------------

ENDPOINT_SCHEMA: schema.Schema = {
    "mode": "string",  # iptables | ipvs | nftables
    "service": "string",  # namespace/name:port from kube-proxy's comment or chain name ("" for ipvs)
    "proto": "string",  # tcp | udp | sctp
    "address": "string",  # the Service address (cluster IP, external IP)
    "port": "Int64",
    "endpoint": "string",  # ip:port the connection is DNATed to; "" when the address has no endpoints
    "chain": "string",  # KUBE-SEP-... / endpoint-... chain, or the IPVS real server
}

_DNAT = re.compile(r"--to-destination (\S+)")


def endpoints_from_iptables(rules: pd.DataFrame) -> pd.DataFrame:
    """KUBE-SERVICES → KUBE-SVC/KUBE-SVL → KUBE-SEP → DNAT, followed for every Service address."""
    if rules.empty:
        return schema.empty(ENDPOINT_SCHEMA)
    kube = rules[(rules["kind"] == "rule") & rules["chain"].str.startswith("KUBE-")]
    by_chain: dict[str, list[Any]] = {}
    for r in kube.itertuples(index=False):
        by_chain.setdefault(str(r.chain), []).append(r)
    rows: list[dict[str, Any]] = []
    for r in by_chain.get("KUBE-SERVICES", []):
        rule, comment, target = str(r.rule), str(r.comment), str(r.target)
        addr = re.search(r"-d (\S+?)(?:/32|/128)?(?:\s|$)", rule)
        port = re.search(r"--dport (\d+)", rule)
        proto = re.search(r"-p (\S+)", rule)
        base = {
            "mode": "iptables",
            "service": comment.replace(" has no endpoints", "").replace(" cluster IP", "").strip(),
            "proto": proto[1] if proto else "",
            "address": addr[1] if addr else "",
            "port": int(port[1]) if port else None,
        }
        if "has no endpoints" in comment:
            rows.append({**base, "endpoint": "", "chain": ""})
            continue
        if not target.startswith(("KUBE-SVC-", "KUBE-SVL-")):
            continue
        seps = [s for s in by_chain.get(target, []) if str(s.target).startswith("KUBE-SEP-")]
        if not seps:
            rows.append({**base, "endpoint": "", "chain": target})
        for s in seps:
            dnat = next(
                (m for x in by_chain.get(str(s.target), []) if (m := _DNAT.search(str(x.rule)))), None
            )
            rows.append({**base, "endpoint": dnat[1] if dnat else "", "chain": str(s.target)})
    return schema.frame(rows, ENDPOINT_SCHEMA)


def endpoints_from_ipvs(ipvs: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in ipvs.itertuples(index=False):
        addr, _, port = str(r.service).rpartition(":")
        rows.append(
            {
                "mode": "ipvs",
                "service": "",
                "proto": r.proto,
                "address": addr.strip("[]"),
                "port": int(port) if port.isdigit() else None,
                "endpoint": str(r.real_server or ""),
                "chain": str(r.real_server or ""),
            }
        )
    return schema.frame(rows, ENDPOINT_SCHEMA)


def endpoints_from_nft(text: str, source: str = "nft.json") -> pd.DataFrame:
    """kube-proxy's nftables mode (table ``kube-proxy``): the ``service-ips`` map sends each
    address . protocol . port to a ``service-…`` chain whose ``endpoint-…__IP/PORT`` chains DNAT."""
    from netdebug_nb.netstate.parsing import json_object

    if not text.strip():
        return schema.empty(ENDPOINT_SCHEMA)
    items = json_object(text, source, what="nft -j list ruleset").get("nftables") or []
    chains = [
        str(i["chain"].get("name", ""))
        for i in items
        if isinstance(i, dict) and "chain" in i and i["chain"].get("table") == "kube-proxy"
    ]
    rows: list[dict[str, Any]] = []
    for item in items:
        m = item.get("map") if isinstance(item, dict) else None
        if (
            not m
            or m.get("table") != "kube-proxy"
            or m.get("name") not in ("service-ips", "no-endpoint-services")
        ):
            continue
        for elem in m.get("elem") or []:
            if not isinstance(elem, list) or len(elem) != 2:
                continue
            key, verdict = elem
            parts = (key or {}).get("concat") if isinstance(key, dict) else None
            if not parts or len(parts) != 3:
                continue
            address, proto, port = (str(p) for p in parts)
            target = ""
            if isinstance(verdict, dict):
                jump: Any = next(iter(verdict.values()), {})
                target = str(jump.get("target", "")) if isinstance(jump, dict) else ""
            svc = target.split("-", 2)[2] if target.startswith("service-") and target.count("-") >= 2 else ""
            base = {
                "mode": "nftables",
                "service": svc,
                "proto": proto,
                "address": address,
                "port": int(port) if port.isdigit() else None,
            }
            eps = [
                c
                for c in chains
                if svc and c.startswith("endpoint-") and c.split("-", 2)[-1].startswith(svc + "__")
            ]
            if m.get("name") == "no-endpoint-services" or not eps:
                rows.append({**base, "endpoint": "", "chain": target})
            for c in eps:
                ip, _, ep_port = c.rsplit("__", 1)[1].rpartition("/")
                rows.append({**base, "endpoint": f"{ip}:{ep_port}", "chain": c})
    return schema.frame(rows, ENDPOINT_SCHEMA)
