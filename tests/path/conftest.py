from __future__ import annotations

import copy
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).parent))
sys.path.append(str(Path(__file__).parents[1] / "k8s"))  # the stand-in API server

from apiserver import apiserver, kubeconfig  # noqa: F401  (pytest fixtures)
from pathkit import DUMP, items

from netdebug_nb.path import index


@pytest.fixture(scope="session")
def base_items() -> list[dict[str, Any]]:
    return items()


@pytest.fixture
def idx() -> index.Index:
    return index.read(DUMP)


@pytest.fixture
def crafted(base_items: list[dict[str, Any]]) -> Callable[..., index.Index]:
    """The demo dump with edits: ``crafted(edit)`` where ``edit(items)`` changes a deep copy in place."""

    def make(*edits: Callable[[list[dict[str, Any]]], None]) -> index.Index:
        objs = copy.deepcopy(base_items)
        for e in edits:
            e(objs)
        return index.from_items(objs, "crafted")

    return make
