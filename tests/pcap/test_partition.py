"""The flow-bucketed analysis of a capture set gives the one-shot analysis' tables, and stays in its memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from pcap_read import generate
from test_captureset import SAMPLE, records, split

from netdebug_nb.pcap import captureset, partition, reader, tables

PY = sys.executable


def assert_same_tables(one: tables.Tables, two: tables.Tables, skip: tuple[str, ...] = ()) -> None:
    a, b = one.frames(), two.frames()
    assert list(a) == list(b)
    for name in a:
        if name in skip:
            continue
        assert len(a[name]) == len(b[name]), name
        pd.testing.assert_frame_equal(
            a[name].reset_index(drop=True), b[name].reset_index(drop=True), obj=name, check_categorical=False
        )


@pytest.mark.parametrize(("cuts", "buckets"), [([], 1), ([1, 150], 2), ([37, 37, 100, 101, 250], 7)])
def test_a_split_sample_gives_every_table_of_the_whole(tmp_path: Path, cuts: list[int], buckets: int) -> None:
    whole = tables.analyze(captureset.read(SAMPLE))
    paths = split(records(), cuts, tmp_path / "set")
    got = partition.analyze(paths, buckets=buckets)
    assert_same_tables(tables.analyze(captureset.read(paths)), got)
    assert_same_tables(whole, got, skip=("files",))  # and the set's tables are the single file's
    assert (
        len(whole.tcp.events)
        and len(whole.tcp.rtt)
        and len(whole.dns_transactions)
        and len(whole.icmp_errors)
    )


def test_many_flows_in_many_buckets(tmp_path: Path) -> None:
    """A generated capture with ~5,000 flows (TCP with retransmissions, DNS, ICMP, IPv6, VLAN)."""
    big = tmp_path / "gen.pcap"
    generate(big, 20_000, seed=7)
    paths = split(records(big), [3000, 3001, 11_000], tmp_path / "set", linktype=1)
    one = tables.analyze(captureset.read(big))
    assert len(one.conversations) > 1000 and one.tcp.health["retransmissions"].sum() > 100
    assert_same_tables(one, partition.analyze(paths, buckets=13), skip=("files",))


def test_buckets_follow_the_memory_budget(tmp_path: Path) -> None:
    big = tmp_path / "gen.pcap"
    size = generate(big, 5_000)
    assert partition.buckets_for([big], 2048, size / 5000) == 1
    assert partition.buckets_for([big] * 200, 64, size / 5000) > 10


# export a set while the address space may grow by MARGIN over what an export of a tiny capture
# takes: several times less than the set's size (its packets in one table take about twice that)
MARGIN_MB = 75
DRIVER = """
import sys
from pathlib import Path
from netdebug_nb.pcap import dataset
dataset.export(sys.argv[1], Path(sys.argv[2]), memory_mb=int(sys.argv[3]))
print([ln.split()[1] for ln in open("/proc/self/status") if ln.startswith("VmPeak")][0])
"""


def _run(args: list[str], limit_kb: int | None) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        if limit_kb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_kb << 10, limit_kb << 10))

    env = os.environ | {
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "OMP_NUM_THREADS": "1",
        "ARROW_IO_THREADS": "1",
    }
    return subprocess.run(
        [PY, "-c", DRIVER, *args], capture_output=True, text=True, preexec_fn=cap, env=env, timeout=300
    )


def test_a_set_bigger_than_the_memory_limit_is_exported_within_it(tmp_path: Path) -> None:
    ring = tmp_path / "ring"
    ring.mkdir()
    total = sum(generate(ring / f"trace.pcap{i}", 60_000, seed=i + 1) for i in range(8))
    assert total > 3 * (MARGIN_MB << 20)
    tiny = _run([str(SAMPLE), str(tmp_path / "tiny"), "64"], None)
    assert tiny.returncode == 0, tiny.stderr
    limit_kb = int(tiny.stdout.split()[-1]) + (MARGIN_MB << 10)
    done = _run([str(ring), str(tmp_path / "out"), "64"], limit_kb)
    assert done.returncode == 0, done.stderr[-2000:]
    exported = tables.Tables  # the export is complete: every packet is in its Parquet files
    from netdebug_nb.pcap import dataset

    t = dataset.read_tables(tmp_path / "out")
    assert isinstance(t, exported) and int(t.overview["packets"].iloc[0]) == 8 * 60_000
    # the limit bites: a budget that puts the whole set in one bucket fails, for a set twice as big
    # (this set's one bucket now fits: the one-shot analysis peaks ~50 MB over the tiny export)
    for i in range(8):
        generate(ring / f"more.pcap{i}", 60_000, seed=i + 9)
    control = _run([str(ring), str(tmp_path / "control"), "100000"], limit_kb)
    # (a MemoryError, or a native library dying on a refused allocation: either way it cannot finish)
    assert control.returncode != 0
    assert "MemoryError" in control.stderr or control.returncode < 0, control.stderr[-2000:]


def test_a_damaged_file_warns_and_keeps_what_was_read(tmp_path: Path) -> None:
    paths = split(records(), [100, 200], tmp_path / "set")
    paths[1].write_bytes(paths[1].read_bytes()[:-7])  # the middle file's last record is cut
    with pytest.warns(reader.CaptureWarning, match="truncated"):
        one = tables.analyze(captureset.read(paths))
    with pytest.warns(reader.CaptureWarning, match="truncated"):
        two = partition.analyze(paths, buckets=3)
    assert_same_tables(one, two)
    assert two.files["warnings"].tolist() == [0, 1, 0] and two.files["packets"].tolist() == [100, 99, 79]
