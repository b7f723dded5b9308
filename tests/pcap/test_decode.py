"""The common-packet lane of the decode must give exactly what the general decode gives.

It covers the bench's mix (where most packets take the common lane) and every file of the
tcpdump corpus (where most do not, and the lanes meet inside one batch).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from ndtestkit import CORPUS, ROOT

from netdebug_nb.pcap import decode as D
from netdebug_nb.pcap.formats import CaptureWarning, PcapFormatError, Scan


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
