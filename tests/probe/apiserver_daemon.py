"""The stand-in Kubernetes API inside a lab namespace (so code running there can reach it):
``python apiserver_daemon.py FIXTURE.yaml KUBECONFIG`` loads the objects, starts, writes a
kubeconfig for itself and serves until killed (the lab kills it on close)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "k8s"))

from apiserver import FakeApiServer

if __name__ == "__main__":
    srv = FakeApiServer(token="probe-lab-token")
    srv.load(sys.argv[1])
    srv.start()
    tmp = Path(sys.argv[2] + ".tmp")
    srv.write_kubeconfig(tmp)
    tmp.rename(sys.argv[2])
    while True:
        time.sleep(3600)
