"""The connect probes against real sockets on 127.0.0.1 (listening, closed, UDP echo, UDP closed)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from ndtestkit import closed_port, listening_port

from netdebug_nb import schema
from netdebug_nb.path import connect


@pytest.fixture
def tcp_listener() -> Iterator[int]:
    with listening_port() as port:
        yield port


@pytest.fixture
def udp_echo() -> Iterator[int]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = s.recvfrom(2048)
            except TimeoutError:
                continue
            s.sendto(data, peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        yield s.getsockname()[1]
    finally:
        stop.set()
        t.join(2)
        s.close()


def test_tcp_connected_and_refused(tcp_listener: int) -> None:
    outcome, err, ms = connect.once("127.0.0.1", tcp_listener)
    assert (outcome, err) == ("connected", "") and ms >= 0
    outcome, err, _ = connect.once("127.0.0.1", closed_port())
    assert outcome == "refused" and "refused" in err.lower()


def test_udp_answer_refused_and_silence(udp_echo: int) -> None:
    assert connect.once("127.0.0.1", udp_echo, "UDP")[0] == "connected"
    assert connect.once("127.0.0.1", closed_port(socket.SOCK_DGRAM), "UDP")[0] == "refused"
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        outcome, _, ms = connect.once("127.0.0.1", silent.getsockname()[1], "UDP", timeout_s=0.3)
    finally:
        silent.close()
    assert outcome == "no answer" and ms >= 250


def test_probe_table_has_every_try(tcp_listener: int) -> None:
    targets = [
        connect.Target("clusterip", "svc", "127.0.0.1", tcp_listener),
        connect.Target("endpoint", "ns/pod", "127.0.0.1", closed_port()),
    ]
    df = connect.probe(targets, tries=2, timeout_s=1)
    schema.check(df, connect.PROBE_SCHEMA)
    assert len(df) == 4
    assert list(df[df["role"] == "clusterip"]["outcome"]) == ["connected", "connected"]
    assert list(df[df["role"] == "endpoint"]["outcome"]) == ["refused", "refused"]
    schema.check(connect.probe([]), connect.PROBE_SCHEMA)
