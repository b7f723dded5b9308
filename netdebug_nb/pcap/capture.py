"""Live captures: run tcpdump for a bounded time or packet count into a file, then read it.

tcpdump writes the file (``-w``) so the capture is complete and replayable, and the same fast
reader loads it as for any other capture. Bounds are mandatory: a notebook must never capture
forever. Runs through :mod:`netdebug_nb.tools`, so a missing tcpdump or a missing NET_RAW
capability become the kit's usual errors.

While tcpdump runs, :func:`capture` reads the growing file (``-U``: each packet is written as it
arrives) and reports :class:`Progress` — packets, bytes, seconds left — to a callback;
:func:`display_progress` is one that redraws a line in the notebook. With
``keep_on_interrupt`` an interrupt (Ctrl-C, JupyterLab's *Interrupt kernel*) stops tcpdump the
way its own bounds do, and the packets captured so far are kept for the analysis.
"""

from __future__ import annotations

import contextlib
import html
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from netdebug_nb import tools
from netdebug_nb.errors import ParameterTypeError, ToolFailedError, ToolPermissionError

if TYPE_CHECKING:
    import pandas as pd

_PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": "<",
    b"\xa1\xb2\xc3\xd4": ">",
    b"\x4d\x3c\xb2\xa1": "<",
    b"\xa1\xb2\x3c\x4d": ">",
}


@dataclass(frozen=True, repr=False)
class Progress:
    """Where a running capture stands."""

    packets: int
    bytes: int  # of the capture file, headers included
    elapsed_s: float
    seconds: float  # the time bound
    packet_limit: int | None
    done: bool = False
    interrupted: bool = False

    @property
    def left_s(self) -> float:
        return max(self.seconds - self.elapsed_s, 0.0)

    def __str__(self) -> str:
        limit = f" of {self.packet_limit:,}" if self.packet_limit else ""
        size = _size(self.bytes)
        if self.interrupted:
            return f"capture interrupted after {self.elapsed_s:.0f} s: {self.packets:,} packets ({size}) kept"
        if self.done:
            return f"capture done in {self.elapsed_s:.0f} s: {self.packets:,}{limit} packets, {size}"
        return f"capturing: {self.packets:,}{limit} packets, {size}, {self.left_s:.0f} s left"

    __repr__ = __str__  # the notebook's text/plain view

    def _repr_html_(self) -> str:
        return f"<div class='netdebug-capture-progress'><code>{html.escape(str(self))}</code></div>"


class RecordCounter:
    """Counts the records of a classic pcap file as it grows (what ``tcpdump -w -U`` writes),
    reading only the bytes added since the last call; a record cut at the end waits."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.packets = 0
        self.size = 0
        self._order = ""

    def update(self) -> int:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:  # not created yet
            return self.packets
        self.size = self.offset + len(data)
        pos = 0
        if not self._order:
            if len(data) < 24:
                return self.packets
            self._order = _PCAP_MAGIC.get(data[:4], "?")
            pos = 24
        if self._order == "?":  # not a classic pcap: show bytes only
            return self.packets
        n, pos = count_records(data, pos, self._order)
        self.packets += n
        self.offset += pos
        return self.packets


def count_records(data: bytes, pos: int, order: str) -> tuple[int, int]:
    """Whole pcap records in ``data`` from ``pos``: (how many, where the first incomplete one starts)."""
    n = 0
    while pos + 16 <= len(data):
        (incl,) = struct.unpack_from(order + "I", data, pos + 8)
        if pos + 16 + incl > len(data):
            break
        pos += 16 + incl
        n += 1
    return n, pos


def display_progress() -> Callable[[Progress], None] | None:
    """A callback that redraws one line in the running notebook (None outside IPython)."""
    if "IPython" not in sys.modules:  # a kernel has it loaded; a script must not pay the import
        return None
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is None:
        return None
    handle: Any = None

    def show(p: Progress) -> None:
        nonlocal handle
        if handle is None:
            handle = display(p, display_id=True)
        else:
            handle.update(p)

    return show


def capture(
    out: str | Path | None = None,
    *,
    interface: str = "any",
    bpf: str = "",
    seconds: float = 10.0,
    packets: int | None = 10000,
    snaplen: int = 262144,
    prefix: Sequence[str] = (),
    progress: Callable[[Progress], None] | None = None,
    progress_every_s: float = 0.5,
    keep_on_interrupt: bool = False,
) -> Path:
    """Capture on ``interface`` until ``packets`` arrive or ``seconds`` pass; return the pcap path.

    ``interface="any"`` gives Linux cooked (SLL) frames from every interface. ``prefix`` runs
    tcpdump under another command (``ip netns exec NS``, ``nsenter -t PID -n``) to capture inside
    a pod's network namespace. ``progress`` is called every ``progress_every_s`` while tcpdump
    runs and once at the end. An interrupt always stops tcpdump cleanly (the file is flushed);
    with ``keep_on_interrupt`` it then returns the file instead of raising.
    """
    if seconds <= 0:
        raise ParameterTypeError("seconds", seconds, "a positive number of seconds")
    if packets is not None and packets <= 0:
        raise ParameterTypeError("packets", packets, "a positive packet count or None")
    path = (
        Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="netdebug-capture-")) / "capture.pcap"
    )
    argv = [*prefix, "tcpdump", "-i", interface, "-w", str(path), "-U", "-n", "-s", str(snaplen)]
    if packets is not None:
        argv += ["-c", str(packets)]
    if bpf:
        argv += [bpf]
    if not prefix:
        argv[0] = tools.which("tcpdump")
    proc = tools.start(argv)
    counter = RecordCounter(path)
    started = time.monotonic()
    interrupted = False
    try:
        while True:
            left = seconds - (time.monotonic() - started)
            if left <= 0:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=min(left, progress_every_s) if progress else left)
                break
            if progress:
                counter.update()
                progress(
                    Progress(counter.packets, counter.size, time.monotonic() - started, seconds, packets)
                )
    except KeyboardInterrupt:
        interrupted = True
        if not keep_on_interrupt:
            tools.stop(proc)
            raise
    except BaseException:
        tools.stop(proc)
        raise
    code = tools.stop(proc)
    if progress:
        counter.update()
        elapsed = time.monotonic() - started
        progress(
            Progress(
                counter.packets, counter.size, elapsed, seconds, packets, done=True, interrupted=interrupted
            )
        )
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code != 0 or not path.exists():
        if tools.looks_like_permission_problem(err):
            raise ToolPermissionError(
                "tcpdump", "NET_RAW", err.strip().splitlines()[-1] if err.strip() else ""
            )
        raise ToolFailedError("tcpdump", code, err or "no capture file written", argv)
    return path


def read_live(
    *,
    interface: str = "any",
    bpf: str = "",
    seconds: float = 10.0,
    packets: int | None = 10000,
    out: str | Path | None = None,
    prefix: Sequence[str] = (),
) -> pd.DataFrame:
    """:func:`capture` then :func:`netdebug_nb.pcap.reader.read`; ``df.attrs["path"]`` keeps the file."""
    from netdebug_nb.pcap.reader import read

    path = capture(out, interface=interface, bpf=bpf, seconds=seconds, packets=packets, prefix=prefix)
    return read(path)


def _size(n: int) -> str:
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
