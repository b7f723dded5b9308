"""Benchmark: the whole `pcap_analysis` report (or `pcap export`) on a big capture, against tshark and capinfos.

Generates a mixed capture with bench/pcap_read.py's generator in a temporary directory (one
file, or ``--files K`` consecutive files of a ring buffer), then times in subprocesses, with
peak RSS from wait4:

* ``netdebug-nb run pcap_analysis`` (kernel start, every cell, HTML) — or with ``--export``,
  ``netdebug-nb pcap export`` (bounded memory: ``--memory-mb``);
* the executed notebook's cell times: the load cell (read + every analysis) and the rest;
* peers on the same files in the same run: ``capinfos`` and ``tshark -q -z conv,tcp``.

Ratios are printed because the 2-core machines are shared and absolute times are noisy; the
load average at the start is printed too. Files are deleted at the end.

    .venv/bin/python bench/pcap_report.py [--packets 1000000] [--files 1] [--export] [--memory-mb 2048]
        [--dir EXISTING_SET] [--no-peers]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pcap_read import generate

BIN = Path(sys.executable).parent


TREE: dict[str, float] = {}  # of the last timed(): peak RSS summed over its process tree, CPU seconds


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MB of its largest process, stdout) of ``cmd`` (output to files: a
    full pipe would block it); ``TREE`` gets the peak RSS summed over the whole process tree (the
    kernel, the flow-bucket helper, the reader's workers), sampled every 0.1 s, and the CPU time."""
    import threading

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        peak = [0]
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], sum(_rss_kb(q) for q in _tree(p.pid)))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _pid, status, usage = os.wait4(p.pid, 0)
        done.set()
        sampler.join()
        wall = time.perf_counter() - t
        TREE.update(rss_mb=peak[0] / 1024, cpu_s=usage.ru_utime + usage.ru_stime)
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{cmd[0]} failed: {err.read()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from /proc."""
    kids: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            kids.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(name))
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo += kids.get(q, [])
    return out


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=1, help="split into this many consecutive files")
    ap.add_argument("--export", action="store_true", help="time `pcap export` instead of the notebook")
    ap.add_argument("--memory-mb", type=int, default=2048)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument(
        "--dir", type=Path, help="an existing capture set (its ring*/trace* files) instead of generating one"
    )
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    tmp = Path(tempfile.mkdtemp(prefix="ndbench-report-"))
    try:
        if args.dir is not None:  # e.g. the 40-file, 40M-packet set of the memory goal
            paths = sorted(p for p in args.dir.iterdir() if p.is_file())
            spec = str(args.dir)
            print(
                f"capture: {len(paths)} file(s) in {args.dir}, {sum(p.stat().st_size for p in paths) / 1e6:,.0f} MB"
            )
        else:
            per = args.packets // args.files
            paths = [tmp / f"trace.pcap{i}" for i in range(args.files)]
            size, start = 0, 1_700_000_000.0
            for i, p in enumerate(paths):  # a ring buffer: each file starts where the previous one ended
                size += generate(p, per, seed=i + 1, start=start)
                start = _last_ts(p)
            spec = str(paths[0]) if args.files == 1 else str(tmp)
            print(f"capture: {per * args.files:,} packets in {args.files} file(s), {size / 1e6:,.0f} MB")
        if args.export:
            wall, rss, out = timed(
                [str(BIN / "netdebug-nb"), "pcap", "export", spec, "--out", str(tmp / "export"),
                 "--memory-mb", str(args.memory_mb)]
            )  # fmt: skip
            print(
                f"netdebug-nb pcap export: {wall:.2f} s wall, {TREE['cpu_s']:.1f} s CPU, {rss:.0f} MB peak RSS "
                f"({TREE['rss_mb']:.0f} MB summed over its processes)  ({out.strip()})"
            )
        else:
            began = time.time()
            wall, rss, _ = timed(
                [str(BIN / "netdebug-nb"), "run", "pcap_analysis", "-p", "pcap", spec, "-p", "kubernetes", "false",
                 "-p", "memory_mb", str(args.memory_mb), "--out", str(tmp / "report")]
            )  # fmt: skip
            print(
                f"netdebug-nb run pcap_analysis: {wall:.2f} s wall, {TREE['cpu_s']:.1f} s CPU, {rss:.0f} MB peak "
                f"RSS ({TREE['rss_mb']:.0f} MB summed over its processes)"
            )
            nb = json.loads((tmp / "report" / "pcap_analysis" / "pcap_analysis.ipynb").read_text())
            code = [c["metadata"]["papermill"] for c in nb["cells"] if c["cell_type"] == "code"]
            first, last = _stamp(code[0]["start_time"]), _stamp(code[-1]["end_time"])
            print(
                f"  before the first cell (CLI, kernel start, imports): {first - began:.2f} s; "
                f"cells: {last - first:.2f} s; after the last cell (HTML, findings.json): {began + wall - last:.2f} s"
            )
            cells = [
                (c["metadata"].get("papermill", {}).get("duration") or 0.0, "".join(c["source"]))
                for c in nb["cells"]
                if c["cell_type"] == "code"
            ]
            load = next(d for d, s in cells if "tables.load(" in s)
            rest = sum(d for d, s in cells if "tables.load(" not in s)
            print(f"  load cell (read + all analysis): {load:.2f} s; other cells together: {rest:.2f} s")
            for d, s in sorted(cells, reverse=True)[:4]:
                print(f"    {d:6.2f} s  {s.splitlines()[0][:60]}")
        if not args.no_peers:
            for name, cmd in (
                ("capinfos", ["capinfos", *map(str, paths)]),
                (
                    "tshark -z conv,tcp",
                    ["sh", "-c", " ; ".join(f"tshark -n -q -z conv,tcp -r {p}" for p in paths)],
                ),
            ):
                if shutil.which(cmd[0] if cmd[0] != "sh" else "tshark"):
                    pw, prss, _ = timed(cmd)
                    print(
                        f"{name}: {pw:.2f} s wall, {prss:.0f} MB peak RSS; netdebug / {name}: {wall / pw:.2f}x"
                    )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _stamp(iso: str) -> float:
    import datetime as dt

    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _last_ts(path: Path) -> float:
    from netdebug_nb.pcap import reader

    return float(reader.read(path)["ts"].max().value) / 1e9


if __name__ == "__main__":
    raise SystemExit(main())
