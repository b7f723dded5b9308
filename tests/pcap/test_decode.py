"""The common-packet lane of the decode must give exactly what the general decode gives.

It covers the bench's mix (where most packets take the common lane) and every file of the
tcpdump corpus (where most do not, and the lanes meet inside one batch).
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild as pb
from ndtestkit import CORPUS, ROOT

from netdebug_nb.pcap import decode as D
from netdebug_nb.pcap.formats import Batch, CaptureWarning, PcapFormatError, Scan


def mismatches(path: Path) -> list[str]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        for batch in Scan(path).batches():
            fast, general = D.decode(batch), D.decode_general(batch)
            for name in D.Decoded.__dataclass_fields__:
                a, b = getattr(fast, name), getattr(general, name)
                if a.dtype != b.dtype or not np.array_equal(a, b):
                    out.append(f"{path.name}: {name}")
    return out


def test_common_lane_on_the_bench_mix(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("pcap_bench", ROOT / "bench" / "pcap_read.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    p = tmp_path / "mixed.pcap"
    bench.generate(p, 20000, seed=3)
    assert mismatches(p) == []


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus not present")
def test_common_lane_on_the_corpus(monkeypatch: pytest.MonkeyPatch) -> None:
    # the corpus files are small and mostly not Ethernet/IPv4: force the lane on every batch
    monkeypatch.setattr(D, "_COMMON_MIN", 1)
    monkeypatch.setattr(D, "_GENERAL_SHARE", 1.0)
    bad: list[str] = []
    lanes = 0
    for p in sorted(CORPUS.glob("*.pcap*")):
        try:
            bad += mismatches(p)
        except PcapFormatError:
            continue
        lanes += 1
    assert lanes > 700 and bad == []


def _ipv4_packets(count: int) -> list[bytes]:
    from scapy.layers.inet import ICMP, IP, TCP, UDP

    out = []
    for i in range(count):
        l4 = (TCP(sport=40000 + i, dport=443, seq=i, flags="PA"), UDP(sport=5353, dport=53), ICMP(id=i))[
            i % 3
        ]
        # 20 bytes of payload or more: the lane needs a whole TCP-sized header after the IPv4 one
        out.append(bytes(IP(src="198.18.0.1", dst="198.18.1.2", id=i) / l4 / (b"x" * (20 + i % 40))))
    return out


@pytest.mark.parametrize(
    ("linktype", "link"),
    [
        (1, b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00"),  # Ethernet
        (113, struct.pack(">HHH8sH", 0, 1, 6, b"\0" * 8, 0x0800)),  # Linux cooked (SLL)
        (276, struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\0" * 8)),  # SLL2, tcpdump -i any
        (101, b""),  # raw IP
        (228, b""),  # raw IPv4
    ],
)
def test_common_lane_takes_every_plain_ipv4_packet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, linktype: int, link: bytes
) -> None:
    p = tmp_path / "plain.pcap"
    p.write_bytes(
        pb.pcap([(i * 1000, link + d) for i, d in enumerate(_ipv4_packets(600))], linktype=linktype)
    )
    general_rows: list[int] = []
    real = D.decode_general

    def counting(batch: Batch, linktypes: object = D.FAST_LINKTYPES) -> D.Decoded:
        general_rows.append(len(batch))
        return real(batch)

    batches = list(Scan(p).batches())
    expected = [real(b) for b in batches]
    monkeypatch.setattr(D, "decode_general", counting)
    got = [D.decode(b) for b in batches]
    assert general_rows == [0] * len(general_rows)  # no packet left the lane
    for a, b in zip(got, expected, strict=True):
        for name in D.Decoded.__dataclass_fields__:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
