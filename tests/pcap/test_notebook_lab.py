"""The notebook end to end on a capture made here: real tcpdump, real TCP with iptables losses, real glibc DNS."""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import pytest
from ndtestkit import ROOT, netdebug_cmd

sys.path.insert(0, str(ROOT / "scripts"))

from make_sample_pcap import record

pytestmark = pytest.mark.lab


def test_notebook_reports_the_losses_of_a_lab_capture(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pcap = record(lab, tmp_path / "lab.pcap", download_bytes=1_500_000, drop=0.05)
    rules = lab.hosts["client"].run("iptables", "-w", "-L", "INPUT", "-v", "-x", "-n").stdout
    dropped = int(next(ln.split()[0] for ln in rules.splitlines() if "DROP" in ln and "statistic" in ln))
    assert dropped > 10, rules

    out = tmp_path / "report"
    done = lab.hosts["client"].run(
        *netdebug_cmd(),
        "run",
        "pcap_analysis",
        "-p",
        "pcap",
        str(pcap),
        "--out",
        str(out),
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = out / "pcap_analysis"
    assert (result / "pcap_analysis.ipynb").is_file() and (result / "pcap_analysis.html").is_file()
    found = {f["id"]: f for f in json.loads((result / "findings.json").read_text())["findings"]}

    retrans = found["tcp.retransmissions"]["evidence"]["retransmissions"]
    # every data segment dropped on INPUT was seen by the capture and sent again (plus the SYN retry to port 81)
    assert dropped * 0.8 <= retrans <= dropped * 2 + 5, (retrans, dropped)
    # the peer: tshark's analysis of the same file. Wireshark does not remember which ranges it saw, so it
    # calls a resend that arrives soon after the highest segment "out of order": count both.
    tshark = lab.hosts["client"].run(
        "tshark", "-r", str(pcap), "-Y", "tcp.analysis.retransmission or tcp.analysis.fast_retransmission or tcp.analysis.out_of_order",
        "-T", "fields", "-e", "frame.number",
    ).stdout.split()  # fmt: skip
    print(f"dropped on INPUT: {dropped}, netdebug retransmissions: {retrans}, tshark: {len(tshark)}")
    assert abs(retrans - len(tshark)) <= max(3, 0.2 * len(tshark)), (retrans, len(tshark))

    assert found["tcp.handshake_failures"]["evidence"]["by_state"] == {"refused": 1, "unanswered": 1}
    assert "tcp.resets" in found and "tcp.zero_window" in found
    assert found["dns.retry_after_timeout"]["evidence"]["a_aaaa_race"] >= 1
    assert found["dns.nxdomain_expansion"]["evidence"]["nxdomain_queries"] >= 3
    assert any("flaky.shop" in n for n in found["dns.unanswered"]["evidence"]["names"])
    assert re.search(r"retransmissions", (result / "pcap_analysis.html").read_text())


def test_default_parameters_say_how_to_give_a_capture(tmp_path: Path) -> None:
    """Like the other notebooks, no input is an info finding and a clean run, not a failure."""
    import json
    import subprocess

    done = subprocess.run(
        [*netdebug_cmd(), "run", "pcap_analysis", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "r" / "pcap_analysis" / "findings.json").read_text())
    assert [(f["id"], f["severity"]) for f in doc["findings"]] == [("capture.none", "info")]
    detail = doc["findings"][0]["detail"]
    assert "'pcap'" in detail and "'capture_interface'" in detail


def test_notebook_live_capture_in_a_namespace(lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    a, b = lab.host("a"), lab.host("b")
    ia, _ = lab.link(a, "198.18.9.1/24", b, "198.18.9.2/24")
    b.spawn("python3", "-m", "http.server", "-b", "198.18.9.2", "8000")
    out = tmp_path / "report"
    run = subprocess.Popen(
        a.cmd(*netdebug_cmd(), "run", "pcap_analysis", "-p", "capture_interface", ia, "-p", "capture_filter", "tcp",
              "-p", "capture_seconds", "6", "-p", "capture_file", str(tmp_path / "live.pcap"), "--out", str(out)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (tmp_path / "live.pcap").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    for _ in range(3):
        a.run(
            "curl", "-s", "-o", "/dev/null", "--retry", "3", "--retry-connrefused", "http://198.18.9.2:8000/"
        )
    _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    doc = json.loads((out / "pcap_analysis" / "findings.json").read_text())
    assert doc["parameters"]["capture_interface"] == ia
    assert [f["id"] for f in doc["findings"]] == ["pcap.no_problems"]
    assert doc["findings"][0]["evidence"]["tcp_flows"] >= 3
    # the progress line ends as the capture's summary, in the notebook and in its report
    report = (out / "pcap_analysis" / "pcap_analysis.html").read_text()
    assert re.search(r"capture done in \d+ s: [\d,]+ packets", report), (
        "no capture progress line in the report"
    )
