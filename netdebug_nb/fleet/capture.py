"""``netdebug-nb fleet capture``: synchronised tcpdump captures on several nodes, collected as fleet results.

The controller side (:func:`plan`, :func:`run`) reuses the fleet machinery unchanged: one Job per
node on the host network (NET_RAW/NET_ADMIN), created and watched by :mod:`.controller`, results
framed into the pod log and collected into ``DIR/<node>/capture/``. What is new is the pod's
command (``netdebug-nb fleet capture-exec``, :func:`execute`):

1. with ``--pod-ip`` (``--pod ns/name``), the interface is the pod's veth, found from the pod
   IP's route on the node (``ip -j route get``): no exec into the pod;
2. wait for the wall-clock start instant ``T0`` that the controller gave every Job, so all
   captures cover the same time (a pod that starts late says by how much);
3. tcpdump for ``--seconds`` with ``--snaplen``, stopped early when the file reaches
   ``--max-mb``, and cut at the last whole packet below that size ("truncated at N MB");
4. label the capture (``capture.json``): node, interface, T0, the actual start, and the node's
   clock state (chrony and timedatectl when visible in the pod, else the kernel's own NTP
   status via ``adjtimex``, which every container can read);
5. emit ``capture.pcap``, ``capture.json`` and a small ``findings.json`` as the fleet result.

The merge step then runs the ``capture_compare`` notebook over ``DIR``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from netdebug_nb.errors import NetdebugError, UsageError
from netdebug_nb.fleet import jobspec, result

NAME = "capture"  # the run directory on every node: DIR/<node>/capture/
PCAP = "capture.pcap"
META = "capture.json"
MERGE_NOTEBOOK = "capture_compare"
MB = 1024 * 1024


class CaptureSpecError(UsageError):
    """``fleet capture`` options that cannot work (no nodes, a bad --pod, sizes out of range)."""


@dataclass(frozen=True)
class CaptureOptions:
    interface: str = "any"
    bpf: str = ""
    seconds: float = 30.0
    snaplen: int = 256
    max_mb: float = 100.0
    start_in_s: float = 30.0  # T0 = now + this: time for every Job to be scheduled and started

    def validate(self) -> None:
        if not 0 < self.seconds <= 3600:
            raise CaptureSpecError(f"--seconds {self.seconds:g}: expected 0 < seconds <= 3600")
        if not 64 <= self.snaplen <= 262144:
            raise CaptureSpecError(f"--snaplen {self.snaplen}: expected 64..262144 bytes")
        if not 0 < self.max_mb <= 4096:
            raise CaptureSpecError(f"--max-mb {self.max_mb:g}: expected 0 < MB <= 4096")
        if self.start_in_s < 0:
            raise CaptureSpecError(f"--start-in {self.start_in_s:g}: must not be negative")


# --- controller side --------------------------------------------------------------------------


def job_options(copts: CaptureOptions, t0: float, **fields: Any) -> jobspec.JobOptions:
    """Job options for a capture run: host network, a deadline that covers the wait and the capture."""
    copts.validate()
    params = {
        "t0": f"{t0:.6f}",
        "interface": copts.interface,
        "filter": copts.bpf,
        "seconds": f"{copts.seconds:g}",
        "snaplen": str(copts.snaplen),
        "max_mb": f"{copts.max_mb:g}",
    }
    # the archive holds at most max_mb of capture (compressed it is smaller) and a little JSON
    limit = int(copts.max_mb * MB) + MB
    timeout = int(copts.start_in_s + copts.seconds + 60)
    from netdebug_nb.fleet.controller import new_run_id

    return jobspec.JobOptions(
        notebook=NAME,
        run_id=new_run_id(),
        parameters=params,
        host_network=True,
        mode="capture",
        result_limit=limit,
        timeout_s=timeout,
        **fields,
    )


def pod_target(api: Any, spec: str) -> tuple[str, str, str]:
    """``ns/name`` → (namespace/name, node, pod IP) from the API."""
    ns, _, name = spec.partition("/")
    if not ns or not name:
        raise CaptureSpecError(f"--pod {spec!r}: expected NAMESPACE/NAME")
    from netdebug_nb.fleet.api import ApiError

    try:
        pod = api.get_json(f"/api/v1/namespaces/{ns}/pods/{name}", what=f"get pod {spec}")
    except ApiError as exc:
        raise CaptureSpecError(f"--pod {spec}: {exc}") from exc
    node = str((pod.get("spec") or {}).get("nodeName") or "")
    ip = str((pod.get("status") or {}).get("podIP") or "")
    if not node or not ip:
        raise CaptureSpecError(
            f"--pod {spec}: not running on a node with an IP yet (node {node!r}, IP {ip!r})"
        )
    if (pod.get("spec") or {}).get("hostNetwork"):
        raise CaptureSpecError(f"--pod {spec}: uses the host network; capture its node's interface instead")
    return f"{ns}/{name}", node, ip


def run(
    api: Any,
    copts: CaptureOptions,
    fopts: Any,
    out: Path,
    *,
    pod: str = "",
    job_fields: Mapping[str, Any] | None = None,
    on_start: Any = None,
    on_progress: Any = None,
    clock: Any = time.time,
) -> Any:
    """Capture on the selected nodes (and the ``pod``'s veth on its node); compare; index."""
    import dataclasses

    from netdebug_nb.fleet import controller

    names: list[str] = []
    per_node: dict[str, dict[str, Any]] = {}
    if fopts.nodes:
        names = [n.name for n in controller.select_nodes(api, fopts.nodes)]
    if pod:
        label, node, ip = pod_target(api, pod)
        if node not in names:
            names.append(node)
        per_node[node] = {"pod_ip": ip, "label": f"{label}@{node}"}
    if not names:
        raise CaptureSpecError("fleet capture: no nodes (give --nodes and/or --pod)")
    fopts = dataclasses.replace(
        fopts, nodes=",".join(names), node_parameters=per_node, merge_notebook=MERGE_NOTEBOOK,
        merge_parameters={"captures": [str(out.resolve())]},
    )  # fmt: skip
    t0 = clock() + copts.start_in_s
    job = job_options(copts, t0, **dict(job_fields or {}))
    return controller.run(api, job, fopts, out, on_start=on_start, on_progress=on_progress)


def summary(out: Path) -> list[str]:
    """One line per collected capture (for the CLI): node, interface, packets, size, notes."""
    lines = []
    for meta_path in sorted(out.glob(f"*/{NAME}/{META}")):
        with contextlib.suppress(OSError, ValueError):
            m = json.loads(meta_path.read_text(encoding="utf-8"))
            note = f", {m['note']}" if m.get("note") else ""
            lines.append(
                f"{m.get('label') or m.get('node')}: {m.get('interface')} {m.get('bytes', 0) / MB:.1f} MB"
                f"{note}; clock: {m.get('clock') or 'unknown'}"
            )
    return lines


# --- pod side ---------------------------------------------------------------------------------


def execute(
    *,
    out: Path,
    stdout: TextIO,
    stderr: TextIO,
    t0: float | None,
    interface: str = "any",
    bpf: str = "",
    seconds: float = 30.0,
    snaplen: int = 256,
    max_mb: float = 100.0,
    pod_ip: str = "",
    label: str = "",
    limit: int = result.DEFAULT_LIMIT,
    node: str | None = None,
    clock: Any = time.time,
    sleep: Any = time.sleep,
) -> int:
    """Wait for T0, capture, cut, label, emit. 0 when a result frame was written."""
    import os

    run_dir = out / NAME
    run_dir.mkdir(parents=True, exist_ok=True)
    node = node if node is not None else os.environ.get("NETDEBUG_NODE_NAME", "") or os.uname().nodename
    meta: dict[str, Any] = {"node": node, "label": label or node, "interface": interface, "filter": bpf,
                            "snaplen": snaplen, "seconds": seconds, "max_mb": max_mb, "pod_ip": pod_ip}  # fmt: skip
    errors: list[str] = []
    try:
        if pod_ip:
            interface = interface_for(pod_ip)
            meta["interface"] = interface
        meta["clock"] = clock_state()
        if t0 is not None:
            meta["t0"] = _iso(t0)
            wait = t0 - clock()
            if wait > 0:
                sleep(wait)
            else:
                meta["late_s"] = round(-wait, 3)
        meta["started"] = _iso(clock())
        pcap = run_dir / PCAP
        stopped_at_size = record(pcap, interface=interface, bpf=bpf, seconds=seconds, snaplen=snaplen,
                                 max_bytes=int(max_mb * MB))  # fmt: skip
        kept, packets = cut(pcap, int(max_mb * MB))
        meta["bytes"], meta["packets"] = kept, packets
        if stopped_at_size or kept < pcap.stat().st_size:
            meta["note"] = f"truncated at {max_mb:g} MB"
        with contextlib.suppress(OSError):
            os.truncate(pcap, kept)
    except NetdebugError as exc:
        errors.append(str(exc))
        stderr.write(f"netdebug-nb: fleet capture: {exc}\n")
    meta["error"] = errors[0] if errors else None
    (run_dir / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _findings(run_dir, meta)
    stderr.flush()
    rec = result.emit(run_dir, stdout, limit=limit, name=NAME)
    return 0 if rec.ok and not errors else 1


def interface_for(ip: str) -> str:
    """The interface the node routes ``ip`` through (a pod IP: the pod's veth)."""
    from netdebug_nb import tools

    done = tools.run(["ip", "-j", "route", "get", ip], timeout=10)
    try:
        routes = json.loads(done.stdout)
        dev = str(routes[0]["dev"])
    except (ValueError, LookupError, TypeError) as exc:
        raise CaptureSpecError(f"--pod-ip {ip}: no route on this node ({done.stdout.strip()[:100]})") from exc
    return dev


def record(pcap: Path, *, interface: str, bpf: str, seconds: float, snaplen: int, max_bytes: int) -> bool:
    """tcpdump into ``pcap`` for ``seconds``; True when stopped early because the file reached ``max_bytes``."""
    import subprocess

    from netdebug_nb import tools
    from netdebug_nb.errors import ToolFailedError, ToolPermissionError

    argv = ["tcpdump", "-i", interface, "-w", str(pcap), "-U", "-n", "-s", str(snaplen)]
    if bpf:
        argv.append(bpf)
    proc = tools.start(argv)
    deadline = time.monotonic() + seconds
    full = False
    while time.monotonic() < deadline:
        try:
            proc.wait(timeout=min(0.2, max(deadline - time.monotonic(), 0.01)))
            break
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(OSError):
            if pcap.stat().st_size >= max_bytes:
                full = True
                break
    code = tools.stop(proc)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code != 0 or not pcap.exists():
        if tools.looks_like_permission_problem(err):
            raise ToolPermissionError(
                "tcpdump", "NET_RAW", err.strip().splitlines()[-1] if err.strip() else ""
            )
        raise ToolFailedError("tcpdump", code, err or "no capture file written", argv)
    return full


def cut(pcap: Path, max_bytes: int) -> tuple[int, int]:
    """(bytes, packets) of the longest prefix of whole records of ``pcap`` within ``max_bytes``."""
    import warnings

    import numpy as np

    from netdebug_nb.pcap.formats import CaptureWarning, Scan

    size = pcap.stat().st_size
    scan = Scan(pcap)
    end, packets = 24, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CaptureWarning)
        for batch in scan.batches():
            ends = batch.base + batch.off + batch.caplen
            fit = int(np.searchsorted(ends, max_bytes, side="right"))
            if fit:
                end, packets = int(ends[fit - 1]), packets + fit
            if fit < len(ends):
                return end, packets
    if scan.format != "pcap":
        return min(size, max_bytes), packets
    return (end if size > max_bytes or scan.ended != "end" else size), packets


def clock_state() -> str:
    """How well this node's clock is synchronised, from what the pod can see."""
    from netdebug_nb import tools

    parts: list[str] = []
    with contextlib.suppress(NetdebugError):
        text = tools.run(["chronyc", "-n", "tracking"], timeout=5).stdout
        fields = dict(ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
        want = ("Reference ID", "System time", "Leap status")
        parts.append("chrony: " + "; ".join(f"{k} {fields[k].strip()}" for k in want if k in fields))
    with contextlib.suppress(NetdebugError):
        text = tools.run(["timedatectl", "show"], timeout=5).stdout
        kv = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln)
        if "NTPSynchronized" in kv:
            parts.append(f"timedatectl: NTPSynchronized={kv['NTPSynchronized']}")
    kernel = kernel_clock()
    if kernel:
        parts.append(kernel)
    return " | ".join(parts) or "unknown (no chrony, timedatectl or adjtimex visible)"


def kernel_clock() -> str:
    """The kernel's NTP state (``adjtimex`` read-only): synchronised or not, and its error bounds."""
    import ctypes
    import ctypes.util

    class Timeval(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]

    class Timex(ctypes.Structure):
        _fields_ = [
            ("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
            ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
            ("constant", ctypes.c_long), ("precision", ctypes.c_long), ("tolerance", ctypes.c_long),
            ("time", Timeval), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
            ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
            ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
            ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("pad", ctypes.c_int * 11),
        ]  # fmt: skip

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        tx = Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return ""
    if state < 0:
        return ""
    unsync = bool(tx.status & 0x0040) or state == 5  # STA_UNSYNC / TIME_ERROR
    return (
        f"kernel: {'NOT synchronised' if unsync else 'synchronised'} "
        f"(max error {tx.maxerror / 1000:.1f} ms, estimated error {tx.esterror / 1000:.3f} ms)"
    )


def _findings(run_dir: Path, meta: Mapping[str, Any]) -> None:
    """A findings.json so the incident index lists each node's capture and its problems."""
    items: list[dict[str, Any]] = []
    if meta.get("error"):
        items.append({"id": "fleet.capture_failed", "severity": "critical", "title": f"{meta['node']}: no capture",
                      "detail": str(meta["error"]), "evidence": {"node": meta["node"]}})  # fmt: skip
    else:
        items.append({"id": "fleet.capture", "severity": "info",
                      "title": f"{meta['label']}: {meta.get('packets', 0)} packets on {meta['interface']}",
                      "detail": f"clock: {meta.get('clock')}", "evidence": dict(meta)})  # fmt: skip
    if meta.get("note"):
        items.append({"id": "fleet.capture_truncated", "severity": "warning",
                      "title": f"{meta['label']}: capture {meta['note']}",
                      "detail": "raise --max-mb or narrow --filter / --snaplen", "evidence": {"max_mb": meta["max_mb"]}})  # fmt: skip
    if meta.get("late_s"):
        items.append({"id": "fleet.capture_late", "severity": "warning",
                      "title": f"{meta['label']}: started {meta['late_s']} s after T0",
                      "detail": "raise --start-in: the pod started after the common start instant",
                      "evidence": {"late_s": meta["late_s"]}})  # fmt: skip
    if "NOT synchronised" in str(meta.get("clock") or ""):
        items.append({"id": "fleet.clock_unsynchronised", "severity": "warning",
                      "title": f"{meta['node']}: the clock is not synchronised",
                      "detail": str(meta.get("clock")), "evidence": {"node": meta["node"]}})  # fmt: skip
    doc = {
        "notebook": NAME,
        "parameters": {
            k: meta.get(k) for k in ("interface", "filter", "seconds", "snaplen", "max_mb", "pod_ip")
        },
        "status": "failed" if meta.get("error") else "ok",
        "error": meta.get("error"),
        "started": meta.get("started"),
        "duration_s": meta.get("seconds"),
        "findings": items,
    }
    (run_dir / "findings.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="milliseconds")


def parse_t0(text: str) -> float:
    """``--t0``: seconds since the epoch, or an ISO 8601 time."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise CaptureSpecError(f"--t0 {text!r}: expected seconds since the epoch or ISO 8601") from exc
