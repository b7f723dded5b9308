"""The per-query table from a capture, so a report can be made from someone else's pcap.

The kit's pcap reader and DNS decoder (:mod:`netdebug_nb.pcap.dns`) give query/response pairs;
this module regroups them into *lookups* the way the resolver produced them: per client, a
chain of candidates of one base name (``api.example.com.default.svc.cluster.local.`` …
``api.example.com.``) as :mod:`netdebug_nb.dns.expansion` predicts them for the given
resolv.conf, with resends counted as attempts and an unanswered query's wait measured up to the
resend (the resolver's timeout as it happened on the wire). The result has the tracer's
:data:`~netdebug_nb.dns.tracer.QUERY_SCHEMA`, so summaries, checks and plots are shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.dns import expansion
from netdebug_nb.dns.resolvconf import ResolvConf
from netdebug_nb.dns.tracer import QUERY_SCHEMA

if TYPE_CHECKING:
    import pandas as pd


def read(path: str | Path, conf: ResolvConf, *, qtypes: Sequence[str] = ("A", "AAAA")) -> pd.DataFrame:
    """Per-query rows (:data:`QUERY_SCHEMA`) for every DNS query in the capture at ``path``."""
    from netdebug_nb.pcap import dns as pcap_dns
    from netdebug_nb.pcap import reader

    packets = reader.read(path)
    return from_transactions(pcap_dns.transactions(pcap_dns.read(path, packets)), conf, qtypes=qtypes)


def base_name(qname: str, conf: ResolvConf) -> str:
    """The name the application most likely asked for, given that ``qname`` was sent.

    The base whose first glibc candidate is ``qname`` wins (a chain starts at its first
    candidate); then any base that has ``qname`` among its candidates; else ``qname`` itself.
    """
    name = qname.rstrip(".")
    options = [name]
    for suffix in conf.search:
        s = suffix.strip(".")
        if s and name.lower().endswith("." + s.lower()) and len(name) > len(s) + 1:
            options.append(name[: -(len(s) + 1)])
    for base in options[1:] + options[:1]:
        if _first_candidate(base, conf) == qname.lower():
            return base
    for base in options[1:]:
        if qname.lower() in _candidates(base, conf):
            return base
    return name


def _candidates(base: str, conf: ResolvConf) -> list[str]:
    try:
        return [q.lower() for q, _ in expansion.candidates(base, conf, "glibc")]
    except expansion.InvalidNameError:
        return []


def _first_candidate(base: str, conf: ResolvConf) -> str | None:
    c = _candidates(base, conf)
    return c[0] if c else None


@dataclass
class _Chain:
    client: str
    base: str
    trial: int
    t0: Any
    last: Any
    candidates: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)


def from_transactions(
    tx: pd.DataFrame, conf: ResolvConf, *, qtypes: Sequence[str] = ("A", "AAAA"), gap_s: float | None = None
) -> pd.DataFrame:
    """Regroup query/response pairs into resolver lookups (see the module doc)."""
    import pandas as pd

    from netdebug_nb import schema

    if tx.empty:
        return schema.empty(QUERY_SCHEMA)
    window = pd.Timedelta(seconds=gap_s if gap_s is not None else conf.timeout_s * conf.attempts + 1)
    t = tx[tx["qname"].notna()].sort_values(["query_ts", "query_frame"], kind="stable")
    chains: list[_Chain] = []
    occurrences: dict[str, int] = {}
    records: Any = t.itertuples(index=False)  # row fields are plain Python/pandas scalars
    for r in records:
        qname = str(r.qname).lower()
        client = str(r.client)
        fits = [
            c
            for c in chains
            if c.client == client
            and r.query_ts - c.last <= window
            and qname in c.candidates
            and not _complete(c, qtypes)
            and not _already_answered(c, qname, str(r.qtype), str(r.transport))
        ]
        # concurrent lookups of one name: glibc sends a pair to one server, so prefer the chain using it
        same_server = [c for c in fits if c.rows and c.rows[-1]["server"] == r.server]
        chain: _Chain | None = (same_server or fits)[-1] if fits else None
        if chain is None:
            base = base_name(qname, conf)
            trial = occurrences.get(base, 0)
            occurrences[base] = trial + 1
            chain = _Chain(client, base, trial, r.query_ts, r.query_ts, _candidates(base, conf) or [qname])
            chains.append(chain)
        chain.last = max(chain.last, r.query_ts if bool(pd.isna(r.response_ts)) else r.response_ts)
        attempt = sum(
            1
            for x in chain.rows
            if x["qname"] == qname and x["qtype"] == r.qtype and x["transport"] == r.transport
        )
        step = chain.candidates.index(qname) + 1 if qname in chain.candidates else None
        answered = bool(r.answered)
        chain.rows.append(
            {
                "lookup": chain.base,
                "trial": chain.trial,
                "resolver": "capture",
                "step": step,
                "qname": qname,
                "qtype": r.qtype,
                "server": r.server,
                "port": r.server_port,
                "transport": r.transport,
                "attempt": attempt,
                "start_ms": (r.query_ts - chain.t0).total_seconds() * 1000,
                "rtt_ms": r.latency_ms if answered else None,
                "wait_ms": r.latency_ms if answered else None,
                "status": "ok" if answered else "timeout",
                "rcode": r.rcode if answered else None,
                "answers": r.answers,
                "answer_data": r.answer_data,
                "ttl_min_s": r.ttl_min_s,
                "tc": r.tc,
                "aa": r.aa,
                "ra": r.ra,
                "ad": r.ad,
                "edns_payload": r.edns_payload,
                "response_bytes": r.response_bytes,
                "error": None if answered else "no response in the capture",
                "ts": r.query_ts,
                "source": "pcap",
            }
        )
    rows: list[dict[str, Any]] = []
    for c in chains:
        _fill_waits(c.rows, conf)
        rows.extend(c.rows)
    return schema.frame(rows, QUERY_SCHEMA)


def _true(v: Any) -> bool:
    """A nullable boolean cell as a plain bool (NA is False)."""
    import pandas as pd

    return v is not None and v is not pd.NA and bool(v)


def _complete(chain: _Chain, qtypes: Sequence[str]) -> bool:
    """The lookup got its answer: every record type a lookup asks has a full (non-truncated) response."""
    if not chain.rows:
        return False
    last = chain.rows[-1]
    rows = [x for x in chain.rows if x["qname"] == last["qname"] and x["server"] == last["server"]]
    done = {x["qtype"] for x in rows if x["status"] == "ok" and not _true(x["tc"])}
    has_answer = any(x["status"] == "ok" and not _true(x["tc"]) and _true(x["answers"]) for x in rows)
    return has_answer and done >= {*qtypes}


def _already_answered(chain: _Chain, qname: str, qtype: str, transport: str) -> bool:
    """This exact question already got a complete answer in the chain: a new query is a new lookup."""
    return any(
        x["qname"] == qname
        and x["qtype"] == qtype
        and x["transport"] == transport
        and x["status"] == "ok"
        and not _true(x["tc"])
        for x in chain.rows
    )


def _fill_waits(rows: list[dict[str, Any]], conf: ResolvConf) -> None:
    """An unanswered query cost the time until the resolver resent it (or its timeout, if it never did)."""
    for i, row in enumerate(rows):
        if row["status"] == "ok":
            continue
        resend = next(
            (x for x in rows[i + 1 :] if x["qname"] == row["qname"] and x["qtype"] == row["qtype"]), None
        )
        row["wait_ms"] = (resend["start_ms"] - row["start_ms"]) if resend else conf.timeout_s * 1000.0
