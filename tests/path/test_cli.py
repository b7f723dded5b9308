"""``netdebug-nb k8s why`` end to end: offline on the bundled dump, live against the stand-in API
server (the official client over HTTP), and every kind of bad input as one line, exit 2."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import pytest
from apiserver import FakeApiServer, Resource
from ndtestkit import netdebug_cmd
from pathkit import DUMP, IPTABLES, WEB

from netdebug_nb.cli import Env, main


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_offline_json(tmp_path: Path) -> None:
    code, out, err = run(
        "k8s", "why", WEB, "api.payments", "--port", "http", "--manifests", str(DUMP), "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "blocked" and doc["blocked_at"] == "netpol.ingress"
    assert [s["step"] for s in doc["steps"]][:3] == ["resolve.source", "resolve.destination", "dns.query"]
    assert all(set(s) >= {"step", "status", "detail", "objects"} for s in doc["steps"])


def test_offline_text_with_dataplane_snapshot() -> None:
    code, out, err = run(
        "k8s", "why", "frontend/app=gateway", "service:payments/api", "--port", "80",
        "--manifests", str(DUMP), "--kubeproxy-snapshot", str(IPTABLES),
    )  # fmt: skip
    assert code == 0, err
    assert "5 warn    dataplane" in out and "stale 10.244.2.19:8080" in " ".join(out.split())
    assert out.rstrip().splitlines()[-1].startswith("7 ok      verdict")


def test_live_against_the_stand_in_api(tmp_path: Path) -> None:
    srv = FakeApiServer(token="t0k3n")
    if "networking.k8s.io/v1/networkpolicies" not in srv.resources:
        srv.add_resource(Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True))
    srv.load(DUMP)
    srv.start()
    try:
        kc = srv.write_kubeconfig(tmp_path / "kubeconfig")
        code, out, err = run(
            "k8s", "why", WEB, "api.payments", "--port", "http", "--kubeconfig", str(kc), "--json"
        )
        assert code == 0, err
        doc = json.loads(out)
        assert doc["blocked_at"] == "netpol.ingress"
        assert any(p == "/apis/networking.k8s.io/v1/networkpolicies" for _, p, _ in srv.requests)
        srv.forbid("list", "networkpolicies")
        code, out, err = run("k8s", "why", WEB, "cart", "--port", "80", "--kubeconfig", str(kc), "--json")
        assert code == 0, err
        doc = json.loads(out)
        assert any("RBAC forbids list networkpolicies" in n for n in doc["notes"])
    finally:
        srv.stop()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([WEB, "service:payments/apx", "--port", "80"], "no service 'payments/apx'; nearest: payments/api"),
        (["shopp/web", "cart"], "no namespace 'shopp'; nearest: shop"),
        (["shop/web", "cart"], "no pod 'shop/web'; nearest: shop/web-6c9f7d8b5-q4z8m"),
        ([WEB, "cart", "--port", "99999"], "port: 99999: not in 1-65535"),
        ([WEB, "cart", "--port", "Bad_Name"], "expected a number 1-65535 or a port name"),
        ([WEB, "payments/api-7d9f8b6c5-x2x9k", "--port", "grpc"], None),  # a blocked rung, not an error
    ],
)
def test_bad_input_one_line_exit_2(argv: list[str], message: str | None) -> None:
    code, out, err = run("k8s", "why", *argv, "--manifests", str(DUMP))
    if message is None:
        assert code == 0 and "declares no TCP port named 'grpc'" in out
        return
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_no_cluster_and_no_manifests_and_unparseable_manifests(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "KUBECONFIG": str(tmp_path / "none")}
    p = subprocess.run(
        [*netdebug_cmd(), "k8s", "why", WEB, "cart"], capture_output=True, text=True, env=env, timeout=60
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr.count("\n") == 1 and "--manifests" in p.stderr
    bad = tmp_path / "dump.yaml"
    bad.write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    p = subprocess.run(
        [*netdebug_cmd(), "k8s", "why", WEB, "cart", "--manifests", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr and f"{bad}:" in p.stderr
