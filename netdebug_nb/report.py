"""An incident: a directory of runs turned into one index page, one merged findings file, and
optionally a tarball to hand to someone else.

A run is any directory holding a ``findings.json`` written by the runner (``DIR/NOTEBOOK/`` for
local runs, ``DIR/<node>/NOTEBOOK/`` for fleet runs), so runs made elsewhere can be dropped in.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netdebug_nb.errors import InputError, OutputDirError
from netdebug_nb.findings import SEVERITIES

INDEX = "index.html"
MERGED = "findings.json"


@dataclass(frozen=True)
class Run:
    path: Path  # relative to the incident directory
    doc: dict[str, Any]

    @property
    def label(self) -> str:
        return str(self.path)


def collect(incident: Path) -> list[Run]:
    """Every run below ``incident`` (its own merged findings.json excluded), in path order."""
    if not incident.is_dir():
        raise InputError(incident, "not a directory of runs")
    runs = []
    for fj in sorted(incident.rglob("findings.json")):
        if fj.parent == incident:
            continue
        try:
            doc = json.loads(fj.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(fj, f"unreadable run result: {exc}") from exc
        if not isinstance(doc, dict) or "findings" not in doc:
            raise InputError(fj, "not a netdebug findings.json (no 'findings')")
        runs.append(Run(fj.parent.relative_to(incident), doc))
    return runs


def merge(runs: list[Run], *, incident: str) -> dict[str, Any]:
    merged: list[dict[str, Any]] = []
    for run in runs:
        for f in run.doc.get("findings", []):
            merged.append({**f, "run": run.label, "notebook": run.doc.get("notebook")})
    merged.sort(key=lambda f: (_sev_rank(f.get("severity")), f.get("id", ""), f["run"]))
    return {
        "incident": incident,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "status": status(runs),
        "runs": [
            {
                "run": r.label,
                "notebook": r.doc.get("notebook"),
                "status": r.doc.get("status"),
                "error": r.doc.get("error"),
                "inconclusive": _inconclusive(r.doc),
                "started": r.doc.get("started"),
                "duration_s": r.doc.get("duration_s"),
                "parameters": r.doc.get("parameters", {}),
                "findings": len(r.doc.get("findings", [])),
            }
            for r in runs
        ],
        "findings": merged,
    }


def status(runs: list[Run]) -> str:
    """The incident's status: ``failed`` if any run failed, else ``inconclusive`` if any measured
    nothing it was asked to, else ``ok`` (no run: ``ok``, there is nothing to doubt)."""
    got = {str(r.doc.get("status")) for r in runs}
    if got - {"ok", "inconclusive"}:
        return "failed"
    return "inconclusive" if "inconclusive" in got else "ok"


def _inconclusive(doc: Mapping[str, Any]) -> list[str]:
    """Titles of the findings that made a run inconclusive (what could not be measured)."""
    return [str(f.get("title", f.get("id"))) for f in doc.get("findings", []) if f.get("inconclusive")]


def build(incident: Path, *, bundle: bool = False) -> Path:
    """Write ``index.html`` and the merged ``findings.json``; with ``bundle`` also ``DIR.tar.gz``."""
    incident = incident.resolve()
    runs = collect(incident)
    doc = merge(runs, incident=incident.name)
    try:
        (incident / MERGED).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (incident / INDEX).write_text(render(doc, runs), encoding="utf-8")
    except OSError as exc:
        raise OutputDirError(incident, exc.strerror or str(exc)) from exc
    if bundle:
        write_bundle(incident)
    return incident / INDEX


def write_bundle(incident: Path) -> Path:
    target = incident.with_name(incident.name + ".tar.gz")
    with tarfile.open(target, "w:gz") as tar:
        tar.add(incident, arcname=incident.name)
    return target


def _sev_rank(sev: Any) -> int:
    return SEVERITIES.index(sev) if sev in SEVERITIES else len(SEVERITIES)


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:75em;color:#222}
table{border-collapse:collapse;width:100%;margin:1em 0}th,td{border-bottom:1px solid #ddd;padding:.35em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}.critical{color:#b00020;font-weight:bold}
.warning{color:#b26a00;font-weight:bold}.info{color:#1f5fa8}.failed{color:#b00020;font-weight:bold}.ok{color:#2e7d32}
.inconclusive{color:#6a3d9a;font-weight:bold}
code{background:#f5f5f5;padding:0 .2em}.muted{color:#777;font-size:90%}
"""


def render(doc: Mapping[str, Any], runs: list[Run]) -> str:
    e = html.escape
    counts = {s: sum(1 for f in doc["findings"] if f.get("severity") == s) for s in SEVERITIES}
    run_rows = []
    for r in runs:
        nb = str(r.doc.get("notebook", ""))
        links = " ".join(
            f"<a href='{e(str(r.path / fn))}'>{label}</a>"
            for fn, label in (
                (f"{nb}.html", "report"),
                (f"{nb}.ipynb", "notebook"),
                ("findings.json", "json"),
            )
        )
        status = str(r.doc.get("status"))
        err = f"<div class='muted'>{e(str(r.doc.get('error') or ''))}</div>" if r.doc.get("error") else ""
        if status == "inconclusive":  # say what could not be measured, next to the status
            err += "".join(f"<div class='muted'>{e(t)}</div>" for t in _inconclusive(r.doc))
        run_rows.append(
            f"<tr><td>{e(r.label)}</td><td class='{e(status)}'>{e(status)}{err}</td>"
            f"<td>{e(str(r.doc.get('started', '')))}</td><td>{float(r.doc.get('duration_s') or 0):.1f} s</td>"
            f"<td>{len(r.doc.get('findings', []))}</td><td>{links}</td></tr>"
        )
    finding_rows = []
    for f in doc["findings"]:
        sev = str(f.get("severity"))
        nb = str(f.get("notebook", ""))
        href = f"{f['run']}/{nb}.html"
        finding_rows.append(
            f"<tr><td class='{e(sev)}'>{e(sev)}</td><td><code>{e(str(f.get('id')))}</code></td>"
            f"<td><b>{e(str(f.get('title')))}</b><div class='muted'>{e(str(f.get('detail', '')))}</div></td>"
            f"<td><a href='{e(href)}'>{e(str(f['run']))}</a></td></tr>"
        )
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    by_status = {
        s: sum(1 for r in runs if r.doc.get("status") == s) for s in ("ok", "inconclusive", "failed")
    }
    run_summary = ", ".join(f"{n} {s}" for s, n in by_status.items() if n)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>netdebug incident: {e(str(doc["incident"]))}</title>
<style>{_CSS}</style></head><body>
<h1>netdebug incident: {e(str(doc["incident"]))}</h1>
<p>Generated {e(str(doc["generated"]))}. Status:
<span class="{e(str(doc["status"]))}">{e(str(doc["status"]))}</span>.
{len(runs)} run(s){": " + e(run_summary) if run_summary else ""}; findings: {e(summary)}.
Machine-readable: <a href="{MERGED}">{MERGED}</a>.</p>
<h2>Findings</h2>
<table><tr><th>severity</th><th>id</th><th>finding</th><th>run</th></tr>
{"".join(finding_rows) or "<tr><td colspan=4>No findings.</td></tr>"}</table>
<h2>Runs</h2>
<table><tr><th>run</th><th>status</th><th>started</th><th>duration</th><th>findings</th><th>files</th></tr>
{"".join(run_rows) or "<tr><td colspan=6>No runs found.</td></tr>"}</table>
</body></html>
"""
