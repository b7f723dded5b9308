"""Benchmark: the packet-table analysis (flows, TCP health, conversations, IO graph, DNS) against tshark.

Uses bench/pcap_read.py's generator for a mixed 1,000,000-packet capture (TCP flows with 3 %
retransmissions, DNS, ICMP, IPv6, VLAN) in a temporary directory. Times each analysis stage on
the whole table, then runs tshark's TCP analysis and conversation table on the first
``--peer-packets`` packets (extrapolated, as tshark is much slower) and compares the
retransmission counts on that same prefix.

    .venv/bin/python bench/pcap_analysis.py [--packets 1000000] [--peer-packets 100000]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pcap_read import generate

from netdebug_nb.pcap import conversations, dns, flows, iograph, reader, summary, tcp


def stage(name: str, fn, *args, **kw):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn(*args, **kw)
    dt = time.perf_counter() - t
    print(f"  {name:<28} {dt:7.2f} s")
    return out, dt


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--peer-packets", type=int, default=100_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ndbench-"))
    try:
        path = tmp / "big.pcap"
        size = generate(path, args.packets)
        print(f"capture: {args.packets} packets, {size / 1e6:.0f} MB")
        packets, _ = stage("reader.read", reader.read, path)
        total = 0.0
        labels, dt = stage("flows.label", flows.label, packets)
        total += dt
        analysis, dt = stage("tcp.analyze", tcp.analyze, packets, labels)
        total += dt
        _, dt = stage("conversations.summarize", conversations.summarize, packets, labels)
        total += dt
        _, dt = stage("iograph.bins", iograph.bins, packets, labels)
        total += dt
        _, dt = stage(
            "summary (overview/talkers)", lambda: (summary.overview(packets), summary.talkers(packets))
        )
        total += dt
        msgs, dt = stage("dns.read (re-reads payloads)", dns.read, path, packets)
        total += dt
        tx, dt = stage("dns.transactions", dns.transactions, msgs)
        total += dt
        _, dt = stage("dns.retries + expansions", lambda: (dns.retries(tx), dns.expansions(tx)))
        total += dt
        print(f"  {'analysis total':<28} {total:7.2f} s  ({len(packets) / total:,.0f} packets/s)")
        print(
            f"  tcp flows: {len(analysis.health)}, retransmissions: {int(analysis.health['retransmissions'].sum())}"
        )

        m = min(args.peer_packets, args.packets)
        head = reader.read(path, max_packets=m)
        ours = int(tcp.analyze(head).health["retransmissions"].sum())
        if shutil.which("tshark"):
            t = time.perf_counter()
            flagged = subprocess.run(
                ["tshark", "-r", str(path), "-c", str(m), "-n", "-Y",
                 "tcp.analysis.retransmission or tcp.analysis.fast_retransmission or tcp.analysis.out_of_order",
                 "-T", "fields", "-e", "frame.number"],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            subprocess.run(
                ["tshark", "-r", str(path), "-c", str(m), "-n", "-q", "-z", "conv,tcp"],
                capture_output=True,
                check=True,
            )
            t_peer = (time.perf_counter() - t) * args.packets / m
            print(f"tshark (tcp analysis + conv,tcp), extrapolated from {m} packets: {t_peer:.1f} s")
            print(f"ratio tshark / netdebug analysis: {t_peer / total:.1f}x")
            print(
                f"retransmissions in the first {m} packets: netdebug {ours}, tshark {len(flagged)} (incl. out-of-order)"
            )
        else:
            print("tshark not installed: no peer")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
