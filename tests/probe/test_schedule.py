"""The schedule: trials of one target never overlap, at most ``concurrency`` run at once, the
interval holds, and a slow target is started first (a prober that sleeps stands in for the network)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, ClassVar

from netdebug_nb import schema
from netdebug_nb.probe import prober, schedule, target, trial


class SleepyProber:
    """Sleeps ``delay[target]`` per trial and records when each trial ran."""

    log: ClassVar[list[tuple[str, int, float, float]]] = []
    lock = threading.Lock()

    def __init__(self, delay: dict[str, float]) -> None:
        self.delay = delay

    def trial(self, t: target.Target, n: int) -> dict[str, Any]:
        start = time.monotonic()
        time.sleep(self.delay[t.target])
        with self.lock:
            self.log.append((t.target, n, start, time.monotonic()))
        if t.target == "tcp://boom:1":
            raise RuntimeError("prober bug")
        return schedule._failed(t, n, "") | {"ok": True, "completed": True, "error_kind": ""}

    def close(self) -> None:
        pass


def _run(delays: dict[str, float], **opts: Any) -> Any:
    SleepyProber.log = []
    targets = [target.parse(t) for t in delays]
    o = prober.Options(**opts)
    return schedule.collect(targets, o, make=lambda proto, o: SleepyProber(delays))


def test_serial_per_target_bounded_concurrency_and_ordered_rows() -> None:
    delays = {f"tcp://h{i}:1": 0.01 for i in range(12)} | {"tcp://slow:1": 0.05}
    df = _run(delays, trials=4, concurrency=3)
    schema.check(df, trial.TRIALS_SCHEMA)
    assert len(df) == 13 * 4 and list(df["target"].unique()) == list(delays)
    assert df.groupby("target")["trial"].apply(list).map(lambda x: x == [0, 1, 2, 3]).all()
    log = SleepyProber.log
    for t in delays:
        runs = sorted((s, e) for tt, _, s, e in log if tt == t)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(runs)), f"{t} overlapped itself"
    edges = sorted([(s, 1) for *_, s, _ in log] + [(e, -1) for *_, e in log])
    in_flight = peak = 0
    for _, d in edges:
        in_flight += d
        peak = max(peak, in_flight)
    assert peak <= 3
    # the slow target ran back to back once its first trial showed it was slow
    slow = sorted(s for t, _, s, _ in log if t == "tcp://slow:1")
    assert slow[-1] - slow[0] < 3 * 0.05 + 0.1


def test_interval_between_trial_starts_and_a_broken_prober_costs_rows_not_the_run() -> None:
    df = _run({"tcp://a:1": 0.0, "tcp://boom:1": 0.0}, trials=3, interval_s=0.1, concurrency=2)
    starts = sorted(s for t, _, s, _ in SleepyProber.log if t == "tcp://a:1")
    assert all(b - a >= 0.095 for a, b in itertools.pairwise(starts))
    boom = df[df["target"] == "tcp://boom:1"]
    assert list(boom["error_kind"]) == ["probe_error"] * 3 and boom["error"].str.contains("prober bug").all()
