"""The real papermill path, end to end: success, failing cell, timeout, dead kernel, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from netdebug_nb import runner
from netdebug_nb.errors import (
    ExecutionError,
    KernelDiedError,
    OutputDirError,
    ParameterTypeError,
    RunTimeoutError,
    UnknownParameterError,
)

NB = Path(__file__).parent / "fixtures" / "notebooks"
KEYS = {"notebook", "parameters", "status", "error", "started", "duration_s", "findings"}


def _doc(out: Path, name: str) -> dict:
    return json.loads((out / name / "findings.json").read_text())


def test_success_writes_notebook_html_and_findings(tmp_path: Path) -> None:
    res = runner.run(str(NB / "ok.ipynb"), {"count": "3", "items": "a,b"}, out=tmp_path)
    assert res.status == "ok" and len(res.findings) == 3
    doc = _doc(tmp_path, "ok")
    assert set(doc) >= KEYS
    assert doc["status"] == "ok" and doc["error"] is None
    assert doc["parameters"] == {"count": 3, "label": "x", "ratio": 0.5, "flag": False, "items": ["a", "b"]}
    assert [f["id"] for f in doc["findings"]] == ["test.item0", "test.item1", "test.item2"]
    assert set(doc["findings"][0]) == {"id", "severity", "title", "detail", "evidence"}
    html = (tmp_path / "ok" / "ok.html").read_text()
    assert "data:image/png;base64" in html  # the plot is embedded
    assert "netdebug-finding" in html and "finding 1 x" in html
    assert "for i in range(count)" not in html  # code cells are hidden
    assert 'src="http' not in html and "<script src=" not in html  # opens offline
    executed = nbformat.read(str(tmp_path / "ok" / "ok.ipynb"), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)


def test_failing_cell_keeps_partial_outputs(tmp_path: Path) -> None:
    with pytest.raises(ExecutionError) as err:
        runner.run(str(NB / "failing.ipynb"), out=tmp_path)
    assert "RuntimeError" in str(err.value) and "boom" in str(err.value)
    assert err.value.cell_index is not None
    doc = _doc(tmp_path, "failing")
    assert doc["status"] == "failed" and "boom" in doc["error"]
    assert doc["error_detail"]["ename"] == "RuntimeError"
    assert [f["id"] for f in doc["findings"]] == ["test.before"]  # recorded before the failure
    assert (tmp_path / "failing" / "failing.html").stat().st_size > 0
    nb = nbformat.read(str(tmp_path / "failing" / "failing.ipynb"), as_version=4)
    assert any("An Exception was encountered" in "".join(c.source) for c in nb.cells)  # papermill's banner


def test_timeout_stops_the_run_and_reports_it(tmp_path: Path) -> None:
    with pytest.raises(RunTimeoutError) as err:
        runner.run(str(NB / "sleepy.ipynb"), out=tmp_path, timeout=2)
    assert "--timeout 2" in str(err.value)
    doc = _doc(tmp_path, "sleepy")
    assert doc["status"] == "failed" and "timeout" in doc["error"].lower()
    nb = nbformat.read(str(tmp_path / "sleepy" / "sleepy.ipynb"), as_version=4)
    assert any(o.get("text") == "start\n" for c in nb.cells for o in c.get("outputs", []))


def test_dead_kernel_is_reported(tmp_path: Path) -> None:
    with pytest.raises(KernelDiedError):
        runner.run(str(NB / "dies.ipynb"), out=tmp_path)
    assert _doc(tmp_path, "dies")["status"] == "failed"


def test_bad_parameters_fail_before_anything_runs(tmp_path: Path) -> None:
    with pytest.raises(UnknownParameterError):
        runner.run(str(NB / "ok.ipynb"), {"cont": 1}, out=tmp_path)
    with pytest.raises(ParameterTypeError, match="'count'"):
        runner.run(str(NB / "ok.ipynb"), {"count": "many"}, out=tmp_path)
    assert not (tmp_path / "ok").exists()


def test_output_dir_problems(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputDirError, match="file"):
        runner.run(str(NB / "ok.ipynb"), out=blocker)


def test_kit_kernel_is_used_even_if_the_user_has_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user-level kernel spec with the same name must not hijack headless runs."""
    user_data = tmp_path / "home" / ".local" / "share" / "jupyter" / "kernels" / "netdebug"
    user_data.mkdir(parents=True)
    (user_data / "kernel.json").write_text(
        json.dumps({"argv": ["/bin/false"], "display_name": "x", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "home" / ".local" / "share" / "jupyter"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    before = os.environ.get("JUPYTER_PATH")
    res = runner.run(str(NB / "ok.ipynb"), out=tmp_path / "out")
    assert res.status == "ok"
    assert os.environ.get("JUPYTER_PATH") == before  # the run does not leak its environment


def test_errors_raised_in_a_kernel_are_found_by_class_name() -> None:
    from netdebug_nb import errors

    fping_error = errors.by_name("FpingOutputError")  # defined in netdebug_nb.latency.fping
    assert fping_error is not None and errors.is_input_error(fping_error)
    assert errors.by_name("ToolFailedError") is errors.ToolFailedError
    assert not errors.is_input_error(errors.ToolFailedError)
    assert errors.by_name("RuntimeError") is None and errors.by_name("NoSuchThingError") is None
    assert errors.by_name("OutOfBoundsTimedelta") is None  # a foreign exception: a bug, exit 3


def test_plain_papermill_stops_at_the_check_cell_with_the_cli_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A notebook executed without ``netdebug-nb run`` (JupyterLab, papermill, a fleet Job's own
    kernel) checks its parameters in the cell after them: same one line, no traceback."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from netdebug_nb import catalogue, kernel

    src = catalogue.find("latency").path
    monkeypatch.setenv("JUPYTER_PATH", kernel.jupyter_path_with(kernel.ensure()))
    with pytest.raises(PapermillExecutionError) as exc:
        papermill.execute_notebook(
            str(src), str(tmp_path / "out.ipynb"), parameters={"count": -5}, kernel_name=kernel.NAME,
            progress_bar=False, log_output=False,
        )  # fmt: skip
    assert exc.value.ename == "ParameterDomainError"
    assert exc.value.evalue == "parameter 'count' of latency: -5 is not in 1..100000"
    outputs = [
        o
        for c in nbformat.read(str(tmp_path / "out.ipynb"), as_version=4).cells
        for o in c.get("outputs", [])
    ]
    (err,) = [o for o in outputs if o["output_type"] == "error"]
    assert len(err["traceback"]) == 1 and "Traceback" not in err["traceback"][0]


def test_notebook_writes_are_throttled_while_cells_run_and_the_last_state_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill.engines

    params = nbformat.v4.new_code_cell("n: int = 1  # a parameter", metadata={"tags": ["parameters"]})
    cells = [params, *(nbformat.v4.new_code_cell(f"print('cell {i}')") for i in range(30))]
    nb = nbformat.v4.new_notebook(
        cells=cells,
        metadata={"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    )
    src = tmp_path / "many.ipynb"
    nbformat.write(nb, str(src))
    writes: list[int] = []
    real = papermill.engines.write_ipynb
    monkeypatch.setattr(papermill.engines, "write_ipynb", lambda nb, path: writes.append(1) or real(nb, path))
    assert runner.run(str(src), out=tmp_path / "out").status == "ok"
    # unthrottled, papermill writes before and after every cell: 60 and more
    assert 1 <= len(writes) <= 10, len(writes)
    done = nbformat.read(str(tmp_path / "out" / "many" / "many.ipynb"), as_version=4)
    assert "".join(o["text"] for c in done.cells for o in c.get("outputs", [])) == "".join(
        f"cell {i}\n" for i in range(30)
    )
