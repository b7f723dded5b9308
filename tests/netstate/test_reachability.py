from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from netdebug_nb import schema, tools
from netdebug_nb.errors import ParameterTypeError, ParseError
from netdebug_nb.netstate import reachability
from netdebug_nb.netstate.reachability import Port


def test_parse_nmap_tcp_and_udp(fixtures: Path) -> None:
    tcp = {
        r["port"]: (r["state"], r["reason"])
        for r in reachability.parse_nmap((fixtures / "netstate/nmap-tcp.xml").read_text())
    }
    assert tcp == {
        5201: ("open", "SYN-ACK (accepted)"),
        9000: ("closed", "RST (connection refused)"),
        9001: ("filtered", "no answer"),
    }
    udp = {
        r["port"]: (r["state"], r["reason"])
        for r in reachability.parse_nmap((fixtures / "netstate/nmap-udp.xml").read_text())
    }
    assert udp == {
        5353: ("open", "UDP reply"),
        9000: ("closed", "ICMP port unreachable"),
        9002: ("open|filtered", "no answer"),
        9003: ("filtered", "ICMP administratively prohibited (REJECT)"),
    }


def test_parse_nmap_garbage() -> None:
    with pytest.raises(ParseError) as exc:
        reachability.parse_nmap("<nmaprun>\n<host>\n", "nmap")
    assert exc.value.line is not None


def test_parse_ports() -> None:
    assert reachability.parse_ports([80, "tcp/443", "udp/53", "53/udp", "80"]) == [
        Port("tcp", 80), Port("tcp", 443), Port("udp", 53)
    ]  # fmt: skip
    with pytest.raises(ParameterTypeError, match="'ports'"):
        reachability.parse_ports(["http"])
    with pytest.raises(ParameterTypeError):
        reachability.parse_ports(["sctp/9"])


@pytest.fixture
def servers() -> Iterator[tuple[int, int, int]]:
    """A TCP listener, a UDP echo socket, and a port with nothing on it, all on 127.0.0.1."""
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(5)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    free_port = free.getsockname()[1]
    free.close()

    def echo() -> None:
        try:
            data, addr = udp.recvfrom(100)
            udp.sendto(data, addr)
        except OSError:
            pass

    t = threading.Thread(target=echo, daemon=True)
    t.start()
    yield tcp.getsockname()[1], udp.getsockname()[1], free_port
    tcp.close()
    udp.close()


def test_connect_probe_classes(servers: tuple[int, int, int]) -> None:
    tcp_port, udp_port, free = servers
    assert reachability.connect_probe("127.0.0.1", Port("tcp", tcp_port), timeout_s=2)["state"] == "open"
    closed = reachability.connect_probe("127.0.0.1", Port("tcp", free), timeout_s=2)
    assert (closed["state"], closed["reason"]) == ("closed", "RST (connection refused)")
    uclosed = reachability.connect_probe("127.0.0.1", Port("udp", free), timeout_s=2)
    assert (uclosed["state"], uclosed["reason"]) == ("closed", "ICMP port unreachable")
    uopen = reachability.connect_probe("127.0.0.1", Port("udp", udp_port), timeout_s=2)
    assert (uopen["state"], uopen["reason"]) == ("open", "UDP reply")


@pytest.mark.parametrize("use_nmap", [False, True])
def test_probe_table_and_matrix(servers: tuple[int, int, int], use_nmap: bool) -> None:
    if use_nmap and not tools.available("nmap"):
        pytest.skip("nmap not installed")
    tcp_port, _, free = servers
    df, problems = reachability.probe(
        ["127.0.0.1", "no-such-host.invalid"],
        [Port("tcp", tcp_port), Port("tcp", free)],
        timeout_s=1,
        use_nmap=use_nmap,
        source="me",
    )
    schema.check(df, reachability.REACH_SCHEMA)
    assert problems == []
    states = {(r.target, r.port): r.state for r in df.itertuples(index=False)}
    assert states[("127.0.0.1", tcp_port)] == "open" and states[("127.0.0.1", free)] == "closed"
    assert states[("no-such-host.invalid", free)] == "error"
    assert set(df[df["target"] == "127.0.0.1"]["method"]) == {"nmap" if use_nmap else "connect"}
    m = reachability.matrix(df)
    assert list(m.index) == ["me"] and m.loc["me", f"127.0.0.1:{tcp_port}/tcp"] == "open"
