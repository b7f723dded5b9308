"""Reading the second part of a classic pcap in a worker process gives exactly the single-process rows.

Every way the split can go wrong is forced here: a split guess that is not a record boundary, a
corrupt record on either side of the split, a cut last record, a worker that fails, a worker
whose shared columns fill up. In each case the rows and warnings must equal ``workers=1``, with
a forked worker and with one started afresh (what a caller with threads, a Jupyter kernel, gets).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import random
import struct
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

import pcapbuild as pb
from ndtestkit import ROOT

from netdebug_nb.pcap import reader, worker
from netdebug_nb.pcap.formats import Scan

_spec = importlib.util.spec_from_file_location("pcap_bench", ROOT / "bench" / "pcap_read.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """TCP with retransmissions, DNS, ICMP, IPv6 and VLAN-tagged packets (the bench's mix)."""
    p = tmp_path_factory.mktemp("worker") / "mixed.pcap"
    bench.generate(p, 30000, seed=5)
    return p


@pytest.fixture(params=["fork", "spawn"])
def mode(request: pytest.FixtureRequest) -> str:
    """How the worker starts: forked, or (when the caller has threads) a fresh ``python -c``."""
    return str(request.param)


@contextlib.contextmanager
def caller_with_threads(on: bool) -> Iterator[None]:
    """A real second thread while reading, as in a Jupyter kernel: the worker is spawned."""
    if not on:
        yield
        return
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def both(path: Path, mode: str = "fork", **kw: object) -> tuple[pd.DataFrame, pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reader.CaptureWarning)
        alone = reader.read(path, workers=1, **kw)  # type: ignore[arg-type]
        with caller_with_threads(mode == "spawn"):
            split = reader.read(path, workers=2, **kw)  # type: ignore[arg-type]
    return alone, split


def assert_same(alone: pd.DataFrame, split: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(alone, split)
    assert alone.attrs["warnings"] == split.attrs["warnings"]


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Pids of the workers forked during a test (to check that each was reaped)."""
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def reaped(pids: list[int], mode: str = "fork") -> bool:
    """Every worker forked was reaped; a spawned one leaves no child behind either."""
    if mode == "spawn":
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return not pids  # no child left, and none was forked
        return False
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        return False
    return bool(pids)


def test_split_read_equals_single_process(
    mixed: Path, forks: list[int], mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from netdebug_nb import tools

    spawned: list[str] = []
    real = tools.python
    monkeypatch.setattr(tools, "python", lambda code, *a, **kw: spawned.append(code) or real(code, *a, **kw))
    plan = reader._split(mixed, 2, None)
    assert plan is not None and 24 < plan[0] < mixed.stat().st_size
    alone, split = both(mixed, mode, chunk_bytes=1 << 20)
    assert len(alone) == 30000
    assert (split["ip_version"] == 6).sum() > 0 and split["vlan"].notna().sum() > 0
    assert_same(alone, split)
    assert reaped(forks, mode)
    assert (len(spawned), len(forks)) == ((1, 0) if mode == "spawn" else (0, 1))


def test_worker_start_that_is_not_a_record_boundary(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], mode: str
) -> None:
    true = Scan(mixed).record_near(mixed.stat().st_size // 2)
    assert true is not None
    monkeypatch.setattr(Scan, "record_near", lambda self, at, window=0: true + 3)
    assert_same(*both(mixed, mode, chunk_bytes=1 << 20))
    assert reaped(forks, mode)  # the worker was killed: its rows start at a wrong offset


@pytest.mark.parametrize("where", [0.2, 0.8])
def test_corrupt_record_on_either_side_of_the_split(
    tmp_path: Path, mixed: Path, where: float, mode: str
) -> None:
    data = bytearray(mixed.read_bytes())
    at = Scan(mixed).record_near(int(len(data) * where))
    assert at is not None
    data[at + 8 : at + 12] = struct.pack("<I", 0x7FFFFFF0)  # caplen far beyond any snap length
    p = tmp_path / "bad.pcap"
    p.write_bytes(bytes(data))
    alone, split = both(p, mode)
    assert "stopped reading there" in alone.attrs["warnings"][0]
    assert_same(alone, split)


def test_cut_last_record_in_the_workers_part(tmp_path: Path, mixed: Path, mode: str) -> None:
    p = tmp_path / "cut.pcap"
    p.write_bytes(mixed.read_bytes()[:-7])
    alone, split = both(p, mode)
    assert "truncated: 7 of" in alone.attrs["warnings"][0]
    assert_same(alone, split)


def test_failing_worker_is_read_by_the_caller(
    mixed: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], mode: str
) -> None:
    from netdebug_nb import tools

    def boom(*a: object) -> None:
        raise MemoryError("no room in the child")

    monkeypatch.setattr(worker, "_read_part", boom)  # what a forked worker runs
    real = tools.python
    monkeypatch.setattr(  # a spawned one: a child that dies before it reads
        tools, "python", lambda code, args=(), **kw: real("import os; os._exit(3)", args, **kw)
    )
    assert_same(*both(mixed, mode))
    assert reaped(forks, mode)


def test_worker_whose_columns_fill_up(mixed: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    monkeypatch.setattr(reader, "_MAX_WORKER_ROWS", 5000)  # the worker stops at a batch that does not fit
    alone, split = both(mixed, mode, chunk_bytes=1 << 18)
    assert_same(alone, split)


def test_adversarial_payloads_full_of_fake_record_headers(tmp_path: Path) -> None:
    rnd = random.Random(11)
    fake = struct.pack("<IIII", 1, 5, 40, 40) + b"\0" * 40 + struct.pack("<IIII", 1, 6, 8, 8) + b"\0" * 8
    recs = []
    for i in range(8000):
        body = bytearray(rnd.randbytes(rnd.choice((0, 60, 200, 1514, 3000))))
        for at in range(0, len(body) - len(fake), 97):
            body[at : at + len(fake)] = fake
        recs.append((1_600_000_000_000_000_000 + i * 1000, bytes(body)))
    p = tmp_path / "adv.pcap"
    p.write_bytes(pb.pcap(recs, linktype=1))
    alone, split = both(p, chunk_bytes=1 << 16)
    assert alone["caplen"].tolist() == [len(d) for _, d in recs]
    assert_same(alone, split)


def test_auto_mode_stays_in_process_for_small_files_one_cpu_and_max_packets(
    mixed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reader._split(mixed, None, None) is None  # far below PARALLEL_MIN_BYTES
    monkeypatch.setattr(reader, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert reader._split(mixed, None, None) is not None
    assert reader._split(mixed, 2, 100) is None  # max_packets: read the start only, alone
    monkeypatch.setattr(threading, "active_count", lambda: 3)  # e.g. a Jupyter kernel: spawned, from 192 MB
    assert reader._split(mixed, None, None) is None
    monkeypatch.setattr(reader, "_SPAWN_BYTES", 1)
    plan = reader._split(mixed, None, None)
    assert plan is not None and plan[3]
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert reader._split(mixed, None, None) is None


def test_pcapng_and_gzip_are_read_alone(tmp_path: Path, mixed: Path) -> None:
    import gzip

    gz = tmp_path / "m.pcap.gz"
    gz.write_bytes(gzip.compress(mixed.read_bytes(), compresslevel=1))
    assert reader._split(gz, 2, None) is None
    ng = tmp_path / "m.pcapng"
    ng.write_bytes(pb.shb() + pb.idb(1) + b"".join(pb.epb(0, i, b"\0" * 60) for i in range(2000)))
    assert reader._split(ng, 2, None) is None
    assert len(reader.read(ng, workers=2)) == 2000


def _run_python(code: str, *args: str) -> str:
    import subprocess

    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_pandas_imported_for_the_caller_leaves_the_collector_as_it_was(mixed: Path) -> None:
    code = """
import gc, sys
from netdebug_nb.pcap.reader import read
if sys.argv[2] == "off":
    gc.disable()
df = read(sys.argv[1], workers=2)
print(len(df), gc.isenabled(), gc.get_freeze_count() > 0, "pandas" in sys.modules)
"""
    # enabled: pandas' objects were frozen (exit and later collections skip them)
    assert _run_python(code, str(mixed), "on") == "30000 True True True"
    # disabled by the program: stays disabled, nothing frozen
    assert _run_python(code, str(mixed), "off") == "30000 False False True"


def test_program_that_ignores_sigchld(mixed: Path) -> None:
    code = """
import signal, sys
from netdebug_nb.pcap.reader import read
signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel: no waitpid
a = read(sys.argv[1], workers=1)
b = read(sys.argv[1], workers=2)
print(a.equals(b), len(b))
"""
    assert _run_python(code, str(mixed)) == "True 30000"


def test_no_shared_memory_reads_alone(mixed: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int]) -> None:
    def refuse(*a: object, **k: object) -> None:
        raise OSError(12, "Cannot allocate memory")  # e.g. vm.overcommit_memory=2

    monkeypatch.setattr(worker.mmap, "mmap", refuse)
    assert_same(*both(mixed))
    assert forks == []
