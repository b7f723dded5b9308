"""Where the notebook's packets come from: a capture file, or a short live capture with tcpdump.

The notebook passes its parameters straight in; a run with neither a file nor an interface is a
usage mistake and fails with one line saying which parameter to set.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from netdebug_nb import tools
from netdebug_nb.errors import InputError, ToolError, ToolPermissionError, UsageError


class NoCaptureError(UsageError):
    """Neither a capture file nor an interface to capture on was given."""

    def __init__(self) -> None:
        super().__init__(
            "no capture given: set the parameter 'pcap' to a capture file "
            "(-p pcap FILE), or 'capture_interface' for a live capture (-p capture_interface eth0)"
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
) -> Path:
    """The capture file to analyse: ``pcap`` itself, or a fresh live capture."""
    if pcap and capture_interface:
        raise CaptureSourceError("capture_interface", "give either 'pcap' or 'capture_interface', not both")
    if pcap:
        path = Path(pcap).expanduser()
        if not path.exists():
            raise InputError(path, "no such capture file (parameter 'pcap')")
        if not path.is_file():
            raise InputError(path, "not a regular file (parameter 'pcap')")
        return path
    if not capture_interface:
        raise NoCaptureError()
    if capture_seconds <= 0 and capture_packets <= 0:
        raise CaptureSourceError("capture_seconds", "must be positive (or set capture_packets)")
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
    return out


def tcpdump_argv(out: Path, *, interface: str, bpf: str = "", packets: int = 0) -> list[str]:
    """The tcpdump command line for a live capture (full packets, written unbuffered)."""
    argv = ["tcpdump", "-i", interface, "-n", "-U", "-s", "0", "-w", str(out)]
    if packets > 0:
        argv += ["-c", str(packets)]
    if bpf.strip():
        argv.append(bpf)
    return argv


def live(out: Path, *, interface: str, bpf: str = "", seconds: float = 30.0, packets: int = 0) -> Path:
    """Capture on ``interface`` for ``seconds`` (or until ``packets``), writing ``out``."""
    tools.which("tcpdump")
    argv = tcpdump_argv(out, interface=interface, bpf=bpf, packets=packets)
    proc = tools.start(argv)
    deadline = time.monotonic() + (seconds if seconds > 0 else 24 * 3600)
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    exited_by_itself = proc.poll() is not None
    code = tools.stop(proc)
    if (exited_by_itself and code != 0) or not out.exists():
        stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if tools.looks_like_permission_problem(stderr):
            raise ToolPermissionError("tcpdump", tools.CAPABILITIES.get("tcpdump", "NET_RAW"), stderr.strip())
        raise CaptureFailedError(interface, code, stderr)
    return out
