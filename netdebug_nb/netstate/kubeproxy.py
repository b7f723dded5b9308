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
