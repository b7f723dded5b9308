"""Controller side of a 500-node fleet run against the fake API server.

Every simulated node's Job completes with a small framed result in its pod log. Prints the wall
time and the controller's peak memory for 500 nodes next to a 50-node run in the same process
(the ratio shows how cost grows with the fleet), plus the number of API requests per node
(watches, not polling, keep it flat).

    .venv/bin/python bench/fleet_500.py [--nodes 500] [--qps 200]

The fake server runs in a child process, so the numbers are the controller's alone: the peak of
Python allocations during each run (tracemalloc) and the process's peak RSS at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fleet"))
sys.path.insert(0, str(ROOT / "tests" / "k8s"))

from apiserver import TEST_TOKEN, FakeApiServer  # noqa: E402
from apiserver_jobs import JobsSim, synthetic_result  # noqa: E402

from netdebug_nb.fleet import controller  # noqa: E402
from netdebug_nb.fleet.api import Api  # noqa: E402
from netdebug_nb.fleet.jobspec import JobOptions  # noqa: E402


def serve(n: int, conn: Connection) -> None:
    """The fake API server with n nodes, in its own process so it does not count as ours."""
    srv = FakeApiServer(token=TEST_TOKEN)
    sim = JobsSim(srv, step_s=0.05)
    sim.add_nodes([f"node-{i:03d}" for i in range(n)])
    cached = synthetic_result("x", "latency")  # building 500 tarballs is the simulator's cost, not ours
    sim.payload = lambda node, job: cached
    srv.start()
    conn.send(srv.url)
    conn.recv()  # until the bench says stop
    conn.send(len(srv.requests))
    srv.stop()


def one(n: int, qps: float, tmp: Path) -> dict[str, float]:
    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(n, there), daemon=True)
    proc.start()
    url = here.recv()
    kc = tmp / f"kubeconfig{n}"
    kc.write_text(KUBECONFIG.format(url=url, token=TEST_TOKEN))
    api = Api.connect(str(kc), "fake")
    opts = JobOptions(notebook="latency", run_id=f"bench{n}", namespace="netdebug", timeout_s=60)
    fopts = controller.FleetOptions(qps=qps, burst=50, merge=False, report=False, collect_concurrency=8)
    tracemalloc.start()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    res = controller.run(api, opts, fopts, tmp / f"out{n}")
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    here.send("stop")
    reqs = here.recv()
    proc.join(10)
    ok = sum(r.collect == "done" for r in res.runs)
    if ok != n:
        raise SystemExit(f"only {ok}/{n} results collected")
    return {
        "nodes": n,
        "wall_s": wall,
        "peak_mib": peak / 2**20,
        "requests_per_node": reqs / n,
        "ideal_s": n / qps,
        "cpu_s": cpu,
    }


KUBECONFIG = (
    """apiVersion: v1
kind: Config
current-context: fake
clusters: [{name: fake, cluster: {server: "{url}"}}]
contexts: [{name: fake, context: {cluster: fake, user: u, namespace: netdebug}}]
users: [{name: u, user: {token: "{token}"}}]
""".replace("{", "{{")
    .replace("}", "}}")
    .replace("{{url}}", "{url}")
    .replace("{{token}}", "{token}")
)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=500)
    ap.add_argument("--qps", type=float, default=200.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = one(max(args.nodes // 10, 1), args.qps, Path(tmp))
        big = one(args.nodes, args.qps, Path(tmp))
    for r in (small, big):
        print(
            f"{r['nodes']:>4} nodes: wall {r['wall_s']:.1f} s, controller CPU {r['cpu_s']:.1f} s (creation at --qps {args.qps:g} alone: {r['ideal_s']:.1f} s), "
            f"peak traced memory {r['peak_mib']:.1f} MiB, {r['requests_per_node']:.2f} API requests/node"
        )
    print(
        f"ratio {big['nodes'] / small['nodes']:.0f}x nodes: wall x{big['wall_s'] / small['wall_s']:.1f}, "
        f"peak memory x{big['peak_mib'] / small['peak_mib']:.1f}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"controller process peak RSS (ru_maxrss, includes the Python runtime and imports): {rss:.0f} MiB")


if __name__ == "__main__":
    main()
