from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from netdebug_nb import schema
from netdebug_nb.errors import InputError, ParseError
from netdebug_nb.latency import fping

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def lost_by_target(out: fping.FpingOutput) -> dict[str, int]:
    p = out.probes[out.probes["seq"].notna()]
    return {str(k): int(v) for k, v in p.groupby("target", sort=False)["lost"].sum().items()}


def test_count_vcount_timestamps_icmp_errors_and_unresolvable() -> None:
    out = fping.read(FIX / "fping5_C_D.txt")
    p = out.probes
    schema.check(p, fping.PROBES_SCHEMA)
    assert lost_by_target(out) == {"198.18.2.10": 0, "198.18.2.11": 3, "198.18.2.12": 3, "198.18.2.99": 3}
    assert list(p[p["target"] == "198.18.2.10"]["rtt_ms"]) == [0.056, 0.058, 0.053]
    unres = p[p["target"] == "bogus.invalid"].iloc[0]
    assert pd.isna(unres["seq"]) and unres["error"].startswith("unresolvable: Temporary failure")
    assert set(p[p["target"] == "198.18.2.11"]["error"]) == {"Host Unreachable from 198.18.1.1"}
    assert set(p[p["target"] == "198.18.2.99"]["error"]) == {"Network Unreachable from 198.18.1.1"}
    assert p[p["target"] == "198.18.2.12"]["error"].isna().all()  # DROP: silent
    icmp = out.icmp_errors.set_index("address")
    assert icmp.loc["198.18.2.11", "count"] == 2 and icmp.loc["198.18.2.99", "error"] == "Network Unreachable"
    assert out.notes == ()


def test_send_times_come_from_reply_time_minus_rtt_and_fill_losses() -> None:
    p = fping.read(FIX / "fping5_C_D.txt").probes
    ok = p[(p["target"] == "198.18.2.10")]
    first = ok.iloc[0]
    reply = pd.Timestamp(1795847437.45584, unit="s", tz="UTC")
    assert abs((reply - first["sent_ts"]).total_seconds() * 1000 - 0.056) < 0.01
    gaps = ok["sent_ts"].diff().dt.total_seconds().dropna()
    assert gaps.between(0.09, 0.11).all()  # -p 100
    lost = p[(p["target"] == "198.18.2.12")]
    assert lost["sent_ts"].notna().all()


def test_count_mode_summary_and_stats_block() -> None:
    out = fping.read(FIX / "fping5_c_s.txt")
    assert lost_by_target(out) == {"198.18.2.10": 0, "198.18.2.11": 3, "198.18.2.12": 3}
    assert out.notes == ()  # the -s block is known, not "unrecognised"
    assert out.probes["sent_ts"].isna().all()  # no -D


def test_fping4_losses_restored_from_summary() -> None:
    out = fping.read(FIX / "fping4_c.txt")
    assert lost_by_target(out) == {"198.18.2.10": 0, "198.18.2.11": 3, "198.18.2.12": 3}
    assert sorted(out.probes[out.probes["target"] == "198.18.2.12"]["seq"]) == [0, 1, 2]


def test_ttl_exceeded() -> None:
    p = fping.read(FIX / "fping5_ttl.txt").probes
    assert p["lost"].all() and set(p["error"]) == {"Time Exceeded from 198.18.1.1"}


def test_quiet_vcount_only() -> None:
    out = fping.read(FIX / "fping5_Cq.txt")
    assert lost_by_target(out) == {"198.18.2.10": 0, "198.18.2.12": 4}
    assert len(out.probes) == 8


def test_default_mode_alive_unreachable() -> None:
    p = fping.read(FIX / "fping5_default.txt").probes
    state = {str(t): bool(v) for t, v in zip(p["target"], p["lost"].fillna(True), strict=True)}
    assert not state["198.18.2.10"] and state["198.18.2.12"] and state["198.18.2.11"]
    assert p.loc[p["target"] == "nope.invalid", "error"].iloc[0].startswith("unresolvable")


def test_duplicates_are_rows_but_not_probes() -> None:
    p = fping.read(FIX / "fping_dup.txt").probes
    assert int(p["dup"].sum()) == 2 and len(p) == 5
    assert list(p[~p["dup"]]["seq"]) == [0, 1, 2]
    assert list(p[p["dup"]]["rtt_ms"]) == [0.712, 1.42]


def test_json_lines() -> None:
    out = fping.read(FIX / "fping_json.txt")
    assert lost_by_target(out) == {"198.18.2.10": 0, "198.18.2.11": 1, "198.18.2.12": 3}
    schema.check(out.probes, fping.PROBES_SCHEMA)


def test_truncated_output_keeps_what_was_recorded() -> None:
    out = fping.read(FIX / "fping5_truncated.txt")
    assert out.truncated
    assert any("no final summary" in n for n in out.notes)
    assert (out.probes["target"] == "198.18.2.10").sum() == 3


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="no fping result lines"):
        fping.read(FIX / "fping_garbage.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(ParseError, match="empty"):
        fping.read(empty)
    with pytest.raises(InputError, match="no such file"):
        fping.read(tmp_path / "missing.txt")
    with pytest.raises(InputError, match="no targets"):
        fping.command([])
    with pytest.raises(InputError, match="not a host"):
        fping.command(["-l"])


def test_iso_timestamps_and_padding() -> None:
    text = "[2026-11-28T06:00:00.100000+00:00] db : [0], 64 bytes, 1.5 ms (1.5 avg, 0% loss)\ndb    : 1.5\n"
    p = fping.parse(text).probes
    assert len(p) == 1
    assert abs(p["sent_ts"].iloc[0] - pd.Timestamp("2026-11-28T06:00:00.0985", tz="UTC")) < pd.Timedelta(
        "1us"
    )


def test_command_options() -> None:
    argv = fping.command(
        ["a", "b"], count=5, period_ms=200, interval_ms=2, size_bytes=1400, dont_fragment=True, iface="eth0"
    )
    assert argv[:8] == ["fping", "-C", "5", "-D", "-p", "200", "-i", "2"]
    assert "-M" in argv and argv[argv.index("-b") + 1] == "1400" and argv[-2:] == ["a", "b"]


def test_parse_work_does_not_grow_with_lines_in_python() -> None:
    """Parsing is vectorized: the number of Python-level calls does not depend on the line count."""
    import cProfile
    import pstats

    def calls(n_probes: int) -> int:
        lines = [
            f"[1795847437.{s:05d}] 198.18.{t // 250}.{t % 250} : [{s}], 64 bytes, 0.{(s * 7 + t) % 1000:03d} ms (0.1 avg, 0% loss)"
            for s in range(n_probes)
            for t in range(200)
        ]
        lines.append("198.18.9.9 : [0], timed out (NaN avg, 100% loss)")
        prof = cProfile.Profile()
        out = prof.runcall(fping.parse, "\n".join(lines) + "\n")
        assert len(out.probes) == 200 * n_probes + 1
        return int(pstats.Stats(prof).total_calls)  # type: ignore[attr-defined]

    small, big = calls(5), calls(500)  # 1,000 vs 100,000 lines
    assert big < small * 1.5, (small, big)
