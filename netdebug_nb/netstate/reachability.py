"""Port reachability: is TARGET:PORT open, closed (RST / ICMP port unreachable) or filtered
(no answer, or an ICMP prohibited/unreachable from a router), and why.

nmap's connect scan (TCP) and UDP scan are used when available because they classify with
the reason (``--reason``); without nmap, or for UDP without root, a bounded-timeout socket test
gives the same classes from the errno the kernel returns.
"""

from __future__ import annotations

import concurrent.futures
import errno
import os
import socket
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netdebug_nb import schema, tools
from netdebug_nb.errors import NetdebugError, ParameterTypeError, ParseError, ToolPermissionError

if TYPE_CHECKING:
    import pandas as pd

REACH_SCHEMA: schema.Schema = {
    "source": "string",  # the probing host (hostname)
    "target": "string",  # as given
    "address": "string",  # resolved address ("" when it did not resolve)
    "proto": "string",  # tcp | udp
    "port": "Int64",
    "state": "string",  # open | closed | filtered | open|filtered (UDP, no answer) | unreachable | error
    "reason": "string",  # RST, ICMP port unreachable, no answer, no route ...
    "method": "string",  # nmap | connect
    "rtt_ms": "Float64",  # connect test only
}

REASONS = {
    "syn-ack": "SYN-ACK (accepted)",
    "conn-refused": "RST (connection refused)",
    "reset": "RST",
    "port-unreach": "ICMP port unreachable",
    "no-response": "no answer",
    "net-unreach": "ICMP network unreachable / no route",
    "host-unreach": "ICMP host unreachable (or ARP failed)",
    "admin-prohibited": "ICMP administratively prohibited (REJECT)",
    "host-prohibited": "ICMP host prohibited (REJECT)",
    "net-prohibited": "ICMP net prohibited (REJECT)",
    "udp-response": "UDP reply",
    "proto-unreach": "ICMP protocol unreachable",
    "time-exceeded": "ICMP time exceeded (routing loop?)",
}


@dataclass(frozen=True)
class Port:
    proto: str  # tcp | udp
    port: int

    def __str__(self) -> str:
        return f"{self.port}/{self.proto}"


def parse_ports(values: Sequence[Any], *, parameter: str = "ports") -> list[Port]:
    """``[80, "tcp/443", "udp/53", "53/udp"]`` → ports (TCP when no protocol is given)."""
    out: list[Port] = []
    for v in values:
        text = str(v).strip().lower()
        proto, port = "tcp", text
        if "/" in text:
            a, b = text.split("/", 1)
            proto, port = (a, b) if a in ("tcp", "udp") else (b, a)
        if proto not in ("tcp", "udp") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ParameterTypeError(parameter, v, "port", "use 80, tcp/80 or udp/53")
        p = Port(proto, int(port))
        if p not in out:
            out.append(p)
    return out


def resolve(target: str) -> tuple[str, str]:
    """(address, error): the first address of a name, or why it did not resolve."""
    try:
        infos = socket.getaddrinfo(target, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        return "", f"cannot resolve: {exc.strerror}"
    return str(infos[0][4][0]), ""


def nmap_argv(addresses: Sequence[str], ports: Sequence[int], *, udp: bool, timeout_s: float) -> list[str]:
    v6 = ["-6"] if any(":" in a for a in addresses) else []
    return [
        "nmap", *v6, "-Pn", "-n", "-sU" if udp else "-sT", "--reason", "--max-retries", "1",
        "--host-timeout", f"{max(5, int(timeout_s * 10))}s", "-p", ",".join(str(p) for p in sorted(set(ports))),
        "-oX", "-", *addresses,
    ]  # fmt: skip


def parse_nmap(xml_text: str, source: str = "nmap -oX") -> list[dict[str, Any]]:
    """nmap XML → rows (address, proto, port, state, reason)."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ParseError(source, f"not nmap XML: {exc}", line=exc.position[0]) from exc
    rows = []
    for host in root.iter("host"):
        addr_el = host.find("address")
        addr = addr_el.get("addr", "") if addr_el is not None else ""
        for port in host.iter("port"):
            st = port.find("state")
            state = st.get("state", "") if st is not None else ""
            reason = st.get("reason", "") if st is not None else ""
            if state == "closed|filtered":
                state = "filtered"
            rows.append(
                {
                    "address": addr,
                    "proto": port.get("protocol", ""),
                    "port": int(port.get("portid", "0")),
                    "state": state,
                    "reason": REASONS.get(reason, reason),
                }
            )
    return rows


def _errno_reason(exc: OSError) -> tuple[str, str]:
    code = exc.errno
    if isinstance(exc, ConnectionRefusedError) or code == errno.ECONNREFUSED:
        return "closed", "RST (connection refused)"
    if code == errno.ENETUNREACH:
        return "filtered", "no route (network unreachable)"
    if code == errno.EHOSTUNREACH:
        return "filtered", "ICMP host unreachable (or ARP failed)"
    if code in (errno.EPERM, errno.EACCES):
        return "filtered", "blocked by the local firewall (EPERM)"
    if code == errno.EINVAL:
        return "filtered", "blackhole route (EINVAL)"
    return "error", exc.strerror or str(exc)


def connect_probe(address: str, port: Port, *, timeout_s: float) -> dict[str, Any]:
    """One port by a plain socket: TCP connect, or a UDP datagram waiting for a reply or an ICMP error."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    t0 = time.monotonic()
    row: dict[str, Any] = {"address": address, "proto": port.proto, "port": port.port, "rtt_ms": None}
    kind = socket.SOCK_STREAM if port.proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as s:
        s.settimeout(timeout_s)
        try:
            s.connect((address, port.port))
            if port.proto == "tcp":
                row.update(state="open", reason="SYN-ACK (accepted)", rtt_ms=(time.monotonic() - t0) * 1000)
                return row
            s.send(b"\r\n")
            s.recv(2048)
            row.update(state="open", reason="UDP reply", rtt_ms=(time.monotonic() - t0) * 1000)
        except TimeoutError:
            state = "filtered" if port.proto == "tcp" else "open|filtered"
            row.update(state=state, reason="no answer")
        except OSError as exc:
            state, reason = _errno_reason(exc)
            if port.proto == "udp" and state == "closed":
                reason = "ICMP port unreachable"
            row.update(state=state, reason=reason)
    return row


def probe(
    targets: Sequence[str],
    ports: Sequence[Port],
    *,
    timeout_s: float = 2.0,
    use_nmap: bool = True,
    source: str = "",
) -> tuple[pd.DataFrame, list[NetdebugError]]:
    """Every target × port; returns the table and the tool problems met (nmap missing, not root)."""
    source = source or socket.gethostname()
    problems: list[NetdebugError] = []
    resolved = {t: resolve(t) for t in targets}
    addrs = sorted({a for a, _ in resolved.values() if a})
    results: dict[tuple[str, str, int], dict[str, Any]] = {}
    for proto in ("tcp", "udp"):
        pp = [p for p in ports if p.proto == proto]
        if not pp or not addrs:
            continue
        if use_nmap and proto == "udp" and os.geteuid() != 0:
            problems.append(ToolPermissionError("nmap", "NET_RAW", "a UDP scan needs raw sockets"))
        elif use_nmap:
            try:
                done = tools.run(
                    nmap_argv(addrs, [p.port for p in pp], udp=proto == "udp", timeout_s=timeout_s),
                    timeout=60 + timeout_s * len(pp) * len(addrs),
                )
                for r in parse_nmap(done.stdout):
                    results[(r["address"], r["proto"], r["port"])] = {**r, "method": "nmap", "rtt_ms": None}
            except NetdebugError as exc:
                problems.append(exc)
        # whatever nmap did not answer for (not installed, not root for UDP, host skipped)
        jobs = [(a, p) for a in addrs for p in pp if (a, p.proto, p.port) not in results]
        if not jobs:
            continue
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(32, len(jobs))) as pool:
            for r in pool.map(lambda job: connect_probe(job[0], job[1], timeout_s=timeout_s), jobs):
                results[(r["address"], r["proto"], r["port"])] = {**r, "method": "connect"}
    rows = []
    for t in targets:
        addr, err = resolved[t]
        for p in ports:
            base = {"source": source, "target": t, "address": addr, "proto": p.proto, "port": p.port}
            if err:
                rows.append({**base, "state": "error", "reason": err, "method": "", "rtt_ms": None})
                continue
            got = results.get((addr, p.proto, p.port))
            if got is None:
                rows.append(
                    {
                        **base,
                        "state": "error",
                        "reason": "not probed (tool failed)",
                        "method": "",
                        "rtt_ms": None,
                    }
                )
            else:
                rows.append({**base, **{k: got[k] for k in ("state", "reason", "method", "rtt_ms")}})
    return schema.frame(rows, REACH_SCHEMA), problems


def empty() -> pd.DataFrame:
    """The reachability table with no rows (nothing probed)."""
    return schema.empty(REACH_SCHEMA)


UNREACHABLE = "unreachable"
"""State of a port whose target (or its gateway) never answered ARP / ND: nothing was filtered."""


def matrix(reach: pd.DataFrame) -> pd.DataFrame:
    """source × destination:port/proto → state."""
    import pandas as pd

    if reach.empty:
        return pd.DataFrame()
    col = reach["target"] + ":" + reach["port"].astype("string") + "/" + reach["proto"]
    shown = reach["state"].where(reach["state"] != UNREACHABLE, "unreachable (no ARP/ND reply)")
    return reach.assign(destination=col, state=shown).pivot_table(
        index="source", columns="destination", values="state", aggfunc="first", sort=False
    )
