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

from netdebug_nb.pcap.reader import CaptureWarning, read


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


def test_mapped_file_with_cut_tail_and_sections_across_chunks(tmp_path: Path) -> None:
    """Files bigger than two chunks are mapped: tail handling and sections must work there too."""
    recs = _records(3000, seed=11)
    half = len(recs) // 2
    blocks = [pb.shb(">"), pb.idb(147, order=">", tsresol=9)]
    blocks += [pb.epb(0, t, d, order=">") for t, d in recs[:half]]
    blocks += [pb.shb("<"), pb.idb(1, tsresol=9)]
    blocks += [pb.epb(0, t, d) for t, d in recs[half:]]
    data = b"".join(blocks)
    p = tmp_path / "sections.pcapng"
    p.write_bytes(data[:-7])  # last block cut
    with pytest.warns(CaptureWarning, match="7 of"):
        df = read(p, chunk_bytes=1 << 16)
    assert len(df) == len(recs) - 1
    assert df["linktype"].tolist() == [147] * half + [1] * (len(recs) - half - 1)
    assert np.array_equal(df["ts"].astype("int64").to_numpy(), np.array([t for t, _ in recs[:-1]]))


def test_mapped_classic_file_stops_at_absurd_record(tmp_path: Path) -> None:
    recs = _records(2000, seed=5)
    good = pb.pcap(recs, linktype=147)
    bad = struct.pack("<IIII", 1, 0, 0x40000000, 0x40000000) + bytes(100_000)
    p = tmp_path / "absurd.pcap"
    p.write_bytes(good + bad)
    with pytest.warns(CaptureWarning, match=f"byte offset {len(good)} claims 1073741824"):
        df = read(p, chunk_bytes=1 << 16)
    assert len(df) == len(recs)
