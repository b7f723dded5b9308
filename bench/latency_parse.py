"""Parsing 1,000,000 fping probe lines: netdebug's vectorized parser vs a per-line Python loop.

The peer is the obvious implementation (a regex per line, a dict per probe, one DataFrame at the
end). Both produce one row per probe with target, seq, rtt and send time.

    .venv/bin/python bench/latency_parse.py [--lines 1000000]
"""

from __future__ import annotations

import argparse
import re
import time

import pandas as pd

from netdebug_nb.latency import fping

_LINE = re.compile(r"^\[([\d.]+)\] (\S+) : \[(\d+)\], (\d+) bytes, ([\d.]+) ms")


def per_line(text: str) -> pd.DataFrame:
    rows = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            ts, host, seq, _, rtt = m.groups()
            rows.append({"target": host, "seq": int(seq), "rtt_ms": float(rtt),
                         "sent_ts": pd.Timestamp(float(ts) - float(rtt) / 1000, unit="s", tz="UTC")})  # fmt: skip
    return pd.DataFrame(rows)


def generate(n_lines: int, n_targets: int = 1000) -> str:
    lines = []
    for i in range(n_lines):
        s, t = divmod(i, n_targets)
        if (s * 7 + t) % 50 == 0:
            lines.append(
                f"[{1795847437 + s:d}.{t:05d}] 198.18.{t // 250}.{t % 250} : [{s}], timed out (0.1 avg, 2% loss)"
            )
        else:
            lines.append(
                f"[{1795847437 + s:d}.{t:05d}] 198.18.{t // 250}.{t % 250} : [{s}], 64 bytes, "
                f"{(s * 7 + t) % 900 / 10:.3f} ms (0.1 avg, 0% loss)"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    a = ap.parse_args()
    text = generate(a.lines)
    t0 = time.perf_counter()
    ours = fping.parse(text).probes
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    peer = per_line(text)
    t_peer = time.perf_counter() - t0
    print(f"lines={a.lines} ({len(text) / 1e6:.0f} MB)")
    print(f"netdebug fping.parse   {t_ours:7.2f} s  {a.lines / t_ours / 1e6:.2f} M lines/s  rows={len(ours)}")
    print(
        f"per-line Python loop   {t_peer:7.2f} s  {a.lines / t_peer / 1e6:.2f} M lines/s  rows={len(peer)} (replies only)"
    )
    print(f"ratio per-line/netdebug = {t_peer / t_ours:.2f}x")


if __name__ == "__main__":
    main()
