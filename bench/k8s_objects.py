"""Reading a cluster dump (``kubectl get ns,pods,svc,endpointslices,networkpolicies -A -o yaml``)
of N pods: objects.read (rapidyaml → JSON → json.loads) against PyYAML with libyaml
(``yaml.load_all(..., CSafeLoader)``, what most Python tools do) and against the same dump written
as JSON (``-o json``), plus compiling the NetworkPolicy engine from it.

The issue's budget for ``k8s why`` on a 5,000-pod dump is 2 s end to end; reading the dump is
the biggest part of it.

    .venv/bin/python bench/k8s_objects.py [--pods 5000] [--skip-pyyaml]
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import yaml

from netdebug_nb.k8s import netpol, objects

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "k8s"


def dump(n_pods: int) -> dict[str, object]:
    docs = [
        d
        for f in ("cluster.yaml", "networkpolicies.yaml")
        for d in yaml.safe_load_all((FIXTURES / f).read_text())
        if d
    ]
    template = next(d for d in docs if d["kind"] == "Pod" and d["metadata"]["name"].startswith("api-"))
    items = list(docs)
    for i in range(n_pods):
        p = copy.deepcopy(template)
        p["metadata"]["name"] = f"load-{i:05d}"
        p["status"]["podIP"] = f"10.245.{i // 256 % 256}.{i % 256}"
        p["status"]["podIPs"] = [{"ip": p["status"]["podIP"]}]
        items.append(p)
    return {"apiVersion": "v1", "kind": "List", "items": items}


def timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=5000)
    ap.add_argument("--skip-pyyaml", action="store_true", help="PyYAML takes ~30 s at 5,000 pods under load")
    args = ap.parse_args()
    doc = dump(args.pods)
    with tempfile.TemporaryDirectory() as tmp:
        y, j = Path(tmp) / "dump.yaml", Path(tmp) / "dump.json"
        y.write_text(yaml.safe_dump(doc, sort_keys=True))
        j.write_text(json.dumps(doc, indent=4))
        objs, t_read = timed(lambda: objects.read(y))
        _, t_json = timed(lambda: objects.read(j))
        _, t_compile = timed(lambda: netpol.compile(objs))
        print(f"dump: {len(objs.pods)} pods, YAML {y.stat().st_size / 1e6:.1f} MB")
        print(f"objects.read YAML (rapidyaml):   {t_read:7.2f} s")
        print(f"objects.read JSON (-o json):     {t_json:7.2f} s")
        print(f"netpol.compile:                  {t_compile:7.2f} s")
        if not args.skip_pyyaml:
            text = y.read_text()
            _, t_py = timed(lambda: list(yaml.load_all(text, Loader=yaml.CSafeLoader)))
            print(
                f"PyYAML + libyaml (CSafeLoader):  {t_py:7.2f} s   ratio PyYAML / objects.read: {t_py / t_read:.0f}×"
            )


if __name__ == "__main__":
    main()
