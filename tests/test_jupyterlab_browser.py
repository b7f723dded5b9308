"""JupyterLab as a person uses it, in a real headless Chromium: ``netdebug-nb lab`` with a token,
log in, land on START.md, no news pop-up, upload a capture the way the file browser does, run
``pcap_analysis`` with its defaults (the guidance, no plots) then with the capture (finding
boxes, no traceback). Screenshots go to tests/artifacts/ (jupyterlab-*.png)."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import browser
import labserver
import pytest

from netdebug_nb.catalogue import DATA_DIR

pytestmark = pytest.mark.slow

CAPTURE = DATA_DIR / "pcap" / "sample.pcap"


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def upload(driver: Any, name: str, data: bytes) -> dict[str, Any]:
    """PUT /api/contents/NAME from the page, as JupyterLab's upload does: base64 file model,
    the login cookie and the _xsrf cookie echoed in X-XSRFToken."""
    result: dict[str, Any] = driver.execute_async_script(
        """
        const [name, b64, done] = arguments;
        const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "";
        fetch("/api/contents/" + encodeURIComponent(name), {
          method: "PUT",
          credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-XSRFToken": decodeURIComponent(xsrf)},
          body: JSON.stringify({type: "file", format: "base64", name: name, path: name, content: b64}),
        }).then(async r => done({status: r.status, body: await r.json()}),
                e => done({status: 0, body: String(e)}));
        """,
        name,
        base64.b64encode(data).decode(),
    )
    return result


def prompts(driver: Any) -> list[str]:
    """The execution prompt of every code cell of the open notebook ('[3]:', '[*]:', '[ ]:')."""
    return list(
        js(
            driver,
            "return [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell "
            ".jp-InputArea-prompt')].map(e => e.textContent.trim())",
        )
    )


def run_all(driver: Any, timeout: float = 240) -> None:
    """Run → Run All Cells from the menu bar, then wait until every code cell ran."""
    before = max([int(m.group(1)) for p in prompts(driver) if (m := re.search(r"\[(\d+)\]", p))] or [0])
    click_menu(driver, "Run", "Run All Cells")

    def finished() -> bool:
        ps = prompts(driver)
        numbers = [int(m.group(1)) for p in ps if (m := re.search(r"\[(\d+)\]", p))]
        return bool(ps) and len(numbers) == len(ps) and min(numbers) > before

    wait_for("Run All to finish", finished, timeout)


def click_menu(driver: Any, menu: str, item: str) -> None:
    """Open ``menu`` in the menu bar and click ``item``; a click that did not open the menu (an
    editor still had focus, a completer was up) is retried after Escape."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def visible_item() -> list[Any]:
        return [
            e
            for e in driver.find_elements(By.CSS_SELECTOR, ".lm-Menu-item .lm-Menu-itemLabel")
            if e.text == item and e.is_displayed()
        ]

    for _ in range(5):
        bar = f"//li[contains(@class,'lm-MenuBar-item')][.//div[text()='{menu}']]"
        driver.find_element(By.XPATH, bar).click()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline and not visible_item():
            time.sleep(0.2)
        found = visible_item()
        if found:
            found[0].click()
            return
        ActionChains(driver).send_keys(Keys.ESCAPE).perform()
        time.sleep(0.5)
    pytest.fail(f"menu {menu} → {item} did not open")


def set_parameter(driver: Any, name: str, value: str) -> None:
    """Type ``value`` over the value of parameter ``name`` in the parameters cell, keys as a person
    would: the whole ``name: type = value`` line, or, when the formatter wrapped a long help
    comment (``name: str = (`` / ``    ""  # help`` / ``)``), the value line inside."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    def lines() -> list[Any]:
        return driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel:not(.lm-mod-hidden) .cm-line")

    found = wait_for(
        f"the line of {name}", lambda: [i for i, e in enumerate(lines()) if e.text.startswith(f"{name}:")]
    )
    i = found[0]
    head = lines()[i].text
    kind = head.split(":", 1)[1].split("=", 1)[0].strip()
    if head.rstrip().endswith("("):  # inside the parentheses indentation is free: type the value alone
        i, typed = i + 1, value
    else:
        typed = f"{name}: {kind} = {value}"
    target = lines()[i]
    js(driver, "arguments[0].scrollIntoView({block: 'center'})", target)
    target.click()
    ActionChains(driver).send_keys(Keys.END).key_down(Keys.SHIFT).send_keys(Keys.HOME).key_up(
        Keys.SHIFT
    ).send_keys(typed).perform()
    wait_for(f"{typed!r} in the cell", lambda: any(e.text.strip().startswith(typed) for e in lines()), 10)


def outputs(driver: Any) -> dict[str, Any]:
    return dict(
        js(
            driver,
            """
            const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
            const q = s => [...nb.querySelectorAll(s)];
            return {
              images: q('.jp-OutputArea-output img, .jp-RenderedImage img').length,
              tables: q('.jp-OutputArea-output table.dataframe, .jp-OutputArea-output table.netdebug-table').length,
              findings: q('.netdebug-finding').map(e => e.textContent),
              guidance: q('.netdebug-guidance').map(e => e.textContent),
              notes: q('.netdebug-note').map(e => e.textContent),
              errors: q('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
                        .map(e => e.textContent).filter(t => /Traceback|Error/.test(t)),
              tracebacks: q('.jp-OutputArea-output').map(e => e.textContent).filter(t => t.includes('Traceback')),
            };
            """,
        )
    )


def news_popups(driver: Any) -> list[str]:
    return list(
        js(
            driver,
            "return [...document.querySelectorAll('.Toastify__toast, .jp-toast-message, .jp-Notification-Toast')]"
            ".map(e => e.textContent).filter(t => /news|update/i.test(t))",
        )
    )


def test_jupyterlab_landing_upload_and_run(tmp_path: Path) -> None:
    browser.require()
    from selenium.webdriver.common.by import By

    root = tmp_path / "notebooks"
    with labserver.running(root, tmp_path) as server, browser.chromium(1400, 1000) as driver:
        # login: the token is required, the form takes it, and we land on START.md, rendered
        driver.get(server.base + "/")
        field = wait_for(
            "the login form", lambda: driver.find_elements(By.CSS_SELECTOR, "input[type=password]")
        )
        assert "/login" in driver.current_url
        field[0].send_keys(server.token)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit], form input[type=submit]").click()
        wait_for("the landing page", lambda: "/lab/tree/START.md" in driver.current_url)
        heading = wait_for(
            "START.md rendered",
            lambda: [
                e
                for e in driver.find_elements(By.CSS_SELECTOR, ".jp-RenderedMarkdown h1")
                if "start here" in e.text and e.is_displayed()
            ],
        )
        assert heading
        links = js(
            driver, "return [...document.querySelectorAll('.jp-RenderedMarkdown a')].map(a => a.textContent)"
        )
        assert {"pcap_analysis", "latency", "dns_trace", "netstate", "fleet_mesh"} <= set(links)
        time.sleep(3)  # the news prompt, when enabled, appears within a second or two of start
        assert news_popups(driver) == []
        browser.screenshot(driver, "jupyterlab-landing")

        # a capture uploaded as the file browser does lands next to the notebooks
        done = upload(driver, "upload.pcap", CAPTURE.read_bytes())
        assert done["status"] == 201, done
        assert (root / "upload.pcap").read_bytes() == CAPTURE.read_bytes()

        # pcap_analysis with its defaults: what to give (naming the upload), no plots, no tables
        js(driver, "arguments[0].click()", driver.find_element(By.XPATH, "//a[text()='pcap_analysis']"))
        wait_for(
            "the notebook", lambda: driver.find_elements(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-CodeCell")
        )
        wait_for(
            "the netdebug kernel",
            lambda: js(
                driver,
                "return [...document.querySelectorAll('.jp-Toolbar-kernelName, .jp-KernelName')]"
                ".some(e => e.textContent.includes('netdebug'))",
            ),
        )
        run_all(driver)
        seen = outputs(driver)
        js(driver, "document.querySelector('.jp-NotebookPanel .jp-Cell').scrollIntoView({block: 'start'})")
        time.sleep(0.5)
        browser.screenshot(driver, "jupyterlab-pcap-defaults")
        assert seen["images"] == 0 and seen["tables"] <= 1, seen  # at most the findings summary
        assert len(seen["guidance"]) == 1 and "pcap = " in seen["guidance"][0], seen
        assert "upload.pcap" in seen["guidance"][0] and "capture_interface" in seen["guidance"][0]
        assert any("nothing to draw" in n for n in seen["notes"]), seen
        assert seen["tracebacks"] == [] and seen["errors"] == [], seen

        # the parameter set to the upload's name, Run All: findings, plots, no traceback
        set_parameter(driver, "pcap", '"upload.pcap"')
        run_all(driver)
        seen = outputs(driver)
        browser.screenshot(driver, "jupyterlab-pcap-upload")
        assert seen["tracebacks"] == [] and seen["errors"] == [], seen
        assert seen["guidance"] == [], seen
        assert any("tcp.retransmissions" in f for f in seen["findings"]), seen["findings"]
        assert seen["images"] >= 3 and seen["tables"] >= 5, seen
        assert news_popups(driver) == []
        fetched = js(driver, "return performance.getEntriesByType('resource').map(e => e.name)")
        elsewhere = [u for u in fetched if not u.startswith((server.base, "data:", "blob:"))]
        assert fetched and elsewhere == [], elsewhere  # the page asked nothing of the internet
        severe = [m for m in browser.console_errors(driver) if "favicon" not in m]
        print("console errors:", severe)
