"""The endpoint_probe notebook offline, as the demo runs it: bundled curl -w lines and a saved chain."""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import browser
from ndtestkit import netdebug_cmd

from netdebug_nb import catalogue, demo


def test_demo_data_gives_its_findings_tables_and_plots(tmp_path: Path) -> None:
    params = demo.parameters_for(catalogue.find("endpoint_probe"))
    argv = [*netdebug_cmd(), "run", "endpoint_probe", "--out", str(tmp_path)]
    for k, v in params.items():
        argv += ["-p", k, str(v)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "endpoint_probe"
    doc = json.loads((run / "findings.json").read_text())
    assert doc["status"] == "ok"
    found = {f["id"]: f for f in doc["findings"]}
    assert {"http.backend_outlier", "http.errors", "tls.untrusted", "probe.bad_target"} <= set(found)
    [outlier] = found["http.backend_outlier"]["evidence"]["outliers"]
    assert outlier["backend"] == "127.0.0.12" and outlier["value"] > 100
    assert found["tls.untrusted"]["evidence"]["why"] == {
        "saved chain chain.pem @ (saved):0": "incomplete chain: the intermediate CN=netdebug test intermediate,O=netdebug tests was not sent and is not trusted"
    }
    assert found["probe.bad_target"]["evidence"]["problems"] == [
        "target 'http://nosuch.invalid/': the name does not resolve (Could not resolve host: nosuch.invalid)"
    ]
    with open(run / "probe_targets.csv", newline="") as fh:
        verdicts = {r["target"]: r["verdict"] for r in csv.DictReader(fh)}
    assert verdicts == {
        "http://web.shop.svc.cluster.local/api/cart": "application",
        "http://127.0.0.1:18081/checkout": "application",
        "http://127.0.0.1:18082/": "network",
        "http://nosuch.invalid/": "network",
    }
    html = run / "endpoint_probe.html"
    assert html.read_text().count("<img") == 3  # waterfall, CDF, heatmap
    browser.require()
    with browser.chromium() as driver:
        driver.get(html.as_uri())
        assert browser.console_errors(driver) == []
        assert (
            "Warning" not in driver.find_element("tag name", "body").text
        )  # no stray warnings in the report
        widths = driver.execute_script("return [...document.images].map(i => i.naturalWidth)")
        assert len(widths) == 3 and min(widths) > 300  # the plots decode and render
        text = driver.find_element("tag name", "body").text
        assert "http.backend_outlier" in text and "127.0.0.12" in text and "application" in text
        browser.screenshot(driver, "endpoint_probe_demo")


def test_nothing_to_probe_or_nothing_measured_is_inconclusive_never_ok(tmp_path: Path) -> None:
    import inprocess

    from netdebug_nb import findings

    nothing = inprocess.execute("endpoint_probe", {})
    assert nothing.error is None and findings.status(nothing.found) == "inconclusive"
    assert [f.id for f in nothing.found if f.inconclusive] == ["probe.no_targets"]
    bad_only = inprocess.execute("endpoint_probe", {"targets": ["ftp://x/", "example.com:80"]})
    assert bad_only.error is None and findings.status(bad_only.found) == "inconclusive"
    assert {f.id for f in bad_only.found} == {"probe.bad_target", "probe.no_targets"}
    (tmp_path / "empty.jsonl").write_text("")
    empty = inprocess.execute("endpoint_probe", {"curl_json": str(tmp_path / "empty.jsonl")})
    assert empty.error is None and [f.id for f in empty.found if f.inconclusive] == ["probe.nothing_measured"]
    assert not [f for f in empty.found if f.id.endswith(".ok")]
