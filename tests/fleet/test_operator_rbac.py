"""deploy/fleet-operator-rbac.yaml grants exactly what the fleet controller's API calls need."""

from __future__ import annotations

from pathlib import Path

from netdebug_nb.k8s import manifests

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "fleet-operator-rbac.yaml"

# (apiGroup, resource, verb) for every call in netdebug_nb/fleet/api.py
NEEDED = {
    ("", "nodes", "list"),
    ("batch", "jobs", "create"),
    ("batch", "jobs", "list"),
    ("batch", "jobs", "watch"),
    ("batch", "jobs", "delete"),
    ("batch", "jobs", "deletecollection"),
    ("", "pods", "list"),
    ("", "pods", "watch"),
    ("", "pods/log", "get"),
}


def test_operator_rbac_loads_strictly_and_covers_the_fleet_calls_only() -> None:
    loaded = manifests.load(RBAC)
    granted: set[tuple[str, str, str]] = set()
    for doc, _model in loaded:
        for rule in doc.get("rules", []):
            for g in rule["apiGroups"]:
                for r in rule["resources"]:
                    granted |= {(g, r, v) for v in rule["verbs"]}
    assert granted >= NEEDED
    extra = {t for t in granted - NEEDED if t[2] != "get"}  # plain gets of the same objects are harmless
    assert not extra, extra
    assert not any(r in {"secrets", "pods/exec", "*"} for _, r, _ in granted)
    kinds = {doc["kind"]: doc for doc, _ in loaded}
    assert kinds["Role"]["metadata"]["namespace"] == "netdebug"  # jobs and pods only in the fleet namespace
