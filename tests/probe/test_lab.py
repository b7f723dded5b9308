"""Every case of the probe lab comes out as its finding and its verdict: the notebook run for real
inside the client namespace against real servers (see probelab.py for the topology)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from probelab import (
    BACKENDS,
    CLUSTER_IP,
    EMPTY_IP,
    GRPC,
    SLOW_BACKEND,
    TLS_NAME,
    TLS_PORTS,
    WEB,
    ProbeLab,
    run_notebook,
)

pytestmark = pytest.mark.lab

HTTPS = {case: f"https://{TLS_NAME}:{port}/" for case, port in TLS_PORTS.items()}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _run(pl: ProbeLab, out: Path, params: dict[str, Any]) -> tuple[dict[str, Any], Path]:
    done = run_notebook(pl, out, params)
    run_dir = out / "endpoint_probe"
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads((run_dir / "findings.json").read_text()), run_dir


def test_each_case_is_its_finding_and_its_verdict(probelab: ProbeLab, tmp_path: Path) -> None:
    probelab.set_web({"delay_ms": {"/slow": 600}, "status": {"/fail": 503}, "reset": ["/reset"]})
    probelab.set_grpc("NOT_SERVING")
    fast, slow, fail, reset = (f"http://{WEB}:8080/{p}" for p in ("fast", "slow", "fail", "reset"))
    refused, dropped = f"tcp://{WEB}:8081", f"tcp://{WEB}:8082"
    grpc = f"grpc://{GRPC}:50051"
    targets = [fast, slow, fail, reset, refused, dropped, *HTTPS.values(), grpc, "service:shop/web",
               "service:shop/empty", "http://nosuch.lab.test/", "ftp://web.lab.test/", "http://[198.18.2.10/"]  # fmt: skip
    doc, run_dir = _run(probelab, tmp_path, {
        "targets": targets, "trials": 6, "timeout_s": 1.0, "ca_bundle": str(probelab.ca),
        "server_slow_ms": 300.0, "kubeconfig": str(probelab.kubeconfig),
        # no lab case is about slow DNS or connects; a loaded test machine must not make one up
        "dns_slow_ms": 1000.0, "connect_slow_ms": 1000.0, "tls_slow_ms": 1000.0,
    })  # fmt: skip
    assert doc["status"] == "ok"
    found = {f["id"]: f for f in doc["findings"]}
    verdict = {r["target"]: r["verdict"] for r in _rows(run_dir / "probe_targets.csv")}

    assert verdict[fast] == "ok" and verdict[HTTPS["valid"]] == "ok"
    # the application: slow answers while connect is fast, 5xx, NOT_SERVING, one slow endpoint
    assert slow in found["http.server_slow"]["evidence"]["p90_ms"] and verdict[slow] == "application"
    assert fast not in found["http.server_slow"]["evidence"]["p90_ms"]
    assert (
        found["http.errors"]["evidence"]["by_kind"][fail] == {"http_5xx": 6}
        and verdict[fail] == "application"
    )
    assert grpc in found["grpc.not_serving"]["evidence"]["rate_pct"] and verdict[grpc] == "application"
    [outlier] = found["http.backend_outlier"]["evidence"]["outliers"]
    assert (outlier["target"], outlier["backend"], outlier["backend_name"]) == (
        "service:shop/web",
        SLOW_BACKEND,
        "web-5d8c7-b2",
    )
    assert outlier["value"] >= 140 and outlier["siblings"] < 50
    assert verdict["service:shop/web"] == "application"
    # the network: nothing listening, SYNs dropped, a name that does not resolve
    assert found["tcp.refused"]["evidence"]["rate_pct"] == {refused: 100.0} and verdict[refused] == "network"
    assert found["tcp.timeout"]["evidence"]["rate_pct"][dropped] == 100.0 and verdict[dropped] == "network"
    assert found["http.errors"]["evidence"]["by_kind"][reset] == {"reset": 6} and verdict[reset] == "network"
    nosuch = found["http.errors"]["evidence"]["by_kind"]["http://nosuch.lab.test/"]
    assert set(nosuch) == {"dns"} and verdict["http://nosuch.lab.test/"] == "network"
    # TLS: one finding per certificate problem, each its own endpoint
    ev = {k: found[k]["evidence"] for k in found if k.startswith("tls.")}
    assert list(ev["tls.cert_expired"]["days_left"]) == [
        f"{HTTPS['expired']} @ 198.18.2.11:{TLS_PORTS['expired']}"
    ]
    assert list(ev["tls.name_mismatch"]["sni"]) == [
        f"{HTTPS['wrongname']} @ 198.18.2.11:{TLS_PORTS['wrongname']}"
    ]
    why = {k.split(" @ ")[0]: v for k, v in ev["tls.untrusted"]["why"].items()}
    assert set(why) == {HTTPS["selfsigned"], HTTPS["nointermediate"]}
    assert "self-signed" in why[HTTPS["selfsigned"]] and "intermediate" in why[HTTPS["nointermediate"]]
    assert list(ev["tls.old_protocol"]["negotiated"].values()) == ["TLSv1.1"]
    assert 4 < next(iter(ev["tls.cert_expiring"]["days_left"].values())) < 6
    for case in ("expired", "wrongname", "selfsigned", "nointermediate", "old"):
        assert verdict[HTTPS[case]] == "tls", case
    # the Service: its ClusterIP and the three ready endpoints, Host kept; the empty one: ClusterIP only
    backend_rows = _rows(run_dir / "probe_backends.csv")
    backends = {(r["target"], r["backend"], r["backend_kind"]) for r in backend_rows}
    web = {
        r["backend"]: r["verdict"]
        for r in backend_rows
        if r["target"] == "service:shop/web" and r["backend_kind"] == "endpoint"
    }
    assert web == {BACKENDS[0]: "ok", SLOW_BACKEND: "application", BACKENDS[2]: "ok"}
    assert {b for t, b, _ in backends if t == "service:shop/web"} == {CLUSTER_IP, *BACKENDS}
    assert {(b, k) for t, b, k in backends if t == "service:shop/empty"} == {(EMPTY_IP, "clusterip")}
    # bad input: one line each, named, and everything else was still probed
    problems = found["probe.bad_target"]["evidence"]["problems"]
    assert any("ftp://web.lab.test/" in p and "unknown scheme 'ftp'" in p for p in problems)
    assert any("http://[198.18.2.10/" in p and "malformed URL" in p for p in problems)
    assert any("shop/empty has no ready endpoints; probing the ClusterIP only" in p for p in problems)
    assert any("1 endpoint(s) not ready" in p for p in problems)
    assert (
        "target 'http://nosuch.lab.test/': the name does not resolve (Could not resolve host: nosuch.lab.test)"
        in problems
    )
    assert all("\n" not in p for p in problems) and len(problems) == 5


def test_lost_syns_make_connects_slow_and_the_verdict_network(probelab: ProbeLab) -> None:
    code = f"""
import json
from netdebug_nb.probe import checks, prober, schedule, stats, target
df = schedule.collect([target.parse('http://{WEB}:8083/')], prober.Options(trials=6, timeout_s=4))
per_t = stats.summarize(df)
found = checks.slow(per_t, stats.summarize(df, per_backend=True))
print(json.dumps({{"tcp_ms": [round(float(x)) for x in df["tcp_ms"]], "ok": bool(df["ok"].all()),
                  "ids": [f.id for f in found], "verdict": str(stats.verdicts(per_t, stats.errors(df))["verdict"][0])}}))
"""
    out = probelab.python(code)
    assert out["ok"] and out["ids"] == ["http.connect_slow"] and out["verdict"] == "network"
    assert sum(t >= 900 for t in out["tcp_ms"]) >= 2 and min(out["tcp_ms"]) < 100  # the retransmitted SYNs


def test_grpc_health_follows_the_server_switching(probelab: ProbeLab) -> None:
    code = """
import json
from netdebug_nb.probe import prober, schedule, target
rows = schedule.collect([target.parse('grpc://{addr}:50051')], prober.Options(trials=3, timeout_s=2))
print(json.dumps([[str(r["health"]), bool(r["ok"]), str(r["error_kind"]), r["server_ms"] > 0]
                  for r in rows.to_dict("records")]))
""".replace("{addr}", GRPC)
    probelab.set_grpc("SERVING")
    assert probelab.python(code) == [["SERVING", True, "", True]] * 3
    probelab.set_grpc("NOT_SERVING")
    assert probelab.python(code) == [["NOT_SERVING", False, "not_serving", True]] * 3


def test_unreadable_ca_bundle_is_one_line_and_the_targets_are_still_probed(
    probelab: ProbeLab, tmp_path: Path
) -> None:
    probelab.set_web({})
    targets = [HTTPS["valid"], f"http://{WEB}:8080/"]
    doc, run_dir = _run(probelab, tmp_path, {"targets": targets, "trials": 2, "ca_bundle": str(tmp_path),
                                             "dns_slow_ms": 1000.0, "connect_slow_ms": 1000.0, "tls_slow_ms": 1000.0})  # fmt: skip
    found = {f["id"]: f for f in doc["findings"]}
    assert found["probe.bad_target"]["evidence"]["problems"] == [
        f"ca_bundle {tmp_path}: is a directory; certificates are verified against the system store"
    ]
    verdict = {r["target"]: r["verdict"] for r in _rows(run_dir / "probe_targets.csv")}
    # our lab CA is not in the system store: the HTTPS target is now untrusted, the HTTP one fine
    assert verdict == {HTTPS["valid"]: "tls", f"http://{WEB}:8080/": "ok"}
