"""The one-line progress display of a fleet run (pending/running/succeeded/failed per node)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TextIO


class Progress:
    """Redraws one line on a terminal; elsewhere prints a line when counts change, at most
    every ``interval_s`` (CI logs stay short for 500 nodes)."""

    def __init__(
        self, stream: TextIO | None, *, total: int, interactive: bool, interval_s: float = 10.0
    ) -> None:
        self.stream = stream
        self.total = total
        self.interactive = interactive
        self.interval_s = interval_s
        self._last = ""
        self._last_t = float("-inf")

    def update(self, counts: Mapping[str, int], *, force: bool = False) -> None:
        if self.stream is None:
            return
        text = (
            f"fleet: {self.total} node(s): pending {counts.get('pending', 0)} · running {counts.get('running', 0)}"
            f" · succeeded {counts.get('succeeded', 0)} · failed {counts.get('failed', 0)}"
            f" · collected {counts.get('collected', 0)}"
        )
        now = time.monotonic()
        if text == self._last and not force:
            return
        if self.interactive:
            self.stream.write("\r\033[K" + text)
        elif force or now - self._last_t >= self.interval_s:
            self.stream.write(text + "\n")
        else:
            return
        self.stream.flush()
        self._last, self._last_t = text, now

    def done(self, counts: Mapping[str, int]) -> None:
        self.update(counts, force=True)
        if self.stream is not None and self.interactive:
            self.stream.write("\n")
            self.stream.flush()
