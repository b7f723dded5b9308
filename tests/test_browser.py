"""The browser harness itself: a local page renders, its console errors and width are readable."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import browser


def test_chromium_renders_a_local_page(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text(
        "<!doctype html><title>t</title><body><h1 id='h'>hello</h1>"
        "<script>console.error('boom')</script></body>"
    )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(tmp_path), **kw)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with browser.chromium() as driver:
            driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            assert driver.find_element("id", "h").text == "hello"
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 1280
            assert any("boom" in m for m in browser.console_errors(driver))
            shot = browser.screenshot(driver, "harness")
            assert shot.stat().st_size > 1000
    finally:
        server.shutdown()
