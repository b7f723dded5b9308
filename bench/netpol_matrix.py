"""NetworkPolicy truth table on a synthetic cluster: the vectorised matrix against a naive
per-pair evaluation with the same engine (``Engine.allows`` for every source, destination, port).

The issue's budget: 500 pods × 200 policies × 5 ports in ≤ 5 s on the project's 2-core machines.
The naive evaluation of the full table would take minutes, so it is timed on a random sample of
cells and extrapolated (the sampled cells are also checked against the matrix). Cyclonus /
policy-assistant (Go) cannot be built or run here (no Go toolchain, no network), so there is no
peer outside this repository.

    .venv/bin/python bench/netpol_matrix.py [--pods 500] [--policies 200] [--ports 5] [--sample 3000]
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from netdebug_nb.k8s import netpol, objects, policymatrix

APPS = [f"app{i}" for i in range(25)]
TIERS = ["web", "api", "db", "cache"]
TEAMS = ["a", "b", "c", "d"]
NAMED = {"http": 8080, "metrics": 9090, "grpc": 9000, "dns": 53}


def synthetic(n_pods: int, n_policies: int, n_namespaces: int = 12, seed: int = 1) -> objects.Objects:
    """A cluster with realistic label variety: every peer kind, named ports, endPort, ipBlock."""
    rnd = random.Random(seed)
    objs = objects.Objects(sources=["synthetic"])
    names = [f"ns{i}" for i in range(n_namespaces)]
    for n in names:
        objs.add(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": n,
                    "labels": {"team": rnd.choice(TEAMS), "env": rnd.choice(["prod", "dev"])},
                },
            }
        )
    for i in range(n_pods):
        named = rnd.sample(sorted(NAMED), 2)
        objs.add(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"pod-{i:04d}",
                    "namespace": rnd.choice(names),
                    "labels": {
                        "app": rnd.choice(APPS),
                        "tier": rnd.choice(TIERS),
                        "v": str(rnd.randint(1, 3)),
                    },
                },
                "spec": {
                    "nodeName": f"node-{i % 20}",
                    "hostNetwork": rnd.random() < 0.02,
                    "containers": [
                        {
                            "name": "c",
                            "image": "x",
                            "ports": [
                                {
                                    "name": nm,
                                    "containerPort": NAMED[nm],
                                    "protocol": "UDP" if nm == "dns" else "TCP",
                                }
                                for nm in named
                            ],
                        }
                    ],
                },
                "status": {"podIP": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"},
            }
        )

    def selector() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.15:
            return {}
        if r < 0.6:
            return {"matchLabels": {"app": rnd.choice(APPS)}}
        if r < 0.8:
            return {"matchExpressions": [{"key": "tier", "operator": "In", "values": rnd.sample(TIERS, 2)}]}
        return {
            "matchLabels": {"tier": rnd.choice(TIERS)},
            "matchExpressions": [{"key": "v", "operator": rnd.choice(["NotIn", "Exists"]), "values": ["1"]}],
        }

    def peer() -> dict[str, Any]:
        r = rnd.random()
        if r < 0.35:
            return {"podSelector": selector()}
        if r < 0.6:
            return {"namespaceSelector": {"matchLabels": {"team": rnd.choice(TEAMS)}}}
        if r < 0.85:
            return {"namespaceSelector": {"matchLabels": {"env": "prod"}}, "podSelector": selector()}
        return {"ipBlock": {"cidr": "10.0.0.0/16", "except": [f"10.0.{rnd.randint(0, 1)}.0/24"]}}

    def ports() -> list[dict[str, Any]]:
        r = rnd.random()
        if r < 0.3:
            return []
        if r < 0.6:
            return [{"port": rnd.choice([80, 8080, 9090, 443])}]
        if r < 0.8:
            return [{"port": rnd.choice(["http", "metrics", "grpc"])}, {"protocol": "UDP", "port": "dns"}]
        return [{"port": 8000, "endPort": 9100}]

    for i in range(n_policies):
        spec: dict[str, Any] = {"podSelector": selector()}
        types = rnd.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"], None])
        if types:
            spec["policyTypes"] = types
        for direction, key in (("ingress", "from"), ("egress", "to")):
            if rnd.random() < 0.7:
                spec[direction] = [
                    {
                        k: v
                        for k, v in ((key, [peer() for _ in range(rnd.randint(0, 2))]), ("ports", ports()))
                        if v
                    }
                    for _ in range(rnd.randint(0, 3))
                ]
        objs.add(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"pol-{i:04d}", "namespace": rnd.choice(names)},
                "spec": spec,
            }
        )
    return objs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=500)
    ap.add_argument("--policies", type=int, default=200)
    ap.add_argument("--ports", type=int, default=5)
    ap.add_argument("--sample", type=int, default=3000, help="cells evaluated naively")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    objs = synthetic(args.pods, args.policies)
    ports = [("TCP", 80), ("TCP", 8080), ("TCP", 9090), ("UDP", 53), ("TCP", 9000), ("TCP", 443)][
        : args.ports
    ]
    t0 = time.perf_counter()
    engine = netpol.compile(objs)
    t_compile = time.perf_counter() - t0
    times = []
    m = None
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        m = policymatrix.compute(engine, ports)
        times.append(time.perf_counter() - t0)
    assert m is not None
    t_matrix = min(times)
    cells = len(m.pods) * (len(m.pods) - 1) * len(ports)

    rnd = random.Random(7)
    sample = []
    n = len(m.pods)
    while len(sample) < args.sample:
        i, j = rnd.randrange(n), rnd.randrange(n)
        if i != j:
            sample.append((i, j, rnd.randrange(len(ports))))
    t0 = time.perf_counter()
    verdicts = [
        engine.allows(netpol.Traffic(m.pods[i], m.pods[j], ports[k][1], ports[k][0])) for i, j, k in sample
    ]
    t_naive_sample = time.perf_counter() - t0
    mismatches = sum(
        (v.allowed, v.certain) != (bool(m.allowed[i, j, k]), bool(m.certain[i, j, k]))
        for v, (i, j, k) in zip(verdicts, sample, strict=True)
    )
    t_naive = t_naive_sample / len(sample) * cells
    allowed = m.summary()

    print(f"cluster: {args.pods} pods, {args.policies} policies, {len(ports)} ports = {cells:,} cells")
    print(f"compile (parse policies + pods):   {t_compile * 1000:8.1f} ms")
    print(f"matrix, vectorised (best of {args.repeat}):  {t_matrix * 1000:8.1f} ms   budget 5000 ms")
    print(
        f"naive Engine.allows per cell:      {t_naive_sample / len(sample) * 1e6:8.1f} µs "
        f"→ full table ≈ {t_naive:,.1f} s (extrapolated from {len(sample)} cells)"
    )
    print(f"ratio naive / vectorised: {t_naive / t_matrix:,.0f}×")
    print(f"sampled cells equal to the matrix: {len(sample) - mismatches}/{len(sample)}")
    print(f"table: {allowed}")
    if mismatches:
        raise SystemExit(f"{mismatches} sampled cells differ between the matrix and Engine.allows")


if __name__ == "__main__":
    main()
