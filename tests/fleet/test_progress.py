from __future__ import annotations

import io

from netdebug_nb.fleet.progress import Progress

COUNTS = {"pending": 3, "running": 1, "succeeded": 1, "failed": 0, "collected": 1}


def test_terminal_redraws_one_line() -> None:
    out = io.StringIO()
    p = Progress(out, total=5, interactive=True)
    p.update(COUNTS)
    p.update({**COUNTS, "running": 2})
    p.done(COUNTS)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and "pending 3 · running 1" in text


def test_logs_are_throttled_but_the_final_line_is_always_written() -> None:
    out = io.StringIO()
    p = Progress(out, total=5, interactive=False, interval_s=3600)
    p.update(COUNTS)
    p.update({**COUNTS, "running": 2})  # within the interval: not printed
    p.done({**COUNTS, "succeeded": 5})
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and "succeeded 5" in lines[-1]


def test_no_stream_is_silent() -> None:
    Progress(None, total=1, interactive=False).done(COUNTS)
