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
    assert report["status"] == "ok"
    ids = {f["id"] for f in report["findings"]}  # type: ignore[attr-defined]
    assert {"dns.no_names", "dns.resolv_conf", "dns.nodelocal_cache"} <= ids


def test_missing_resolv_conf_is_a_finding(tmp_path: Path) -> None:
    report = _run(tmp_path / "out", "-p", "resolv_conf", str(tmp_path / "nope.conf"))
    assert report["status"] == "ok"
    f = [f for f in report["findings"] if f["id"] == "dns.resolv_conf"]  # type: ignore[attr-defined]
    assert f and "nope.conf" in f[0]["detail"]


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


def test_unreadable_capture_is_a_finding_and_the_rest_still_runs(tmp_path: Path) -> None:
    bad = tmp_path / "notacapture.pcap"
    bad.write_text("hello\n")
    report = _run(
        tmp_path / "out", "-p", "pcap", str(bad), "-p", "resolv_conf", str(DATA_DIR / "dns" / "resolv.conf")
    )
    assert report["status"] == "ok"
    f = {f["id"]: f for f in report["findings"]}  # type: ignore[attr-defined]
    assert f["dns.capture"]["severity"] == "critical" and "notacapture.pcap" in f["dns.capture"]["detail"]
    assert "dns.nodelocal_cache" in f
