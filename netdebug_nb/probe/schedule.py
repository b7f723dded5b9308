"""Run the trials of many targets at once: serial per (target, backend), ``concurrency`` in flight.

Trials of one target never overlap (a target's numbers must not include queueing behind itself)
and start at least ``interval_s`` apart. Which target goes next when a worker frees up is chosen
longest-remaining-work first (remaining trials x observed mean duration, unknown = first), so a
slow target starts early and the whole run takes about as long as that target's serial trials,
not that plus everything queued before it (bench/endpoint_probe.py measures this).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netdebug_nb.probe import prober, trial

if TYPE_CHECKING:
    import pandas as pd

    from netdebug_nb.probe.target import Target


@dataclass
class _Lane:
    index: int
    target: Target
    started: int = 0
    busy: bool = False
    next_at: float = 0.0
    durations: list[float] = field(default_factory=list)

    def work(self, trials: int, interval_s: float) -> float:
        left = trials - self.started
        if not self.durations:
            return math.inf
        return left * max(sum(self.durations) / len(self.durations), interval_s)


def make(protocol: str, options: prober.Options) -> prober.Prober:
    """The prober for ``protocol`` (http and https share one; so do grpc and grpcs)."""
    if protocol in ("http", "https"):
        from netdebug_nb.probe.http import HttpProber

        return HttpProber(options)
    if protocol == "tcp":
        from netdebug_nb.probe.tcp import TcpProber

        return TcpProber(options)
    if protocol in ("grpc", "grpcs"):
        from netdebug_nb.probe.grpchealth import GrpcProber

        return GrpcProber(options)
    raise ValueError(f"no prober for protocol {protocol!r}")


def collect(
    targets: Sequence[Target],
    options: prober.Options,
    *,
    make: Callable[[str, prober.Options], prober.Prober] = make,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Every trial of every target as TRIALS_SCHEMA rows (ordered by target, backend, trial)."""
    o = options.usable()
    lanes = [_Lane(i, t) for i, t in enumerate(targets)]
    total = len(lanes) * o.trials
    rows: list[dict[str, Any]] = []
    cond = threading.Condition()

    def take() -> tuple[_Lane, int] | None:
        while True:
            now = time.monotonic()
            todo = [ln for ln in lanes if ln.started < o.trials]
            if not todo:
                return None
            ready = [ln for ln in todo if not ln.busy and ln.next_at <= now]
            if ready:
                lane = max(ready, key=lambda ln: (ln.work(o.trials, o.interval_s), -ln.index))
                lane.busy = True
                lane.started += 1
                return lane, lane.started - 1
            waits = [ln.next_at - now for ln in todo if not ln.busy]
            cond.wait(timeout=max(0.0, min(waits)) if waits else None)

    def worker() -> None:
        probers: dict[str, prober.Prober] = {}
        try:
            while True:
                with cond:
                    got = take()
                if got is None:
                    return
                lane, n = got
                t0 = time.monotonic()
                row = _run(probers, make, o, lane.target, n)
                with cond:
                    lane.durations.append(time.monotonic() - t0)
                    lane.busy = False
                    lane.next_at = t0 + o.interval_s
                    rows.append(row)
                    done = len(rows)
                    cond.notify_all()
                if progress is not None:
                    progress(done, total)
        finally:
            for p in probers.values():
                p.close()

    threads = [
        threading.Thread(target=worker, name=f"probe-{i}", daemon=True)
        for i in range(min(o.concurrency, len(lanes)))
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    order = {t.key: i for i, t in enumerate(targets)}
    rows.sort(
        key=lambda r: (
            order.get((r["target"], r["backend"] if r["backend_kind"] != "direct" else ""), 0),
            r["trial"],
        )
    )
    return trial.frame(rows)


def _run(
    probers: dict[str, prober.Prober],
    make: Callable[[str, prober.Options], prober.Prober],
    o: prober.Options,
    t: Target,
    n: int,
) -> dict[str, Any]:
    key = {"https": "http", "grpcs": "grpc"}.get(t.protocol, t.protocol)
    try:
        if key not in probers:
            probers[key] = make(t.protocol, o)
        return probers[key].trial(t, n)
    except Exception as exc:  # a prober bug must cost one row, not the run
        return _failed(t, n, f"{type(exc).__name__}: {exc}")


def _failed(t: Target, n: int, message: str) -> dict[str, Any]:
    import datetime as dt

    row: dict[str, Any] = {c: None for c in trial.TRIALS_SCHEMA}
    row.update(trial.for_target(t, n, dt.datetime.now(dt.UTC)))
    row.update({"ok": False, "completed": False, "error_kind": "probe_error", "error_phase": "", "error": message,
                "size_download_bytes": 0, "size_upload_bytes": 0, "size_header_bytes": 0, "size_request_bytes": 0,
                "redirects": 0, "url_effective": t.url})  # fmt: skip
    return row
