"""Listening sockets (``ss -tulpn``) and established TCP connections with their kernel
state (``ss -tinp``: RTT, congestion window, retransmissions).

ss has no JSON output, so the text is parsed column by column; the process column is last and
may be absent (not root: other users' sockets have no owner), and addresses come in every
spelling ss uses (``*:22``, ``[::]:22``, ``127.0.0.53%lo:53``, ``[fe80::1%eth0]:123``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema
from netdebug_nb.errors import ParseError

if TYPE_CHECKING:
    import pandas as pd

LISTEN_SCHEMA: schema.Schema = {
    "proto": "string",  # tcp | udp
    "state": "string",  # LISTEN (tcp) | UNCONN (udp)
    "local_addr": "string",  # "*" for all addresses, zone (%lo) removed
    "local_port": "Int64",
    "recv_q": "Int64",  # for LISTEN: current accept queue
    "send_q": "Int64",  # for LISTEN: accept backlog
    "process": "string",  # command name; empty when ss could not see the owner
    "pid": "Int64",
    "loopback_only": "boolean",  # bound to 127.0.0.0/8 or ::1: unreachable from other hosts
}

TCP_SCHEMA: schema.Schema = {
    "state": "string",  # ESTAB | SYN-SENT | CLOSE-WAIT ...
    "local_addr": "string",
    "local_port": "Int64",
    "peer_addr": "string",
    "peer_port": "Int64",
    "recv_q": "Int64",
    "send_q": "Int64",
    "process": "string",
    "pid": "Int64",
    "congestion": "string",  # cubic | bbr | reno ...
    "rtt_ms": "Float64",  # smoothed RTT
    "rttvar_ms": "Float64",
    "rto_ms": "Float64",
    "cwnd": "Int64",  # congestion window, segments
    "mss": "Int64",
    "pmtu": "Int64",
    "segs_out": "Int64",
    "data_segs_out": "Int64",
    "retrans_now": "Int64",  # segments currently being retransmitted (first number of retrans:a/b)
    "retrans_total": "Int64",  # retransmitted segments over the connection's life
    "bytes_retrans": "Int64",
    "lost": "Int64",
    "unacked": "Int64",
    "retrans_pct": "Float64",  # retrans_total / data_segs_out (or segs_out) * 100
}

_NETIDS = {"tcp", "udp", "raw", "u_str", "u_dgr", "u_seq", "sctp", "mptcp", "p_raw", "p_dgr", "nl", "tipc"}
_USERS = re.compile(r'\(\("(?P<name>[^"]*)",pid=(?P<pid>\d+)')
_LOOPBACK = re.compile(r"^(127\.|::1$|::ffff:127\.)")


def split_endpoint(text: str) -> tuple[str, int | None]:
    """``[::1]:8080`` → (``::1``, 8080); ``*:*`` → (``*``, None); zone ids removed."""
    host, _, port = text.rpartition(":")
    host = re.sub(r"%[^\]]*", "", host)  # zone: 127.0.0.53%lo, [fe80::1]%eth0, [fe80::1%eth0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in ("0.0.0.0", "::", ""):
        host = "*"
    return host, int(port) if port.isdigit() else None


def _process(rest: str) -> tuple[str, int | None]:
    m = _USERS.search(rest)
    return (m["name"], int(m["pid"])) if m else ("", None)


def _rows(text: str, source: str) -> list[tuple[int, list[str], str]]:
    """(line number, the columns up to the peer address, process text) of each socket line."""
    out: list[tuple[int, list[str], str]] = []
    for no, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line[0].isspace():
            continue
        if line.startswith(("Netid", "State")):
            continue
        parts = line.split()
        has_netid = parts[0] in _NETIDS
        need = 6 if has_netid else 5
        if len(parts) < need:
            raise ParseError(source, f"ss line has {len(parts)} columns, expected at least {need}", line=no)
        cols = parts[:need] if has_netid else ["", *parts[:need]]
        out.append((no, cols, " ".join(parts[need:])))
    return out


def parse_listening(text: str, source: str = "ss-tulpn.txt") -> pd.DataFrame:
    """``ss -tulpn`` → one row per listening TCP / bound UDP socket."""
    rows = []
    for no, (netid, state, rq, sq, local, _peer), rest in _rows(text, source):
        addr, port = split_endpoint(local)
        name, pid = _process(rest)
        if not (rq.isdigit() and sq.isdigit()):
            raise ParseError(source, f"ss queue columns are not numbers: {rq!r} {sq!r}", line=no)
        rows.append(
            {
                "proto": netid or "tcp",
                "state": state,
                "local_addr": addr,
                "local_port": port,
                "recv_q": int(rq),
                "send_q": int(sq),
                "process": name,
                "pid": pid,
                "loopback_only": bool(_LOOPBACK.match(addr)),
            }
        )
    return schema.frame(rows, LISTEN_SCHEMA)


def _info(line: str) -> dict[str, Any]:
    """Fields of an ``ss -i`` info line (``cubic wscale:7,7 rto:204 rtt:0.1/0.05 ... retrans:0/3``)."""
    info: dict[str, Any] = {}
    tokens = line.split()
    if tokens and ":" not in tokens[0] and tokens[0].isidentifier():
        info["congestion"] = tokens[0]
    for tok in tokens:
        key, sep, value = tok.partition(":")
        if not sep:
            continue
        info[key] = value
    return info


def _num(v: Any, cast: type = int) -> Any:
    try:
        return cast(v)
    except (TypeError, ValueError):
        return None


def parse_tcp_info(text: str, source: str = "ss-tin.txt") -> pd.DataFrame:
    """``ss -tinp`` (socket line + indented info line) → one row per connection."""
    lines = text.splitlines()
    info_for: dict[int, str] = {}
    for i, line in enumerate(lines, start=1):
        if line and line[0].isspace() and line.strip() and i - 1 >= 1:
            # attach to the closest socket line above
            j = i - 1
            while j >= 1 and lines[j - 1][:1].isspace():
                j -= 1
            info_for[j] = info_for.get(j, "") + " " + line.strip()
    rows = []
    for no, (_netid, state, rq, sq, local, peer), rest in _rows(text, source):
        laddr, lport = split_endpoint(local)
        paddr, pport = split_endpoint(peer)
        name, pid = _process(rest)
        info = _info(info_for.get(no, ""))
        rtt, _, rttvar = str(info.get("rtt", "")).partition("/")
        now, _, total = str(info.get("retrans", "")).partition("/")
        segs = _num(info.get("data_segs_out")) or _num(info.get("segs_out"))
        total_n = _num(total) if total else (0 if info else None)
        rows.append(
            {
                "state": state,
                "local_addr": laddr,
                "local_port": lport,
                "peer_addr": paddr,
                "peer_port": pport,
                "recv_q": _num(rq),
                "send_q": _num(sq),
                "process": name,
                "pid": pid,
                "congestion": info.get("congestion", ""),
                "rtt_ms": _num(rtt, float),
                "rttvar_ms": _num(rttvar, float),
                "rto_ms": _num(info.get("rto"), float),
                "cwnd": _num(info.get("cwnd")),
                "mss": _num(info.get("mss")),
                "pmtu": _num(info.get("pmtu")),
                "segs_out": _num(info.get("segs_out")),
                "data_segs_out": _num(info.get("data_segs_out")),
                "retrans_now": _num(now) if total else (0 if info else None),
                "retrans_total": total_n,
                "bytes_retrans": _num(info.get("bytes_retrans")),
                "lost": _num(info.get("lost")),
                "unacked": _num(info.get("unacked")),
                "retrans_pct": (100.0 * total_n / segs) if segs and total_n is not None else None,
            }
        )
    return schema.frame(rows, TCP_SCHEMA)
