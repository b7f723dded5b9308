"""The flow-bucketed analysis of a capture set gives the one-shot analysis' tables, and stays in its memory."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import dnsbusy
import pcap_l7
import pcapbuild
from pcap_read import generate
from test_captureset import SAMPLE, records, split

from netdebug_nb.errors import MemoryBudgetError
from netdebug_nb.pcap import captureset, checks, dataset, dns, partition, reader, tables

PY = sys.executable


def assert_same_tables(one: tables.Tables, two: tables.Tables, skip: tuple[str, ...] = ()) -> None:
    """Every table equal; the DNS tables of a bucket analysis (only the problems there) through
    :func:`assert_same_dns`."""
    a, b = one.frames(), two.frames()
    assert list(a) == list(b)
    if two.dns_summary is not None:
        assert_same_dns(one, two)
        skip = (*skip, "dns_messages", "dns_transactions")
    for name in a:
        if name in skip:
            continue
        assert len(a[name]) == len(b[name]), name
        pd.testing.assert_frame_equal(
            a[name].reset_index(drop=True), b[name].reset_index(drop=True), obj=name, check_categorical=False
        )


def assert_same_dns(one: tables.Tables, two: tables.Tables) -> None:
    """The bucket analysis' DNS summary (every query counted, retries and expansions per group of
    clients) is the one-shot one, and so are the DNS findings, evidence included."""
    a, b = dns.summary(one), dns.summary(two)
    assert a.complete and not b.complete
    assert (a.queries, a.answered, a.malformed_count) == (b.queries, b.answered, b.malformed_count)
    np.testing.assert_array_equal(np.sort(a.latency_ms), np.sort(b.latency_ms))
    assert (a.error_count, a.error_rcodes, a.error_names) == (b.error_count, b.error_rcodes, b.error_names)
    for name in ("unanswered", "malformed", "shown", "retries", "expansions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True, obj=name)
    # the tables shown of a bucket analysis: its problem rows, as the one-shot tables have them
    tx = one.dns_transactions
    problems = ~tx["answered"].astype(bool) | tx["rcode"].isin(dns.ERROR_RCODES).fillna(False).astype(bool)
    pd.testing.assert_frame_equal(
        two.dns_transactions, tx[problems].head(dns.SHOWN_ROWS).reset_index(drop=True)
    )
    for end in (None, one.overview["end"].iloc[0]):  # counts of every query, or all but the last 5 s
        fa = checks.dns_findings(a, capture_end=end)
        assert [f.to_dict() for f in fa] == [f.to_dict() for f in checks.dns_findings(b, capture_end=end)]


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


@pytest.mark.parametrize("workers", [1, 2])
def test_many_flows_in_many_buckets(tmp_path: Path, workers: int) -> None:
    """A generated capture with ~5,000 flows (TCP with retransmissions, DNS, ICMP, IPv6, VLAN),
    its buckets analysed by this process alone or with a helper process."""
    big = tmp_path / "gen.pcap"
    generate(big, 20_000, seed=7)
    paths = split(records(big), [3000, 3001, 11_000], tmp_path / "set", linktype=1)
    one = tables.analyze(captureset.read(big))
    assert len(one.conversations) > 1000 and one.tcp.health["retransmissions"].sum() > 100
    assert_same_tables(one, partition.analyze(paths, buckets=13, workers=workers), skip=("files",))


def test_http_and_tls_of_a_set_in_buckets_are_the_one_shot_tables(tmp_path: Path) -> None:
    """The L7 tables (HTTP exchanges, TLS handshakes) per bucket, merged, equal one analysis of the set."""
    big = tmp_path / "l7.pcap"
    kinds = pcap_l7.generate(big, 30_000, seed=3)
    paths = split(records(big), [7000, 7001, 19_000], tmp_path / "set", linktype=1)
    one = tables.analyze(captureset.read(paths))
    assert len(one.application.http) > 100 and len(one.application.tls) > 20, kinds
    got = partition.analyze(paths, buckets=7)
    assert_same_tables(one, got)
    assert got.application.flows_read == one.application.flows_read > 0
    # and what the notebook shows of them: per server, the same rows
    from netdebug_nb.pcap import application

    pd.testing.assert_frame_equal(
        application.servers(got.application, got.tcp.health),
        application.servers(one.application, one.tcp.health),
    )


@pytest.mark.parametrize("workers", [1, 2])
def test_dns_of_many_clients_in_buckets_is_the_one_shot_dns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    """Lookups of 120 clients with every DNS problem: summed per flow bucket, retries and
    expansions per group of clients (retries a time window at a time), they are the one-shot
    ones, and so are the findings; the whole DNS tables are written from the spill."""
    recs = dnsbusy.generate(tmp_path / "dns.pcap", 1000, clients=120)
    paths = split(recs, [1500, 1501, 4000], tmp_path / "set", linktype=1)
    one = tables.analyze(captureset.read(paths))
    s = dns.summary(one)
    assert s.answered > 2000 and len(s.unanswered) > 100 and s.error_count > 20 and s.malformed_count > 5
    assert len(s.expansions) > 100 and s.retries["sibling_answered"].fillna(False).astype(bool).sum() > 20
    if workers == 1:  # in this process: small windows of retries, few rows kept to show
        monkeypatch.setattr(partition, "_RETRY_WINDOW", 17)
        monkeypatch.setattr(dns, "SHOWN_ROWS", 40)
        monkeypatch.setattr(dns, "MALFORMED_ROWS", 4)
    got = partition.analyze(paths, buckets=11, workers=workers, dns_out=tmp_path / "whole")
    assert_same_tables(one, got)
    caption = dns.caption(dns.summary(got))
    assert f"of all {s.queries} queries ({s.answered} answered)" in caption
    assert ("the first 40 of" in caption) == (workers == 1) and "dns_transactions.parquet" in caption
    for name, schema in (
        ("dns_transactions", dns.TRANSACTIONS_SCHEMA),
        ("dns_messages", dns.MESSAGES_SCHEMA),
    ):
        whole = dataset.read_table(tmp_path / "whole" / f"{name}.parquet", schema)
        pd.testing.assert_frame_equal(whole, getattr(one, name), check_exact=True, obj=name)


def overlapping(recs: list[tuple[int, bytes, int]], out: Path) -> list[Path]:
    """Three files as from three interfaces: chunks dealt round-robin, so every file spans the
    capture; one file's first record is not its earliest, and two files share a timestamp."""
    out.mkdir(parents=True, exist_ok=True)
    parts: list[list[tuple[int, bytes, int]]] = [[], [], []]
    for k in range(0, len(recs), 700):
        parts[(k // 700) % 3].extend(recs[k : k + 700])
    parts[2][0], parts[2][5] = parts[2][5], parts[2][0]  # out of order within a file, at its start
    parts[1].insert(10, parts[0][400])  # the same time in two files (the file first in order wins)
    paths = []
    for i, recs_i in enumerate(parts):
        p = out / f"if{2 - i}.pcap"  # names sort against time order
        p.write_bytes(pcapbuild.pcap(recs_i, ns=True, linktype=1))
        paths.append(p)
    return paths


@pytest.mark.parametrize("rows_at_a_time", [97, 1 << 18])
def test_the_dns_of_a_big_export_is_read_back_a_slice_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows_at_a_time: int
) -> None:
    """An export whose whole DNS tables would take too much of memory_mb is read back as the
    flow buckets analyse: never the whole DNS tables at once, the same summary and findings as
    the one-shot analysis, the problem rows to show."""
    recs = dnsbusy.generate(tmp_path / "dns.pcap", 1000, clients=120)
    paths = split(recs, [2000], tmp_path / "set", linktype=1)
    one = tables.analyze(captureset.read(paths))
    out = tmp_path / "export"
    dataset.export(paths, out, memory_mb=64)
    assert dataset.dns_queries(out) == dns.summary(one).queries > 2000
    assert tables.load([out]).dns_summary is None  # small enough for memory_mb: read whole

    read: list[str] = []
    real_read = dataset.read_table
    monkeypatch.setattr(dataset, "read_table", lambda f, schema: read.append(f.name) or real_read(f, schema))
    real_summarize = partition.summarize_dns
    monkeypatch.setattr(
        partition, "summarize_dns", lambda t, m: real_summarize(t, m, rows_at_a_time=rows_at_a_time)
    )
    monkeypatch.setattr(partition, "_RETRY_WINDOW", 17)
    monkeypatch.setattr(dataset, "_DNS_SHARE", 0.001)  # 64 MB * 0.001: a few hundred queries
    back = tables.load([out], memory_mb=64)
    assert "flows.parquet" in read and not {"dns_transactions.parquet", "dns_messages.parquet"} & set(read)
    assert_same_dns(one, back)


def test_an_overlapping_set_is_numbered_as_one_read_numbers_it(tmp_path: Path) -> None:
    big = tmp_path / "gen.pcap"
    generate(big, 12_000, seed=5)
    paths = overlapping(records(big), tmp_path / "set")
    merged = captureset.read(tmp_path / "set")
    assert (merged["file"].diff().fillna(0) != 0).sum() > 10  # interleaved, not one file after another
    one = tables.analyze(merged)
    assert one.files["relation"].tolist()[1:] == ["overlap", "overlap"]
    two = partition.analyze(tmp_path / "set", buckets=5)
    assert_same_tables(one, two)
    # an export of it holds the same packet table, frames and files as the one read
    out = tmp_path / "out"
    dataset.export(paths, out, memory_mb=64)
    back = dataset.read(out)
    pd.testing.assert_frame_equal(back, merged, check_categorical=False)
    assert sorted(p.name for p in (out / "packets").iterdir()) == [f"file-{i:04d}.parquet" for i in range(3)]
    assert dataset.read_table(out / "packets" / "file-0000.parquet", dataset_schema())["file"].eq(0).all()


def dataset_schema() -> dict[str, str]:
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    return PACKETS_SCHEMA


def tiny_packets(path: Path, n: int) -> Path:
    """A capture of ``n`` minimal UDP packets (60 bytes a record): many packets in few bytes."""
    import struct

    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, 28, 1, 0, 64, 17, 0, bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
    )
    pkt = eth + ip + struct.pack(">HHHH", 1000, 2000, 8, 0)
    head = struct.pack("<IIII", 0, 0, len(pkt), len(pkt))
    body = b"".join(
        struct.pack("<II", 1_700_000_000 + i // 1000, i % 1000) + head[8:] + pkt for i in range(n)
    )
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + body)
    return path


def test_a_file_that_cannot_fit_is_refused_before_reading(tmp_path: Path) -> None:
    big = tiny_packets(tmp_path / "many.pcap", 200_000)
    with pytest.raises(MemoryBudgetError) as err:
        partition.analyze([SAMPLE, big], memory_mb=64)
    msg = str(err.value)
    assert "\n" not in msg and str(big) in msg and "memory_mb=64" in msg and "split the file" in msg
    assert err.value.memory_mb == 64 and err.value.needed_mb is not None and err.value.needed_mb > 64
    with pytest.raises(MemoryBudgetError):  # the notebook's entry point says the same
        tables.load([big], memory_mb=64)
    assert len(partition.analyze([big], memory_mb=128).overview)  # and it is the budget that decides


def test_a_run_that_cannot_fit_is_one_line_and_keeps_its_report(tmp_path: Path) -> None:
    from ndtestkit import netdebug_cmd

    big = tiny_packets(tmp_path / "many.pcap", 200_000)
    out = tmp_path / "r"
    run = subprocess.run(
        [*netdebug_cmd(), "run", "pcap_analysis", "-p", "pcap", str(big), "-p", "memory_mb", "64",
         "-p", "kubernetes", "false", "--out", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr[-2000:]
    lines = [ln for ln in run.stderr.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1 and "memory_mb=64" in lines[0] and str(big) in lines[0], run.stderr[-2000:]
    assert "Traceback" not in run.stderr and any(out.rglob("*.ipynb"))


def test_the_helper_process_reports_errors_and_its_death(tmp_path: Path) -> None:
    helper = partition._Helper(tmp_path)
    try:
        helper.submit("_check_fits", ([SAMPLE], -1, [100.0]), tmp_path / "r.pickle")
        with pytest.raises(MemoryBudgetError, match="memory_mb=-1"):  # raised there, raised here
            helper.result()
        helper.proc.kill()
        with pytest.raises(MemoryError, match="helper process .* died"):
            helper.submit("_check_fits", ([SAMPLE], 2048, [100.0]), tmp_path / "r.pickle")
            helper.result()
    finally:
        helper.close()
    # and analyse() says so as the one-line budget error
    paths = split(records(), [100], tmp_path / "set")
    with pytest.raises(MemoryBudgetError, match="ran out of memory"):
        partition.analyze(paths, buckets=2, workers=2, progress=lambda *_a: _kill_helpers())


def _kill_helpers() -> None:
    """Kill this process' helper children (as the OOM killer would)."""
    me = os.getpid()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == me and "partition._serve" in (d / "cmdline").read_text():
                os.kill(int(d.name), 9)


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


CLI_DRIVER = """
import sys
from netdebug_nb import cli
sys.exit(cli.main(["pcap", "export", sys.argv[1], "--out", sys.argv[2], "--memory-mb", sys.argv[3]]))
"""


def _run(args: list[str], limit_kb: int | None, driver: str = DRIVER) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        if limit_kb is not None:
            resource.setrlimit(resource.RLIMIT_AS, (limit_kb << 10, limit_kb << 10))

    env = os.environ | {
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "OMP_NUM_THREADS": "1",
        "ARROW_IO_THREADS": "1",
    }
    return subprocess.run(
        [PY, "-c", driver, *args], capture_output=True, text=True, preexec_fn=cap, env=env, timeout=300
    )


def test_a_set_bigger_than_the_memory_limit_is_exported_within_it(tmp_path: Path) -> None:
    ring = tmp_path / "ring"
    ring.mkdir()
    total = sum(generate(ring / f"trace.pcap{i}", 60_000, seed=i + 1) for i in range(8))
    assert total > 3 * (MARGIN_MB << 20)
    # the tiny export's address-space peak varies by one malloc arena (64 MB) from run to run, with
    # the threads that happen to allocate first: the highest of three is the baseline
    peaks = []
    for k in range(3):
        tiny = _run([str(SAMPLE), str(tmp_path / f"tiny{k}"), "64"], None)
        assert tiny.returncode == 0, tiny.stderr
        peaks.append(int(tiny.stdout.split()[-1]))
    limit_kb = max(peaks) + (MARGIN_MB << 10)
    done = _run([str(ring), str(tmp_path / "out"), "64"], limit_kb)
    assert done.returncode == 0, done.stderr[-2000:]
    exported = tables.Tables  # the export is complete: every packet is in its Parquet files
    from netdebug_nb.pcap import dataset

    t = dataset.read_tables(tmp_path / "out")
    assert isinstance(t, exported) and int(t.overview["packets"].iloc[0]) == 8 * 60_000
    # the limit bites: a budget that puts the whole set in one bucket runs out of memory, for a set
    # twice as big (this set's one bucket fits: the one-shot analysis peaks ~50 MB over the tiny
    # export), and says so in one line (exit 2), keeping the packet files already written
    for i in range(8):
        generate(ring / f"more.pcap{i}", 60_000, seed=i + 9)
    control = _run([str(ring), str(tmp_path / "control"), "100000"], limit_kb, driver=CLI_DRIVER)
    assert control.returncode == 2, control.stderr[-2000:]
    # progress lines ("read: 8/16 files, ...") come first when the run takes more than a few seconds
    errors = [ln for ln in control.stderr.splitlines() if not ln.startswith(("read: ", "analyse: "))]
    assert len(errors) == 1 and "ran out of memory" in errors[0], control.stderr
    assert "memory_mb=100000" in errors[0] and str(ring) in errors[0] and "Traceback" not in control.stderr
    assert len(list((tmp_path / "control" / "packets").iterdir())) == 16


def test_a_damaged_file_warns_and_keeps_what_was_read(tmp_path: Path) -> None:
    paths = split(records(), [100, 200], tmp_path / "set")
    paths[1].write_bytes(paths[1].read_bytes()[:-7])  # the middle file's last record is cut
    with pytest.warns(reader.CaptureWarning, match="truncated"):
        one = tables.analyze(captureset.read(paths))
    with pytest.warns(reader.CaptureWarning, match="truncated"):
        two = partition.analyze(paths, buckets=3)
    assert_same_tables(one, two)
    assert two.files["warnings"].tolist() == [0, 1, 0] and two.files["packets"].tolist() == [100, 99, 79]
