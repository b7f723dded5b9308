"""The CLI called in-process with its own streams (httpie style), plus one real subprocess run."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

from ndtestkit import netdebug_cmd

from netdebug_nb.cli import Env, main

NB = Path(__file__).parent / "fixtures" / "notebooks"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def call(*argv: str, tty: bool = False) -> tuple[int, str, str]:
    out, err = io.StringIO(), (Tty() if tty else io.StringIO())
    code = main(list(argv), Env(stdout=out, stderr=err))
    return code, out.getvalue(), err.getvalue()


def test_list_shows_every_notebook_with_parameters() -> None:
    code, out, _ = call("list", "--json")
    assert code == 0
    doc = json.loads(out)
    for nb in doc:
        assert nb["purpose"], nb["name"]
        for p in nb["parameters"]:
            assert {"name", "type", "default", "help"} <= set(p)
    code, text, _ = call("list")
    assert code == 0
    for nb in doc:
        assert f"{nb['name']}: {nb['purpose']}" in text


def test_errors_are_one_line_with_exit_codes(tmp_path: Path) -> None:
    cases = [
        (["run"], 2, "no notebook named ''; available:"),
        (["run", "no_such_nb"], 2, "no notebook named 'no_such_nb'"),
        (["run", str(NB / "ok.ipynb"), "-p", "bogus", "1"], 2, "unknown parameter 'bogus'"),
        (["run", str(NB / "ok.ipynb"), "-p", "count", "x"], 2, "parameter 'count'"),
        (["run", str(NB / "ok.ipynb"), "-f", str(tmp_path / "none.yaml")], 2, "none.yaml"),
        (["run", str(NB / "ok.ipynb"), "--out", "/proc/1/nope"], 2, "output directory /proc/1/nope"),
        (["report", str(tmp_path / "nothing")], 2, "not a directory of runs"),
    ]
    for argv, want_code, want in cases:
        code, out, err = call(*argv)
        assert code == want_code, (argv, err)
        assert err.startswith("netdebug-nb: error: ") and want in err, (argv, err)
        assert err.count("\n") == 1, err


def test_failing_notebook_exit_code_and_quiet_when_piped(tmp_path: Path) -> None:
    code, out, err = call("run", str(NB / "failing.ipynb"), "--out", str(tmp_path))
    assert code == 3
    assert err.strip().splitlines() == [
        f"netdebug-nb: error: {json.loads((tmp_path / 'failing' / 'findings.json').read_text())['error']}"
    ]
    code, out, err = call("run", str(NB / "ok.ipynb"), "--out", str(tmp_path))
    assert code == 0 and out == "" and err == ""


def test_progress_on_a_terminal(tmp_path: Path) -> None:
    code, _, err = call("run", str(NB / "ok.ipynb"), "--out", str(tmp_path), tty=True)
    assert code == 0
    assert "ok: 100%" in err and "4/4" in err and "finding(s); report" in err


def test_report_and_bundle(tmp_path: Path) -> None:
    incident = tmp_path / "incident"
    assert call("run", str(NB / "ok.ipynb"), "--out", str(incident))[0] == 0
    assert call("run", str(NB / "failing.ipynb"), "--out", str(incident))[0] == 3
    code, out, _ = call("report", str(incident), "--bundle")
    assert code == 0
    index = (incident / "index.html").read_text()
    assert "failing" in index and "ok/ok.html" in index
    merged = json.loads((incident / "findings.json").read_text())
    assert merged["status"] == "failed"
    assert [f["severity"] for f in merged["findings"]][:1] == ["critical"]
    assert {r["run"] for r in merged["runs"]} == {"ok", "failing"}
    with tarfile.open(tmp_path / "incident.tar.gz") as tar:
        names = tar.getnames()
    assert "incident/index.html" in names and "incident/ok/ok.ipynb" in names


def test_console_script_runs() -> None:
    proc = subprocess.run([*netdebug_cmd(), "--version"], capture_output=True, text=True, check=True)
    assert proc.stdout.startswith("netdebug-nb ")
