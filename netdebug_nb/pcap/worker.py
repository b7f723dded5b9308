"""A worker process that reads the second part of a big classic pcap into shared memory.

The reader is numpy-bound and mostly holds the GIL (the record walk is many small array steps),
so a second thread gains little; a second process doubles the work done per second on two
cores. The worker reads the records from a file offset to the end of the file into
:class:`Columns` that live in a shared mapping, while the caller reads the part before it (and
imports pandas). The worker's start is only a guess at a record boundary: the caller uses the
worker's rows only if its own walk ends exactly there, so a wrong guess costs time, never a
wrong row. Anything that goes wrong in the worker makes the caller read that part itself.

A single-threaded caller forks (an anonymous shared mapping, nothing to import). A caller with
threads (a Jupyter kernel: its IOPub and heartbeat threads may hold locks at the fork) starts a
fresh ``python -c`` instead (``spawn``), which maps the same pages through a memfd it inherits;
its ~0.1 s of imports is why it takes a smaller share of the file (see the reader's ``_split``).
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import signal
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from netdebug_nb.pcap import heap
from netdebug_nb.pcap.columns import SPEC, V6, Columns
from netdebug_nb.pcap.formats import DEFAULT_CHUNK, Scan

if TYPE_CHECKING:
    import subprocess

_STATUS = 4096  # bytes of the mapping before the columns: status words, then warnings as JSON
_RUNNING, _DONE, _FAILED = 0, 1, 2
_ENDED = ("end", "cut", "truncated", "bad", "full")


@dataclass
class Share:
    """What the worker read: its rows, where it stopped and why, and its warnings."""

    columns: Columns  # the worker's rows: rows `front:` of `whole`
    whole: Columns
    front: int
    stop_offset: int  # file offset after the last record stored
    ended: str  # as Scan.ended, or "full": the shared columns filled up at stop_offset
    warnings: list[str] = field(default_factory=list)


class Worker:
    """Reads the records of ``path`` from byte ``start`` to the end of the file in a child process.

    The shared columns keep ``front`` rows free before the worker's rows, for the caller's rows
    (see :meth:`Columns.after`).
    """

    def __init__(
        self,
        path: Path,
        start: int,
        capacity: int,
        linktypes: Collection[int],
        *,
        front: int = 0,
        chunk_bytes: int = DEFAULT_CHUNK,
        spawn: bool = False,
    ) -> None:
        self.path = path
        self.start = start
        self.front = front
        self.pid = -1
        self._proc: subprocess.Popen[bytes] | None = None
        size = _size(front, capacity)
        if not spawn:
            self._mm = mmap.mmap(-1, size)
            self._status, self.whole, self.columns = _layout(self._mm, front, capacity)
            self.pid = os.fork()
            if self.pid == 0:  # pragma: no cover - runs in the child, reported through the mapping
                code = 1
                try:
                    _read_part(path, start, self._mm, linktypes, chunk_bytes, self.columns, self._status)
                    code = 0
                except BaseException:  # the caller reads this part itself
                    self._status[0] = _FAILED
                finally:
                    os._exit(code)
            return
        from netdebug_nb import tools

        fd = os.memfd_create("netdebug-pcap-worker", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            self._mm = mmap.mmap(fd, size)
            self._status, self.whole, self.columns = _layout(self._mm, front, capacity)
            args = [str(fd), str(path), str(start), str(front), str(capacity), str(chunk_bytes)]
            self._proc = tools.python(
                "from netdebug_nb.pcap import worker; worker._main()",
                [*args, ",".join(str(lt) for lt in sorted(linktypes))],
                pass_fds=(fd,),
            )
        finally:
            os.close(fd)  # the mapping (and the child's copy of the fd) keep the pages

    def join(self) -> Share | None:
        """Wait for the worker; its share, or None when it failed (the caller reads that part)."""
        if not self._wait():
            return None
        st = self._status
        if int(st[0]) != _DONE:
            return None
        n, n6, stop, ended, wlen = (int(v) for v in st[1:6])
        self.columns.n, self.columns.n6 = n, n6
        warnings = json.loads(bytes(self._mm[64 : 64 + wlen]).decode())
        return Share(self.columns, self.whole, self.front, stop, _ENDED[ended], warnings)

    def cancel(self) -> None:
        """Stop the worker (its share is not needed) and reap it."""
        if self._proc is not None:
            self._proc.kill()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._wait()

    def _wait(self) -> bool:
        if self._proc is not None:
            code, self._proc = self._proc.wait(), None
            return code == 0
        if self.pid <= 0:
            return False
        while True:
            try:
                _pid, status = os.waitpid(self.pid, 0)
                break
            except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler): trust the status words
                self.pid = -1
                return True
            except InterruptedError:  # pragma: no cover - PEP 475 retries this already
                continue
        self.pid = -1
        return os.waitstatus_to_exitcode(status) == 0


def cpus() -> int:
    """CPUs this process may run on (its affinity, e.g. a container's cpuset), at least 1."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _size(front: int, capacity: int) -> int:
    """Bytes of the shared mapping: status words, then every column, each cache-line aligned."""
    return _STATUS + Columns.nbytes(front + capacity) + 64 * (len(SPEC) + len(V6))


def _layout(mm: mmap.mmap, front: int, capacity: int) -> tuple[np.ndarray, Columns, Columns]:
    """(status words, all columns, the worker's columns) carved out of ``mm``, the same way in
    the caller and in a spawned worker."""
    status = np.frombuffer(mm, dtype=np.int64, count=8)
    used = [_STATUS]

    def carve(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        at = -(-used[0] // 64) * 64  # cache-line aligned
        n = int(np.prod(shape)) * dtype.itemsize
        used[0] = at + n
        return np.frombuffer(mm, dtype=dtype, count=int(np.prod(shape)), offset=at).reshape(shape)

    whole = Columns(front + capacity, alloc=carve)
    return status, whole, whole.tail(front)


def _read_part(
    path: Path,
    start: int,
    mm: mmap.mmap,
    linktypes: Collection[int],
    chunk_bytes: int,
    cols: Columns,
    status: np.ndarray,
) -> None:
    """The worker's job: records from ``start`` into ``cols``; how it ended into the status words."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C in a terminal ends the child quietly
    heap.keep()  # this process exits when done: its heap is not the user's
    scan = Scan(path, chunk_bytes=chunk_bytes, start=start)
    ended, stop = "", start
    for batch in scan.batches():
        if not cols.room(len(batch)):
            ended, stop = "full", batch.base + int(batch.off[0]) - scan.record_header
            break
        cols.add(batch, linktypes)
    else:
        ended, stop = scan.ended, scan.stop_offset
    text = json.dumps(scan.warnings).encode()
    room = _STATUS - 64
    if len(text) > room:  # never expected (reading stops at the first problem); keep it valid
        text = json.dumps([w[:200] for w in scan.warnings[:8]]).encode()[:room]
    mm[64 : 64 + len(text)] = text
    status[1:5] = (cols.n, cols.n6, stop, _ENDED.index(ended))
    status[5] = len(text)
    status[0] = _DONE


def _main() -> None:  # pragma: no cover - runs in the spawned worker, reported through the mapping
    """A spawned worker: ``FD PATH START FRONT CAPACITY CHUNK_BYTES LINKTYPES`` (see ``spawn``)."""
    fd, path, start, front, capacity, chunk_bytes = sys.argv[1:7]
    linktypes = [int(v) for v in sys.argv[7].split(",") if v]
    mm = mmap.mmap(int(fd), os.fstat(int(fd)).st_size)
    os.close(int(fd))
    status, _whole, cols = _layout(mm, int(front), int(capacity))
    try:
        _read_part(Path(path), int(start), mm, linktypes, int(chunk_bytes), cols, status)
    except BaseException:  # the caller reads this part itself
        status[0] = _FAILED
        raise SystemExit(1) from None
