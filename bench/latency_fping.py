"""Probing 200 targets x 20 probes: bare fping vs netdebug's collect + parse + summarize.

The kit must not add wall time to what fping itself needs: the overhead budget is 10%.
Builds two network namespaces (needs root): a client, and a server answering for all of
198.18.4.0/24 (AnyIP route on lo), then runs both variants alternately inside the client.

    sudo .venv/bin/python bench/latency_fping.py [--targets 200] [--count 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def inner(n_targets: int, count: int, rounds: int) -> None:
    from netdebug_nb.latency import fping, probes

    targets = [f"198.18.4.{i}" for i in range(1, n_targets + 1)]
    opts = {"count": count, "period_ms": 250, "interval_ms": 1}
    argv = fping.command(targets, **opts)
    bare: list[float] = []
    kit: list[float] = []
    split: list[tuple[float, float]] = []
    for i in range(rounds):
        for variant in ("bare", "kit") if i % 2 == 0 else ("kit", "bare"):  # alternate to cancel drift
            t0 = time.perf_counter()
            if variant == "bare":
                subprocess.run(argv, capture_output=True, text=True)
                bare.append(time.perf_counter() - t0)
                continue
            text = fping.collect(targets, **opts)
            t1 = time.perf_counter()
            out = fping.parse(text)
            stats = probes.summarize(out.probes)
            kit.append(time.perf_counter() - t0)
            split.append((t1 - t0, time.perf_counter() - t1))
            assert len(out.probes) == n_targets * count and (stats["status"] == "ok").sum() > 0.9 * n_targets
    b, k = statistics.median(bare), statistics.median(kit)
    print(f"targets={n_targets} probes/target={count} rounds={rounds} argv={' '.join(argv[:9])} ...")
    print(f"bare fping             median {b:7.3f} s  (runs: {', '.join(f'{x:.3f}' for x in bare)})")
    print(f"collect+parse+summary  median {k:7.3f} s  (runs: {', '.join(f'{x:.3f}' for x in kit)})")
    print(f"  of which fping via tools.run median {statistics.median(c for c, _ in split):.3f} s, "
          f"parse+summarize median {statistics.median(p for _, p in split):.3f} s")  # fmt: skip
    print(f"ratio kit/bare = {k / b:.3f}  overhead = {100 * (k - b) / b:+.1f}%  (budget +10%)")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets", type=int, default=200)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        inner(a.targets, a.count, a.rounds)
        return 0
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        return 2
    tag = f"ndb{os.getpid() % 100000}"
    cli, srv = f"{tag}-c", f"{tag}-s"
    try:
        for ns in (cli, srv):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "link", "add", f"{tag}a", "type", "veth", "peer", "name", f"{tag}b")
        sh("ip", "link", "set", f"{tag}a", "netns", cli)
        sh("ip", "link", "set", f"{tag}b", "netns", srv)
        sh("ip", "-n", cli, "addr", "add", "198.18.3.2/24", "dev", f"{tag}a")
        sh("ip", "-n", srv, "addr", "add", "198.18.3.1/24", "dev", f"{tag}b")
        sh("ip", "-n", cli, "link", "set", f"{tag}a", "up")
        sh("ip", "-n", srv, "link", "set", f"{tag}b", "up")
        sh("ip", "-n", srv, "route", "add", "local", "198.18.4.0/24", "dev", "lo")
        sh("ip", "-n", cli, "route", "add", "198.18.4.0/24", "via", "198.18.3.1")
        args = ["--targets", str(a.targets), "--count", str(a.count), "--rounds", str(a.rounds), "--inner"]
        return subprocess.run(["ip", "netns", "exec", cli, sys.executable, __file__, *args]).returncode
    finally:
        for ns in (cli, srv):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


if __name__ == "__main__":
    raise SystemExit(main())
