"""The DNS part of a one-shot analysis (:func:`dns.read`, :func:`dns.transactions`) in a helper process.

Parsing DNS messages is Python code that holds the GIL, and it is independent of the TCP and
flow analysis that the caller runs meanwhile: on two CPUs a second process does it in the time
the caller needs for the rest (a busy node's capture: 0.4 s of 1.7 s at 1M packets). The helper
is a plain ``python -c`` (:func:`netdebug_nb.tools.python`), started before the capture is read
(:func:`start`) so that its imports overlap the read. Once the packet table exists it gets the
DNS candidate rows (a copy of a few columns) and the capture paths as a pickle in a memfd it
inherited, and a line on its stdin that says the job is there (or that there is none); it
answers with the two tables on its stdout. Anything that goes wrong there (no process, a
crash, a killed helper) makes :meth:`Job.result` compute them in the caller: the tables are the
same either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess
    from collections.abc import Sequence

    import pandas as pd

# below this many DNS candidates the helper's start (importing pandas) costs more than it saves
MIN_CANDIDATES = 20_000
# captures smaller than this hold too few DNS messages to be worth a helper
MIN_CAPTURE_BYTES = 64 << 20


class Job:
    """DNS messages and transactions of ``packets``: a helper's answer, or computed here."""

    def __init__(self, packets: pd.DataFrame, helper: Helper | None = None) -> None:
        from netdebug_nb.pcap import dns

        self.packets = packets
        self._proc: subprocess.Popen[bytes] | None = None
        if helper is None:
            return
        rows = dns._candidate_rows(packets)
        if int(rows.sum()) < MIN_CANDIDATES:
            helper.close()
            return
        self._proc = helper.give(
            packets[dns._READ_COLUMNS][rows], packets.attrs.get("files") or packets.attrs.get("path")
        )

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(``dns.read``, ``dns.transactions``) of the packets: the helper's, or computed here."""
        import pickle

        from netdebug_nb.pcap import dns, heap

        if self._proc is not None and self._proc.stdout is not None:
            try:
                got = pickle.load(self._proc.stdout)
                if self._proc.wait() == 0 and isinstance(got, tuple) and len(got) == 2:
                    self.close()
                    messages, transactions = got
                    heap.release()  # the unpickled tables came in pieces
                    return messages, transactions
            except (OSError, EOFError, pickle.UnpicklingError):
                pass
            self.close()
        messages = dns.read(None, self.packets)
        return messages, dns.transactions(messages)

    def close(self) -> None:
        """Stop a helper whose answer was not taken (the caller's analysis failed)."""
        _stop(self._proc)
        self._proc = None


class Helper:
    """The helper process, importing the analysis until :meth:`give` hands it a job."""

    def __init__(self) -> None:
        import subprocess

        from netdebug_nb import tools

        self._fd = os.memfd_create("netdebug-dns-job", os.MFD_CLOEXEC)
        try:
            self._proc: subprocess.Popen[bytes] | None = tools.python(
                "from netdebug_nb.pcap import dnsjob; dnsjob._serve()",
                [str(self._fd)],
                pass_fds=(self._fd,),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError:
            os.close(self._fd)
            raise

    def give(self, cand: pd.DataFrame, paths: Any) -> subprocess.Popen[bytes] | None:
        """Hand over the job; the process to read the answer from (None: it could not take it)."""
        import pickle

        proc, self._proc = self._proc, None
        try:
            with os.fdopen(self._fd, "wb") as job:  # ~10 MB for 100,000 candidates, no pipe to wait on
                pickle.dump((cand, paths), job, protocol=pickle.HIGHEST_PROTOCOL)
            assert proc is not None and proc.stdin is not None
            with proc.stdin as go:  # one line: the helper reads the job from the start of the memfd
                go.write(b"job\n")
        except (OSError, pickle.PicklingError, AssertionError):
            _stop(proc)
            return None
        return proc

    def close(self) -> None:
        """No job after all (few DNS packets, or the read failed): let the helper go."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with _quiet():
                os.close(self._fd)
            _stop(proc)


def start(paths: Sequence[Path], *, workers: int | None = None) -> Helper | None:
    """A helper for the one-shot analysis of ``paths``, when they are big enough and there are
    two CPUs; started now so that it imports while the capture is read."""
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        workers = 2 if cpus >= 2 else 1
    if workers < 2 or not hasattr(os, "memfd_create"):
        return None
    try:
        if sum(Path(p).stat().st_size for p in paths) < MIN_CAPTURE_BYTES:
            return None
        return Helper()
    except OSError:
        return None


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None:
        return
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with _quiet():
                stream.close()


def _quiet() -> Any:
    import contextlib

    return contextlib.suppress(OSError)


def _serve() -> None:  # pragma: no cover - runs in the helper; its answer is checked by the caller
    """The helper: waits for the line on stdin, reads the job from the memfd named in argv, and
    writes (messages, transactions) to stdout. No line (the caller has no job): it just ends."""
    import pickle
    import sys
    import warnings

    import pandas  # noqa: F401  # imported while the caller reads the capture

    from netdebug_nb.pcap import dns, heap

    heap.keep()  # this process exits when done: its heap is not the user's
    if sys.stdin.buffer.readline().strip() != b"job":
        return
    with os.fdopen(int(sys.argv[1]), "rb") as job:
        job.seek(0)
        cand, paths = pickle.load(job)
    if isinstance(paths, list):
        cand.attrs["files"] = paths
    elif paths:
        cand.attrs["path"] = paths
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the caller's own read has warned about the capture
        messages = dns.read(None, cand)
        out = (messages, dns.transactions(messages))
    pickle.dump(out, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
