"""Benchmark: netdebug's pcap reader against scapy, dpkt, tshark→pandas and capinfos on one big file.

Generates a mixed 1,000,000-packet capture (~500 MB: IPv4 TCP flows with retransmissions, DNS over
UDP, ICMP, IPv6, 802.1Q VLAN) in a temporary directory (never the repo), then runs every reader in
its own subprocess and prints packets/s and peak RSS (from wait4 of that subprocess) side by side.
The slow peers run on the first packets only and are extrapolated; the output says so.

    .venv/bin/python bench/pcap_read.py [--packets 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
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


def generate(path: Path, packets: int, seed: int = 1, start: float = 1_700_000_000.0) -> int:
    """Write a mixed Ethernet capture whose first packet is just after ``start``; returns its size in bytes."""
    rnd = random.Random(seed)
    payload = bytes(range(256)) * 8
    ts = start
    flows = [
        (
            bytes([10, 0, rnd.randrange(256), rnd.randrange(1, 255)]),
            bytes([10, 1, rnd.randrange(256), rnd.randrange(1, 255)]),
            rnd.randrange(1024, 65535),
            rnd.choice((80, 443, 8080)),
            rnd.randrange(1 << 32),
        )
        for _ in range(500)
    ]
    seqs = [f[4] for f in flows]
    v6 = [(os.urandom(16), os.urandom(16)) for _ in range(50)]
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"
    rec = struct.Struct("<IIII")
    with path.open("wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        out: list[bytes] = []
        for i in range(packets):
            ts += rnd.expovariate(10000)
            kind = rnd.random()
            vlan = rnd.random() < 0.05
            if kind < 0.72:  # TCP data/ack, 3% retransmitted
                k = rnd.randrange(len(flows))
                s, d, sp, dp, _ = flows[k]
                n = rnd.choice((0, 0, 0, 536, 1000, 1448))
                if rnd.random() < 0.03:
                    seq = (seqs[k] - n) & 0xFFFFFFFF
                else:
                    seq = seqs[k]
                    seqs[k] = (seqs[k] + n) & 0xFFFFFFFF
                l4 = struct.pack(">HHIIBBHHH", sp, dp, seq, 12345, 0x50, 0x18 if n else 0x10, 501, 0, 0)
                pkt = _ip4(s, d, 6, l4 + payload[:n])
            elif kind < 0.84:  # DNS query or response
                q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
                body = q + (payload[:40] if rnd.random() < 0.5 else b"")
                l4 = struct.pack(">HHHH", rnd.randrange(1024, 65535), 53, 8 + len(body), 0) + body
                pkt = _ip4(b"\x0a\x00\x00\x05", b"\x0a\x00\x00\x35", 17, l4)
            elif kind < 0.88:  # ICMP echo
                l4 = struct.pack(">BBHHH", 8, 0, 0, 1, i & 0xFFFF) + payload[:56]
                pkt = _ip4(b"\x0a\x00\x00\x07", b"\x0a\x00\x00\x08", 1, l4)
            else:  # IPv6 TCP
                s6, d6 = v6[rnd.randrange(len(v6))]
                n = rnd.choice((0, 1200))
                l4 = struct.pack(">HHIIBBHHH", 40000, 443, i, 1, 0x50, 0x10, 501, 0, 0) + payload[:n]
                pkt = struct.pack(">IHBB", 0x60000000, len(l4), 6, 64) + s6 + d6 + l4
                pkt = b"\x86\xdd" + pkt
                out.append(_record(rec, ts, eth, pkt, vlan))
                continue
            out.append(_record(rec, ts, eth, b"\x08\x00" + pkt, vlan))
            if len(out) >= 10000:
                f.write(b"".join(out))
                out.clear()
        f.write(b"".join(out))
    return path.stat().st_size


def _ip4(s: bytes, d: bytes, proto: int, l4: bytes) -> bytes:
    return struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, proto, 0) + s + d + l4


def _record(rec: struct.Struct, ts: float, eth: bytes, pkt: bytes, vlan: bool) -> bytes:
    frame = eth + (b"\x81\x00\x00\x64" if vlan else b"") + pkt
    sec = int(ts)
    return rec.pack(sec, int((ts - sec) * 1e6), len(frame), len(frame)) + frame


OURS = """
import sys
from netdebug_nb.pcap.reader import read
df = read(sys.argv[1])
print(len(df))
"""

# read() timed inside a process that already has pandas (a script that imported it first, or a
# notebook); workers=1 is what a Jupyter kernel gets (its threads rule out forking)
OURS_CALL = """
import sys, time
import pandas
from netdebug_nb.pcap.reader import read
workers = int(sys.argv[2]) if sys.argv[2] != "auto" else None
t = time.perf_counter()
df = read(sys.argv[1], workers=workers)
print(len(df), time.perf_counter() - t)
"""

FLOOR = """
from netdebug_nb.pcap.reader import read
import pandas
print("ok")
"""

SCAPY = """
import sys, time
from scapy.utils import PcapReader
limit = int(sys.argv[2]); n = 0
t = time.perf_counter()
for p in PcapReader(sys.argv[1]):
    n += 1
    if n >= limit:
        break
print(n, time.perf_counter() - t, "first", limit, "packets, extrapolated")
"""

DPKT = """
import sys, time, dpkt
limit = int(sys.argv[2]); n = 0; rows = []
t = time.perf_counter()
with open(sys.argv[1], "rb") as f:
    for ts, buf in dpkt.pcap.Reader(f):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            l4 = ip.data
            rows.append((ts, len(buf), ip.src, ip.dst, getattr(l4, "sport", None), getattr(l4, "dport", None)))
        n += 1
        if n >= limit:
            break
print(n, time.perf_counter() - t, "first", limit, "packets (Ethernet/IP/ports per packet), extrapolated")
"""

TSHARK = """
import sys, time, subprocess, pandas as pd, resource
limit = int(sys.argv[2])
t = time.perf_counter()
fields = ["frame.number", "frame.time_epoch", "frame.cap_len", "frame.len", "ip.src", "ip.dst",
          "ip.proto", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "tcp.flags", "tcp.seq_raw"]
argv = ["tshark", "-n", "-r", sys.argv[1], "-c", str(limit), "-T", "fields"] + [a for f in fields for a in ("-e", f)]
p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
df = pd.read_csv(p.stdout, sep="\\t", header=None, names=fields)
p.wait()
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(len(df), time.perf_counter() - t, "first", limit, "packets, extrapolated; tshark RSS", child // 1024, "MB")
"""


def measure(argv: list[str]) -> tuple[float, float, int, str]:
    """Wall time, CPU time (user+sys), peak RSS (bytes) and last stdout line of one subprocess."""
    t = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t
    cpu = usage.ru_utime + usage.ru_stime
    if p.returncode != 0:
        return wall, cpu, usage.ru_maxrss * 1024, f"FAILED (exit {p.returncode})"
    return wall, cpu, usage.ru_maxrss * 1024, out.strip().splitlines()[-1] if out.strip() else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--keep", help="directory to keep/reuse the generated capture in")
    ap.add_argument("--repeat", type=int, default=5, help="runs of our whole-process read (median shown)")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pcapbench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / f"mixed-{args.packets}.pcap"
    try:
        if not path.exists():
            t = time.perf_counter()
            size = generate(path, args.packets)
            print(
                f"generated {path} ({size / 1e6:.0f} MB, {args.packets} packets) in {time.perf_counter() - t:.1f} s"
            )
        else:
            print(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB)")
        n = args.packets
        with path.open("rb") as f:  # every reader starts from a warm page cache
            while f.read(1 << 24):
                pass
        # our package with its bytecode compiled, as pip leaves an installed package (an editable
        # install under PYTHONDONTWRITEBYTECODE=1 would compile it again in every run)
        subprocess.run(
            [PY, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[1] / "netdebug_nb")],
            check=True,
        )
        # (name, packets/s by wall clock, packets/s by CPU time, seconds for all packets, RSS, note)
        rows: list[tuple[str, float, float, float, int, str]] = []

        runs = sorted((measure([PY, "-c", OURS, str(path)]) for _ in range(args.repeat)), key=lambda r: r[0])
        wall, cpu, rss, line = runs[len(runs) // 2]
        assert int(line.split()[0]) == n, line
        rows.append(
            (
                "netdebug read(), whole process",
                n / wall,
                n / cpu,
                wall,
                rss,
                f"python start + imports + read() + exit; median of {len(runs)} runs "
                f"({', '.join(f'{r[0]:.2f}' for r in runs)} s); peak RSS of all its processes",
            )
        )
        for workers, label in (("auto", "default"), ("1", "workers=1, as in a kernel")):
            wall, cpu, rss, line = measure([PY, "-c", OURS_CALL, str(path), workers])
            got, inproc = int(line.split()[0]), float(line.split()[1])
            assert got == n, line
            rows.append(
                (f"netdebug read() call, {label}", n / inproc, 0.0, inproc, rss, "pandas already imported")
            )
        wall, cpu, rss, line = measure([PY, "-c", FLOOR])
        rows.append(
            (
                "floor: python start + imports",
                n / wall,
                n / cpu,
                wall,
                rss,
                "no read(): the whole-process rate if read() took no time",
            )
        )
        for name, script, limit in (("scapy PcapReader loop", SCAPY, 20000), ("dpkt loop", DPKT, 50000)):
            wall, cpu, rss, line = measure([PY, "-c", script, str(path), str(limit)])
            cnt, secs = int(line.split()[0]), float(line.split()[1])
            rows.append((name, cnt / secs, 0.0, secs * n / cnt, rss, " ".join(line.split()[2:])))
        if shutil.which("tshark"):
            limit = 50000
            wall, cpu, rss, line = measure([PY, "-c", TSHARK, str(path), str(limit)])
            cnt, secs = int(line.split()[0]), float(line.split()[1])
            rows.append(
                (
                    "tshark -T fields | read_csv",
                    cnt / secs,
                    0.0,
                    secs * n / cnt,
                    rss,
                    " ".join(line.split()[2:]),
                )
            )
        if shutil.which("capinfos"):
            wall, cpu, rss, line = measure(["capinfos", "-c", str(path)])
            rows.append(("capinfos -c (count only)", n / wall, n / cpu, wall, rss, "whole file"))
        ours = rows[0][1]
        print(
            f"\n{'reader':32} {'pkts/s wall':>12} {'pkts/s CPU':>11} {'time(all)':>9} {'peak RSS':>8} {'ours x':>7}  note"
        )
        for name, pps, cpu_pps, secs, rss_b, note in rows:
            cpu_txt = f"{cpu_pps:11,.0f}" if cpu_pps else f"{'':>11}"
            print(
                f"{name:32} {pps:12,.0f} {cpu_txt} {secs:8.2f}s {rss_b / 2**20:6.0f}MB {ours / pps:7.2f}  {note}"
            )
        print(
            "\n'time(all)' of peers measured on a prefix is extrapolated linearly to all packets."
            "\n'ours x' = our whole-process packets/s divided by that row's (>1: we are faster)."
            "\nCPU-time rates (whole process, user+sys) are shown where the box is shared and wall time is noisy."
        )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
