"""Where the notebook's packets come from: capture files (a set), or a short live capture with tcpdump.

The notebook passes its parameters straight in; a run with neither a file nor an interface is a
usage mistake and fails with one line saying which parameter to set.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from netdebug_nb.errors import InputError, ToolError, ToolFailedError, UsageError


class NoCaptureError(UsageError):
    """Neither a capture file nor an interface to capture on was given."""

    def __init__(self) -> None:
        super().__init__(
            "no capture given: set the parameter 'pcap' to a capture file, directory, glob or "
            "comma-separated list (-p pcap FILE), or 'capture_interface' for a live capture (-p capture_interface eth0)"
        )


class CaptureFailedError(ToolError):
    """tcpdump could not capture (no such interface, bad filter ...)."""

    def __init__(self, interface: str, returncode: int, stderr: str) -> None:
        self.interface = interface
        self.returncode = returncode
        self.stderr = stderr
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
        useful = [ln for ln in lines if "listening on" not in ln and "data link type" not in ln]
        why = useful[0] if useful else f"exited with status {returncode}"
        super().__init__(
            f"tcpdump on {interface!r} (parameter 'capture_interface'): {why.removeprefix('tcpdump: ')}",
            tool="tcpdump",
        )


class CaptureSourceError(UsageError):
    """The capture parameters contradict each other or are out of range."""

    def __init__(self, parameter: str, reason: str) -> None:
        self.parameter = parameter
        super().__init__(f"parameter {parameter!r}: {reason}")


def obtain(
    pcap: str,
    *,
    capture_interface: str = "",
    capture_filter: str = "",
    capture_seconds: float = 30.0,
    capture_packets: int = 0,
    capture_file: str = "",
) -> list[Path]:
    """The capture files to analyse: what ``pcap`` names (see :func:`captureset.resolve`), or a live capture.

    A directory written by ``netdebug-nb pcap export`` is returned as itself (one item).
    """
    from netdebug_nb.pcap import captureset, dataset

    if pcap and capture_interface:
        raise CaptureSourceError("capture_interface", "give either 'pcap' or 'capture_interface', not both")
    if pcap:
        if dataset.is_dataset(Path(pcap).expanduser()):
            return [Path(pcap).expanduser()]
        try:
            return captureset.resolve(pcap)
        except InputError as exc:
            raise InputError(exc.source, f"{exc.reason} (parameter 'pcap')") from exc
    if not capture_interface:
        raise NoCaptureError()
    if capture_seconds <= 0:
        raise CaptureSourceError(
            "capture_seconds", f"must be positive (a live capture is bounded), got {capture_seconds}"
        )
    if capture_packets < 0:
        raise CaptureSourceError(
            "capture_packets", f"must be 0 (no limit) or positive, got {capture_packets}"
        )
    out = (
        Path(capture_file) if capture_file else Path(tempfile.mkdtemp(prefix="netdebug-pcap-")) / "live.pcap"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    live(
        out,
        interface=capture_interface,
        bpf=capture_filter,
        seconds=capture_seconds,
        packets=capture_packets,
    )
    return [out]


def live(out: Path, *, interface: str, bpf: str = "", seconds: float = 30.0, packets: int = 0) -> Path:
    """Capture on ``interface`` for ``seconds`` (or until ``packets``), writing ``out``.

    The capture itself is :func:`netdebug_nb.pcap.capture.capture`; a failure is reported
    against the notebook parameter that caused it. In a notebook it shows its progress, and
    interrupting the kernel ends it early with the packets captured so far kept for the analysis.
    """
    from netdebug_nb.pcap import capture

    try:
        return capture.capture(
            out,
            interface=interface,
            bpf=bpf,
            seconds=seconds,
            packets=packets or None,
            progress=capture.display_progress(),
            keep_on_interrupt=True,
        )
    except ToolFailedError as exc:
        raise CaptureFailedError(interface, exc.returncode, exc.stderr) from exc
