"""The side of a fleet run that executes inside each node's Job (``netdebug-nb fleet exec``).

Run the notebook, then frame its run directory into stdout (the pod log), whatever happened:
a failed notebook still has a report worth collecting (its findings.json says ``failed``).

Mesh mode (``--fping-first``): fping runs here first, its raw output is saved as
``OUT/latency/fping.txt`` and the latency notebook reports on that file (its offline mode). The
notebook is unchanged, and the merge gets the raw per-probe data of every node, which it parses
with the latency package's own parser.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from netdebug_nb.errors import NetdebugError
from netdebug_nb.fleet import result

FPING_FILE = "fping.txt"


def execute(
    notebook: str,
    parameters: Mapping[str, Any],
    *,
    out: Path,
    stdout: TextIO,
    stderr: TextIO,
    timeout: float | None = None,
    limit: int = result.DEFAULT_LIMIT,
    fping_first: bool = False,
    peers: int = 0,
    run_id: str = "",
    peer_wait_s: float = 90.0,
) -> int:
    """0 when a result frame was written (even for a failed notebook), 1 otherwise."""
    from netdebug_nb import catalogue, runner

    params = dict(parameters)
    try:
        info = catalogue.find(notebook)
        name = info.name
    except NetdebugError as exc:
        stderr.write(f"netdebug-nb: error: {exc}\n")
        stdout.write(_error_frame(notebook, "notebook_not_found"))
        return 1
    if peers and run_id:
        params = with_peers(params, run_id, peers, peer_wait_s, stderr)
    if fping_first and name == "latency" and params.get("targets"):
        params = probe_first(params, out / name, stderr)
    try:
        runner.run(name, params, out=out, timeout=timeout)
    except NetdebugError as exc:
        stderr.write(f"netdebug-nb: {name}: {exc}\n")
    stderr.flush()
    rec = result.emit(out / name, stdout, limit=limit, name=name)
    return 0 if rec.ok else 1


def probe_first(params: dict[str, Any], run_dir: Path, stderr: TextIO) -> dict[str, Any]:
    """Run fping with the notebook's own parameters and switch the notebook to offline mode."""
    from netdebug_nb import catalogue
    from netdebug_nb.latency import fping
    from netdebug_nb.parameters import convert

    info = catalogue.find("latency")
    typed = {p.name: convert(p, params[p.name]) if p.name in params else p.default for p in info.parameters}
    try:
        text = fping.collect(
            list(typed["targets"]),
            count=int(typed["count"]),
            period_ms=int(typed["interval_ms"]),
            interval_ms=int(typed["spacing_ms"]),
            size_bytes=int(typed["size_bytes"]),
        )
    except NetdebugError as exc:  # the notebook will try itself and record why it could not
        stderr.write(f"netdebug-nb: fping: {exc}\n")
        return params
    run_dir.mkdir(parents=True, exist_ok=True)
    raw = run_dir / FPING_FILE
    raw.write_text(text, encoding="utf-8")
    rest = {k: v for k, v in params.items() if k != "targets"}
    return rest | {"fping_output": str(raw)}


def with_peers(
    params: dict[str, Any], run_id: str, expect: int, wait_s: float, stderr: TextIO
) -> dict[str, Any]:
    """Add the pod IPs of the run's other pods to ``targets`` (mesh with pods).

    Pod IPs exist only once pods run, after the Jobs were made, so each pod looks its peers up
    itself (list pods by the run's label: the read-only ServiceAccount may). It waits up to
    ``wait_s`` for ``expect`` peers and goes on with the ones it found.
    """
    import os

    from netdebug_nb.fleet.api import Api

    try:
        api = Api.connect(timeout_s=10)
        ips = peer_ips(
            api,
            os.environ.get("NETDEBUG_NAMESPACE", "netdebug"),
            run_id,
            os.environ.get("NETDEBUG_POD_NAME", ""),
            expect=expect,
            wait_s=wait_s,
        )
    except NetdebugError as exc:
        stderr.write(f"netdebug-nb: peers: {exc}\n")
        return params
    if len(ips) < expect:
        stderr.write(f"netdebug-nb: peers: {len(ips)} of {expect} peer pods had an IP after {wait_s:g} s\n")
    targets = [str(t) for t in params.get("targets") or []]
    return params | {"targets": list(dict.fromkeys(targets + ips))}


def peer_ips(
    api: Any, namespace: str, run_id: str, me: str, *, expect: int, wait_s: float, poll_s: float = 2.0
) -> list[str]:
    """IPs of the other pods of the run (sorted), once ``expect`` have one or ``wait_s`` passed."""
    import time

    from netdebug_nb.fleet import jobspec

    deadline = time.monotonic() + wait_s
    while True:
        items, _ = api.list(f"/api/v1/namespaces/{namespace}/pods", jobspec.run_selector(run_id))
        ips = sorted(
            {
                str(p["status"]["podIP"])
                for p in items
                if p["metadata"]["name"] != me
                and (p.get("status") or {}).get("podIP")
                and not (p.get("spec") or {}).get("hostNetwork")
            }
        )
        if len(ips) >= expect or time.monotonic() >= deadline:
            return ips
        time.sleep(poll_s)


def _error_frame(name: str, reason: str) -> str:
    from netdebug_nb.fleet import framing

    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "notebook"
    return framing.error_line(safe, reason) + "\n"
