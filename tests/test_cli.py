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


def test_console_script_piped_into_head_ends_quietly_and_keeps_its_exit_codes() -> None:
    # the reader of the pipe went away (`| head -1` after its line): the CLI's writes fail (the
    # listing is over one 8 KB buffer), and it must stop without a traceback
    import os

    r, w = os.pipe()
    os.close(r)
    try:
        gone = subprocess.run([*netdebug_cmd(), "list"], stdout=w, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(w)
    assert gone.returncode == 141 and gone.stderr == b"", gone.stderr
    # the fast exit keeps what was written and the code (a whole listing to a file, an error)
    whole = subprocess.run([*netdebug_cmd(), "list"], capture_output=True, text=True)
    assert whole.returncode == 0 and whole.stdout.count("\n") > 50 and whole.stdout.endswith("\n")
    bad = subprocess.run([*netdebug_cmd(), "run", "no_such_notebook"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("netdebug-nb: error: no notebook named")


# --- parameter domains, input files, inputs found late, inconclusive runs (issues #23, #18, #22) ---


def test_values_outside_their_declared_domain_are_exit_2_before_the_kernel(tmp_path: Path) -> None:
    """The cases a new user mistypes: one line naming notebook, parameter, value and domain."""
    (tmp_path / "a-dir").mkdir()
    cases = [
        (
            ["latency", "-p", "targets", "127.0.0.1", "-p", "count", "-5"],
            "parameter 'count' of latency: -5 is not in 1..100000",
        ),
        (["latency", "-p", "count", "0"], "parameter 'count' of latency: 0 is not in 1..100000"),
        (["latency", "-p", "interval_ms", "0"], "parameter 'interval_ms' of latency: 0 is not in 1..3600000"),
        (["latency", "-p", "timeout_ms", "-1"], "parameter 'timeout_ms' of latency: -1 is not in 0..600000"),
        (
            ["latency", "-p", "count", "10s"],
            "parameter 'count' of latency: '10s' is not an integer (in 1..100000)",
        ),
        (
            ["latency", "-p", "sizes", "[56,70000]"],
            "parameter 'sizes' of latency: 70000 (item 2) is not in 0..65507",
        ),
        (
            ["netstate", "-p", "ports", "99999"],
            "parameter 'ports' of netstate: '99999' (item 1) is not a port",
        ),
        (
            ["dns_trace", "-p", "resolver", "mus"],
            "parameter 'resolver' of dns_trace: 'mus' is not one of glibc, musl",
        ),
        (
            ["pcap_analysis", "-p", "capture_seconds", "0"],
            "parameter 'capture_seconds' of pcap_analysis: 0 is not > 0 and <= 86400",
        ),
        (
            ["pcap_analysis", "-p", "pcap", "/etc/passwd"],
            "parameter 'pcap' of pcap_analysis: /etc/passwd is not a capture file",
        ),
        (
            ["pcap_analysis", "-p", "pcap", str(tmp_path / "missing.pcap")],
            f"parameter 'pcap' of pcap_analysis: {tmp_path / 'missing.pcap'} does not exist; expected a capture file",
        ),
        (
            ["pcap_analysis", "-p", "pcap", str(tmp_path / "a-dir")],
            # a directory is a capture set: refused only when it holds no capture
            f"parameter 'pcap' of pcap_analysis: {tmp_path / 'a-dir'} directory holds no pcap, pcapng or gzip file",
        ),
        (
            ["latency", "-p", "fping_output", str(tmp_path / "a-dir")],
            f"parameter 'fping_output' of latency: {tmp_path / 'a-dir'} is a directory; expected a file",
        ),
        (
            ["netstate", "-p", "snapshot_dir", "/etc/hostname"],
            "parameter 'snapshot_dir' of netstate: /etc/hostname is not a directory",
        ),
        (
            ["dns_trace", "-p", "resolv_conf", str(tmp_path / "resolv.conf")],
            "parameter 'resolv_conf' of dns_trace:",
        ),
    ]
    for argv, want in cases:
        code, out, err = call("run", *argv, "--out", str(tmp_path / "out"))
        assert code == 2, (argv, err)
        assert err.startswith(f"netdebug-nb: error: {want}"), (argv, err)
        assert err.count("\n") == 1, err
    assert not (tmp_path / "out").exists(), "nothing is started or written for bad parameters"


def test_a_relative_capture_is_found_in_the_notebooks_directory(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Rule: a relative input path is looked up in the cwd first, then the notebooks directory."""
    from netdebug_nb.catalogue import DATA_DIR

    uploads, elsewhere = tmp_path / "notebooks", tmp_path / "cwd"
    uploads.mkdir()
    elsewhere.mkdir()
    (uploads / "upload.pcap").write_bytes((DATA_DIR / "pcap" / "sample.pcap").read_bytes())
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("NETDEBUG_NOTEBOOK_DIR", str(uploads))
    code, _, err = call(
        "run",
        "pcap_analysis",
        "-p",
        "pcap",
        "upload.pcap",
        "-p",
        "kubernetes",
        "false",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    doc = json.loads((tmp_path / "out" / "pcap_analysis" / "findings.json").read_text())
    assert doc["parameters"]["pcap"] == str(uploads / "upload.pcap") and doc["status"] == "ok"
    monkeypatch.delenv("NETDEBUG_NOTEBOOK_DIR")
    code, _, err = call("run", "pcap_analysis", "-p", "pcap", "upload.pcap", "--out", str(tmp_path / "out"))
    assert code == 2 and f"upload.pcap does not exist (looked in {elsewhere}," in err, err


def test_an_input_error_raised_in_a_cell_is_exit_2_and_the_report_is_written(tmp_path: Path) -> None:
    garbage = tmp_path / "fping.txt"
    garbage.write_text("hello, this is not fping output\n")
    code, _, err = call(
        "run",
        "latency",
        "-p",
        "fping_output",
        str(garbage),
        "-p",
        "kubernetes",
        "false",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 2
    assert (
        err
        == f"netdebug-nb: error: {garbage}: no fping result lines recognised (first line: 'hello, this is not fping output')\n"
    )
    run_dir = tmp_path / "out" / "latency"
    doc = json.loads((run_dir / "findings.json").read_text())
    assert doc["status"] == "failed" and doc["error_detail"]["ename"] == "FpingOutputError"
    assert doc["error_detail"]["type"] == "CellInputError"
    assert (run_dir / "latency.ipynb").is_file() and (run_dir / "latency.html").is_file()
    assert "Traceback" not in (run_dir / "latency.html").read_text(), "bad input shows as its one line"


def test_fping_that_fails_leaves_its_message_in_the_evidence_and_no_all_clear(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import os

    fake = tmp_path / "bin" / "fping"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho 'fping: probe engine refused to start (test)' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    code, _, err = call(
        "run",
        "latency",
        "-p",
        "targets",
        "127.0.0.1",
        "-p",
        "count",
        "1",
        "-p",
        "kubernetes",
        "false",
        "--out",
        str(tmp_path / "out"),
    )
    assert code == 0
    assert err == "netdebug-nb: latency: Inconclusive: fping could not run\n"
    doc = json.loads((tmp_path / "out" / "latency" / "findings.json").read_text())
    assert doc["status"] == "inconclusive"
    ids = [f["id"] for f in doc["findings"]]
    assert "latency.ok" not in ids and ids == ["latency.probe_failed"]
    ev = doc["findings"][0]["evidence"]
    assert ev["stderr"] == "fping: probe engine refused to start (test)" and ev["exit_code"] == 1
    assert ev["command"].startswith("fping -C 1 -D ") and ev["command"].endswith(" 127.0.0.1")
    assert doc["findings"][0]["inconclusive"] is True
    code, out, _ = call("report", str(tmp_path / "out"))
    merged = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert merged["status"] == "inconclusive" and merged["runs"][0]["inconclusive"] == ["fping could not run"]
    index = (tmp_path / "out" / "index.html").read_text()
    assert "<td class='inconclusive'>inconclusive<div class='muted'>fping could not run</div>" in index


def test_list_shows_the_domains() -> None:
    code, out, _ = call("list")
    assert code == 0
    assert "    count (int, default 20; in 1..100000): probes per target\n" in out
    assert "    pcap (str, default ''; a capture file, or empty): " in out
    code, out, _ = call("list", "--json")
    latency = next(nb for nb in json.loads(out) if nb["name"] == "latency")
    assert {p["name"]: p["domain"] for p in latency["parameters"]}["count"] == "1..100000"


def test_values_from_a_parameters_file_are_checked_the_same_way(tmp_path: Path) -> None:
    params = tmp_path / "p.yaml"
    params.write_text("targets: [127.0.0.1, 'bad host']\ncount: -5\n")
    code, _, err = call("run", "latency", "-f", str(params), "--out", str(tmp_path / "out"))
    assert code == 2 and err == (
        "netdebug-nb: error: parameter 'targets' of latency: 'bad host' (item 2) "
        "is not a host name, IP address or Kubernetes selector\n"
    )
    code, _, err = call(
        "run", "latency", "-f", str(params), "-p", "targets", "127.0.0.1", "--out", str(tmp_path)
    )
    assert code == 2 and err == "netdebug-nb: error: parameter 'count' of latency: -5 is not in 1..100000\n"
