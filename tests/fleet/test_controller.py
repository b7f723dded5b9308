from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from apiserver_jobs import Cluster

from netdebug_nb.fleet import controller, jobspec
from netdebug_nb.fleet.controller import FleetOptions, NodeSelectionError
from netdebug_nb.fleet.jobspec import JobOptions


def job_opts(**kw: Any) -> JobOptions:
    return JobOptions(
        notebook="latency", run_id=kw.pop("run_id", "t1"), namespace="netdebug", timeout_s=30, **kw
    )


def fleet(**kw: Any) -> FleetOptions:
    return FleetOptions(**{"merge": False, "pending_timeout_s": 0.3, "qps": 200, "burst": 50, **kw})


def test_results_are_collected_and_failures_reported_per_node(cluster: Cluster, tmp_path: Path) -> None:
    cluster.sim.add_nodes(["n7", "n8", "n9"], ip_prefix="10.9")
    cluster.sim.behaviour.update(
        n2="unschedulable", n3="imagepull", n4="oom", n5="deadline", n6="oversize", n7="corrupt", n8="nolog"
    )
    out = tmp_path / "incident"
    res = controller.run(cluster.api(), job_opts(), fleet(), out)

    by = {r.node: r for r in res.runs}
    assert [r.node for r in res.runs] == [f"n{i}" for i in range(1, 10)]
    for ok in ("n1", "n9"):
        doc = json.loads((out / ok / "latency" / "findings.json").read_text())
        assert doc["status"] == "ok" and doc["findings"][0]["title"] == f"ran on {ok}"
        assert (out / ok / "latency" / "latency.html").is_file()
        assert by[ok].collect == "done"
    reasons = {
        n: json.loads((out / n / "latency" / "findings.json").read_text())["error_detail"]["reason"]
        for n in ("n2", "n3", "n4", "n5", "n6", "n7", "n8")
    }
    assert reasons == {
        "n2": "Unschedulable",
        "n3": "ImagePullBackOff",
        "n4": "OOMKilled",
        "n5": "DeadlineExceeded",
        "n6": "ResultTooLarge",
        "n7": "ResultCorrupted",
        "n8": "NoResult",
    }
    assert "sha256 mismatch" in by["n7"].result
    assert "untolerated taint" in by["n2"].message
    assert "9000000 bytes" in by["n6"].result
    assert "no notebook named" in by["n8"].result
    merged = json.loads((out / "findings.json").read_text())
    failed_runs = {r["run"] for r in merged["runs"] if r["status"] == "failed"}
    assert failed_runs == {f"n{i}/latency" for i in range(2, 9)}
    assert sum(f["id"] == "fleet.job_failed" for f in merged["findings"]) == 7
    assert res.index is not None and res.index.is_file()
    manifest = json.loads((out / "fleet.json").read_text())
    assert {n["node"]: n["internal_ip"] for n in manifest["nodes"]}["n9"] == "10.9.0.3"
    assert cluster.sim.jobs() == [] and cluster.sim.pods() == []  # cleaned up after itself


def test_jobs_posted_are_the_jobspec(cluster: Cluster, tmp_path: Path) -> None:
    opts = job_opts(run_id="spec1", service_account="netdebug-ro", host_network=True)
    controller.run(cluster.api(), opts, fleet(nodes="n1,n2", report=False), tmp_path / "o")
    posted = sorted(cluster.sim.created_jobs, key=lambda j: j["metadata"]["name"])
    assert posted == [jobspec.build("n1", opts), jobspec.build("n2", opts)]


def test_mesh_mode_passes_the_other_nodes_ips_as_targets(cluster: Cluster, tmp_path: Path) -> None:
    controller.run(cluster.api(), job_opts(run_id="m1"), fleet(nodes="n1,n2,n3", mesh=True), tmp_path / "o")
    argv = {
        j["metadata"]["annotations"][jobspec.ANNOTATION_NODE]: j["spec"]["template"]["spec"]["containers"][0][
            "command"
        ]
        for j in cluster.sim.created_jobs
    }
    targets = json.loads(argv["n2"][argv["n2"].index("targets") + 1])
    assert targets == ["10.0.0.1", "10.0.0.3"]


def test_node_selection_by_label_and_by_name(cluster: Cluster) -> None:
    cluster.sim.add_nodes(["w1", "w2"], ip_prefix="10.5", labels={"role": "worker"})
    api = cluster.api()
    assert [n.name for n in controller.select_nodes(api, "role=worker")] == ["w1", "w2"]
    assert [n.name for n in controller.select_nodes(api, "n3,n1")] == ["n1", "n3"]
    assert len(controller.select_nodes(api, "all")) == 8
    with pytest.raises(NodeSelectionError, match="no such node.*nope"):
        controller.select_nodes(api, "n1,nope")
    with pytest.raises(NodeSelectionError, match="selects no node"):
        controller.select_nodes(api, "role=gpu")


def test_create_refused_everywhere_stops_after_the_first_batch(cluster: Cluster, tmp_path: Path) -> None:
    cluster.srv.forbid("create", "jobs")
    res = controller.run(cluster.api(), job_opts(run_id="rbac"), fleet(batch_size=2), tmp_path / "o")
    assert all(r.reason == "CreateFailed" for r in res.runs)
    posts = [r for r in cluster.srv.requests if r[0] == "POST"]
    assert len(posts) == 2  # the first batch only
    assert "forbidden" in res.runs[-1].message


def test_clean_removes_only_fleet_jobs(cluster: Cluster) -> None:
    api = cluster.api()
    api.create_job(
        "netdebug", jobspec.build("n1", JobOptions(notebook="latency", run_id="a", namespace="netdebug"))
    )
    api.create_job(
        "netdebug", jobspec.build("n2", JobOptions(notebook="dns", run_id="b", namespace="netdebug"))
    )
    other = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "backup",
            "labels": {"app": "backup"},
            "annotations": {jobspec.ANNOTATION_NODE: "n1", f"{jobspec.GROUP}/notebook": "x"},
        },
        "spec": {"template": {"metadata": {"labels": {}}, "spec": {}}},
    }
    api.create_job("netdebug", other)
    assert controller.clean(api, "netdebug", run_id="a") == 1
    assert sorted(j["metadata"]["name"] for j in cluster.sim.jobs()) == sorted(
        ["backup", jobspec.job_name("b", "n2")]
    )
    assert controller.clean(api, None) == 1
    assert [j["metadata"]["name"] for j in cluster.sim.jobs()] == ["backup"]


def test_interrupt_deletes_what_was_created(cluster: Cluster, tmp_path: Path) -> None:
    cluster.sim.behaviour.update({f"n{i}": "unschedulable" for i in range(1, 7)})
    seen: list[Mapping[str, int]] = []

    def interrupt(counts: Mapping[str, int], final: bool) -> None:
        seen.append(dict(counts))
        if len(cluster.sim.pods()) >= 2:
            raise KeyboardInterrupt

    ctl = controller.Controller(
        cluster.api(),
        job_opts(run_id="int"),
        fleet(pending_timeout_s=60),
        tmp_path / "o",
        on_progress=interrupt,
    )
    with pytest.raises(KeyboardInterrupt):
        ctl.run(controller.select_nodes(cluster.api(), "all"))
    assert cluster.sim.created_jobs  # it had started
    assert cluster.sim.jobs() == [] and cluster.sim.pods() == []
    assert seen


def test_expired_watches_are_listed_again_and_nothing_is_lost(cluster: Cluster, tmp_path: Path) -> None:
    cluster.sim.expire_watches = 2
    res = controller.run(
        cluster.api(), job_opts(run_id="exp"), fleet(nodes="n1,n2,n3", report=False), tmp_path / "o"
    )
    assert [r.collect for r in res.runs] == ["done"] * 3
    lists = [
        r for r in cluster.srv.requests if r[0] == "GET" and r[1].endswith("/pods") and "watch" not in r[2]
    ]
    assert len(lists) >= 2  # the first list, then a re-list after 410


def test_watches_not_polling(cluster: Cluster, tmp_path: Path) -> None:
    controller.run(cluster.api(), job_opts(run_id="poll"), fleet(report=False), tmp_path / "o")
    gets = [r for r in cluster.srv.requests if r[0] == "GET"]
    per_job = [r for r in gets if "/jobs/" in r[1]]
    assert per_job == []  # never one GET per Job
    logs = [r for r in gets if r[1].endswith("/log")]
    assert len(logs) == 6  # one log read per node
    # /version, nodes, list+watch of pods and of jobs, the cleanup's list: independent of the fleet size
    assert len(gets) - len(logs) <= 7


def test_mesh_with_pods_peers_find_each_other(cluster: Cluster, tmp_path: Path) -> None:
    """Each pod lists the run's other pods for their IPs; the manifest maps pod IPs to nodes."""
    import threading

    from netdebug_nb.fleet import pod

    cluster.sim.behaviour.update({f"n{i}": "deadline" for i in range(1, 7)})  # stay around a while
    cluster.sim.step_s = 0.2
    opts = job_opts(run_id="peer", peers=1)
    box: dict[str, Any] = {}
    t = threading.Thread(
        target=lambda: box.update(
            res=controller.run(
                cluster.api(), opts, fleet(nodes="n1,n2,n3", mesh=True, report=False), tmp_path / "o"
            )
        )
    )
    t.start()
    ips = pod.peer_ips(cluster.api(), "netdebug", "peer", me="nobody", expect=3, wait_s=20, poll_s=0.05)
    me = next(p for p in cluster.sim.pods() if p["status"].get("podIP") == ips[0])["metadata"]["name"]
    others = pod.peer_ips(cluster.api(), "netdebug", "peer", me=me, expect=2, wait_s=5, poll_s=0.05)
    t.join(60)
    assert len(ips) == 3 and others == ips[1:]
    argv = cluster.sim.created_jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert argv[argv.index("--peers") + 1] == "2" and argv[argv.index("--run-id") + 1] == "peer"
    manifest = json.loads((tmp_path / "o" / "fleet.json").read_text())
    assert sorted(n["pod_ip"] for n in manifest["nodes"]) == ips
