from __future__ import annotations

import json
from pathlib import Path

import pytest

from netdebug_nb import report
from netdebug_nb.errors import InputError


def _run(root: Path, rel: str, nb: str, status: str, findings: list[dict]) -> None:
    d = root / rel
    d.mkdir(parents=True)
    doc = {
        "notebook": nb,
        "parameters": {},
        "status": status,
        "error": None if status == "ok" else "boom",
        "started": "2026-01-01T00:00:00+00:00",
        "duration_s": 1.5,
        "findings": findings,
    }
    (d / "findings.json").write_text(json.dumps(doc))


def test_build_merges_runs_from_nested_dirs_sorted_by_severity(tmp_path: Path) -> None:
    f = lambda i, s: {"id": i, "severity": s, "title": i, "detail": "<b>x</b>", "evidence": {}}  # noqa: E731
    _run(tmp_path, "latency", "latency", "ok", [f("latency.loss", "warning"), f("x.info", "info")])
    _run(tmp_path, "node-1/dns_trace", "dns_trace", "failed", [f("dns.timeout", "critical")])
    index = report.build(tmp_path)
    merged = json.loads((tmp_path / "findings.json").read_text())
    assert [x["id"] for x in merged["findings"]] == ["dns.timeout", "latency.loss", "x.info"]
    assert merged["findings"][0]["run"] == "node-1/dns_trace"
    assert merged["status"] == "failed"
    html = index.read_text()
    assert "node-1/dns_trace/dns_trace.html" in html
    assert "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html  # escaped
    # rebuilding ignores its own merged file
    report.build(tmp_path)
    assert len(json.loads((tmp_path / "findings.json").read_text())["runs"]) == 2


def test_collect_rejects_foreign_json(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "findings.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="findings.json"):
        report.collect(tmp_path)


def test_inconclusive_runs_are_shown_apart_from_ok_and_failed(tmp_path: Path) -> None:
    gap = {
        "id": "latency.probe_failed",
        "severity": "critical",
        "title": "fping could not run",
        "detail": "",
        "evidence": {},
        "inconclusive": True,
    }
    _run(tmp_path, "latency", "latency", "inconclusive", [gap])
    _run(tmp_path, "netstate", "netstate", "ok", [])
    merged = report.merge(report.collect(tmp_path), incident="i")
    assert merged["status"] == "inconclusive"
    assert {r["run"]: (r["status"], r["inconclusive"]) for r in merged["runs"]} == {
        "latency": ("inconclusive", ["fping could not run"]),
        "netstate": ("ok", []),
    }
    html = report.build(tmp_path).read_text()
    assert (
        "<td class='inconclusive'>inconclusive<div class='muted'>boom</div><div class='muted'>fping could not run</div>"
        in html
    )
    assert '<span class="inconclusive">inconclusive</span>' in html and "1 ok, 1 inconclusive" in html
    _run(tmp_path, "dns", "dns_trace", "failed", [])
    assert report.merge(report.collect(tmp_path), incident="i")["status"] == "failed"
