from __future__ import annotations

import io
import json
from pathlib import Path

from apiserver_jobs import Cluster

from netdebug_nb.cli import Env, main
from netdebug_nb.fleet import framing, jobspec, result


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_fleet_run_collects_every_node_and_builds_the_index(cluster: Cluster, tmp_path: Path) -> None:
    out = tmp_path / "inc"
    code, stdout, stderr = run(
        "fleet", "run", "latency", "--kubeconfig", str(cluster.kubeconfig), "--nodes", "n1,n2,n3",
        "-p", "count", "5", "--out", str(out), "--no-merge", "--qps", "100",
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.strip().endswith(f"report: {out.resolve() / 'index.html'}")
    assert sorted(p.parent.parent.name for p in out.glob("*/latency/findings.json")) == ["n1", "n2", "n3"]
    assert "fleet run" in stderr and "3 node(s)" in stderr
    argv = cluster.sim.created_jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert argv[argv.index("count") + 1] == "5"


def test_fleet_run_reports_failed_nodes_and_exits_3(cluster: Cluster, tmp_path: Path) -> None:
    cluster.sim.behaviour["n2"] = "oom"
    code, stdout, _ = run(
        "fleet", "run", "latency", "--kubeconfig", str(cluster.kubeconfig), "--nodes", "n1,n2",
        "--out", str(tmp_path / "inc"), "--no-merge",
    )  # fmt: skip
    assert code == 3
    assert "n2: OOMKilled" in stdout


def test_bad_parameter_is_refused_before_any_job(cluster: Cluster, tmp_path: Path) -> None:
    code, _, stderr = run(
        "fleet", "run", "latency", "--kubeconfig", str(cluster.kubeconfig), "-p", "nope", "1",
        "--out", str(tmp_path / "inc"),
    )  # fmt: skip
    assert code == 2 and "unknown parameter 'nope'" in stderr
    assert cluster.sim.created_jobs == []


def test_unknown_node_is_a_usage_error(cluster: Cluster, tmp_path: Path) -> None:
    code, _, stderr = run(
        "fleet", "run", "latency", "--kubeconfig", str(cluster.kubeconfig), "--nodes", "n1,zz"
    )
    assert code == 2 and "no such node(s): zz" in stderr


def test_fleet_clean(cluster: Cluster) -> None:
    api = cluster.api()
    for node in ("n1", "n2"):
        api.create_job(
            "netdebug",
            jobspec.build(node, jobspec.JobOptions(notebook="latency", run_id="old", namespace="netdebug")),
        )
    code, stdout, _ = run("fleet", "clean", "--kubeconfig", str(cluster.kubeconfig))
    assert code == 0 and stdout == "deleted 2 fleet Job(s)\n"
    assert cluster.sim.jobs() == []


def test_fleet_emit_writes_a_frame_and_reports_oversize(tmp_path: Path) -> None:
    run_dir = tmp_path / "latency"
    run_dir.mkdir()
    (run_dir / "findings.json").write_text("{}")
    code, stdout, _ = run("fleet", "emit", str(run_dir))
    assert code == 0
    assert [r.ok for r in framing.Unframer(lambda b: None).feed_all(stdout.splitlines())] == [True]
    code, stdout, stderr = run("fleet", "emit", str(run_dir), "--limit", "10")
    assert code == 1 and "reason=oversize" in stdout and "oversize" in stderr


def test_fleet_exec_runs_the_notebook_and_frames_its_report(tmp_path: Path) -> None:
    code, stdout, _ = run("fleet", "exec", "fleet_mesh", "--out", str(tmp_path / "out"), "--timeout", "120")
    assert code == 0
    buf = io.BytesIO()
    framing.Unframer(buf.write).feed_all(stdout.splitlines())
    buf.seek(0)
    result.unpack(buf, tmp_path / "got")
    doc = json.loads((tmp_path / "got" / "fleet_mesh" / "findings.json").read_text())
    assert doc["status"] == "inconclusive" and [f["id"] for f in doc["findings"]] == ["mesh.no_fleet_dir"]
    assert (tmp_path / "got" / "fleet_mesh" / "fleet_mesh.html").is_file()


def test_fleet_exec_unknown_notebook_still_frames_an_error(tmp_path: Path) -> None:
    code, stdout, stderr = run("fleet", "exec", "nope", "--out", str(tmp_path / "out"))
    assert code == 1 and "reason=notebook_not_found" in stdout and "nope" in stderr
