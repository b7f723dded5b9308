"""Tracing many names: the dns tracer's wall time vs the sum of its lookup chains, and a peer.

Each name goes through the ndots:5 search list against a slow replica (every answer 300 ms
late), so one chain costs up to 5 x 300 ms. The tracer runs chains concurrently: its wall time
should stay near the slowest chain, not the sum. The peer is dnspython's own stub resolver
(``dns.resolver.Resolver.resolve_name``, same search list and ndots) resolving the names one
after the other, as an application loop would.

Builds the tests' DNS lab in network namespaces (needs root):

    sudo .venv/bin/python bench/dns_trace.py [--names 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = (
    "search default.svc.cluster.local svc.cluster.local cluster.local ec2.internal\n"
    "nameserver {server}\noptions ndots:5 timeout:2 attempts:2\n"
)


def inner(conf_path: str, n_names: int, rounds: int) -> None:
    import dns.exception
    import dns.resolver

    from netdebug_nb.dns import resolvconf, tracer

    conf = resolvconf.read(conf_path)
    base = ["web", "db", "api.example.com", "nosuch.example.com"]
    trials = max(n_names // len(base), 1)
    names = base * trials
    walls, sums, peers = [], [], []
    for _ in range(rounds):
        t = tracer.trace(base, conf, trials=trials)
        walls.append(t.wall_s)
        sums.append(float(t.lookups["total_ms"].sum()) / 1000)
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = list(conf.used_nameservers)
        r.search = [dns.name.from_text(s) for s in conf.search]
        r.ndots, r.timeout, r.lifetime, r.cache = conf.ndots, conf.timeout_s, 30, None
        t0 = time.perf_counter()
        for n in names:
            try:
                r.resolve_name(n)
            except dns.exception.DNSException:  # NXDOMAIN, REFUSED: the time still counts
                pass
        peers.append(time.perf_counter() - t0)
    print(
        json.dumps(
            {
                "lookups": len(names),
                "tracer_wall_s": round(statistics.median(walls), 3),
                "sum_of_chains_s": round(statistics.median(sums), 3),
                "dnspython_sequential_s": round(statistics.median(peers), 3),
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--inner", default="")
    a = ap.parse_args()
    if a.inner:
        inner(a.inner, a.names, a.rounds)
        return
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "dns")]
    from dnslab import SLOW, build

    tmp = Path(tempfile.mkdtemp(prefix="dnsbench"))
    tmp.chmod(0o755)
    dl = build(tmp)
    try:
        conf = dl.resolv_conf("bench.conf", CONF.format(server=SLOW))
        done = dl.client.run(
            sys.executable,
            __file__,
            "--inner",
            str(conf),
            "--names",
            str(a.names),
            "--rounds",
            str(a.rounds),
            timeout=600,
            check=False,
        )
        if done.returncode:
            raise SystemExit(done.stderr)
        res = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        dl.lab.close()
    print(json.dumps(res))
    print(f"tracer wall / sum of its chains:       {res['tracer_wall_s'] / res['sum_of_chains_s']:.3f}")
    print(
        f"tracer wall / dnspython sequential:    {res['tracer_wall_s'] / res['dnspython_sequential_s']:.3f}"
    )


if __name__ == "__main__":
    main()
