"""``netdebug-nb k8s why`` on a 5,000-pod cluster dump (target: ≤ 2 s), against its own floor.

The dump is the bundled demo cluster grown to N pods in 50 namespaces (a Deployment-shaped
Service with EndpointSlices and a default-deny + allow policy pair per namespace), written the
way ``kubectl get ns,pods,svc,endpointslices,networkpolicies -A -o yaml`` writes it (one List).
Measured, best of 3:

1. the whole CLI process (``netdebug-nb k8s why SRC DST --manifests dump.yaml --json``),
2. in-process: reading the dump (``k8s.objects.read``: the parse) — the floor,
3. in-process: indexing + the ladder (``path.index.from_objects`` + ``ladder.walk``),
4. the peers: ``python -c`` parsing the same file (json / yaml CSafeLoader) — what any tool reading
   this dump pays before it can answer anything — and python importing the CLI.

Both a JSON dump (``-o json``) and a YAML dump (``-o yaml``) of the same objects are measured:
the YAML parse (libyaml) dominates and is what keeps a YAML dump above 2 s.

    .venv/bin/python bench/k8s_why.py [--pods 5000]
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from timing import best

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "netdebug_nb" / "data" / "path" / "cluster.yaml"
CLI = str(Path(sys.executable).parent / "netdebug-nb")


def grow(n_pods: int, n_ns: int = 50) -> dict[str, Any]:
    base = yaml.safe_load(DEMO.read_text())
    items: list[dict[str, Any]] = base["items"]
    pod_t = next(o for o in items if o["kind"] == "Pod" and o["metadata"]["name"].startswith("api-"))
    svc_t = next(o for o in items if o["kind"] == "Service" and o["metadata"]["name"] == "api")
    pol_t = [o for o in items if o["kind"] == "NetworkPolicy"]
    per_ns = n_pods // n_ns
    for n in range(n_ns):
        ns = f"team-{n:02d}"
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            }
        )
        eps = []
        for i in range(per_ns):
            p = copy.deepcopy(pod_t)
            ip = (
                f"10.{100 + n // 200}.{n % 200}.{i % 250}"
                if per_ns <= 250
                else f"10.{100 + n}.{i // 250}.{i % 250}"
            )
            p["metadata"].update(name=f"app-{i:04d}", namespace=ns, uid=f"u-{n}-{i}")
            p["metadata"]["labels"] = {"app": f"app-{i % 10}", "pod-template-hash": "7d9f8b6c5"}
            p["status"]["podIP"], p["status"]["podIPs"] = ip, [{"ip": ip}]
            items.append(p)
            if i % 10 == 0:
                eps.append({"addresses": [ip], "conditions": {"ready": True}, "nodeName": "node-1",
                            "targetRef": {"kind": "Pod", "namespace": ns, "name": f"app-{i:04d}"}})  # fmt: skip
        s = copy.deepcopy(svc_t)
        s["metadata"].update(name="app-0", namespace=ns)
        s["spec"].update(selector={"app": "app-0"}, clusterIP=f"10.97.{n}.10", clusterIPs=[f"10.97.{n}.10"])
        items.append(s)
        items.append(
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    "name": "app-0-x",
                    "namespace": ns,
                    "labels": {"kubernetes.io/service-name": "app-0"},
                },
                "addressType": "IPv4",
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": eps,
            }
        )
        for pol in pol_t:
            q = copy.deepcopy(pol)
            q["metadata"]["namespace"] = ns
            items.append(q)
    return base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        doc = grow(args.pods)
        for fmt in ("json", "yaml"):
            dump = Path(tmp) / f"dump.{fmt}"
            if fmt == "json":
                dump.write_text(json.dumps(doc, indent=4))
                peer_code = f"import json; json.load(open({str(dump)!r}))"
            else:
                dump.write_text(yaml.dump(doc, Dumper=yaml.CSafeDumper, sort_keys=False))
                peer_code = f"import yaml; yaml.load(open({str(dump)!r}), Loader=yaml.CSafeLoader)"
            measure(fmt, dump, peer_code)


def measure(fmt: str, dump: Path, peer_code: str) -> None:
    from netdebug_nb.k8s import objects
    from netdebug_nb.path import index, ladder

    size_mb = dump.stat().st_size / 1e6
    src, dst = "shop/app=web", "app-0.team-07"
    argv = [CLI, "k8s", "why", src, dst, "--port", "http", "--manifests", str(dump), "--json"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    assert '"verdict": "blocked"' in out and "netpol.ingress" in out, out[:400]
    cli = best(lambda: subprocess.run(argv, capture_output=True, check=True))
    objs = objects.read(dump)
    read_s = best(lambda: objects.read(dump))
    walk_s = best(lambda: ladder.walk(index.from_objects(objs), src, dst, ladder.Options(port="http")))
    peer_s = best(lambda: subprocess.run([sys.executable, "-c", peer_code], check=True))
    bare = best(lambda: subprocess.run([sys.executable, "-c", "import netdebug_nb.cli"], check=True))
    print(f"{fmt.upper()} dump: {len(objs.pods)} pods, {size_mb:.1f} MB")
    print(
        f"  k8s why, whole CLI process        {cli:6.2f} s   (target <= 2 s: {'OK' if cli <= 2 else 'OVER'})"
    )
    print(f"    reading the dump (k8s.objects)  {read_s:6.2f} s")
    print(f"    index + every rung              {walk_s:6.3f} s")
    print(f"  peer: python + parse only         {peer_s:6.2f} s   (CLI / peer = {cli / peer_s:.2f}x)")
    print(f"  peer: python + import the CLI     {bare:6.2f} s")


if __name__ == "__main__":
    main()
