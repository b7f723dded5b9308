"""Every shipped notebook is clean (no outputs), thin (no definitions) and self-describing."""

from __future__ import annotations

import ast
import json

import pytest

from netdebug_nb import catalogue, demo
from netdebug_nb.parameters import validate

NOTEBOOKS = sorted(catalogue.notebooks_dir().glob("*.ipynb"))


def test_there_are_notebooks() -> None:
    assert {"pcap_analysis", "latency", "dns_trace", "netstate"} <= {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stripped_thin_and_described(path) -> None:  # type: ignore[no-untyped-def]
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name} cell {i} has stored outputs"
        assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"
        src = "".join(cell["source"])
        tree = ast.parse(src)
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda)
        ]
        assert not defs, f"{path.name} cell {i} defines functions/classes: keep logic in netdebug_nb"
    assert nb["metadata"]["kernelspec"]["name"] == "netdebug"
    info = catalogue.describe(path)
    assert info.purpose, "metadata.netdebug.purpose is missing"
    assert info.parameters, "no parameters parsed"
    for p in info.parameters:
        assert p.help, f"{path.name}: parameter {p.name} has no help comment"
    assert info.demo, "metadata.netdebug.demo is missing"
    validate(info.parameters, demo.parameters_for(info), notebook=info.name)
    for value in demo.parameters_for(info).values():
        if isinstance(value, str) and str(catalogue.DATA_DIR) in value:
            assert __import__("pathlib").Path(value).exists(), f"demo data missing: {value}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_parameter_declares_its_domain_and_is_checked_after_the_parameters_cell(path) -> None:  # type: ignore[no-untyped-def]
    info = catalogue.describe(path)
    undeclared = [p.name for p in info.parameters if p.type != "bool" and p.domain is None]
    assert not undeclared, f"{path.name}: parameters without a {{domain}}: {undeclared}"
    for p in info.parameters:  # the defaults satisfy their own domains (paths: form only)
        validate(info.parameters, {p.name: p.default}, notebook=info.name)
    cells = json.loads(path.read_text())["cells"]
    at = next(i for i, c in enumerate(cells) if "parameters" in (c["metadata"].get("tags") or []))
    check = "".join(cells[at + 1]["source"])
    assert f'parameters.check("{info.name}", globals())' in check, "the cell after the parameters checks them"
