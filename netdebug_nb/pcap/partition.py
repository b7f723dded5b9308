"""Analysis of a capture set bigger than memory: spill packets by flow bucket, analyse bucket by bucket.

Every analysis of the report is per flow (TCP health, conversations, DNS pairs, HTTP/TLS) or a
sum over packets (overview, protocols, talkers, IO graph). So the set is read one file at a time
and each packet is written (Arrow IPC, in a spill directory) to one of K buckets chosen by a
hash of its 5-tuple: all packets of a flow land in one bucket. Each bucket then fits in memory
and gets the same vectorized one-shot analysis as a whole capture would, including the L7
reassembly of its candidate flows (their bytes are re-read at their offsets); the per-flow tables
are concatenated, flows renumbered by their first packet (as :func:`flows.label` numbers them),
and the sums merged from :class:`summary.Tally` parts and per-bin counts. Memory is bounded by
the largest file plus one bucket, and by the flows, addresses and bins — not by the packets.

Buckets are independent, and so are files: with two CPUs a helper process (a plain
``python -c``, see :class:`_Helper`) takes every other bucket, and every other file unless an
export writes the packets, which needs the final frames; buckets are then sized so that two fit
in the budget at a time.

Frames are numbered as :func:`captureset.read` numbers them: files in order of their earliest
packet, and when files overlap in time, every packet by timestamp (files in that order break
ties, then a file's own order). A file's place and its packets' frames are only known once
every file was read, so the first pass numbers optimistically (files in the order of their first
record, one after the other, which ring buffers satisfy) and keeps each file's timestamps; when
the guess was wrong the buckets' frames are recomputed from those timestamps (a binary search per
file), and an export's packet files rewritten.

A set that cannot fit (its largest file alone is over the budget) is a
:class:`~netdebug_nb.errors.MemoryBudgetError` before anything is read; a ``MemoryError`` on the
way becomes one too.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb.errors import MemoryBudgetError
from netdebug_nb.pcap import captureset, heap
from netdebug_nb.pcap.results import Tables
from netdebug_nb.schema import Schema

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from netdebug_nb.pcap import dns

# capture bytes per bucket: a bucket's packet table and the analysis' temporaries take a few
# times the table (~150 bytes a packet), so this keeps one bucket's analysis near the budget
_BUCKET_SHARE = 0.5
_BYTES_PER_PACKET_IN_MEMORY = 800  # table + analysis temporaries, per packet (measured ~700 B)
_MIN_PACKET_BYTES = 60  # a capture file of this many bytes a packet at least (headers, tiny packets)
# reading one file whole and spilling it: its table, the Arrow copy and its bucket-sorted copy
_READ_BYTES_PER_PACKET = 400

Progress = Callable[[str, int, int, int, float], None]  # (stage, done, of, packets, seconds)


def buckets_for(paths: list[Path], memory_mb: int, bytes_per_packet: float | Sequence[float]) -> int:
    """How many flow buckets keep one bucket's analysis within ``memory_mb``.

    ``bytes_per_packet``: capture file bytes per packet, from a sample of the first records (one
    number for every file, or one per file).
    """
    packets = sum(_packets_in(paths, bytes_per_packet))
    per_bucket = max(int(memory_mb * (1 << 20) * _BUCKET_SHARE) // _BYTES_PER_PACKET_IN_MEMORY, 10_000)
    return max(1, int(-(-packets // per_bucket)))


def packets_in(paths: list[Path]) -> float:
    """About how many packets ``paths`` hold, from the size of each and its first records."""
    return sum(_packets_in(paths, _first_records(paths)[1]))


def _first_records(paths: list[Path]) -> tuple[list[int], list[float]]:
    """(timestamp of the first packet, capture bytes per packet) of each file, from a look at
    its first records (no packet: the latest timestamp and 0)."""
    import numpy as np

    from netdebug_nb.pcap import reader

    firsts: list[int] = []
    sample: list[float] = []
    for p in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", reader.CaptureWarning)
            head = reader.read(p, max_packets=200)
        firsts.append(int(head["ts"].array.asi8[0]) if len(head) else np.iinfo(np.int64).max)
        sample.append(float(head["caplen"].to_numpy(dtype=np.int64).mean()) + 16 if len(head) else 0.0)
    return firsts, sample


def _packets_in(paths: list[Path], bytes_per_packet: float | Sequence[float]) -> list[float]:
    """Estimated packets of each file (gzip files counted at 4x their size)."""
    per = [bytes_per_packet] * len(paths) if isinstance(bytes_per_packet, int | float) else bytes_per_packet
    return [
        p.stat().st_size * (4 if captureset.is_gzip(p) else 1) / max(b, _MIN_PACKET_BYTES)
        for p, b in zip(paths, per, strict=True)
    ]


def analyze(
    spec: captureset.Spec,
    *,
    buckets: int | None = None,
    memory_mb: int = 2048,
    io_interval_s: float = 1.0,
    io_top_flows: int = 5,
    l7_ports: Sequence[int] = (),
    spill_dir: str | Path | None = None,
    packets_out: str | Path | None = None,
    packets_by: str = "file",
    dns_out: str | Path | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Tables:
    """The :class:`Tables` of a capture set, never holding more than one file and one bucket
    per process (``workers``: 2 analyses two buckets at a time, in a helper process; by default
    when there are two CPUs).

    The DNS tables hold one row per DNS packet and per query (a share of the packets, not
    bounded by flows): here they are only the first problems (``dns_messages``: malformed,
    ``dns_transactions``: unanswered queries and error answers), and ``dns_summary`` has what
    the findings need of every query (see :class:`dns.Summary`). Retries and expansions relate
    queries of one client: each bucket spills its transactions by a hash of the client address,
    and each group of clients is read back alone for them. ``dns_out``: also write the whole
    ``dns_messages.parquet`` and ``dns_transactions.parquet`` there (``pcap export``).

    ``buckets`` defaults to what ``memory_mb`` allows (:func:`buckets_for`). ``packets_out``:
    also write the packet table there, one Parquet file per capture file (``packets_by="file"``:
    ``file-NNNN.parquet``) or Hive partitions by hour (``"hour"``:
    ``hour=YYYY-MM-DDTHH/part-NNNN.parquet``), for ``pcap export``.
    """
    paths = captureset.resolve(spec)
    try:
        return _analyze(
            paths,
            buckets=buckets,
            memory_mb=memory_mb,
            io_interval_s=io_interval_s,
            io_top_flows=io_top_flows,
            l7_ports=l7_ports,
            spill_dir=spill_dir,
            packets_out=packets_out,
            packets_by=packets_by,
            dns_out=dns_out,
            workers=workers,
            progress=progress,
        )
    except MemoryError as exc:
        raise MemoryBudgetError(
            paths,
            memory_mb,
            ran_out=True,
            hint="set memory_mb to what this machine or container may use (smaller flow buckets), "
            "or split the largest file",
        ) from exc


def _analyze(
    paths: list[Path],
    *,
    buckets: int | None,
    memory_mb: int,
    io_interval_s: float,
    io_top_flows: int,
    l7_ports: Sequence[int],
    spill_dir: str | Path | None,
    packets_out: str | Path | None,
    packets_by: str,
    dns_out: str | Path | None,
    workers: int | None,
    progress: Progress | None,
) -> Tables:
    import numpy as np

    from netdebug_nb.pcap import (
        dns,
        iograph,
        parquet,
        reader,
    )

    firsts, sample = _first_records(paths)  # order by first packet
    given = sorted(range(len(paths)), key=lambda k: (firsts[k], k))  # read order -> index in `paths`
    paths = [paths[k] for k in given]
    sample = [sample[k] for k in given]
    read_mb = _check_fits(paths, memory_mb, sample)
    n_workers = _workers(workers)
    # two processes hold a bucket each at a time: buckets half as big
    k_buckets = min(buckets or buckets_for(paths, memory_mb // n_workers, sample), 4096)
    own_spill = spill_dir is None
    spill = Path(tempfile.mkdtemp(prefix="netdebug-spill-")) if own_spill else Path(spill_dir)  # type: ignore[arg-type]
    spill.mkdir(parents=True, exist_ok=True)
    out_dir = Path(packets_out) if packets_out is not None else None
    started = time.perf_counter()
    helper = None
    try:
        if n_workers > 1 and k_buckets > 1:
            try:
                helper = _Helper(spill)  # starts (imports) while this process reads
            except OSError:  # no process to start: analyse alone
                helper = None
        # --- pass 1: each file once, its packets to their flow buckets ----------------------
        # with a helper and no export, two files are read at a time, each numbered from 1 (the
        # numbering puts them in place); an export writes final frames, so it reads in order
        shared = helper is not None and out_dir is None and 2 * read_mb <= memory_mb
        file_rows: list[dict[str, Any]] = [{} for _ in paths]
        all_warnings: list[list[str]] = [[] for _ in paths]
        stats = np.zeros((len(paths), 4), dtype=np.int64)  # packets, first, last, frame offset used
        frames = 0
        tasks = [
            # two files at a time already keep both CPUs busy: each is read by one process
            (
                _read_file,
                (path, i, k_buckets, spill, out_dir, packets_by, 1 if shared else None),
                spill / f"read{i:05d}.pickle",
            )
            for i, path in enumerate(paths)
        ]

        def offset(_i: int) -> int:  # asked as each file starts: the frames of those before it
            return 0 if shared else frames

        for i, got in _shared(tasks, helper if shared else None, offset):
            stats[i] = (got["packets"], got["first"], got["last"], got["offset"])
            file_rows[i] = got["row"]
            all_warnings[i] = got["warnings"]
            frames += got["packets"]
            if progress is not None:
                progress(
                    "read", sum(1 for r in file_rows if r), len(paths), frames, time.perf_counter() - started
                )
        for msg in (m for w in all_warnings for m in w):  # what could not be read, as a one-shot read says
            warnings.warn(msg, reader.CaptureWarning, stacklevel=3)
        numbering = _Numbering(stats, [given[i] for i in range(len(paths))], spill)
        if out_dir is not None and not numbering.identity:
            parquet.renumber_packets(out_dir, numbering.apply, numbering.position)
        final = numbering.final_order
        paths = [paths[i] for i in final]
        file_rows = [file_rows[i] for i in final]
        file_stats = stats[final, :3]
        first_ns = int(file_stats[file_stats[:, 0] > 0, 1].min()) if frames else None
        last_ns = int(file_stats[file_stats[:, 0] > 0, 2].max()) if frames else None
        # --- pass 2: each bucket alone ----------------------------------------------------------
        grid = (
            iograph.grid(first_ns, last_ns, interval_s=io_interval_s)
            if first_ns is not None and last_ns is not None
            else None
        )
        path_names = [str(p) for p in paths]
        bucket_dirs = sorted(spill.glob("b*"))
        job = _Job(numbering, path_names, grid, io_top_flows, tuple(l7_ports), k_buckets, dns_out is not None)
        parts: dict[int, dict[str, Any]] = {}
        done_packets = 0
        jobs = [(_bucket, (job, bdir), bdir / "part.pickle") for bdir in bucket_dirs]
        first_dns = dns.combine([])  # the first problem rows to show of the buckets done so far
        for bi, part in _shared(jobs, helper, None):
            # each bucket keeps its first SHOWN_ROWS problems: only the first of all are kept
            first_dns, part["dns"] = dns.first_rows(first_dns, part["dns"])
            parts[bi] = part
            done_packets += part["packets"]
            if progress is not None:
                progress("analyse", len(parts), len(bucket_dirs), done_packets, time.perf_counter() - started)
        per = [parts[i] for i in range(len(bucket_dirs))]
        tallies = [p["tally"] for p in per]
        io_parts = [p["io"] for p in per if p.get("io") is not None]
        io_all = sum(io_parts[1:], io_parts[0]) if io_parts else None
        del parts
        heap.release()
        # --- pass 3: DNS retries and expansions, each group of clients alone ----------------------
        client_dirs = sorted((spill / "dns").glob("c*"))
        client_jobs: list[Task] = [(_clients, (c,), c / "part.pickle") for c in client_dirs]
        related = [r for _, r in sorted(_shared(client_jobs, helper, None), key=lambda x: x[0])]
        if helper is not None:  # its work is done: what it holds is not needed for the merge
            helper.close()
            helper = None
        if dns_out is not None:
            _write_dns(spill / "dns", Path(dns_out))
        dns_summary = dns.combine(
            [first_dns, *(p["dns"] for p in per)],
            [x for r in related for x in r["retries"]],
            [r["expansions"] for r in related],
        )
        del related
        out = _merge(per, tallies, grid, io_all, io_top_flows, file_rows, file_stats, dns_summary)
        del per, tallies
        # after the last bucket the process holds the tables and as much again of freed, fragmented
        # heap (~500 MB each at 10M packets), which the cells after the analysis would add to
        heap.release()
        return out
    finally:
        if helper is not None:
            helper.close()
        if own_spill:
            shutil.rmtree(spill, ignore_errors=True)


@dataclass(frozen=True)
class _Job:
    """What analysing one bucket needs besides its spill files (sent to the helper process)."""

    numbering: _Numbering
    path_names: list[str]
    grid: tuple[int, int, int] | None
    io_top_flows: int
    l7_ports: tuple[int, ...]
    clients: int  # groups of DNS clients the transactions are spilled by
    dns_messages: bool  # spill the DNS messages too (to write them whole)


def _workers(workers: int | None) -> int:
    """Processes for pass 2: 1 or 2; by default 2 when this process may use two CPUs."""
    from netdebug_nb.pcap import worker

    if workers is None:
        workers = 2 if worker.cpus() >= 2 else 1
    return max(1, min(workers, 2))


class _Helper:
    """A second Python process that analyses buckets while this one does too (they are independent).

    Started as a plain ``python -c`` (:func:`netdebug_nb.tools.python`); it imports the analysis
    while the first pass reads. Jobs go as pickles on its stdin; each result is a pickle file next
    to the bucket's spill files and a line on its stdout, so a big result never blocks on a pipe
    while this process is busy.
    """

    def __init__(self, spill: Path) -> None:
        import subprocess

        from netdebug_nb import tools

        self.err = (spill / "helper.err").open("wb")
        self.proc = tools.python(
            "from netdebug_nb.pcap import partition; partition._serve()",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.err,
        )
        self.pending: Path | None = None

    def submit(self, function: str, args: tuple[Any, ...], out: Path) -> None:
        """Run this module's ``function(*args)``; its result goes to the file ``out``."""
        import pickle

        assert self.proc.stdin is not None
        self.pending = out
        try:
            pickle.dump((function, args, out), self.proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.proc.stdin.flush()
        except BrokenPipeError as exc:  # it died between two jobs
            raise self._died() from exc

    def ready(self) -> bool:
        import select

        assert self.proc.stdout is not None
        return bool(select.select([self.proc.stdout], [], [], 0)[0])

    def result(self) -> dict[str, Any]:
        import pickle

        assert self.proc.stdout is not None and self.pending is not None
        if not self.proc.stdout.readline():
            raise self._died()
        with self.pending.open("rb") as f:
            status, value = pickle.load(f)
        self.pending.unlink()
        self.pending = None
        if status != "ok":
            cls, args, fields = value
            exc = cls.__new__(cls, *args)
            exc.args = args
            vars(exc).update(fields)
            raise exc
        out: dict[str, Any] = value
        return out

    def _died(self) -> MemoryError:
        """The helper ended without an answer: killed (the kernel's OOM killer, most likely)."""
        code = self.proc.wait()
        return MemoryError(f"the helper process analysing flow buckets died (exit status {code})")

    def close(self) -> None:
        import contextlib
        import subprocess

        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.err.close()


def _serve() -> None:
    """The helper's loop: a job from stdin, its part to the file named, a line on stdout."""
    import os
    import pickle
    import sys

    from netdebug_nb.pcap import application, conversations, dns, flows, summary, tcp  # noqa: F401

    answers = os.fdopen(os.dup(1), "w")  # the protocol's own; anything printed goes to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while True:
        try:
            function, args, out = pickle.load(sys.stdin.buffer)
        except EOFError:
            return
        try:
            result: tuple[str, Any] = ("ok", globals()[function](*args))
        except BaseException as exc:
            # by class, args and fields: the kit's errors take keyword-only fields in __init__,
            # which plain pickling of an exception would call with its args alone
            result = ("error", (type(exc), exc.args, dict(vars(exc))))
        with open(out, "wb") as f:
            try:
                pickle.dump(result, f, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:  # an error whose fields do not pickle: its text
                f.seek(0)
                f.truncate()
                what: tuple[Any, ...] = (RuntimeError, (f"{result[1]!r}: {exc}",), {})
                pickle.dump(("error", what), f, protocol=pickle.HIGHEST_PROTOCOL)
        del result
        answers.write("done\n")
        answers.flush()


Task = tuple[Callable[..., dict[str, Any]], tuple[Any, ...], Path]  # function, arguments, result file


def _shared(
    tasks: list[Task], helper: _Helper | None, last_arg: Callable[[int], Any] | None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(index, result) of every task, in the order they are done: this process and the helper
    take the next task whenever they are free. ``last_arg(i)``, when given, is appended to task
    ``i``'s arguments as it starts (what the tasks done so far decided)."""
    queue = list(enumerate(tasks))[::-1]
    running: int | None = None

    def args(i: int, task: Task) -> tuple[Any, ...]:
        return task[1] if last_arg is None else (*task[1], last_arg(i))

    while queue or running is not None:
        if helper is not None and running is None and queue:
            running, task = queue.pop()
            helper.submit(task[0].__name__, args(running, task), task[2])
        if queue:
            i, task = queue.pop()
            yield i, task[0](*args(i, task))
        if helper is not None and running is not None and (not queue or helper.ready()):
            yield running, helper.result()
            running = None


def _read_file(
    path: Path,
    i: int,
    k_buckets: int,
    spill: Path,
    out_dir: Path | None,
    packets_by: str,
    workers: int | None,
    offset: int,
) -> dict[str, Any]:
    """Read file ``i`` of the set (``workers`` as :func:`reader.read`), its packets to their
    buckets (frames from ``offset`` + 1)."""
    import numpy as np

    from netdebug_nb.pcap import parquet, reader
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", reader.CaptureWarning)
        df = reader.read(path, workers=workers)
    df["file"] = np.uint16(i)
    df["frame"] = df["frame"].to_numpy() + offset
    ts = np.asarray(df["ts"].array.asi8, dtype=np.int64)
    np.save(spill / f"ts{i:05d}.npy", ts)
    got = {
        "packets": len(ts),
        "first": int(ts.min()) if len(ts) else np.iinfo(np.int64).max,
        "last": int(ts.max()) if len(ts) else np.iinfo(np.int64).min,
        "offset": offset,
        "warnings": list(df.attrs.get("warnings", [])),
        "row": {
            "path": str(path),
            "format": df.attrs.get("format", ""),
            "warnings": len(df.attrs.get("warnings", [])),
        },
    }
    bucket = _bucket_of(df, k_buckets)
    order = np.argsort(bucket, kind="stable")
    arrow = parquet.to_arrow(df, PACKETS_SCHEMA).take(order)
    bounds = np.searchsorted(bucket[order], np.arange(k_buckets + 1))
    for b in range(k_buckets):
        if bounds[b + 1] > bounds[b]:
            _spill(
                arrow.slice(int(bounds[b]), int(bounds[b + 1] - bounds[b])),
                spill / f"b{b:04d}" / f"f{i:05d}.arrow",
            )
    del arrow
    if out_dir is not None:
        parquet.write_packets_of_file(df, out_dir, i, by=packets_by)
    return got


def _bucket(job: _Job, bdir: Path) -> dict[str, Any]:
    """The tables of one bucket's packets, flows numbered locally (see :func:`_merge`)."""
    import numpy as np
    import pandas as pd

    from netdebug_nb.pcap import application, conversations, dns, flows, summary, tcp

    pk = _unspill(sorted(bdir.glob("*.arrow")))
    if not job.numbering.identity:
        pk = job.numbering.renumber(pk)
    pk.attrs["files"] = job.path_names
    ts = np.asarray(pk["ts"].array.asi8, dtype=np.int64)
    labels = flows.label(pk)
    fl = labels["flow"].to_numpy()
    has = fl >= 0
    first_row = np.flatnonzero(has & ~pd.Series(fl).duplicated().to_numpy())  # hashing, no sort
    local_ids = fl[first_row]
    first_frame = np.zeros(int(local_ids.max()) + 1 if len(local_ids) else 0, dtype=np.int64)
    first_frame[local_ids] = pk["frame"].to_numpy()[first_row]
    conv = conversations.summarize(pk, labels)
    tcp_analysis = tcp.analyze(pk, labels)
    messages = dns.read(None, pk)
    transactions = dns.transactions(messages)  # a query and its response share their 5-tuple
    _spill_dns(transactions, messages, job, bdir)
    part: dict[str, Any] = {
        "packets": len(pk),
        "first_frame": first_frame,
        "conversations": conv,
        "tcp": tcp_analysis,
        "dns": dns.summarize(transactions, messages, related=False),
        "icmp_rows": pk[_icmp_error_rows(pk)],
        "application": application.read(
            job.path_names[0], pk, labels, tcp_analysis.health, ports=job.l7_ports
        ),
        "tally": summary.tally(pk),
        "io": None,
    }
    if job.grid is not None and len(pk):
        t0, width, nbins = job.grid
        bins = (ts - t0) // width
        wire = pk["wirelen"].to_numpy(dtype=np.int64)
        part["io"] = np.vstack(
            [np.bincount(bins, weights=wire, minlength=nbins), np.bincount(bins, minlength=nbins)]
        )
        part["io_flows"] = {
            int(f): np.vstack(
                [
                    np.bincount(bins[fl == f], weights=wire[fl == f], minlength=nbins),
                    np.bincount(bins[fl == f], minlength=nbins),
                ]
            )
            for f in conv.head(job.io_top_flows)["flow"].tolist()
        }
    return part


def _client_group(clients: pd.Series, k: int) -> np.ndarray:
    """Group of each DNS client address: a hash of its text, the same in every bucket."""
    import zlib

    import numpy as np
    import pandas as pd

    codes, names = pd.factorize(clients, use_na_sentinel=False)
    h = np.array([zlib.crc32(str(x).encode()) for x in names] or [0], dtype=np.int64)
    out: np.ndarray = h[codes] % k
    return out


def _spill_dns(transactions: pd.DataFrame, messages: pd.DataFrame, job: _Job, bdir: Path) -> None:
    """A bucket's DNS transactions by group of clients (``dns/cNNNN/bNNNN.arrow``), and its
    messages (``dns/messages/bNNNN.arrow``) when they are to be written whole."""
    import numpy as np

    from netdebug_nb.pcap import dns, parquet

    root = bdir.parent / "dns"
    if len(transactions):
        group = _client_group(transactions["client"], job.clients)
        for g in np.unique(group).tolist():
            rows = transactions[group == g]
            _spill(parquet.to_arrow(rows, dns.TRANSACTIONS_SCHEMA), root / f"c{g:04d}" / f"{bdir.name}.arrow")
    if job.dns_messages and len(messages):
        _spill(parquet.to_arrow(messages, dns.MESSAGES_SCHEMA), root / "messages" / f"{bdir.name}.arrow")


# what retries and expansions read of the transactions (the other columns are not read back)
_RELATED_COLUMNS = [
    "query_frame", "query_ts", "client", "client_port", "qname", "qtype", "answered", "rcode", "answers",
]  # fmt: skip
_RETRY_WINDOW = 200_000  # unanswered queries whose retries are looked for at a time


def _clients(cdir: Path) -> dict[str, Any]:
    """Retries and expansions of one group of DNS clients, from every query of theirs.

    A group may hold most queries (one busy client), so its queries are never all read at once:
    retries, which look at most ``max_gap_s`` (10 s) ahead of a lost query and its sibling
    window (0.1 s) around it, are found a time window of lost queries at a time, each with the
    queries from 10 s before to 10 s after it; expansions only with the queries of names that
    share a base with another name (:func:`dns.expansion_candidates` of the distinct names).
    Both give the rows of the whole group. Each spill file is mapped only while it is read (its
    pages count as this process' memory while mapped).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.feather as feather

    from netdebug_nb.pcap import dns, parquet

    heap.release()  # what the buckets analysed here left (freed, kept by the allocators for reuse)
    paths = sorted(cdir.glob("*.arrow"))
    schema = {c: dns.TRANSACTIONS_SCHEMA[c] for c in _RELATED_COLUMNS}

    def read(path: Path, columns: list[str] = _RELATED_COLUMNS) -> pa.Table:
        return feather.read_table(path, columns=columns, memory_map=True)

    def rows(near: list[Any] | None = None, names: Any = None) -> pd.DataFrame:
        """The rows of each file that are ``near`` (a mask each) or have one of ``names``, by frame."""
        table = pa.concat_tables(
            [
                (t := read(p)).filter(
                    near[k] if near is not None else pc.is_in(t.column("qname"), value_set=names)
                )
                for k, p in enumerate(paths)
            ]
        )
        out = parquet.from_arrow(table, schema)
        return out.sort_values("query_frame", kind="stable", ignore_index=True)

    ts, lost = [], []
    for p in paths:
        t = read(p, ["query_ts", "answered"])
        ts.append(t.column("query_ts").cast(pa.int64()).to_numpy())
        lost.append(ts[-1][~t.column("answered").fill_null(False).to_numpy(zero_copy_only=False)])
    lost_ts = np.sort(np.concatenate(lost)) if lost else np.zeros(0, dtype=np.int64)
    del lost
    reach = 10 * 10**9
    retries = []
    for start in range(0, len(lost_ts), _RETRY_WINDOW):
        lo = int(lost_ts[start])
        end = start + _RETRY_WINDOW
        hi = int(lost_ts[end]) if end < len(lost_ts) else int(lost_ts[-1]) + 1
        near = [pa.array((t >= lo - reach) & (t <= hi + reach)) for t in ts]
        found = dns.retries(rows(near))
        at = np.asarray(found["query_ts"].array.asi8, dtype=np.int64)
        retries.append(found[(at >= lo) & (at < hi)])
    keys = ["client", "qtype", "qname"]
    distinct = pa.concat_tables([read(p, keys).group_by(keys).aggregate([]) for p in paths])
    names = parquet.from_arrow(distinct.group_by(keys).aggregate([]), dict.fromkeys(keys, "string"))
    wanted = pa.array(names["qname"][dns.expansion_candidates(names)].dropna().unique(), pa.string())
    expansions = dns.expansions(rows(names=wanted), order_key=True)
    return {"retries": retries, "expansions": expansions}


def summarize_dns(
    transactions_file: Path,
    messages_file: Path,
    *,
    rows_at_a_time: int = 1 << 18,
    spill_dir: Path | None = None,
) -> dns.Summary:
    """The :class:`dns.Summary` of an export's whole DNS tables, never all in memory.

    Made as the flow buckets make it: the tables are read a slice of rows at a time, each
    slice summarized alone (counts, latencies, the first problem rows); the transactions are
    spilled as they come and read back by :func:`_clients` for the retries and expansions,
    which relate the queries of one client (a time window of lost queries at a time). The
    result is the summary of the tables read whole (tested), marked not ``complete``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from netdebug_nb.pcap import dns, parquet
    from netdebug_nb.schema import empty

    spill = Path(tempfile.mkdtemp(prefix="netdebug-dns-", dir=spill_dir))
    try:
        first = dns.combine([])  # the first problem rows to show of the slices read so far
        parts = []
        group = spill / "c0000"  # one group of clients: _clients reads it a window at a time
        tables = ((transactions_file, dns.TRANSACTIONS_SCHEMA), (messages_file, dns.MESSAGES_SCHEMA))
        for file, schema in tables:
            if not file.exists():
                continue
            for i, batch in enumerate(pq.ParquetFile(file).iter_batches(batch_size=rows_at_a_time)):
                table = pa.Table.from_batches([batch])
                rows = parquet.from_arrow(table, schema)
                if schema is dns.TRANSACTIONS_SCHEMA:
                    part = dns.summarize(rows, empty(dns.MESSAGES_SCHEMA), related=False)
                    # spilled as read from the Parquet file: no conversion back to Arrow
                    _spill(table.select(_RELATED_COLUMNS), group / f"s{i:06d}.arrow")
                else:
                    part = dns.summarize(empty(dns.TRANSACTIONS_SCHEMA), rows, related=False)
                first, part = dns.first_rows(first, part)
                parts.append(part)
                del table, rows
        retries: list[pd.DataFrame] = []
        expansions = empty(dns.EXPANSIONS_SCHEMA)
        if group.exists():
            related = _clients(group)
            retries, expansions = related["retries"], related["expansions"]
        return dns.combine([first, *parts], retries, [expansions])
    finally:
        shutil.rmtree(spill, ignore_errors=True)


def _write_dns(root: Path, out: Path) -> None:
    """The whole DNS tables from the buckets' spill, as ``pcap export`` names them."""
    from netdebug_nb.pcap import dns, parquet

    parquet.write_merged(
        sorted(root.glob("c*/*.arrow")),
        dns.TRANSACTIONS_SCHEMA,
        "query_frame",
        out / "dns_transactions.parquet",
    )
    parquet.write_merged(
        sorted(root.glob("messages/*.arrow")), dns.MESSAGES_SCHEMA, "frame", out / "dns_messages.parquet"
    )


def _check_fits(paths: list[Path], memory_mb: int, bytes_per_packet: Sequence[float]) -> int:
    """MB that reading the largest file takes; raise before reading when that is over the budget
    (files are read whole)."""
    counts = _packets_in(paths, bytes_per_packet)
    if not counts:
        return 0
    biggest = max(range(len(paths)), key=lambda k: counts[k])
    packets = counts[biggest]
    need_mb = int(packets * _READ_BYTES_PER_PACKET) >> 20
    if need_mb > memory_mb:
        raise MemoryBudgetError(
            [paths[biggest]],
            memory_mb,
            need_mb,
            hint="each file is read whole: raise memory_mb, or split the file "
            "(editcap -c 1000000 in.pcap out.pcap) and give the pieces",
        )
    return need_mb


class _Numbering:
    """Where each file (in read order) and its packets go in :func:`captureset.read`'s numbering.

    ``stats``: per file read, (packets, first ts, last ts, frame offset given in pass 1);
    ``given``: its index in the capture set as resolved (ties between equal first packets).
    """

    def __init__(self, stats: np.ndarray, given: list[int], spill: Path) -> None:
        import numpy as np

        n = len(stats)
        big = np.iinfo(np.int64).max
        key = [(int(stats[i, 1]) if stats[i, 0] else big, given[i]) for i in range(n)]
        self.final_order = sorted(range(n), key=lambda i: key[i])
        self.position = np.empty(n, dtype=np.int64)
        self.position[self.final_order] = np.arange(n)
        self.stats = stats
        self.spill = spill
        counts = stats[self.final_order, 0]
        start_final = np.concatenate([[0], np.cumsum(counts)[:-1]]) if n else np.zeros(0, dtype=np.int64)
        self.start = np.empty(n, dtype=np.int64)
        self.start[self.final_order] = start_final
        self.overlap = False
        last = None
        for i in self.final_order:  # as captureset._overlapping decides
            if not stats[i, 0]:
                continue
            if last is not None and int(stats[i, 1]) < last:
                self.overlap = True
            last = int(stats[i, 2]) if last is None else max(last, int(stats[i, 2]))
        self.identity = (
            not self.overlap
            and bool((self.position == np.arange(n)).all())
            and bool((self.start == stats[:, 3]).all())
        )

    def _ts(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """File ``i``'s timestamps sorted, and each packet's place among them (stable).

        Kept as files in the spill directory and mapped, not held: every bucket asks for every
        overlapping file, in this process and in the helper.
        """
        import os

        import numpy as np

        sorted_path, rank_path = self.spill / f"sorted{i:05d}.npy", self.spill / f"rank{i:05d}.npy"
        if not rank_path.exists():
            ts = np.load(self.spill / f"ts{i:05d}.npy")
            order = np.argsort(ts, kind="stable")
            rank = np.empty(len(ts), dtype=np.int64)
            rank[order] = np.arange(len(ts))
            for path, array in ((sorted_path, ts[order]), (rank_path, rank)):  # the helper may race
                tmp = path.with_name(f"{path.stem}.{os.getpid()}.npy")
                np.save(tmp, array)
                tmp.replace(path)
        return np.load(sorted_path, mmap_mode="r"), np.load(rank_path, mmap_mode="r")

    def apply(self, file: np.ndarray, frame: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The final ``file`` and ``frame`` of packets given as pass 1 numbered them."""
        import numpy as np

        file = np.asarray(file, dtype=np.int64)
        local = np.asarray(frame, dtype=np.int64) - self.stats[file, 3] - 1  # row in its own file
        pos = self.position[file]
        if not self.overlap:
            return pos, self.start[file] + local + 1
        out = np.ones(len(file), dtype=np.int64)
        for i in np.unique(file).tolist():
            sel = file == i
            out[sel] += self._ts(i)[1][local[sel]]
        for b in range(len(self.stats)):
            if not self.stats[b, 0] or not len(ts):
                continue
            lo, hi, pb = int(self.stats[b, 1]), int(self.stats[b, 2]), int(self.position[b])
            before = pos > pb  # file b comes first in the concatenation: its equal times come first
            if hi < int(ts.min()):
                out += np.where(pos != pb, self.stats[b, 0], 0)
                continue
            if lo > int(ts.max()):
                continue
            sorted_b = self._ts(b)[0]
            right = np.searchsorted(sorted_b, ts, side="right")
            left = np.searchsorted(sorted_b, ts, side="left")
            out += np.where(before, right, np.where(pos < pb, left, 0))
        return pos, out

    def renumber(self, packets: pd.DataFrame) -> pd.DataFrame:
        """A bucket's packets with their final file and frame, in frame order."""
        import numpy as np

        file, frame = self.apply(
            packets["file"].to_numpy(dtype=np.int64),
            packets["frame"].to_numpy(dtype=np.int64),
            np.asarray(packets["ts"].array.asi8, dtype=np.int64),
        )
        packets["file"] = file.astype(np.uint16)
        packets["frame"] = frame
        if len(frame) > 1 and (np.diff(frame) < 0).any():
            packets = packets.take(np.argsort(frame, kind="stable")).reset_index(drop=True)
        return packets


def _spill(table: Any, path: Path) -> None:
    """A spilled table (one file's packets of one bucket, a bucket's DNS rows of a group of
    clients), as an uncompressed Arrow IPC file (fast to write and map)."""
    import pyarrow.feather as feather

    path.parent.mkdir(parents=True, exist_ok=True)
    feather.write_feather(table, path, compression="uncompressed")


def _unspill(paths: list[Path]) -> pd.DataFrame:
    """A bucket's packet table, in frame order (the files were spilled in order)."""
    import pyarrow as pa
    import pyarrow.feather as feather

    from netdebug_nb.pcap import parquet
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA

    tables = [feather.read_table(p, memory_map=True) for p in paths]
    table = pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]
    return parquet.shared_addresses(parquet.from_arrow(table, PACKETS_SCHEMA))


def _merge(
    per: list[dict[str, Any]],
    tallies: list[Any],
    grid: tuple[int, int, int] | None,
    io_all: Any,
    io_top_flows: int,
    file_rows: list[dict[str, Any]],
    file_stats: Any,
    dns_summary: Any,
) -> Tables:
    """The buckets' parts as one :class:`Tables`, flows numbered by their first packet."""
    import numpy as np
    import pandas as pd

    from netdebug_nb.pcap import application, icmp, iograph, summary, tcp
    from netdebug_nb.pcap.conversations import CONVERSATIONS_SCHEMA
    from netdebug_nb.pcap.schema import PACKETS_SCHEMA
    from netdebug_nb.schema import empty, frame

    firsts = [p["first_frame"] for p in per]
    every = np.concatenate(firsts) if firsts else np.zeros(0, dtype=np.int64)
    rank = np.empty(len(every), dtype=np.int64)
    rank[np.argsort(every, kind="stable")] = np.arange(len(every))
    maps, at = [], 0
    for f in firsts:
        maps.append(rank[at : at + len(f)])
        at += len(f)

    def renumber(df: pd.DataFrame, m: np.ndarray) -> pd.DataFrame:
        """In place: the parts are this function's, and each is dropped once merged (at 40M
        packets the per-flow tables are GBs: a copy of each part would double them)."""
        if len(df):
            df["flow"] = m[df["flow"].to_numpy(dtype=np.int64)]
        return df

    conv = [renumber(p.pop("conversations"), m) for p, m in zip(per, maps, strict=True)]
    conv_all = (
        pd.concat([c for c in conv if len(c)], ignore_index=True).sort_values(
            ["bytes", "flow"], ascending=[False, True], ignore_index=True
        )
        if any(len(c) for c in conv)
        else empty(CONVERSATIONS_SCHEMA)
    )
    del conv

    def cat(parts: list[pd.DataFrame], schema: Schema, by: list[str]) -> pd.DataFrame:
        parts = [x for x in parts if len(x)]
        if not parts:
            return empty(schema)
        return frame(pd.concat(parts, ignore_index=True), schema).sort_values(
            by, kind="stable", ignore_index=True
        )

    app = application.combine(
        [
            application.Application(
                http=renumber(p["application"].http, m),
                h2=renumber(p["application"].h2, m),
                h2_events=renumber(p["application"].h2_events, m),
                tls=renumber(p["application"].tls, m),
                flows_read=p["application"].flows_read,
                gaps=p["application"].gaps,
            )
            for p, m in zip(per, maps, strict=True)
        ]
    )
    tcps = [p.pop("tcp") for p in per]
    analysis = tcp.Analysis(
        health=cat(
            [renumber(a.health, m) for a, m in zip(tcps, maps, strict=True)], tcp.HEALTH_SCHEMA, ["flow"]
        ),
        events=cat(
            [renumber(a.events, m) for a, m in zip(tcps, maps, strict=True)],
            tcp.EVENTS_SCHEMA,
            ["frame", "event"],
        ),
        rtt=cat([renumber(a.rtt, m) for a, m in zip(tcps, maps, strict=True)], tcp.RTT_SCHEMA, ["frame"]),
    )
    del tcps
    icmp_parts = [p["icmp_rows"] for p in per if len(p["icmp_rows"])]
    icmp_rows = (
        pd.concat(icmp_parts, ignore_index=True).sort_values("frame", ignore_index=True)
        if icmp_parts
        else None
    )
    if grid is not None and io_all is not None:
        top = conv_all.head(io_top_flows)
        series = {}
        for p, m in zip(per, maps, strict=True):
            for f, counts in p.get("io_flows", {}).items():
                series[int(m[f])] = counts
        io = iograph.assemble(
            *grid,
            top,
            [(io_all[0], io_all[1])] + [(series[f][0], series[f][1]) for f in top["flow"].tolist()],
        )
    else:
        io = empty(iograph.IOGRAPH_SCHEMA)
    has = file_stats[:, 0] > 0
    files_tbl = _files_table(file_rows, file_stats, has)
    return Tables(
        files=files_tbl,
        overview=summary.overview_of(tallies),
        protocols=summary.protocols_of(tallies),
        talkers=summary.talkers_of(tallies),
        conversations=conv_all,
        tcp=analysis,
        dns_messages=dns_summary.malformed,
        dns_transactions=dns_summary.shown,
        dns_summary=dns_summary,
        icmp_errors=icmp.errors(icmp_rows if icmp_rows is not None else empty(PACKETS_SCHEMA)),
        iograph=io,
        application=app,
    )


def _files_table(rows: list[dict[str, Any]], stats: Any, has: Any) -> pd.DataFrame:
    """captureset.files' table from per-file counts (no packet table of the whole set exists)."""
    import numpy as np
    import pandas as pd

    k = len(rows)
    with_packets = [i for i in range(k) if has[i]]
    fake = pd.DataFrame(
        {
            "file": np.repeat(np.asarray(with_packets, dtype=np.uint16), 2),
            "ts": pd.to_datetime(
                np.asarray([stats[i, j] for i in with_packets for j in (1, 2)], dtype=np.int64),
                unit="ns",
                utc=True,
            ),
        }
    )
    fake.attrs = {
        "files": [r["path"] for r in rows],
        "formats": [r["format"] for r in rows],
        "file_warnings": [r["warnings"] for r in rows],
    }
    out = captureset.files(fake)
    out["packets"] = stats[:, 0].astype(np.int64)
    return out


def _bucket_of(packets: pd.DataFrame, k: int) -> np.ndarray:
    """Bucket of each packet: a hash of (protocol, the two endpoints in either order); 0 without IP.

    Addresses are hashed by their text, so the bucket of a flow is the same in every file.
    """
    import zlib

    import numpy as np

    from netdebug_nb.pcap.summary import _address_codes

    n = len(packets)
    if k <= 1 or not n:
        return np.zeros(n, dtype=np.uint16)
    s, d, names = _address_codes(packets)
    h = np.array([zlib.crc32(x.encode()) for x in names] or [0], dtype=np.uint64)
    sport = packets["sport"].to_numpy(dtype=np.int64, na_value=0).astype(np.uint64)
    dport = packets["dport"].to_numpy(dtype=np.int64, na_value=0).astype(np.uint64)
    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0).astype(np.uint64)
    no_ip = (s < 0) | (d < 0)
    es = (h[np.maximum(s, 0)] << np.uint64(16)) | sport
    ed = (h[np.maximum(d, 0)] << np.uint64(16)) | dport
    lo, hi = np.minimum(es, ed), np.maximum(es, ed)
    with np.errstate(over="ignore"):
        mix = lo * np.uint64(0x9E3779B97F4A7C15) ^ hi * np.uint64(0xC2B2AE3D27D4EB4F) ^ proto
        mix ^= mix >> np.uint64(29)
    out: np.ndarray = (mix % np.uint64(k)).astype(np.uint16)  # small: a stable sort of it is a radix sort
    out[no_ip] = 0
    return out


def _icmp_error_rows(packets: pd.DataFrame) -> np.ndarray:
    import numpy as np

    proto = packets["proto"].to_numpy(dtype=np.int64, na_value=0)
    itype = packets["icmp_type"].to_numpy(dtype=np.int64, na_value=-1)
    out: np.ndarray = ((proto == 1) & np.isin(itype, [3, 11, 12])) | (
        (proto == 58) & np.isin(itype, [1, 2, 3, 4])
    )
    return out
