"""Benchmark: matching two 1,000,000-packet captures of the same traffic at two points, through NAT.

Generates (numpy, in a temporary directory) a pair of classic pcaps: 2,000 TCP connections, both
directions, seen at point A and at point B behind a DNAT+SNAT hop (addresses, ports and TTL
rewritten), 1 % of A → B packets lost, B's clock 3.2 s ahead, one-way delays of 0.2 ms plus
exponential jitter. Then, each in a fresh process (so its peak RSS is its own):

* ``netdebug``: ``compare.load`` (both fingerprint passes) + ``compare.compare``, end to end;
* ``naive``: the same fingerprint tables, matched with a Python dict per packet (what a
  straightforward script does: key → list of sightings, nearest within the window);
* ``tshark``: the fields a tshark-based matcher needs (``-T fields`` ip.id, tcp.seq, tcp.ack,
  flags, length) extracted from the first ``--peer-packets`` of each file, extrapolated.

Prints seconds, peak RSS and ratios, checks the loss count against the generator's truth.

    .venv/bin/python bench/capture_compare.py [--packets 1000000] [--peer-packets 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FLOWS = 2000
OFFSET_NS = 3_200_000_000
LOSS = 0.01


def generate(a_path: Path, b_path: Path, n: int, seed: int = 7) -> int:
    """Write the two captures; returns the number of A → B packets lost."""
    rng = np.random.default_rng(seed)
    flow = rng.integers(0, FLOWS, n)
    a_to_b = rng.random(n) < 0.6
    t = np.sort(rng.integers(0, 60_000_000_000, n)) + 1_790_000_000_000_000_000
    delay = (200_000 + rng.exponential(50_000, n)).astype(np.int64)
    plen = rng.integers(0, 1400, n)
    payload = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    ip_id = rng.integers(0, 65536, n)
    seq = rng.integers(0, 2**32, n, dtype=np.uint64)
    ack = rng.integers(0, 2**32, n, dtype=np.uint64)
    lost = a_to_b & (rng.random(n) < LOSS)
    client = (198 << 24) | (18 << 16) | (1 << 8) | 2 + (flow % 200)  # 198.18.1.x
    cport = 30000 + flow
    cluster_ip, pod_ip, node_ip = 0xC6120364, 0xC612020A, 0xC6120201  # .3.100, .2.10, .2.1
    # at A: client ↔ ClusterIP:80; at B: node IP (SNAT) ↔ pod:8080
    a_src = np.where(a_to_b, client, cluster_ip)
    a_dst = np.where(a_to_b, cluster_ip, client)
    a_sp = np.where(a_to_b, cport, 80)
    a_dp = np.where(a_to_b, 80, cport)
    b_src = np.where(a_to_b, node_ip, pod_ip)
    b_dst = np.where(a_to_b, pod_ip, node_ip)
    b_sp = np.where(a_to_b, cport, 8080)
    b_dp = np.where(a_to_b, 8080, cport)
    ta = np.where(a_to_b, t, t + delay)
    tb = np.where(a_to_b, t + delay, t) + OFFSET_NS
    ttl_a = np.where(a_to_b, 64, 63)
    ttl_b = np.where(a_to_b, 63, 64)
    common = {"ip_id": ip_id, "seq": seq, "ack": ack, "plen": plen, "payload": payload}
    _write(a_path, ta, a_src, a_dst, a_sp, a_dp, ttl_a, common, np.ones(n, dtype=bool))
    _write(b_path, tb, b_src, b_dst, b_sp, b_dp, ttl_b, common, ~lost)
    return int(lost.sum())


def _write(path: Path, ts, src, dst, sport, dport, ttl, c, keep) -> None:  # type: ignore[no-untyped-def]
    order = np.argsort(ts[keep], kind="stable")
    idx = np.flatnonzero(keep)[order]
    m = len(idx)
    rec = np.dtype(
        [
            ("sec", "<u4"), ("nsec", "<u4"), ("caplen", "<u4"), ("wirelen", "<u4"),
            ("eth", "V12"), ("etype", ">u2"),
            ("vihl", "u1"), ("tos", "u1"), ("tot", ">u2"), ("id", ">u2"), ("frag", ">u2"), ("ttl", "u1"),
            ("proto", "u1"), ("csum", ">u2"), ("src", ">u4"), ("dst", ">u4"),
            ("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"), ("offflags", ">u2"),
            ("win", ">u2"), ("tcsum", ">u2"), ("urg", ">u2"), ("payload", "V16"),
        ]
    )  # fmt: skip
    r = np.zeros(m, dtype=rec)
    t = ts[idx]
    r["sec"], r["nsec"] = t // 1_000_000_000, t % 1_000_000_000
    r["caplen"] = 70
    r["wirelen"] = 54 + c["plen"][idx]
    r["etype"] = 0x0800
    r["vihl"] = 0x45
    r["tot"] = 40 + c["plen"][idx]
    r["id"] = c["ip_id"][idx]
    r["frag"] = 0x4000
    r["ttl"] = ttl[idx]
    r["proto"] = 6
    r["src"], r["dst"] = src[idx], dst[idx]
    r["sport"], r["dport"] = sport[idx], dport[idx]
    r["seq"], r["ack"] = c["seq"][idx], c["ack"][idx]
    r["offflags"] = (5 << 12) | 0x18
    r["win"] = 502
    r["payload"] = c["payload"][idx].view("V16")[:, 0]
    with path.open("wb") as f:
        f.write(np.array([0xA1B23C4D], "<u4").tobytes() + bytes.fromhex("02000400") + bytes(8))
        f.write(np.array([70, 1], "<u4").tobytes())
        f.write(r.tobytes())


# --- the contenders, each in its own process ----------------------------------------------------


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ours(a: str, b: str) -> dict[str, float]:
    import pandas  # noqa: F401  (imported before the clock starts, as in a notebook)

    from netdebug_nb.pcap import compare

    t, c = time.perf_counter(), cpu()
    caps = compare.load([a, b], ["A", "B"])
    t_load, c_load = time.perf_counter() - t, cpu() - c
    res = compare.compare(caps, window_ms=500)
    dt, dc = time.perf_counter() - t, cpu() - c
    lost = int(res.paths[res.paths["sender"] == "A"]["lost"].sum())
    off = float(res.offsets["offset_ms"].iloc[0])
    # the join alone, as the naive peer does it: sort each side's keys, pair within the window
    import numpy as np

    c = cpu()
    fa, fb = caps[0].packets, caps[1].packets
    ka, ta = fa["key"].to_numpy(), fa["ts_ns"].to_numpy()
    kb, tb = fb["key"].to_numpy(), fb["ts_ns"].to_numpy()
    oa, ob = compare._key_order(ka, ta), compare._key_order(kb, tb)
    center = int(np.median(tb[::1000]) - np.median(ta[::1000]))
    ma, _mb = compare._nearest(ka[oa], ta[oa], kb[ob], tb[ob] - center, 500_000_000)
    join_cpu = cpu() - c
    return {
        "seconds": dt,
        "cpu_s": dc,
        "load_s": t_load,
        "load_cpu_s": c_load,
        "lost": lost,
        "offset_ms": off,
        "join_cpu_s": join_cpu,
        "join_lost": len(ka) - len(ma),
    }


def naive(a: str, b: str) -> dict[str, float]:
    """The same fingerprints, matched per packet with a dict (the join only is timed)."""
    from netdebug_nb.pcap import fingerprint

    fa, fb = fingerprint.read(a), fingerprint.read(b)
    ka, ta = fa["key"].tolist(), fa["ts_ns"].tolist()
    kb, tb = fb["key"].tolist(), fb["ts_ns"].tolist()
    t, c = time.perf_counter(), cpu()
    offset = sorted(tb[i] - ta[i] for i in range(0, min(len(ta), len(tb)), max(len(ta) // 1000, 1)))
    center = offset[len(offset) // 2]
    index: dict[int, list[int]] = {}
    for i, k in enumerate(kb):
        index.setdefault(k, []).append(i)
    used = set()
    lost = 0
    for i, k in enumerate(ka):
        best, gap = -1, 500_000_000
        for j in index.get(k, ()):
            g = abs(tb[j] - center - ta[i])
            if g <= gap and j not in used:
                best, gap = j, g
        if best < 0:
            lost += 1
        else:
            used.add(best)
    return {"seconds": time.perf_counter() - t, "cpu_s": cpu() - c, "lost": lost}


def tshark(a: str, b: str, peer_packets: int) -> dict[str, float]:
    t = time.perf_counter()
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = 0
    for p in (a, b):
        out = subprocess.run(
            ["tshark", "-r", p, "-c", str(peer_packets), "-T", "fields", "-e", "frame.time_epoch", "-e", "ip.id",
             "-e", "ip.proto", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.flags", "-e", "tcp.len"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        rows += out.count("\n")
    d = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = d.ru_utime + d.ru_stime - c.ru_utime - c.ru_stime
    return {"seconds": time.perf_counter() - t, "cpu_s": used, "rows": rows}


def child(which: str, a: str, b: str, peer: int) -> None:
    res = ours(a, b) if which == "ours" else naive(a, b) if which == "naive" else tshark(a, b, peer)
    res["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


def spawn(which: str, a: Path, b: Path, peer: int) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", which, str(a), str(b), str(peer)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    out: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--peer-packets", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-naive", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ndbench-compare-"))
    try:
        a, b = tmp / "a.pcap", tmp / "b.pcap"
        truth = generate(a, b, args.packets)
        print(f"captures: {args.packets} packets at A ({a.stat().st_size / 1e6:.0f} MB), "
              f"{args.packets - truth} at B, {truth} lost A → B, B's clock +3200 ms")  # fmt: skip
        runs = [spawn("ours", a, b, 0) for _ in range(args.runs)]
        runs.sort(key=lambda r: r["seconds"])
        best = runs[len(runs) // 2]  # the median run
        med, cpu_s = best["seconds"], best["cpu_s"]
        rss = max(r["rss_mb"] for r in runs)
        walls = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(f"netdebug  load+compare: median {med:.2f} s wall, {cpu_s:.2f} s CPU (fingerprints "
              f"{best['load_s']:.2f} s wall / {best['load_cpu_s']:.2f} s CPU), runs "
              f"{walls} s; peak RSS {rss:.0f} MB; "
              f"lost {int(best['lost'])} (truth {truth}), offset {best['offset_ms']:.3f} ms")  # fmt: skip
        ok = int(best["lost"]) == truth and abs(best["offset_ms"] - 3200) < 1
        if not args.no_naive:
            nv = spawn("naive", a, b, 0)
            print(f"naive dict join (the join only, on the same fingerprints): {nv['seconds']:.2f} s wall, "
                  f"{nv['cpu_s']:.2f} s CPU, peak RSS {nv['rss_mb']:.0f} MB, lost {int(nv['lost'])} → netdebug "
                  f"end to end / naive join alone: {cpu_s / nv['cpu_s']:.2f}x the CPU; the vectorised join "
                  f"alone: {best['join_cpu_s']:.2f} s CPU ({nv['cpu_s'] / best['join_cpu_s']:.1f}x faster than the "
                  f"naive join, lost {int(best['join_lost'])})")  # fmt: skip
        if shutil.which("tshark"):
            ts = spawn("tshark", a, b, args.peer_packets)
            per = ts["cpu_s"] / max(ts["rows"], 1) * 2 * args.packets
            print(f"tshark field extraction: {ts['cpu_s']:.2f} s CPU for {int(ts['rows'])} packets → "
                  f"~{per:.0f} s CPU for both files, before any matching ({per / cpu_s:.0f}x netdebug)")  # fmt: skip
        load = os.getloadavg()[0]
        print(
            f"load average {load:.1f} on {os.cpu_count()} CPUs (wall times scale with it; CPU times do not)"
        )
        print("targets ≤ 5 s and ≤ 1024 MB:", f"wall {'met' if med <= 5 else 'NOT met'},",
              f"CPU {'met' if cpu_s <= 5 else 'NOT met'}, RSS {'met' if rss <= 1024 else 'NOT met'}",
              "| correct:", ok)  # fmt: skip
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
