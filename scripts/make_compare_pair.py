#!/usr/bin/env python3
"""Record netdebug_nb/data/compare/{client,server}.pcap: one conversation captured at two points, through NAT.

Run as root from the repository root::

    .venv/bin/python scripts/make_compare_pair.py [OUT_DIR]

Topology (tests/lab.py ``routed``, one server): client 198.18.1.2 ── router ── server1 198.18.2.10.
The router plays kube-proxy: a "ClusterIP" 198.18.3.100:80 is DNATed to the server's
198.18.2.10:8080 and the client's address is SNATed (MASQUERADE) to the router's 198.18.2.1. A
FORWARD rule drops a share of the data packets the client sends (``-m statistic --mode random``),
so packets disappear between the two capture points. tcpdump runs at the client, at the server and on the
router (``-i any``: each forwarded packet twice). Traffic: numbered UDP datagrams echoed by the
server, and TCP connections that send data and read the echo.

:func:`record` is used by tests/pcap/test_compare_lab.py with its own sizes and drop rate.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lab import Lab, routed  # noqa: E402

CLUSTER_IP = "198.18.3.100"
SERVER = "198.18.2.10"

ECHO_SERVER = """
import socket, threading
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 8080))
def udp():
    while True:
        data, peer = u.recvfrom(4096); u.sendto(data, peer)
def handle(c):
    with c:
        while data := c.recv(65536):
            c.sendall(data)
threading.Thread(target=udp, daemon=True).start()
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind(("0.0.0.0", 8080)); t.listen()
print("ready", flush=True)
while True:
    c, _ = t.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
"""

CLIENT = """
import socket, sys, time
ip, datagrams, conns, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.05)
for i in range(datagrams):
    u.sendto(f"datagram {i:06d} ".encode() * 8, (ip, 80))
    try:
        u.recvfrom(4096)
    except OSError:
        pass
    time.sleep(0.002)
for k in range(conns):
    s = socket.create_connection((ip, 80), timeout=30)
    data = bytes((k + i) % 251 for i in range(chunk))
    s.sendall(data)
    got = 0
    while got < len(data):
        part = s.recv(65536)
        if not part:
            break
        got += len(part)
    s.close()
"""


def settle(files: list[Path], *, quiet_s: float = 1.5, limit_s: float = 30.0) -> None:
    """Wait until no capture file grows any more.

    tcpdump writes each packet as it reads it (``-U``); on a busy machine it lags behind the
    traffic, and SIGINT drops what it has not read yet.
    """
    sizes: list[int] = []
    stable_since = time.monotonic()
    deadline = stable_since + limit_s
    while time.monotonic() < deadline:
        now = [f.stat().st_size if f.exists() else -1 for f in files]
        if now != sizes:
            sizes, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= quiet_s:
            return
        time.sleep(0.1)


@dataclass
class Recorded:
    client: Path
    server: Path
    router: Path
    dropped: int  # packets the FORWARD statistic rule dropped (its counter)


def record(
    lab: Lab,
    out: Path,
    *,
    datagrams: int = 200,
    connections: int = 3,
    chunk: int = 20000,
    drop: float = 0.05,
    snaplen: int = 256,
) -> Recorded:
    hosts = routed(lab, servers=("server1",))
    client, router, server = hosts["client"], hosts["router"], hosts["server1"]
    lab.route(client, "198.18.3.0/24", "198.18.1.1")
    router.iptables("-t", "nat", "-A", "PREROUTING", "-d", CLUSTER_IP, "-p", "tcp", "--dport", "80",
                    "-j", "DNAT", "--to-destination", f"{SERVER}:8080")  # fmt: skip
    router.iptables("-t", "nat", "-A", "PREROUTING", "-d", CLUSTER_IP, "-p", "udp", "--dport", "80",
                    "-j", "DNAT", "--to-destination", f"{SERVER}:8080")  # fmt: skip
    router.iptables("-t", "nat", "-A", "POSTROUTING", "-d", SERVER, "-j", "MASQUERADE")
    # only packets that carry data (UDP datagrams, TCP segments): every one the rule drops is
    # sent again or given up before the client program ends, while the handshakes and the
    # teardown pass, so nothing is retransmitted after the captures stop (the rule's counter
    # and the captures then describe the same packets)
    router.iptables("-A", "FORWARD", "-s", "198.18.1.2", "-m", "length", "--length", "100:65535",
                    "-m", "statistic", "--mode", "random", "--probability", str(drop), "-j", "DROP")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    srv = server.spawn("python3", "-c", ECHO_SERVER)
    paths = {"client": out / "client.pcap", "server": out / "server.pcap", "router": out / "router.pcap"}
    dumps = []
    for name, host, iface in (
        ("client", client, "any"),
        ("server", server, "any"),
        ("router", router, "any"),
    ):
        p = host.spawn("tcpdump", "-i", iface, "-U", "-n", "-s", str(snaplen), "-w", str(paths[name]),
                       "not arp and not ip6")  # fmt: skip
        dumps.append(p)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(
        p.exists() and p.stat().st_size > 0 for p in paths.values()
    ):
        time.sleep(0.05)
    time.sleep(0.5)
    for _ in range(50):  # the echo server listens
        if server.run("ss", "-ltn", "sport = :8080", check=False).stdout.count("LISTEN"):
            break
        time.sleep(0.1)
    client.run("python3", "-c", CLIENT, CLUSTER_IP, str(datagrams), str(connections), str(chunk), timeout=120)
    settle(list(paths.values()))
    import signal

    for p in dumps:
        p.send_signal(signal.SIGINT)
    for p in dumps:
        p.wait(timeout=10)
    srv.terminate()
    rules = router.run("iptables", "-w", "-L", "FORWARD", "-v", "-x", "-n").stdout
    dropped = int(next(ln.split()[0] for ln in rules.splitlines() if "DROP" in ln and "statistic" in ln))
    return Recorded(paths["client"], paths["server"], paths["router"], dropped)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "netdebug_nb" / "data" / "compare"
    with Lab("cmp") as lab:
        rec = record(lab, out)
    rec.router.unlink()  # the demo pair is client and server
    print(
        f"{rec.client} {rec.client.stat().st_size} B, {rec.server} {rec.server.stat().st_size} B, dropped {rec.dropped}"
    )


if __name__ == "__main__":
    main()
