"""Latency scenarios in a namespace lab, measured with the real fping, mtr and ping.

client 198.18.1.2 ── router ── server1 198.18.2.10, server2 .11, server3 .12 (client: no default route)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from lab import Host, Lab, routed
from ndtestkit import netdebug_cmd

pytestmark = pytest.mark.lab

S1, S2, S3 = "198.18.2.10", "198.18.2.11", "198.18.2.12"
SERVERS = ("server1", "server2", "server3")


def in_ns(host: Host, code: str, timeout: float = 120) -> Any:
    """Run netdebug_nb code inside the namespace (collectors run tools there); its last line is JSON."""
    done = host.run(sys.executable, "-c", code, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def stats_code(targets: list[str], **opts: Any) -> str:
    return (
        "import json\n"
        "from netdebug_nb.latency import fping, probes\n"
        f"out = fping.parse(fping.collect({targets!r}, **{opts!r}))\n"
        "s = probes.summarize(out.probes)\n"
        "o = probes.outages(out.probes)\n"
        "print(json.dumps({'stats': json.loads(s.to_json(orient='records')),"
        " 'outages': json.loads(o.to_json(orient='records')), 'notes': list(out.notes)}))\n"
    )


def quiet_router(router: Host) -> None:
    """The kernel rate-limits ICMP errors by default; tests inject their own limits."""
    router.run("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")


def test_injected_loss_is_measured(lab: Lab) -> None:
    h = routed(lab, servers=SERVERS[:2])
    h["router"].iptables("-A", "FORWARD", "-d", S1, "-p", "icmp", "--icmp-type", "echo-request",
                         "-m", "statistic", "--mode", "random", "--probability", "0.2", "-j", "DROP")  # fmt: skip
    r = in_ns(h["client"], stats_code([S1, S2], count=400, period_ms=5, interval_ms=1, timeout_ms=500))
    by = {s["target"]: s for s in r["stats"]}
    assert by[S1]["sent"] == 400 and abs(by[S1]["loss_pct"] - 20.0) < 8.0  # 4 sd of a binomial(400, 0.2)
    assert by[S2]["loss_pct"] == 0.0 and by[S2]["status"] == "ok"
    assert by[S1]["p50_ms"] is not None and by[S1]["p50_ms"] < 5


def test_outage_found_with_start_and_length(lab: Lab) -> None:
    h = routed(lab, servers=SERVERS[:1])
    # fping numbers ICMP echo requests globally from 0: drop 10..29 = 20 consecutive probes to one target
    h["router"].iptables("-A", "FORWARD", "-d", S1, "-p", "icmp", "--icmp-type", "echo-request",
                         "-m", "u32", "--u32", "0>>22&0x3C@4&0xFFFF=10:29", "-j", "DROP")  # fmt: skip
    r = in_ns(h["client"], stats_code([S1], count=50, period_ms=10, timeout_ms=500))
    (o,) = r["outages"]
    assert (o["start_seq"], o["probes"], o["ongoing"]) == (10, 20, False)
    assert 0.15 < o["duration_s"] < 0.3


def test_reject_and_drop_are_unreachable_and_told_apart(lab: Lab) -> None:
    h = routed(lab, servers=SERVERS)
    quiet_router(h["router"])
    h["router"].iptables(
        "-A", "FORWARD", "-d", S2, "-p", "icmp", "-j", "REJECT", "--reject-with", "icmp-host-unreachable"
    )
    h["router"].iptables("-A", "FORWARD", "-d", S3, "-p", "icmp", "-j", "DROP")
    r = in_ns(
        h["client"], stats_code([S1, S2, S3, "no-such-host.invalid"], count=5, period_ms=50, timeout_ms=500)
    )
    by = {s["target"]: s for s in r["stats"]}
    assert by[S1]["status"] == "ok"
    assert by[S2]["status"] == "unreachable" and by[S2]["error"].startswith("Host Unreachable from 198.18.")
    assert by[S3]["status"] == "unreachable" and by[S3]["error"] is None
    assert by["no-such-host.invalid"]["status"] == "unresolvable"


def test_rate_limited_hop_is_not_reported_as_loss(lab: Lab) -> None:
    h = routed(lab, servers=SERVERS[:2])
    quiet_router(h["router"])
    h["router"].iptables("-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded",
                         "-m", "statistic", "--mode", "random", "--probability", "0.6", "-j", "DROP")  # fmt: skip
    h["router"].iptables("-A", "FORWARD", "-d", S2, "-p", "icmp", "--icmp-type", "echo-request",
                         "-m", "statistic", "--mode", "random", "--probability", "0.4", "-j", "DROP")  # fmt: skip
    code = (
        "import json\n"
        "from netdebug_nb.latency import checks, mtr, path\n"
        f"hops, failed = mtr.trace([{S1!r}, {S2!r}], count=30, interval_s=0.1)\n"
        "p = path.interpret(hops)\n"
        "print(json.dumps({'verdicts': {d: g['verdict'].tolist() for d, g in p.groupby('dst')},"
        " 'ids': sorted((f.id, f.evidence['dst']) for f in checks.path(p)), 'failed': failed}))\n"
    )
    r = in_ns(h["client"], code)
    assert r["failed"] == {}
    assert r["verdicts"][S1] == ["rate_limited", "destination"]
    assert r["verdicts"][S2][1] == "destination"
    assert ["path.rate_limited_hop", S1] in r["ids"] and ["path.hop_loss", S2] in r["ids"]
    assert ["path.hop_loss", S1] not in r["ids"]


def test_mtu_blackhole_vs_working_pmtud(lab: Lab) -> None:
    h = routed(lab, servers=SERVERS[:1], mtu_server_link=1200)
    code = (
        "import json\n"
        "from netdebug_nb.latency import mtu\n"
        f"v = mtu.analyze(mtu.parse(mtu.collect({S1!r}, [56, 1000, 1172, 1173, 1400], count=2, interval_s=0.05)))[0]\n"
        "print(json.dumps([v.blackhole, v.largest_ok_packet, v.mtu_reported]))\n"
    )
    assert in_ns(h["client"], code) == [False, 1200, 1200]
    h["router"].iptables("-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
    h["client"].run("ip", "route", "flush", "cache")
    assert in_ns(h["client"], code) == [True, 1200, None]


def test_notebook_run_finds_every_scenario(lab: Lab, tmp_path: Path) -> None:
    h = routed(lab, servers=SERVERS, mtu_server_link=1200)
    r = h["router"]
    quiet_router(r)
    r.iptables("-A", "FORWARD", "-d", S1, "-p", "icmp", "--icmp-type", "echo-request",
               "-m", "statistic", "--mode", "random", "--probability", "0.15", "-j", "DROP")  # fmt: skip
    r.iptables("-A", "FORWARD", "-d", S1, "-p", "icmp", "--icmp-type", "echo-request",
               "-m", "u32", "--u32", "0>>22&0x3C@4&0xFFFF=30:59", "-j", "DROP")  # fmt: skip
    r.iptables(
        "-A", "FORWARD", "-d", S2, "-p", "icmp", "-j", "REJECT", "--reject-with", "icmp-host-unreachable"
    )
    r.iptables("-A", "FORWARD", "-d", S3, "-p", "icmp", "-j", "DROP")
    r.iptables("-A", "OUTPUT", "-p", "icmp", "--icmp-type", "time-exceeded",
               "-m", "statistic", "--mode", "random", "--probability", "0.6", "-j", "DROP")  # fmt: skip
    r.iptables("-A", "OUTPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
    absent = "198.18.1.9"  # on the client's own link, no host has it: nobody answers ARP
    targets = json.dumps([S1, S2, S3, "no-such-host.invalid", absent])
    done = h["client"].run(
        *netdebug_cmd(), "run", "latency",
        "-p", "targets", targets, "-p", "count", "60", "-p", "interval_ms", "20", "-p", "timeout_ms", "500",
        "-p", "mtr", "true", "-p", "mtr_count", "30", "-p", "mtr_interval_s", "0.1",
        "-p", "sizes", "[56, 1000, 1172, 1400]", "--out", str(tmp_path),
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((tmp_path / "latency" / "findings.json").read_text())
    ids = {f["id"] for f in report["findings"]}
    assert {
        "latency.loss", "latency.outage", "target.unreachable", "target.unresolvable",
        "path.rate_limited_hop", "path.mtu_blackhole", "path.unreached",
    } <= ids, ids  # fmt: skip
    assert "path.hop_loss" in ids  # the random loss to server1 shows at its destination hop
    unreachable = next(f for f in report["findings"] if f["id"] == "target.unreachable")
    why = unreachable["evidence"]["targets"]
    assert set(why) == {S2, S3, absent}
    assert why[absent] == "no ARP reply for 198.18.1.9 on v0client"
    assert why[S3] == "no reply (silently dropped)"  # the router answered ARP; the DROP is further on
    assert why[S2].startswith("Host Unreachable")
    assert unreachable["evidence"]["neighbours"][absent]["state"] in ("INCOMPLETE", "FAILED")
    assert (tmp_path / "latency" / "latency.html").stat().st_size > 10_000


def test_offline_saved_outputs_and_bad_input(lab: Lab, tmp_path: Path) -> None:
    """Offline mode needs no lab but runs the same CLI; bad files give one-line errors, not tracebacks."""
    fix = Path(__file__).resolve().parents[1] / "fixtures" / "latency"
    done = _cli("-p", "fping_output", str(fix / "fping5_truncated.txt"), "--out", str(tmp_path / "a"))
    assert done.returncode == 0, done.stderr
    ids = {
        f["id"] for f in json.loads((tmp_path / "a" / "latency" / "findings.json").read_text())["findings"]
    }
    assert "latency.input_truncated" in ids and "target.unreachable" in ids
    bad = _cli("-p", "fping_output", str(fix / "fping_garbage.txt"), "--out", str(tmp_path / "b"))
    assert bad.returncode != 0
    last = bad.stderr.strip().splitlines()[-1]
    assert "no fping result lines recognised" in last and "Traceback" not in bad.stderr


def _cli(*args: str) -> Any:
    import subprocess

    return subprocess.run(
        [*netdebug_cmd(), "run", "latency", *args], capture_output=True, text=True, timeout=120
    )


def test_without_net_raw_the_error_names_the_capability(lab: Lab, tmp_path: Path) -> None:
    """A pod without NET_RAW: fping/mtr/ping cannot get raw sockets; the kit says which capability."""
    import subprocess

    drop = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"]
    code = (
        "import json\n"
        "from netdebug_nb.errors import NetdebugError\n"
        "from netdebug_nb.latency import fping, mtr, mtu\n"
        "out = []\n"
        "for call in (lambda: fping.collect(['127.0.0.1'], count=1), lambda: mtr.collect('127.0.0.1', count=1),\n"
        "             lambda: mtu.collect('127.0.0.1', [56], count=1)):\n"
        "    try:\n"
        "        call()\n"
        "        out.append('no error')\n"
        "    except NetdebugError as exc:\n"
        "        out.append(type(exc).__name__ + ': ' + str(exc))\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run([*drop, sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for msg in json.loads(done.stdout.strip().splitlines()[-1]):
        assert msg.startswith("ToolPermissionError") and "NET_RAW" in msg, msg
    run = subprocess.run(
        [*drop, *netdebug_cmd(), "run", "latency", "-p", "targets", '["127.0.0.1"]', "-p", "count", "1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    found = json.loads((tmp_path / "latency" / "findings.json").read_text())["findings"]
    failed = next(f for f in found if f["id"] == "latency.probe_failed")
    assert "NET_RAW" in failed["detail"]


def test_ecmp_responders_kept_apart(lab: Lab) -> None:
    """client ── r1 ══ (ra | rb) ── server: r1 splits flows over two next hops (L4 hash)."""
    c, r1 = lab.host("client"), lab.host("r1", forward=True)
    ra, rb, s = lab.host("ra", forward=True), lab.host("rb", forward=True), lab.host("server")
    lab.link(c, "198.18.1.2/24", r1, "198.18.1.1/24")
    lab.link(r1, "198.18.3.1/24", ra, "198.18.3.2/24")
    lab.link(r1, "198.18.4.1/24", rb, "198.18.4.2/24")
    lab.link(ra, "198.18.5.1/24", s, "198.18.5.10/24")
    lab.link(rb, "198.18.6.1/24", s, "198.18.6.10/24")
    for host in (r1, ra, rb, s):
        host.run("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
    r1.run("sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")
    r1.run(
        "ip", "route", "add", "198.18.7.0/24", "nexthop", "via", "198.18.3.2", "nexthop", "via", "198.18.4.2"
    )
    s.run("ip", "addr", "add", "198.18.7.7/32", "dev", "lo")
    lab.route(c, "198.18.0.0/16", "198.18.1.1")
    lab.route(ra, "198.18.7.0/24", "198.18.5.10")
    lab.route(rb, "198.18.7.0/24", "198.18.6.10")
    lab.route(ra, "198.18.1.0/24", "198.18.3.1")
    lab.route(rb, "198.18.1.0/24", "198.18.4.1")
    lab.route(s, "198.18.1.0/24", "198.18.5.1")
    code = (
        "import json\n"
        "from netdebug_nb.latency import mtr\n"
        "hops, failed = mtr.trace(['198.18.7.7'], count=30, interval_s=0.05, protocol='udp')\n"
        "print(hops.to_json(orient='records'))\n"
    )
    hops = in_ns(c, code)
    hop2 = sorted((h["host"], h["responder"]) for h in hops if h["hop"] == 2)
    assert [h for h, _ in hop2] == ["198.18.3.2", "198.18.4.2"]
    assert sorted(r for _, r in hop2) == [0, 1]
    assert [h["host"] for h in hops if h["hop"] == 3] == ["198.18.7.7"]
