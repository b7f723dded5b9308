"""Rung 6's I/O: plain TCP/UDP/SCTP connects from where this process runs (the only module of
the ladder that touches the network).

A connect tells apart what matters on a Kubernetes path: ``connected`` (something accepted),
``refused`` (RST or ICMP port-unreachable: a host answered, nothing listens — or kube-proxy's
REJECT for a Service without endpoints), ``timed out`` (dropped: NetworkPolicy, a firewall, a
dead node), ``no route`` (ICMP host/net unreachable). UDP has no handshake: a reply is
``connected``, ICMP port-unreachable is ``refused``, silence is ``no answer`` (open or filtered).
No subprocess: the kernel's own socket errors are the evidence.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema

if TYPE_CHECKING:
    import pandas as pd

PROBE_SCHEMA: schema.Schema = {
    "role": "string",  # clusterip | endpoint | pod | address
    "name": "string",  # the Service, or the endpoint's pod (ns/name), or the address
    "ip": "string",
    "port": "Int64",
    "protocol": "string",  # TCP | UDP | SCTP
    "attempt": "Int64",  # 1-based
    "outcome": "string",  # connected | refused | timed out | no route | no answer | error
    "time_ms": "Float64",  # until the outcome was known
    "error": "string",  # the socket error text, "" when connected
}

OUTCOMES = ("connected", "refused", "timed out", "no route", "no answer", "error")


@dataclass(frozen=True)
class Target:
    role: str
    name: str
    ip: str
    port: int


def _classify(exc: OSError) -> str:
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "refused"
    if isinstance(exc, TimeoutError) or exc.errno == errno.ETIMEDOUT:
        return "timed out"
    if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL):
        return "no route"
    return "error"


def _stream(ip: str, port: int, timeout_s: float, proto: int) -> tuple[str, str]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM, proto)
    s.settimeout(timeout_s)
    try:
        s.connect((ip, port))
        return "connected", ""
    except OSError as exc:
        return _classify(exc), exc.strerror or str(exc) or type(exc).__name__
    finally:
        s.close()


def _udp(ip: str, port: int, timeout_s: float) -> tuple[str, str]:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(timeout_s)
    try:
        s.connect((ip, port))
        s.send(b"netdebug\n")
        s.recv(2048)
        return "connected", ""
    except TimeoutError:
        return "no answer", "no reply and no ICMP error (open and silent, or filtered)"
    except OSError as exc:
        return _classify(exc), exc.strerror or str(exc)
    finally:
        s.close()


def once(ip: str, port: int, protocol: str = "TCP", timeout_s: float = 2.0) -> tuple[str, str, float]:
    """One attempt: (outcome, error text, milliseconds)."""
    t0 = time.monotonic()
    if protocol == "UDP":
        outcome, err = _udp(ip, port, timeout_s)
    elif protocol == "SCTP":
        sctp = getattr(socket, "IPPROTO_SCTP", 132)
        try:
            outcome, err = _stream(ip, port, timeout_s, sctp)
        except OSError as exc:  # no SCTP module in this kernel
            outcome, err = "error", f"SCTP sockets unavailable here: {exc.strerror or exc}"
    else:
        outcome, err = _stream(ip, port, timeout_s, 0)
    return outcome, err, (time.monotonic() - t0) * 1000.0


def probe(
    targets: Sequence[Target], protocol: str = "TCP", *, tries: int = 3, timeout_s: float = 2.0
) -> pd.DataFrame:
    """Every target ``tries`` times (targets in parallel, tries of one target in sequence, so a
    ClusterIP's random backend choice shows as mixed outcomes)."""

    def run(t: Target) -> list[dict[str, Any]]:
        rows = []
        for attempt in range(1, tries + 1):
            outcome, err, ms = once(t.ip, t.port, protocol, timeout_s)
            rows.append(
                {
                    "role": t.role,
                    "name": t.name,
                    "ip": t.ip,
                    "port": t.port,
                    "protocol": protocol,
                    "attempt": attempt,
                    "outcome": outcome,
                    "time_ms": round(ms, 3),
                    "error": err,
                }
            )
        return rows

    if not targets:
        return schema.empty(PROBE_SCHEMA)
    with ThreadPoolExecutor(max_workers=min(16, len(targets))) as pool:
        rows = [r for chunk in pool.map(run, targets) for r in chunk]
    return schema.frame(rows, PROBE_SCHEMA)
