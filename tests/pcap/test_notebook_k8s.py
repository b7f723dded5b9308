"""The notebook names the capture's addresses after pods and services when a cluster is reachable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ndtestkit import ROOT, netdebug_cmd

sys.path.insert(0, str(ROOT / "tests" / "k8s"))

from apiserver import apiserver, kubeconfig  # noqa: F401  (pytest fixtures)


def test_talkers_and_conversations_carry_kubernetes_names(tmp_path: Path, kubeconfig: Path) -> None:  # noqa: F811
    import subprocess

    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    # the debug-shell pod asks the kube-dns service, the coredns pod answers (as seen before DNAT)
    q = (
        Ether()
        / IP(src="10.244.2.31", dst="10.96.0.10")
        / UDP(sport=41000, dport=53)
        / DNS(id=1, qd=DNSQR(qname="api"))
    )
    r = (
        Ether()
        / IP(src="10.96.0.10", dst="10.244.2.31")
        / UDP(sport=53, dport=41000)
        / DNS(id=1, qr=1, qd=DNSQR(qname="api"))
    )
    q.time, r.time = 1_700_000_000.0, 1_700_000_000.002
    pcap = tmp_path / "k8s.pcap"
    wrpcap(str(pcap), [q, r])
    out = tmp_path / "report"
    done = subprocess.run(
        [*netdebug_cmd(), "run", "pcap_analysis", "-p", "pcap", str(pcap), "-p", "kubernetes", "true",
         "-p", "kubeconfig", str(kubeconfig), "--out", str(out)],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    nb = json.loads((out / "pcap_analysis" / "pcap_analysis.ipynb").read_text())
    text = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    assert "Kubernetes names from" in text
    assert "debug-shell" in text and "kube-dns" in text
