"""netdebug_nb.guidance: a notebook with nothing to work on says what to give, once, at the top,
and draws no empty plots or tables — in the executed notebook and in its HTML report."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import catalogue, findings, guidance, runner
from netdebug_nb.errors import CellInputError


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    guidance._state["missing"] = ""


def test_every_need_names_parameters_the_notebook_has() -> None:
    for name, need in guidance.NEEDS.items():
        valid = {p.name for p in catalogue.find(name).parameters}
        for option in need.options:
            assert option.parameter in valid, (name, option.parameter)


@pytest.mark.parametrize("name", catalogue.names())
def test_every_notebook_has_one_guidance_cell_after_its_parameters(name: str) -> None:
    nb = catalogue.read(catalogue.notebooks_dir() / f"{name}.ipynb")
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    calls = [i for i, c in enumerate(code) if "guidance.show(" in "".join(c["source"])]
    assert len(calls) == 1, name
    params = next(i for i, c in enumerate(code) if "parameters" in (c["metadata"].get("tags") or []))
    assert params < calls[0] <= params + 2, "guidance comes right after the parameters (and their check)"
    assert f'guidance.show("{name}", given=' in "".join(code[calls[0]]["source"])


def test_empty_tables_are_notes_and_all_tables_are_while_input_is_missing() -> None:
    full = pd.DataFrame({"a": [1]})
    empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
    assert guidance.table_note(full) is None
    assert repr(guidance.table_note(empty)) == "no rows — nothing to show (columns a)"
    wide = pd.DataFrame(columns=["src", "dst", "proto", "bytes", "packets"])
    assert repr(guidance.table_note(wide)) == "no rows — nothing to show (columns src, dst, proto, bytes, …)"
    assert guidance.show("pcap_analysis", given=False) is not None
    assert "no capture given" in repr(guidance.table_note(full))
    summary = findings.summary([findings.Finding("capture.none", "info", "No capture given")])
    assert guidance.table_note(summary) is None  # the findings summary is content, not a placeholder
    assert guidance.show("pcap_analysis", given=True) is None
    assert guidance.table_note(full) is None


def test_captures_next_to_the_notebooks_newest_first(tmp_path: Path) -> None:
    for i, name in enumerate(["old.pcap", "b.pcapng.gz", "notes.txt", "new.PCAPNG"]):
        (tmp_path / name).write_bytes(b"x")
        os.utime(tmp_path / name, (time.time() - 100 + i, time.time() - 100 + i))
    (tmp_path / "dir.pcap").mkdir()
    assert [p.name for p in guidance.captures(tmp_path)] == ["new.PCAPNG", "b.pcapng.gz", "old.pcap"]
    g = guidance.guide("pcap_analysis", given=False, directories=(tmp_path,))
    assert g is not None
    text = repr(g)
    assert 'pcap = "capture.pcap"' in text and 'capture_interface = "eth0"' in text
    assert "capture_seconds" in text and "capture_filter" in text
    assert "Captures next to the notebooks: new.PCAPNG, b.pcapng.gz, old.pcap" in text
    assert "<code>new.PCAPNG</code>" in g._repr_html_()
    assert guidance.guide("pcap_analysis", given=True) is None
    assert guidance.guide("netstate", given=False) is None  # the host is always there


def test_the_formatter_in_a_real_ipython_shell() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert guidance.install()
        empty = pd.DataFrame({"a": pd.Series([], dtype="int64")})
        data, _ = shell.display_formatter.format(empty)
        assert (
            "netdebug-note" in data["text/html"]
            and data["text/plain"] == "no rows — nothing to show (columns a)"
        )
        data, _ = shell.display_formatter.format(pd.DataFrame({"a": [7]}))
        assert "<table" in data["text/html"] and "7" in data["text/plain"]
    finally:
        InteractiveShell.clear_instance()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(guidance.NEEDS))
def test_a_run_with_defaults_says_what_to_give_and_draws_nothing(name: str, tmp_path: Path) -> None:
    params = {"kubernetes": False} if catalogue.find(name).parameter("kubernetes") else {}
    try:
        html = runner.run(name, params, out=tmp_path).html
    except CellInputError:  # a notebook may refuse to go on without its input: after the guidance
        assert name == "capture_compare"
        html = tmp_path / name / f"{name}.html"
    nb = json.loads(html.with_suffix(".ipynb").read_text())
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    shown = [o for o in outputs if o.get("output_type") in ("display_data", "execute_result")]
    assert not any("image/png" in o["data"] for o in shown), "a plot was drawn with no input"
    htmls = ["".join(o["data"].get("text/html", "")) for o in shown]
    tables = [h for h in htmls if "dataframe" in h or "netdebug-table" in h]
    assert len(tables) <= 1 and all(">info<" in h for h in tables), "a table other than the findings summary"
    guides = [i for i, h in enumerate(htmls) if "netdebug-guidance" in h]
    assert guides == [0], "the guidance comes once, first"
    need = guidance.NEEDS[name]
    assert all(f"{o.parameter} = " in htmls[0] for o in need.options)
    report = html.read_text()
    assert "<img" not in report and 'class="dataframe' not in report
    assert report.count("netdebug-guidance") == 1
    if name in ("pcap_analysis", "dns_trace"):  # notebooks whose plots and tables run on empty data
        assert re.search(r"nothing to draw", report) and re.search(r"nothing to show: no ", report)
