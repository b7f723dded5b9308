"""Replay what a C resolver does for a lookup, with real queries, and time every exchange.

The order of candidate names comes from :mod:`netdebug_nb.dns.expansion`; this module adds the
parts that cost time: which server is asked, how long the resolver waits before the next try,
the A/AAAA pair, TCP after a truncated UDP answer. glibc's ``res_send`` is followed closely:

* rounds = ``attempts``; in each round the servers are tried in order (``rotate`` moves the
  starting server from one query to the next); the wait for server *i* is
  ``timeout << i / nservers`` (i > 0), ``timeout`` for the first, at least 1 s — glibc's formula.
* A and AAAA are sent together (``single-request``: one after the other). If one answer came
  and the other timed out, glibc switches to single-request mode and resends, which is the
  well-known 5-second stall (conntrack race) — reproduced here as a retry row.
* SERVFAIL, REFUSED and NOTIMP make it ask the next server; NXDOMAIN and answers are final.
* A truncated UDP answer is retried over TCP to the same server (``use-vc``: TCP from the start).

musl is replayed the way it works: every query goes to all servers at once, resent every
``timeout/attempts`` seconds, first usable answer wins.

Each (name, trial) lookup runs in its own thread, so tracing many names costs about the
slowest chain, not the sum. Sockets are per exchange (glibc uses one socket for the pair);
that changes nothing the tables show.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from threading import Lock
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from netdebug_nb.dns import expansion
from netdebug_nb.dns.expansion import InvalidNameError, Resolver
from netdebug_nb.dns.resolvconf import ResolvConf
from netdebug_nb.errors import ParameterTypeError
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import pandas as pd

GLIBC_EDNS_PAYLOAD = 1200
"""UDP payload size glibc advertises with ``options edns0`` (RESOLV_EDNS_BUFFER_SIZE)."""
_NEXT_SERVER_RCODES = ("SERVFAIL", "REFUSED", "NOTIMP")

QUERY_SCHEMA: Schema = {
    "lookup": "string",  # the name the application asked for
    "trial": "Int64",  # repetition number (0-based); empty for captures
    "resolver": "string",  # glibc | musl | capture
    "step": "Int64",  # 1-based candidate position in the search expansion
    "qname": "string",  # absolute name sent (trailing dot)
    "qtype": "string",
    "server": "string",  # nameserver address asked
    "port": "Int64",
    "transport": "string",  # udp | tcp
    "attempt": "Int64",  # 0-based round over the server list (resends included)
    "start_ms": "Float64",  # when the query was sent, ms after the lookup started
    "rtt_ms": "Float64",  # response time; empty when no response
    "wait_ms": "Float64",  # how long the resolver spent on this exchange (rtt, or the timeout it waited)
    "status": "string",  # ok | timeout | error
    "rcode": "string",  # NOERROR, NXDOMAIN, SERVFAIL ...; empty without a response
    "answers": "Int64",  # answer records of the asked type
    "answer_data": "string",  # sorted "TYPE rdata" of every answer record, " | "-joined
    "ttl_min_s": "Int64",  # smallest TTL in the answer section
    "tc": "boolean",  # truncated
    "aa": "boolean",  # authoritative answer
    "ra": "boolean",  # recursion available
    "ad": "boolean",  # authenticated data
    "edns_payload": "Int64",  # UDP payload size the responder advertised (empty: no EDNS)
    "response_bytes": "Int64",
    "error": "string",  # timeout / connection refused / ... ; empty when ok
    "ts": "datetime64[ns, UTC]",  # when the query was sent
    "source": "string",  # live | pcap
}

LOOKUP_SCHEMA: Schema = {
    "lookup": "string",
    "trial": "Int64",
    "resolver": "string",
    "outcome": "string",  # answer | NXDOMAIN | NODATA | SERVFAIL | timeout | error | invalid
    "answered_qname": "string",  # the candidate that produced the final outcome
    "answer_data": "string",
    "total_ms": "Float64",  # what the application waited for getaddrinfo()
    "queries": "Int64",  # exchanges sent, retries and TCP included
    "nxdomain_queries": "Int64",  # NXDOMAIN answers for search candidates: the ndots cost
    "timeouts": "Int64",
    "waited_timeout_ms": "Float64",  # part of total_ms spent waiting for timeouts
    "servfails": "Int64",
    "tcp_fallbacks": "Int64",  # truncated UDP answers retried over TCP
    "truncated_no_tcp": "Int64",  # truncated UDP answers whose TCP retry failed or never came
    "servers": "string",  # servers that were asked, in first-use order
    "error": "string",
}


@dataclass(frozen=True)
class Options:
    """How to query: everything not in resolv.conf."""

    port: int = 53
    resolver: Resolver = "glibc"
    qtypes: tuple[str, ...] = ("A", "AAAA")
    max_workers: int = 32

    def __post_init__(self) -> None:
        if self.resolver not in expansion.RESOLVERS:
            raise ParameterTypeError("resolver", self.resolver, "glibc or musl")
        for t in self.qtypes:
            try:
                dns.rdatatype.from_text(t)
            except dns.rdatatype.UnknownRdatatype as exc:
                raise ParameterTypeError("qtypes", t, "a DNS record type (A, AAAA, SRV, TXT ...)") from exc


@dataclass
class Trace:
    """A tracing run: per-exchange rows, per-lookup summary, and what could not be traced."""

    queries: pd.DataFrame
    lookups: pd.DataFrame
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0


def server_timeout_s(conf: ResolvConf, index: int, nservers: int) -> float:
    """glibc's wait for the server at ``index`` (``send_dg``: ``retrans << ns``, divided by nscount)."""
    seconds = conf.timeout_s << index
    if index > 0:
        seconds //= max(nservers, 1)
    return float(max(seconds, 1))


def exchange(
    qname: str,
    qtype: str,
    server: str,
    *,
    port: int = 53,
    timeout_s: float = 5.0,
    tcp: bool = False,
    edns_payload: int | None = None,
    ad: bool = False,
    recursion: bool = True,
) -> dict[str, Any]:
    """One query and its response (or its absence) as a :data:`QUERY_SCHEMA` row fragment."""
    return exchange_message(
        qname,
        qtype,
        server,
        port=port,
        timeout_s=timeout_s,
        tcp=tcp,
        edns_payload=edns_payload,
        ad=ad,
        recursion=recursion,
    )[0]


def exchange_message(
    qname: str,
    qtype: str,
    server: str,
    *,
    port: int = 53,
    timeout_s: float = 5.0,
    tcp: bool = False,
    edns_payload: int | None = None,
    ad: bool = False,
    recursion: bool = True,
) -> tuple[dict[str, Any], dns.message.Message | None]:
    """:func:`exchange` plus the parsed response, for callers that follow referrals."""
    q = dns.message.make_query(
        qname,
        qtype,
        use_edns=0 if edns_payload else False,
        payload=edns_payload or 512,
        want_dnssec=False,
    )
    if ad:
        q.flags |= dns.flags.AD
    if not recursion:
        q.flags &= ~dns.flags.RD
    sent_at = datetime.now(UTC)
    t0 = time.monotonic()
    row: dict[str, Any] = {
        "qname": qname,
        "qtype": qtype.upper(),
        "server": server,
        "port": port,
        "transport": "tcp" if tcp else "udp",
        "ts": sent_at,
        "t0": t0,
    }
    try:
        if tcp:
            r = dns.query.tcp(q, server.split("%")[0], timeout=timeout_s, port=port)
        else:
            r = _udp(q, server.split("%")[0], port, timeout_s)
    except dns.exception.Timeout:
        return {**row, **_failed("timeout", "timeout", timeout_s * 1000)}, None
    except (ConnectionRefusedError, ConnectionResetError) as exc:
        why = "connection refused" if isinstance(exc, ConnectionRefusedError) else "connection reset"
        return {**row, **_failed("error", why, (time.monotonic() - t0) * 1000)}, None
    except (OSError, EOFError, dns.exception.DNSException) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        return {**row, **_failed("error", str(reason).lower(), (time.monotonic() - t0) * 1000)}, None
    rtt_ms = (time.monotonic() - t0) * 1000
    return {
        **row,
        **describe(r, qtype),
        "rtt_ms": rtt_ms,
        "wait_ms": rtt_ms,
        "status": "ok",
        "error": None,
    }, r


def exchange_pair(
    qname: str,
    qtypes: Sequence[str],
    server: str,
    *,
    port: int = 53,
    timeout_s: float = 5.0,
    edns_payload: int | None = None,
    ad: bool = False,
) -> list[dict[str, Any]]:
    """Several queries for one name sent back to back from ONE UDP socket, answers awaited together.

    This is what glibc does for getaddrinfo's A+AAAA pair (same source port, so both share one
    conntrack entry: the setting of the famous Kubernetes conntrack race). One deadline covers
    all; a query without an answer by then is a timeout.
    """
    where = server.split("%")[0]
    family = socket.AF_INET6 if ":" in where else socket.AF_INET
    rows: dict[int, dict[str, Any]] = {}
    sent: dict[int, tuple[float, str]] = {}
    refused: OSError | None
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((where, port))
        except OSError as exc:  # no route to the server: nothing was sent
            now = datetime.now(UTC)
            return [
                {
                    "qname": qname,
                    "qtype": t.upper(),
                    "server": server,
                    "port": port,
                    "transport": "udp",
                    "ts": now,
                    "t0": time.monotonic(),
                    **_failed("error", _os_reason(exc), 0.0),
                }
                for t in qtypes
            ]
        start = time.monotonic()
        for qtype in qtypes:
            q = dns.message.make_query(
                qname, qtype, use_edns=0 if edns_payload else False, payload=edns_payload or 512
            )
            if ad:
                q.flags |= dns.flags.AD
            t0 = time.monotonic()
            base = {
                "qname": qname,
                "qtype": qtype.upper(),
                "server": server,
                "port": port,
                "transport": "udp",
                "ts": datetime.now(UTC),
                "t0": t0,
            }
            rows[q.id] = base
            sent[q.id] = (t0, qtype.upper())
            try:
                sock.send(q.to_wire())
            except OSError as exc:  # an ICMP error for an earlier query of the pair surfaces here
                refused = exc
                break
        else:
            refused = None
        deadline = start + timeout_s
        pending = set(sent)
        if refused is not None:
            for qid in pending:
                rows[qid].update(
                    _failed("error", _os_reason(refused), (time.monotonic() - sent[qid][0]) * 1000)
                )
            pending.clear()
        while pending:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            try:
                wire = sock.recv(65535)
            except OSError as exc:
                for qid in pending:
                    rows[qid].update(
                        _failed("error", _os_reason(exc), (time.monotonic() - sent[qid][0]) * 1000)
                    )
                pending.clear()
                break
            try:
                r = dns.message.from_wire(wire, ignore_trailing=True)
            except dns.exception.DNSException:
                continue  # garbage on our port: the resolver ignores it too
            if r.id not in pending or not r.question or r.question[0].name != dns.name.from_text(qname):
                continue
            t0, qtype = sent[r.id]
            rtt_ms = (time.monotonic() - t0) * 1000
            rows[r.id].update(
                {**describe(r, qtype), "rtt_ms": rtt_ms, "wait_ms": rtt_ms, "status": "ok", "error": None}
            )
            pending.discard(r.id)
        for qid in pending:
            rows[qid].update(_failed("timeout", "timeout", (deadline - sent[qid][0]) * 1000))
    return list(rows.values())


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc.strerror or type(exc).__name__).lower()


def _udp(q: dns.message.Message, where: str, port: int, timeout_s: float) -> dns.message.Message:
    """UDP over a *connected* socket, as glibc does: an ICMP port unreachable becomes ECONNREFUSED at once."""
    family = socket.AF_INET6 if ":" in where else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect((where, port))
        return dns.query.udp(q, where, timeout=timeout_s, port=port, ignore_unexpected=True, sock=sock)


def _failed(status: str, error: str, wait_ms: float) -> dict[str, Any]:
    return {
        "rtt_ms": None,
        "wait_ms": wait_ms,
        "status": status,
        "rcode": None,
        "answers": None,
        "answer_data": None,
        "ttl_min_s": None,
        "tc": None,
        "aa": None,
        "ra": None,
        "ad": None,
        "edns_payload": None,
        "response_bytes": None,
        "error": error,
    }


def describe(r: dns.message.Message, qtype: str) -> dict[str, Any]:
    """The response fields of a query row, from a parsed message (live or from a capture)."""
    want = dns.rdatatype.from_text(qtype.upper())
    data: list[str] = []
    ttls: list[int] = []
    n = 0
    for rrset in r.answer:
        ttls.append(rrset.ttl)
        for rd in rrset:
            data.append(f"{dns.rdatatype.to_text(rrset.rdtype)} {rd.to_text()}")
        if rrset.rdtype == want:
            n += len(rrset)
    return {
        "rcode": dns.rcode.to_text(r.rcode()),
        "answers": n,
        "answer_data": " | ".join(sorted(data)) or None,
        "ttl_min_s": min(ttls) if ttls else None,
        "tc": bool(r.flags & dns.flags.TC),
        "aa": bool(r.flags & dns.flags.AA),
        "ra": bool(r.flags & dns.flags.RA),
        "ad": bool(r.flags & dns.flags.AD),
        "edns_payload": r.payload if r.edns >= 0 else None,
        "response_bytes": len(r.to_wire()) if not (r.flags & dns.flags.TC) else None,
    }


class _Replay:
    """One lookup (name, trial) replayed with a resolver's rules; collects rows as it goes."""

    def __init__(
        self, name: str, trial: int, conf: ResolvConf, opts: Options, offsets: count[int], lock: Lock
    ) -> None:
        self.name, self.trial, self.conf, self.opts = name, trial, conf, opts
        self.rows: list[dict[str, Any]] = []
        self._offsets, self._lock = offsets, lock
        self.t_start = time.monotonic()
        self.servers = list(conf.used_nameservers)
        self.types = expansion.qtypes_for(conf, opts.qtypes)
        self.outcome = "error"
        self.final_step = 0

    def _rotate_offset(self) -> int:
        if not self.conf.has("rotate") or not self.servers:
            return 0
        with self._lock:
            return next(self._offsets) % len(self.servers)

    def _send(
        self,
        step: int,
        attempt: int,
        qname: str,
        qtype: str,
        server: str,
        timeout_s: float,
        tcp: bool = False,
    ) -> dict[str, Any]:
        edns = GLIBC_EDNS_PAYLOAD if self.conf.has("edns0") else None
        row = exchange(
            qname,
            qtype,
            server,
            port=self.opts.port,
            timeout_s=timeout_s,
            tcp=tcp,
            edns_payload=edns,
            ad=self.conf.has("trust-ad"),
        )
        row.update(
            lookup=self.name,
            trial=self.trial,
            resolver=self.opts.resolver,
            step=step,
            attempt=attempt,
            source="live",
        )
        row["start_ms"] = (row.pop("t0") - self.t_start) * 1000
        self.rows.append(row)
        if row["status"] == "ok" and row["tc"] and not tcp:
            # the resolver retries over TCP to the same server
            tcp_row = self._send(step, attempt, qname, qtype, server, timeout_s, tcp=True)
            return tcp_row
        return row

    def _send_pair(
        self, step: int, attempt: int, qname: str, types: Sequence[str], server: str, timeout_s: float
    ) -> list[dict[str, Any]]:
        """The pair on one socket; a truncated answer sends BOTH queries again over TCP (glibc ``send_vc``)."""
        rows = exchange_pair(
            qname,
            types,
            server,
            port=self.opts.port,
            timeout_s=timeout_s,
            edns_payload=GLIBC_EDNS_PAYLOAD if self.conf.has("edns0") else None,
            ad=self.conf.has("trust-ad"),
        )
        for row in rows:
            row.update(
                lookup=self.name,
                trial=self.trial,
                resolver=self.opts.resolver,
                step=step,
                attempt=attempt,
                source="live",
            )
            row["start_ms"] = (row.pop("t0") - self.t_start) * 1000
            self.rows.append(row)
        if any(r["status"] == "ok" and r["tc"] for r in rows):
            return [self._send(step, attempt, qname, t, server, timeout_s, tcp=True) for t in types]
        return rows

    def _pair(
        self, step: int, attempt: int, qname: str, types: Sequence[str], server: str, timeout_s: float
    ) -> list[dict[str, Any]]:
        tcp = self.conf.has("use-vc")
        serial = self.conf.has("single-request") or self.conf.has("single-request-reopen") or len(types) == 1
        if serial or tcp:
            return [self._send(step, attempt, qname, t, server, timeout_s, tcp) for t in types]
        results = self._send_pair(step, attempt, qname, types, server, timeout_s)
        got = [r for r in results if r["status"] == "ok"]
        if got and any(r["status"] == "timeout" for r in results):
            # glibc: one answer arrived, the other timed out -> single-request mode, resend the missing one
            for i, r in enumerate(results):
                if r["status"] == "timeout":
                    results[i] = self._send(step, attempt, qname, r["qtype"], server, timeout_s, tcp)
        return results

    def candidate_glibc(self, step: int, qname: str) -> str:
        """Outcome of ``res_send`` for one candidate: answer | NXDOMAIN | NODATA | SERVFAIL | timeout | error."""
        n = len(self.servers)
        offset = self._rotate_offset()
        saw_servfail = saw_timeout = False
        for attempt in range(self.conf.attempts):
            for shift in range(n):
                idx = (shift + offset) % n
                results = self._pair(
                    step, attempt, qname, self.types, self.servers[idx], server_timeout_s(self.conf, idx, n)
                )
                if any(r["status"] != "ok" for r in results):
                    saw_timeout = saw_timeout or any(r["status"] == "timeout" for r in results)
                    continue
                if any(r["rcode"] in _NEXT_SERVER_RCODES for r in results):
                    saw_servfail = True
                    continue
                return _pair_outcome(results)
        if saw_servfail:
            return "SERVFAIL"
        return "timeout" if saw_timeout else "error"

    def candidate_musl(self, step: int, qname: str) -> str:
        """musl ``res_msend``: every server at once, resend every timeout/attempts, first usable answer wins."""
        per_round = max(self.conf.timeout_s / max(self.conf.attempts, 1), 0.2)
        final: dict[str, dict[str, Any]] = {}
        for attempt in range(self.conf.attempts):
            todo = [t for t in self.types if t not in final]
            if not todo:
                break
            jobs = [(step, attempt, qname, t, s, per_round) for t in todo for s in self.servers]
            with ThreadPoolExecutor(max(len(jobs), 1)) as pool:
                results = list(pool.map(lambda j: self._send(*j), jobs))
            for r in sorted((r for r in results if r["status"] == "ok"), key=lambda r: r["rtt_ms"]):
                if r["qtype"] not in final and r["rcode"] != "SERVFAIL":
                    final[r["qtype"]] = r
            if any(r["status"] == "ok" and r["rcode"] == "SERVFAIL" for r in results) and len(final) < len(
                self.types
            ):
                continue
        if len(final) < len(self.types):
            seen = [r for r in self.rows if r["qname"] == qname and r["status"] == "ok"]
            return "SERVFAIL" if seen else "timeout"
        return _pair_outcome(list(final.values()))

    def run(self) -> None:
        cands = expansion.candidates(self.name, self.conf, self.opts.resolver)
        for step, (qname, _why) in enumerate(cands, start=1):
            if self.opts.resolver == "musl":
                outcome = self.candidate_musl(step, qname)
            else:
                outcome = self.candidate_glibc(step, qname)
            self.outcome, self.final_step = outcome, step
            if outcome == "answer" or not expansion.continues(self.opts.resolver, outcome):
                break


def _pair_outcome(results: Sequence[dict[str, Any]]) -> str:
    if any((r["answers"] or 0) > 0 for r in results):
        return "answer"
    rcodes = {r["rcode"] for r in results}
    if "NOERROR" in rcodes:
        return "NODATA"
    if rcodes == {"NXDOMAIN"}:
        return "NXDOMAIN"
    if "SERVFAIL" in rcodes:
        return "SERVFAIL"
    return next(iter(rcodes), "error") or "error"


def lookup(name: str, conf: ResolvConf, opts: Options = Options(), *, trial: int = 0) -> pd.DataFrame:
    """Per-exchange rows for one lookup (raises :class:`InvalidNameError` for an invalid name)."""
    expansion.validate(name)
    replay = _Replay(name, trial, conf, opts, count(), Lock())
    replay.run()
    return _queries_frame(replay.rows)


def _queries_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    from netdebug_nb import schema

    return schema.frame(rows, QUERY_SCHEMA)


def trace(names: Sequence[str], conf: ResolvConf, opts: Options = Options(), *, trials: int = 1) -> Trace:
    """Replay every name ``trials`` times, all lookups concurrently; invalid names become errors."""
    import pandas as pd

    from netdebug_nb import schema

    t0 = time.monotonic()
    errors: list[str] = []
    valid: list[str] = []
    invalid_rows: list[dict[str, Any]] = []
    for name in dict.fromkeys(names):  # a name listed twice is one lookup (use trials to repeat)
        try:
            valid.append(expansion.validate(name))
        except InvalidNameError as exc:
            errors.append(str(exc))
            invalid_rows.append(
                {**_empty_lookup(name, opts.resolver), "outcome": "invalid", "error": exc.reason}
            )
    if not conf.used_nameservers and valid:
        errors.append(f"{conf.source}: no nameserver configured; nothing to query")
        valid = []
    offsets, lock = count(), Lock()
    replays = [_Replay(n, t, conf, opts, offsets, lock) for t in range(max(trials, 1)) for n in valid]
    if replays:
        with ThreadPoolExecutor(min(opts.max_workers, len(replays))) as pool:
            list(pool.map(lambda r: r.run(), replays))
    frames = [_queries_frame(r.rows) for r in replays if r.rows]
    queries = (
        schema.conform(pd.concat(frames, ignore_index=True), QUERY_SCHEMA)
        if frames
        else schema.empty(QUERY_SCHEMA)
    )
    lookups = summarize(queries, {(r.name, r.trial): (r.outcome, r.final_step) for r in replays})
    if invalid_rows:
        lookups = schema.conform(
            pd.concat([lookups, schema.frame(invalid_rows, LOOKUP_SCHEMA)], ignore_index=True), LOOKUP_SCHEMA
        )
    return Trace(queries=queries, lookups=lookups, errors=errors, wall_s=time.monotonic() - t0)


def _empty_lookup(name: str, resolver: str) -> dict[str, Any]:
    return {
        "lookup": name,
        "trial": 0,
        "resolver": resolver,
        "outcome": None,
        "answered_qname": None,
        "answer_data": None,
        "total_ms": None,
        "queries": 0,
        "nxdomain_queries": 0,
        "timeouts": 0,
        "waited_timeout_ms": 0.0,
        "servfails": 0,
        "tcp_fallbacks": 0,
        "truncated_no_tcp": 0,
        "servers": None,
        "error": None,
    }


def summarize(
    queries: pd.DataFrame, outcomes: Mapping[tuple[str, int], tuple[str, int]] | None = None
) -> pd.DataFrame:
    """One row per (lookup, trial): what the application experienced. Works for live and capture rows.

    ``outcomes`` (from a replay: the resolver's own verdict and the candidate it ended on) wins
    over the verdict inferred from the rows, which is all a capture has.
    """
    import pandas as pd

    from netdebug_nb import schema

    if queries.empty:
        return schema.empty(LOOKUP_SCHEMA)
    rows = []
    trial_key = queries["trial"].fillna(-1)
    for (name, _t), g in queries.groupby([queries["lookup"], trial_key], sort=False):
        g = g.sort_values("start_ms", kind="stable")
        known = (outcomes or {}).get((str(name), int(str(_t))))
        last_step = known[1] if known else g["step"].max()
        final = g[g["step"] == last_step] if pd.notna(last_step) else g
        answered = final[final["status"] == "ok"]
        outcome = known[0] if known else _final_outcome(final)
        ends = (g["start_ms"] + g["wait_ms"].fillna(0)).max()
        udp_tc = g[(g["transport"] == "udp") & g["tc"].fillna(False).astype(bool)]
        tcp_ok = g[(g["transport"] == "tcp") & (g["status"] == "ok")]
        no_tcp = sum(
            1
            for _, r in udp_tc.iterrows()
            if tcp_ok[
                (tcp_ok["qname"] == r["qname"])
                & (tcp_ok["qtype"] == r["qtype"])
                & (tcp_ok["server"] == r["server"])
            ].empty
        )
        search_nx = (
            g[(g["rcode"] == "NXDOMAIN") & (g["step"] < last_step)] if pd.notna(last_step) else g.iloc[0:0]
        )
        row = _empty_lookup(str(name), str(g["resolver"].iloc[0]))
        row.update(
            trial=g["trial"].iloc[0],
            outcome=outcome,
            answered_qname=final["qname"].iloc[0],
            answer_data=_final_answer(answered),
            total_ms=float(ends - g["start_ms"].min()),
            queries=len(g),
            nxdomain_queries=len(search_nx),
            timeouts=int((g["status"] == "timeout").sum()),
            waited_timeout_ms=_covered_ms(g[g["status"] == "timeout"]),
            servfails=int((g["rcode"] == "SERVFAIL").sum()),
            tcp_fallbacks=len(udp_tc) - no_tcp,
            truncated_no_tcp=no_tcp,
            servers=" ".join(dict.fromkeys(g["server"].dropna().astype(str))),
            error=None if outcome != "error" else "; ".join(sorted(set(g["error"].dropna().astype(str)))),
        )
        rows.append(row)
    return schema.frame(rows, LOOKUP_SCHEMA)


def _final_answer(answered: pd.DataFrame) -> str | None:
    """What getaddrinfo returns: per record type, the last complete answer (earlier servers' partial ones are dropped)."""
    full = answered[~answered["tc"].fillna(False).astype(bool)]
    last = full.sort_values("start_ms", kind="stable").groupby("qtype", sort=False).tail(1)
    data = sorted({str(d) for d in last["answer_data"].dropna()})
    return " | ".join(data) or None


def _covered_ms(rows: pd.DataFrame) -> float:
    """Length of the union of [start, start + wait] intervals: parallel timeouts are waited once."""
    total, end = 0.0, float("-inf")
    for start, wait in sorted(
        zip(rows["start_ms"].astype(float), rows["wait_ms"].fillna(0).astype(float), strict=True)
    ):
        stop = start + wait
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def _final_outcome(final: pd.DataFrame) -> str:
    ok = final[final["status"] == "ok"]
    if ((ok["answers"].fillna(0)) > 0).any():
        return "answer"
    rcodes = set(ok["rcode"].dropna().astype(str))
    if "NOERROR" in rcodes:
        return "NODATA"
    if "NXDOMAIN" in rcodes:
        return "NXDOMAIN"
    if "SERVFAIL" in rcodes:
        return "SERVFAIL"
    if rcodes:
        return sorted(rcodes)[0]
    return "timeout" if (final["status"] == "timeout").any() else "error"
