from __future__ import annotations

import re
from typing import Any

import pytest

from netdebug_nb.fleet import jobspec
from netdebug_nb.fleet.jobspec import JobOptions, JobSpecError


def opts(**kw: Any) -> JobOptions:
    return JobOptions(notebook="latency", run_id="r1", parameters={"count": 20}, **kw)


def container(job: dict[str, Any]) -> dict[str, Any]:
    return job["spec"]["template"]["spec"]["containers"][0]


def test_pinned_to_its_node_with_required_affinity() -> None:
    job = jobspec.build("node-7", opts())
    pod = job["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert terms == [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["node-7"]}]}]
    assert "nodeName" not in pod


def test_node_name_pinning_bypasses_the_scheduler() -> None:
    pod = jobspec.build("node-7", opts(pin="nodeName"))["spec"]["template"]["spec"]
    assert pod["nodeName"] == "node-7" and "affinity" not in pod


def test_deadline_ttl_and_no_retries() -> None:
    spec = jobspec.build("n", opts(timeout_s=60, start_margin_s=30, ttl_s=600))["spec"]
    assert spec["activeDeadlineSeconds"] == 90
    assert spec["ttlSecondsAfterFinished"] == 600
    assert spec["backoffLimit"] == 0 and spec["template"]["spec"]["restartPolicy"] == "Never"


def test_labels_select_the_run_and_the_fleet() -> None:
    job = jobspec.build("node-7", opts())
    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels[jobspec.LABEL_MANAGED] == jobspec.MANAGED_BY
        assert labels[jobspec.LABEL_RUN] == "r1"
        assert labels[jobspec.LABEL_NODE] == "node-7"
    assert job["spec"]["template"]["metadata"]["annotations"][jobspec.ANNOTATION_NODE] == "node-7"
    assert jobspec.run_selector("r1") == f"{jobspec.FLEET_SELECTOR},{jobspec.LABEL_RUN}=r1"


def test_service_account_and_security_context() -> None:
    job = jobspec.build("n", opts(service_account="netdebug-ro", namespace="dbg"))
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["namespace"] == "dbg"
    assert pod["serviceAccountName"] == "netdebug-ro"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 1000
    sc = container(job)["securityContext"]
    assert sc["runAsUser"] == 1000 and sc["privileged"] is False
    assert sc["allowPrivilegeEscalation"] is True  # file capabilities on fping/tcpdump need it
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["NET_RAW", "NET_ADMIN"]}
    assert sc["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container(job)["volumeMounts"]


def test_resources_and_image() -> None:
    c = container(jobspec.build("n", opts(image="reg/lab:1", cpu_limit="500m", memory_limit="512Mi")))
    assert c["image"] == "reg/lab:1"
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert c["resources"]["requests"] == {"cpu": "100m", "memory": "256Mi"}


def test_command_runs_the_notebook_and_frames_its_result() -> None:
    job = jobspec.build(
        "n", opts(result_limit=1000, timeout_s=77), extra_parameters={"targets": ["10.0.0.2", "10.0.0.3"]}
    )
    argv = container(job)["command"]
    assert argv[:4] == ["netdebug-nb", "fleet", "exec", "latency"]
    assert argv[argv.index("--limit") + 1] == "1000" and argv[argv.index("--timeout") + 1] == "77"
    i = argv.index("targets")
    assert argv[i - 1] == "-p" and argv[i + 1] == '["10.0.0.2", "10.0.0.3"]'
    j = argv.index("count")
    assert argv[j + 1] == "20"


def test_host_network_uses_cluster_dns() -> None:
    pod = jobspec.build("n", opts(host_network=True))["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert "hostNetwork" not in jobspec.build("n", opts())["spec"]["template"]["spec"]


def test_tolerations_default_to_every_node_and_are_configurable() -> None:
    assert jobspec.build("n", opts())["spec"]["template"]["spec"]["tolerations"] == [{"operator": "Exists"}]
    tols = jobspec.parse_tolerations("dedicated=infra:NoSchedule,gpu")
    assert tols == [
        {"key": "dedicated", "operator": "Equal", "value": "infra", "effect": "NoSchedule"},
        {"key": "gpu", "operator": "Exists"},
    ]
    assert jobspec.parse_tolerations("none") == []
    with pytest.raises(JobSpecError, match="--tolerations"):
        jobspec.parse_tolerations("k=v:Sometimes")


@pytest.mark.parametrize(
    "node",
    ["node-7", "ip-10-0-12-7.eu-west-1.compute.internal", "A" * 253, "weird_name.with.dots"],
)
def test_names_and_label_values_are_valid_for_any_node_name(node: str) -> None:
    name = jobspec.job_name("1128070112ab", node)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    value = jobspec.label_value(node)
    assert len(value) <= 63 and re.fullmatch(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?", value)


def test_distinct_nodes_get_distinct_job_names() -> None:
    assert jobspec.job_name("r", "a" * 40 + "x") != jobspec.job_name("r", "a" * 40 + "y")


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(JobSpecError, match="--pin"):
        jobspec.build("n", opts(pin="magic"))
    with pytest.raises(JobSpecError, match="--timeout"):
        jobspec.build("n", opts(timeout_s=0))


def test_job_loads_strictly_into_the_client_model() -> None:
    """No misspelt or misplaced field: every key is one the Kubernetes API declares."""
    import json

    from kubernetes import client

    from netdebug_nb.k8s import manifests

    job = jobspec.build("node-7", opts(host_network=True, priority_class="high"))
    assert manifests._unknown_fields(job, "V1Job", "") == []
    model = client.ApiClient().deserialize(json.dumps(job), "V1Job", "application/json")
    assert model.spec.template.spec.containers[0].security_context.capabilities.add == [
        "NET_RAW",
        "NET_ADMIN",
    ]
