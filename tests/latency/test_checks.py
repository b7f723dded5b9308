from __future__ import annotations

from pathlib import Path

from netdebug_nb.latency import checks, fping, probes
from netdebug_nb.netstate import neighbours, nexthop, routes

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def test_findings_on_recorded_run() -> None:
    p = fping.read(FIX / "fping5_demo.txt").probes
    stats, runs = probes.summarize(p), probes.outages(p)
    found = {f.id: f for f in checks.targets(stats) + checks.latency(stats, runs)}
    assert set(found) == {"target.unresolvable", "target.unreachable", "latency.loss", "latency.outage"}
    assert found["latency.loss"].severity == "critical"  # 20% to .12
    assert found["latency.outage"].evidence["outages"][0]["probes"] == 12
    # saved output: the neighbour state is unknown, so neither "dropped" nor "no ARP reply" is claimed
    assert found["target.unreachable"].evidence["targets"]["198.18.3.5"] == "no reply and no ICMP error"


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
    assert (
        ev["198.18.2.11"].startswith("Host Unreachable") and ev["198.18.2.12"] == "no reply and no ICMP error"
    )


def test_neighbour_state_names_the_real_cause() -> None:
    """An on-link target nobody answers ARP for is "no ARP reply on IFACE"; dropped only where ARP resolved."""
    stats = probes.summarize(fping.read(FIX / "fping5_C_D.txt").probes)
    dead = [str(t) for t in stats.loc[stats["status"] == "unreachable", "target"]]
    assert "198.18.2.12" in dead
    lookups = routes.lookups(
        {
            "198.18.2.12": '[{"dst":"198.18.2.12","dev":"eth0","prefsrc":"198.18.2.2","flags":[]}]',
            "198.18.2.11": '[{"dst":"198.18.2.11","gateway":"198.18.1.1","dev":"eth1","flags":[]}]',
        }
    )
    neigh = neighbours.parse(
        '[{"dst":"198.18.2.12","dev":"eth0","state":["FAILED"]},'
        '{"dst":"198.18.1.1","dev":"eth1","lladdr":"02:00:00:00:00:01","state":["REACHABLE"]}]'
    )
    hops = nexthop.build(lookups, neigh, {"198.18.2.12": "198.18.2.12", "198.18.2.11": "198.18.2.11"})
    (f,) = [f for f in checks.targets(stats, hops) if f.id == "target.unreachable"]
    ev = f.evidence["targets"]
    assert ev["198.18.2.12"] == "no ARP reply for 198.18.2.12 on eth0"
    assert ev["198.18.2.11"].startswith("Host Unreachable")  # the ICMP error still wins
    assert f.evidence["neighbours"]["198.18.2.12"]["state"] == "FAILED"
    assert "no ARP/ND reply for 198.18.2.12" in f.title and "another VLAN" in f.detail
    # the same target with its neighbour resolved: now the loss is silent dropping further on
    resolved = neighbours.parse(
        '[{"dst":"198.18.2.12","dev":"eth0","lladdr":"02:00:00:00:00:02","state":["STALE"]}]'
    )
    hops = nexthop.build(lookups, resolved, {"198.18.2.12": "198.18.2.12"})
    (f,) = [f for f in checks.targets(stats, hops) if f.id == "target.unreachable"]
    assert f.evidence["targets"]["198.18.2.12"] == "no reply (silently dropped)"


def test_truncated_note_is_a_finding() -> None:
    out = fping.read(FIX / "fping5_truncated.txt")
    assert [f.id for f in checks.notes("x.txt", out.notes)] == ["latency.input_truncated"]
    assert checks.notes("x.txt", ()) == []


def test_all_clear_only_with_evidence_and_nothing_found() -> None:
    from netdebug_nb.findings import Finding

    ok = checks.all_clear([], measured=True)
    assert [f.id for f in ok] == ["latency.ok"] and not ok[0].inconclusive
    assert checks.all_clear([], measured=False) == []  # nothing measured: no all-clear
    failed = Finding("latency.probe_failed", "critical", "fping could not run", inconclusive=True)
    assert checks.all_clear([failed], measured=True) == []
    assert checks.all_clear([Finding("latency.input_truncated", "info", "cut")], measured=True) == []


def test_a_run_without_probes_is_inconclusive() -> None:
    empty = fping.parse("198.18.0.9: Name or service not known\n")
    (f,) = checks.probes_missing(empty, expected=True)
    assert f.id == "latency.no_probes" and f.inconclusive
    assert checks.probes_missing(empty, expected=False) == []
    assert checks.probes_missing(fping.read(FIX / "fping5_demo.txt"), expected=True) == []
