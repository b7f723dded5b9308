"""The one place that runs external programs (fping, mtr, tcpdump, ip, ss, dig, iperf3 ...).

Everything else in the kit is a pure function of the text or bytes these calls return, so it can
be tested from recorded outputs. This module turns the usual ways a tool run goes wrong into the
kit's errors: not installed (which Debian package to install), not permitted (which capability
the pod needs), timed out, failed (with the last stderr line).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NoReturn

from netdebug_nb.errors import (
    ToolFailedError,
    ToolNotFoundError,
    ToolPermissionError,
    ToolTimeoutError,
)

#: Debian package that provides each tool, for the "not found" hint.
PACKAGES: Mapping[str, str] = {
    "fping": "fping",
    "mtr": "mtr-tiny",
    "tcpdump": "tcpdump",
    "tshark": "tshark",
    "capinfos": "wireshark-common",
    "dig": "bind9-dnsutils",
    "drill": "ldnsutils",
    "ip": "iproute2",
    "ss": "iproute2",
    "tc": "iproute2",
    "conntrack": "conntrack",
    "iptables": "iptables",
    "iptables-save": "iptables",
    "iptables-legacy-save": "iptables",
    "iptables-nft-save": "iptables",
    "ip6tables-save": "iptables",
    "nft": "nftables",
    "ipvsadm": "ipvsadm",
    "nmap": "nmap",
    "nc": "netcat-openbsd",
    "iperf3": "iperf3",
    "ethtool": "ethtool",
    "dnsmasq": "dnsmasq-base",
}

#: Capability a tool needs when it reports a permission problem.
CAPABILITIES: Mapping[str, str] = {
    "fping": "NET_RAW",
    "mtr": "NET_RAW",
    "mtr-packet": "NET_RAW",
    "tcpdump": "NET_RAW",
    "nmap": "NET_RAW",
    "ping": "NET_RAW",
    "conntrack": "NET_ADMIN",
    "iptables": "NET_ADMIN",
    "iptables-save": "NET_ADMIN",
    "nft": "NET_ADMIN",
    "ipvsadm": "NET_ADMIN",
}

_PERMISSION_MARKERS = (
    "operation not permitted",
    "permission denied",
    "you don't have permission",
    "can't create raw socket",
    "you need to be root",
    "must be root",
    "must run as root",
    "can't create socket",
    "requires root",
)


@dataclass(frozen=True)
class Completed:
    """What a finished tool run produced."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float


def which(tool: str) -> str:
    """Absolute path of ``tool`` or :class:`ToolNotFoundError` naming the package to install."""
    path = shutil.which(tool) or next(
        (str(p) for d in ("/usr/sbin", "/sbin") if (p := Path(d) / tool).is_file() and os.access(p, os.X_OK)),
        None,
    )
    if path is None:
        raise ToolNotFoundError(tool, PACKAGES.get(tool))
    return path


def available(tool: str) -> bool:
    try:
        which(tool)
    except ToolNotFoundError:
        return False
    return True


def looks_like_permission_problem(text: str) -> bool:
    low = text.lower()
    return any(m in low for m in _PERMISSION_MARKERS)


def run(
    argv: Sequence[str],
    *,
    timeout: float = 60.0,
    ok_codes: Sequence[int] = (0,),
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run ``argv`` to completion and return its output as text.

    A return code outside ``ok_codes`` raises :class:`ToolFailedError`, or
    :class:`ToolPermissionError` when stderr says the tool lacked privileges. Many network tools
    use non-zero codes for "some targets unreachable" (fping: 1, 2): callers pass ``ok_codes``.
    """
    tool = Path(argv[0]).name
    exe = which(argv[0]) if "/" not in argv[0] else argv[0]
    full_env = None if env is None else {**os.environ, **env}
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [exe, *argv[1:]],
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            env=full_env,
            start_new_session=True,
        )
    except PermissionError as exc:
        raise ToolPermissionError(tool, CAPABILITIES.get(tool, "NET_RAW"), str(exc)) from exc
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(proc)
        raise ToolTimeoutError(tool, timeout) from exc
    except BaseException:
        _kill_group(proc)
        raise
    done = Completed(tuple(argv), proc.returncode, out, err, time.monotonic() - start)
    if proc.returncode not in ok_codes:
        if looks_like_permission_problem(err):
            raise ToolPermissionError(tool, CAPABILITIES.get(tool, "NET_ADMIN"), _last_line(err))
        raise ToolFailedError(tool, proc.returncode, err, argv)
    return done


def start(
    argv: Sequence[str],
    *,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.PIPE,
    env: Mapping[str, str] | None = None,
    cwd: str | Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-running tool (a live capture, a kernel) in its own process group; see :func:`stop`."""
    exe = which(argv[0]) if "/" not in argv[0] else argv[0]
    return subprocess.Popen(
        [exe, *argv[1:]],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        env=env,
        cwd=cwd,
    )


def stop(proc: subprocess.Popen[bytes], *, grace_s: float = 5.0) -> int:
    """Ask a started tool to finish (SIGINT lets tcpdump flush its file), then make sure it does."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
    return proc.wait()


def python(
    code: str,
    args: Sequence[str] = (),
    *,
    pass_fds: Sequence[int] = (),
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start this interpreter on ``python -c code args...``: a helper process of the kit's own.

    Not forked (a Jupyter kernel's threads may hold locks at the fork) and not through
    multiprocessing (which re-imports the caller's ``__main__``: a script without a main guard
    would start itself again). ``-P``: the working directory is not put on ``sys.path``, so a
    ``pandas.py`` next to the user's notebook cannot stand in for the real one. ``pass_fds`` are
    inherited (a memfd to share pages with).
    """
    return subprocess.Popen(
        [sys.executable, "-P", "-c", code, *args],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        pass_fds=tuple(pass_fds),
    )


def replace(argv: Sequence[str], env: Mapping[str, str]) -> NoReturn:
    """Become ``argv`` (exec) with ``env`` added: for a server the command only starts, so that
    signals (a pod's SIGTERM, Ctrl-C) and the exit status are the server's own."""
    exe = which(argv[0]) if "/" not in argv[0] else argv[0]
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(exe, [exe, *argv[1:]], {**os.environ, **env})


def _kill_group(proc: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _last_line(text: str) -> str:
    return next((ln.strip() for ln in reversed(text.strip().splitlines()) if ln.strip()), "")
