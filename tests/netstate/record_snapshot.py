"""Re-record the demo snapshot (netdebug_nb/data/netstate/snapshot/) from the lab's router.

    sudo .venv/bin/python tests/netstate/record_snapshot.py

Builds the same lab as test_lab.py, makes the client hit the DROP rule and run a lossy flow, then
runs ``snapshot.collect`` inside the router namespace: a blackhole route, INCOMPLETE and FAILED
neighbours, DROP rules with hits, a loopback-only listener and an MTU mismatch, all real outputs.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from lab import Lab  # noqa: E402

_spec = importlib.util.spec_from_file_location("netstate_test_lab", HERE / "test_lab.py")
assert _spec is not None and _spec.loader is not None
scenario = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scenario)

ROOT = HERE.parents[1]
DEST = ROOT / "netdebug_nb" / "data" / "netstate" / "snapshot"


def main() -> None:
    with Lab() as lab:
        hosts = scenario.build(lab)
        client, router = hosts["client"], hosts["router"]
        scenario.lossy_flow(client, 30)
        for port in ("9000", "9001", "9001"):
            client.run("nc", "-z", "-w", "1", "198.18.2.10", port, check=False)
        time.sleep(5)
        scenario.incomplete_now(router)
        tmp = Path(lab.tag)
        out = Path("/tmp") / f"{tmp}-snapshot"
        router.run(
            sys.executable,
            "-c",
            f"from pathlib import Path; from netdebug_nb.netstate import snapshot; snapshot.collect(Path({str(out)!r}))",
        )
        shutil.rmtree(DEST, ignore_errors=True)
        shutil.copytree(out, DEST)
        shutil.rmtree(out)
    print(f"wrote {DEST}")


if __name__ == "__main__":
    main()
