#!/usr/bin/env python3
"""Record netdebug_nb/data/pcap/sample.pcap: real traffic with real tcpdump in a namespace lab.

Run as root from the repository root::

    .venv/bin/python scripts/make_sample_pcap.py [OUT.pcap]

Topology (tests/lab.py ``routed``): client 198.18.1.2 ── router ── server1 198.18.2.10 (HTTP and
two small TCP services), server2 198.18.2.11 (dnsmasq). tcpdump runs in the client namespace,
which drops 5 % of the HTTP packets it receives in iptables INPUT (every 20th for the sample): the capture sees each packet
before the drop, so the server's retransmissions are in the file. What happens, in order:

1. glibc lookups (``getent ahosts``) with a Kubernetes resolv.conf (ndots:5, three search
   suffixes): ``api.example.com`` goes through NXDOMAIN for every suffix first;
2. ``flaky.shop.svc.cluster.local``: the router drops the first AAAA query, so glibc waits for
   its 5 s timeout and asks again (the A/AAAA race pattern);
3. one DNS query over TCP (``dig +tcp``);
4. an HTTP download of 96 KB with 5 % loss on the client's INPUT;
5. a connection the server resets, a connection refused (nothing listening), a SYN that is
   never answered (dropped by the server's firewall), and a receiver that does not read
   (zero window);
6. a UDP datagram to a closed port (ICMP port unreachable) and a 1478-byte ping with DF set
   towards the servers' 1400-byte MTU link (ICMP fragmentation needed from the router).

The same function, :func:`record`, is used by tests/pcap/test_notebook_lab.py with more data.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from lab import Host, Lab, routed  # noqa: E402

RESOLV_CONF = """nameserver 198.18.2.11
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5 timeout:5 attempts:2
"""

RESET_SERVER = """
import socket, struct
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8081)); s.listen()
while True:
    c, _ = s.accept(); c.recv(100)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
"""

FLOOD_SERVER = """
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8082)); s.listen()
while True:
    c, _ = s.accept()
    try:
        c.sendall(b"z" * 40000)
    except OSError:
        pass
    c.close()
"""

SLOW_READER = """
import socket, time
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
c.connect(("198.18.2.10", 8082)); time.sleep(1.5)
while c.recv(65536):
    pass
"""

HTTP_SERVER = """
import http.server, sys
http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.test(HandlerClass=http.server.SimpleHTTPRequestHandler, ServerClass=http.server.ThreadingHTTPServer,
                 port=8080, bind="0.0.0.0")
"""


def record(
    lab: Lab,
    out: Path,
    *,
    download_bytes: int = 96_000,
    drop: float = 0.05,
    drop_every: int = 0,
    dns: bool = True,
) -> Path:
    """Build the scenario in ``lab`` and write the client's capture to ``out``.

    HTTP packets to the client are dropped at random with probability ``drop``, or exactly every
    ``drop_every``-th one when that is set (the bundled sample: reproducible counts).
    """
    hosts = routed(lab, servers=("server1", "server2"), mtu_server_link=1400)
    client, router, server1, server2 = hosts["client"], hosts["router"], hosts["server1"], hosts["server2"]
    www = Path(tempfile.mkdtemp(prefix="ndpcap-"))
    lab.tmp.append(www)
    (www / "blob").write_bytes(bytes(range(256)) * (download_bytes // 256))

    server1.spawn(sys.executable, "-c", f"import os; os.chdir({str(www)!r})\n{HTTP_SERVER}")
    server1.spawn(sys.executable, "-c", RESET_SERVER)
    server1.spawn(sys.executable, "-c", FLOOD_SERVER)
    server2.iptables("-A", "INPUT", "-p", "tcp", "--dport", "81", "-j", "DROP")
    if dns:
        _dns(lab, client, router, server2)
    client.iptables(
        "-A", "INPUT", "-p", "tcp", "--sport", "8080",
        "-m", "statistic",
        *(("--mode", "nth", "--every", str(drop_every), "--packet", "7") if drop_every
          else ("--mode", "random", "--probability", str(drop))),
        "-j", "DROP",
    )  # fmt: skip
    _wait_listening(server1, 8080, 8081, 8082)

    out.parent.mkdir(parents=True, exist_ok=True)
    dump = client.spawn(
        "tcpdump", "-i", "any", "-n", "-U", "-B", "16384", "-Z", "root", "-w", str(out), "not ip6 and not arp",
        stderr=subprocess.PIPE,
    )  # fmt: skip
    _wait_tcpdump(dump)
    try:
        if dns:
            for name in ("api.example.com", "web.shop", "flaky.shop"):
                client.run("getent", "ahosts", name, check=False, timeout=30)
            client.run("dig", "+tcp", "+tries=1", "@198.18.2.11", "web.shop.svc.cluster.local", check=False)
        client.run("curl", "-sS", "-o", "/dev/null", "--max-time", "60", "http://198.18.2.10:8080/blob")
        client.run(sys.executable, "-c", "import socket; s=socket.create_connection(('198.18.2.10',8081)); "
                   "s.send(b'hello'); s.recv(10)", check=False)  # fmt: skip
        client.run("nc", "-z", "-w", "1", "198.18.2.10", "9", check=False)
        client.run("nc", "-z", "-w", "2", "198.18.2.11", "81", check=False)
        client.run(sys.executable, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                   ".sendto(b'ping', ('198.18.2.10', 9999))")  # fmt: skip
        client.run(
            "ping", "-c", "2", "-i", "0.2", "-M", "do", "-s", "1450", "-W", "1", "198.18.2.10", check=False
        )
        client.run(sys.executable, "-c", SLOW_READER, timeout=30)
        time.sleep(0.5)
    finally:
        dump.terminate()
        dump.wait(timeout=10)
    return out


def _dns(lab: Lab, client: Host, router: Host, server2: Host) -> None:
    """dnsmasq on server2, a Kubernetes-like resolv.conf for the client, one AAAA lost on the way."""
    server2.spawn(
        "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--user=root",
        "--listen-address=198.18.2.11", "--bind-interfaces", "--pid-file=",
        "--local=/cluster.local/", "--local=/example.com/",
        "--address=/api.example.com/198.18.2.10",
        "--address=/web.shop.svc.cluster.local/198.18.2.10",
        "--address=/flaky.shop.svc.cluster.local/198.18.2.10",
    )  # fmt: skip
    etc = Path("/etc/netns") / client.ns
    etc.mkdir(parents=True, exist_ok=True)
    lab.tmp.append(etc)
    (etc / "resolv.conf").write_text(RESOLV_CONF)
    # the first AAAA query for flaky.shop... is dropped on the router: the answer never comes
    router.iptables(
        "-A", "FORWARD", "-p", "udp", "--dport", "53", "-m", "string", "--algo", "bm",
        "--hex-string", "|05|flaky|04|shop|03|svc|07|cluster|05|local|00001c|",
        "-m", "statistic", "--mode", "nth", "--every", "1000", "--packet", "0", "-j", "DROP",
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = client.run(
            "dig", "+short", "+tries=1", "+time=1", "@198.18.2.11", "web.shop.svc.cluster.local", check=False
        )
        if r.stdout.strip():
            return
        time.sleep(0.2)
    raise RuntimeError("dnsmasq did not start")


def _wait_listening(host: Host, *ports: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listening = host.run("ss", "-Htln").stdout
        if all(f":{p} " in listening for p in ports):
            return
        time.sleep(0.1)
    raise RuntimeError(f"servers on {ports} did not start")


def _wait_tcpdump(proc: subprocess.Popen[bytes]) -> None:
    """tcpdump prints 'listening on' to stderr once the capture is armed."""
    assert proc.stderr is not None
    seen = []
    for _ in range(5):
        line = proc.stderr.readline().decode(errors="replace")
        seen.append(line.strip())
        if "listening on" in line:
            time.sleep(0.2)
            return
        if not line:
            break
    raise RuntimeError(f"tcpdump did not start: {' / '.join(seen)}")


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else ROOT / "netdebug_nb" / "data" / "pcap" / "sample.pcap"
    with Lab() as lab:
        record(lab, out.resolve(), drop_every=20)
    print(f"{out}: {out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
