from __future__ import annotations

from pathlib import Path

import pytest

from netdebug_nb import schema
from netdebug_nb.errors import InputError, ParseError
from netdebug_nb.latency import mtr

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def test_json_hops() -> None:
    hops = mtr.read(FIX / "mtr_loss.json")
    schema.check(hops, mtr.HOPS_SCHEMA)
    assert list(hops["hop"]) == [1, 2]
    assert list(hops["host"]) == ["198.18.1.1", "198.18.2.11"]
    assert hops["loss_pct"].tolist() == [0.0, 27.5]
    assert (hops["dst"] == "198.18.2.11").all() and (hops["sent"] == 40).all()


def test_unknown_hop_kept_as_row_without_fake_zero_rtt() -> None:
    hops = mtr.read(FIX / "mtr_silent_hop.json")
    first = hops.iloc[0]
    assert first["host"] == mtr.UNKNOWN_HOST and not first["responded"] and first["loss_pct"] == 100.0
    assert hops["avg_ms"].isna().tolist() == [True, False]


def test_raw_samples_and_aggregates_match_json() -> None:
    samples = mtr.parse_raw((FIX / "mtr_ratelimited.raw").read_text())
    schema.check(samples, mtr.SAMPLES_SCHEMA)
    assert samples["seq"].is_unique
    hops = mtr.read(FIX / "mtr_ratelimited.raw")
    assert list(hops["host"]) == ["198.18.1.1", "198.18.2.10"]  # TTLs probed past the destination are dropped
    assert hops["loss_pct"].iloc[0] == pytest.approx(63.3, abs=0.1)
    assert hops["loss_pct"].iloc[1] == 0.0


def test_ecmp_responders_kept_apart() -> None:
    hops = mtr.read(FIX / "mtr_ecmp.raw")
    hop2 = hops[hops["hop"] == 2]
    assert set(hop2["host"]) == {"198.18.3.1", "198.18.4.1"}
    assert sorted(hop2["responder"]) == [0, 1]
    assert (hop2["loss_pct"] == 0.0).all()
    last = hops[hops["hop"] == 3]
    assert last["loss_pct"].iloc[0] == pytest.approx(25.0)  # the final probe never answered


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ParseError, match="truncated"):
        mtr.read(FIX / "mtr_truncated.json")
    with pytest.raises(InputError, match="no such file"):
        mtr.read(tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    with pytest.raises(ParseError, match="report.hubs"):
        mtr.read(bad)
    with pytest.raises(ParseError, match="no mtr --raw lines"):
        mtr.parse_raw("hello\nworld\n")
    with pytest.raises(InputError):
        mtr.command("-x")


def test_command() -> None:
    assert mtr.command("198.18.2.10", count=5, interval_s=0.2) == [
        "mtr", "--json", "-n", "-c", "5", "-i", "0.2", "198.18.2.10"
    ]  # fmt: skip
    assert "--raw" in mtr.command("h", mode="raw") and "-u" in mtr.command("h", protocol="udp")


def test_real_ecmp_raw_keeps_both_responders_json_only_one() -> None:
    hops = mtr.read(FIX / "mtr_ecmp_real.raw")
    hop2 = hops[hops["hop"] == 2].sort_values("host")
    assert hop2["host"].tolist() == ["198.18.3.2", "198.18.4.2"]
    assert int(hop2["received"].sum()) == 20 and (hop2["received"] > 0).all()
    assert hops[hops["hop"] == 3]["host"].tolist() == ["198.18.7.7"]
    assert (mtr.read(FIX / "mtr_ecmp_real.json")["hop"] == 2).sum() == 1
