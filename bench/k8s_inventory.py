"""Inventory and enrichment cost on a large cluster, against the obvious alternatives.

1. Listing N pods through the official client: netdebug's raw-JSON path (``_preload_content=False``
   + our own frame building) against the client's typed models (``list_pod_for_all_namespaces``
   deserialized into V1Pod objects), both paginated by 500 from the fake API server of the tests.
2. Enriching M packet rows: ``enrich`` (lookup per distinct address, then pandas ``map``) against a
   per-row Python lookup.

    .venv/bin/python bench/k8s_inventory.py [--pods 5000] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import copy
import ipaddress
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "k8s"))

from apiserver import FIXTURES, TEST_TOKEN, FakeApiServer  # noqa: E402
from timing import best  # noqa: E402

from netdebug_nb.k8s import client, enrich, inventory  # noqa: E402


def cluster_with(n_pods: int) -> FakeApiServer:
    srv = FakeApiServer(token=TEST_TOKEN)
    srv.load(FIXTURES / "cluster.yaml")
    template = next(
        d
        for d in yaml.safe_load_all((FIXTURES / "cluster.yaml").read_text())
        if d and d["kind"] == "Pod" and d["metadata"]["name"].startswith("api-")
    )
    base = ipaddress.ip_address("10.245.0.0")
    for i in range(n_pods):
        p = copy.deepcopy(template)
        p["metadata"]["name"] = f"load-{i:05d}"
        ip = str(base + i)
        p["status"]["podIP"] = ip
        p["status"]["podIPs"] = [{"ip": ip}]
        srv.put(p)
    return srv.start()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()

    srv = cluster_with(args.pods)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            c = client.connect(str(srv.write_kubeconfig(Path(tmp) / "kc")), timeout_s=30)
            core = c.client("CoreV1Api")

            def typed() -> int:
                n, token = 0, None
                while True:
                    kw = {"limit": 500, "_continue": token} if token else {"limit": 500}
                    r = core.list_pod_for_all_namespaces(**kw)
                    n += len(r.items)
                    token = r.metadata._continue
                    if not token:
                        return n

            ours = best(lambda: inventory.pods(c.list("pods")))
            theirs = best(typed)
            print(
                f"list+frame {args.pods + 19} pods: netdebug raw JSON {ours:.3f} s, typed models {theirs:.3f} s, ratio {theirs / ours:.1f}x"
            )
            inv = inventory.collect(c)
    finally:
        srv.stop()

    rng = np.random.default_rng(1)
    known = [*inv.pods["pod_ip"].dropna()[:200], "10.96.0.10", "10.0.0.12"]
    pool = known + [f"198.51.100.{i}" for i in range(50)]
    df = pd.DataFrame({"src": pd.Series(rng.choice(pool, args.rows), dtype="string")})
    idx = enrich.index(inv)

    ours = best(lambda: enrich.enrich(df, "src", inv, ip_index=idx), repeat=2)
    table = {r.ip: r.name for r in idx.itertuples()}

    def per_row() -> list[object]:
        return [table.get(enrich.canonical(v)) for v in df["src"]]

    theirs = best(per_row, repeat=1)
    print(
        f"enrich {args.rows} rows ({len(pool)} addresses): netdebug {ours:.3f} s, per-row lookup {theirs:.3f} s, ratio {theirs / ours:.1f}x"
    )


if __name__ == "__main__":
    main()
