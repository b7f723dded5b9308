"""Parquet exports: typed round trip, DuckDB over the files agrees with the notebook's tables, CLI, notebook input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import pcap_l7
from test_captureset import SAMPLE, records, split

from netdebug_nb import cli
from netdebug_nb.errors import InputError
from netdebug_nb.pcap import captureset, dataset, tables
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.schema import check


@pytest.fixture(scope="module", params=["file", "hour"])
def export(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Path]]:
    """The sample as a set of three files, the last 40 minutes later: packets in two UTC hours."""
    tmp = tmp_path_factory.mktemp("export")
    recs = records()
    recs = recs[:200] + [(ts + 40 * 60 * 10**9, data, wire) for ts, data, wire in recs[200:]]
    paths = split(recs, [90, 200], tmp / "set")
    out = tmp / "out"
    argv = [
        "pcap",
        "export",
        str(tmp / "set" / "ring.pcap*"),
        "--out",
        str(out),
        "--partition",
        request.param,
    ]
    assert cli.main(argv) == 0
    return out, paths


def test_packets_round_trip_with_their_types(export: tuple[Path, list[Path]]) -> None:
    out, paths = export
    names = sorted(str(p.relative_to(out / "packets")) for p in (out / "packets").rglob("*.parquet"))
    if json.loads((out / dataset.MARKER).read_text())["packets_by"] == "file":
        assert names == [f"file-{i:04d}.parquet" for i in range(3)]
    else:  # the hours of the packets: the first two files in one, the third in the next
        assert names == [
            "hour=2026-11-28T06/part-0000.parquet",
            "hour=2026-11-28T06/part-0001.parquet",
            "hour=2026-11-28T07/part-0002.parquet",
        ]
    back = dataset.read(out)
    check(back, PACKETS_SCHEMA)
    original = captureset.read(paths)
    pd.testing.assert_frame_equal(back, original, check_categorical=False)
    # the bytes of any packet can still be fetched from the captures the export names
    assert captureset.packet_bytes(back, back.iloc[[5, 150, 250]]) == [records()[i][1] for i in (5, 150, 250)]


def test_the_tables_round_trip(export: tuple[Path, list[Path]]) -> None:
    out, paths = export
    marker = json.loads((out / dataset.MARKER).read_text())
    assert marker["packets"] == len(records()) and marker["captures"] == [str(p) for p in paths]
    want = tables.analyze(captureset.read(paths)).frames()
    got = dataset.read_tables(out).frames()
    for name, df in want.items():
        pd.testing.assert_frame_equal(got[name], df, obj=name, check_categorical=False)


def test_duckdb_over_the_export_agrees_with_the_notebook(export: tuple[Path, list[Path]]) -> None:
    out, paths = export
    t = tables.analyze(captureset.read(paths))
    con = duckdb.connect()
    by_hour = json.loads((out / dataset.MARKER).read_text())["packets_by"] == "hour"
    pk = (
        f"read_parquet('{out}/packets/*/*.parquet', hive_partitioning = true)"
        if by_hour
        else f"read_parquet('{out}/packets/*.parquet')"
    )
    # bytes per protocol straight from the packets
    by_proto = con.execute(
        f"SELECT coalesce(proto, -1) AS proto, count(*) AS packets, sum(wirelen) AS bytes FROM {pk} "
        "GROUP BY 1 ORDER BY bytes DESC, packets DESC"
    ).fetchall()
    assert [(n, b) for _p, n, b in by_proto] == list(
        zip(t.protocols["packets"].tolist(), t.protocols["bytes"].tolist(), strict=True)
    )
    # TCP packets per flow: packets joined to the flows table on the 5-tuple, either direction
    per_flow = con.execute(
        f"""
        SELECT f.flow, count(*) AS packets
        FROM {pk} p JOIN read_parquet('{out}/flows.parquet') f
          ON p.proto = 6 AND f.protocol = 'TCP'
         AND ((p.src = f.a AND p.sport = f.a_port AND p.dst = f.b AND p.dport = f.b_port)
           OR (p.src = f.b AND p.sport = f.b_port AND p.dst = f.a AND p.dport = f.a_port))
        GROUP BY f.flow ORDER BY f.flow
        """
    ).fetchall()
    health = t.tcp.health.sort_values("flow")
    assert per_flow == list(zip(health["flow"].tolist(), health["packets"].tolist(), strict=True))
    # and the exported analysis tables are queryable as they are
    retrans = con.execute(
        f"SELECT sum(retransmissions) FROM read_parquet('{out}/tcp_health.parquet')"
    ).fetchone()
    assert retrans is not None and retrans[0] == int(t.tcp.health["retransmissions"].sum()) > 0
    answered = con.execute(
        f"SELECT count(*) FROM read_parquet('{out}/dns_transactions.parquet') WHERE answered"
    ).fetchone()
    assert answered is not None and answered[0] == int(t.dns_transactions["answered"].sum()) > 0
    if by_hour:  # the partition column, from the directory names; a filter on it reads one hour
        hours = con.execute(f"SELECT hour, count(*) FROM {pk} GROUP BY hour ORDER BY hour").fetchall()
        ts = captureset.read(paths)["ts"]
        want = ts.dt.strftime("%Y-%m-%dT%H").value_counts().sort_index()
        assert [(str(h), n) for h, n in hours] == list(want.items()) and len(hours) == 2
        late = con.execute(f"SELECT min(frame) FROM {pk} WHERE hour = '2026-11-28T07'").fetchone()
        assert late is not None and late[0] == 201


def test_the_notebook_loads_an_export_without_its_packets(export: tuple[Path, list[Path]]) -> None:
    out, paths = export
    got = tables.load([out])
    want = tables.analyze(captureset.read(paths))
    pd.testing.assert_frame_equal(got.tcp.health, want.tcp.health, check_categorical=False)
    assert got.files["path"].tolist() == [str(p) for p in paths]


def test_the_http_and_tls_tables_are_in_the_export_and_outlive_the_captures(tmp_path: Path) -> None:
    big = tmp_path / "l7.pcap"
    pcap_l7.generate(big, 20_000, seed=11)
    paths = split(records(big), [8000], tmp_path / "set", linktype=1)
    want = tables.analyze(captureset.read(paths), l7_ports=[8080])
    assert len(want.application.http) and len(want.application.tls)
    out = tmp_path / "out"
    argv = ["pcap", "export", *map(str, paths), "--out", str(out), "--l7-port", "8080", "--memory-mb", "64"]
    assert cli.main(argv) == 0
    for p in paths:  # the export stands on its own
        p.unlink()
    got = tables.load([out], l7_ports=[8080])
    assert got.application.tables().keys() == want.application.tables().keys()
    for name, df in want.application.tables().items():
        pd.testing.assert_frame_equal(got.application.tables()[name], df, obj=name, check_categorical=False)
    assert got.application.flows_read == want.application.flows_read and not got.application.notes
    other = tables.load([out], l7_ports=[8080, 9000])  # the notebook asks for a port not read then
    assert any("--l7-port" in n and "9000" in n for n in other.application.notes)


def test_export_mistakes_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["pcap", "export", str(tmp_path / "nope.pcap"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.pcap: no such capture file" in err
    (tmp_path / "x.pcap").write_text("hello\n")
    assert cli.main(["pcap", "export", str(tmp_path / "x.pcap"), "--out", str(tmp_path / "o")]) == 2
    assert "not a pcap or pcapng file" in capsys.readouterr().err
    assert cli.main(["pcap", "export", str(SAMPLE), "--out", str(tmp_path / "o"), "--memory-mb", "1"]) != 0
    with pytest.raises(InputError, match="not a netdebug pcap export"):
        dataset.read_tables(tmp_path)
