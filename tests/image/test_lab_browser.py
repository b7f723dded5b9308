"""JupyterLab as users reach it through ``kubectl port-forward``, in a real browser.

The server is started as the lab image starts it: ``jupyter lab`` with the image's
``jupyter_server_config.py`` (netdebug_nb/data/jupyter) on the config path, a token given in ``JUPYTER_TOKEN``, listening on
127.0.0.1, serving a copy of the shipped notebooks with the kit's kernel. Without the token the
browser gets the login page; with it, ``pcap_analysis.ipynb`` runs all its cells and shows a
finding box.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import browser
import pytest

from netdebug_nb import catalogue, kernel

pytestmark = pytest.mark.slow

CONFIG_DIR = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "jupyter"  # netdebug-nb lab's
TOKEN = "netdebug-browser-test-token-5f1c"


@dataclass
class Lab:
    url: str
    token: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def jupyterlab() -> Iterator[Lab]:
    browser.require()
    root = Path(tempfile.mkdtemp(prefix="netdebug-lab-"))
    home, etc, notebooks = root / "home", root / "etc" / "jupyter", root / "home" / "notebooks"
    etc.mkdir(parents=True)
    shutil.copytree(CONFIG_DIR, etc, dirs_exist_ok=True)  # what netdebug-nb lab puts on the config path
    shutil.copytree(catalogue.notebooks_dir(), notebooks)
    port = _free_port()
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(home),
        "JUPYTER_CONFIG_PATH": str(etc),
        "JUPYTER_CONFIG_DIR": str(home / ".jupyter"),
        "JUPYTER_PATH": str(kernel.ensure()),  # the image runs `netdebug-nb kernel` at build time
        "JUPYTER_TOKEN": TOKEN,
        "NETDEBUG_LAB_IP": "127.0.0.1",
        "NETDEBUG_LAB_PORT": str(port),
        "NETDEBUG_LAB_ROOT": str(notebooks),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    }
    argv = [sys.executable, "-m", "jupyterlab"]  # `jupyter lab`, without a second exec through PATH
    if os.geteuid() == 0:
        # The image runs as uid 1000 and its config refuses root. Here the kit's interpreter may sit
        # where only root can reach it (a pyenv under /root), so the kernel could not start as
        # another user: run as root and lift only that one setting, on the command line.
        argv.append("--ServerApp.allow_root=True")
    log = root / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield Lab(url, TOKEN, log)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)


def test_without_the_token_the_browser_gets_the_login_page(jupyterlab: Lab) -> None:
    with browser.chromium() as driver:
        driver.get(f"{jupyterlab.url}/lab/tree/pcap_analysis.ipynb")
        assert "/login" in driver.current_url
        assert driver.find_elements("css selector", "input[type=password]")
        assert not driver.find_elements("css selector", ".jp-NotebookPanel")
        driver.get(f"{jupyterlab.url}/login?next=/lab")
        driver.find_element("css selector", "input[type=password]").send_keys("wrong-token")
        driver.find_element("css selector", "form").submit()
        time.sleep(1)
        assert "/login" in driver.current_url  # a wrong token is refused
        browser.screenshot(driver, "lab-login")


def test_with_the_token_pcap_analysis_runs_and_shows_a_finding(jupyterlab: Lab) -> None:
    with browser.chromium(1280, 1000) as driver:
        try:
            _run_all_and_check(driver, jupyterlab)
        finally:
            browser.screenshot(driver, "lab-pcap_analysis")


def _run_all_and_check(driver: Any, jupyterlab: Lab) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(f"{jupyterlab.url}/login?next=%2Flab%2Ftree%2Fpcap_analysis.ipynb")
    driver.find_element("css selector", "input[type=password]").send_keys(jupyterlab.token)
    driver.find_element("css selector", "form").submit()
    wait = WebDriverWait(driver, 120, poll_frequency=0.5)
    wait.until(ec.presence_of_element_located(("css selector", ".jp-NotebookPanel .jp-Cell")))
    wait.until(_idle_kernel)
    finding = ".jp-OutputArea-output .netdebug-finding"
    for attempt in range(3):  # a kernel chooser popping up swallows the command: ask again
        menu = next(e for e in driver.find_elements("css selector", ".lm-MenuBar-item") if e.text == "Run")
        menu.click()
        wait.until(
            ec.element_to_be_clickable(("css selector", "li.lm-Menu-item[data-command='runmenu:run-all']"))
        ).click()
        try:
            box = WebDriverWait(driver, 90, poll_frequency=1).until(
                lambda d: _answer_dialogs(d) or _visible(d, finding)
            )
            break
        except TimeoutException:
            if attempt == 2 or _started(driver):
                raise
            wait.until(_idle_kernel)
    assert "capture.none" in box.text  # no capture given: the notebook says what to give
    # the last cell's findings summary: every cell ran, and DataFrames show through the presenter
    last = ".jp-Notebook .jp-Cell:last-child .jp-OutputArea-output table.netdebug-table"
    summary = WebDriverWait(driver, 180, poll_frequency=1).until(
        lambda d: _answer_dialogs(d) or _visible(d, last)
    )
    assert "capture.none" in summary.text and "row_heading" not in summary.get_attribute("outerHTML")
    assert not driver.find_elements("css selector", ".jp-OutputArea-output[data-mime-type*='error']")


def _answer_dialogs(driver: Any) -> None:
    """A kernel chooser may pop up (JupyterLab asks when a session starts late): take its default."""
    for button in driver.find_elements("css selector", ".jp-Dialog .jp-Dialog-button.jp-mod-accept"):
        button.click()


def _started(driver: Any) -> bool:
    prompts = [e.text for e in driver.find_elements("css selector", ".jp-InputPrompt")]
    return any(p.startswith("[") and p != "[ ]:" for p in prompts)


def _visible(driver: Any, css: str) -> Any:
    shown = [e for e in driver.find_elements("css selector", css) if e.is_displayed()]
    return shown[0] if shown else False


def _idle_kernel(driver: Any) -> bool:
    """The notebook's kernel is up and idle."""
    _answer_dialogs(driver)
    return bool(driver.find_elements("css selector", ".jp-Notebook-ExecutionIndicator[data-status='idle']"))
