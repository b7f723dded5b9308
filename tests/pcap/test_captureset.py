"""Capture sets: files, directories, globs and lists read as one packet table in time order."""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild

from netdebug_nb.catalogue import DATA_DIR
from netdebug_nb.errors import InputError
from netdebug_nb.pcap import captureset, reader
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check

SAMPLE = DATA_DIR / "pcap" / "sample.pcap"
SECOND = 1_000_000_000
LINKTYPE, L2 = 276, 20  # the sample is a Linux SLL2 capture ("any" interface): 20-byte link header


def records(path: Path = SAMPLE) -> list[tuple[int, bytes, int]]:
    """(timestamp ns, captured bytes, wire length) of every packet of ``path``."""
    df = reader.read(path)
    data = captureset.packet_bytes(df)
    ts = df["ts"].array.asi8.tolist()
    wire = df["wirelen"].tolist()
    return list(zip(ts, data, wire, strict=True))


def split(
    recs: list[tuple[int, bytes, int]], cuts: list[int], out: Path, linktype: int = LINKTYPE
) -> list[Path]:
    """Write ``recs`` as consecutive pcap files cut before the given record indexes."""
    out.mkdir(parents=True, exist_ok=True)
    bounds = [0, *cuts, len(recs)]
    paths = []
    for i in range(len(bounds) - 1):
        p = out / f"ring.pcap{i}"  # tcpdump -C names: found by their bytes, not their suffix
        p.write_bytes(pcapbuild.pcap(recs[bounds[i] : bounds[i + 1]], ns=True, linktype=linktype))
        paths.append(p)
    return paths


def without_origin(df: pd.DataFrame) -> pd.DataFrame:
    """The packet table without the columns that say where a packet was read from."""
    out = df.drop(columns=["file", "offset"]).reset_index(drop=True)
    for col in ("src", "dst"):
        out[col] = out[col].astype("string")
    return out


@pytest.mark.parametrize("cuts", [[1], [100, 101, 250], [37, 37, 200]])
def test_a_split_capture_reads_as_the_whole(tmp_path: Path, cuts: list[int]) -> None:
    whole = reader.read(SAMPLE)
    paths = split(records(), cuts, tmp_path / "set")
    df = captureset.read(tmp_path / "set")  # a directory: every capture file in it
    check(df, PACKETS_SCHEMA)
    pd.testing.assert_frame_equal(without_origin(df), without_origin(whole))
    sizes = np.diff([0, *cuts, len(whole)]).tolist()
    assert captureset.packet_bytes(df) == [r[1] for r in records()]
    files = captureset.files(df)  # in time order; a file without packets last
    assert dict(zip(files["path"], files["packets"], strict=True)) == {
        str(p): n for p, n in zip(paths, sizes, strict=True)
    }
    assert files["relation"].tolist() == ["first"] + ["follows"] * (len(paths) - 1 - (0 in sizes)) + (
        ["empty"] if 0 in sizes else []
    )
    assert df["file"].value_counts().sort_index().tolist() == [n for n in files["packets"] if n]


def test_a_gap_and_an_overlap_are_reported_and_packets_interleaved(tmp_path: Path) -> None:
    recs = records()[:30]
    t0 = recs[0][0]
    a = [(t0 + i * SECOND // 10, d, w) for i, (_t, d, w) in enumerate(recs[:10])]  # 0.0-0.9 s
    b = [(t0 + 60 * SECOND + i * SECOND, d, w) for i, (_t, d, w) in enumerate(recs[10:20])]  # 60-69 s
    c = [(t0 + 65 * SECOND + i * SECOND + 1, d, w) for i, (_t, d, w) in enumerate(recs[20:30])]  # 65-74 s
    (tmp_path / "c.pcap").write_bytes(
        pcapbuild.pcap(c, ns=True, linktype=LINKTYPE)
    )  # names out of time order
    (tmp_path / "a.pcap").write_bytes(pcapbuild.pcap(b, ns=True, linktype=LINKTYPE))
    (tmp_path / "b.pcap").write_bytes(pcapbuild.pcap(a, ns=True, linktype=LINKTYPE))
    df = captureset.read([tmp_path / "a.pcap", tmp_path / "b.pcap", tmp_path / "c.pcap"])
    files = captureset.files(df)
    assert [Path(p).name for p in files["path"]] == ["b.pcap", "a.pcap", "c.pcap"]  # by first packet
    assert files["relation"].tolist() == ["first", "gap", "overlap"]
    assert files["gap_s"].iloc[1] == pytest.approx(60 - 0.9)
    assert files["gap_s"].iloc[2] == pytest.approx(65 - 69, abs=1e-6)
    ts = df["ts"].array.asi8
    assert (np.diff(ts) >= 0).all()
    assert df["frame"].tolist() == list(range(1, 31))
    # the overlap interleaves: from 65 s on, packets alternate between the two files
    assert df["file"].tolist()[15:21] == [1, 2, 1, 2, 1, 2]
    want = {t: d for t, d, _w in a + b + c}
    assert captureset.packet_bytes(df) == [want[t] for t in ts.tolist()]


def test_gzip_pcapng_and_other_link_types_in_one_set(tmp_path: Path) -> None:
    recs = records()[:20]
    t0 = recs[0][0]
    with gzip.open(tmp_path / "eth.pcap.gz", "wb") as f:
        f.write(pcapbuild.pcap(recs[:10], ns=True, linktype=LINKTYPE))
    raw_ip = [(t0 + 10 * SECOND + i, d[L2:]) for i, (_t, d, _w) in enumerate(recs[10:20])]  # IP only
    ng = pcapbuild.shb() + pcapbuild.idb(101, tsresol=9) + b"".join(pcapbuild.epb(0, t, d) for t, d in raw_ip)
    (tmp_path / "rawip.pcapng").write_bytes(ng)
    (tmp_path / "notes.txt").write_text("not a capture\n")
    df = captureset.read(tmp_path)
    assert len(df) == 20
    assert df["linktype"].tolist() == [LINKTYPE] * 10 + [101] * 10
    assert captureset.files(df)["compressed"].tolist() == [True, False]
    assert captureset.files(df)["format"].tolist() == ["pcap", "pcapng"]
    # the raw-IP packets decode to the same addresses as their SLL2 originals
    eth = reader.read(SAMPLE).iloc[10:20]
    assert df["src"].astype("string").iloc[10:].tolist() == eth["src"].astype("string").tolist()
    got = captureset.packet_bytes(df)
    assert got[:10] == [d for _t, d, _w in recs[:10]]
    assert got[10:] == [d for _t, d in raw_ip]


def test_resolve_globs_lists_and_mistakes(tmp_path: Path) -> None:
    paths = split(records()[:30], [10, 20], tmp_path)
    assert captureset.resolve(str(tmp_path / "ring.pcap*")) == paths
    assert captureset.resolve(f"{paths[2]},{paths[0]}") == [paths[2], paths[0]]
    assert captureset.resolve([paths[1], str(tmp_path)]) == [paths[1], paths[0], paths[2]]  # no duplicates
    with pytest.raises(InputError, match="no capture file matches"):
        captureset.resolve(str(tmp_path / "nothing-*.pcap"))
    with pytest.raises(InputError, match="no such capture file"):
        captureset.resolve(str(tmp_path / "missing.pcap"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no pcap"):
        captureset.resolve(tmp_path / "empty")


def test_dissect_rows_of_a_set(tmp_path: Path) -> None:
    from netdebug_nb.pcap.dissect import dissect

    split(records()[:60], [25], tmp_path)
    df = captureset.read(tmp_path)
    pkts = dissect(df.iloc[[3, 40]])
    whole = reader.read(SAMPLE)
    assert [bytes(p) for p in pkts] == captureset.packet_bytes(whole, whole.iloc[[3, 40]])
    assert float(pkts[1].time) == pytest.approx(whole["ts"].iloc[40].value / 1e9)


def test_the_pcap_parameter_takes_a_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from netdebug_nb import catalogue
    from netdebug_nb.errors import ParameterError
    from netdebug_nb.parameters import validate

    info = catalogue.find("pcap_analysis")
    paths = split(records()[:30], [10, 20], tmp_path / "ring")
    monkeypatch.chdir(tmp_path)

    def check_pcap(value: str) -> str:
        got: str = validate(info.parameters, {"pcap": value}, notebook="pcap_analysis", search=[tmp_path])[
            "pcap"
        ]
        return got

    assert check_pcap("ring") == str(tmp_path / "ring")  # relative: found in the search path
    assert check_pcap(str(tmp_path / "ring" / "ring.pcap*")) == str(tmp_path / "ring" / "ring.pcap*")
    assert check_pcap(f"ring/{paths[0].name},ring/{paths[2].name}") == f"{paths[0]},{paths[2]}"
    (tmp_path / "notes.txt").write_text("hello\n")
    for bad, why in (("nothing-*.pcap", "matches no file"), ("notes.txt", "is not a capture file")):
        with pytest.raises(ParameterError, match=why):
            check_pcap(bad)
