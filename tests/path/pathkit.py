"""Shared paths and helpers of the path tests (a module, not conftest: ``from conftest import``
picks whichever conftest loaded first)."""

from __future__ import annotations

from typing import Any

import yaml

from netdebug_nb import catalogue

DUMP = catalogue.DATA_DIR / "path" / "cluster.yaml"
IPTABLES = catalogue.DATA_DIR / "path" / "node-1.iptables-save.txt"
WEB = "shop/web-6c9f7d8b5-q4z8m"


def items() -> list[dict[str, Any]]:
    return list(yaml.safe_load(DUMP.read_text())["items"])


def find(objs: list[dict[str, Any]], kind: str, ns: str, name: str) -> dict[str, Any]:
    return next(
        o
        for o in objs
        if o["kind"] == kind and o["metadata"].get("namespace", "") == ns and o["metadata"]["name"] == name
    )
