from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from netdebug_nb import findings


def test_record_validates_id_and_severity() -> None:
    findings.clear()
    with pytest.raises(ValueError, match="dotted"):
        findings.record("bad id", "info", "t")
    with pytest.raises(ValueError, match="severity"):
        findings.record("a.b", "fatal", "t")
    odd = findings.record("a.b", "info", "t", evidence={"x": {1, 2}, "y": object()}, display=False)
    assert odd.to_dict()["evidence"]["x"] == [1, 2]
    assert odd.to_dict()["evidence"]["y"].startswith("<object")


def test_evidence_is_made_json_safe() -> None:
    findings.clear()
    f = findings.record(
        "tcp.retransmissions",
        "warning",
        "retransmissions",
        evidence={
            "count": np.int64(3),
            "rate": np.float64(0.5),
            "nan": float("nan"),
            "when": pd.Timestamp("2026-01-01T00:00:00Z"),
            "arr": np.array([1, 2]),
            "dt": dt.timedelta(seconds=2),
        },
        display=False,
    )
    doc = f.to_dict()
    assert json.loads(json.dumps(doc))["evidence"] == {
        "count": 3,
        "rate": 0.5,
        "nan": None,
        "when": "2026-01-01T00:00:00+00:00",
        "arr": [1, 2],
        "dt": 2.0,
    }
    assert findings.recorded() == [f]


def test_from_notebook_reads_the_mime_bundle_and_sort_orders_by_severity() -> None:
    items = [
        findings.Finding("b.info", "info", "i"),
        findings.Finding("a.crit", "critical", "c", evidence={"n": 1}),
        findings.Finding("c.warn", "warning", "w"),
    ]
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "outputs": [{"output_type": "display_data", "data": {findings.MIME: f.to_dict()}}],
            }
            for f in items
        ]
    }
    assert findings.from_notebook(nb) == items
    assert [f.id for f in findings.sort(items)] == ["a.crit", "c.warn", "b.info"]
    assert "CRITICAL" in items[1]._repr_html_() and "netdebug-critical" in items[1]._repr_html_()


def test_inconclusive_findings_make_the_run_inconclusive() -> None:
    ok = findings.Finding("x.ok", "info", "fine")
    gap = findings.Finding(
        "x.tool_failed", "critical", "tool could not run", evidence={"exit_code": 1}, inconclusive=True
    )
    assert findings.status([ok]) == "ok" and findings.status([]) == "ok"
    assert findings.status([ok, gap]) == "inconclusive"
    assert findings.verdict([ok, gap]) == "Inconclusive: tool could not run"
    assert findings.verdict([ok]) == "Completed: 1 info" and findings.verdict([]) == "Completed: no findings"
    assert "inconclusive" not in ok.to_dict() and gap.to_dict()["inconclusive"] is True
    assert findings.Finding.from_dict(gap.to_dict()) == gap
    assert findings.Finding.from_dict(ok.to_dict()) == ok
