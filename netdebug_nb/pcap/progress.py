"""Progress of long capture work (files read, packets, rate) on a terminal or in JupyterLab.

Reading a capture set or exporting it can take minutes; the user should see it moving. Nothing
is shown for work that ends within ``after_s`` seconds, so quick runs and reports stay clean.
"""

from __future__ import annotations

import time
from typing import TextIO


class Terminal:
    """A progress line on a text stream: redrawn in place on a terminal, one line per step otherwise."""

    def __init__(self, stream: TextIO, *, after_s: float = 2.0) -> None:
        self.stream = stream
        self.after_s = after_s
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._shown = False

    def __call__(self, stage: str, done: int, of: int, packets: int, seconds: float) -> None:
        now = time.monotonic()
        final = done == of
        if seconds < self.after_s or (not final and now - self._last < (0.2 if self.tty else 5.0)):
            return
        self._last = now
        rate = packets / seconds if seconds > 0 else 0.0
        unit = "files" if stage == "read" else "flow buckets"
        line = f"{stage}: {done}/{of} {unit}, {packets:,} packets, {rate:,.0f} packets/s, {seconds:.1f} s"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self._shown = True


class Notebook:
    """The same in a Jupyter output area: one display updated in place (text, no widgets needed)."""

    def __init__(self, *, after_s: float = 2.0) -> None:
        self.after_s = after_s
        self._handle: object | None = None

    def __call__(self, stage: str, done: int, of: int, packets: int, seconds: float) -> None:
        if seconds < self.after_s:
            return
        from IPython.display import display

        rate = packets / seconds if seconds > 0 else 0.0
        unit = "files" if stage == "read" else "flow buckets"
        text = f"{stage}: {done}/{of} {unit}, {packets:,} packets, {rate:,.0f} packets/s, {seconds:.1f} s"
        if self._handle is None:
            self._handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": text}, raw=True)  # type: ignore[attr-defined]
