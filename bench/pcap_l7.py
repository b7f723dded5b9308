"""Benchmark: what the application-layer cells (HTTP, HTTP/2, TLS) add to pcap_analysis on a big capture.

Generates a 1,000,000-packet capture in which about 10 % of the packets belong to HTTP/1.1
keep-alive connections and TLS handshakes and the rest is other TCP (binary payloads), DNS and
ICMP, then, in one subprocess each:

- ours: read + flow labels + TCP analysis (what the notebook has before the L7 cells), then the L7
  cells' work timed on its own: ``application.read`` (sniff, payload scan, reassembly, parsing),
  ``servers`` and ``findings``;
- tshark's HTTP request/response statistics over the same file (``-q -z http,tree``), the peer a
  person would use for the same question.

    .venv/bin/python bench/pcap_l7.py [--packets 1000000] [--keep DIR] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
ETH = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
REC = struct.Struct("<IIII")


def _ip4(s: bytes, d: bytes, l4: bytes) -> bytes:
    return struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, 6, 0) + s + d + l4


def _tcp(sp: int, dp: int, seq: int, ack: int, flags: int, data: bytes = b"") -> bytes:
    return (
        struct.pack(">HHIIBBHHH", sp, dp, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 0x50, flags, 501, 0, 0) + data
    )


def _hello(sni: bytes) -> bytes:
    """A minimal TLS 1.2 ClientHello record with an SNI extension."""
    name = struct.pack(">BH", 0, len(sni)) + sni
    ext = struct.pack(">HH", 0, len(name) + 2) + struct.pack(">H", len(name)) + name
    body = (
        b"\x03\x03"
        + bytes(32)
        + b"\x00"
        + b"\x00\x02\xc0\x2f"
        + b"\x01\x00"
        + struct.pack(">H", len(ext))
        + ext
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def _server_hello() -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\xc0\x2f" + b"\x00"
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs


def generate(path: Path, packets: int, seed: int = 7) -> dict[str, int]:
    """Write the capture; returns how many packets went to each kind."""
    rnd = random.Random(seed)
    ts = 1_700_000_000.0
    counts = {"http": 0, "tls": 0, "other": 0}
    out: list[bytes] = []
    blob = bytes([0]) + bytes(range(1, 256)) * 6
    bulk = [(rnd.randrange(1 << 32), rnd.randrange(1024, 65535)) for _ in range(300)]

    def emit(pkt: bytes) -> None:
        nonlocal ts
        ts += rnd.expovariate(20000)
        frame = ETH + pkt
        sec = int(ts)
        out.append(REC.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame)

    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        n = 0
        conn = 0
        while n < packets:
            r = rnd.random()
            if r < 0.0068:  # an HTTP/1.1 keep-alive connection with 3 requests: 3 + 3*4 packets
                conn += 1
                c, s = bytes([10, 0, conn >> 8 & 255, conn & 255]), bytes([10, 9, 0, conn % 7 + 1])
                cp, cs, ss = 20000 + conn % 40000, rnd.randrange(1 << 32), rnd.randrange(1 << 32)
                emit(_ip4(c, s, _tcp(cp, 80, cs, 0, 0x02)))
                emit(_ip4(s, c, _tcp(80, cp, ss, cs + 1, 0x12)))
                emit(_ip4(c, s, _tcp(cp, 80, cs + 1, ss + 1, 0x10)))
                cs, ss = cs + 1, ss + 1
                for k in range(3):
                    req = f"GET /api/{k} HTTP/1.1\r\nHost: api.example\r\n\r\n".encode()
                    status = 503 if rnd.random() < 0.02 else 200
                    body = b"x" * 300
                    resp = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
                    emit(_ip4(c, s, _tcp(cp, 80, cs, ss, 0x18, req)))
                    emit(_ip4(s, c, _tcp(80, cp, ss, cs + len(req), 0x10)))
                    emit(_ip4(s, c, _tcp(80, cp, ss, cs + len(req), 0x18, resp)))
                    emit(_ip4(c, s, _tcp(cp, 80, cs + len(req), ss + len(resp), 0x10)))
                    cs, ss = cs + len(req), ss + len(resp)
                n += 15
                counts["http"] += 15
            elif r < 0.0093:  # a TLS handshake: SYN, SYN/ACK, ACK, ClientHello, ServerHello
                conn += 1
                c, s = bytes([10, 1, conn >> 8 & 255, conn & 255]), bytes([10, 9, 1, conn % 5 + 1])
                cp, cs, ss = 20000 + conn % 40000, rnd.randrange(1 << 32), rnd.randrange(1 << 32)
                ch, sh = _hello(b"svc.example"), _server_hello()
                emit(_ip4(c, s, _tcp(cp, 443, cs, 0, 0x02)))
                emit(_ip4(s, c, _tcp(443, cp, ss, cs + 1, 0x12)))
                emit(_ip4(c, s, _tcp(cp, 443, cs + 1, ss + 1, 0x10)))
                emit(_ip4(c, s, _tcp(cp, 443, cs + 1, ss + 1, 0x18, ch)))
                emit(_ip4(s, c, _tcp(443, cp, ss + 1, cs + 1 + len(ch), 0x18, sh)))
                n += 5
                counts["tls"] += 5
            else:  # other TCP: a binary protocol on a non-L7 port
                k = rnd.randrange(len(bulk))
                seq, cp = bulk[k]
                size = rnd.choice((0, 200, 1000, 1448))
                emit(
                    _ip4(b"\x0a\x05\x00\x01", b"\x0a\x05\x00\x02", _tcp(cp, 5432, seq, 1, 0x18, blob[:size]))
                )
                bulk[k] = ((seq + size) & 0xFFFFFFFF, cp)
                n += 1
                counts["other"] += 1
            if len(out) >= 10000:
                f.write(b"".join(out))
                out.clear()
        f.write(b"".join(out))
    return counts


OURS = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from netdebug_nb.pcap import application, flows, reader, tcp
pk = reader.read(sys.argv[1]); lb = flows.label(pk); health = tcp.analyze(pk, lb).health
t1, c1 = time.perf_counter(), time.process_time()
app = application.read(sys.argv[1], pk, lb, health)
srv = application.servers(app, health)
found = application.findings(app, srv)
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps({"before_s": t1 - t0, "l7_s": t2 - t1, "before_cpu_s": c1 - c0, "l7_cpu_s": c2 - c1, "packets": len(pk), "flows_read": app.flows_read,
                  "http": len(app.http), "tls": len(app.tls), "findings": [f.id for f in found]}))
"""


def run(argv: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS MB of that process, stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    out = p.stdout.read()
    _, _status, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    return time.perf_counter() - t0, ru.ru_maxrss // 1024, out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--keep", help="directory to keep/reuse the generated capture in")
    ap.add_argument("--no-peers", action="store_true", help="skip tshark (about 8 minutes on 1M packets)")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nd-l7-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    cap = tmp / f"l7-{args.packets}.pcap"
    try:
        if not cap.exists():
            counts = generate(cap, args.packets)
            print(f"generated {cap} ({cap.stat().st_size / 1e6:.0f} MB): {counts}")
        wall, rss, out = run([PY, "-c", OURS, str(cap)])
        ours = json.loads(out)
        print(
            f"ours: {ours['packets']:,} packets; read+flows+tcp {ours['before_s']:.2f} s; L7 cells "
            f"{ours['l7_s']:.2f} s wall, {ours['l7_cpu_s']:.2f} s CPU (before them: {ours['before_cpu_s']:.2f} s CPU) ({ours['flows_read']:,} connections read: {ours['http']:,} HTTP exchanges, "
            f"{ours['tls']:,} TLS handshakes); whole process {wall:.2f} s, peak RSS {rss} MB"
        )
        print(f"  findings: {ours['findings']}")
        print(f"  load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        if shutil.which("tshark") and not args.no_peers:
            t_wall, t_rss, _ = run(["tshark", "-r", str(cap), "-q", "-z", "http,tree"])
            print(f"tshark -q -z http,tree: {t_wall:.2f} s whole process, peak RSS {t_rss} MB")
            print(
                f"ratio: our L7 cells / tshark http,tree = {ours['l7_s'] / t_wall:.3f}; "
                f"our whole analysis incl. L7 / tshark = {(ours['before_s'] + ours['l7_s']) / t_wall:.3f}"
            )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
