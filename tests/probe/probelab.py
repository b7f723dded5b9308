"""The endpoint-probe lab: real HTTP, HTTPS, gRPC servers and a Service, in network namespaces.

    client 198.18.1.2 ── router ── web   198.18.2.10  HTTP :8080 (delay / status per path set by the
                         (DNAT                          test), :8081 closed, :8082 dropped by iptables,
                                                       :8083 HTTP dropping every third SYN
                         198.18.3.10:80 ├ tls   198.18.2.11  HTTPS :8443 valid, :8444 expired, :8445 wrong
                         → endpoints)   │                    name, :8446 self-signed, :8447 no intermediate,
                                        │                    :8448 TLS 1.1 only, :8449 expiring in 5 days
                                        ├ grpc  198.18.2.12  gRPC health :50051 (state from a file)
                                        └ be1..be3 198.18.2.13-15  HTTP :8080, the Service shop/web's
                                                             endpoints; be2 answers 150 ms late

The stand-in Kubernetes API runs inside the client namespace (the code under test runs there and
must reach it); ``/etc/netns/<client>/`` gives it a ``hosts`` file without lab names and a
``resolv.conf`` points at the router, where dnsmasq answers for ``lab.test`` (``api.lab.test``,
``web.lab.test``; any other name there is NXDOMAIN at once).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from certs import pki
from lab import Host, Lab, routed

HERE = Path(__file__).resolve().parent
SERVERS = HERE / "servers.py"
DAEMON = HERE / "apiserver_daemon.py"
FIXTURE = HERE.parent / "fixtures" / "probe" / "k8s.yaml"
WEB, TLS, GRPC = "198.18.2.10", "198.18.2.11", "198.18.2.12"
BACKENDS = ("198.18.2.13", "198.18.2.14", "198.18.2.15")
SLOW_BACKEND = BACKENDS[1]
CLUSTER_IP, EMPTY_IP = "198.18.3.10", "198.18.3.11"
TLS_NAME = "api.lab.test"
TLS_PORTS = {"valid": 8443, "expired": 8444, "wrongname": 8445, "selfsigned": 8446, "nointermediate": 8447,
             "old": 8448, "expiring": 8449}  # fmt: skip


@dataclass
class ProbeLab:
    lab: Lab
    client: Host
    tmp: Path
    web_config: Path
    grpc_state: Path
    ca: Path
    kubeconfig: Path
    etc: Path

    def set_web(self, config: dict[str, Any]) -> None:
        tmp = self.web_config.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        tmp.rename(self.web_config)
        time.sleep(0.05)

    def set_grpc(self, state: str) -> None:
        self.grpc_state.write_text(state)
        time.sleep(0.3)

    def python(self, code: str, timeout: float = 120) -> Any:
        """Run ``code`` (printing one JSON document last) inside the client namespace."""
        done = self.client.run(sys.executable, "-c", code, timeout=timeout)
        return json.loads(done.stdout.strip().splitlines()[-1])

    def close(self) -> None:
        try:
            self.lab.close()
        finally:
            shutil.rmtree(self.etc, ignore_errors=True)


def _wait_tcp(client: Host, addr: str, port: int) -> None:
    code = f"import socket; socket.create_connection(('{addr}', {port}), timeout=0.5).close()"
    for _ in range(100):
        if client.run(sys.executable, "-c", code, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise RuntimeError(f"{addr}:{port} did not come up")


def build(tmp: Path) -> ProbeLab:
    lab = Lab("pr")
    etc = Path("/etc/netns") / f"{lab.tag}-client"
    try:
        hosts = routed(lab, servers=("web", "tls", "grpc", "be1", "be2", "be3"))
        client, router = hosts["client"], hosts["router"]
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text("127.0.0.1 localhost\n")
        (etc / "resolv.conf").write_text("nameserver 198.18.1.1\noptions timeout:1 attempts:1\n")
        router.spawn("dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", "--pid-file=",
                     "--listen-address=198.18.1.1", "--bind-interfaces", "--user=root", "--group=root",
                     "--local=/lab.test/", f"--host-record={TLS_NAME},{TLS}", f"--host-record=web.lab.test,{WEB}")  # fmt: skip
        lab.route(client, "198.18.3.0/24", "198.18.1.1")
        tmp.chmod(0o755)
        web_config = tmp / "web.json"
        web_config.write_text("{}")
        py = sys.executable
        hosts["web"].spawn(py, str(SERVERS), "http", WEB, "8080", str(web_config))
        hosts["web"].iptables("-A", "INPUT", "-p", "tcp", "--dport", "8082", "-j", "DROP")
        # :8083 drops every third SYN: the first of every other connect, which waits 1 s to retransmit
        hosts["web"].spawn(py, str(SERVERS), "http", WEB, "8083", str(web_config))
        hosts["web"].iptables("-A", "INPUT", "-p", "tcp", "--dport", "8083", "--syn", "-m", "statistic",
                              "--mode", "nth", "--every", "3", "--packet", "0", "-j", "DROP")  # fmt: skip
        certs = pki(tmp / "pki", TLS_NAME, [TLS])
        empty_cfg = tmp / "empty.json"
        empty_cfg.write_text("{}")
        for case, port in TLS_PORTS.items():
            leaf = certs["valid" if case == "old" else case]
            extra = ["1.1"] if case == "old" else []
            hosts["tls"].spawn(py, "-W", "ignore", str(SERVERS), "https", TLS, str(port), str(empty_cfg),
                               str(leaf.chain), str(leaf.key), *extra)  # type: ignore[union-attr]  # fmt: skip
        grpc_state = tmp / "grpc.state"
        grpc_state.write_text("SERVING")
        hosts["grpc"].spawn(py, str(SERVERS), "grpc", GRPC, "50051", str(grpc_state))
        for i, addr in enumerate(BACKENDS, start=1):
            cfg = tmp / f"be{i}.json"
            cfg.write_text(json.dumps({"delay_ms": {"*": 150}} if addr == SLOW_BACKEND else {}))
            hosts[f"be{i}"].spawn(py, str(SERVERS), "http", addr, "8080", str(cfg))
        # kube-proxy's part: the ClusterIP DNATed to one endpoint per new connection
        for i, addr in enumerate(BACKENDS):
            prob = ["-m", "statistic", "--mode", "random", "--probability", f"{1 / (len(BACKENDS) - i):.5f}"]
            router.iptables("-t", "nat", "-A", "PREROUTING", "-d", CLUSTER_IP, "-p", "tcp", "--dport", "80",
                            *(prob if i < len(BACKENDS) - 1 else []), "-j", "DNAT", "--to-destination", f"{addr}:8080")  # fmt: skip
        kubeconfig = tmp / "kubeconfig"
        client.spawn(py, str(DAEMON), str(FIXTURE), str(kubeconfig))
        for addr, port in [(WEB, 8080), (WEB, 8083), (GRPC, 50051), *((a, 8080) for a in BACKENDS),
                           *((TLS, p) for p in TLS_PORTS.values())]:  # fmt: skip
            _wait_tcp(client, addr, port)
        for _ in range(100):
            if kubeconfig.exists():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("stand-in API server did not start")
    except BaseException:
        lab.close()
        shutil.rmtree(etc, ignore_errors=True)
        raise
    return ProbeLab(lab, client, tmp, web_config, grpc_state, certs["ca"], kubeconfig, etc)  # type: ignore[arg-type]


def run_notebook(
    pl: ProbeLab, out: Path, params: dict[str, Any], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    from ndtestkit import netdebug_cmd

    argv = [*netdebug_cmd(), "run", "endpoint_probe", "--out", str(out)]
    for k, v in params.items():
        argv += ["-p", k, json.dumps(v) if not isinstance(v, str) else v]
    return pl.client.run(*argv, check=False, timeout=timeout)
