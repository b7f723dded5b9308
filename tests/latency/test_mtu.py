from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import InputError, ParseError
from netdebug_nb.latency import checks, mtu

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def test_blackhole_found() -> None:
    sweep = mtu.read(FIX / "mtu_blackhole.txt")
    schema.check(sweep, mtu.SWEEP_SCHEMA)
    assert sweep["received"].tolist() == [3, 3, 3, 0, 0]
    (v,) = mtu.analyze(sweep)
    assert v.blackhole and v.largest_ok_packet == 1200 and v.smallest_failed_packet == 1201
    assert [f.id for f in checks.mtu([v])] == ["path.mtu_blackhole"]


def test_working_pmtud_is_not_a_blackhole() -> None:
    sweep = mtu.read(FIX / "mtu_pmtud.txt")
    assert sweep["mtu_reported"].dropna().unique().tolist() == [1200]
    assert "Frag needed" in sweep["error"].dropna().iloc[0]
    (v,) = mtu.analyze(sweep)
    assert not v.blackhole and v.path_mtu == 1200
    assert [f.id for f in checks.mtu([v])] == ["path.mtu_reduced"]


def test_unresolvable_sweep_has_no_verdict_of_blackhole() -> None:
    text = (
        "# size 56 target nope.invalid\n/usr/bin/ping: nope.invalid: Temporary failure in name resolution\n"
    )
    sweep = mtu.parse(text)
    assert sweep["sent"].tolist() == [0] and "Temporary failure" in sweep["error"].iloc[0]
    (v,) = mtu.analyze(sweep)
    assert not v.blackhole and v.largest_ok_packet is None


def test_bad_inputs() -> None:
    with pytest.raises(ParseError, match="MTU sweep"):
        mtu.parse("PING x\n")
    with pytest.raises(InputError, match="sizes"):
        mtu.collect("198.18.2.10", [])
    with pytest.raises(InputError, match="payload"):
        mtu.command("198.18.2.10", 70000)
    assert mtu.command("h", 1472)[:6] == ["ping", "-n", "-M", "do", "-s", "1472"]
