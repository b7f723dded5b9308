"""Mutated captures (random bytes overwritten, random cuts) never crash the reader.

Each either loads (with warnings) or raises PcapFormatError; a seeded run keeps it reproducible.
"""

from __future__ import annotations

import random
import sys
import warnings
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment
from scapy.layers.l2 import Dot1Q, Ether

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild as pb

from netdebug_nb.pcap.reader import PcapFormatError, read
from netdebug_nb.pcap.schema import PACKETS_SCHEMA

FRAMES = [
    bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2") / TCP() / (b"x" * 30)),
    bytes(
        Ether()
        / Dot1Q(vlan=3)
        / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / IPv6ExtHdrDestOpt()
        / UDP()
        / b"yy"
    ),
    bytes(Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment() / TCP()),
    bytes(Ether() / IP(src="198.18.0.1", dst="198.18.0.2", flags="MF") / ICMP()),
]


def _mutant(rnd: random.Random) -> bytes:
    lt = rnd.choice([1, 1, 113, 276, 0, 108, 101, 228, 229, 147])
    recs = [(rnd.randrange(4_000_000_000 * 10**9), rnd.choice(FRAMES)) for _ in range(rnd.randrange(1, 40))]
    if rnd.random() < 0.5:
        data = bytearray(pb.pcap(recs, linktype=lt, order=rnd.choice("<>"), ns=rnd.random() < 0.5))
    else:
        blocks = [pb.shb(), pb.idb(lt, tsresol=rnd.choice([None, 6, 9, 0x94]))]
        blocks += [rnd.choice([pb.epb(0, t, d), pb.spb(d), pb.opb(0, t, d)]) for t, d in recs]
        data = bytearray(b"".join(blocks))
    for _ in range(rnd.randrange(1, 12)):
        data[rnd.randrange(len(data))] = rnd.randrange(256)
    if rnd.random() < 0.3:
        data = data[: rnd.randrange(len(data))]
    return bytes(data)


@pytest.mark.parametrize("seed", range(4))
def test_mutated_captures_load_or_fail_clearly(tmp_path: Path, seed: int) -> None:
    rnd = random.Random(seed)
    p = tmp_path / "mutant.pcap"
    loaded = 0
    for _ in range(150):
        p.write_bytes(_mutant(rnd))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                df = read(p, chunk_bytes=rnd.choice([4096, 1 << 20]))
            except PcapFormatError:
                continue
        loaded += 1
        assert len(df.columns) == len(PACKETS_SCHEMA)
    assert loaded > 100
