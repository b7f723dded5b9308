from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netdebug_nb.k8s import manifests
from netdebug_nb.k8s.manifests import ManifestError

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")


def test_deploy_folder_has_the_manifests() -> None:
    names = {p.name for p in MANIFESTS}
    assert {"namespace.yaml", "rbac.yaml", "lab-pod.yaml", "lab-pod-hostnetwork.yaml"} <= names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_every_manifest_loads_strictly_into_client_models(path: Path) -> None:
    loaded = manifests.load(path)
    assert loaded
    for doc, model in loaded:
        assert type(model).__name__ == manifests.MODELS[(doc["apiVersion"], doc["kind"])]
        assert model.metadata.name == doc["metadata"]["name"]


def test_deploy_yaml_is_what_the_cli_applies() -> None:
    """deploy/ is read by people, lab_objects() is applied by `k8s lab`: they must not drift."""
    docs = [
        d
        for p in ("namespace.yaml", "rbac.yaml", "lab-pod.yaml")
        for d in yaml.safe_load_all((DEPLOY / p).read_text())
    ]
    assert docs == manifests.lab_objects()
    host = yaml.safe_load((DEPLOY / "lab-pod-hostnetwork.yaml").read_text())
    assert host == manifests.lab_pod(host_network=True)
    kust = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    assert kust["resources"] == ["namespace.yaml", "rbac.yaml", "lab-pod.yaml"]
    assert manifests.DEFAULT_IMAGE.startswith(kust["images"][0]["name"] + ":")


POLICY_CRDS = (
    "ciliumnetworkpolicies",
    "ciliumclusterwidenetworkpolicies",
    "networkpolicies",
    "globalnetworkpolicies",
    "adminnetworkpolicies",
    "baselineadminnetworkpolicies",
    "clusternetworkpolicies",
)


def test_rbac_covers_what_objects_collect_lists() -> None:
    """Every resource objects.collect() reads is granted (else it would only ever warn)."""
    from netdebug_nb.k8s import objects

    granted = {(g, r) for rule in manifests.READ_RULES for g in rule["apiGroups"] for r in rule["resources"]}
    for api_version, kind in objects.RESOURCES:
        group = api_version.rpartition("/")[0]
        plural = {"Endpoints": "endpoints", "EndpointSlice": "endpointslices"}.get(kind, kind.lower() + "s")
        plural = "networkpolicies" if kind == "NetworkPolicy" else plural
        assert (group, plural) in granted, (group, plural)
    for group, _version, plural in objects._LIVE_OTHER:
        assert (group, plural) in granted, (group, plural)


def test_rbac_is_read_only() -> None:
    docs = manifests.load(DEPLOY / "rbac.yaml")
    role = next(m for d, m in docs if d["kind"] == "ClusterRole")
    granted = {
        (g, r, v) for rule in role.rules for g in rule.api_groups for r in rule.resources for v in rule.verbs
    }
    expected = {
        (g, r, v)
        for g, rs in (
            ("", ["pods", "services", "endpoints", "nodes", "namespaces"]),
            ("discovery.k8s.io", ["endpointslices"]),
            ("networking.k8s.io", ["networkpolicies"]),
            *(
                (group, list(POLICY_CRDS))
                for group in (
                    "cilium.io",
                    "crd.projectcalico.org",
                    "policy.networking.k8s.io",
                    "crd.antrea.io",
                )
            ),
        )
        for r in rs
        for v in ("get", "list", "watch")
    }
    assert granted == expected


def test_lab_pod_security_and_probe() -> None:
    ((doc, pod),) = manifests.load(DEPLOY / "lab-pod.yaml")
    sc = pod.spec.security_context
    assert (sc.run_as_user, sc.run_as_non_root) == (1000, True)
    (c,) = pod.spec.containers
    assert c.security_context.capabilities.add == ["NET_RAW", "NET_ADMIN"]
    assert c.security_context.capabilities.drop == ["ALL"]
    assert not c.security_context.privileged
    env = {e.name: e.value for e in c.env}
    assert env["NETDEBUG_LAB_IP"] == "127.0.0.1"  # only kubectl port-forward reaches it
    assert c.ports is None and not pod.spec.host_network
    assert c.readiness_probe._exec.command[:2] == ["sh", "-c"]
    assert "Authorization: token" in c.readiness_probe._exec.command[2]
    assert c.resources.requests["memory"] and c.resources.limits["memory"]
    secret_vol = next(v for v in pod.spec.volumes if v.secret)
    assert secret_vol.secret.secret_name == manifests.TOKEN_SECRET and secret_vol.secret.default_mode == 0o440
    ((_, host),) = manifests.load(DEPLOY / "lab-pod-hostnetwork.yaml")
    assert host.spec.host_network and host.spec.node_name == "NODE_NAME"
    assert host.spec.dns_policy == "ClusterFirstWithHostNet"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["spec"]["containers"][0].update(readinesProbe={}),
            r"spec.containers\[0\].readinesProbe: unknown field",
        ),
        (lambda d: d["metadata"].update(lables={}), "metadata.lables: unknown field"),
        (lambda d: d.update(extra=1), "extra: unknown field in V1Pod"),
        (lambda d: d["spec"]["securityContext"].update(runAsUser="1000"), "runAsUser: expected int"),
        (
            lambda d: d["spec"]["containers"][0]["resources"]["limits"].update(cpu=2),
            "limits.cpu: expected str",
        ),
        (lambda d: d["spec"].update(hostNetwork="yes"), "hostNetwork: expected bool"),
        (lambda d: d["spec"]["containers"][0].pop("name"), "V1Container"),
    ],
)
def test_validation_refuses_what_the_client_would_drop(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    doc = manifests.lab_pod()
    mutate(doc)
    with pytest.raises(ManifestError, match=message):
        manifests.validate(doc, "lab-pod.yaml")


def test_unsupported_kind_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="unsupported object apps/v1 Deployment"):
        manifests.validate({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}})
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [\n")
    with pytest.raises(ManifestError, match="bad.yaml: unreadable"):
        manifests.load(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(yaml.safe_dump_all([manifests.namespace(), {**manifests.lab_pod(), "bogus": 1}]))
    with pytest.raises(ManifestError, match="wrong.yaml document 2: Pod: bogus"):
        manifests.load(wrong)
