"""Walk the delegation chain from root hints down to the authoritative answer, like ``dig +trace``.

When a recursive server (CoreDNS's upstream, a corporate resolver) returns SERVFAIL or stale data,
the question is which delegation step is broken: a lame server, a referral without glue, a zone
whose servers disagree. The root hints are a parameter: inside a cluster they can be internal
roots, and in tests they are lab servers (the kit never queries the real roots on its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import dns.message
import dns.name
import dns.rdatatype

from netdebug_nb.dns import tracer
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

ITERATIVE_SCHEMA: Schema = {
    "step": "int64",  # 1-based: one row per server asked
    "zone": "string",  # the zone the asked server was delegated for ("." for the roots)
    "server": "string",
    "qname": "string",
    "qtype": "string",
    "status": "string",  # ok | timeout | error
    "rtt_ms": "Float64",
    "rcode": "string",
    "aa": "boolean",
    "kind": "string",  # referral | answer | cname | nxdomain | nodata | lame | error
    "next_zone": "string",  # for a referral: the delegated zone
    "next_servers": "string",  # for a referral: NS names with glue addresses
    "answer_data": "string",
}


def _glue(r: dns.message.Message, ns_names: Sequence[dns.name.Name]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {n.to_text(): [] for n in ns_names}
    for rrset in r.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA) and rrset.name.to_text() in out:
            out[rrset.name.to_text()].extend(rd.to_text() for rd in rrset)
    return out


def trace(
    name: str,
    qtype: str = "A",
    *,
    root_hints: Sequence[str],
    port: int = 53,
    timeout_s: float = 2.0,
    max_steps: int = 20,
) -> pd.DataFrame:
    """Every server asked on the way from ``root_hints`` to an answer (non-recursive queries)."""
    from netdebug_nb import schema

    rows: list[dict[str, Any]] = []
    _walk(
        name if name.endswith(".") else name + ".",
        qtype.upper(),
        list(root_hints),
        port,
        timeout_s,
        max_steps,
        rows,
        depth=0,
    )
    return schema.frame(rows, ITERATIVE_SCHEMA)


def _walk(
    qname: str,
    qtype: str,
    roots: list[str],
    port: int,
    timeout_s: float,
    max_steps: int,
    rows: list[dict[str, Any]],
    depth: int,
) -> list[str]:
    """Follow referrals for ``qname``; returns the final answer's addresses (used to resolve glueless NS)."""
    servers, zone = list(roots), "."
    target = dns.name.from_text(qname)
    while servers and len(rows) < max_steps:
        response = None
        for server in servers:
            row, response = tracer.exchange_message(
                qname, qtype, server, port=port, timeout_s=timeout_s, recursion=False
            )
            entry = {
                "step": len(rows) + 1,
                "zone": zone,
                "server": server,
                "qname": qname,
                "qtype": qtype,
                **{k: row[k] for k in ("status", "rtt_ms", "rcode", "aa", "answer_data")},
                "kind": "error" if response is None else None,
                "next_zone": None,
                "next_servers": None,
            }
            rows.append(entry)
            if response is not None:
                break
        if response is None:
            return []
        rcode = entry["rcode"]
        answers = [rr for rr in response.answer if rr.name == target]
        if rcode == "NXDOMAIN":
            entry["kind"] = "nxdomain"
            return []
        if rcode != "NOERROR":
            entry["kind"] = "lame"
            servers = [s for s in servers if s != entry["server"]]
            continue
        if answers:
            wanted = [
                rd.to_text() for rr in answers if rr.rdtype == dns.rdatatype.from_text(qtype) for rd in rr
            ]
            cname = next((rr for rr in answers if rr.rdtype == dns.rdatatype.CNAME), None)
            if wanted or cname is None:
                entry["kind"] = "answer"
                return wanted
            entry["kind"] = "cname"
            if depth > 4:
                return []
            return _walk(cname[0].target.to_text(), qtype, roots, port, timeout_s, max_steps, rows, depth + 1)
        ns_sets = [rr for rr in response.authority if rr.rdtype == dns.rdatatype.NS]
        deeper = [
            rr for rr in ns_sets if rr.name != dns.name.from_text(zone) and target.is_subdomain(rr.name)
        ]
        if not deeper:
            entry["kind"] = "nodata" if entry["aa"] else "lame"
            if entry["aa"]:
                return []
            servers = [s for s in servers if s != entry["server"]]
            continue
        ns = deeper[0]
        glue = _glue(response, [rd.target for rd in ns])
        entry["kind"] = "referral"
        entry["next_zone"] = ns.name.to_text()
        entry["next_servers"] = " ".join(f"{n}({','.join(a) or 'no glue'})" for n, a in glue.items())
        addresses = [a for addrs in glue.values() for a in addrs if ":" not in a]
        if not addresses and depth < 3:
            for ns_name in glue:
                addresses = _walk(ns_name, "A", roots, port, timeout_s, max_steps, rows, depth + 1)
                if addresses:
                    break
        zone, servers = ns.name.to_text(), addresses
    return []
