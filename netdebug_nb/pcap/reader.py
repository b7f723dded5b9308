"""Read a capture file into the packet table (:data:`PACKETS_SCHEMA`), fast enough for real captures.

The recipe: :mod:`formats` finds the packet records chunk by chunk, :mod:`decode` turns each
chunk's headers into numpy columns (:mod:`columns`), and this module wraps them into one
DataFrame with nullable columns and shared address categories. Nothing here loops over packets
in Python. A big classic pcap is read by two processes, the caller and a forked
:mod:`worker`, each taking a part of the file; the rows are the same as one process reads.
Problems that cost packets (truncated or corrupt records) are kept as warnings: emitted as
:class:`CaptureWarning` and listed in ``df.attrs["warnings"]``, next to the rows that were read.
"""

from __future__ import annotations

import gc
import os
import sys
import threading
import warnings
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from netdebug_nb.errors import InputError
from netdebug_nb.pcap.columns import Columns
from netdebug_nb.pcap.decode import FAST_LINKTYPES
from netdebug_nb.pcap.formats import DEFAULT_CHUNK, Batch, CaptureWarning, PcapFormatError, Scan
from netdebug_nb.pcap.schema import PACKETS_SCHEMA
from netdebug_nb.pcap.worker import Worker, cpus

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    import pandas as pd

__all__ = ["FAST_LINKTYPES", "CaptureWarning", "PcapFormatError", "packet_bytes", "packet_records", "read"]


def read(
    path: str | Path,
    *,
    chunk_bytes: int = DEFAULT_CHUNK,
    linktypes: Collection[int] = FAST_LINKTYPES,
    max_packets: int | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """One row per packet of the pcap/pcapng (optionally gzip-compressed) file at ``path``.

    ``linktypes`` limits which link types get their network fields decoded (the others still get
    a row). ``max_packets`` stops early, for a quick look at a huge file. Raises
    :class:`PcapFormatError` when the file is not a capture; a damaged tail gives a warning.

    ``workers=2`` reads the second part of a classic pcap in a second process (see
    :mod:`netdebug_nb.pcap.worker`); the default does so with two CPUs for files of 64 MB and
    more, forked when this process has one thread, and for files of 192 MB and more started
    afresh when it has threads (a Jupyter kernel, whose threads make forking unsafe). The rows
    are the same either way.
    """
    from netdebug_nb.schema import empty

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "no such capture file" if not path.exists() else "not a regular file")
    plan = _split(path, workers, max_packets)
    worker: Worker | None = None
    if plan is not None:
        try:
            at, capacity, front, spawn = plan
            worker = Worker(path, at, capacity, linktypes, front=front, chunk_bytes=chunk_bytes, spawn=spawn)
        except OSError:  # no memory to share or no process to fork: read alone
            worker = None
        else:  # the DataFrame needs pandas: import it now, while the worker reads (see _split)
            _import_pandas()
    try:
        scan = Scan(path, chunk_bytes=chunk_bytes, end=worker.start if worker else None)
        scans = [scan]
        cols = _fill(scan, None, linktypes, max_packets, threads=worker is None)
        resume: int | None = None
        if worker is not None:
            if scan.ended == "end" and scan.stop_offset == worker.start:
                if cols is None:
                    cols = Columns(0)
                placed = worker.whole.put_before(cols, worker.front)  # while the worker reads on
                share, worker = worker.join(), None
                if share is None:  # the worker failed: read its part here
                    resume = scan.stop_offset
                else:
                    if placed:
                        cols = share.whole.around(share.front, cols, share.columns)
                    else:  # more rows than the room before the worker's: copy the worker's
                        cols.extend(share.columns)
                    scan.warnings.extend(share.warnings)
                    resume = share.stop_offset if share.ended == "full" else None
            elif scan.ended == "cut":  # the worker's start was not a record boundary
                worker.cancel()
                worker, resume = None, scan.stop_offset
        if resume is not None:
            rest = Scan(path, chunk_bytes=chunk_bytes, start=resume)
            scans.append(rest)
            cols = _fill(rest, cols, linktypes, None, threads=True)
    finally:
        if worker is not None:
            worker.cancel()
    df = empty(PACKETS_SCHEMA) if cols is None or not cols.n else _frame(cols)
    warned = [w for s in scans for w in s.warnings]
    df.attrs["path"] = str(path)
    df.attrs["format"] = scan.format
    df.attrs["warnings"] = warned
    for msg in warned:
        warnings.warn(msg, CaptureWarning, stacklevel=2)
    return df


# Below this size a second process costs more (fork, shared pages) than it saves.
PARALLEL_MIN_BYTES = 64 << 20
# A started (not forked) worker first imports numpy and the reader, ~0.1 s in which the caller
# reads this many bytes: below 3x that, it does not pay; above, it takes that much less.
_SPAWN_BYTES = 64 << 20
# Importing pandas costs the caller about as much as reading this many bytes of a capture, so
# when pandas is not imported yet the caller takes that much less of the file than the worker.
_PANDAS_BYTES = 208 << 20
_MAX_WORKER_ROWS = 8 << 20  # shared columns of ~1 GB address space; beyond, the caller reads on


def _import_pandas() -> None:
    """Import pandas (when this process has not yet) at a low cost for the rest of its life.

    The import creates ~100,000 objects that live until exit and are never garbage, yet they
    trigger several full collections during the import, make every later full collection walk
    them, and make interpreter exit walk them again (50 ms of a one-shot script's run). So the
    collector is paused during the import and the objects are then moved to the permanent
    generation (``gc.freeze``, as the ``gc`` docs suggest for objects made at start-up); garbage
    that existed before is collected first, so freezing keeps nothing alive that was not.
    """
    if "pandas" in sys.modules:
        return
    was = gc.isenabled()
    if was:
        gc.collect()
    gc.disable()
    try:
        import pandas  # noqa: F401
    finally:
        if was:
            gc.freeze()
            gc.enable()


def _split(path: Path, workers: int | None, max_packets: int | None) -> tuple[int, int, int, bool] | None:
    """(file offset where the worker starts, its row capacity, room for the caller's rows, whether
    the worker is started afresh rather than forked).

    None to read alone. Capacities assume records of 48 bytes or more (shorter ones, as in
    captures cut to a tiny snap length, fill them early and the caller reads the rest): they
    are address space, and only rows written take memory.
    """
    spawn = threading.active_count() > 1
    if max_packets is not None or not hasattr(os, "memfd_create" if spawn else "fork"):
        return None
    size = path.stat().st_size
    if workers is None:
        alone = cpus() < 2 or size < (3 * _SPAWN_BYTES if spawn else PARALLEL_MIN_BYTES)
        workers = 1 if alone else 2
    if workers < 2:
        return None
    head = (0 if "pandas" in sys.modules else _PANDAS_BYTES) - (_SPAWN_BYTES if spawn else 0)
    ours = min(max((size - head) // 2, size // 20), size - size // 4)  # the worker gets a quarter at least
    try:
        at = Scan(path).record_near(ours)
    except (OSError, InputError):
        return None  # the caller's own read reports what is wrong with the file
    if at is None or at >= size:
        return None
    return at, min((size - at) // 48 + 4096, _MAX_WORKER_ROWS), min(at // 48 + 4096, _MAX_WORKER_ROWS), spawn


def _fill(
    scan: Scan, cols: Columns | None, linktypes: Collection[int], max_packets: int | None, *, threads: bool
) -> Columns | None:
    """Decode the batches of ``scan`` into ``cols`` (created on the first batch if None).

    The walk is many small numpy steps (Python-bound, holds the GIL); decode is a few hundred
    big array operations that release it. With ``threads`` on a mapped file, batch k is decoded
    (and copied into the output columns) on a thread while batch k+1 is walked, so the two
    overlap on two cores (the mapping keeps batch k's pages until batch k+2 is asked for).
    """
    from concurrent.futures import ThreadPoolExecutor  # not at import: costs a script's start-up

    total = cols.n if cols is not None else 0
    pool: ThreadPoolExecutor | None = None
    pending: Future[None] | None = None
    try:
        for batch in scan.batches():
            if max_packets is not None and total + len(batch) > max_packets:
                for name in ("off", "caplen", "wirelen", "ts_ns", "iface", "linktype", "head"):
                    if getattr(batch, name) is not None:
                        setattr(batch, name, getattr(batch, name)[: max_packets - total])
            if cols is None:
                cols = Columns(_estimate(scan.path, batch, max_packets))
            if threads and scan.stable:
                if pool is None:
                    pool = ThreadPoolExecutor(1, thread_name_prefix="pcap-decode")
                if pending is not None:  # one batch in flight: its pages stay mapped until done
                    pending.result()
                pending = pool.submit(cols.add, batch, linktypes)
            else:  # the next chunk overwrites this batch's buffer: decode it now
                cols.add(batch, linktypes)
            total += len(batch)
            if max_packets is not None and total >= max_packets:
                break
        if pending is not None:
            pending.result()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return cols


def packet_bytes(path: str | Path, frames: Sequence[int]) -> list[bytes]:
    """Captured bytes of the given 1-based frame numbers, in the order asked.

    The analysis uses these with the ``l4_offset`` column to parse payloads (DNS) that the fast
    path does not decode. Reads the file again; cost is a scan without the decode.
    """
    return [data for data, _lt, _ts in packet_records(path, frames)]


def packet_records(path: str | Path, frames: Sequence[int]) -> list[tuple[bytes, int, int]]:
    """(captured bytes, link type, timestamp ns) of the given 1-based frame numbers, in that order."""
    path = Path(path)
    want = np.asarray(sorted(set(frames)), dtype=np.int64)
    found: dict[int, tuple[bytes, int, int]] = {}
    first = 1
    if len(want):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CaptureWarning)
            for batch in Scan(path).batches():
                n = len(batch)
                lo, hi = np.searchsorted(want, [first, first + n])
                for k in want[lo:hi].tolist():
                    i = k - first
                    o = int(batch.off[i])
                    data = batch.buf[o : o + int(batch.caplen[i])].tobytes()
                    found[k] = (data, int(batch.linktype[i]), int(batch.ts_ns[i]))
                first += n
                if hi >= len(want):
                    break
    missing = [k for k in frames if k not in found]
    if missing:
        raise InputError(path, f"no frame {missing[0]} in the capture ({first - 1} packets read)")
    return [found[k] for k in frames]


def _estimate(path: Path, first: Batch, max_packets: int | None) -> int:
    """Packets expected in the file, from the first batch's bytes per packet (+10%).

    Only sizes the output columns: more rows grow them, and memory never touched for rows that
    did not come is not resident.
    """
    n = len(first)
    if not n:
        return 1024
    span = int(first.off[-1] + first.caplen[-1] - first.off[0]) + 16 * n
    est = int(n * path.stat().st_size / max(span, 1) * 1.1) + 1024
    return min(est, max_packets) if max_packets is not None else est


def _frame(c: Columns) -> pd.DataFrame:
    import pandas as pd

    n = c.n
    a = {name: c.view(name) for name in c.arrays}

    def nullable(name: str) -> Any:
        return pd.arrays.IntegerArray(a[name], a[name + ".na"])

    ipv = a["ip_version"]
    src, dst = _addresses(pd, ipv, a["src4"], a["dst4"], a["src6"], a["dst6"])
    ts = pd.DatetimeIndex(a["ts_ns"].view("M8[ns]")).tz_localize("UTC")
    cols: dict[str, Any] = {
        "frame": np.arange(1, n + 1, dtype=np.int64),
        "ts": ts,
        "caplen": a["caplen"],
        "wirelen": a["wirelen"],
        "linktype": a["linktype"],
        "iface": a["iface"],
        "vlan": nullable("vlan"),
        "vlan_inner": nullable("vlan_inner"),
        "ip_version": nullable("ip_version"),
        "src": src,
        "dst": dst,
        "proto": nullable("proto"),
        "ttl": nullable("ttl"),
        "ip_id": nullable("ip_id"),
        "frag": pd.arrays.BooleanArray(a["frag"], a["frag.na"]),
        "sport": nullable("sport"),
        "dport": nullable("dport"),
        "tcp_flags": nullable("tcp_flags"),
        "tcp_seq": nullable("tcp_seq"),
        "tcp_ack": nullable("tcp_ack"),
        "tcp_win": nullable("tcp_win"),
        "payload_len": nullable("payload_len"),
        "icmp_type": nullable("icmp_type"),
        "icmp_code": nullable("icmp_code"),
        "l4_offset": nullable("l4_offset"),
        "file": np.zeros(n, dtype=np.uint16),
        "offset": a["offset"],
    }
    df: pd.DataFrame = pd.DataFrame(cols, copy=False)
    assert list(df.columns) == list(PACKETS_SCHEMA)
    return df


def _addresses(
    pd: Any,
    ipv: np.ndarray,
    src4: np.ndarray,
    dst4: np.ndarray,
    src6: np.ndarray,
    dst6: np.ndarray,
) -> tuple[Any, Any]:
    """src and dst as categoricals sharing one category list (so ``src == dst`` compares)."""
    import socket

    n = len(ipv)
    cats: list[str] = []
    is4 = ipv == 4
    if not is4.any():
        src_codes = np.full(n, -1, dtype=np.int32)
        dst_codes = np.full(n, -1, dtype=np.int32)
    else:
        # one hash pass over (src, dst) pairs, then over the few distinct pairs' addresses: half
        # the hashing of factorizing every src and dst, and no selecting of the IPv4 rows. The
        # categories come out in the same order (sources by first row, then destinations).
        other = ~is4
        key = src4.astype(np.uint64)  # in place from here: each new 8 MB array costs page faults
        key <<= np.uint64(32)
        key |= dst4
        np.putmask(key, other, key[int(is4.argmax())])  # other rows: any IPv4 pair, masked below
        row_pair, pairs = pd.factorize(key)
        pairs = np.asarray(pairs, dtype=np.uint64)
        k = len(pairs)
        addr, u4 = pd.factorize(
            np.concatenate([(pairs >> np.uint64(32)).astype(np.uint32), pairs.astype(np.uint32)])
        )
        addr = addr.astype(np.int32)
        src_codes = addr[:k][row_pair]
        dst_codes = addr[k:][row_pair]
        np.putmask(src_codes, other, -1)
        np.putmask(dst_codes, other, -1)
        cats.extend(socket.inet_ntoa(v.to_bytes(4, "big")) for v in u4.tolist())
    is6 = ipv == 6
    if is6.any():
        both = np.concatenate([src6, dst6])
        ch, uh = pd.factorize(both[:, 0])
        cl, ul = pd.factorize(both[:, 1])
        width = max(len(ul), 1)
        c6, u6 = pd.factorize(ch.astype(np.int64) * width + cl)
        m = int(is6.sum())
        src_codes[is6] = len(cats) + c6[:m]
        dst_codes[is6] = len(cats) + c6[m:]
        for key in u6.tolist():
            raw = int(uh[key // width]).to_bytes(8, "big") + int(ul[key % width]).to_bytes(8, "big")
            cats.append(socket.inet_ntop(socket.AF_INET6, raw))
    dtype = pd.CategoricalDtype(cats)
    return (
        pd.Categorical.from_codes(src_codes, dtype=dtype, validate=False),
        pd.Categorical.from_codes(dst_codes, dtype=dtype, validate=False),
    )
