"""The lock-step record walk must find exactly the records a sequential walk finds.

Payloads here are full of fake record headers that chain two deep (what the walk's guesses look
for), so wrong guesses and restarts happen; chunk sizes force records across chunk boundaries.
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild as pb

from netdebug_nb.pcap.reader import read


def _payload(rnd: random.Random, n: int, fake: bytes) -> bytes:
    body = bytearray(rnd.randbytes(n))
    for at in range(0, n - len(fake), 97):
        if rnd.random() < 0.5:
            body[at : at + len(fake)] = fake
    return bytes(body)


def _records(count: int, seed: int) -> list[tuple[int, bytes]]:
    rnd = random.Random(seed)
    fake_pcap = struct.pack("<IIII", 1, 5, 40, 40) + b"\0" * 40 + struct.pack("<IIII", 1, 6, 8, 8) + b"\0" * 8
    out = []
    for i in range(count):
        n = (
            rnd.choice((0, 1, 60, 61, 62, 63, 200, 1514, 3000))
            if rnd.random() < 0.9
            else rnd.randrange(0, 9000)
        )
        out.append((1_600_000_000_000_000_000 + i * 1000, _payload(rnd, n, fake_pcap)))
    return out


@pytest.mark.parametrize("chunk", [1 << 16, 300_000, 1 << 20, 32 << 20])
def test_classic_walk_matches_construction(tmp_path: Path, chunk: int) -> None:
    recs = _records(6000, seed=chunk)
    p = tmp_path / "adv.pcap"
    p.write_bytes(pb.pcap(recs, linktype=147))
    df = read(p, chunk_bytes=chunk)
    assert df["caplen"].tolist() == [len(d) for _, d in recs]
    assert np.array_equal(df["ts"].astype("int64").to_numpy(), np.array([t for t, _ in recs]))


@pytest.mark.parametrize("chunk", [1 << 16, 1 << 20])
def test_pcapng_walk_matches_construction(tmp_path: Path, chunk: int) -> None:
    recs = _records(4000, seed=7)
    fake = pb.epb(0, 1, b"\0" * 20)
    rnd = random.Random(3)
    blocks = [pb.shb(), pb.idb(147, tsresol=9)]
    for t, d in recs:
        blocks.append(pb.epb(0, t, d + (fake if rnd.random() < 0.3 else b"")))
    p = tmp_path / "adv.pcapng"
    p.write_bytes(b"".join(blocks))
    df = read(p, chunk_bytes=chunk)
    assert len(df) == len(recs)
    assert np.array_equal(df["ts"].astype("int64").to_numpy(), np.array([t for t, _ in recs]))
