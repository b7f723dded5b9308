"""A forked worker process that reads the second part of a big classic pcap into shared memory.

The reader is numpy-bound and mostly holds the GIL (the record walk is many small array steps),
so a second thread gains little; a second process doubles the work done per second on two
cores. The worker reads the records from a file offset to the end of the file into
:class:`Columns` that live in an anonymous shared mapping, while the caller reads the part
before it (and imports pandas). The worker's start is only a guess at a record boundary: the
caller uses the worker's rows only if its own walk ends exactly there, so a wrong guess costs
time, never a wrong row. Anything that goes wrong in the worker makes the caller read that part
itself.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import signal
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from netdebug_nb.pcap import heap
from netdebug_nb.pcap.columns import SPEC, V6, Columns
from netdebug_nb.pcap.formats import DEFAULT_CHUNK, Scan

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
    ) -> None:
        self.path = path
        self.start = start
        self.front = front
        arrays = len(SPEC) + len(V6)
        self._mm = mmap.mmap(-1, _STATUS + Columns.nbytes(front + capacity) + 64 * arrays)
        self._status = np.frombuffer(self._mm, dtype=np.int64, count=8)
        used = [_STATUS]

        def carve(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
            at = -(-used[0] // 64) * 64  # cache-line aligned
            n = int(np.prod(shape)) * dtype.itemsize
            used[0] = at + n
            return np.frombuffer(self._mm, dtype=dtype, count=int(np.prod(shape)), offset=at).reshape(shape)

        self.whole = Columns(front + capacity, alloc=carve)
        self.columns = self.whole.tail(front)
        self.pid = os.fork()
        if self.pid == 0:  # pragma: no cover - runs in the child, reported through the mapping
            code = 1
            try:
                self._run(linktypes, chunk_bytes)
                code = 0
            except BaseException:  # the caller reads this part itself
                self._status[0] = _FAILED
            finally:
                os._exit(code)

    def _run(self, linktypes: Collection[int], chunk_bytes: int) -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # Ctrl-C in a terminal ends the child quietly
        heap.keep()  # this process exits when done: its heap is not the user's
        scan = Scan(self.path, chunk_bytes=chunk_bytes, start=self.start)
        cols = self.columns
        ended, stop = "", self.start
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
        self._mm[64 : 64 + len(text)] = text
        self._status[1:5] = (cols.n, cols.n6, stop, _ENDED.index(ended))
        self._status[5] = len(text)
        self._status[0] = _DONE

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
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._wait()

    def _wait(self) -> bool:
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
