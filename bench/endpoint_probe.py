"""Endpoint probing: the schedule against its floor, and the cost of a request against bare curl.

1. **Schedule**: 50 targets x 20 trials with concurrency 10. The slowest target answers 100 ms
   late, the others 2-20 ms. Trials of one target are serial, so the run cannot be shorter than
   the slowest target's 20 trials one after the other; it should not be much longer either
   (target: <= 1.10 x that floor, measured alone in the same run).
2. **Per request**: serial trials of one fast local URL (fresh connection each, as the prober
   always does) vs the ``curl`` binary with ``-w '%{json}'`` fetching the same URL N times in one
   process with ``Connection: close`` (a fresh connection per request too), and vs one ``curl``
   process per request (what a shell loop or httpstat does). Target: <= 1.2 x curl.

Servers are tests/probe/servers.py processes on 127.0.0.1 (loopback only, no root needed)::

    .venv/bin/python bench/endpoint_probe.py [--rounds 3] [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVERS = ROOT / "tests" / "probe" / "servers.py"
sys.path.insert(0, str(ROOT))


def start_servers(tmp: Path, n: int, base_port: int) -> list[subprocess.Popen[bytes]]:
    delays = {f"/t{i}": 2 + (i * 7) % 19 for i in range(50)} | {"/t49": 100}
    (tmp / "cfg.json").write_text(json.dumps({"delay_ms": delays}))
    procs = []
    for k in range(n):
        p = subprocess.Popen([sys.executable, str(SERVERS), "http", "127.0.0.1", str(base_port + k), str(tmp / "cfg.json")],
                             stdout=subprocess.PIPE)  # fmt: skip
        procs.append(p)
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == b"ready"
    return procs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--port", type=int, default=23400)
    args = ap.parse_args()

    from netdebug_nb.probe import prober, schedule, target

    with tempfile.TemporaryDirectory() as d:
        procs = start_servers(Path(d), 5, args.port)
        try:
            urls = [f"http://127.0.0.1:{args.port + i % 5}/t{i}" for i in range(50)]
            targets = [target.parse(u) for u in urls]
            fast = f"http://127.0.0.1:{args.port}/fast"
            o_all = prober.Options(trials=20, concurrency=10, timeout_s=10)
            schedule.collect([target.parse(fast)], prober.Options(trials=5))  # warm up imports
            floors, walls, ours, curl_one, curl_loop = [], [], [], [], []
            for _ in range(args.rounds):
                t0 = time.perf_counter()
                schedule.collect([targets[-1]], prober.Options(trials=20, concurrency=1, timeout_s=10))
                floors.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                df = schedule.collect(targets, o_all)
                walls.append(time.perf_counter() - t0)
                assert len(df) == 1000 and df["ok"].all(), df["error"].unique()
            # per request: short blocks, ours and curl's alternating, so load drift hits both alike
            n = args.requests // 4
            one = target.parse(fast)
            for _ in range(args.rounds * 4):
                t0 = time.perf_counter()
                schedule.collect([one], prober.Options(trials=n, concurrency=1))
                ours.append((time.perf_counter() - t0) / n)
                t0 = time.perf_counter()
                subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Connection: close", "-w", "%{json}\\n", *[fast] * n],
                               check=True, stdout=subprocess.DEVNULL)  # fmt: skip
                curl_one.append((time.perf_counter() - t0) / n)
            for _ in range(10):
                t0 = time.perf_counter()
                subprocess.run(
                    ["curl", "-s", "-o", "/dev/null", "-w", "%{json}\\n", fast],
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                curl_loop.append(time.perf_counter() - t0)
        finally:
            for p in procs:
                p.terminate()
                p.wait()
    floor, wall = statistics.median(floors), statistics.median(walls)
    med = {
        k: statistics.median(v) * 1000
        for k, v in (("ours", ours), ("curl_one", curl_one), ("curl_loop", curl_loop))
    }
    print(json.dumps({
        "schedule": {"targets": 50, "trials": 20, "concurrency": 10,
                     "slowest_target_serial_s": round(floor, 3), "all_targets_s": round(wall, 3),
                     "ratio": round(wall / floor, 3), "rounds": [round(w / f, 3) for w, f in zip(walls, floors, strict=True)]},
        "per_request_ms": {"netdebug_pycurl": round(med["ours"], 3), "curl_one_process_N_urls": round(med["curl_one"], 3),
                           "curl_process_per_request": round(med["curl_loop"], 3),
                           "ratio_vs_curl_one_process": round(med["ours"] / med["curl_one"], 3),
                           "ratio_vs_curl_per_request": round(med["ours"] / med["curl_loop"], 3)},
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
