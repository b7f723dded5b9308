"""Ask every server the same question: find the replica that is slow, failing or answering differently.

A Service IP (kube-dns) spreads queries over CoreDNS replicas, so one bad replica shows up as
"DNS sometimes fails". Sending the identical query directly to each server, several times,
turns that into a table per server. The cache-miss probe asks for a random label (never
cached) and then the same name again (now cached): the difference is what the server's
upstream costs, separated from cache hits.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from netdebug_nb.dns import tracer
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

COMPARE_SCHEMA: Schema = {
    "server": "string",
    "qname": "string",
    "qtype": "string",
    "trial": "int64",
    "status": "string",  # ok | timeout | error | truncated (TC and the TCP retry failed)
    "tries": "int64",  # UDP sends until a response (resends after timeouts included)
    "latency_ms": "Float64",  # from the first send to the usable response, resends included
    "rtt_ms": "Float64",  # round trip of the exchange that answered
    "rcode": "string",
    "answers": "Int64",
    "answer_data": "string",  # sorted rdata, comparable across servers (TTLs excluded)
    "ttl_min_s": "Int64",
    "tc": "boolean",  # the UDP answer was truncated
    "error": "string",
}

SERVER_STATS_SCHEMA: Schema = {
    "server": "string",
    "queries": "int64",
    "answered": "int64",
    "timeouts": "int64",  # queries with no usable answer after every try
    "timeout_rate": "float64",
    "resends": "int64",  # extra tries needed after a timeout
    "servfail": "int64",
    "p50_ms": "Float64",
    "p95_ms": "Float64",
    "max_ms": "Float64",
    "disagreements": "int64",  # answers that differ from the majority of servers
}

DISAGREEMENT_SCHEMA: Schema = {
    "qname": "string",
    "qtype": "string",
    "server": "string",
    "rcode": "string",
    "answer_data": "string",
    "majority": "string",  # the answer most servers gave ("rcode: data")
    "agrees": "boolean",
}

PROBE_SCHEMA: Schema = {
    "server": "string",
    "qname": "string",  # random label: never in any cache before the first query
    "probe": "string",  # miss (first query) | hit (same query again)
    "status": "string",
    "rtt_ms": "Float64",
    "rcode": "string",
}


def ask(
    server: str,
    qname: str,
    qtype: str,
    *,
    trial: int = 0,
    port: int = 53,
    timeout_s: float = 2.0,
    attempts: int = 2,
) -> dict[str, Any]:
    """One question to one server, resent after timeouts like a stub resolver, TCP after truncation."""
    start = time.monotonic()
    last: dict[str, Any] = {}
    tries = 0
    while tries < max(attempts, 1):
        tries += 1
        last = tracer.exchange(qname, qtype, server, port=port, timeout_s=timeout_s)
        if last["status"] != "timeout":
            break
    row: dict[str, Any] = {
        "server": server,
        "qname": qname,
        "qtype": qtype.upper(),
        "trial": trial,
        "tries": tries,
        **{
            k: last.get(k)
            for k in ("status", "rtt_ms", "rcode", "answers", "answer_data", "ttl_min_s", "tc", "error")
        },
    }
    if last["status"] == "ok" and last["tc"]:
        full = tracer.exchange(qname, qtype, server, port=port, timeout_s=timeout_s, tcp=True)
        if full["status"] == "ok":
            row.update({k: full[k] for k in ("rtt_ms", "rcode", "answers", "answer_data", "ttl_min_s")})
        else:
            row.update(status="truncated", error=f"TC set and TCP failed: {full['error']}")
    row["latency_ms"] = (time.monotonic() - start) * 1000 if row["status"] in ("ok", "truncated") else None
    return row


def compare(
    servers: Sequence[str],
    questions: Sequence[tuple[str, str]],
    *,
    trials: int = 3,
    port: int = 53,
    timeout_s: float = 2.0,
    attempts: int = 2,
    max_workers: int = 32,
) -> pd.DataFrame:
    """Every (qname, qtype) to every server ``trials`` times, concurrently."""
    from netdebug_nb import schema

    jobs = [(s, q, t, n) for n in range(max(trials, 1)) for s in servers for q, t in questions]
    if not jobs:
        return schema.empty(COMPARE_SCHEMA)
    with ThreadPoolExecutor(min(max_workers, len(jobs))) as pool:
        rows = list(
            pool.map(
                lambda j: ask(
                    j[0], j[1], j[2], trial=j[3], port=port, timeout_s=timeout_s, attempts=attempts
                ),
                jobs,
            )
        )
    return schema.frame(rows, COMPARE_SCHEMA)


def _answer_key(rcode: object, data: object) -> str:
    return f"{rcode}: {data if isinstance(data, str) else '(no records)'}"


def disagreements(compared: pd.DataFrame) -> pd.DataFrame:
    """Per question, each server's answer against the majority (only questions where servers differ)."""
    from netdebug_nb import schema

    ok = compared[compared["status"] == "ok"]
    rows = []
    for (qname, qtype), g in ok.groupby(["qname", "qtype"], sort=False):
        per_server = g.groupby("server", sort=False).agg(
            rcode=("rcode", "first"),
            answer_data=("answer_data", lambda s: s.dropna().iloc[0] if s.notna().any() else None),
        )
        keys = [_answer_key(r.rcode, r.answer_data) for r in per_server.itertuples()]
        if len(set(keys)) < 2:
            continue
        counts = {k: keys.count(k) for k in keys}
        majority = max(counts, key=lambda k: (counts[k], k.startswith("NOERROR")))
        for (server, r), key in zip(per_server.iterrows(), keys, strict=True):
            rows.append(
                {
                    "qname": qname,
                    "qtype": qtype,
                    "server": server,
                    "rcode": r["rcode"],
                    "answer_data": r["answer_data"],
                    "majority": majority,
                    "agrees": key == majority,
                }
            )
    return schema.frame(rows, DISAGREEMENT_SCHEMA)


def stats(compared: pd.DataFrame) -> pd.DataFrame:
    """Per-server latency percentiles, timeout rate and disagreements."""
    from netdebug_nb import schema

    if compared.empty:
        return schema.empty(SERVER_STATS_SCHEMA)
    odd = disagreements(compared)
    odd_counts: dict[str, int] = (
        {str(k): int(v) for k, v in odd[~odd["agrees"].astype(bool)].groupby("server").size().items()}
        if not odd.empty
        else {}
    )
    rows = []
    for server, g in compared.groupby("server", sort=False):
        lat = g["latency_ms"].dropna().astype(float)
        rows.append(
            {
                "server": server,
                "queries": len(g),
                "answered": int((g["status"] == "ok").sum()),
                "timeouts": int((g["status"] == "timeout").sum()),
                "timeout_rate": float((g["status"] == "timeout").mean()),
                "resends": int((g["tries"] - 1).clip(lower=0).sum()),
                "servfail": int((g["rcode"] == "SERVFAIL").sum()),
                "p50_ms": lat.quantile(0.5) if len(lat) else None,
                "p95_ms": lat.quantile(0.95) if len(lat) else None,
                "max_ms": lat.max() if len(lat) else None,
                "disagreements": odd_counts.get(str(server), 0),
            }
        )
    return schema.frame(rows, SERVER_STATS_SCHEMA)


def cache_probe(
    servers: Sequence[str],
    zone: str,
    *,
    port: int = 53,
    timeout_s: float = 2.0,
    qtype: str = "A",
) -> pd.DataFrame:
    """A never-seen random name under ``zone`` (cache miss), then the same name again (cache hit)."""
    from netdebug_nb import schema

    def probe(server: str) -> list[dict[str, Any]]:
        qname = f"netdebug-{secrets.token_hex(6)}.{zone.strip('.')}."
        out = []
        for kind in ("miss", "hit"):
            r = tracer.exchange(qname, qtype, server, port=port, timeout_s=timeout_s)
            out.append(
                {
                    "server": server,
                    "qname": qname,
                    "probe": kind,
                    "status": r["status"],
                    "rtt_ms": r["rtt_ms"],
                    "rcode": r["rcode"],
                }
            )
        return out

    if not servers:
        return schema.empty(PROBE_SCHEMA)
    with ThreadPoolExecutor(len(servers)) as pool:
        rows = [row for rows in pool.map(probe, servers) for row in rows]
    return schema.frame(rows, PROBE_SCHEMA)


def upstream_cost(probes: pd.DataFrame) -> pd.DataFrame:
    """Per server: cache-miss rtt, cache-hit rtt, and their difference (time spent upstream)."""
    import pandas as pd

    if probes.empty:
        return pd.DataFrame(
            {
                c: pd.Series([], dtype=t)
                for c, t in (
                    ("server", "string"),
                    ("miss_ms", "Float64"),
                    ("hit_ms", "Float64"),
                    ("upstream_ms", "Float64"),
                )
            }
        )
    wide = probes.pivot_table(index="server", columns="probe", values="rtt_ms", aggfunc="first").reindex(
        columns=["miss", "hit"]
    )
    out = pd.DataFrame(
        {
            "server": wide.index.astype("string"),
            "miss_ms": wide["miss"].astype("Float64").to_numpy(),
            "hit_ms": wide["hit"].astype("Float64").to_numpy(),
        }
    )
    out["upstream_ms"] = (out["miss_ms"] - out["hit_ms"]).astype("Float64")
    return out.reset_index(drop=True)


def query_stats(queries: pd.DataFrame) -> pd.DataFrame:
    """Per-server statistics of a trace's (or a capture's) exchanges, in the :data:`SERVER_STATS_SCHEMA` form."""
    from netdebug_nb import schema

    if queries.empty:
        return schema.empty(SERVER_STATS_SCHEMA)
    rows = []
    for server, g in queries.groupby("server", sort=False):
        lat = g["rtt_ms"].dropna().astype(float)
        timeouts = int((g["status"] == "timeout").sum())
        rows.append(
            {
                "server": server,
                "queries": len(g),
                "answered": int((g["status"] == "ok").sum()),
                "timeouts": timeouts,
                "timeout_rate": timeouts / len(g),
                "resends": int((g["attempt"].fillna(0) > 0).sum()),
                "servfail": int((g["rcode"] == "SERVFAIL").sum()),
                "p50_ms": lat.quantile(0.5) if len(lat) else None,
                "p95_ms": lat.quantile(0.95) if len(lat) else None,
                "max_ms": lat.max() if len(lat) else None,
                "disagreements": 0,
            }
        )
    return schema.frame(rows, SERVER_STATS_SCHEMA)


def questions(lookups: pd.DataFrame, qtypes: Sequence[str]) -> list[tuple[str, str]]:
    """What to ask every server: the name each lookup ended on, for each record type."""
    if lookups.empty:
        return []
    names = [str(n) for n in dict.fromkeys(lookups["answered_qname"].dropna())]
    return [(n, t.upper()) for n in names for t in qtypes]


def probe_zone(names: Sequence[str], search: Sequence[str]) -> str:
    """A zone for the cache-miss probe: the parent of the first dotted name, else the first search domain."""
    for name in names:
        labels = name.strip(".").split(".")
        if len(labels) >= 3:
            return ".".join(labels[1:])
    return search[0] if search else ""


def cluster_servers(kubeconfig: str = "", context: str = "") -> tuple[pd.DataFrame, list[str]]:
    """Every DNS server a pod can reach according to the Kubernetes API (NodeLocal, service, each CoreDNS pod).

    Returns the servers (``k8s.discovery.DNS_SERVERS_SCHEMA``) and notes on what could not be
    read; a cluster that cannot be reached is a note, not an error, since DNS can be traced without it.
    """
    from netdebug_nb import schema
    from netdebug_nb.errors import ClusterError
    from netdebug_nb.k8s import client, discovery

    try:
        cluster = client.connect(kubeconfig, context)
        found = discovery.cluster_dns(cluster)
    except ClusterError as exc:
        return schema.empty(discovery.DNS_SERVERS_SCHEMA), [str(exc)]
    return found.servers(), [found.summary(), *found.notes]
