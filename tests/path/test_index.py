"""The indexed objects: big YAML dumps read through rapidyaml exactly as through libyaml (the
shared loader's fast path, as kubectl writes them),
unsupported kinds are noted, and a bad big file still names its line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from pathkit import items

from netdebug_nb.k8s import objects
from netdebug_nb.path import index


def big_dump(tmp_path: Path) -> Path:
    base = items()
    pod = next(o for o in base if o["kind"] == "Pod")
    grown = list(base)
    for i in range(700):
        p = copy.deepcopy(pod)
        p["metadata"]["name"] = f"load-{i:04d}"
        p["metadata"]["annotations"] = {"note": "yes", "empty": "~", "when": "2026-12-01T10:00:00Z"}
        grown.append(p)
    path = tmp_path / "dump.yaml"
    # what kubectl does: every string that YAML would type otherwise is quoted
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": grown}, sort_keys=False))
    assert path.stat().st_size > 1 << 20
    return path


def test_big_yaml_fast_path_equals_libyaml(tmp_path: Path) -> None:
    path = big_dump(tmp_path)
    fast = objects.read(path)
    slow = objects.Objects()
    for _, doc in objects._pyyaml_documents(path, path.read_text()):
        for obj in objects._items(doc, path, None):
            slow.add(obj)
    assert objects._ryml_documents(path.read_text()) is not None  # the fast path really ran
    assert fast.pods == slow.pods and fast.services == slow.services and fast.unsupported == slow.unsupported
    assert fast.pods[-1]["metadata"]["annotations"] == {
        "note": "yes",
        "empty": "~",
        "when": "2026-12-01T10:00:00Z",
    }


def test_big_bad_yaml_still_names_the_line(tmp_path: Path) -> None:
    path = big_dump(tmp_path)
    text = path.read_text().splitlines()
    text.insert(40, "  bad: [unclosed")
    path.write_text("\n".join(text) + "\n")
    with pytest.raises(objects.ObjectsError, match=r"dump.yaml:\d+: not valid YAML"):
        objects.read(path)


def test_index_notes_and_lookups(idx: index.Index) -> None:
    assert "ignored unsupported kinds: apps/v1 Deployment ×1" in idx.notes
    assert idx.pods_by_ip["10.244.1.21"]["metadata"]["name"] == "api-7d9f8b6c5-x2x9k"
    assert idx.services_by_ip["10.96.20.10"]["metadata"]["name"] == "api"
    assert [s["metadata"]["name"] for s in idx.service_slices("payments", "api")] == ["api-abc12"]
