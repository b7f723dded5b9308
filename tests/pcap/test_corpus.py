"""tcpdump's own regression captures (831 files, many malformed on purpose) as a robustness suite.

Every file either loads or fails with :class:`PcapFormatError`, quickly; for link types on the fast
path, the per-packet fields agree with ``tshark -T fields`` (see ``tshark_compare.py`` for which
fields and which rows). Known, deliberate differences are listed below with the reason; anything
else is a failure.
"""

from __future__ import annotations

import shutil
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from ndtestkit import CORPUS

sys.path.insert(0, str(Path(__file__).parent))

from tshark_compare import compare, tshark_rows

from netdebug_nb.pcap.decode import FAST_LINKTYPES
from netdebug_nb.pcap.reader import PcapFormatError, read
from netdebug_nb.pcap.schema import PACKETS_SCHEMA

FILES = sorted(p for p in CORPUS.glob("*") if p.suffix in (".pcap", ".pcapng")) if CORPUS.is_dir() else []

# tshark decodes an encapsulation the fast path does not; our fields stay empty (never different)
BEYOND_FAST_PATH = {
    "arista_ether.pcap": "Arista vendor ethertype 0xd28b with timestamp before the real ethertype",
    "erspan-type-i-3.pcap": "VLAN tag inside ERSPAN",
    "erspan-type-ii-3.pcap": "VLAN tag inside ERSPAN",
    "icmp-rfc8335-missing-bytes.pcap": "MACsec (802.1AE) header",
    "macsec-integonly.pcap": "MACsec (802.1AE) header",
    "macsec-short-longer.pcap": "MACsec (802.1AE) header",
    "macsec-short-shorter.pcap": "MACsec (802.1AE) header",
    "macsec-short-valid.pcap": "MACsec (802.1AE) header",
    "nsh.pcap": "Network Service Header (ethertype 0x894f)",
    "ipv6_39_byte_header.pcap": "IPv6 header cut at 25 of 40 bytes: tshark shows the address bytes it has",
}
# timestamps whose sub-second field is out of range: we carry it into the seconds like libpcap;
# tshark prints the raw fields (even negative)
INVALID_TIMESTAMPS = {"timestamp_invalid_micro.pcap", "timestamp_invalid_nano.pcap", "rx_serviceid_oobr.pcap"}


def test_corpus_is_there() -> None:
    if not FILES:
        pytest.skip(f"corpus not found at {CORPUS}")
    assert len(FILES) >= 800


def test_every_file_loads_or_fails_clearly_and_fast() -> None:
    if not FILES:
        pytest.skip("no corpus")
    slow = []
    loaded = 0
    for f in FILES:
        t = time.monotonic()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                df = read(f)
            except PcapFormatError as exc:
                assert str(f) in str(exc)
            else:
                loaded += 1
                assert len(df.columns) == len(PACKETS_SCHEMA)
        if time.monotonic() - t > 5:  # generous: a hang or runaway allocation, not a timing test
            slow.append(f.name)
    assert not slow
    assert loaded > 800


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_fields_agree_with_tshark() -> None:
    if not FILES:
        pytest.skip("no corpus")
    frames: dict[Path, pd.DataFrame] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for f in FILES:
            try:
                df = read(f)
            except PcapFormatError:
                continue
            if len(df) and df["linktype"].isin(FAST_LINKTYPES).any():
                frames[f] = df
    assert len(frames) > 500
    with ThreadPoolExecutor(4) as pool:
        rows = dict(zip(frames, pool.map(tshark_rows, frames), strict=True))
    failures = {}
    compared = 0
    for f, df in frames.items():
        d = compare(df, rows[f], FAST_LINKTYPES, check_ts=f.name not in INVALID_TIMESTAMPS)
        compared += d.compared
        problems = d.problems
        if f.name in BEYOND_FAST_PATH:  # only "we have nothing, tshark has a value" is allowed
            problems = [p for p in problems if ": reader None " not in p]
        if problems:
            failures[f.name] = problems[:3]
    assert compared > 5000
    assert not failures, failures
