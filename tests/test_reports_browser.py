"""Every report of ``netdebug-nb demo``, and a failed run's report, as a person sees them in Chromium.

Each page opens without console errors, is no wider than a 1280-px viewport, has the verdict as
its first section after the title, and shows no ``<NA>``, ``NaN``, ``None`` or float with more than
four decimals in any table cell. Screenshots of every page go to ``tests/artifacts/``; with
``NETDEBUG_UPDATE_DOCS=1`` the README's two screenshots (``docs/report.png``, ``docs/index.png``)
are remade from the same pages.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import browser
import pytest

from netdebug_nb import demo, runner
from netdebug_nb.errors import ExecutionError

pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[1] / "docs"
FAILING = Path(__file__).parent / "fixtures" / "notebooks" / "failing.ipynb"
WIDTH = 1280

_FIRST_AFTER_TITLE = """
const h1 = document.querySelector('h1');
const all = Array.from(document.querySelectorAll('h1, h2, h3, table, img, pre, p, .netdebug-verdict'));
const next = all[all.indexOf(h1) + 1];
return [all.indexOf(h1), next ? next.className : null];
"""
_LAYOUT = """
const misaligned = Array.from(document.querySelectorAll('table.netdebug-table td.num'))
  .filter(td => getComputedStyle(td).textAlign !== 'right').length;
const blurry = Array.from(document.querySelectorAll('img'))
  .filter(img => img.width > 0 && img.naturalWidth < 1.9 * img.width)
  .map(img => [img.naturalWidth, img.width]);
const numbers = document.querySelectorAll('table.netdebug-table td.num').length;
return [misaligned, blurry, numbers, document.querySelectorAll('img').length];
"""
_CELLS = "return Array.from(document.querySelectorAll('td, th')).map(e => e.innerText.trim())"
_LONG_FLOAT = re.compile(r"[-+−<>]?[\d,]*\.\d{5,}(\s*\S+)?")
_JSON_FLOAT = re.compile(r"\":\s*-?\d+\.\d{5,}")


def bad_cells(texts: list[str]) -> list[str]:
    """Cells a person should never see: missing markers and unrounded floats."""
    return [
        t
        for t in texts
        if t in ("None", "nan", "NaN", "NaT", "<NA>")
        or "<NA>" in t
        or re.search(r"\bNaN\b|\bNaT\b", t)
        or _LONG_FLOAT.fullmatch(t)
        or _JSON_FLOAT.search(t)
    ]


def test_bad_cells_are_caught() -> None:
    assert bad_cells(["<NA>", "NaN", "None", "12.903226", "0.049999 ms", '{"x": 0.123456}']) == [
        "<NA>",
        "NaN",
        "None",
        "12.903226",
        "0.049999 ms",
        '{"x": 0.123456}',
    ]
    assert (
        bad_cells(["12.9", "—", "None of them", "--probability 0.04999999981 -j DROP", "06:25:09.123"]) == []
    )


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    browser.require()
    out = tmp_path_factory.mktemp("demo")
    result = demo.run(out)
    assert not result.failures, result.failures
    with pytest.raises(ExecutionError):
        runner.run(str(FAILING), out=out / "bad")
    yield out


def pages(out: Path) -> list[Path]:
    return sorted(out.glob("*/*.html"))


def test_every_demo_report_reads_verdict_first_and_fits_the_page(reports: Path) -> None:
    found = pages(reports)
    assert {p.stem for p in found} >= {"pcap_analysis", "latency", "dns_trace", "netstate", "fleet_mesh"}
    problems: dict[str, object] = {}
    total_images = total_numbers = 0
    with browser.chromium(WIDTH) as driver:
        for page in found:
            driver.get(page.as_uri())
            errors = browser.console_errors(driver)
            width = driver.execute_script("return document.documentElement.scrollWidth")
            title_at, first = driver.execute_script(_FIRST_AFTER_TITLE)
            bad = bad_cells(driver.execute_script(_CELLS))
            misaligned, blurry, numbers, images = driver.execute_script(_LAYOUT)
            total_images += images
            total_numbers += numbers
            boxes = driver.find_elements("css selector", ".netdebug-verdict .netdebug-finding")
            browser.screenshot(driver, f"report-{page.stem}")
            if page.stem == "pcap_analysis" and os.environ.get("NETDEBUG_UPDATE_DOCS"):
                _doc_shot(driver, "report.png")
            if (
                errors
                or width > WIDTH
                or title_at != 0
                or first != "netdebug-verdict"
                or bad
                or not boxes
                or misaligned
                or blurry
            ):
                problems[page.stem] = {
                    "console": errors,
                    "width": width,
                    "first after title": (title_at, first),
                    "bad cells": bad[:5],
                    "finding boxes in the verdict": len(boxes),
                    "numeric cells not right-aligned": misaligned,
                    "plots not drawn at 2x (natural, shown px)": blurry[:3],
                    "numeric cells": numbers,
                }
    assert not problems, problems
    assert total_images >= 5, "the demo reports draw plots (checked above for 2x resolution)"
    # numbers are checked for right alignment wherever they are; a report may have none (service_path's
    # ladder is text), but the demo as a whole must have some, or the alignment check checked nothing
    assert total_numbers >= 20, "the demo reports show numeric table cells"


def test_the_failed_run_report_opens_with_its_error_and_the_cells_that_ran(reports: Path) -> None:
    with browser.chromium(WIDTH) as driver:
        driver.get((reports / "bad" / "failing" / "failing.html").as_uri())
        assert browser.console_errors(driver) == []
        _, first = driver.execute_script(_FIRST_AFTER_TITLE)
        assert first == "netdebug-verdict"
        verdict = driver.find_element("css selector", ".netdebug-verdict").text
        assert "The run failed in cell 3" in verdict and "RuntimeError: boom at the failing cell" in verdict
        assert "test.before" in verdict  # the finding recorded before the failure
        body = driver.find_element("tag name", "body").text
        assert body.count("boom at the failing cell") >= 2  # the verdict and the traceback where it failed
        assert driver.find_elements("css selector", ".netdebug-verdict a[href='#papermill-error-cell']")
        assert driver.find_elements("id", "papermill-error-cell")  # the link leads to the failing cell
        browser.screenshot(driver, "report-failed-run")


def test_the_incident_index_fits_the_page(reports: Path) -> None:
    from netdebug_nb import report

    index = report.build(reports)
    with browser.chromium(WIDTH) as driver:
        driver.get(index.as_uri())
        assert browser.console_errors(driver) == []
        assert driver.execute_script("return document.documentElement.scrollWidth") <= WIDTH
        assert driver.find_elements("css selector", "a[href$='pcap_analysis.html']")
        browser.screenshot(driver, "index")
        if os.environ.get("NETDEBUG_UPDATE_DOCS"):
            _doc_shot(driver, "index.png")


def _doc_shot(driver: object, name: str) -> None:
    """The first screenful at 1280 × 900, shrunk and reduced to a palette: a small PNG for the README."""
    from PIL import Image

    driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": 900, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.execute_script("window.scrollTo(0, 0)")  # type: ignore[attr-defined]
    raw = browser.ARTIFACTS / f"docs-{name}"
    browser.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(raw))  # type: ignore[attr-defined]
    DOCS.mkdir(exist_ok=True)
    with Image.open(raw) as img:
        small = img.convert("RGB").resize((960, 675), Image.LANCZOS).quantize(colors=64)
        small.save(DOCS / name, optimize=True)
