"""The dns_trace notebook headless: default parameters and the offline (pcap) demo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from ndtestkit import netdebug_cmd

from netdebug_nb.catalogue import DATA_DIR


def _run(out: Path, *params: str) -> dict[str, object]:
    subprocess.run(
        [*netdebug_cmd(), "run", "dns_trace", "--out", str(out), *params], capture_output=True, timeout=120
    )
    return dict(json.loads((out / "dns_trace" / "findings.json").read_text()))


def test_default_parameters_finish_with_an_info_finding(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 127.0.0.53\nsearch example.internal\nnameserver\n")
    report = _run(tmp_path / "out", "-p", "resolv_conf", str(conf))
    assert report["status"] == "inconclusive"  # no names: nothing was traced
    ids = {f["id"] for f in report["findings"]}  # type: ignore[attr-defined]
    assert {"dns.no_names", "dns.resolv_conf", "dns.nodelocal_cache"} <= ids
    assert [f["id"] for f in report["findings"] if f.get("inconclusive")] == ["dns.no_names"]  # type: ignore[attr-defined]


def test_missing_resolv_conf_is_bad_input(tmp_path: Path) -> None:
    done = subprocess.run(
        [*netdebug_cmd(), "run", "dns_trace", "--out", str(tmp_path / "out"), "-p", "resolv_conf", str(tmp_path / "nope.conf")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr == (
        f"netdebug-nb: error: parameter 'resolv_conf' of dns_trace: {tmp_path / 'nope.conf'} does not exist; expected a file\n"
    )


def test_offline_demo_from_the_sample_capture(tmp_path: Path) -> None:
    report = _run(
        tmp_path / "out",
        "-p", "names", '["api.example.com", "web.default.svc.cluster.local", "bad..name"]',
        "-p", "resolv_conf", str(DATA_DIR / "dns" / "resolv.conf"),
        "-p", "pcap", str(DATA_DIR / "dns" / "sample_dns.pcap"),
    )  # fmt: skip
    assert report["status"] == "ok"
    ids = {f["id"] for f in report["findings"]}  # type: ignore[attr-defined]
    assert {
        "dns.ndots_amplification",
        "dns.retry_5s",
        "dns.timeout",
        "dns.nxdomain",
        "dns.invalid_name",
    } <= ids
    nb = json.loads((tmp_path / "out" / "dns_trace" / "dns_trace.ipynb").read_text())
    images = [o for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # waterfall and latency histograms


def test_a_capture_that_breaks_off_is_a_finding_and_the_run_inconclusive(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pcap"  # a pcap header, then a record header that promises 60000 bytes
    bad.write_bytes(
        bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
        + bytes(8)
        + b"\x60\xea\0\0" * 2
        + b"x"
    )
    report = _run(
        tmp_path / "out", "-p", "pcap", str(bad), "-p", "resolv_conf", str(DATA_DIR / "dns" / "resolv.conf")
    )
    assert report["status"] == "inconclusive", report.get("error")
    f = {f["id"]: f for f in report["findings"]}  # type: ignore[attr-defined]
    assert f["dns.capture"]["inconclusive"] is True
    assert "dns.nodelocal_cache" in f  # the rest still ran


def test_a_file_that_is_not_a_capture_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "notacapture.pcap"
    bad.write_text("hello\n")
    done = subprocess.run(
        [*netdebug_cmd(), "run", "dns_trace", "--out", str(tmp_path / "out"), "-p", "pcap", str(bad)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "is not a capture file" in done.stderr
