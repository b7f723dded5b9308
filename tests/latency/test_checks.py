from __future__ import annotations

from pathlib import Path

from netdebug_nb.latency import checks, fping, probes

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def test_findings_on_recorded_run() -> None:
    p = fping.read(FIX / "fping5_demo.txt").probes
    stats, runs = probes.summarize(p), probes.outages(p)
    found = {f.id: f for f in checks.targets(stats) + checks.latency(stats, runs)}
    assert set(found) == {"target.unresolvable", "target.unreachable", "latency.loss", "latency.outage"}
    assert found["latency.loss"].severity == "critical"  # 20% to .12
    assert found["latency.outage"].evidence["outages"][0]["probes"] == 12
    assert "silently dropped" in found["target.unreachable"].evidence["targets"]["198.18.3.5"]


def test_thresholds_are_parameters() -> None:
    p = fping.read(FIX / "fping5_demo.txt").probes
    stats, runs = probes.summarize(p), probes.outages(p)
    th = checks.Thresholds(loss_warn_pct=50, p99_warn_ms=0.05, jitter_warn_ms=0.005, outage_min_probes=20)
    ids = {f.id for f in checks.latency(stats, runs, th)}
    assert ids == {"latency.high_p99", "latency.jitter"}


def test_rejected_vs_dropped_targets() -> None:
    stats = probes.summarize(fping.read(FIX / "fping5_C_D.txt").probes)
    (f,) = [f for f in checks.targets(stats) if f.id == "target.unreachable"]
    ev = f.evidence["targets"]
    assert ev["198.18.2.11"].startswith("Host Unreachable") and "silently" in ev["198.18.2.12"]


def test_truncated_note_is_a_finding() -> None:
    out = fping.read(FIX / "fping5_truncated.txt")
    assert [f.id for f in checks.notes("x.txt", out.notes)] == ["latency.input_truncated"]
    assert checks.notes("x.txt", ()) == []
