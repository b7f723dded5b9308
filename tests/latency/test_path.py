from __future__ import annotations

from pathlib import Path

import pandas as pd

from netdebug_nb import schema
from netdebug_nb.latency import checks, mtr, path

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "latency"


def verdicts(name: str) -> list[str]:
    return path.interpret(mtr.read(FIX / name))["verdict"].tolist()


def test_rate_limited_hop_is_not_loss() -> None:
    p = path.interpret(mtr.read(FIX / "mtr_ratelimited.json"))
    schema.check(p, path.PATH_SCHEMA)
    assert p["verdict"].tolist() == ["rate_limited", "destination"]
    assert p["carried_loss_pct"].tolist() == [0.0, 0.0]
    ids = [f.id for f in checks.path(p)]
    assert ids == ["path.rate_limited_hop"]


def test_silent_hop_is_no_reply_not_loss() -> None:
    assert verdicts("mtr_silent_hop.json") == ["no_reply", "destination"]
    assert [f.id for f in checks.path(path.interpret(mtr.read(FIX / "mtr_silent_hop.json")))] == [
        "path.rate_limited_hop"
    ]


def test_loss_at_destination_is_real() -> None:
    p = path.interpret(mtr.read(FIX / "mtr_loss.json"))
    assert p["verdict"].tolist() == ["ok", "destination"]
    found = checks.path(p)
    assert [f.id for f in found] == ["path.hop_loss"]
    assert found[0].evidence["hop"] == 2 and found[0].severity == "critical"


def test_loss_starting_mid_path_carries() -> None:
    hops = pd.DataFrame(
        {
            "dst": "d", "hop": [1, 2, 3, 4], "host": ["a", "b", "c", "d"], "responded": True, "responder": 0,
            "sent": 100, "received": [100, 70, 88, 90], "loss_pct": [0.0, 30.0, 12.0, 10.0], "last_ms": 1.0, "avg_ms": 1.0, "best_ms": 1.0,
            "worst_ms": 1.0, "stdev_ms": 0.0, "asn": None,
        }
    )  # fmt: skip
    p = path.interpret(schema.frame(hops, mtr.HOPS_SCHEMA))
    assert p["verdict"].tolist() == ["ok", "rate_limited", "loss_carried", "destination"]
    assert p["carried_loss_pct"].tolist() == [0.0, 10.0, 10.0, 10.0]
    assert p["excess_loss_pct"].tolist() == [0.0, 20.0, 2.0, 0.0]
    origin = path.loss_origin(p)
    assert origin["hop"].tolist() == [2]
    assert sorted(f.id for f in checks.path(p)) == ["path.hop_loss", "path.rate_limited_hop"]


def test_unreached_destination() -> None:
    hops = mtr.read(FIX / "mtr_clean.json")
    hops = hops.assign(dst="198.18.9.9")
    hops.loc[1, ["host", "responded", "loss_pct"]] = ["???", False, 100.0]
    p = path.interpret(hops)
    assert p["verdict"].tolist() == ["ok", "unreached"]
    (f,) = checks.path(p)
    assert f.id == "path.unreached" and "hop 1 (198.18.1.1)" in f.title


def test_several_destinations_are_separate_paths() -> None:
    both = pd.concat([mtr.read(FIX / "mtr_ratelimited.json"), mtr.read(FIX / "mtr_loss.json")])
    p = path.interpret(both)
    assert p.groupby("dst")["verdict"].apply(list).to_dict() == {
        "198.18.2.10": ["rate_limited", "destination"],
        "198.18.2.11": ["ok", "destination"],
    }


def test_empty() -> None:
    assert len(path.interpret(schema.empty(mtr.HOPS_SCHEMA))) == 0


def test_destination_given_by_name() -> None:
    hops = mtr.read(FIX / "mtr_clean.json").assign(dst="web.example")
    assert path.interpret(hops)["verdict"].tolist() == ["ok", "destination"]
