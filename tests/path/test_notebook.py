"""The service_path notebook through the real runner: the demo on the bundled dump, and a bad
destination failing in one line with the report still written."""

from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import catalogue, demo, runner
from netdebug_nb.errors import ExecutionError

pytestmark = pytest.mark.slow


def test_demo_names_the_policy(tmp_path: Path) -> None:
    params = demo.parameters_for(catalogue.find("service_path"))
    res = runner.run("service_path", params, out=tmp_path, timeout=300)
    assert res.status == "ok"
    got = {f.id: f for f in res.findings}
    assert got["netpol.ingress_denied"].severity == "critical"
    assert "payments/default-deny-ingress" in got["netpol.ingress_denied"].detail
    assert "kubeproxy.endpoints_mismatch" in got
    html = res.html.read_text()
    assert "BLOCKED" in html and "netpol.ingress" in html and "running on (and probing from)" in html


def test_unknown_service_fails_in_one_line(tmp_path: Path) -> None:
    params = {
        "source": "shop/app=web",
        "destination": "service:payments/apx",
        "manifests": str(catalogue.DATA_DIR / "path" / "cluster.yaml"),
    }
    with pytest.raises(ExecutionError) as exc:
        runner.run("service_path", params, out=tmp_path, timeout=300)
    assert "no service 'payments/apx'; nearest: payments/api" in str(exc.value)
    assert (tmp_path / "service_path" / "service_path.html").exists()
