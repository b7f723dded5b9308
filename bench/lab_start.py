"""Start-up of ``netdebug-nb lab`` against plain ``jupyter lab`` (same venv, same free port, same
root): the wrapper adds the kernel-spec check, the notebooks-root seeding and one exec. Also the
cost of the live-capture progress counter (pcap records per second) against dpkt's pcap reader
walking the same bytes. Prints medians and ratios.

    .venv/bin/python bench/lab_start.py [--repeat N]
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def time_to_api(argv: list[str], port: int, env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=1):
                    return time.perf_counter() - t0
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"{argv[0]} exited with {proc.returncode}") from None
                time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def startup(repeat: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-lab-"))
    env = {**os.environ, "JUPYTER_TOKEN": "bench"}
    allow = ["--allow-root"] if os.geteuid() == 0 else []
    ours, plain = [], []
    for _ in range(repeat):  # interleaved: the machine's load hits both alike
        port = free_port()
        ours.append(
            time_to_api(
                [str(BIN / "netdebug-nb"), "lab", "--port", str(port), "--root", str(root), "--", *allow],
                port,
                env,
            )
        )
        port = free_port()
        plain.append(
            time_to_api(
                [
                    str(BIN / "jupyter"),
                    "lab",
                    f"--port={port}",
                    f"--ServerApp.root_dir={root}",
                    "--no-browser",
                    *allow,
                ],
                port,
                env,
            )
        )
    a, b = statistics.median(ours), statistics.median(plain)
    print(
        f"start-up to /api: netdebug-nb lab {a:.2f} s, jupyter lab {b:.2f} s (median of {repeat}); ratio {a / b:.2f}"
    )


def counter(packets: int = 300_000) -> None:
    import dpkt

    from netdebug_nb.pcap.capture import count_records

    rec = [struct.pack("<IIII", 1, 0, n, n) + b"\0" * n for n in (60, 1514, 66, 590)]
    data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"".join(
        rec[i % 4] for i in range(packets)
    )
    t0 = time.perf_counter()
    n, _ = count_records(data, 24, "<")
    ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    m = sum(1 for _ in dpkt.pcap.Reader(io.BytesIO(data)))
    peer = time.perf_counter() - t0
    assert n == m == packets
    print(
        f"progress counter: {packets / ours / 1e6:.2f} M records/s; dpkt pcap.Reader {packets / peer / 1e6:.2f} M/s; "
        f"ratio {peer / ours:.1f}x; at 10k packets/s the counter takes {10_000 / (packets / ours) * 100:.1f} % of a core"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    counter()
    startup(args.repeat)


if __name__ == "__main__":
    main()
