"""The notebooks the kit ships, found the same way from a source checkout and from a wheel.

A wheel carries the top-level ``notebooks/`` folder as ``netdebug_nb/_notebooks``; a checkout
(or an editable install) has it beside the package. Each notebook describes itself in its
metadata under ``netdebug``: ``purpose`` (one line) and ``demo`` (the parameters that run it on
the bundled sample data, with ``{data}`` standing for the sample-data folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netdebug_nb.declaration import Parameter, parse_cell
from netdebug_nb.errors import NotebookFormatError, NotebookNotFoundError

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_DIR = PACKAGE_DIR / "data"
"""Sample data bundled with the package (used by ``netdebug-nb demo`` and the tests)."""


@dataclass(frozen=True)
class NotebookInfo:
    name: str
    path: Path
    purpose: str
    parameters: list[Parameter]
    demo: dict[str, Any] = field(default_factory=dict)

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


def notebooks_dir() -> Path:
    for candidate in (PACKAGE_DIR / "_notebooks", PACKAGE_DIR.parent / "notebooks"):
        if candidate.is_dir():
            return candidate
    return PACKAGE_DIR / "_notebooks"


def names() -> list[str]:
    return sorted(p.stem for p in notebooks_dir().glob("*.ipynb"))


def read(path: Path) -> dict[str, Any]:
    """A notebook file as JSON, or a one-line error naming the file."""
    try:
        with open(path, encoding="utf-8") as fh:
            nb = json.load(fh)
    except OSError as exc:
        raise NotebookFormatError(path, exc.strerror or str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise NotebookFormatError(path, f"not a notebook (invalid JSON at line {exc.lineno})") from exc
    if not isinstance(nb, dict) or "cells" not in nb:
        raise NotebookFormatError(path, "not a notebook (no cells)")
    return nb


def describe(path: Path) -> NotebookInfo:
    nb = read(path)
    cell = next((c for c in nb["cells"] if "parameters" in (c.get("metadata", {}).get("tags") or [])), None)
    if cell is None:
        raise NotebookFormatError(path, "no cell tagged 'parameters'")
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    meta = nb.get("metadata", {}).get("netdebug", {})
    return NotebookInfo(
        name=path.stem,
        path=path,
        purpose=str(meta.get("purpose", "")),
        parameters=parse_cell(source, origin=str(path)),
        demo=dict(meta.get("demo", {})),
    )


def find(name: str) -> NotebookInfo:
    """A shipped notebook by name (``latency``), or a notebook file by path."""
    as_path = Path(name)
    if as_path.suffix == ".ipynb" and as_path.exists():
        return describe(as_path)
    stem = as_path.stem if as_path.suffix == ".ipynb" else name
    path = notebooks_dir() / f"{stem}.ipynb"
    if not path.is_file():
        raise NotebookNotFoundError(name, names())
    return describe(path)


def all_notebooks() -> list[NotebookInfo]:
    return [describe(notebooks_dir() / f"{n}.ipynb") for n in names()]


def markdown(infos: list[NotebookInfo]) -> str:
    """The README's notebook reference (kept in sync by a test): a section and a table per notebook."""
    parts = []
    for info in infos:
        rows = "\n".join(
            f"| `{p.name}` | {p.type} | `{p.default!r}` | {p.domain.describe() if p.domain else ''} | {p.help} |"
            for p in info.parameters
        )
        parts.append(
            f"### `{info.name}`\n\n{info.purpose}\n\n| parameter | type | default | accepts | meaning |\n"
            f"|---|---|---|---|---|\n{rows}\n"
        )
    return "\n".join(parts)
