"""Saved curl -w '%{json}' lines → trial rows: the phases, what was not reached, the error kinds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import schema
from netdebug_nb.errors import InputError, ParseError
from netdebug_nb.probe import trial

CASES = Path(__file__).resolve().parents[1] / "fixtures" / "probe" / "curl_cases.txt"
DEMO = Path(__file__).resolve().parents[2] / "netdebug_nb" / "data" / "probe" / "curl.jsonl"


def test_real_curl_lines_become_rows_with_curls_phases() -> None:
    df, notes = trial.read(CASES)
    schema.check(df, trial.TRIALS_SCHEMA)
    assert notes == []  # the blank line is not counted; the body before the first record is cut off
    ok = df.iloc[0]
    assert (ok["target"], ok["status"], ok["http_version"], ok["backend"]) == (
        "https://api.test/ok",
        200,
        "1.1",
        "127.0.0.1",
    )
    assert bool(ok["ok"]) and ok["error_kind"] == ""
    # the phases are differences of curl's cumulative timers
    assert ok["tcp_ms"] == pytest.approx(ok["connect_ms"] - ok["namelookup_ms"])
    assert ok["tls_ms"] == pytest.approx(ok["appconnect_ms"] - ok["connect_ms"]) and ok["tls_ms"] > 0
    assert ok["server_ms"] == pytest.approx(ok["starttransfer_ms"] - ok["pretransfer_ms"])
    assert ok["transfer_ms"] == pytest.approx(ok["total_ms"] - ok["starttransfer_ms"])
    kinds = list(zip(df["error_kind"], df["error_phase"], strict=True))[1:]
    assert kinds == [("tls", ""), ("connect", ""), ("dns", ""), ("timeout", "server"), ("empty_reply", "")]
    untrusted = df.iloc[1]
    assert "unable to get local issuer" in untrusted["error"] and pd.isna(untrusted["server_ms"])
    dns = df.iloc[3]
    assert pd.isna(dns["tcp_ms"]) and pd.isna(dns["remote_ip"]) and not bool(dns["completed"])


def test_other_lines_are_counted_and_a_file_without_records_is_an_error(tmp_path: Path) -> None:
    line = CASES.read_text().splitlines()[2]
    df, notes = trial.parse(f"<html>\nnot json {{\n{line}\n", source="x.txt")
    assert len(df) == 1 and notes == ["x.txt: 2 line(s) that are not curl -w '%{json}' records were skipped"]
    with pytest.raises(ParseError, match=r"x.txt: no curl -w '%\{json\}' lines found"):
        trial.parse("hello\n", source="x.txt")
    with pytest.raises(InputError, match="no such file"):
        trial.read(tmp_path / "missing.jsonl")
    assert trial.parse("", source="x")[0].empty


def test_saved_trials_read_back_the_same() -> None:
    df, _ = trial.read(DEMO)
    back, notes = trial.parse(trial.to_curl_json(df))
    assert notes == []
    cols = [
        "target",
        "backend",
        "trial",
        "ok",
        "status",
        "error_kind",
        "error_phase",
        "tcp_ms",
        "server_ms",
        "total_ms",
    ]
    pd.testing.assert_frame_equal(df[cols], back[cols], check_exact=False, atol=1e-3)


def test_expected_status_decides_what_is_an_error() -> None:
    assert trial.status_ok(503, ()) is False and trial.status_ok(302, ()) is True
    assert (
        trial.status_ok(204, ("2xx",))
        and not trial.status_ok(200, ("204",))
        and trial.status_ok(404, ("404", "2xx"))
    )
    df, _ = trial.read(CASES, expected=("204",))
    assert df.iloc[0]["error_kind"] == "http_2xx" and not bool(df.iloc[0]["ok"])


def test_error_kinds_from_errno_and_timeout_phases() -> None:
    t0 = {"namelookup": 0.0, "connect": 0.0}
    assert trial.classify(7, "Could not connect to server", t0, tls=False, ip_host=True, os_errno=111) == (
        "refused",
        "",
    )
    assert trial.classify(7, "x", t0, tls=False, ip_host=True, os_errno=113) == ("unreachable", "")
    assert trial.classify(56, "Recv failure: Connection reset by peer", t0, tls=False, ip_host=True) == (
        "reset",
        "",
    )
    assert trial.classify(28, "Resolving timed out after 1000 ms", t0, tls=False, ip_host=False) == (
        "timeout",
        "dns",
    )
    assert trial.classify(28, "Connection timed out after 1001 ms", t0, tls=False, ip_host=True) == (
        "timeout",
        "connect",
    )
    up = {"namelookup": 0.001, "connect": 0.002, "appconnect": 0.0}
    assert trial.classify(28, "Operation timed out", up, tls=True, ip_host=True) == ("timeout", "tls")
    done = {**up, "appconnect": 0.01}
    assert trial.classify(28, "Operation timed out", done, tls=True, ip_host=True, got_headers=True) == (
        "timeout",
        "transfer",
    )
