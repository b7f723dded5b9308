"""A generated capture of DNS only, with every problem the report looks for, from many clients."""

from __future__ import annotations

import random
import struct
from pathlib import Path

SUFFIXES = ("default.svc.cluster.local", "svc.cluster.local", "cluster.local")
SERVER = bytes([10, 96, 0, 10])


def generate(
    path: Path, lookups: int = 3000, *, clients: int = 300, seed: int = 3
) -> list[tuple[int, bytes, int]]:
    """Write a pcap of ``lookups`` lookups by ``clients`` clients; returns its records.

    Some lookups go through the search list first (NXDOMAIN for each suffixed name), some ask
    A and AAAA together from one port; 5 % of the queries are lost and asked again 5 s later,
    3 % are answered SERVFAIL, 1 % of the lookups send a malformed message; a tenth of the
    lookups start at the same nanosecond as the one before (ties in time).
    """
    import dns.message
    import dns.rcode
    import dns.rrset

    rnd = random.Random(seed)
    recs: list[tuple[int, bytes, int]] = []

    def udp(ts: int, src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> None:
        l4 = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
        ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(l4), 1, 0x4000, 64, 17, 0) + src + dst + l4
        frame = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip
        recs.append((ts, frame, len(frame)))

    t = 1_700_000_000 * 10**9
    qid = 0
    for _ in range(lookups):
        t += 0 if rnd.random() < 0.1 else rnd.randrange(1, 4_000_000)
        n = rnd.randrange(clients)
        client = bytes([10, 0, n // 250, n % 250 + 1])
        port = rnd.randrange(1024, 65535)
        base = f"svc{rnd.randrange(40)}.example"
        names = [f"{base}.{s}." for s in SUFFIXES] if rnd.random() < 0.3 else []
        names.append(f"{base}.")
        qtypes = ("A", "AAAA") if rnd.random() < 0.4 else ("A",)
        at = t
        for name in names:
            for qtype in qtypes:
                qid = (qid + 1) & 0xFFFF
                q = dns.message.make_query(name, qtype)
                q.id = qid
                udp(at, client, port, SERVER, 53, q.to_wire())
                fate = rnd.random()
                tries = [at]
                if fate < 0.05:  # lost, asked again after the resolver's 5 s timeout
                    tries.append(at + 5 * 10**9 + rnd.randrange(10**6))
                    q.id = qid = (qid + 1) & 0xFFFF
                    udp(tries[-1], client, port, SERVER, 53, q.to_wire())
                r = dns.message.make_response(q)
                if name != f"{base}.":
                    r.set_rcode(dns.rcode.NXDOMAIN)
                elif fate < 0.08 and fate >= 0.05:
                    r.set_rcode(dns.rcode.SERVFAIL)
                elif qtype == "A":
                    r.answer.append(dns.rrset.from_text(name, 30, "IN", "A", f"10.1.0.{n % 250 + 1}"))
                udp(tries[-1] + rnd.randrange(100_000, 50_000_000), SERVER, 53, client, port, r.to_wire())
            at += rnd.randrange(1000, 2_000_000)
        if rnd.random() < 0.01:  # a header that promises a question it does not carry
            udp(at, client, port, SERVER, 53, struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + b"\x07exa")
    recs.sort(key=lambda r: r[0])  # stable: records of one time keep the order they were made in
    from pcapbuild import pcap

    path.write_bytes(pcap(recs, ns=True, linktype=1))
    return recs
