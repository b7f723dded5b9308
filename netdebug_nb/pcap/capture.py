"""Live captures: run tcpdump for a bounded time or packet count into a file, then read it.

tcpdump writes the file (``-w``) so the capture is complete and replayable, and the same fast
reader loads it as for any other capture. Bounds are mandatory: a notebook must never capture
forever. Runs through :mod:`netdebug_nb.tools`, so a missing tcpdump or a missing NET_RAW
capability become the kit's usual errors.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from netdebug_nb import tools
from netdebug_nb.errors import ParameterTypeError, ToolFailedError, ToolPermissionError

if TYPE_CHECKING:
    import pandas as pd


def capture(
    out: str | Path | None = None,
    *,
    interface: str = "any",
    bpf: str = "",
    seconds: float = 10.0,
    packets: int | None = 10000,
    snaplen: int = 262144,
    prefix: Sequence[str] = (),
) -> Path:
    """Capture on ``interface`` until ``packets`` arrive or ``seconds`` pass; return the pcap path.

    ``interface="any"`` gives Linux cooked (SLL) frames from every interface. ``prefix`` runs
    tcpdump under another command (``ip netns exec NS``, ``nsenter -t PID -n``) to capture inside
    a pod's network namespace.
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
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=seconds)
    code = tools.stop(proc)
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
